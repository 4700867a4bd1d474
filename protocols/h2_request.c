/*
 * A stream's header block into the normalized request (see h2_conn.h), on the loop
 * under hc->lock, once nghttp2 has checked it (pseudo-headers present, once and first;
 * no connection-specific fields; names lower-case).
 *
 * So that a request means the same over HTTP/2 as over HTTP/1.1, the block is
 * written out as an HTTP/1.1 head ("METHOD :path HTTP/1.1", a Host field from
 * :authority when the client sent no host field, the fields, the cookie crumbs joined
 * with "; " as one Cookie field) and parsed by the HTTP/1.1 front-end's parser: the
 * same grammar, limits and refusals (414, 431, 400 for a bad Host or Content-Length,
 * 501 for an unknown method) and the same PATH_INFO / QUERY_STRING split and
 * percent-decoding. What differs is HTTP/2's: SERVER_PROTOCOL "HTTP/2", and a body
 * that ends with the stream (CONTENT_LENGTH only when the client gave one).
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "protocols/forwarded.h"
#include "protocols/h2_conn.h"
#include "protocols/http_conn.h"
#include "protocols/lex.h"

static int put(struct gw_buf *b, const void *p, size_t n)
{
    return gw_buf_append(b, p, n, (size_t)1 << 30);
}

static int put_buf(struct gw_buf *b, const struct gw_buf *from)
{
    return from->end > 0 ? put(b, from->data, from->end) : 0;
}

/* The HTTP/1.1 head of st into st->text. 0 or GW_ENOMEM. */
static int write_head(struct h2_stream *st)
{
    int rc = put_buf(&st->text, &st->method);
    if (rc == 0)
        rc = put(&st->text, " ", 1);
    if (rc == 0)
        rc = put_buf(&st->text, &st->path);
    if (rc == 0)
        rc = put(&st->text, " HTTP/1.1\r\n", 11);
    if (rc == 0 && !st->have_host && st->authority.end > 0) {
        rc = put(&st->text, "host: ", 6);
        if (rc == 0)
            rc = put_buf(&st->text, &st->authority);
        if (rc == 0)
            rc = put(&st->text, "\r\n", 2);
    }
    if (rc == 0)
        rc = put_buf(&st->text, &st->fields);
    if (rc == 0 && st->cookie.end > 0) {
        rc = put(&st->text, "cookie: ", 8);
        if (rc == 0)
            rc = put_buf(&st->text, &st->cookie);
        if (rc == 0)
            rc = put(&st->text, "\r\n", 2);
    }
    if (rc == 0)
        rc = put(&st->text, "\r\n", 2);
    return rc;
}

/* SERVER_NAME from "host[:port]" or "[v6]:port", copied NUL-free and bounded. */
static struct gw_slice host_name(struct h2_stream *st, struct gw_slice a)
{
    return gw_lex_host_name(a, st->server_name, sizeof(st->server_name));
}

/* A PROXY header's port and SSL bit, then a trusted proxy's scheme and (with
 * --forwarded-for) client address, as over HTTP/1.1 (protocols/http.c); the
 * authority stays the client's :authority (no --forwarded-host over h2). */
static void add_proxy_vars(struct gw_conn *c, struct h2_stream *st, struct gw_request *r)
{
    const struct gw_config *cfg = c->cfg;
    int https = r->https;
    if (c->server_port[0] != '\0')
        r->server_port = gw_slice_make(c->server_port, strlen(c->server_port));
    if (c->proxy_ssl)
        r->https = 1;
    size_t al = strlen(c->remote_addr);
    if (al == 0 || gw_cidrs_match(&cfg->forwarded_allow, c->remote_addr, al)) {
        struct gw_forwarded fw;
        gw_forwarded_read(r->headers, r->nheaders, &cfg->forwarded_allow, cfg->forwarded_for, 0,
                          &fw);
        if (fw.https == 1)
            r->https = 1;
        if (fw.for_addr.ptr != NULL) {
            r->remote_addr = fw.for_addr;
            r->remote_port = GW_SLICE_LIT("");
        }
    }
    if (r->https && !https && r->ncgi < sizeof(st->vars) / sizeof(st->vars[0])) {
        st->vars[r->ncgi].name = GW_SLICE_LIT("HTTPS");
        st->vars[r->ncgi].value = GW_SLICE_LIT("on");
        r->cgi = st->vars;
        r->ncgi++;
    }
}

int gw_h2_build_request(struct gw_conn *c, struct h2_stream *st, int end_stream)
{
    const struct gw_config *cfg = c->cfg;
    const struct gw_listener *l = c->listener;
    struct gw_http_head *hd = &st->hd;
    struct gw_request *r = &st->req;
    size_t cap = cfg->max_headers + 1; /* the fields and a Host from :authority */
    struct gw_http_limits lim = {
        .max_target = cfg->max_target,
        .max_head = cfg->max_head + 64,
        .max_fields = cap,
    };

    if (write_head(st) != 0)
        return 500;
    st->hfields = calloc(cap, sizeof(*st->hfields));
    st->decoded = malloc(st->path.end + 1);
    if (st->hfields == NULL || st->decoded == NULL)
        return 500;
    if (gw_http_parse_head(st->text.data, st->text.end, &lim, st->hfields, cap, hd) < 0)
        return hd->err.status;

    memset(r, 0, sizeof(*r));
    r->conn = c;
    r->proto = c->proto;
    r->proto_data = st;
    r->method = hd->method;
    r->request_uri = hd->target;
    r->query = hd->query.ptr ? hd->query : GW_SLICE_LIT("");
    r->protocol = GW_SLICE_LIT("HTTP/2");
    r->headers = hd->fields;
    r->nheaders = hd->nfields;
    if (!gw_http_known_method(hd->method))
        return 501;

    struct gw_slice raw = gw_slice_eq(hd->path, "*") ? GW_SLICE_LIT("") : hd->path;
    struct gw_slice path =
        gw_slice_make(st->decoded, gw_lex_percent_decode(raw.ptr, raw.len, st->decoded));
    if (gw_request_mount(r, path, cfg->script_name) != 0)
        return 404; /* outside the mount point */

    if (hd->content_type)
        r->content_type = hd->content_type->value;
    if (hd->content_length >= 0) {
        for (size_t i = 0; i < hd->nfields; i++)
            if (gw_slice_eq_lower(hd->fields[i].name, "content-length"))
                r->content_length = hd->fields[i].value;
        r->body_length = hd->content_length;
        if ((uint64_t)hd->content_length > cfg->max_body)
            return 413;
    } else {
        r->body_length = end_stream ? 0 : -1; /* -1: it ends with the stream */
    }
    st->expect_continue = hd->expect_continue && !end_stream;

    struct gw_slice name = hd->host ? host_name(st, hd->host->value) : (struct gw_slice){NULL, 0};
    r->server_name = name.ptr ? name : gw_slice_make(l->server_name, strlen(l->server_name));
    r->server_port = gw_slice_make(l->server_port, strlen(l->server_port));
    r->remote_addr = gw_slice_make(c->remote_addr, strlen(c->remote_addr));
    r->remote_port = gw_slice_make(c->remote_port, strlen(c->remote_port));

    size_t n = 0;
    const struct gw_field *v = c->tr->vars != NULL ? c->tr->vars(c, &n) : NULL;
    r->https = c->tr->secure;
    for (size_t i = 0; i < n && i < GW_TLS_NVARS; i++)
        st->vars[i] = v[i];
    r->cgi = n > 0 ? st->vars : NULL;
    r->ncgi = n < GW_TLS_NVARS ? n : GW_TLS_NVARS;
    add_proxy_vars(c, st, r);
    return 0;
}
