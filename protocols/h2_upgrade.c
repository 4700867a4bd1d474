/*
 * HTTP/2 by `Upgrade: h2c` (RFC 7540 section 3.2; RFC 9113 deprecates it, but curl
 * --http2 on an http:// URL and a few other clients still ask so). On a plain --http
 * connection with h2c on, the first request asking for it is answered `101 Switching
 * Protocols` and becomes stream 1 of an HTTP/2 connection (nghttp2_session_upgrade2:
 * stream 1 half-closed from the client's side), its response sent on that stream.
 *
 * Kept cheap and safe, as h2o does it: only a request without a body (a body would
 * have to be read as HTTP/1.1 first), with an origin-form target, on the
 * connection's first request (no earlier response can be on its way out), with no
 * byte buffered behind its head (a client must wait for the 101, so bytes there are
 * pipelined HTTP/1.1), never on TLS (ALPN is the way there). The HTTP2-Settings value
 * is decoded and its SETTINGS checked here, before anything is sent, so that the
 * session never starts from a bad one. Any other request, a missing Connection token
 * or a malformed HTTP2-Settings keeps HTTP/1.1: the Upgrade is ignored, as by a server
 * without HTTP/2 (docs/hostile-inputs.md H41, H52).
 *
 * Loop thread only (the HTTP/1.1 front-end's parse); the session calls under hc->lock.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/stats.h"
#include "gateway/status.h"
#include "protocols/h2.h"
#include "protocols/h2_conn.h"
#include "protocols/lex.h"

/* An HTTP2-Settings payload: nghttp2 takes at most 32 settings (h2_session.c's
 * max_settings) of 6 bytes each. */
#define MAX_PAYLOAD (32 * 6)

/* 1 when the comma-separated list v holds the token tok (lower-case), any case. */
static int has_token(struct gw_slice v, const char *tok)
{
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ','))
            i++;
        size_t s = i;
        while (i < v.len && v.ptr[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t'))
            e--;
        if (gw_slice_eq_lower(gw_slice_make(v.ptr + s, e - s), tok))
            return 1;
    }
    return 0;
}

/* 1 when any field named `name` (lower-case) lists tok. */
static int any_lists(const struct gw_http_head *hd, const char *name, const char *tok)
{
    for (size_t i = 0; i < hd->nfields; i++)
        if (gw_slice_eq_lower(hd->fields[i].name, name) && has_token(hd->fields[i].value, tok))
            return 1;
    return 0;
}

/* The values RFC 9113 section 6.5.2 allows; an unknown setting is ignored, as in a
 * SETTINGS frame. 1 when p[0..n) is a valid SETTINGS payload. */
static int settings_valid(const uint8_t *p, size_t n)
{
    if (n % 6 != 0)
        return 0;
    for (size_t i = 0; i < n; i += 6) {
        unsigned id = (unsigned)p[i] << 8 | p[i + 1];
        uint32_t v = (uint32_t)p[i + 2] << 24 | (uint32_t)p[i + 3] << 16 | (uint32_t)p[i + 4] << 8 |
                     p[i + 5];
        switch (id) {
        case NGHTTP2_SETTINGS_ENABLE_PUSH:
        case NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL:
        case NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES:
            if (v > 1)
                return 0;
            break;
        case NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE:
            if (v > (uint32_t)NGHTTP2_MAX_WINDOW_SIZE)
                return 0;
            break;
        case NGHTTP2_SETTINGS_MAX_FRAME_SIZE:
            if (v < 16384 || v > 16777215)
                return 0;
            break;
        default:
            break;
        }
    }
    return 1;
}

/* The checks of gw_h2_upgrade (h2.h); the decoded SETTINGS into payload[0..*n). */
static int may_upgrade(const struct gw_conn *c, const struct gw_http_head *hd, size_t head_len,
                       uint8_t *payload, size_t *n)
{
    const struct gw_field *settings = NULL;
    size_t nsettings = 0;

    if (!c->cfg->h2c || c->tr->secure || hd->minor != 1)
        return 0;
    if (hd->chunked || hd->content_length > 0 || hd->authority.ptr != NULL)
        return 0; /* a body; an absolute-form target */
    if (c->in.end - c->in.start != head_len)
        return 0; /* bytes behind the head: pipelined HTTP/1.1 */
    if (!any_lists(hd, "upgrade", "h2c") || !any_lists(hd, "connection", "upgrade") ||
        !any_lists(hd, "connection", "http2-settings"))
        return 0;
    for (size_t i = 0; i < hd->nfields; i++)
        if (gw_slice_eq_lower(hd->fields[i].name, "http2-settings")) {
            settings = &hd->fields[i];
            nsettings++;
        }
    if (nsettings != 1)
        return 0;
    long len = gw_lex_base64url_decode(settings->value, payload, MAX_PAYLOAD);
    if (len < 0 || !settings_valid(payload, (size_t)len))
        return 0;
    *n = (size_t)len;
    return 1;
}

/* The fields that end with the HTTP/1.1 hop (RFC 9113 8.2.2 refuses them in HTTP/2). */
static int hop_by_hop(struct gw_slice name)
{
    static const char *const names[] = {"connection",       "upgrade",          "http2-settings",
                                        "keep-alive",       "proxy-connection", "te",
                                        "transfer-encoding"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (gw_slice_eq_lower(name, names[i]))
            return 1;
    return 0;
}

static int put(struct gw_buf *b, struct gw_slice s)
{
    return s.len > 0 ? gw_buf_append(b, s.ptr, s.len, (size_t)1 << 30) : 0;
}

/* A stream struct holding hd's request as HTTP/2 would have brought it (see
 * h2_request.c): its method, target and end-to-end fields, copied (hd's bytes go with
 * the HTTP/1.1 state). NULL when there is no memory. */
static struct h2_stream *stream_of_head(const struct gw_http_head *hd)
{
    struct h2_stream *st = gw_h2_stream_new();
    int rc = st != NULL ? 0 : GW_ENOMEM;
    if (rc == 0)
        rc = put(&st->method, hd->method);
    if (rc == 0)
        rc = put(&st->path, hd->target);
    for (size_t i = 0; rc == 0 && i < hd->nfields; i++) {
        const struct gw_field *f = &hd->fields[i];
        if (hop_by_hop(f->name))
            continue;
        st->have_host |= gw_slice_eq_lower(f->name, "host");
        st->nfields++;
        if ((rc = put(&st->fields, f->name)) == 0 &&
            (rc = put(&st->fields, GW_SLICE_LIT(": "))) == 0 &&
            (rc = put(&st->fields, f->value)) == 0)
            rc = put(&st->fields, GW_SLICE_LIT("\r\n"));
    }
    if (rc != 0 && st != NULL) {
        gw_h2_stream_free(st);
        st = NULL;
    }
    return st;
}

int gw_h2_upgrade(struct gw_conn *c, const struct gw_http_head *hd, size_t head_len,
                  struct gw_request **req, enum gw_parse_result *res)
{
    uint8_t payload[MAX_PAYLOAD];
    size_t n = 0;
    char line[96];
    struct h2_stream *st;
    struct h2_conn *hc;
    int head = gw_slice_eq(hd->method, "HEAD"), rc;

    if (!may_upgrade(c, hd, head_len, payload, &n) || (st = stream_of_head(hd)) == NULL)
        return 0;
    int len = snprintf(line, sizeof(line),
                       "HTTP/1.1 101 %s\r\nConnection: Upgrade\r\n"
                       "Upgrade: h2c\r\n\r\n",
                       gw_status_reason(101));
    c->in.start += head_len; /* the request is the stream's now */
    if (c->in.start == c->in.end)
        c->in.start = c->in.end = 0;
    *res = GW_PARSE_CLOSE;
    if (gw_h2_switch(c, line, (size_t)len) != 0) {
        gw_h2_stream_free(st);
        return 1;
    }
    hc = c->proto_state;
    pthread_mutex_lock(&hc->lock);
    /* As if the client's SETTINGS had come in a frame; stream 1 half-closed (remote). */
    rc = nghttp2_session_upgrade2(hc->s, payload, n, head, NULL);
    if (rc == 0) {
        gw_h2_stream_attach(hc, st, 1);
        gw_h2_mark(hc, st, &st->headers_end, 1);
        st->body_eof = 1;
        int status = gw_h2_build_request(c, st, 1);
        if (status != 0) {
            st->body_err = GW_ECLOSED;
            rc = gw_h2_submit_status(hc, st, status);
        } else {
            gw_h2_ready(hc, st);
        }
    } else {
        gw_h2_stream_free(st);
    }
    pthread_mutex_unlock(&hc->lock);
    if (rc != 0)
        return 1; /* no memory: closed (the streams go with the connection) */
    gw_stats_note_h2_conn();
    *res = c->proto->parse(c, req);
    return 1;
}
