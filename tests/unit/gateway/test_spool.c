/*
 * Unit tests of gateway/spool.c: a body collected before dispatch stays in the
 * connection buffer up to GW_SPOOL_MEMORY, then moves to the temp file in order, the
 * bytes after it (a pipelined request) stay behind the head, and the worker reads
 * the whole body back from the file.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/spool.h"

static struct gw_config cfg;

static void setup(struct gw_conn *c, size_t cap)
{
    memset(c, 0, sizeof(*c));
    c->cfg = &cfg;
    gw_spool_init(&c->spool);
    c->in.data = malloc(cap);
    cr_assert(c->in.data != NULL);
    c->in.cap = cap;
}

static void put(struct gw_conn *c, const char *p, size_t n)
{
    cr_assert(c->in.end + n <= c->in.cap);
    memcpy(c->in.data + c->in.end, p, n);
    c->in.end += n;
}

static char byte_at(size_t i)
{
    return (char)('a' + (i * 7 + i / 1000) % 26);
}

/* Feeds head + body (+ tail) in pieces of `piece` bytes, collecting after each. */
static void feed(size_t body_len, size_t piece, const char *tail)
{
    static const char head[] = "HEAD\r\n\r\n";
    struct gw_conn c;
    setup(&c, GW_SPOOL_MEMORY + 4 * piece + 256);
    put(&c, head, sizeof(head) - 1);
    size_t sent = 0;
    int64_t got = 0;
    char *buf = malloc(piece);
    cr_assert(buf != NULL);
    while (sent < body_len) {
        size_t n = body_len - sent < piece ? body_len - sent : piece;
        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(sent + i);
        put(&c, buf, n);
        sent += n;
        if (sent == body_len && tail != NULL)
            put(&c, tail, strlen(tail));
        got = gw_spool_collect(&c, sizeof(head) - 1, body_len);
        cr_assert(got >= 0, "collect: %lld", (long long)got);
        cr_assert_eq((uint64_t)got, sent, "collected %lld of %zu sent", (long long)got, sent);
        cr_assert(memcmp(c.in.data, head, sizeof(head) - 1) == 0, "the head stays");
        cr_assert(c.in.end - (sizeof(head) - 1) <= GW_SPOOL_MEMORY + piece + 64, "memory bounded");
    }
    free(buf);
    /* The worker's view: the spool first, then what follows in c->in. */
    size_t in_mem = c.in.end - (sizeof(head) - 1) - (tail ? strlen(tail) : 0);
    cr_assert_eq(c.spool.size + in_mem, body_len);
    char *body = malloc(body_len + 1);
    size_t have = 0;
    ssize_t k;
    while ((k = gw_spool_read(&c, body + have, 4000)) > 0)
        have += (size_t)k;
    cr_assert_eq(k, 0);
    memcpy(body + have, c.in.data + sizeof(head) - 1, in_mem);
    have += in_mem;
    cr_assert_eq(have, body_len);
    for (size_t i = 0; i < body_len; i++)
        cr_assert_eq(body[i], byte_at(i), "byte %zu", i);
    if (tail != NULL)
        cr_assert(memcmp(c.in.data + c.in.end - strlen(tail), tail, strlen(tail)) == 0,
                  "the next request stays behind the head");
    free(body);
    gw_spool_close(&c.spool);
    cr_assert_eq(c.spool.fd, -1);
    free(c.in.data);
}

Test(spool, small_body_stays_in_memory)
{
    feed(1000, 100, NULL);
}

Test(spool, large_body_goes_to_the_file_in_order)
{
    feed(300 * 1000, 7000, NULL);
}

Test(spool, bytes_after_the_body_stay_in_the_buffer)
{
    feed(200 * 1000, 65536, "GET /next HTTP/1.1\r\n\r\n");
}

Test(spool, no_file_without_one)
{
    struct gw_conn c;
    char buf[16];
    setup(&c, 64);
    cr_assert_eq(gw_spool_read(&c, buf, sizeof(buf)), 0);
    gw_spool_close(&c.spool);
    free(c.in.data);
}

/* With --body-memory room, a body past GW_SPOOL_MEMORY stays in c->in (a grant of
 * its whole length, no file); the next one that does not fit goes to the file; the
 * grants come back when the requests end. */
Test(spool, bodies_stay_in_memory_while_the_process_share_has_room)
{
    static const char head[] = "H\r\n\r\n";
    enum { BODY = 300 * 1000 };
    struct gw_config mem = {.body_memory = BODY + BODY / 2};
    struct gw_conn a, b;
    char *body = malloc(BODY);
    cr_assert(body != NULL);
    for (size_t i = 0; i < BODY; i++)
        body[i] = byte_at(i);
    uint64_t before = gw_spool_granted();
    struct gw_conn *cs[] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        setup(cs[k], BODY + 64);
        cs[k]->cfg = &mem;
        put(cs[k], head, sizeof(head) - 1);
        put(cs[k], body, GW_SPOOL_MEMORY + 1);
        cr_assert_eq(gw_spool_collect(cs[k], sizeof(head) - 1, BODY), GW_SPOOL_MEMORY + 1);
    }
    /* a: granted, in memory, room for all the rest at once */
    cr_assert_eq(a.spool.fd, -1);
    cr_assert_eq(a.spool.grant, BODY);
    cr_assert_eq(gw_spool_granted() - before, BODY);
    cr_assert_eq(gw_spool_room(&a, BODY - GW_SPOOL_MEMORY - 1), BODY - GW_SPOOL_MEMORY - 1);
    put(&a, body + GW_SPOOL_MEMORY + 1, BODY - GW_SPOOL_MEMORY - 1);
    cr_assert_eq(gw_spool_collect(&a, sizeof(head) - 1, BODY), BODY);
    cr_assert(memcmp(a.in.data + sizeof(head) - 1, body, BODY) == 0);
    cr_assert_eq(gw_spool_read(&a, body, 16), 0, "no file to read");
    /* b: no room left, spooled to the file */
    cr_assert(b.spool.fd >= 0);
    cr_assert_eq(b.spool.grant, 0);
    cr_assert_eq(gw_spool_room(&b, BODY), GW_SPOOL_MEMORY);
    gw_spool_close(&a.spool);
    gw_spool_close(&b.spool);
    cr_assert_eq(gw_spool_granted(), before, "the grant is given back");
    cr_assert_eq(a.spool.grant, 0);
    free(a.in.data);
    free(b.in.data);
    free(body);
}
