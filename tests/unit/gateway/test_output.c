/*
 * Unit tests of gateway/output.c, the output queue: direct writes, partial writes and
 * EAGAIN at every offset (a fake transport that takes k bytes per call and refuses
 * every other call), references given back or parked exactly once, file ranges with
 * sendfile and with its pread fallback, a file shorter than promised, the spill file
 * past the memory limits, whole units for a multiplexed front-end, the spill budget
 * cutting off the queue stuck the longest, and the plain transport on a real
 * socketpair. Criterion runs each test in its own process.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/output.h"

/* ---- a transport that records what it is given ---------------------------------- */

struct fake {
    struct gw_conn c; /* first: the transport gets &c */
    char got[4096];
    size_t len;
    size_t per_call;  /* most bytes taken per call (0: no limit) */
    int refuse_every; /* every n-th call answers GW_EAGAIN (0: never) */
    int calls;
    int no_sendfile; /* sendfile answers GW_ENOTSUP */
    int fail;        /* every call answers GW_ECLOSED */
};

static int take(struct fake *f, size_t *n)
{
    f->calls++;
    if (f->fail)
        return GW_ECLOSED;
    if (f->refuse_every && f->calls % f->refuse_every == 0)
        return GW_EAGAIN;
    if (f->per_call && *n > f->per_call)
        *n = f->per_call;
    if (*n > sizeof(f->got) - f->len)
        *n = sizeof(f->got) - f->len;
    return 0;
}

static ssize_t fake_writev(struct gw_conn *c, const struct iovec *iov, int n)
{
    struct fake *f = (struct fake *)c;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    int rc = take(f, &total);
    if (rc != 0)
        return rc;
    size_t left = total;
    for (int i = 0; i < n && left > 0; i++) {
        size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
        memcpy(f->got + f->len, iov[i].iov_base, k);
        f->len += k;
        left -= k;
    }
    return (ssize_t)total;
}

static ssize_t fake_sendfile(struct gw_conn *c, int fd, off_t off, size_t len)
{
    struct fake *f = (struct fake *)c;
    if (f->no_sendfile)
        return GW_ENOTSUP;
    int rc = take(f, &len);
    if (rc != 0)
        return rc;
    ssize_t k = pread(fd, f->got + f->len, len, off);
    cr_assert(k >= 0);
    f->len += (size_t)k;
    return k;
}

static const struct gw_transport fake_tr = {.writev = fake_writev, .sendfile = fake_sendfile};

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->c.fd = -1;
    f->c.tr = &fake_tr;
}

/* Flushes until the queue is empty, as the loop would on every writable event. */
static void drain(struct gw_out *o)
{
    for (int i = 0; i < 1000000 && !gw_out_empty(o); i++) {
        int rc = gw_out_flush(o, 0);
        cr_assert(rc >= 0, "flush: %d", rc);
    }
    cr_assert(gw_out_empty(o));
}

static int temp_file(const char *text, size_t n)
{
    char path[] = "/tmp/wsgate-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    return fd;
}

static void limits(size_t conn_mem, size_t total_mem, uint64_t total_spill)
{
    struct gw_out_limits l = {conn_mem, total_mem, total_spill, NULL};
    gw_out_configure(&l);
}

static struct gw_chunk copy(const char *s)
{
    return (struct gw_chunk){.kind = GW_CHUNK_COPY, .p = s, .len = strlen(s)};
}

static struct gw_chunk ref(const char *s, void *r)
{
    return (struct gw_chunk){.kind = GW_CHUNK_REF, .p = s, .len = strlen(s), .ref = r};
}

static struct gw_chunk file(int fd, off_t off, uint64_t len)
{
    return (struct gw_chunk){.kind = GW_CHUNK_FILE, .fd = fd, .off = off, .len = len};
}

/* ---- tests ------------------------------------------------------------------------ */

Test(output, direct_write_keeps_nothing)
{
    struct fake f;
    struct gw_out o;
    int kept = -1;
    fake_init(&f);
    gw_out_init(&o, &f.c);
    struct gw_chunk in[] = {copy("HTTP/1.1 200 OK\r\n\r\n"), ref("hello", (void *)1)};
    cr_assert_eq(gw_out_write(&o, in, 2, &kept), GW_OUT_EMPTY);
    cr_assert_eq(kept, 0, "written at once: the caller keeps its reference");
    cr_assert_eq(f.len, 24);
    cr_assert(memcmp(f.got, "HTTP/1.1 200 OK\r\n\r\nhello", 24) == 0);
    cr_assert_eq(gw_out_parked(), 0);
    cr_assert_eq(gw_out_total_mem(), 0);
}

/* Every split of the stream and every refusal pattern gives the same bytes, each
 * reference comes back exactly once, and nothing stays accounted. */
Test(output, partial_writes_and_eagain_at_every_offset)
{
    static const char body[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    int fd = temp_file("FILEDATA-FILEDATA", 17);
    const char *want = "head|0123456789abcdefghijklmnopqrstuvwxyz|DATA-FIL|tail";
    for (size_t per = 1; per <= 60; per++) {
        for (int refuse = 0; refuse <= 3; refuse += refuse == 0 ? 2 : 1) {
            struct fake f;
            struct gw_out o;
            int kept = 0;
            fake_init(&f);
            f.per_call = per;
            f.refuse_every = refuse;
            gw_out_init(&o, &f.c);
            struct gw_chunk a[] = {copy("head|"), ref(body, (void *)0x10), copy("|")};
            struct gw_chunk b[] = {file(fd, 4, 8), copy("|tail")};
            int rc = gw_out_write(&o, a, 3, &kept);
            cr_assert(rc == GW_OUT_EMPTY || rc == GW_OUT_BLOCKED);
            int kept_a = kept;
            cr_assert_eq(gw_out_write(&o, b, 2, NULL) >= 0, 1);
            drain(&o);
            cr_assert_eq(f.len, strlen(want), "per %zu refuse %d", per, refuse);
            cr_assert(memcmp(f.got, want, f.len) == 0, "per %zu refuse %d: %.*s", per, refuse,
                      (int)f.len, f.got);
            void *refs[4];
            size_t np = gw_out_take_parked(refs, 4);
            cr_assert_eq(np, (size_t)kept_a, "a kept reference is parked once, else none");
            if (np)
                cr_assert_eq(refs[0], (void *)0x10);
            cr_assert_eq(gw_out_total_mem(), 0);
        }
    }
    close(fd);
}

Test(output, file_without_sendfile_is_copied)
{
    struct fake f;
    struct gw_out o;
    fake_init(&f);
    f.no_sendfile = 1;
    f.per_call = 3;
    gw_out_init(&o, &f.c);
    int fd = temp_file("abcdefghij", 10);
    struct gw_chunk in[] = {file(fd, 2, 7)};
    int rc = gw_out_write(&o, in, 1, NULL);
    cr_assert(rc >= 0);
    drain(&o);
    cr_assert_eq(f.len, 7);
    cr_assert(memcmp(f.got, "cdefghi", 7) == 0);
    close(fd);
}

Test(output, file_shorter_than_promised_fails)
{
    struct fake f;
    struct gw_out o;
    fake_init(&f);
    f.per_call = 4;
    gw_out_init(&o, &f.c);
    int fd = temp_file("abcdef", 6);
    struct gw_chunk in[] = {file(fd, 0, 10), copy("never")};
    int rc = gw_out_write(&o, in, 2, NULL);
    while (rc >= 0 && !gw_out_empty(&o))
        rc = gw_out_flush(&o, 0);
    cr_assert_eq(rc, GW_EIO);
    cr_assert(gw_out_empty(&o), "a failed queue is dropped");
    close(fd);
}

Test(output, over_the_memory_limit_goes_to_the_spill_file)
{
    struct fake f;
    struct gw_out o;
    int kept = -1;
    limits(8, 1 << 20, 1 << 20);
    fake_init(&f);
    f.refuse_every = 1; /* nothing goes out until drained */
    gw_out_init(&o, &f.c);
    struct gw_chunk in[] = {copy("<"), ref("a reference too big for memory", (void *)7), copy(">")};
    cr_assert_eq(gw_out_write(&o, in, 3, &kept), GW_OUT_BLOCKED);
    cr_assert_eq(kept, 0, "spilled: the reference is the caller's again");
    cr_assert_eq(gw_out_total_mem(), 0);
    cr_assert_eq(gw_out_total_spill(), 32);
    cr_assert(o.spill_fd >= 0);
    f.refuse_every = 0;
    f.per_call = 5;
    drain(&o);
    cr_assert_eq(f.len, 32);
    cr_assert(memcmp(f.got, "<a reference too big for memory>", 32) == 0);
    cr_assert_eq(gw_out_total_spill(), 0);
    cr_assert_eq(o.spill_fd, -1, "closed with the queue emptied");
    cr_assert_eq(gw_out_parked(), 0);
    gw_out_drop(&o);
}

Test(output, a_kept_reference_is_parked_when_sent_or_dropped)
{
    struct fake f;
    struct gw_out o;
    int kept = 0;
    void *refs[4];
    fake_init(&f);
    f.refuse_every = 1;
    gw_out_init(&o, &f.c);
    struct gw_chunk in[] = {ref("xyz", (void *)0x55)};
    cr_assert_eq(gw_out_write(&o, in, 1, &kept), GW_OUT_BLOCKED);
    cr_assert_eq(kept, 1);
    cr_assert_eq(gw_out_total_mem(), 3);
    gw_out_drop(&o);
    cr_assert_eq(gw_out_take_parked(refs, 4), 1);
    cr_assert_eq(refs[0], (void *)0x55);
    cr_assert_eq(gw_out_total_mem(), 0);
}

/* A multiplexed front-end takes turns a unit at a time and never splits one. */
Test(output, units)
{
    struct fake f;
    struct gw_out a, b;
    fake_init(&f);
    f.refuse_every = 1;
    gw_out_init(&a, &f.c);
    gw_out_init(&b, &f.c);
    struct gw_chunk ra[] = {copy("A1"),
                            {.kind = GW_CHUNK_COPY, .p = "a", .len = 1, .unit_end = 1},
                            copy("A2"),
                            {.kind = GW_CHUNK_COPY, .p = "a", .len = 1, .unit_end = 1}};
    struct gw_chunk rb[] = {copy("B1"),
                            {.kind = GW_CHUNK_COPY, .p = "b", .len = 1, .unit_end = 1},
                            copy("B2"),
                            {.kind = GW_CHUNK_COPY, .p = "b", .len = 1, .unit_end = 1}};
    cr_assert_eq(gw_out_write(&a, ra, 4, NULL), GW_OUT_BLOCKED);
    cr_assert_eq(gw_out_write(&b, rb, 4, NULL), GW_OUT_BLOCKED);
    f.refuse_every = 0;
    f.per_call = 2; /* each unit takes two calls */
    cr_assert_eq(gw_out_flush(&a, 1), GW_OUT_YIELD);
    cr_assert_eq(gw_out_flush(&b, 1), GW_OUT_YIELD);
    cr_assert_eq(gw_out_flush(&a, 1), GW_OUT_EMPTY);
    cr_assert_eq(gw_out_flush(&b, 1), GW_OUT_EMPTY);
    cr_assert_eq(f.len, 12);
    cr_assert(memcmp(f.got, "A1aB1bA2aB2b", 12) == 0, "%.12s", f.got);
}

Test(output, a_failing_transport_drops_the_queue)
{
    struct fake f;
    struct gw_out o;
    fake_init(&f);
    f.refuse_every = 1;
    gw_out_init(&o, &f.c);
    struct gw_chunk in[] = {ref("abc", (void *)9)};
    cr_assert_eq(gw_out_write(&o, in, 1, NULL), GW_OUT_BLOCKED);
    f.refuse_every = 0;
    f.fail = 1;
    cr_assert_eq(gw_out_flush(&o, 0), GW_ECLOSED);
    cr_assert(gw_out_empty(&o));
    void *refs[2];
    cr_assert_eq(gw_out_take_parked(refs, 2), 1);
}

/* Past the spill budget the queue that made no progress for the longest is cut off:
 * its socket is shut down and its next flush fails. */
Test(output, spill_budget_cuts_off_the_oldest_stuck_queue)
{
    int sa[2], sb[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sa), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sb), 0);
    struct fake fa, fb;
    struct gw_out a, b;
    limits(0, 0, 40);
    fake_init(&fa);
    fake_init(&fb);
    fa.c.fd = sa[0];
    fb.c.fd = sb[0];
    fa.refuse_every = fb.refuse_every = 1;
    gw_out_init(&a, &fa.c);
    gw_out_init(&b, &fb.c);
    struct gw_chunk thirty[] = {copy("012345678901234567890123456789")};
    cr_assert_eq(gw_out_write(&a, thirty, 1, NULL), GW_OUT_BLOCKED);
    cr_assert_eq(gw_out_total_spill(), 30);
    cr_assert_eq(gw_out_write(&b, thirty, 1, NULL), GW_OUT_BLOCKED, "a is cut off, b goes on");
    char x;
    cr_assert_eq(recv(sa[1], &x, 1, MSG_DONTWAIT), 0, "a's socket was shut down");
    cr_assert_eq(gw_out_flush(&a, 0), GW_ECLOSED);
    cr_assert_eq(gw_out_total_spill(), 30);
    gw_out_drop(&b);
    cr_assert_eq(gw_out_total_spill(), 0);
}

/* The plain transport on a socketpair whose peer reads nothing: the queue blocks,
 * then delivers every byte in order once the peer reads. */
Test(output, plain_transport_on_a_socketpair)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct gw_conn c;
    memset(&c, 0, sizeof(c));
    c.fd = sv[0];
    c.tr = &gw_plain_transport;
    limits(1 << 20, 64 << 20, 1 << 30);
    struct gw_out o;
    gw_out_init(&o, &c);
    size_t n = 4 << 20;
    char *big = malloc(n);
    cr_assert(big != NULL);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    int kept = 0;
    struct gw_chunk in[] = {{.kind = GW_CHUNK_REF, .p = big, .len = n, .ref = big}};
    cr_assert_eq(gw_out_write(&o, in, 1, &kept), GW_OUT_BLOCKED);
    cr_assert_eq(kept, 0, "4 MiB is past the 1 MiB share: spilled, not kept");
    char *got = malloc(n);
    size_t have = 0;
    while (have < n) {
        ssize_t k = recv(sv[1], got + have, n - have, MSG_DONTWAIT);
        if (k > 0)
            have += (size_t)k;
        else
            cr_assert(k < 0 && errno == EAGAIN);
        int rc = gw_out_flush(&o, 0);
        cr_assert(rc >= 0);
    }
    cr_assert(gw_out_empty(&o));
    size_t bad = 0;
    while (bad < n && got[bad] == big[bad])
        bad++;
    cr_assert_eq(bad, n, "first difference at %zu", bad);
    free(big);
    free(got);
    gw_out_drop(&o);
}

struct reader {
    int fd;
    size_t want, got;
};

static void *read_all(void *arg)
{
    struct reader *rd = arg;
    char buf[65536];
    while (rd->got < rd->want) {
        ssize_t k = read(rd->fd, buf, sizeof(buf));
        if (k <= 0)
            break;
        rd->got += (size_t)k;
    }
    return NULL;
}

/* A peer that reads, only more slowly than we write, is waited for: the whole body
 * goes out from the app's buffer, nothing is copied into a spill file. */
Test(output, a_reading_peer_is_waited_for_not_spilled)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    struct gw_conn c;
    memset(&c, 0, sizeof(c));
    c.fd = sv[0];
    c.tr = &gw_plain_transport;
    limits(1 << 20, 64 << 20, 1 << 30);
    struct gw_out o;
    gw_out_init(&o, &c);
    size_t n = 16 << 20;
    char *big = calloc(1, n);
    cr_assert(big != NULL);
    struct reader rd = {.fd = sv[1], .want = n};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, read_all, &rd), 0);
    int kept = 0;
    struct gw_chunk in[] = {{.kind = GW_CHUNK_REF, .p = big, .len = n, .ref = big}};
    int rc = gw_out_write(&o, in, 1, &kept);
    cr_assert(rc == GW_OUT_EMPTY || rc == GW_OUT_BLOCKED);
    cr_assert_eq(o.spill_fd, -1, "nothing was spilled");
    cr_assert(o.pending <= 1 << 20, "at most the memory share is left, by reference");
    cr_assert_eq(kept, rc == GW_OUT_BLOCKED);
    while (!gw_out_empty(&o)) {
        struct pollfd pfd = {.fd = sv[0], .events = POLLOUT};
        poll(&pfd, 1, 1000);
        cr_assert(gw_out_flush(&o, 0) >= 0);
    }
    pthread_join(th, NULL);
    cr_assert_eq(rd.got, n);
    free(big);
}
