/*
 * HTTP/1.1 response framing on the worker thread: the status line and headers (with
 * Date and Server added, hop-by-hop fields of the app dropped), Content-Length,
 * chunked or close-delimited bodies, no body for HEAD/1xx/204/205/304 (the rule of
 * gateway/status.h, shared with FastCGI and SCGI), sendfile, and the end of the
 * response: last chunk, draining an unread request body, and the verdict on keeping
 * the connection.
 *
 * The head is built into h->out by send_head and goes out with the first body bytes
 * (one writev), so an app that fails before its first byte can still get a clean 500.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
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

/* Hop-by-hop fields are the server's business (PEP 3333): dropped from the app. */
static int is_hop_by_hop(struct gw_slice n)
{
    static const char *const hop[] = {"connection", "keep-alive", "transfer-encoding", "te",
                                      "trailer",    "upgrade",    "proxy-connection"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (gw_slice_eq_lower(n, hop[i]))
            return 1;
    return 0;
}

static int has_token(struct gw_slice v, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= v.len; i++) {
        if (strncasecmp(v.ptr + i, tok, tl) == 0 &&
            (i == 0 || v.ptr[i - 1] == ',' || v.ptr[i - 1] == ' ') &&
            (i + tl == v.len || v.ptr[i + tl] == ',' || v.ptr[i + tl] == ' '))
            return 1;
    }
    return 0;
}

int gw_http_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                      size_t n)
{
    struct gw_http_conn *h = r->proto_data;
    int have_date = 0, have_server = 0;
    int64_t length = -1;

    if (h->head_sent || status.len < 3)
        return GW_ESTATE;
    int code = 0;
    for (int i = 0; i < 3; i++) {
        if (status.ptr[i] < '0' || status.ptr[i] > '9')
            return GW_EPROTO;
        code = code * 10 + (status.ptr[i] - '0');
    }
    if (code < 100)
        return GW_EPROTO;

    enum gw_content_rule rule = gw_content_rule(r->method, code);
    h->out.end = 0;
    h->started = 1;
    h->resp_length = -1;
    h->no_body = rule != GW_CONTENT_ANY;
    if (out_str(h, "HTTP/1.1 ") || out_add(h, status.ptr, status.len) || out_str(h, "\r\n"))
        return GW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct gw_slice name = f[i].name, value = f[i].value;
        if (is_hop_by_hop(name)) {
            if (gw_slice_eq_lower(name, "connection") && has_token(value, "close"))
                h->keep = 0;
            continue;
        }
        if (gw_slice_eq_lower(name, "content-length")) {
            uint64_t v;
            if (gw_parse_u64(value.ptr, value.len, (uint64_t)INT64_MAX, &v) != 0)
                return GW_EPROTO;
            if (length >= 0 && (uint64_t)length != v)
                return GW_EPROTO;
            if (length >= 0)
                continue; /* an exact repeat: send it once */
            length = (int64_t)v;
            if (rule == GW_CONTENT_NONE_NO_LENGTH || rule == GW_CONTENT_EMPTY)
                continue; /* none at all, or "Content-Length: 0" below */
        }
        have_date |= gw_slice_eq_lower(name, "date");
        have_server |= gw_slice_eq_lower(name, "server");
        if (out_field(h, name, value))
            return GW_ENOMEM;
    }
    if (!have_server && out_str(h, "Server: " GW_SERVER_TOKEN "\r\n"))
        return GW_ENOMEM;
    if (!have_date && (out_str(h, "Date: ") || out_str(h, gw_http_date()) || out_str(h, "\r\n")))
        return GW_ENOMEM;

    if (rule == GW_CONTENT_EMPTY && out_str(h, "Content-Length: 0\r\n"))
        return GW_ENOMEM;

    h->resp_length = rule == GW_CONTENT_NONE_NO_LENGTH ? -1 : rule == GW_CONTENT_EMPTY ? 0 : length;
    h->resp_chunked = 0;
    if (!h->no_body && length < 0) {
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
    r->status = code;
    return 0;
}

/* Writes the head (if still pending) followed by iov, framed as a chunk if needed. */
static int write_framed(struct gw_request *r, const struct iovec *iov, int iovcnt, size_t total)
{
    struct gw_http_conn *h = r->proto_data;
    struct iovec v[66];
    char size_line[24];
    int nv = 0;
    if (!h->head_sent && h->out.end > 0)
        v[nv++] = (struct iovec){.iov_base = h->out.data, .iov_len = h->out.end};
    int chunk = h->resp_chunked && total > 0;
    if (chunk) {
        int k = snprintf(size_line, sizeof(size_line), "%zx\r\n", total);
        v[nv++] = (struct iovec){.iov_base = size_line, .iov_len = (size_t)k};
    }
    int rc = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        if (nv == 65) {
            rc = gw_conn_writev(r->conn, v, nv);
            if (rc != 0)
                return rc;
            h->head_sent = 1;
            nv = 0;
        }
        v[nv++] = iov[i];
    }
    if (chunk)
        v[nv++] = (struct iovec){.iov_base = "\r\n", .iov_len = 2};
    if (nv > 0)
        rc = gw_conn_writev(r->conn, v, nv);
    if (rc == 0)
        h->head_sent = 1;
    return rc;
}

int gw_http_send_body(struct gw_request *r, const struct iovec *iov, int iovcnt)
{
    struct gw_http_conn *h = r->proto_data;
    struct iovec v[64];
    if (!h->started)
        return GW_ESTATE;
    if (h->no_body)
        return h->head_sent ? 0 : write_framed(r, NULL, 0, 0);
    size_t total = 0;
    int nv = 0;
    for (int i = 0; i < iovcnt; i++) {
        size_t len = iov[i].iov_len;
        if (h->resp_length >= 0) {
            uint64_t room = (uint64_t)h->resp_length - h->resp_sent - total;
            if (len > room) {
                len = (size_t)room; /* R2: never more than the app declared */
                h->keep = 0;
            }
        }
        if (len == 0)
            continue;
        if (nv == 64) {
            int rc = write_framed(r, v, nv, total);
            if (rc != 0)
                return rc;
            h->resp_sent += total;
            r->bytes_sent += total;
            total = 0;
            nv = 0;
        }
        v[nv++] = (struct iovec){.iov_base = iov[i].iov_base, .iov_len = len};
        total += len;
    }
    if (total == 0)
        return 0;
    int rc = write_framed(r, v, nv, total);
    if (rc == 0) {
        h->resp_sent += total;
        r->bytes_sent += total;
    }
    return rc;
}

/* Copies a file that sendfile(2) refuses, through a buffer. */
static int copy_file(struct gw_request *r, int fd, off_t offset, size_t len)
{
    char buf[65536];
    while (len > 0) {
        ssize_t n = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), offset);
        if (n < 0)
            return GW_EIO;
        if (n == 0)
            break;
        struct iovec v = {.iov_base = buf, .iov_len = (size_t)n};
        int rc = gw_http_send_body(r, &v, 1);
        if (rc != 0)
            return rc;
        offset += n;
        len -= (size_t)n;
    }
    return 0;
}

int gw_http_send_file(struct gw_request *r, int fd, off_t offset, size_t len)
{
    struct gw_http_conn *h = r->proto_data;
    struct stat st;
    if (!h->started)
        return GW_ESTATE;
    if (len == (size_t)-1) {
        if (fstat(fd, &st) != 0)
            return GW_EIO;
        len = st.st_size > offset ? (size_t)(st.st_size - offset) : 0;
    }
    if (h->no_body || len == 0)
        return h->head_sent ? 0 : write_framed(r, NULL, 0, 0);
    if (h->resp_length >= 0) {
        uint64_t room = (uint64_t)h->resp_length - h->resp_sent;
        if (len > room) {
            len = (size_t)room;
            h->keep = 0;
        }
        if (len == 0)
            return 0;
    }
    char size_line[24];
    struct iovec v[2];
    int nv = 0;
    if (!h->head_sent)
        v[nv++] = (struct iovec){.iov_base = h->out.data, .iov_len = h->out.end};
    if (h->resp_chunked) {
        int k = snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
        v[nv++] = (struct iovec){.iov_base = size_line, .iov_len = (size_t)k};
    }
    int rc = nv ? gw_conn_writev(r->conn, v, nv) : 0;
    if (rc != 0)
        return rc;
    h->head_sent = 1;
    size_t sent = 0;
    rc = gw_conn_sendfile(r->conn, fd, offset, len, &sent);
    if (rc == GW_EIO && sent == 0 && !h->resp_chunked)
        return copy_file(r, fd, offset, len);
    h->resp_sent += sent;
    r->bytes_sent += sent;
    if (rc != 0)
        return rc;
    if (sent < len) {
        gw_conn_set_broken(r->conn); /* promised bytes are missing: framing is lost */
        return GW_EIO;
    }
    if (h->resp_chunked) {
        struct iovec crlf = {.iov_base = "\r\n", .iov_len = 2};
        return gw_conn_writev(r->conn, &crlf, 1);
    }
    return 0;
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
    shutdown(r->conn->fd, SHUT_WR); /* the client sees the end at once */
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
    struct iovec v = {.iov_base = c->out.data, .iov_len = c->out.end - c->out.start};
    if (v.iov_len > 0)
        gw_conn_writev(c, &v, 1);
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

    if (!ok || !h->started) {
        if (h->head_sent || gw_conn_broken(c))
            return 0; /* R4: abort, no clean end */
        send_error(r, body_error_status(h->body_error));
        return 0;
    }
    int rc = 0;
    if (!h->head_sent)
        rc = write_framed(r, NULL, 0, 0);
    if (rc == 0 && h->resp_chunked) {
        struct iovec v = {.iov_base = "0\r\n\r\n", .iov_len = 5};
        rc = gw_conn_writev(c, &v, 1);
    }
    if (rc != 0)
        return 0;
    if (h->resp_length >= 0 && h->resp_sent < (uint64_t)h->resp_length && !h->no_body)
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
