/*
 * Unit tests of the HTTP/1.1 response framing (protocols/http_response.c), driven the
 * way a worker drives it: a request head parsed by the front-end's own parse slot
 * (protocols/http.c) from the bytes a client sent, then the core's gw_request_send_head
 * / _send_body / _send_ref / _send_file / _finish (gateway/request.c), the response
 * going out through the connection's output queue to a recording transport
 * (tests/unit/gateway/fake_wire.h).
 *
 * The table gives the request, what the app does and the bytes the client must read
 * (each "Date: <now>" the server adds written "Date: D"), with the verdict on the
 * connection (kept, closed at once, the bytes left buffered). Covered: the status line
 * and the app's fields as given, Date and Server added unless the app gave them,
 * hop-by-hop fields dropped, Connection: close (the app's, HTTP/1.0, the client's,
 * a draining server, no keep-alive, an unread body too large to drain, an unanswered
 * 100-continue), Content-Length, chunked (HTTP/1.1 without a length) and
 * close-delimited (HTTP/1.0) bodies, no body for HEAD/1xx/204/304 and 205's
 * Content-Length: 0, R2 (less or more than declared: not kept, never more on the
 * wire), R4 (an abort after the head: no clean end), the 500 for an app that fails
 * before its first byte, chunk framing of several bodies, empty ones, 16 buffers in
 * one call and more, references and file ranges, the last chunk. Every case runs again under
 * every mode of fake_wire.h (1..7 bytes per call, refusals, sendfile refused: the
 * pread fallback) and must give the same bytes and verdict once the queue is drained.
 *
 * Then the body errors that decide the answer before the head (400, 413, 408;
 * none when the client is gone), with the client on a socketpair, and the error replies
 * of the status table.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/output.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/status.h"
#include "gateway/util.h"
#include "protocols/http.h"
#include "protocols/http_conn.h"
#include "tests/unit/gateway/fake_wire.h"
#include "tests/unit/support.h"

/* ---- a connection of the HTTP front-end on the recording transport --------------- */

struct hconn {
    struct fake_wire w; /* first: its gw_conn is the connection */
    struct gw_config cfg;
    struct gw_conn_host host;
    struct gw_listener l;
};

/* Connection flags of a case. */
#define DRAINING     1 /* the server began a graceful stop */
#define NO_KEEPALIVE 2 /* --keep-alive 0 */

static void hconn_open(struct hconn *h, const struct wire_mode *m, int flags)
{
    memset(h, 0, sizeof(*h));
    wire_init(&h->w, m);
    struct gw_conn *c = &h->w.c;
    h->cfg.read_timeout = 5;
    h->cfg.send_timeout = 5;
    h->cfg.keep_alive = flags & NO_KEEPALIVE ? 0 : 15;
    h->cfg.max_body = 1u << 30;
    h->cfg.max_target = 8190;
    h->cfg.max_head = 64 * 1024;
    h->cfg.max_headers = 100;
    h->cfg.script_name = "";
    h->host.draining = flags & DRAINING ? 1 : 0;
    strcpy(h->l.server_name, "localhost");
    strcpy(h->l.server_port, "80");
    h->l.proto = &gw_http_protocol;
    c->proto = &gw_http_protocol;
    c->cfg = &h->cfg;
    c->host = &h->host;
    c->listener = &h->l;
    strcpy(c->remote_addr, "192.0.2.1");
    strcpy(c->remote_port, "4242");
    cr_assert_eq(c->proto->conn_open(c), 0);
}

/* Feeds the client's bytes and parses one request head (it must be complete). */
static struct gw_request *hconn_request(struct hconn *h, const char *req)
{
    struct gw_conn *c = &h->w.c;
    struct gw_request *r = NULL;
    cr_assert_eq(gw_buf_append(&c->in, req, strlen(req), 1u << 20), 0);
    cr_assert_eq(c->proto->parse(c, &r), GW_PARSE_READY, "request not ready: %s", req);
    cr_assert(r != NULL);
    return r;
}

static void hconn_close(struct hconn *h)
{
    h->w.c.proto->conn_close(&h->w.c);
    wire_free(&h->w);
    free(h->w.got.p);
}

/* ---- the wire as text ------------------------------------------------------------ */

/* got with each server-made "Date: <IMF-fixdate>" line value replaced by "D"; the
 * value must be a valid date. Caller frees. */
static char *normalized(const struct sb *got)
{
    static const char tag[] = "\r\nDate: ";
    struct sb out = {0};
    const char *p = got->p ? got->p : "", *end = p + got->len;
    sb_add(&out, "", 0);
    while (p < end) {
        const char *d = memmem(p, (size_t)(end - p), tag, sizeof(tag) - 1);
        if (d == NULL) {
            sb_add(&out, p, (size_t)(end - p));
            break;
        }
        const char *v = d + sizeof(tag) - 1;
        sb_add(&out, p, (size_t)(v - p));
        p = v;
        if (end - v >= GW_HTTP_DATE_LEN + 2 && memcmp(v + GW_HTTP_DATE_LEN, "\r\n", 2) == 0) {
            char date[GW_HTTP_DATE_LEN + 1];
            struct tm tm;
            memcpy(date, v, GW_HTTP_DATE_LEN);
            date[GW_HTTP_DATE_LEN] = '\0';
            const char *e = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
            if (e != NULL && *e == '\0') {
                sb_add(&out, "D", 1);
                p = v + GW_HTTP_DATE_LEN;
            }
        }
    }
    return out.p;
}

/* ---- the table ------------------------------------------------------------------- */

#define SD "Server: " GW_SERVER_TOKEN "\r\nDate: D\r\n"

/* The worker's own error answer (format_error_reply). */
#define ERR_REPLY(status_line, len, body)                                                          \
    "HTTP/1.1 " status_line "\r\n" SD "Content-Type: text/plain; charset=utf-8\r\n"                \
    "Content-Length: " len "\r\nConnection: close\r\n\r\n" body
#define ERR500 ERR_REPLY("500 Internal Server Error", "26", "500 Internal Server Error\n")

#define GET11  "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
#define GET10  "GET / HTTP/1.0\r\n\r\n"
#define GET10K "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
#define CLOSE  "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

struct hcase {
    const char *name;
    const char *req;    /* what the client sent: a head, maybe a body or the next request */
    int flags;          /* DRAINING, NO_KEEPALIVE */
    const char *status; /* the app's status, NULL: it fails before start_response */
    const char *fields; /* the app's fields, "Name: value" lines joined by '\n' */
    int head_rc;        /* gw_request_send_head's result; when not 0, every send below
                           must answer GW_ESTATE */
    /* The app's sends in order (app_send in fake_wire.h) */
    const char *steps[APP_MAX_STEPS];
    int ok;           /* gw_request_finish's ok */
    const char *want; /* the bytes the client reads */
    int keep;         /* r->keep */
    int close_now;    /* r->close_now */
    int status_code;  /* r->status */
    const char *left; /* bytes left unconsumed in c->in ("": none) */
};

/* clang-format off: a row per case, in the order of the fields */
// clang-format off
static const struct hcase cases[] = {
    /* status line, fields, Date and Server */
    {"content_length", GET11, 0,
     "200 OK", "Content-Type: text/plain\nContent-Length: 5", 0, {"b:hel|lo"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n" SD "\r\nhello",
     1, 0, 200, ""},
    {"app_date_and_server_kept", GET11, 0,
     "201 Created", "server: app/1\nDATE: app-date\nContent-Length: 0", 0, {NULL}, 1,
     "HTTP/1.1 201 Created\r\nserver: app/1\r\nDATE: app-date\r\nContent-Length: 0\r\n\r\n",
     1, 0, 201, ""},
    {"hop_by_hop_dropped", GET11, 0,
     "200 OK",
     "Connection: keep-alive\nKeep-Alive: timeout=5\nTransfer-Encoding: chunked\n"
     "TE: trailers\nTrailer: X-T\nUpgrade: h2c\nProxy-Connection: keep-alive\n"
     "X-A: 1\nContent-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n" SD "\r\nok",
     1, 0, 200, ""},
    {"repeated_equal_length_sent_once", GET11, 0,
     "200 OK", "Content-Length: 2\ncontent-length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "\r\nok",
     1, 0, 200, ""},
    {"empty_field_value", GET11, 0,
     "200 OK", "X-Empty: \nContent-Length: 0", 0, {NULL}, 1,
     "HTTP/1.1 200 OK\r\nX-Empty: \r\nContent-Length: 0\r\n" SD "\r\n",
     1, 0, 200, ""},

    /* Connection: close decisions */
    {"app_close", GET11, 0,
     "200 OK", "Connection: keep-alive, Close\nContent-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: close\r\n\r\nok",
     0, 0, 200, ""},
    {"client_close", CLOSE, 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: close\r\n\r\nok",
     0, 1, 200, ""},
    {"http10", GET10, 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: close\r\n\r\nok",
     0, 1, 200, ""},
    {"http10_keep_alive", GET10K, 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: keep-alive\r\n\r\nok",
     1, 0, 200, ""},
    {"draining_server", GET11, DRAINING,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: close\r\n\r\nok",
     0, 0, 200, ""},
    {"no_keep_alive_configured", GET11, NO_KEEPALIVE,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: close\r\n\r\nok",
     0, 0, 200, ""},
    {"unread_body_drained", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "\r\nok",
     1, 0, 200, ""},
    {"unread_chunked_body_drained",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "\r\nok",
     1, 0, 200, ""},
    {"unread_body_too_big_to_drain",
     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n", 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: close\r\n\r\nok",
     0, 0, 200, ""},
    {"unanswered_100_continue",
     "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: close\r\n\r\nok",
     0, 0, 200, ""},
    {"pipelined_next_request_kept", GET11 GET11, 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "\r\nok",
     1, 0, 200, GET11},
    {"pipelined_after_close_lingers", CLOSE GET11, 0,
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" SD "Connection: close\r\n\r\nok",
     0, 0, 200, GET11},

    /* chunked and close-delimited bodies */
    {"chunked_bodies", GET11, 0,
     "200 OK", "X-A: 1", 0, {"b:abc", "b:", "b:de||f", "r:ghij", "b:||", "f:0,3", "f:3,0"}, 1,
     "HTTP/1.1 200 OK\r\nX-A: 1\r\n" SD "Transfer-Encoding: chunked\r\n\r\n"
     "3\r\nabc\r\n3\r\ndef\r\n4\r\nghij\r\n3\r\n012\r\n0\r\n\r\n",
     1, 0, 200, ""},
    {"chunked_empty_body", GET11, 0,
     "200 OK", NULL, 0, {"b:"}, 1,
     "HTTP/1.1 200 OK\r\n" SD "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     1, 0, 200, ""},
    /* the core hands the front-end at most 16 buffers at a time: the first 16 go out
     * with the pending head and the chunk size line in one write */
    {"chunked_more_than_16_buffers", GET11, 0,
     "200 OK", NULL, 0, {"b:a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t"}, 1,
     "HTTP/1.1 200 OK\r\n" SD "Transfer-Encoding: chunked\r\n\r\n"
     "10\r\nabcdefghijklmnop\r\n4\r\nqrst\r\n0\r\n\r\n",
     1, 0, 200, ""},
    {"length_16_buffers_with_the_head", GET11, 0,
     "200 OK", "Content-Length: 16", 0, {"b:a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n" SD "\r\nabcdefghijklmnop",
     1, 0, 200, ""},
    {"chunked_16_buffers_after_the_head", GET11, 0,
     "200 OK", NULL, 0, {"b:0", "b:a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p"}, 1,
     "HTTP/1.1 200 OK\r\n" SD "Transfer-Encoding: chunked\r\n\r\n"
     "1\r\n0\r\n10\r\nabcdefghijklmnop\r\n0\r\n\r\n",
     1, 0, 200, ""},
    {"chunked_file_to_its_end", GET11, 0,
     "200 OK", NULL, 0, {"f:6,-", "r:!"}, 1,
     "HTTP/1.1 200 OK\r\n" SD "Transfer-Encoding: chunked\r\n\r\n"
     "e\r\n6789ABCDEFGHIJ\r\n1\r\n!\r\n0\r\n\r\n",
     1, 0, 200, ""},
    {"http10_close_delimited", GET10K, 0,
     "200 OK", NULL, 0, {"b:ab", "r:c", "f:0,2"}, 1,
     "HTTP/1.1 200 OK\r\n" SD "Connection: close\r\n\r\nabc01",
     0, 0, 200, ""},
    {"length_with_ref_and_file", GET11, 0,
     "200 OK", "Content-Length: 9", 0, {"r:abc", "f:2,5", "b:x"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n" SD "\r\nabc23456x",
     1, 0, 200, ""},

    /* no body: HEAD, 1xx, 204, 304; 205 with Content-Length: 0 */
    {"head_keeps_the_length", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 0,
     "200 OK", "Content-Length: 5", 0, {"b:hello", "f:0,5"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" SD "\r\n",
     1, 0, 200, ""},
    {"head_without_length", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 0,
     "200 OK", NULL, 0, {"b:hello"}, 1,
     "HTTP/1.1 200 OK\r\n" SD "\r\n",
     1, 0, 200, ""},
    {"status_1xx", GET11, 0,
     "103 Early Hints", "Link: </a>\nContent-Length: 1", 0, {"b:x"}, 1,
     "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n" SD "\r\n",
     1, 0, 103, ""},
    {"status_204", GET11, 0,
     "204 No Content", "Content-Length: 5", 0, {"b:hello"}, 1,
     "HTTP/1.1 204 No Content\r\n" SD "\r\n",
     1, 0, 204, ""},
    {"status_304", GET11, 0,
     "304 Not Modified", "ETag: \"x\"\nContent-Length: 5", 0, {"b:hello"}, 1,
     "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 5\r\n" SD "\r\n",
     1, 0, 304, ""},
    {"status_205", GET11, 0,
     "205 Reset Content", "Content-Length: 5", 0, {"b:hello"}, 1,
     "HTTP/1.1 205 Reset Content\r\n" SD "Content-Length: 0\r\n\r\n",
     1, 0, 205, ""},
    {"status_205_without_length", GET11, 0,
     "205 Reset Content", NULL, 0, {"r:x"}, 1,
     "HTTP/1.1 205 Reset Content\r\n" SD "Content-Length: 0\r\n\r\n",
     1, 0, 205, ""},

    /* R2: never more than declared; less or more: the connection is not kept */
    {"r2_less_than_declared", GET11, 0,
     "200 OK", "Content-Length: 10", 0, {"b:012345678"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n" SD "\r\n012345678",
     0, 0, 200, ""},
    {"r2_more_than_declared", GET11, 0,
     "200 OK", "Content-Length: 10", 0, {"b:0123456789ABCDEFGHIJ"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n" SD "\r\n0123456789",
     0, 0, 200, ""},
    {"r2_more_over_several_sends", CLOSE, 0,
     "200 OK", "Content-Length: 10", 0, {"b:0123|4567", "r:89AB", "f:0,5", "b:x"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n" SD "Connection: close\r\n\r\n0123456789",
     0, 1, 200, ""},

    /* R4 and errors before the head */
    {"r4_abort_after_body", GET11, 0,
     "200 OK", NULL, 0, {"b:abc"}, 0,
     "HTTP/1.1 200 OK\r\n" SD "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
     0, 0, 200, ""},
    {"r4_abort_with_length", GET11, 0,
     "200 OK", "Content-Length: 5", 0, {"b:abc"}, 0,
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" SD "\r\nabc",
     0, 0, 200, ""},
    {"abort_before_first_byte_is_500", GET11, 0,
     "200 OK", "Content-Length: 5", 0, {NULL}, 0,
     ERR500,
     0, 0, 500, ""},
    {"error_before_head_is_500", GET11, 0,
     NULL, NULL, 0, {NULL}, 0,
     ERR500,
     0, 0, 500, ""},
    /* gw_request_finish(r, 1) without a head (a handler bug): a 500 as well */
    {"finish_ok_without_head_is_500", GET11, 0,
     NULL, NULL, 0, {NULL}, 1,
     ERR500,
     0, 0, 500, ""},
    {"length_0_head_goes_out_at_finish", GET11, 0,
     "200 OK", "Content-Length: 0", 0, {"b:"}, 1,
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" SD "\r\n",
     1, 0, 200, ""},
    {"malformed_length_is_500", GET11, 0,
     "200 OK", "Content-Length: 1x", GW_EPROTO, {"b:abc"}, 0,
     ERR500,
     0, 0, 500, ""},
    {"conflicting_lengths_are_500", GET11, 0,
     "200 OK", "Content-Length: 2\nContent-Length: 3", GW_EPROTO, {"b:ab"}, 0,
     ERR500,
     0, 0, 500, ""},
    {"malformed_status_is_500", GET11, 0,
     "2x0 OK", NULL, GW_EPROTO, {"b:ab"}, 0,
     ERR500,
     0, 0, 500, ""},
};
// clang-format on

/* ---- one run --------------------------------------------------------------------- */

struct outcome {
    char *wire; /* normalized; caller frees */
    int keep, close_now, status;
    char left[256];
};

static void run(const struct hcase *k, const struct wire_mode *m, struct outcome *out)
{
    struct hconn h;
    char fbuf[1024];
    struct gw_field f[16];
    size_t kept = 0;
    int fd = app_file();

    hconn_open(&h, m, k->flags);
    struct gw_request *r = hconn_request(&h, k->req);
    size_t nf = app_fields(k->fields, fbuf, sizeof(fbuf), f, 16);
    if (k->status != NULL) {
        int rc = gw_request_send_head(r, gw_slice_make(k->status, strlen(k->status)), f, nf);
        cr_assert_eq(rc, k->head_rc, "%s: send_head %d", k->name, rc);
    }
    for (int i = 0; i < APP_MAX_STEPS && k->steps[i] != NULL; i++) {
        int rc = app_send(r, k->steps[i], fd, i, &kept);
        int want = k->status == NULL || k->head_rc != 0 ? GW_ESTATE : 0;
        cr_assert_eq(rc, want, "%s: step %s answered %d", k->name, k->steps[i], rc);
    }
    gw_request_finish(r, k->ok);
    out->keep = r->keep;
    out->close_now = r->close_now;
    out->status = r->status;
    close(fd); /* the queue holds its own duplicate */
    wire_drain(&h.w);
    cr_assert_eq(wire_take_parked(), kept, "%s: every kept reference comes back once", k->name);
    cr_assert_eq(gw_out_total_mem(), 0);
    size_t nleft = h.w.c.in.end - h.w.c.in.start;
    cr_assert(nleft < sizeof(out->left));
    memcpy(out->left, h.w.c.in.data + h.w.c.in.start, nleft);
    out->left[nleft] = '\0';
    out->wire = normalized(&h.w.got);
    hconn_close(&h);
}

static void check_case(const struct hcase *k)
{
    struct wire_mode modes[WIRE_NMODES];
    struct outcome ref;
    wire_modes(modes);
    run(k, &modes[0], &ref);
    if (strcmp(ref.wire, k->want) != 0) {
        struct sb got = {0}, want = {0};
        sb_esc(&got, ref.wire, strlen(ref.wire));
        sb_esc(&want, k->want, strlen(k->want));
        cr_assert_fail("%s: wire\n  got  %s\n  want %s", k->name, got.p, want.p);
    }
    cr_assert_eq(ref.keep, k->keep, "%s: keep %d", k->name, ref.keep);
    cr_assert_eq(ref.close_now, k->close_now, "%s: close_now %d", k->name, ref.close_now);
    cr_assert_eq(ref.status, k->status_code, "%s: status %d", k->name, ref.status);
    cr_assert_str_eq(ref.left, k->left, "%s: left buffered", k->name);
    for (size_t i = 1; i < WIRE_NMODES; i++) {
        struct outcome o;
        run(k, &modes[i], &o);
        cr_assert_str_eq(o.wire, ref.wire, "%s: other bytes with %zu per call, refuse %d%s",
                         k->name, modes[i].per_call, modes[i].refuse,
                         modes[i].no_sendfile ? ", no sendfile" : "");
        cr_assert(o.keep == ref.keep && o.close_now == ref.close_now && o.status == ref.status &&
                      strcmp(o.left, ref.left) == 0,
                  "%s: another verdict with %zu per call, refuse %d", k->name, modes[i].per_call,
                  modes[i].refuse);
        free(o.wire);
    }
    free(ref.wire);
}

ParameterizedTestParameters(http_response, cases)
{
    return index_params(NROWS(cases));
}

ParameterizedTest(size_t *i, http_response, cases)
{
    check_case(&cases[*i]);
}

/* Names are unique, so a failure names one row. */
Test(http_response, case_names_unique)
{
    for (size_t i = 0; i < NROWS(cases); i++)
        for (size_t j = i + 1; j < NROWS(cases); j++)
            cr_assert_str_neq(cases[i].name, cases[j].name);
}

/* ---- body errors before the head: the client on a socketpair --------------------- */

#define CHUNKED_EXPECT                                                                             \
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
#define CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

struct bcase {
    const char *name;
    const char *req;     /* the head (dispatched at once: 100-continue, or a large body) */
    const char *peer;    /* what the client sends next (NULL: nothing) */
    int peer_shut;       /* then it shuts its write side */
    double read_timeout; /* --read-timeout (0: 5 s) */
    uint64_t max_body;   /* --max-body (0: 1 GiB) */
    int read_rc;         /* how the app's reads end */
    const char *want;    /* the answer the worker writes in place of the app's ("": none) */
    const char *interim; /* the interim reply before it ("100 Continue"), also through the
                            transport: nothing reaches the socket around it */
};

static const struct bcase body_cases[] = {
    {"malformed_chunk_is_400", CHUNKED_EXPECT, "zz\r\n", 0, 0, 0, GW_EPROTO,
     ERR_REPLY("400 Bad Request", "16", "400 Bad Request\n"), CONTINUE},
    {"chunk_over_max_body_is_413", CHUNKED_EXPECT, "10\r\n0123456789abcdef\r\n0\r\n\r\n", 0, 0, 8,
     GW_ETOOBIG, ERR_REPLY("413 Content Too Large", "22", "413 Content Too Large\n"), CONTINUE},
    /* docs/hostile-inputs.md H44: "408 if the app lets it propagate before its first
     * byte" */
    {"body_read_timeout_is_408", CHUNKED_EXPECT, "5\r\nab", 0, 0.05, 0, GW_ETIMEDOUT,
     ERR_REPLY("408 Request Timeout", "20", "408 Request Timeout\n"), CONTINUE},
    {"client_gone_mid_chunk_no_answer", CHUNKED_EXPECT, "5\r\nab", 1, 0, 0, GW_ECLOSED, "",
     CONTINUE},
    {"client_gone_mid_length_body_no_answer",
     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc", "defg", 1, 0, 0, GW_ECLOSED,
     "", ""},
};

static void check_body_case(const struct bcase *k)
{
    int sv[2];
    struct hconn h;
    struct wire_mode m = {0, 0, 0};
    char buf[64], got[256];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    hconn_open(&h, &m, 0);
    h.w.c.fd = sv[0];
    if (k->read_timeout > 0)
        h.cfg.read_timeout = k->read_timeout;
    if (k->max_body > 0)
        h.cfg.max_body = k->max_body;
    struct gw_request *r = hconn_request(&h, k->req);
    if (k->peer != NULL)
        cr_assert_eq(write(sv[1], k->peer, strlen(k->peer)), (ssize_t)strlen(k->peer));
    if (k->peer_shut)
        shutdown(sv[1], SHUT_WR);
    ssize_t n;
    while ((n = gw_request_read(r, buf, sizeof(buf))) > 0)
        ;
    cr_assert_eq(n, k->read_rc, "%s: the reads ended with %zd", k->name, n);
    gw_request_finish(r, 0); /* the app let the read's exception propagate */
    cr_assert_eq(r->keep, 0, "%s: kept after a body error", k->name);
    wire_drain(&h.w);
    char *wire = normalized(&h.w.got);
    struct sb want = {0};
    sb_str(&want, k->interim);
    sb_str(&want, k->want);
    cr_assert_str_eq(wire, want.p ? want.p : "", "%s: the interim reply and the answer", k->name);
    ssize_t g = recv(sv[1], got, sizeof(got) - 1, MSG_DONTWAIT);
    got[g > 0 ? g : 0] = '\0';
    cr_assert_str_eq(got, "", "%s: written on the socket around the transport", k->name);
    free(want.p);
    free(wire);
    hconn_close(&h);
    close(sv[0]);
    close(sv[1]);
}

ParameterizedTestParameters(http_response, body_errors)
{
    return index_params(NROWS(body_cases));
}

ParameterizedTest(size_t *i, http_response, body_errors)
{
    check_body_case(&body_cases[*i]);
}

/* The watchdog's 504 (--timeout) and the end of the write side after it go through
 * the connection's transport too: over TLS nothing may reach the socket around it. */
Test(http_response, timeout_504_through_the_transport)
{
    struct hconn h;
    struct wire_mode m = {0, 0, 0};
    hconn_open(&h, &m, 0);
    struct gw_request *r = hconn_request(&h, GET11);
    cr_assert_eq(gw_http_timeout(r), 0);
    char *wire = normalized(&h.w.got);
    cr_assert_str_eq(wire, ERR_REPLY("504 Gateway Timeout", "20", "504 Gateway Timeout\n"));
    cr_assert_eq(h.w.shut, 1, "the write side was shut through the transport");
    cr_assert_eq(r->status, 504);
    free(wire);
    hconn_close(&h);
}

/* ---- the error replies of the status table ---------------------------------------- */

/* Every status of the table: a complete reply with Connection: close whose body is as
 * long as its Content-Length says, Retry-After for 503 only; c->reply_status set. */
Test(http_response, error_replies)
{
    static const struct {
        int code;
        const char *reason;
    } table[] = {
#define ROW(code, reason) {code, reason},
        GW_STATUS_TABLE(ROW)
#undef ROW
            {599, "Unknown"},
    };
    for (size_t i = 0; i < NROWS(table); i++) {
        struct hconn h;
        struct wire_mode m = {0, 0, 0};
        char head[128], body[64];
        hconn_open(&h, &m, 0);
        struct gw_conn *c = &h.w.c;
        gw_conn_out_append(c, "stale", 5);
        gw_http_error_reply(c, table[i].code);
        cr_assert_eq(c->reply_status, table[i].code);
        struct sb raw = {0};
        sb_add(&raw, c->out.data + c->out.start, c->out.end - c->out.start);
        char *text = normalized(&raw);
        int bl = snprintf(body, sizeof(body), "%d %s\n", table[i].code, table[i].reason);
        snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n", table[i].code, table[i].reason);
        struct sb want = {0};
        sb_str(&want, head);
        sb_str(&want, SD "Content-Type: text/plain; charset=utf-8\r\n");
        sb_fmt(&want, "Content-Length: %d\r\n", bl);
        if (table[i].code == 503)
            sb_str(&want, "Retry-After: 1\r\n");
        sb_str(&want, "Connection: close\r\n\r\n");
        sb_str(&want, body);
        cr_assert_str_eq(text, want.p, "status %d", table[i].code);
        free(text);
        free(raw.p);
        free(want.p);
        hconn_close(&h);
    }
}

/* Room for a body behind the head is made only for a request that has one: the
 * buffer of a bodiless request stays as small as its head (many busy keep-alive
 * connections held 64 KiB each, some 45 KiB resident), and the slices of a request
 * whose buffer grew point into its new place. */
Test(http_response, body_room_only_for_a_body)
{
    static const char *const reqs[] = {
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /b HTTP/1.1\r\nHost: y\r\nContent-Length: 100\r\n\r\nab",
        "POST /c HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    };
    static const char *const paths[] = {"/a", "/b", "/c"};
    for (size_t i = 0; i < 3; i++) {
        struct hconn h;
        struct wire_mode m = {0, 0, 0};
        hconn_open(&h, &m, 0);
        struct gw_request *r = hconn_request(&h, reqs[i]);
        struct gw_buf *in = &h.w.c.in;
        if (i == 0)
            cr_assert_lt(in->cap, 4096, "%zu bytes of buffer for a bodiless request", in->cap);
        else
            cr_assert_geq(in->cap - in->end, GW_HTTP_BODY_TAIL, "no room for the body");
        cr_assert(gw_slice_eq(r->request_uri, paths[i]), "request %zu: the target", i);
        cr_assert(r->request_uri.ptr >= in->data && r->request_uri.ptr < in->data + in->end,
                  "request %zu: the slices point into the buffer", i);
        hconn_close(&h);
    }
}
