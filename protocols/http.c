/*
 * The HTTP/1.1 front-end: connection set-up, head parsing on the loop thread (with
 * the pure parser of http_parse.c), translation of the head into the normalized
 * request, and the front-end's table. The worker's side is in http_body.c (the
 * request body) and http_response.c (the response framing).
 *
 * Invariants: once a head is dispatched its bytes are pinned in c->in (the request's
 * slices point there) and body bytes are read behind them; the body is never read
 * past its end, so a pipelined request that follows stays intact in the buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "protocols/forwarded.h"
#include "protocols/h2.h"
#include "protocols/http.h"
#include "protocols/http_conn.h"
#include "protocols/lex.h"

static int http_conn_open(struct gw_conn *c)
{
    struct gw_http_conn *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return GW_ENOMEM;
    gw_http_scan_init(&h->scan);
    c->proto_state = h;
    return 0;
}

static void http_conn_close(struct gw_conn *c)
{
    struct gw_http_conn *h = c->proto_state;
    if (h == NULL)
        return;
    free(h->fields);
    free(h->path);
    free(h->out.data);
    free(h);
    c->proto_state = NULL;
}

/* Between requests: the field array, the decoded path and the response head buffer
 * are allocated again by the next request. */
static void http_conn_trim(struct gw_conn *c)
{
    struct gw_http_conn *h = c->proto_state;
    free(h->fields);
    h->fields = NULL;
    h->nfields_cap = 0;
    free(h->path);
    h->path = NULL;
    h->path_cap = 0;
    free(h->out.data);
    memset(&h->out, 0, sizeof(h->out));
}

/* Makes the field array hold n fields (one at least). Sized to the head's own field
 * lines, not to --max-headers: a connection whose request waits for a thread holds
 * a few dozen bytes for a client's one or two fields, not max_headers of them. */
static int field_room(struct gw_http_conn *h, size_t n)
{
    if (n == 0)
        n = 1;
    if (h->nfields_cap >= n)
        return 0;
    struct gw_field *f = malloc(n * sizeof(*f));
    if (f == NULL)
        return GW_ENOMEM;
    free(h->fields);
    h->fields = f;
    h->nfields_cap = n;
    return 0;
}

/* Percent-decodes the path into h->path. Returns its length or -1 (no memory). */
static ssize_t decode_path(struct gw_http_conn *h, struct gw_slice p)
{
    if (h->path_cap < p.len + 1) {
        char *np = realloc(h->path, p.len + 1);
        if (np == NULL)
            return -1;
        h->path = np;
        h->path_cap = p.len + 1;
    }
    return (ssize_t)gw_lex_percent_decode(p.ptr, p.len, h->path);
}

int gw_http_known_method(struct gw_slice m)
{
    static const char *const methods[] = {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "DELETE",
        "OPTIONS",
        "PATCH",
        "TRACE",
        "ACL",
        "BASELINE-CONTROL",
        "BIND",
        "CHECKIN",
        "CHECKOUT",
        "COPY",
        "LABEL",
        "LINK",
        "LOCK",
        "MERGE",
        "MKACTIVITY",
        "MKCALENDAR",
        "MKCOL",
        "MKREDIRECTREF",
        "MKWORKSPACE",
        "MOVE",
        "ORDERPATCH",
        "PROPFIND",
        "PROPPATCH",
        "QUERY",
        "REBIND",
        "REPORT",
        "SEARCH",
        "UNBIND",
        "UNCHECKOUT",
        "UNLINK",
        "UNLOCK",
        "UPDATE",
        "UPDATEREDIRECTREF",
        "VERSION-CONTROL",
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (gw_slice_eq(m, methods[i]))
            return 1;
    return 0;
}

/* SERVER_NAME from "host[:port]" or "[v6]:port"; copied to be NUL-free and bounded. */
static struct gw_slice host_name(struct gw_http_conn *h, struct gw_slice a)
{
    return gw_lex_host_name(a, h->server_name, sizeof(h->server_name));
}

/* The port of "host[:port]" or "[v6][:port]": the digits after the host's ':', or an
 * empty slice when there are none. */
static struct gw_slice port_of(struct gw_slice a)
{
    const char *p = a.ptr, *end = a.ptr + a.len;
    if (a.len > 0 && p[0] == '[') {
        const char *e = memchr(p, ']', a.len);
        p = e ? e + 1 : end;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    return colon ? gw_slice_make(colon + 1, (size_t)(end - colon - 1)) : gw_slice_make(end, 0);
}

/*
 * An absolute-form target names the host itself (RFC 9112 3.2.2): its authority
 * takes the place of the Host field, which the server ignores. HTTP_HOST is the
 * authority as sent (the Host field's value is replaced, or, for an HTTP/1.0 request
 * without Host, one HTTP_HOST variable is added), SERVER_PORT its port or the
 * scheme's default (80, 443 for https). SERVER_NAME follows from the authority.
 */
static void use_target_authority(struct gw_http_conn *h, struct gw_request *r)
{
    const struct gw_http_head *hd = &h->head;
    struct gw_slice port = port_of(hd->authority);

    if (hd->host != NULL) {
        h->fields[hd->host - hd->fields].value = hd->authority;
    } else {
        h->vars[0].name = GW_SLICE_LIT("HTTP_HOST");
        h->vars[0].value = hd->authority;
        r->cgi = h->vars;
        r->ncgi = 1;
    }
    if (port.len > 0)
        r->server_port = port;
    else if (gw_slice_eq_lower(hd->scheme, "https"))
        r->server_port = GW_SLICE_LIT("443");
    else
        r->server_port = GW_SLICE_LIT("80");
}

/* wsgi.url_scheme from the transport, and its variables (TLS: HTTPS=on, SSL_PROTOCOL,
 * ..., SSL_CLIENT_VERIFY and the client certificate's: gateway/tls.h) as CGI variables
 * after HTTP_HOST, if any. */
static void add_transport_vars(struct gw_conn *c, struct gw_http_conn *h, struct gw_request *r)
{
    size_t n = 0, at = r->ncgi;
    const struct gw_field *v = c->tr->vars != NULL ? c->tr->vars(c, &n) : NULL;
    r->https = c->tr->secure;
    for (size_t i = 0; i < n && at < sizeof(h->vars) / sizeof(h->vars[0]); i++)
        h->vars[at++] = v[i];
    if (at > r->ncgi) {
        r->cgi = h->vars;
        r->ncgi = at;
    }
}

static void add_var(struct gw_http_conn *h, struct gw_request *r, struct gw_slice name,
                    struct gw_slice value)
{
    if (r->ncgi >= sizeof(h->vars) / sizeof(h->vars[0]))
        return;
    if (r->ncgi > 0 && r->cgi != h->vars)
        return; /* not reached: r->cgi is h->vars whenever it is set */
    h->vars[r->ncgi].name = name;
    h->vars[r->ncgi].value = value;
    r->cgi = h->vars;
    r->ncgi++;
}

/*
 * What the balancer or proxy in front says, once the transport's variables are in:
 * a PROXY header's addresses and SSL bit (protocols/proxy.c set them on c), then,
 * from a --forwarded-allow-ips peer (judged by the address the PROXY header gave, if
 * any; a unix socket peer is trusted), X-Forwarded-Proto and the like, and when asked
 * X-Forwarded-For and X-Forwarded-Host (protocols/forwarded.h). From anyone else
 * those fields are only HTTP_* data.
 */
static void add_proxy_vars(struct gw_conn *c, struct gw_http_conn *h, struct gw_request *r)
{
    const struct gw_config *cfg = c->cfg;
    int https = r->https;
    if (c->server_port[0] != '\0' && h->head.authority.ptr == NULL)
        r->server_port = gw_slice_make(c->server_port, strlen(c->server_port));
    if (c->server_addr[0] != '\0')
        add_var(h, r, GW_SLICE_LIT("SERVER_ADDR"),
                gw_slice_make(c->server_addr, strlen(c->server_addr)));
    if (c->proxy_ssl)
        r->https = 1;
    size_t al = strlen(c->remote_addr);
    if (al == 0 || gw_cidrs_match(&cfg->forwarded_allow, c->remote_addr, al)) {
        struct gw_forwarded fw;
        gw_forwarded_read(r->headers, r->nheaders, &cfg->forwarded_allow, cfg->forwarded_for,
                          cfg->forwarded_host, &fw);
        if (fw.https == 1)
            r->https = 1;
        if (fw.for_addr.ptr != NULL) {
            r->remote_addr = fw.for_addr;
            r->remote_port = GW_SLICE_LIT("");
        }
        if (fw.host.ptr != NULL) {
            struct gw_slice name = host_name(h, fw.host), port = port_of(fw.host);
            if (name.ptr != NULL) {
                if (h->head.host != NULL)
                    h->fields[h->head.host - h->head.fields].value = fw.host;
                else
                    add_var(h, r, GW_SLICE_LIT("HTTP_HOST"), fw.host);
                r->server_name = name;
                r->server_port = port.len > 0 ? port
                                 : r->https   ? GW_SLICE_LIT("443")
                                              : GW_SLICE_LIT("80");
            }
        }
    }
    if (r->https && !https)
        add_var(h, r, GW_SLICE_LIT("HTTPS"), GW_SLICE_LIT("on"));
}

/* Fills the normalized request from the parsed head. 0, or a status to answer. */
static int build_request(struct gw_conn *c, struct gw_http_conn *h)
{
    const struct gw_config *cfg = c->cfg;
    const struct gw_listener *l = c->listener;
    struct gw_http_head *hd = &h->head;
    struct gw_request *r = &h->req;

    memset(r, 0, sizeof(*r));
    r->conn = c;
    r->proto = c->proto;
    r->proto_data = h;
    r->method = hd->method;
    r->request_uri = hd->target;
    r->query = hd->query.ptr ? hd->query : GW_SLICE_LIT("");
    r->protocol = hd->minor ? GW_SLICE_LIT("HTTP/1.1") : GW_SLICE_LIT("HTTP/1.0");
    r->headers = hd->fields;
    r->nheaders = hd->nfields;

    if (!gw_http_known_method(hd->method))
        return 501;
    /* OPTIONS * names the server, not a resource: no path for the app. */
    struct gw_slice raw_path = gw_slice_eq(hd->path, "*") ? GW_SLICE_LIT("") : hd->path;
    ssize_t plen = decode_path(h, raw_path);
    if (plen < 0)
        return 500;
    struct gw_slice path = gw_slice_make(h->path, (size_t)plen);
    if (gw_request_mount(r, path, cfg->script_name) != 0)
        return 404; /* outside the mount point */

    if (hd->content_type)
        r->content_type = hd->content_type->value;
    r->body_length = 0;
    if (hd->chunked) {
        r->body_length = -1;
    } else if (hd->content_length >= 0) {
        for (size_t i = 0; i < hd->nfields; i++)
            if (gw_slice_eq_lower(hd->fields[i].name, "content-length"))
                r->content_length = hd->fields[i].value;
        r->body_length = hd->content_length;
    }

    struct gw_slice name = {NULL, 0};
    r->server_port = gw_slice_make(l->server_port, strlen(l->server_port));
    if (hd->authority.ptr) {
        use_target_authority(h, r);
        name = host_name(h, hd->authority);
    } else if (hd->host) {
        name = host_name(h, hd->host->value);
    }
    r->server_name = name.ptr ? name : gw_slice_make(l->server_name, strlen(l->server_name));
    r->remote_addr = gw_slice_make(c->remote_addr, strlen(c->remote_addr));
    r->remote_port = gw_slice_make(c->remote_port, strlen(c->remote_port));
    add_transport_vars(c, h, r);
    add_proxy_vars(c, h, r);

    h->chunked = hd->chunked;
    gw_http_chunked_init(&h->dechunk);
    h->body_left = hd->content_length > 0 ? (uint64_t)hd->content_length : 0;
    h->body_read = 0;
    h->body_done = !hd->chunked && h->body_left == 0;
    h->body_error = 0;
    h->expect_continue = hd->expect_continue && !h->body_done;
    h->continue_sent = 0;
    h->head_sent = 0;
    h->out.end = 0;
    h->keep = hd->keep_alive && cfg->keep_alive > 0;
    h->client_close = !hd->keep_alive;
    return 0;
}

static enum gw_parse_result fail_with(struct gw_conn *c, int status)
{
    struct gw_http_conn *h = c->proto_state;
    h->pending_head = 0;
    c->body_wait = 0;
    c->pin = 0;
    gw_http_error_reply(c, status);
    return GW_PARSE_CLOSE;
}

/*
 * Decides whether the body of the head just parsed is complete in the buffer.
 * Returns 0 to dispatch now (no body, body complete, too large to wait for, or a
 * 100-continue client that waits for us), -1 to wait for more bytes (room is
 * reserved), or a status to refuse the request with (a malformed or oversized
 * chunked body found here never reaches the app).
 */
static int preread_body(struct gw_conn *c, struct gw_http_conn *h, size_t head_len)
{
    const struct gw_http_head *hd = &h->head;
    size_t have = c->in.end - c->in.start - head_len;
    if (hd->expect_continue)
        return 0;
    if (!hd->chunked) {
        int64_t cl = hd->content_length;
        if (cl <= 0 || (uint64_t)cl > c->cfg->body_buffer || have >= (uint64_t)cl)
            return 0;
        /* Collected here, in memory or a temp file (gateway/spool.h). */
        int64_t got = gw_spool_collect(c, head_len, (uint64_t)cl);
        if (got < 0)
            return 500;
        if (got >= cl)
            return 0;
        uint64_t left = (uint64_t)(cl - got);
        if (gw_conn_reserve(c, gw_spool_room(c, left) + GW_HTTP_BODY_TAIL) != 0)
            return 500;
        return -1;
    }
    /* Chunked: validate incrementally from where the last look stopped. */
    const char *body = c->in.data + c->in.start + head_len;
    while (h->pre_pos < have) {
        size_t used = 0;
        struct gw_slice data = {NULL, 0};
        int rc = gw_http_chunked_step(&h->pre, body + h->pre_pos, have - h->pre_pos, &used, &data);
        h->pre_pos += used;
        if (rc < 0)
            return h->pre.err.status;
        if (rc == GW_CHUNK_DATA) {
            h->pre_data += data.len;
            if (h->pre_data > c->cfg->max_body)
                return 413;
        }
        if (rc == GW_CHUNK_DONE)
            return 0;
        if (rc == GW_CHUNK_MORE && used == 0)
            break; /* a partial trailer line */
    }
    if (h->pre_pos > GW_HTTP_PREREAD_MAX)
        return 0; /* large: the worker streams it */
    if (gw_conn_reserve(c, GW_HTTP_BODY_TAIL) != 0)
        return 500;
    return -1;
}

static enum gw_parse_result http_parse(struct gw_conn *c, struct gw_request **out)
{
    const struct gw_config *cfg = c->cfg;
    struct gw_http_conn *h = c->proto_state;
    struct gw_http_limits lim = {
        .max_target = cfg->max_target,
        .max_head = cfg->max_head,
        .max_fields = cfg->max_headers,
    };

    int rc;
    if (!h->h2_checked) { /* HTTP/2 instead (ALPN h2, the h2c preface): before the first
                           * request only */
        int v = gw_h2_detect(c);
        if (v < 0)
            return GW_PARSE_MORE;
        if (v > 0)
            return gw_h2_take_over(c, out); /* frees h */
        h->h2_checked = 1;
        h->first_head = 1;
    }
    if (h->pending_head == 0) {
        rc = gw_http_scan_head(&h->scan, c->in.data + c->in.start, c->in.end - c->in.start, &lim);
        if (rc < 0)
            return fail_with(c, h->scan.err.status);
        if (rc == 0)
            return GW_PARSE_MORE;
        h->pending_head = (size_t)rc;
        h->pending_fields = h->scan.nlines - 1; /* the scan refused more than max_headers */
        gw_http_scan_init(&h->scan);
        gw_http_chunked_init(&h->pre);
        h->pre_pos = 0;
        h->pre_data = 0;
    }
    size_t head_len = h->pending_head;

    if (field_room(h, h->pending_fields) != 0)
        return fail_with(c, 500);
    rc = gw_http_parse_head(c->in.data + c->in.start, head_len, &lim, h->fields, h->nfields_cap,
                            &h->head);
    if (rc < 0)
        return fail_with(c, h->head.err.status);
    if (h->first_head) { /* Upgrade: h2c, on the first request only (see h2.h) */
        enum gw_parse_result res;
        h->first_head = 0;
        if (gw_h2_upgrade(c, &h->head, head_len, out, &res))
            return res; /* frees h */
    }
    /* Room for body reads behind the head: made only for a request with a body, so
     * the many connections of bodiless requests keep small buffers; it may move the
     * buffer, so the head is parsed again (same bytes, same verdict) for its slices. */
    if ((h->head.chunked || h->head.content_length > 0) &&
        c->in.cap - c->in.end < GW_HTTP_BODY_TAIL) {
        if (gw_conn_reserve(c, GW_HTTP_BODY_TAIL) != 0)
            return fail_with(c, 500);
        rc = gw_http_parse_head(c->in.data + c->in.start, head_len, &lim, h->fields, h->nfields_cap,
                                &h->head);
        if (rc < 0)
            return fail_with(c, 500);
    }
    if (h->head.content_length > 0 && (uint64_t)h->head.content_length > cfg->max_body)
        return fail_with(c, 413);

    /* A small body is read here, on the loop, before a worker is taken: a slow
     * uploader then costs a buffer, not a thread. */
    int pre = preread_body(c, h, head_len);
    if (pre > 0)
        return fail_with(c, pre);
    if (pre < 0) {
        c->body_wait = 1;     /* each read now extends the deadline: an idle limit */
        return GW_PARSE_MORE; /* parsed again, cheaply, when more of the body is in */
    }
    h->pending_head = 0;
    c->body_wait = 0;

    c->in.start += head_len;
    c->pin = c->in.start;
    rc = build_request(c, h);
    if (rc != 0)
        return fail_with(c, rc);
    *out = &h->req;
    return GW_PARSE_READY;
}

static int http_reject(struct gw_conn *c, struct gw_request *r, int status)
{
    (void)r;
    fail_with(c, status);
    return 1;
}

/* The head was parsed: nothing of the request is left to read but a body, which the
 * linger before the close discards. */
static int http_answer(struct gw_conn *c, struct gw_request *r, int status)
{
    struct gw_http_conn *h = c->proto_state;
    h->pending_head = 0;
    c->body_wait = 0;
    c->pin = 0;
    gw_http_error_reply(c, status);
    if (gw_slice_eq(r->method, "HEAD")) { /* the head only: it ends with the blank line */
        for (size_t i = c->out.start; i + 4 <= c->out.end; i++)
            if (memcmp(c->out.data + i, "\r\n\r\n", 4) == 0) {
                c->out.end = i + 4;
                break;
            }
    }
    return 1;
}

/* The request's slices stay valid until the loop takes the connection back (it
 * unpins the buffer then); the next head parse re-initializes the request state. */
static int http_finish(struct gw_request *r, int ok)
{
    return gw_http_finish_response(r, ok);
}

const struct gw_protocol gw_http_protocol = {
    .name = "http",
    .multiplexed = 0,               /* one request at a time, in order */
    .conn_open = http_conn_open,    /* per-connection state and field array */
    .conn_close = http_conn_close,  /* frees it */
    .conn_trim = http_conn_trim,    /* idle: frees the per-request buffers */
    .parse = http_parse,            /* loop: scan + parse the head */
    .reject = http_reject,          /* loop: 503 / 408 with Connection: close */
    .answer = http_answer,          /* loop: --health-path, then Connection: close */
    .read_body = gw_http_read_body, /* worker: Content-Length or chunked */
    .send_head = gw_http_send_head, /* worker: status line + headers (buffered) */
    .send_body = gw_http_send_body, /* worker: Content-Length / chunked / close */
    .finish = http_finish,          /* worker: last chunk, drain, keep or close */
    .timeout = gw_http_timeout,     /* watchdog: 504 + Connection: close */
};
