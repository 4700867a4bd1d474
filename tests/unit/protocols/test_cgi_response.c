/*
 * Unit tests of the CGI-style response that FastCGI and SCGI send
 * (protocols/cgi_response.c), and of SCGI's framing of it (protocols/scgi.c).
 *
 * gw_cgi_response_head is driven through the core's gw_request_send_head, which
 * parses the response once for every front-end (gateway/request.c), by a front-end
 * whose send_head only builds the head: the Status line, the app's fields as given
 * minus the hop-by-hop ones, one Content-Length of a repeated equal pair, none for
 * 1xx/204, the app's for HEAD/304, "Content-Length: 0" for a 205 in place of the
 * app's, no Date or Server added (the front server's business), the buffer emptied
 * first, and GW_ETOOBIG for a head one byte past GW_CGI_MAX_RESPONSE_HEAD (exactly
 * that many fit). gw_cgi_error_response: every status of the table (and an unknown
 * one), Retry-After for 503 only, a body as long as its Content-Length, always under
 * the documented 256 bytes, and never past a smaller cap (a NUL-terminated prefix).
 *
 * Then a whole SCGI response: a netstring head parsed by the front-end's parse slot,
 * the app's sends through gw_request_*, the queue drained from a recording transport
 * (tests/unit/gateway/fake_wire.h) under every mode of it: raw body bytes behind the
 * head, the head at the end when there is no body, R2 cut by the core, the 500 for an
 * app that fails before its first byte, an abort after it (the queue is dropped, the
 * connection broken: the front server must not see a clean end), and the verdict on
 * closing without lingering. Last, a body read that fails before the head, the front
 * server on a socketpair: 408 for a read that timed out, no answer once it is gone.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/output.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/status.h"
#include "protocols/cgi_response.h"
#include "protocols/scgi.h"
#include "tests/unit/gateway/fake_wire.h"
#include "tests/unit/support.h"

/* ---- gw_cgi_response_head through the core --------------------------------------- */

static struct gw_buf head_out;

static int build_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                      size_t n)
{
    return gw_cgi_response_head(&head_out, r, status, f, n);
}

static const struct gw_protocol head_proto = {.name = "cgi-head", .send_head = build_head};

/* The head for a request of method with the app's status and fields; rc is
 * gw_request_send_head's result. The text is head_out's. */
static int make_head(const char *method, const char *status, const struct gw_field *f, size_t n)
{
    struct gw_request r;
    memset(&r, 0, sizeof(r));
    r.proto = &head_proto;
    r.method = gw_slice_make(method, strlen(method));
    return gw_request_send_head(&r, gw_slice_make(status, strlen(status)), f, n);
}

struct head_case {
    const char *name;
    const char *method;
    const char *status;
    const char *fields; /* "Name: value" lines (app_fields) */
    const char *want;
};

static const struct head_case head_cases[] = {
    {"no_fields", "GET", "200 OK", NULL, "Status: 200 OK\r\n\r\n"},
    {"fields_as_given_hop_by_hop_dropped", "GET", "404 Not Found",
     "x-a: 1\nConnection: close\nKeep-Alive: 5\nTransfer-Encoding: chunked\nTE: trailers\n"
     "Trailer: X\nUpgrade: h2c\nProxy-Connection: close\nSet-Cookie: a=b\nContent-Length: 3",
     "Status: 404 Not Found\r\nx-a: 1\r\nSet-Cookie: a=b\r\nContent-Length: 3\r\n\r\n"},
    {"no_date_or_server_added_app_s_kept", "GET", "200 OK", "Date: d\nServer: s",
     "Status: 200 OK\r\nDate: d\r\nServer: s\r\n\r\n"},
    {"repeated_equal_length_once", "GET", "200 OK", "Content-Length: 3\nX-B: 2\ncontent-length: 3",
     "Status: 200 OK\r\nContent-Length: 3\r\nX-B: 2\r\n\r\n"},
    {"head_keeps_the_length", "HEAD", "200 OK", "Content-Length: 7",
     "Status: 200 OK\r\nContent-Length: 7\r\n\r\n"},
    {"status_304_keeps_the_length", "GET", "304 Not Modified", "Content-Length: 7\nETag: \"e\"",
     "Status: 304 Not Modified\r\nContent-Length: 7\r\nETag: \"e\"\r\n\r\n"},
    {"status_204_drops_the_length", "GET", "204 No Content", "Content-Length: 7\nX-C: 3",
     "Status: 204 No Content\r\nX-C: 3\r\n\r\n"},
    {"status_1xx_drops_the_length", "GET", "103 Early Hints", "Content-Length: 7",
     "Status: 103 Early Hints\r\n\r\n"},
    {"status_205_length_0", "GET", "205 Reset Content", "Content-Length: 7\nX-D: 4",
     "Status: 205 Reset Content\r\nX-D: 4\r\nContent-Length: 0\r\n\r\n"},
    {"status_205_without_length", "POST", "205 Reset Content", NULL,
     "Status: 205 Reset Content\r\nContent-Length: 0\r\n\r\n"},
    {"reason_as_given", "GET", "299 Whatever You Like", NULL,
     "Status: 299 Whatever You Like\r\n\r\n"},
};

ParameterizedTestParameters(cgi_response, head)
{
    return index_params(NROWS(head_cases));
}

ParameterizedTest(size_t *i, cgi_response, head)
{
    const struct head_case *k = &head_cases[*i];
    char buf[512];
    struct gw_field f[16];
    size_t n = app_fields(k->fields, buf, sizeof(buf), f, 16);
    /* a head built before: the buffer is emptied first */
    cr_assert_eq(make_head("GET", "500 Before", NULL, 0), 0);
    cr_assert_eq(make_head(k->method, k->status, f, n), 0, "%s", k->name);
    struct sb got = {0};
    sb_add(&got, head_out.data, head_out.end);
    cr_assert_str_eq(got.p, k->want, "%s", k->name);
    free(got.p);
    free(head_out.data);
}

/* The uwsgi front-end's form: the same head with "HTTP/1.1 " for "Status: ". */
static int build_head_line(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                           size_t n)
{
    return gw_cgi_response_head_line(&head_out, r, status, f, n);
}

static const struct gw_protocol head_line_proto = {.name = "uwsgi-head",
                                                   .send_head = build_head_line};

Test(cgi_response, head_line)
{
    for (size_t i = 0; i < NROWS(head_cases); i++) {
        const struct head_case *k = &head_cases[i];
        char buf[512];
        struct gw_field f[16];
        size_t n = app_fields(k->fields, buf, sizeof(buf), f, 16);
        struct gw_request r;
        memset(&r, 0, sizeof(r));
        r.proto = &head_line_proto;
        r.method = gw_slice_make(k->method, strlen(k->method));
        cr_assert_eq(gw_request_send_head(&r, gw_slice_make(k->status, strlen(k->status)), f, n), 0,
                     "%s", k->name);
        struct sb got = {0}, want = {0};
        sb_add(&got, head_out.data, head_out.end);
        sb_str(&want, "HTTP/1.1 ");
        sb_str(&want, k->want + strlen("Status: "));
        cr_assert_str_eq(got.p, want.p, "%s", k->name);
        free(got.p);
        free(want.p);
    }
    free(head_out.data);
}

/* Refused by the core before the front-end builds anything. */
Test(cgi_response, malformed_response_refused)
{
    struct gw_field f[] = {{GW_SLICE_LIT("Content-Length"), GW_SLICE_LIT("-1")}};
    cr_assert_eq(make_head("GET", "200 OK", f, 1), GW_EPROTO);
    cr_assert_eq(make_head("GET", "99 Low", NULL, 0), GW_EPROTO);
}

/* "Status: 200 OK\r\n" "X: " value "\r\n" "\r\n": 23 bytes around the value. */
Test(cgi_response, head_cap)
{
    size_t around = 23, len = GW_CGI_MAX_RESPONSE_HEAD - around;
    char *v = malloc(len + 1);
    cr_assert(v != NULL);
    memset(v, 'v', len + 1);
    struct gw_field f = {GW_SLICE_LIT("X"), gw_slice_make(v, len)};
    cr_assert_eq(make_head("GET", "200 OK", &f, 1), 0, "exactly the cap fits");
    cr_assert_eq(head_out.end, GW_CGI_MAX_RESPONSE_HEAD);
    cr_assert(memcmp(head_out.data + head_out.end - 5, "v\r\n\r\n", 5) == 0);
    f.value.len = len + 1;
    cr_assert_eq(make_head("GET", "200 OK", &f, 1), GW_ETOOBIG, "one byte past the cap");
    cr_assert(head_out.cap <= GW_CGI_MAX_RESPONSE_HEAD, "the buffer grew past the cap");
    /* many small fields past the cap: refused as well */
    struct gw_field many[64];
    for (int i = 0; i < 64; i++)
        many[i] = (struct gw_field){GW_SLICE_LIT("X"), gw_slice_make(v, len / 60)};
    cr_assert_eq(make_head("GET", "200 OK", many, 64), GW_ETOOBIG);
    free(v);
    free(head_out.data);
}

/* ---- gw_cgi_error_response ------------------------------------------------------- */

static const struct {
    int code;
    const char *reason;
} statuses[] = {
#define ROW(code, reason) {code, reason},
    GW_STATUS_TABLE(ROW)
#undef ROW
        {999, "Unknown"},
};

Test(cgi_response, error_responses)
{
    for (size_t i = 0; i < NROWS(statuses); i++) {
        char buf[256], body[64];
        memset(buf, 'x', sizeof(buf));
        size_t n = gw_cgi_error_response(buf, sizeof(buf), statuses[i].code);
        cr_assert(n < sizeof(buf) && buf[n] == '\0', "status %d: %zu bytes", statuses[i].code, n);
        int bl = snprintf(body, sizeof(body), "%d %s\n", statuses[i].code, statuses[i].reason);
        struct sb want = {0};
        sb_fmt(&want, "Status: %d %s\r\n", statuses[i].code, statuses[i].reason);
        sb_str(&want, "Content-Type: text/plain; charset=utf-8\r\n");
        sb_fmt(&want, "Content-Length: %d\r\n", bl);
        if (statuses[i].code == 503)
            sb_str(&want, "Retry-After: 1\r\n");
        sb_str(&want, "\r\n");
        sb_str(&want, body);
        cr_assert_str_eq(buf, want.p, "status %d", statuses[i].code);
        /* the body is as long as the Content-Length says */
        const char *end = strstr(buf, "\r\n\r\n");
        cr_assert(end != NULL);
        cr_assert_eq(n - (size_t)(end + 4 - buf), (size_t)bl);
        free(want.p);
    }
}

/* The uwsgi form: the same response with an HTTP status line. */
Test(cgi_response, error_responses_line)
{
    for (size_t i = 0; i < NROWS(statuses); i++) {
        char cgi[256], line[256];
        size_t n = gw_cgi_error_response(cgi, sizeof(cgi), statuses[i].code);
        size_t m = gw_cgi_error_response_line(line, sizeof(line), statuses[i].code);
        cr_assert_eq(m, n + 1, "status %d", statuses[i].code); /* "HTTP/1.1 " vs "Status: " */
        cr_assert(memcmp(line, "HTTP/1.1 ", 9) == 0);
        cr_assert_str_eq(line + 9, cgi + 8, "status %d", statuses[i].code);
    }
}

/* A smaller buffer gets a NUL-terminated prefix, never a byte past cap. */
Test(cgi_response, error_response_never_over_cap)
{
    char full[256];
    size_t whole = gw_cgi_error_response(full, sizeof(full), 503);
    for (size_t cap = 1; cap <= whole + 1; cap++) {
        char *buf = malloc(cap); /* exact size: ASan sees a write past it */
        cr_assert(buf != NULL);
        size_t n = gw_cgi_error_response(buf, cap, 503);
        cr_assert_eq(n, cap - 1 < whole ? cap - 1 : whole, "cap %zu", cap);
        cr_assert_eq(buf[n], '\0');
        cr_assert(memcmp(buf, full, n) == 0, "cap %zu: not a prefix", cap);
        free(buf);
    }
}

/* ---- SCGI: the response through gw_request_* --------------------------------------- */

struct sconn {
    struct fake_wire w; /* first: its gw_conn is the connection */
    struct gw_config cfg;
    struct gw_conn_host host;
    struct gw_listener l;
};

/* A netstring head of the given variables ("NAME=value" joined by ';', CONTENT_LENGTH
 * first), then body. */
static void scgi_request(struct sb *out, const char *vars, const char *body)
{
    struct sb block = {0};
    char tmp[512];
    cr_assert(strlen(vars) < sizeof(tmp));
    strcpy(tmp, vars);
    for (char *v = strtok(tmp, ";"); v != NULL; v = strtok(NULL, ";")) {
        char *eq = strchr(v, '=');
        cr_assert(eq != NULL);
        sb_add(&block, v, (size_t)(eq - v));
        sb_add(&block, "", 1);
        sb_add(&block, eq + 1, strlen(eq + 1));
        sb_add(&block, "", 1);
    }
    sb_fmt(out, "%zu:", block.len);
    sb_add(out, block.p, block.len);
    sb_add(out, ",", 1);
    sb_str(out, body);
    free(block.p);
}

/* A connection of the SCGI front-end on fd (-1: none) with the request's head parsed:
 * CONTENT_LENGTH length, of which body arrived with the head. */
static struct gw_request *sconn_open(struct sconn *s, const struct wire_mode *m, int fd,
                                     const char *method, size_t length, const char *body)
{
    struct gw_conn *c = &s->w.c;
    struct gw_request *r = NULL;
    char vars[256];
    struct sb req = {0};
    memset(s, 0, sizeof(*s));
    wire_init(&s->w, m);
    c->fd = fd;
    s->cfg.read_timeout = 5;
    s->cfg.send_timeout = 5;
    s->cfg.max_body = 1u << 30;
    s->cfg.max_head = 64 * 1024;
    s->cfg.script_name = "";
    strcpy(s->l.server_name, "localhost");
    strcpy(s->l.server_port, "80");
    s->l.proto = &gw_scgi_protocol;
    c->proto = &gw_scgi_protocol;
    c->cfg = &s->cfg;
    c->host = &s->host;
    c->listener = &s->l;
    cr_assert_eq(c->proto->conn_open(c), 0);
    snprintf(vars, sizeof(vars), "CONTENT_LENGTH=%zu;SCGI=1;REQUEST_METHOD=%s;REQUEST_URI=/x",
             length, method);
    scgi_request(&req, vars, body);
    cr_assert_eq(gw_buf_append(&c->in, req.p, req.len, 1u << 20), 0);
    free(req.p);
    cr_assert_eq(c->proto->parse(c, &r), GW_PARSE_READY);
    return r;
}

#define SCGI500                                                                                    \
    "Status: 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"             \
    "Content-Length: 26\r\n\r\n500 Internal Server Error\n"

struct scase {
    const char *name;
    const char *method;
    const char *body;   /* the request body, sent with the head */
    const char *status; /* NULL: the app fails before start_response */
    const char *fields;
    int head_rc; /* when not 0, every send must answer GW_ESTATE */
    const char *steps[APP_MAX_STEPS];
    int ok;
    const char *want;
    int close_now, status_code;
    int aborted; /* the connection ends broken; a slower socket got a prefix of want */
};

/* clang-format off: a row per case, in the order of the fields */
// clang-format off
static const struct scase scgi_cases[] = {
    {"body", "GET", "",
     "200 OK", "Content-Type: text/plain\nContent-Length: 5", 0, {"b:hel|lo"}, 1,
     "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
     1, 200, 0},
    {"no_body_head_at_finish", "GET", "",
     "200 OK", "X-A: 1", 0, {"b:"}, 1,
     "Status: 200 OK\r\nX-A: 1\r\n\r\n",
     1, 200, 0},
    {"raw_body_no_chunking", "GET", "",
     "200 OK", "Transfer-Encoding: chunked\nConnection: close", 0,
     {"b:ab", "r:cd", "f:2,3", "b:|e|"}, 1,
     "Status: 200 OK\r\n\r\nabcd234e",
     1, 200, 0},
    {"file_to_its_end", "GET", "",
     "200 OK", NULL, 0, {"f:15,-"}, 1,
     "Status: 200 OK\r\n\r\nFGHIJ",
     1, 200, 0},
    {"head_method", "HEAD", "",
     "200 OK", "Content-Length: 5", 0, {"b:hello"}, 1,
     "Status: 200 OK\r\nContent-Length: 5\r\n\r\n",
     1, 200, 0},
    {"status_205", "GET", "",
     "205 Reset Content", "Content-Length: 5", 0, {"b:hello"}, 1,
     "Status: 205 Reset Content\r\nContent-Length: 0\r\n\r\n",
     1, 205, 0},
    {"r2_more_than_declared", "GET", "",
     "200 OK", "Content-Length: 3", 0, {"b:abcdef", "r:gh"}, 1,
     "Status: 200 OK\r\nContent-Length: 3\r\n\r\nabc",
     1, 200, 0},
    {"unread_body_lingers", "POST", "hello",
     "200 OK", "Content-Length: 2", 0, {"b:ok"}, 1,
     "Status: 200 OK\r\nContent-Length: 2\r\n\r\nok",
     0, 200, 0},
    {"error_before_head_is_500", "GET", "",
     NULL, NULL, 0, {"b:x"}, 0,
     SCGI500,
     0, 500, 0},
    {"finish_ok_without_head_is_500", "GET", "",
     NULL, NULL, 0, {NULL}, 1,
     SCGI500,
     0, 500, 0},
    {"abort_before_first_byte_is_500", "GET", "",
     "200 OK", "Content-Length: 5", 0, {"b:"}, 0,
     SCGI500,
     0, 500, 0},
    {"malformed_length_is_500", "GET", "",
     "200 OK", "Content-Length: x", GW_EPROTO, {"b:x"}, 0,
     SCGI500,
     0, 500, 0},
    {"abort_after_first_byte", "GET", "",
     "200 OK", "Content-Length: 5", 0, {"b:abc"}, 0,
     "Status: 200 OK\r\nContent-Length: 5\r\n\r\nabc",
     0, 200, 1},
};
// clang-format on

struct soutcome {
    char *wire;
    int keep, close_now, status, broken;
};

static void scgi_run(const struct scase *k, const struct wire_mode *m, struct soutcome *out)
{
    struct sconn s;
    char fbuf[512];
    struct gw_field f[16];
    size_t kept = 0;
    int fd = app_file();
    struct gw_request *r = sconn_open(&s, m, -1, k->method, strlen(k->body), k->body);
    size_t nf = app_fields(k->fields, fbuf, sizeof(fbuf), f, 16);
    if (k->status != NULL)
        cr_assert_eq(gw_request_send_head(r, gw_slice_make(k->status, strlen(k->status)), f, nf),
                     k->head_rc, "%s: send_head", k->name);
    for (int i = 0; i < APP_MAX_STEPS && k->steps[i] != NULL; i++) {
        int rc = app_send(r, k->steps[i], fd, i, &kept);
        int want = k->status == NULL || k->head_rc != 0 ? GW_ESTATE : 0;
        cr_assert_eq(rc, want, "%s: step %s answered %d", k->name, k->steps[i], rc);
    }
    gw_request_finish(r, k->ok);
    close(fd);
    out->keep = r->keep;
    out->close_now = r->close_now;
    out->status = r->status;
    out->broken = gw_conn_broken(&s.w.c);
    wire_drain(&s.w);
    cr_assert_eq(wire_take_parked(), kept, "%s: every kept reference comes back once", k->name);
    cr_assert_eq(gw_out_total_mem(), 0);
    sb_add(&s.w.got, "", 0);
    out->wire = s.w.got.p;
    s.w.c.proto->conn_close(&s.w.c);
    wire_free(&s.w);
}

ParameterizedTestParameters(cgi_response, scgi)
{
    return index_params(NROWS(scgi_cases));
}

ParameterizedTest(size_t *i, cgi_response, scgi)
{
    const struct scase *k = &scgi_cases[*i];
    struct wire_mode modes[WIRE_NMODES];
    wire_modes(modes);
    for (size_t j = 0; j < WIRE_NMODES; j++) {
        struct soutcome o;
        scgi_run(k, &modes[j], &o);
        if (j == 0 || !k->aborted)
            cr_assert_str_eq(o.wire, k->want, "%s: %zu per call, refuse %d%s", k->name,
                             modes[j].per_call, modes[j].refuse,
                             modes[j].no_sendfile ? ", no sendfile" : "");
        else
            cr_assert(strncmp(k->want, o.wire, strlen(o.wire)) == 0,
                      "%s: not a prefix with %zu per call: %s", k->name, modes[j].per_call, o.wire);
        cr_assert_eq(o.keep, 0, "%s: SCGI never keeps a connection", k->name);
        cr_assert_eq(o.close_now, k->close_now, "%s: close_now", k->name);
        cr_assert_eq(o.status, k->status_code, "%s: status", k->name);
        cr_assert_eq(o.broken, k->aborted, "%s: broken", k->name);
        free(o.wire);
    }
}

/* ---- SCGI: a body read that fails before the head, the front server on a socketpair */

struct sbody_case {
    const char *name;
    const char *peer;    /* body bytes the front server sends after the head */
    int peer_shut;       /* then it shuts its write side */
    double read_timeout; /* --read-timeout (0: 5 s) */
    int read_rc;         /* how the app's reads end */
    const char *want;    /* the answer in place of the app's ("": none) */
};

static const struct sbody_case sbody_cases[] = {
    {"front_server_gone_mid_body_no_answer", "abc", 1, 0, GW_ECLOSED, ""},
    /* docs/hostile-inputs.md S16: "408 if the app lets a timed-out read propagate
     * before its first byte" */
    {"body_read_timeout_is_408", "abc", 0, 0.05, GW_ETIMEDOUT,
     "Status: 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
     "Content-Length: 20\r\n\r\n408 Request Timeout\n"},
};

static void check_sbody_case(const struct sbody_case *k)
{
    int sv[2];
    struct sconn s;
    struct wire_mode m = {0, 0, 0};
    char buf[4096];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    /* a body too large to be read on the loop: dispatched with none of it there */
    struct gw_request *r = sconn_open(&s, &m, sv[0], "POST", 100000, "");
    if (k->read_timeout > 0)
        s.cfg.read_timeout = k->read_timeout;
    if (k->peer != NULL)
        cr_assert_eq(write(sv[1], k->peer, strlen(k->peer)), (ssize_t)strlen(k->peer));
    if (k->peer_shut)
        shutdown(sv[1], SHUT_WR);
    ssize_t n;
    while ((n = gw_request_read(r, buf, sizeof(buf))) > 0)
        ;
    cr_assert_eq(n, k->read_rc, "%s: the reads ended with %zd", k->name, n);
    gw_request_finish(r, 0); /* the app let the read's exception propagate */
    wire_drain(&s.w);
    sb_add(&s.w.got, "", 0);
    cr_assert_str_eq(s.w.got.p, k->want, "%s: the answer", k->name);
    free(s.w.got.p);
    s.w.c.proto->conn_close(&s.w.c);
    wire_free(&s.w);
    close(sv[0]);
    close(sv[1]);
}

ParameterizedTestParameters(cgi_response, scgi_body_errors)
{
    return index_params(NROWS(sbody_cases));
}

ParameterizedTest(size_t *i, cgi_response, scgi_body_errors)
{
    check_sbody_case(&sbody_cases[*i]);
}
