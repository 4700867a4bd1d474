/*
 * A made-up front-end and a connection that speaks it, shared by the unit tests of
 * the request core (test_pool.c, test_carry.c, test_request.c), so the pool, the
 * keep-alive carry and the head claim run without any front-end of protocols/.
 *
 * The line protocol: "GET <id>\n" is a complete request; a line starting "BAD" is
 * refused (the parser puts "400\n" in c->out and answers GW_PARSE_CLOSE); bytes
 * without a '\n' yet are a partial head (GW_PARSE_MORE). The parser hands out the
 * connection's preallocated requests in turn.
 *
 * The worker-side callbacks write nothing: each counts, with atomics, the write the
 * real front-end would make (the head, an interim reply, the watchdog's 504, the
 * end), and counts as an overlap any write that begins while another one of the same
 * connection is still going on, so a race test sees a double or interleaved write.
 */
#ifndef WSGATE_TESTS_UNIT_GATEWAY_FAKE_CONN_H
#define WSGATE_TESTS_UNIT_GATEWAY_FAKE_CONN_H

#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "tests/unit/gateway/check.h"

#define FAKE_UNUSED __attribute__((unused))

#define FAKE_MAX_REQS 8

struct fake_req {
    struct gw_request r; /* first: a struct gw_request * is a struct fake_req * */
    int id;              /* from "GET <id>" */
    /* writes the front-end made for it (atomics) */
    int heads, interims, timeouts, finishes, stderrs;
    int finish_ok; /* the ok of the last finish */
};

struct fake_conn {
    struct gw_conn c;
    struct gw_conn_host host;
    struct gw_config cfg;
    int keep;     /* what finish answers: 1 keeps the connection */
    int writing;  /* atomic: a write is under way on this connection */
    int overlaps; /* atomic: writes that began while another was under way */
    int nparse;   /* parse calls */
    int nreqs;    /* requests handed out by parse */
    struct fake_req reqs[FAKE_MAX_REQS];
};

static inline struct fake_req *fake_req_of(struct gw_request *r)
{
    return (struct fake_req *)r;
}

static inline struct fake_conn *fake_conn_of(const struct gw_conn *c)
{
    return c->proto_state;
}

static inline int fake_load(const int *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* One write of the fake front-end: counted in *counter, with a short window in which
 * a second writer on the same connection would be seen. */
FAKE_UNUSED static void fake_write(struct fake_conn *fc, int *counter)
{
    if (__atomic_exchange_n(&fc->writing, 1, __ATOMIC_ACQ_REL))
        __atomic_fetch_add(&fc->overlaps, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    for (volatile int i = 0; i < 200; i++)
        ;
    __atomic_store_n(&fc->writing, 0, __ATOMIC_RELEASE);
}

/* A request of fc, as its parser makes them (also for tests that need none parsed). */
FAKE_UNUSED static void fake_req_init(struct fake_req *fr, struct fake_conn *fc, int id)
{
    memset(fr, 0, sizeof(*fr));
    fr->r.conn = &fc->c;
    fr->r.proto = fc->c.proto;
    fr->r.proto_data = fr;
    fr->r.method = GW_SLICE_LIT("GET");
    fr->r.body_length = 0;
    fr->id = id;
}

static enum gw_parse_result fake_parse(struct gw_conn *c, struct gw_request **req)
{
    struct fake_conn *fc = fake_conn_of(c);
    const char *p = c->in.data + c->in.start;
    size_t n = c->in.end - c->in.start;
    const char *nl = n > 0 ? memchr(p, '\n', n) : NULL;
    fc->nparse++;
    if (nl == NULL)
        return GW_PARSE_MORE;
    c->in.start += (size_t)(nl - p) + 1;
    if (nl - p < 4 || memcmp(p, "GET ", 4) != 0 || fc->nreqs == FAKE_MAX_REQS) {
        gw_conn_out_append(c, "400\n", 4);
        c->reply_status = 400;
        return GW_PARSE_CLOSE;
    }
    int id = 0;
    for (const char *d = p + 4; d < nl && *d >= '0' && *d <= '9'; d++)
        id = id * 10 + (*d - '0');
    struct fake_req *fr = &fc->reqs[fc->nreqs++];
    fake_req_init(fr, fc, id);
    *req = &fr->r;
    return GW_PARSE_READY;
}

static ssize_t fake_read_body(struct gw_request *r, char *buf, size_t len)
{
    (void)r, (void)buf, (void)len;
    return GW_EOF;
}

static int fake_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                          size_t n)
{
    (void)status, (void)f, (void)n;
    fake_write(fake_conn_of(r->conn), &fake_req_of(r)->heads);
    r->status = 200;
    return 0;
}

static int fake_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept)
{
    (void)r, (void)c, (void)n;
    if (kept != NULL)
        *kept = 0;
    return 0;
}

static int fake_finish(struct gw_request *r, int ok)
{
    struct fake_conn *fc = fake_conn_of(r->conn);
    fake_req_of(r)->finish_ok = ok;
    fake_write(fc, &fake_req_of(r)->finishes);
    return fc->keep;
}

static int fake_send_stderr(struct gw_request *r, const char *p, size_t n)
{
    (void)p, (void)n;
    __atomic_fetch_add(&fake_req_of(r)->stderrs, 1, __ATOMIC_RELAXED);
    return 0;
}

static int fake_timeout(struct gw_request *r)
{
    fake_write(fake_conn_of(r->conn), &fake_req_of(r)->timeouts);
    return 0;
}

#define FAKE_PROTO_OPS                                                                             \
    .parse = fake_parse, .read_body = fake_read_body, .send_head = fake_send_head,                 \
    .send_body = fake_send_body, .finish = fake_finish, .send_stderr = fake_send_stderr,           \
    .timeout = fake_timeout

FAKE_UNUSED static const struct gw_protocol fake_proto = {
    .name = "fake", .multiplexed = 0, FAKE_PROTO_OPS};

/* The same front-end as FastCGI is: many requests of one connection in the pool at
 * once (no body spool on the connection, no carry). */
FAKE_UNUSED static const struct gw_protocol fake_mux_proto = {
    .name = "fake-mux", .multiplexed = 1, FAKE_PROTO_OPS};

/* A kept-alive connection of fake_proto on fd (-1: none), with nothing buffered. */
FAKE_UNUSED static void fake_conn_init(struct fake_conn *fc, int fd)
{
    memset(fc, 0, sizeof(*fc));
    fc->c.fd = fd;
    gw_spool_init(&fc->c.spool); /* no spool: fd -1, not stdin */
    fc->c.tr = &gw_plain_transport;
    fc->c.state = GW_CONN_DISPATCHED;
    fc->c.proto = &fake_proto;
    fc->c.cfg = &fc->cfg;
    fc->c.host = &fc->host;
    fc->c.proto_state = fc;
    fc->cfg.read_timeout = 5;
    fc->cfg.send_timeout = 5;
    fc->keep = 1;
}

/* Appends the NUL-terminated s to fc's input buffer, as if the loop had read it. */
FAKE_UNUSED static void fake_conn_feed(struct fake_conn *fc, const char *s)
{
    CHECK(gw_buf_append(&fc->c.in, s, strlen(s), 1u << 20) == 0, "out of memory");
}

/* The bytes buffered and not yet consumed, as a NUL-terminated copy in buf. */
FAKE_UNUSED static const char *fake_conn_buffered(const struct fake_conn *fc, char *buf, size_t len)
{
    size_t n = fc->c.in.end - fc->c.in.start;
    CHECK(n < len, "%zu bytes buffered", n);
    if (n > 0)
        memcpy(buf, fc->c.in.data + fc->c.in.start, n);
    buf[n] = '\0';
    return buf;
}

FAKE_UNUSED static void fake_conn_free(struct fake_conn *fc)
{
    free(fc->c.in.data);
    free(fc->c.out.data);
    fc->c.in = (struct gw_buf){0};
    fc->c.out = (struct gw_buf){0};
}

#endif
