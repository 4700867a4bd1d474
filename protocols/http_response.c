/*
 * HTTP/1.1 response framing on the worker thread: the status line and headers (with
 * Date and Server added; the core, gateway/request.c, has parsed the app's status
 * and fields, dropped the hop-by-hop ones and cut the body to its declared length),
 * Content-Length, chunked or close-delimited bodies, 205's "Content-Length: 0", and
 * the end of the response: last chunk, draining an unread request body, and the
 * verdict on keeping the connection. Everything goes out through the connection's
 * output queue (gateway/output.h).
 *
 * The head is built into h->out by send_head and goes out with the first body bytes
 * (one writev), so an app that fails before its first byte can still get a clean 500.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/output.h"
#include "gateway/status.h"
#include "gateway/util.h"
#include "protocols/http_conn.h"

/* The response head is bounded: an app cannot make it grow past this. */
#define GW_HTTP_MAX_RESPONSE_HEAD (1u << 20)

static int out_add(struct gw_http_conn *h, const char *p, size_t n)
{
    return gw_buf_append(&h->out, p, n, GW_HTTP_MAX_RESPONSE_HEAD);
}

static int out_str(struct gw_http_conn *h, const char *s)
{
    return out_add(h, s, strlen(s));
}

static int out_field(struct gw_http_conn *h, struct gw_slice name, struct gw_slice value)
{
    if (out_add(h, name.ptr, name.len) || out_add(h, ": ", 2) || out_add(h, value.ptr, value.len) ||
        out_add(h, "\r\n", 2))
        return GW_ENOMEM;
    return 0;
}

int gw_http_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                      size_t n)
{
    struct gw_http_conn *h = r->proto_data;
    const struct gw_response *resp = &r->resp;

    if (h->head_sent)
        return GW_ESTATE;
    h->out.end = 0;
    if (resp->app_close)
        h->keep = 0;
    if (out_str(h, "HTTP/1.1 ") || out_add(h, status.ptr, status.len) || out_str(h, "\r\n"))
        return GW_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (gw_response_keeps(r, f, i) && out_field(h, f[i].name, f[i].value))
            return GW_ENOMEM;
    if (!resp->have_server && out_str(h, "Server: " GW_SERVER_TOKEN "\r\n"))
        return GW_ENOMEM;
    if (!resp->have_date &&
        (out_str(h, "Date: ") || out_str(h, gw_http_date()) || out_str(h, "\r\n")))
        return GW_ENOMEM;
    if (resp->rule == GW_CONTENT_EMPTY && out_str(h, "Content-Length: 0\r\n"))
        return GW_ENOMEM;

    h->resp_chunked = 0;
    if (resp->rule == GW_CONTENT_ANY && resp->length < 0) {
        if (r->protocol.len == 8 && r->protocol.ptr[7] == '1') {
            h->resp_chunked = 1;
            if (out_str(h, "Transfer-Encoding: chunked\r\n"))
                return GW_ENOMEM;
        } else {
            h->keep = 0; /* HTTP/1.0: the body ends when the connection does */
        }
    }
    /* A client waiting for 100-continue that never got it may still send its body;
     * a body too large to drain: either way, this connection cannot carry on. */
    if (h->expect_continue && !h->continue_sent && !h->body_done)
        h->keep = 0;
    if (!h->chunked && !h->body_done && h->body_left > GW_HTTP_DRAIN_MAX)
        h->keep = 0;
    if (gw_conn_draining(r->conn))
        h->keep = 0; /* a graceful stop: this is the connection's last response */
    if (!h->keep && out_str(h, "Connection: close\r\n"))
        return GW_ENOMEM;
    if (h->keep && r->protocol.ptr[7] == '0' && out_str(h, "Connection: keep-alive\r\n"))
        return GW_ENOMEM;
    if (out_str(h, "\r\n"))
        return GW_ENOMEM;
    return 0;
}

/* Writes the pending head, then body[0..n) (n <= 16; chunked framing around it when
 * the response is chunked and body holds bytes), then tail, through the connection's
 * queue. */
static int write_framed(struct gw_request *r, const struct gw_chunk *body, int n, const char *tail,
                        int *kept)
{
    struct gw_http_conn *h = r->proto_data;
    struct gw_chunk v[20]; /* the head, a size line, 16 buffers, CRLF, the tail */
    char size_line[24];
    int nv = 0;
    uint64_t total = 0;
    if (!h->head_sent && h->out.end > 0)
        v[nv++] = (struct gw_chunk){.kind = GW_CHUNK_COPY, .p = h->out.data, .len = h->out.end};
    for (int i = 0; i < n; i++)
        total += body[i].len;
    int chunk = h->resp_chunked && total > 0;
    if (chunk) {
        int k = snprintf(size_line, sizeof(size_line), "%llx\r\n", (unsigned long long)total);
        v[nv++] = (struct gw_chunk){.kind = GW_CHUNK_COPY, .p = size_line, .len = (size_t)k};
    }
    for (int i = 0; i < n; i++) /* every one: the size line counts them all */
        v[nv++] = body[i];
    if (chunk)
        v[nv++] = (struct gw_chunk){.kind = GW_CHUNK_COPY, .p = "\r\n", .len = 2};
    if (tail != NULL)
        v[nv++] = (struct gw_chunk){.kind = GW_CHUNK_COPY, .p = tail, .len = strlen(tail)};
    if (nv == 0)
        return 0;
    int rc = gw_out_write(&r->conn->send, v, nv, kept);
    if (rc < 0) {
        gw_conn_set_broken(r->conn);
        return rc;
    }
    h->head_sent = 1;
    return 0;
}

int gw_http_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept)
{
    if (n > 16)
        return GW_ESTATE; /* the core sends at most 16 at once */
    return write_framed(r, c, n, NULL, kept);
}

/* A complete short error response with Connection: close into buf (cap >= 640).
 * Returns its length. */
static size_t format_error_reply(char *buf, size_t cap, int status)
{
    char body[96];
    const char *reason = gw_status_reason(status);
    int bl = snprintf(body, sizeof(body), "%d %s\n", status, reason);
    int hl = snprintf(buf, cap,
                      "HTTP/1.1 %d %s\r\nServer: " GW_SERVER_TOKEN "\r\nDate: %s\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                      "%sConnection: close\r\n\r\n%s",
                      status, reason, gw_http_date(), bl, status == 503 ? "Retry-After: 1\r\n" : "",
                      body);
    if (hl < 0)
        return 0;
    return (size_t)hl < cap ? (size_t)hl : cap - 1;
}

void gw_http_error_reply(struct gw_conn *c, int status)
{
    char buf[640];
    size_t n = format_error_reply(buf, sizeof(buf), status);
    c->out.start = c->out.end = 0;
    gw_conn_out_append(c, buf, n);
    c->reply_status = status;
}

int gw_http_timeout(struct gw_request *r)
{
    char buf[640];
    struct iovec v = {.iov_base = buf, .iov_len = format_error_reply(buf, sizeof(buf), 504)};
    /* The worker is not writing (it has not claimed the head) and never will for r;
     * it may be reading the body, which is fine on the same socket. */
    int rc = gw_conn_writev(r->conn, &v, 1);
    gw_conn_shut_write(r->conn); /* the client sees the end at once */
    r->status = 504;
    return rc;
}

/* The status for an app that failed before its first byte: the client's fault when
 * its body was malformed or too large, else the app's (500). */
static int body_error_status(int err)
{
    switch (err) {
    case GW_EPROTO:
        return 400;
    case GW_ETOOBIG:
        return 413;
    case GW_ETIMEDOUT:
        return 408;
    default:
        return 500;
    }
}

/* An error answer written by the worker in place of the app's response. */
static void send_error(struct gw_request *r, int status)
{
    struct gw_conn *c = r->conn;
    gw_http_error_reply(c, status);
    struct gw_chunk v = {.kind = GW_CHUNK_COPY, .p = c->out.data, .len = c->out.end - c->out.start};
    if (v.len > 0 && gw_out_write(&c->send, &v, 1, NULL) < 0)
        gw_conn_set_broken(c);
    c->out.start = c->out.end = 0;
    c->reply_status = 0; /* counted with the request (r->status) */
    r->status = status;
}

/* Reads and drops what is left of the request body, within GW_HTTP_DRAIN_MAX. */
static int drain_body(struct gw_request *r)
{
    struct gw_http_conn *h = r->proto_data;
    char sink[8192];
    size_t dropped = 0;
    while (!h->body_done) {
        ssize_t n = gw_http_read_body(r, sink, sizeof(sink));
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        dropped += (size_t)n;
        if (dropped > GW_HTTP_DRAIN_MAX)
            return -1;
    }
    return h->body_done ? 0 : -1;
}

int gw_http_finish_response(struct gw_request *r, int ok)
{
    struct gw_http_conn *h = r->proto_data;
    struct gw_conn *c = r->conn;
    const struct gw_response *resp = &r->resp;

    if (!ok || !resp->started) {
        if (h->head_sent || gw_conn_broken(c))
            return 0; /* R4: abort, no clean end */
        send_error(r, body_error_status(h->body_error));
        return 0;
    }
    if (write_framed(r, NULL, 0, h->resp_chunked ? "0\r\n\r\n" : NULL, NULL) != 0)
        return 0;
    if (resp->truncated)
        h->keep = 0; /* R2: the app sent more than it declared: the rest was dropped */
    if (resp->limit >= 0 && resp->sent < (uint64_t)resp->limit)
        return 0; /* R2: the app sent less than it declared: the client must see EOF */
    if (!h->keep) {
        /* The client sends nothing more and nothing of it is left unread: no need
         * to linger. Otherwise (our close, an unread body, pipelined bytes) the
         * loop lingers so the client reads this response rather than a reset. */
        r->close_now = h->client_close && h->body_done && c->in.start == c->in.end;
        return 0;
    }
    if (!h->body_done && (h->body_error || drain_body(r) != 0))
        return 0;
    return 1;
}
