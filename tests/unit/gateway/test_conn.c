/*
 * Unit tests of gateway/conn.c: the connection's input buffer (gw_conn_reserve moving
 * unconsumed bytes down to the pin, growing only when nothing is pinned, GW_ETOOBIG
 * while pinned, the overflow guard), gw_buf_append (doubling up to its cap),
 * gw_conn_trim, gw_conn_peer (a TCP peer's address, a unix peer's credentials), the
 * worker's blocking I/O on a socketpair (gw_conn_fill / _recv / _writev / _sendfile:
 * data, EOF and errors marking the connection broken, the read and send timeouts),
 * and the plain transport (GW_EAGAIN on a full non-blocking socket, GW_ECLOSED once
 * the peer is gone, sendfile's GW_ENOTSUP for what it cannot send).
 *
 * Timeouts are set to 50 ms; a test asserts only that a timeout did not come early,
 * never an upper bound.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/protocol.h"
#include "gateway/util.h"

static int trims; /* calls of the protocol's conn_trim */

static void count_trim(struct gw_conn *c)
{
    (void)c;
    trims++;
}

static const struct gw_protocol trim_proto = {.name = "trim", .conn_trim = count_trim};

struct tconn {
    struct gw_conn c;
    struct gw_config cfg;
    int peer; /* the other end of the socketpair, -1 when none */
};

/* A connection on one end of a socketpair (non-blocking, as the loop makes them). */
static void tconn_init(struct tconn *t, int with_socket)
{
    memset(t, 0, sizeof(*t));
    t->c.fd = -1;
    gw_spool_init(&t->c.spool); /* fd -1: a zeroed spool would close stdin */
    t->peer = -1;
    t->c.proto = &trim_proto;
    t->c.cfg = &t->cfg;
    t->c.tr = &gw_plain_transport;
    t->cfg.read_timeout = 5;
    t->cfg.send_timeout = 5;
    if (with_socket) {
        int sv[2];
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
        t->c.fd = sv[0];
        t->peer = sv[1];
    }
}

static void tconn_free(struct tconn *t)
{
    free(t->c.in.data);
    free(t->c.out.data);
    if (t->c.fd >= 0)
        close(t->c.fd);
    if (t->peer >= 0)
        close(t->peer);
}

/* c->in holds n bytes 'a', 'b', ... with the first consumed ones before start. */
static void fill_in(struct gw_conn *c, size_t n, size_t start)
{
    cr_assert_eq(gw_conn_reserve(c, n), 0);
    for (size_t i = 0; i < n; i++)
        c->in.data[i] = (char)('a' + i % 26);
    c->in.end = n;
    c->in.start = start;
}

static double now_s(void)
{
    return (double)gw_now_ns() / 1e9;
}

/* ---- gw_conn_reserve ------------------------------------------------------------- */

Test(conn, reserve_allocates_the_minimum)
{
    struct tconn t;
    tconn_init(&t, 0);
    cr_assert_eq(gw_conn_reserve(&t.c, 1), 0);
    cr_assert(t.c.in.data != NULL);
    cr_assert_eq(t.c.in.cap, 4096);
    cr_assert_eq(gw_conn_reserve(&t.c, 4096), 0, "exactly the room there is");
    cr_assert_eq(t.c.in.cap, 4096);
    tconn_free(&t);
}

Test(conn, reserve_with_room_moves_nothing)
{
    struct tconn t;
    tconn_init(&t, 0);
    fill_in(&t.c, 1000, 600);
    char *data = t.c.in.data;
    cr_assert_eq(gw_conn_reserve(&t.c, 3096), 0);
    cr_assert(t.c.in.data == data && t.c.in.start == 600 && t.c.in.end == 1000);
    tconn_free(&t);
}

Test(conn, reserve_moves_unconsumed_bytes_down)
{
    struct tconn t;
    tconn_init(&t, 0);
    fill_in(&t.c, 4000, 3000);
    char *data = t.c.in.data;
    char want[1000];
    memcpy(want, data + 3000, 1000);
    cr_assert_eq(gw_conn_reserve(&t.c, 2000), 0);
    cr_assert(t.c.in.data == data, "moved down, not grown");
    cr_assert_eq(t.c.in.cap, 4096);
    cr_assert_eq(t.c.in.start, 0);
    cr_assert_eq(t.c.in.end, 1000);
    cr_assert(memcmp(t.c.in.data, want, 1000) == 0);
    tconn_free(&t);
}

Test(conn, reserve_moves_down_to_the_pin)
{
    struct tconn t;
    tconn_init(&t, 0);
    fill_in(&t.c, 4000, 3000);
    char head[100], body[1000];
    memcpy(head, t.c.in.data, 100);
    memcpy(body, t.c.in.data + 3000, 1000);
    t.c.pin = 100;
    cr_assert_eq(gw_conn_reserve(&t.c, 2000), 0);
    cr_assert_eq(t.c.in.start, 100);
    cr_assert_eq(t.c.in.end, 1100);
    cr_assert(memcmp(t.c.in.data, head, 100) == 0, "the pinned head moved");
    cr_assert(memcmp(t.c.in.data + 100, body, 1000) == 0);
    tconn_free(&t);
}

Test(conn, reserve_grows_when_nothing_is_pinned)
{
    struct tconn t;
    tconn_init(&t, 0);
    fill_in(&t.c, 4096, 96);
    char want[4000];
    memcpy(want, t.c.in.data + 96, 4000);
    cr_assert_eq(gw_conn_reserve(&t.c, 10000), 0);
    cr_assert_eq(t.c.in.cap, 16384, "doubled until it fits");
    cr_assert_eq(t.c.in.start, 0);
    cr_assert_eq(t.c.in.end, 4000);
    cr_assert(t.c.in.cap - t.c.in.end >= 10000);
    cr_assert(memcmp(t.c.in.data, want, 4000) == 0);
    tconn_free(&t);
}

Test(conn, reserve_refuses_to_grow_while_pinned)
{
    struct tconn t;
    tconn_init(&t, 0);
    fill_in(&t.c, 4096, 10);
    t.c.pin = 10;
    char *data = t.c.in.data;
    cr_assert_eq(gw_conn_reserve(&t.c, 1), GW_ETOOBIG);
    cr_assert(t.c.in.data == data && t.c.in.cap == 4096 && t.c.in.start == 10 &&
              t.c.in.end == 4096);
    /* moving down to the pin makes room: then it is no error */
    t.c.in.start = 2000;
    cr_assert_eq(gw_conn_reserve(&t.c, 1990), 0);
    cr_assert(t.c.in.data == data && t.c.in.start == 10 && t.c.in.end == 2106);
    cr_assert_eq(gw_conn_reserve(&t.c, 1991), GW_ETOOBIG, "one byte more than there is");
    tconn_free(&t);
}

Test(conn, reserve_overflow_guard)
{
    struct tconn t;
    tconn_init(&t, 0);
    fill_in(&t.c, 100, 0);
    cr_assert_eq(gw_conn_reserve(&t.c, SIZE_MAX), GW_ENOMEM);
    cr_assert_eq(gw_conn_reserve(&t.c, SIZE_MAX - 50), GW_ENOMEM);
    cr_assert_eq(t.c.in.cap, 4096, "nothing was allocated");
    cr_assert_eq(t.c.in.end, 100);
    tconn_free(&t);
}

/* ---- gw_buf_append --------------------------------------------------------------- */

Test(conn, buf_append_doubles)
{
    struct gw_buf b = {0};
    char chunk[700];
    memset(chunk, 'z', sizeof(chunk));
    cr_assert_eq(gw_buf_append(&b, NULL, 0, 1u << 20), 0, "nothing to append");
    cr_assert(b.data == NULL && b.end == 0);
    cr_assert_eq(gw_buf_append(&b, "x", 1, 1u << 20), 0);
    cr_assert_eq(b.cap, 512);
    cr_assert_eq(gw_buf_append(&b, chunk, 511, 1u << 20), 0, "exactly full");
    cr_assert_eq(b.cap, 512);
    cr_assert_eq(gw_buf_append(&b, chunk, 700, 1u << 20), 0);
    cr_assert_eq(b.cap, 2048, "512 -> 1024 -> 2048");
    cr_assert_eq(b.end, 1212);
    cr_assert_eq(b.data[0], 'x');
    cr_assert_eq(b.data[1211], 'z');
    free(b.data);
}

Test(conn, buf_append_stops_at_max)
{
    struct gw_buf b = {0};
    size_t max = 1u << 20;
    char *big = malloc(max);
    cr_assert(big != NULL);
    memset(big, 'q', max);
    cr_assert_eq(gw_buf_append(&b, big, max - 1, max), 0);
    cr_assert_eq(gw_buf_append(&b, big, 1, max), 0, "exactly max");
    cr_assert_eq(b.cap, max);
    char *data = b.data;
    cr_assert_eq(gw_buf_append(&b, "!", 1, max), GW_ETOOBIG);
    cr_assert(b.data == data && b.end == max && b.cap == max, "unchanged");
    cr_assert_eq(gw_buf_append(&b, big, SIZE_MAX, max), GW_ETOOBIG, "no overflow");
    /* a capacity between powers of two: never grown past it */
    struct gw_buf s = {0};
    cr_assert_eq(gw_buf_append(&s, big, 1000, 1500), 0);
    cr_assert_eq(s.cap, 1024);
    cr_assert_eq(gw_buf_append(&s, big, 25, 1500), GW_ETOOBIG);
    cr_assert_eq(s.end, 1000);
    free(s.data);
    free(b.data);
    free(big);
}

Test(conn, out_append)
{
    struct tconn t;
    tconn_init(&t, 0);
    cr_assert_eq(gw_conn_out_append(&t.c, "400\n", 4), 0);
    cr_assert_eq(t.c.out.end, 4);
    cr_assert(memcmp(t.c.out.data, "400\n", 4) == 0);
    tconn_free(&t);
}

/* ---- gw_conn_trim ---------------------------------------------------------------- */

Test(conn, trim_frees_empty_buffers)
{
    struct tconn t;
    tconn_init(&t, 0);
    trims = 0;
    fill_in(&t.c, 100, 100);
    cr_assert_eq(gw_conn_out_append(&t.c, "x", 1), 0);
    t.c.out.start = 1;
    gw_conn_trim(&t.c);
    cr_assert(t.c.in.data == NULL && t.c.in.cap == 0 && t.c.in.start == 0 && t.c.in.end == 0);
    cr_assert(t.c.out.data == NULL && t.c.out.cap == 0);
    cr_assert_eq(trims, 1, "the protocol's conn_trim is called");
    /* and the buffer comes back when needed */
    cr_assert_eq(gw_conn_reserve(&t.c, 10), 0);
    tconn_free(&t);
}

Test(conn, trim_keeps_buffered_and_pinned)
{
    struct tconn t;
    tconn_init(&t, 0);
    trims = 0;
    fill_in(&t.c, 100, 50); /* 50 bytes buffered */
    cr_assert_eq(gw_conn_out_append(&t.c, "reply", 5), 0);
    gw_conn_trim(&t.c);
    cr_assert(t.c.in.data != NULL && t.c.in.start == 50 && t.c.in.end == 100);
    cr_assert(t.c.out.data != NULL && t.c.out.end == 5);
    /* nothing buffered, but pinned */
    t.c.in.start = 100;
    t.c.pin = 40;
    gw_conn_trim(&t.c);
    cr_assert(t.c.in.data != NULL && t.c.in.end == 100);
    cr_assert_eq(trims, 2);
    tconn_free(&t);
}

/* ---- gw_conn_peer ---------------------------------------------------------------- */

Test(conn, peer_tcp_is_its_address_and_port)
{
    struct tconn t;
    char buf[64];
    tconn_init(&t, 0);
    strcpy(t.c.remote_addr, "192.0.2.7");
    cr_assert(gw_conn_peer(&t.c, buf, sizeof(buf)) == t.c.remote_addr);
    strcpy(t.c.remote_port, "40123");
    cr_assert_str_eq(gw_conn_peer(&t.c, buf, sizeof(buf)), "192.0.2.7:40123");
    strcpy(t.c.remote_addr, "2001:db8::1");
    cr_assert_str_eq(gw_conn_peer(&t.c, buf, sizeof(buf)), "[2001:db8::1]:40123");
    tconn_free(&t);
}

Test(conn, peer_unix_is_its_credentials)
{
    struct tconn t;
    char buf[64], want[64];
    tconn_init(&t, 1);
    snprintf(want, sizeof(want), "pid=%ld,uid=%lu", (long)getpid(), (unsigned long)getuid());
    const char *p = gw_conn_peer(&t.c, buf, sizeof(buf));
    cr_assert(p == buf);
    cr_assert_str_eq(p, want);
    /* a buffer too short for them: cut, still a string */
    char small[8];
    const char *q = gw_conn_peer(&t.c, small, sizeof(small));
    cr_assert(q == small && strlen(q) == 7 && strncmp(q, want, 7) == 0, "%s", q);
    tconn_free(&t);
}

Test(conn, peer_unknown_is_a_dash)
{
    struct tconn t;
    char buf[64];
    int pfd[2];
    tconn_init(&t, 0);
    cr_assert_eq(pipe(pfd), 0);
    t.c.fd = pfd[0];
    cr_assert_str_eq(gw_conn_peer(&t.c, buf, sizeof(buf)), "-");
    close(pfd[1]);
    tconn_free(&t);
}

/* ---- the worker's I/O on a socketpair ---------------------------------------------- */

Test(conn, fill_and_recv)
{
    struct tconn t;
    char buf[16];
    tconn_init(&t, 1);
    cr_assert_eq(write(t.peer, "hello", 5), 5);
    cr_assert_eq(gw_conn_fill(&t.c), 5);
    cr_assert(t.c.in.end == 5 && memcmp(t.c.in.data, "hello", 5) == 0);
    /* a fill appends behind what is buffered */
    cr_assert_eq(write(t.peer, "world", 5), 5);
    cr_assert_eq(gw_conn_fill(&t.c), 5);
    cr_assert(t.c.in.end == 10 && memcmp(t.c.in.data, "helloworld", 10) == 0);
    /* recv waits for bytes that come later */
    cr_assert_eq(write(t.peer, "abc", 3), 3);
    cr_assert_eq(gw_conn_recv(&t.c, buf, 2), 2, "never more than asked");
    cr_assert_eq(gw_conn_recv(&t.c, buf + 2, sizeof(buf) - 2), 1);
    cr_assert(memcmp(buf, "abc", 3) == 0);
    cr_assert_eq(gw_conn_broken(&t.c), 0);
    tconn_free(&t);
}

Test(conn, fill_while_pinned_and_full_is_too_big)
{
    struct tconn t;
    tconn_init(&t, 1);
    fill_in(&t.c, 4096, 4096);
    t.c.pin = 4096;
    cr_assert_eq(gw_conn_fill(&t.c), GW_ETOOBIG);
    tconn_free(&t);
}

Test(conn, eof_is_closed_and_broken)
{
    struct tconn t;
    char buf[8];
    tconn_init(&t, 1);
    cr_assert_eq(write(t.peer, "x", 1), 1);
    shutdown(t.peer, SHUT_WR);
    cr_assert_eq(gw_conn_fill(&t.c), 1, "the bytes before the end");
    cr_assert_eq(gw_conn_broken(&t.c), 0);
    cr_assert_eq(gw_conn_fill(&t.c), GW_ECLOSED);
    cr_assert_eq(gw_conn_broken(&t.c), 1);
    /* broken: every later call fails at once, without touching the socket */
    cr_assert_eq(gw_conn_recv(&t.c, buf, sizeof(buf)), GW_ECLOSED);
    struct iovec v = {"z", 1};
    cr_assert_eq(gw_conn_writev(&t.c, &v, 1), GW_ECLOSED);
    char peerbuf[4];
    cr_assert_eq(recv(t.peer, peerbuf, sizeof(peerbuf), MSG_DONTWAIT), -1, "nothing was written");
    tconn_free(&t);
}

/* A TCP peer that resets the connection (SO_LINGER 0): GW_ECLOSED as for an end. */
Test(conn, reset_is_closed_and_broken)
{
    struct tconn t;
    char buf[8];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(l >= 0);
    cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(l, 1), 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
    tconn_init(&t, 0);
    t.c.fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(t.c.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(fcntl(t.c.fd, F_SETFL, O_NONBLOCK), 0);
    int p = accept(l, NULL, NULL);
    cr_assert(p >= 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    cr_assert_eq(setsockopt(p, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(p);
    close(l);
    cr_assert_eq(gw_conn_recv(&t.c, buf, sizeof(buf)), GW_ECLOSED);
    cr_assert_eq(gw_conn_broken(&t.c), 1);
    tconn_free(&t);
}

Test(conn, read_timeout)
{
    struct tconn t;
    char buf[8];
    tconn_init(&t, 1);
    t.cfg.read_timeout = 0.05;
    double t0 = now_s();
    cr_assert_eq(gw_conn_recv(&t.c, buf, sizeof(buf)), GW_ETIMEDOUT);
    cr_assert(now_s() - t0 >= 0.04, "timed out after %.3f s", now_s() - t0);
    /* a slow peer is not a broken connection: the front-end still answers (408) */
    cr_assert_eq(gw_conn_broken(&t.c), 0);
    tconn_free(&t);

    tconn_init(&t, 1);
    t.cfg.read_timeout = 0.05;
    cr_assert_eq(gw_conn_fill(&t.c), GW_ETIMEDOUT);
    cr_assert_eq(gw_conn_broken(&t.c), 0);
    tconn_free(&t);
}

struct reader {
    int fd;
    size_t want, got;
    char *buf;
};

static void *read_all(void *arg)
{
    struct reader *rd = arg;
    while (rd->got < rd->want) {
        ssize_t k = read(rd->fd, rd->buf + rd->got, rd->want - rd->got);
        if (k <= 0)
            break;
        rd->got += (size_t)k;
    }
    return NULL;
}

/* More iovecs than one sendmsg takes (64) and more bytes than the socket buffers,
 * with a peer that reads: every byte in order, the caller's iov untouched. */
Test(conn, writev_everything_in_order)
{
    struct tconn t;
    enum { N = 150, EACH = 7000 };
    tconn_init(&t, 1);
    char *src = malloc((size_t)N * EACH);
    struct reader rd = {.fd = t.peer, .want = (size_t)N * EACH, .buf = malloc((size_t)N * EACH)};
    cr_assert(src != NULL && rd.buf != NULL);
    for (size_t i = 0; i < (size_t)N * EACH; i++)
        src[i] = (char)(i * 31 + i / 251);
    struct iovec v[N], copy[N];
    for (int i = 0; i < N; i++)
        v[i] = (struct iovec){src + (size_t)i * EACH, i == 3 ? 0 : EACH};
    v[4].iov_len += EACH; /* covers the empty one's bytes: lengths vary */
    v[3].iov_base = src + 3 * EACH;
    v[4].iov_base = src + 3 * EACH;
    memcpy(copy, v, sizeof(v));
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, read_all, &rd), 0);
    cr_assert_eq(gw_conn_writev(&t.c, v, N), 0);
    shutdown(t.c.fd, SHUT_WR);
    pthread_join(th, NULL);
    cr_assert(memcmp(v, copy, sizeof(v)) == 0, "iov was modified");
    cr_assert_eq(rd.got, (size_t)N * EACH);
    cr_assert(memcmp(rd.buf, src, rd.got) == 0);
    free(src);
    free(rd.buf);
    tconn_free(&t);
}

Test(conn, writev_send_timeout)
{
    struct tconn t;
    tconn_init(&t, 1);
    t.cfg.send_timeout = 0.05;
    size_t n = 8u << 20; /* far more than a socketpair buffers */
    char *big = calloc(1, n);
    cr_assert(big != NULL);
    struct iovec v = {big, n};
    double t0 = now_s();
    cr_assert_eq(gw_conn_writev(&t.c, &v, 1), GW_ETIMEDOUT);
    cr_assert(now_s() - t0 >= 0.04);
    cr_assert_eq(gw_conn_broken(&t.c), 1);
    free(big);
    tconn_free(&t);
}

Test(conn, writev_to_a_closed_peer)
{
    struct tconn t;
    tconn_init(&t, 1);
    close(t.peer);
    t.peer = -1;
    struct iovec v = {"abc", 3};
    cr_assert_eq(gw_conn_writev(&t.c, &v, 1), GW_ECLOSED, "EPIPE, and no SIGPIPE");
    cr_assert_eq(gw_conn_broken(&t.c), 1);
    tconn_free(&t);
}

static int temp_file(const char *text)
{
    char path[] = "/tmp/wsgate-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    return fd;
}

/* ---- the plain transport --------------------------------------------------------- */

Test(conn, plain_writev_until_eagain)
{
    struct tconn t;
    char chunk[65536], buf[65536];
    tconn_init(&t, 1);
    memset(chunk, 'w', sizeof(chunk));
    struct iovec v[2] = {{chunk, 10}, {chunk, sizeof(chunk) - 10}};
    size_t total = 0;
    ssize_t k;
    while ((k = t.c.tr->writev(&t.c, v, 2)) > 0)
        total += (size_t)k;
    cr_assert_eq(k, GW_EAGAIN, "a full socket would block: %zd", k);
    cr_assert(total > 0);
    cr_assert_eq(gw_conn_broken(&t.c), 0, "not a failure");
    /* the file the same way */
    int fd = temp_file("abcdef");
    cr_assert_eq(t.c.tr->sendfile(&t.c, fd, 0, 6), GW_EAGAIN);
    /* the peer reads: it takes again */
    size_t got = 0;
    while (got < total) {
        ssize_t r = read(t.peer, buf, sizeof(buf));
        cr_assert(r > 0);
        got += (size_t)r;
    }
    cr_assert_eq(t.c.tr->sendfile(&t.c, fd, 1, 4), 4);
    cr_assert_eq(read(t.peer, buf, sizeof(buf)), 4);
    cr_assert(memcmp(buf, "bcde", 4) == 0);
    cr_assert_eq(t.c.tr->sendfile(&t.c, fd, 6, 4), 0, "past the end of the file");
    close(fd);
    tconn_free(&t);
}

/* sendfile(2) has no MSG_NOSIGNAL: the program ignores SIGPIPE (process/main.c). */
Test(conn, plain_transport_after_the_peer_closed)
{
    struct tconn t;
    signal(SIGPIPE, SIG_IGN);
    tconn_init(&t, 1);
    close(t.peer);
    t.peer = -1;
    struct iovec v = {"abc", 3};
    cr_assert_eq(t.c.tr->writev(&t.c, &v, 1), GW_ECLOSED, "EPIPE, and no SIGPIPE");
    int fd = temp_file("abc");
    cr_assert_eq(t.c.tr->sendfile(&t.c, fd, 0, 3), GW_ECLOSED);
    close(fd);
    tconn_free(&t);
}

/* A descriptor sendfile(2) cannot read (EINVAL): the caller copies instead. */
Test(conn, plain_sendfile_not_supported)
{
    struct tconn t;
    tconn_init(&t, 1);
    int dn = open("/dev/null", O_RDONLY);
    cr_assert(dn >= 0);
    cr_assert_eq(t.c.tr->sendfile(&t.c, dn, 0, 1), GW_ENOTSUP);
    close(dn);
    tconn_free(&t);
}
