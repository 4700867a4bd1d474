/*
 * Unit tests of the keep-alive carry (gateway/carry.c): when a worker may go on to
 * its connection's next request (gw_carry_possible, gw_carry_buffered), and what
 * gw_carry_next takes or leaves for the loop. The connection speaks the line protocol
 * of tests/unit/gateway/fake_conn.h over one end of a socketpair; the test plays the
 * client on the other end. The loop's side of the hand-back is not here: what the
 * carry leaves in the connection (bytes in c->in, a reply in c->out, the broken mark)
 * is checked as it is left.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway/carry.h"
#include "gateway/conn.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "tests/unit/gateway/fake_conn.h"
#include "tests/unit/support.h"

#define LONG_WAIT_US 10000000 /* never reached: the call returns when bytes come */

/* ------------------------------------------------------------ the two tests */

struct possible_row {
    const char *name;
    int keep, multiplexed, no_parser, broken, draining;
    int want;
};

static const struct possible_row possible_rows[] = {
    {"kept, one at a time, healthy", 1, 0, 0, 0, 0, 1},
    {"not kept", 0, 0, 0, 0, 0, 0},
    {"multiplexed (FastCGI)", 1, 1, 0, 0, 0, 0},
    {"a protocol without a parser", 1, 0, 1, 0, 0, 0},
    {"broken", 1, 0, 0, 1, 0, 0},
    {"the server is draining", 1, 0, 0, 0, 1, 0},
    {"all of them", 0, 1, 1, 1, 1, 0},
};

ParameterizedTestParameters(carry, possible)
{
    return index_params(NROWS(possible_rows));
}

ParameterizedTest(size_t *i, carry, possible)
{
    const struct possible_row *row = &possible_rows[*i];
    struct gw_protocol proto = fake_proto;
    struct fake_conn fc;
    struct fake_req fr;
    proto.multiplexed = row->multiplexed;
    if (row->no_parser)
        proto.parse = NULL;
    fake_conn_init(&fc, -1);
    fc.c.proto = &proto;
    fake_req_init(&fr, &fc, 1);
    fr.r.keep = row->keep;
    if (row->broken)
        gw_conn_set_broken(&fc.c);
    fc.host.draining = row->draining;
    cr_expect_eq(gw_carry_possible(&fr.r), row->want, "%s", row->name);
}

Test(carry, buffered)
{
    struct fake_conn fc;
    struct fake_req fr;
    fake_conn_init(&fc, -1);
    fake_req_init(&fr, &fc, 1);
    cr_expect_eq(gw_carry_buffered(&fr.r), 0, "no buffer yet");
    fake_conn_feed(&fc, "GET 1\n");
    fc.c.in.start = fc.c.in.end; /* the head of r, consumed */
    cr_expect_eq(gw_carry_buffered(&fr.r), 0, "everything consumed");
    fake_conn_feed(&fc, "G");
    cr_expect_eq(gw_carry_buffered(&fr.r), 1, "one byte of a next request");
    fake_conn_free(&fc);
}

/* ------------------------------------------------------------ gw_carry_next */

struct next_row {
    const char *name;
    const char *buffered; /* in c->in, behind the finished request's pinned head */
    const char *sent;     /* what the client sent before the call, NULL: nothing */
    int peer_closed;      /* then the client closed its end */
    int wait_us;
    int want_id;         /* the request taken, -1: none (back to the loop) */
    const char *left_in; /* c->in after, for the loop */
    int left_socket;     /* bytes the call did not read */
    const char *out;     /* c->out after: the parser's reply */
    int broken;          /* the connection marked broken */
    int parses;          /* parser calls */
};

/* clang-format off: one row per case, in the order of the fields */
// clang-format off
static const struct next_row next_rows[] = {
    {"a buffered request is taken without a read",
     "GET 7\n", "GET 8\n", 0, 0, 7, "", 6, "", 0, 1},
    {"a buffered request is taken without a read, even with a wait",
     "GET 7\n", "GET 8\n", 0, LONG_WAIT_US, 7, "", 6, "", 0, 1},
    {"pipelined: the first of two buffered requests, the second stays",
     "GET 1\nGET 2\n", NULL, 0, 0, 1, "GET 2\n", 0, "", 0, 1},
    {"nothing buffered and wait 0: no read, back to the loop",
     "", "GET 8\n", 0, 0, -1, "", 6, "", 0, 0},
    {"nothing buffered: a request the client already sent is read",
     "", "GET 9\n", 0, GW_CARRY_WAIT_US, 9, "", 0, "", 0, 1},
    {"a partial head read stays in c->in for the loop",
     "", "GET 1", 0, LONG_WAIT_US, -1, "GET 1", 0, "", 0, 1},
    {"a partial head buffered goes back without reading the rest",
     "GET", " 5\n", 0, LONG_WAIT_US, -1, "GET", 3, "", 0, 1},
    {"the client closed: back, marked broken",
     "", NULL, 1, LONG_WAIT_US, -1, "", 0, "", 1, 0},
    {"a last request, then the client closed: the request is taken",
     "", "GET 4\n", 1, LONG_WAIT_US, 4, "", 0, "", 0, 1},
    {"a refused request buffered: back with the parser's reply",
     "BAD\n", NULL, 0, 0, -1, "", 0, "400\n", 0, 1},
    {"a refused request read: back with the parser's reply",
     "", "BAD\n", 0, LONG_WAIT_US, -1, "", 0, "400\n", 0, 1},
    {"nothing within the wait: back, not broken",
     "", NULL, 0, GW_CARRY_WAIT_US, -1, "", 0, "", 0, 0},
};
// clang-format on

/* A connection of fake_proto on one end of a socketpair, non-blocking as the
 * server's are; *peer gets the client's end. */
static void conn_pair(struct fake_conn *fc, int *peer)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
    fake_conn_init(fc, sv[0]);
    *peer = sv[1];
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    cr_assert_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

static int unread(int fd)
{
    int n = -1;
    cr_assert_eq(ioctl(fd, FIONREAD, &n), 0);
    return n;
}

/* The request that just finished on fc: its head "GET 0\n" read and consumed, and
 * still pinned, as the front-end leaves it. */
static void finished_request(struct fake_conn *fc, struct fake_req *prev)
{
    fake_conn_feed(fc, "GET 0\n");
    fc->c.in.start = fc->c.in.end;
    fc->c.pin = fc->c.in.end;
    fake_req_init(prev, fc, 0);
    prev->r.keep = 1;
}

ParameterizedTestParameters(carry, next)
{
    return index_params(NROWS(next_rows));
}

ParameterizedTest(size_t *i, carry, next, .timeout = 30)
{
    const struct next_row *row = &next_rows[*i];
    struct fake_conn fc;
    struct fake_req prev;
    int peer;
    char buf[64];
    conn_pair(&fc, &peer);
    finished_request(&fc, &prev);
    fake_conn_feed(&fc, row->buffered);
    if (row->sent)
        send_all(peer, row->sent);
    if (row->peer_closed)
        close(peer);

    struct gw_request *next = gw_carry_next(&prev.r, row->wait_us);

    if (row->want_id < 0) {
        cr_expect_null(next, "%s", row->name);
    } else {
        cr_assert_not_null(next, "%s", row->name);
        cr_expect_eq(fake_req_of(next)->id, row->want_id, "%s", row->name);
        cr_expect_eq(next->conn, &fc.c, "%s", row->name);
        cr_expect_neq(next->t_head, 0, "%s: the carried request is stamped", row->name);
    }
    cr_expect_eq(fc.c.carried, row->want_id >= 0, "%s: carried count", row->name);
    cr_expect_eq(fc.c.pin, 0, "%s: the finished request's head is unpinned", row->name);
    cr_expect_str_eq(fake_conn_buffered(&fc, buf, sizeof(buf)), row->left_in, "%s", row->name);
    cr_expect_eq(unread(fc.c.fd), row->left_socket, "%s: bytes left in the socket", row->name);
    cr_expect_eq(fc.c.out.end - fc.c.out.start, strlen(row->out), "%s: reply", row->name);
    if (row->out[0] != '\0')
        cr_expect(memcmp(fc.c.out.data + fc.c.out.start, row->out, strlen(row->out)) == 0,
                  "%s: reply", row->name);
    cr_expect_eq(gw_conn_broken(&fc.c), row->broken, "%s: broken", row->name);
    cr_expect_eq(fc.nparse, row->parses, "%s: parser calls", row->name);

    if (!row->peer_closed)
        close(peer);
    close(fc.c.fd);
    fake_conn_free(&fc);
}

struct late_writer {
    int fd;
    const char *bytes;
};

static void *write_late(void *arg)
{
    const struct late_writer *w = arg;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};
    nanosleep(&ts, NULL);
    send_all(w->fd, w->bytes);
    return NULL;
}

/* The next request arrives while the worker waits: it is read and taken. */
Test(carry, next_arrives_within_the_wait, .timeout = 30)
{
    struct fake_conn fc;
    struct fake_req prev;
    int peer;
    conn_pair(&fc, &peer);
    finished_request(&fc, &prev);
    struct late_writer w = {peer, "GET 3\n"};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, write_late, &w), 0);

    struct gw_request *next = gw_carry_next(&prev.r, LONG_WAIT_US);

    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_not_null(next, "the request that came during the wait");
    cr_expect_eq(fake_req_of(next)->id, 3);
    cr_expect_eq(fc.c.carried, 1);
    close(peer);
    close(fc.c.fd);
    fake_conn_free(&fc);
}
