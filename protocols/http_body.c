/*
 * The HTTP/1.1 front-end's request body on the worker: Content-Length or chunked
 * (de-chunked with the pure decoder of http_parse.c), "100 Continue" before the first
 * read when the client waits for it. The body is never read past its end, so a
 * pipelined request that follows stays intact in the connection's buffer.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/request.h"
#include "protocols/http_conn.h"

static int send_continue(struct gw_conn *c, struct gw_http_conn *h)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct iovec v = {.iov_base = (void *)line, .iov_len = sizeof(line) - 1};
    h->continue_sent = 1;
    return gw_conn_writev(c, &v, 1);
}

static ssize_t read_length(struct gw_conn *c, struct gw_http_conn *h, char *buf, size_t len)
{
    size_t want = len < h->body_left ? len : (size_t)h->body_left;
    ssize_t n = gw_conn_read_body(c, buf, want);
    if (n < 0)
        return n;
    h->body_left -= (uint64_t)n;
    return n;
}

static ssize_t read_chunked(struct gw_conn *c, struct gw_http_conn *h, char *buf, size_t len)
{
    const struct gw_config *cfg = c->cfg;
    size_t got = 0;
    int whole = 0; /* pass every buffered byte: the decoder waits for a whole trailer line */
    while (got == 0) {
        size_t avail = c->in.end - c->in.start;
        if (avail == 0) {
            ssize_t n = gw_conn_fill(c);
            if (n < 0)
                return n;
            continue;
        }
        /* At most len bytes, so a data slice always fits in buf. */
        size_t give = whole || avail < len ? avail : len;
        size_t used = 0;
        struct gw_slice data = {NULL, 0};
        int rc = gw_http_chunked_step(&h->dechunk, c->in.data + c->in.start, give, &used, &data);
        c->in.start += used;
        if (rc < 0)
            return rc; /* GW_EPROTO or GW_ETOOBIG: wsgi.input raises */
        if (rc == GW_CHUNK_DATA) {
            if (h->body_read + data.len > cfg->max_body)
                return GW_ETOOBIG;
            memmove(buf, data.ptr, data.len);
            got = data.len;
        } else if (rc == GW_CHUNK_DONE) {
            h->body_done = 1;
            break;
        } else if (rc == GW_CHUNK_MORE && used < give) {
            /* A partial trailer line stays buffered until its end arrives. */
            if (give < avail) {
                whole = 1;
                continue;
            }
            ssize_t n = gw_conn_fill(c);
            if (n < 0)
                return n;
        }
        /* GW_CHUNK_TRAILER: dropped, never merged into environ. */
    }
    return (ssize_t)got;
}

ssize_t gw_http_read_body(struct gw_request *r, char *buf, size_t len)
{
    struct gw_http_conn *h = r->proto_data;
    struct gw_conn *c = r->conn;
    if (h->body_error)
        return h->body_error;
    if (h->body_done || len == 0)
        return 0;
    if (h->expect_continue && !h->continue_sent && !h->head_sent) {
        int rc = gw_request_interim_begin(r); /* never while a timeout 504 goes out */
        if (rc == 0) {
            rc = send_continue(c, h);
            gw_request_interim_end(r);
        }
        if (rc != 0) {
            h->body_error = rc;
            return rc;
        }
    }
    ssize_t n = h->chunked ? read_chunked(c, h, buf, len) : read_length(c, h, buf, len);
    if (n < 0) {
        h->body_error = (int)n;
        return n;
    }
    h->body_read += (uint64_t)n;
    if (!h->chunked && h->body_left == 0)
        h->body_done = 1;
    return n;
}
