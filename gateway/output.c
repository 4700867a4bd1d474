/*
 * The output queue of gateway/output.h. A queue is a singly linked list of pieces
 * in write order: copies (inline data, coalesced while small), references to the
 * app's buffers, and file ranges (a dup of the app's descriptor, or a range of the
 * queue's own spill file). Writing gathers up to GW_OUT_IOV memory pieces into one
 * writev, or sends the file piece at the head with the transport's sendfile, falling
 * back to pread + writev when it cannot.
 *
 * Accounting: o->mem and the global total_mem count the bytes of copies and
 * references a queue holds; spill_size (global: total_spill) the size of its spill
 * file. A spill file is only ever appended to and is closed when its queue is empty:
 * sendfile(2) leaves references to the file's pages in the socket's buffer, so a
 * range that was sent may still be in flight, and truncating, reusing or punching
 * holes in the file would change bytes the peer has not received yet (closing is
 * safe: the pages live while referenced). Spilling is decided once per gw_out_write
 * call for the whole remainder, so a buffer split into several chunks never ends up
 * partly referenced and partly spilled (its ref rides on its last chunk).
 *
 * Locks: registry_lock guards the spill registry (queues with spilled bytes pending)
 * and is taken only around registry changes and the choice of a queue to cut off;
 * parked_lock guards the parked references. Both are leaves. A queue's owner must
 * drop the queue (which leaves the registry) before it closes the socket, so a cut
 * off never shuts down a descriptor that was reused.
 */
#include "gateway/output.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/log.h"
#include "gateway/stats.h"
#include "gateway/util.h"

#define GW_OUT_IOV         64    /* memory pieces per writev */
#define GW_OUT_COPY_MIN    4000  /* a copy piece's inline room, for coalescing */
#define GW_OUT_BOUNCE      65536 /* pread fallback: bytes per write */
#define GW_OUT_SENDFILE    (1u << 30)
#define GW_OUT_PATIENCE_MS 20 /* a worker's wait for a peer that reads, before spilling */

struct gw_out_piece {
    struct gw_out_piece *next;
    enum gw_chunk_kind kind;
    int unit_end;
    int spill;        /* FILE: a range of the queue's spill file (fd not owned) */
    uint64_t len;     /* bytes left to write */
    const char *p;    /* COPY: into data; REF: the app's bytes */
    void *ref;        /* REF */
    int fd;           /* FILE */
    off_t off;        /* FILE: next byte */
    size_t cap, used; /* COPY: room in data, bytes stored */
    char data[];
};

static struct gw_out_limits limits = {
    .conn_mem = 1u << 20,
    .total_mem = 64u << 20,
    .total_spill = 1ull << 30,
};

static uint64_t total_mem, total_spill; /* atomics */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gw_out *registry;

static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;
static void **parked;
static size_t nparked, parked_cap; /* nparked also read atomically */

void gw_out_configure(const struct gw_out_limits *l)
{
    limits = *l;
}

uint64_t gw_out_total_mem(void)
{
    return __atomic_load_n(&total_mem, __ATOMIC_RELAXED);
}

uint64_t gw_out_total_spill(void)
{
    return __atomic_load_n(&total_spill, __ATOMIC_RELAXED);
}

size_t gw_out_parked(void)
{
    return __atomic_load_n(&nparked, __ATOMIC_RELAXED);
}

size_t gw_out_take_parked(void **refs, size_t max)
{
    pthread_mutex_lock(&parked_lock);
    size_t n = nparked < max ? nparked : max;
    if (n > 0)
        memcpy(refs, parked + (nparked - n), n * sizeof(*refs));
    __atomic_store_n(&nparked, nparked - n, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&parked_lock);
    return n;
}

/* A reference the queue is done with, when its owner cannot release it now. */
static void park(void *ref)
{
    if (ref == NULL)
        return;
    pthread_mutex_lock(&parked_lock);
    if (nparked == parked_cap) {
        size_t cap = parked_cap ? parked_cap * 2 : 256;
        void **p = realloc(parked, cap * sizeof(*p));
        if (p == NULL) { /* cannot happen in practice; leak rather than crash */
            pthread_mutex_unlock(&parked_lock);
            gw_log(GW_LOG_ERROR, "output: out of memory parking a reference (leaked)");
            return;
        }
        parked = p;
        parked_cap = cap;
    }
    parked[nparked] = ref;
    __atomic_store_n(&nparked, nparked + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&parked_lock);
}

void gw_out_init(struct gw_out *o, struct gw_conn *c)
{
    memset(o, 0, sizeof(*o));
    o->spill_fd = -1;
    o->conn = c;
}

static void mem_add(struct gw_out *o, int64_t n)
{
    o->mem = (size_t)((int64_t)o->mem + n);
    __atomic_add_fetch(&total_mem, (uint64_t)n, __ATOMIC_RELAXED);
    gw_stats_send_add(n, 0);
}

static int queue_copy(struct gw_out *o, const char *p, uint64_t n, int unit_end);

/* ---- the spill file and its registry -------------------------------------------- */

static void registry_enter(struct gw_out *o)
{
    pthread_mutex_lock(&registry_lock);
    o->spill_prev = NULL;
    o->spill_next = registry;
    if (registry != NULL)
        registry->spill_prev = o;
    registry = o;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_leave(struct gw_out *o)
{
    pthread_mutex_lock(&registry_lock);
    if (o->spill_prev != NULL)
        o->spill_prev->spill_next = o->spill_next;
    else if (registry == o)
        registry = o->spill_next;
    if (o->spill_next != NULL)
        o->spill_next->spill_prev = o->spill_prev;
    o->spill_prev = o->spill_next = NULL;
    pthread_mutex_unlock(&registry_lock);
}

static int spill_open(struct gw_out *o)
{
    int fd = gw_temp_file(limits.tmpdir);
    if (fd < 0) {
        gw_log(GW_LOG_ERROR, "output: cannot create a spill file: %s", strerror(errno));
        return GW_EIO;
    }
    o->spill_fd = fd;
    o->spill_size = 0;
    return 0;
}

/* Over the spill budget: cut off the queue that has been stuck the longest, unless
 * that is o itself (then o's write fails). */
static int make_room(struct gw_out *o)
{
    struct gw_out *victim = NULL;
    uint64_t oldest = UINT64_MAX;
    pthread_mutex_lock(&registry_lock);
    for (struct gw_out *q = registry; q != NULL; q = q->spill_next) {
        uint64_t t = __atomic_load_n(&q->progress_ns, __ATOMIC_RELAXED);
        if (!__atomic_load_n(&q->cut, __ATOMIC_RELAXED) && t < oldest) {
            oldest = t;
            victim = q;
        }
    }
    int self = victim == NULL || victim == o ||
               __atomic_load_n(&o->progress_ns, __ATOMIC_RELAXED) < oldest;
    if (!self) {
        __atomic_store_n(&victim->cut, 1, __ATOMIC_RELAXED);
        if (victim->conn != NULL)
            shutdown(victim->conn->fd, SHUT_RDWR); /* its owner sees the write fail */
    }
    pthread_mutex_unlock(&registry_lock);
    gw_stats_send_cut();
    gw_log(GW_LOG_WARNING,
           "output: the spill files hold %llu bytes (limit %llu): dropping the "
           "connection that read nothing for the longest time%s",
           (unsigned long long)gw_out_total_spill(), (unsigned long long)limits.total_spill,
           self ? " (this one)" : "");
    return self ? GW_ETOOBIG : 0;
}

/* Appends p[0..n) to the spill file, as a spill piece at the tail. */
static int spill(struct gw_out *o, const char *p, uint64_t n, int unit_end)
{
    int rc = 0;
    if (n == 0)
        return queue_copy(o, "", 0, unit_end); /* a unit's end, nothing to spill */
    /* Reserve first, so writers racing for the last room cannot all pass. */
    if (__atomic_add_fetch(&total_spill, n, __ATOMIC_RELAXED) > limits.total_spill)
        rc = make_room(o);
    if (rc == 0 && o->spill_fd < 0)
        rc = spill_open(o);
    off_t at = (off_t)o->spill_size;
    for (uint64_t done = 0; rc == 0 && done < n;) {
        ssize_t k = pwrite(o->spill_fd, p + done, (size_t)(n - done), at + (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            gw_log(GW_LOG_ERROR, "output: cannot write the spill file: %s",
                   k < 0 ? strerror(errno) : "short write");
            rc = GW_EIO;
        }
        done += (uint64_t)(k > 0 ? k : 0);
    }
    if (rc != 0) {
        __atomic_sub_fetch(&total_spill, n, __ATOMIC_RELAXED);
        return rc;
    }
    if (o->spill_size == 0)
        registry_enter(o);
    o->spill_size += n;
    gw_stats_send_add(0, (int64_t)n);
    struct gw_out_piece *t = o->tail;
    if (t != NULL && t->spill && !t->unit_end && t->off + (off_t)t->len == at) {
        t->len += n; /* contiguous with the tail's range */
        t->unit_end = unit_end;
        o->pending += n;
        return 0;
    }
    struct gw_out_piece *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return GW_ENOMEM;
    q->kind = GW_CHUNK_FILE;
    q->spill = 1;
    q->fd = o->spill_fd;
    q->off = at;
    q->len = n;
    q->unit_end = unit_end;
    if (o->tail != NULL)
        o->tail->next = q;
    else
        o->head = q;
    o->tail = q;
    o->pending += n;
    return 0;
}

/* The queue is empty or dropped: its spill file goes (see the top of the file). */
static void spill_close(struct gw_out *o)
{
    if (o->spill_fd < 0)
        return;
    if (o->spill_size > 0) {
        __atomic_sub_fetch(&total_spill, o->spill_size, __ATOMIC_RELAXED);
        gw_stats_send_add(0, -(int64_t)o->spill_size);
        registry_leave(o);
    }
    close(o->spill_fd);
    o->spill_fd = -1;
    o->spill_size = 0;
}

/* ---- queueing ------------------------------------------------------------------- */

static void append(struct gw_out *o, struct gw_out_piece *q)
{
    if (o->tail != NULL)
        o->tail->next = q;
    else
        o->head = q;
    o->tail = q;
    o->pending += q->len;
}

static int queue_copy(struct gw_out *o, const char *p, uint64_t n, int unit_end)
{
    struct gw_out_piece *t = o->tail;
    if (n == 0 && !unit_end)
        return 0;
    if (t != NULL && t->kind == GW_CHUNK_COPY && !t->unit_end && t->cap - t->used >= n &&
        t->p + t->len == t->data + t->used) {
        memcpy(t->data + t->used, p, (size_t)n);
        t->used += (size_t)n;
        t->len += n;
        t->unit_end = unit_end;
        o->pending += n;
        mem_add(o, (int64_t)n);
        return 0;
    }
    size_t cap = n > GW_OUT_COPY_MIN ? (size_t)n : GW_OUT_COPY_MIN;
    struct gw_out_piece *q = malloc(sizeof(*q) + cap);
    if (q == NULL)
        return GW_ENOMEM;
    memset(q, 0, sizeof(*q));
    q->kind = GW_CHUNK_COPY;
    q->unit_end = unit_end;
    q->cap = cap;
    q->used = (size_t)n;
    q->len = n;
    q->p = q->data;
    q->fd = -1;
    memcpy(q->data, p, (size_t)n);
    append(o, q);
    mem_add(o, (int64_t)n);
    return 0;
}

static int queue_ref(struct gw_out *o, const char *p, uint64_t n, void *ref, int unit_end)
{
    struct gw_out_piece *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return GW_ENOMEM;
    q->kind = GW_CHUNK_REF;
    q->p = p;
    q->len = n;
    q->ref = ref;
    q->fd = -1;
    q->unit_end = unit_end;
    append(o, q);
    mem_add(o, (int64_t)n);
    return 0;
}

static int queue_file(struct gw_out *o, int fd, off_t off, uint64_t n, int unit_end)
{
    struct gw_out_piece *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return GW_ENOMEM;
    q->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (q->fd < 0) {
        free(q);
        return GW_EIO;
    }
    q->kind = GW_CHUNK_FILE;
    q->off = off;
    q->len = n;
    q->unit_end = unit_end;
    append(o, q);
    return 0;
}

/* Queues in[0..n), the first skip bytes of in[0] already written. Memory chunks go
 * to memory, or all of them to the spill file when they would pass a limit. */
static int enqueue(struct gw_out *o, const struct gw_chunk *in, int n, uint64_t skip, int *kept)
{
    uint64_t need = 0;
    for (int i = 0; i < n; i++)
        if (in[i].kind != GW_CHUNK_FILE)
            need += in[i].len - (i == 0 ? skip : 0);
    int to_file = need > 0 &&
                  (o->mem + need > limits.conn_mem || gw_out_total_mem() + need > limits.total_mem);
    for (int i = 0; i < n; i++) {
        const struct gw_chunk *ch = &in[i];
        uint64_t at = i == 0 ? skip : 0, len = ch->len - at;
        const char *p = (const char *)ch->p + at;
        int rc;
        if (ch->kind == GW_CHUNK_FILE)
            rc = queue_file(o, ch->fd, ch->off + (off_t)at, len, ch->unit_end);
        else if (to_file)
            rc = spill(o, p, len, ch->unit_end);
        else if (ch->kind == GW_CHUNK_REF && (len > 0 || ch->ref != NULL)) {
            rc = queue_ref(o, p, len, ch->ref, ch->unit_end);
            if (rc == 0 && ch->ref != NULL && kept != NULL)
                *kept = 1;
        } else
            rc = queue_copy(o, p, len, ch->unit_end);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- writing -------------------------------------------------------------------- */

static void piece_free(struct gw_out *o, struct gw_out_piece *q, int park_ref)
{
    if (q->kind == GW_CHUNK_COPY)
        mem_add(o, -(int64_t)q->len);
    else if (q->kind == GW_CHUNK_REF) {
        mem_add(o, -(int64_t)q->len);
        if (park_ref)
            park(q->ref);
    } else if (!q->spill && q->fd >= 0)
        close(q->fd);
    free(q);
}

/* The head pieces took n bytes; frees the finished ones. Returns the units ended. */
static unsigned consume(struct gw_out *o, uint64_t n)
{
    unsigned units = 0;
    o->pending -= n;
    while (o->head != NULL) {
        struct gw_out_piece *q = o->head;
        uint64_t k = n < q->len ? n : q->len;
        q->len -= k;
        n -= k;
        if (q->kind == GW_CHUNK_FILE) {
            q->off += (off_t)k;
        } else {
            q->p += k;
            mem_add(o, -(int64_t)k);
        }
        if (k > 0)
            o->unit_open = 1;
        if (q->len > 0)
            break;
        o->head = q->next;
        if (o->head == NULL)
            o->tail = NULL;
        units += (unsigned)q->unit_end;
        if (q->unit_end)
            o->unit_open = 0;
        piece_free(o, q, 1);
        if (n == 0 && (o->head == NULL || o->head->len > 0))
            break;
    }
    return units;
}

static ssize_t send_file_piece(struct gw_out *o, struct gw_out_piece *q)
{
    struct gw_conn *c = o->conn;
    size_t want = q->len > GW_OUT_SENDFILE ? GW_OUT_SENDFILE : (size_t)q->len;
    ssize_t k = c->tr->sendfile(c, q->fd, q->off, want);
    if (k == GW_ENOTSUP) { /* copy: the bytes that go out now, no more */
        char buf[GW_OUT_BOUNCE];
        size_t b = want < sizeof(buf) ? want : sizeof(buf);
        for (;;) {
            k = pread(q->fd, buf, b, q->off);
            if (k >= 0 || errno != EINTR)
                break;
        }
        if (k < 0)
            return GW_EIO;
        if (k > 0) {
            struct iovec v = {buf, (size_t)k};
            k = c->tr->writev(c, &v, 1);
        }
    }
    if (k == 0)
        return GW_EIO; /* the file is shorter than promised: the framing is lost */
    return k;
}

int gw_out_flush(struct gw_out *o, unsigned units)
{
    struct iovec v[GW_OUT_IOV];
    unsigned done = 0;
    int rc = GW_OUT_EMPTY;
    while (o->head != NULL) {
        if (__atomic_load_n(&o->cut, __ATOMIC_RELAXED)) {
            rc = GW_ECLOSED;
            break;
        }
        ssize_t k;
        struct gw_out_piece *q = o->head;
        if (q->kind == GW_CHUNK_FILE) {
            k = send_file_piece(o, q);
        } else {
            int nv = 0;
            unsigned ends = 0;
            for (; q != NULL && q->kind != GW_CHUNK_FILE && nv < GW_OUT_IOV; q = q->next) {
                if (q->len > 0)
                    v[nv++] = (struct iovec){(void *)q->p, (size_t)q->len};
                if (q->unit_end && units > 0 && done + ++ends >= units)
                    break; /* not into the unit after the last one asked for */
            }
            k = nv > 0 ? o->conn->tr->writev(o->conn, v, nv) : 0;
        }
        if (k == GW_EAGAIN)
            return GW_OUT_BLOCKED;
        if (k < 0) {
            rc = (int)k;
            break;
        }
        __atomic_store_n(&o->progress_ns, gw_now_ns(), __ATOMIC_RELAXED);
        done += consume(o, (uint64_t)k);
        if (units > 0 && done >= units && o->head != NULL)
            return GW_OUT_YIELD;
    }
    if (rc < 0) {
        gw_out_drop(o);
        return rc;
    }
    spill_close(o);
    o->stalled = 0;
    return GW_OUT_EMPTY;
}

/* Writes in[0..n) directly, the first skip bytes of in[0] already written. Returns
 * the index of the first chunk not wholly written (n when all were) with *at its
 * bytes written, or GW_E*. */
static int write_direct(struct gw_out *o, const struct gw_chunk *in, int n, uint64_t skip,
                        uint64_t *at)
{
    struct gw_conn *c = o->conn;
    int i = 0;
    uint64_t off = skip;
    while (i < n) {
        ssize_t k;
        if (in[i].kind == GW_CHUNK_FILE) {
            if (in[i].len == off) {
                i++;
                off = 0;
                continue;
            }
            struct gw_out_piece q = {.kind = GW_CHUNK_FILE,
                                     .fd = in[i].fd,
                                     .off = in[i].off + (off_t)off,
                                     .len = in[i].len - off};
            k = send_file_piece(o, &q);
        } else {
            struct iovec v[GW_OUT_IOV];
            int nv = 0;
            for (int j = i; j < n && in[j].kind != GW_CHUNK_FILE && nv < GW_OUT_IOV; j++) {
                uint64_t from = j == i ? off : 0;
                if (in[j].len > from)
                    v[nv++] = (struct iovec){(char *)in[j].p + from, (size_t)(in[j].len - from)};
            }
            if (nv == 0) { /* only empty chunks up to a file chunk or the end */
                while (i < n && in[i].kind != GW_CHUNK_FILE && in[i].len == off) {
                    i++;
                    off = 0;
                }
                continue;
            }
            k = c->tr->writev(c, v, nv);
        }
        if (k == GW_EAGAIN)
            break;
        if (k < 0)
            return (int)k;
        __atomic_store_n(&o->progress_ns, gw_now_ns(), __ATOMIC_RELAXED);
        uint64_t left = (uint64_t)k;
        while (i < n && left >= in[i].len - off) {
            left -= in[i].len - off;
            if (in[i].len > off)
                o->unit_open = 1;
            if (in[i].unit_end)
                o->unit_open = 0;
            off = 0;
            i++;
            if (in[i - 1].kind == GW_CHUNK_FILE)
                break; /* one file chunk per send */
        }
        if (left > 0)
            o->unit_open = 1;
        off += left;
    }
    *at = off;
    return i;
}

/* 1 when queueing in[0..n) (from skip) would send memory bytes to the spill file. */
static int would_spill(const struct gw_out *o, const struct gw_chunk *in, int n, uint64_t skip)
{
    uint64_t need = 0;
    for (int i = 0; i < n; i++)
        if (in[i].kind != GW_CHUNK_FILE)
            need += in[i].len - (i == 0 ? skip : 0);
    return need > 0 &&
           (o->mem + need > limits.conn_mem || gw_out_total_mem() + need > limits.total_mem);
}

/* Waits up to ms for the socket to take more (for the event the transport named). 1
 * when it may. */
static int wait_writable(const struct gw_conn *c, int ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = gw_conn_poll_events(c->wr_wait, POLLOUT)};
    for (;;) {
        int k = poll(&pfd, 1, ms);
        if (k >= 0 || errno != EINTR)
            return k > 0;
    }
}

int gw_out_write(struct gw_out *o, const struct gw_chunk *in, int n, int *kept)
{
    int first = 0, rc;
    uint64_t at = 0;
    if (kept != NULL)
        *kept = 0;
    uint64_t seen = __atomic_load_n(&o->progress_ns, __ATOMIC_RELAXED), last = gw_now_ns();
    for (;;) {
        if (o->head != NULL && (rc = gw_out_flush(o, 0)) < 0)
            return rc;
        if (__atomic_load_n(&o->cut, __ATOMIC_RELAXED)) {
            gw_out_drop(o);
            return GW_ECLOSED;
        }
        if (o->head == NULL) {
            int k = write_direct(o, in + first, n - first, at, &at);
            if (k < 0) {
                gw_out_drop(o);
                return k;
            }
            first += k;
            if (first == n)
                return GW_OUT_EMPTY;
        }
        /* A peer that reads, only more slowly than we write (a big response on a
         * fast link), is worth a short wait rather than a copy into the spill file;
         * one that takes nothing for GW_OUT_PATIENCE_MS is left to the loop. */
        if (o->stalled || o->no_wait || !would_spill(o, in + first, n - first, at))
            break;
        uint64_t now = gw_now_ns(), p = __atomic_load_n(&o->progress_ns, __ATOMIC_RELAXED);
        if (p != seen) {
            seen = p;
            last = now;
        }
        uint64_t idle_ms = (now - last) / 1000000;
        if (idle_ms >= GW_OUT_PATIENCE_MS ||
            !wait_writable(o->conn, GW_OUT_PATIENCE_MS - (int)idle_ms)) {
            o->stalled = 1;
            break;
        }
    }
    rc = enqueue(o, in + first, n - first, at, kept);
    if (rc != 0) {
        gw_out_drop(o); /* parks the refs of in that were queued (*kept says so) */
        return rc;
    }
    return GW_OUT_BLOCKED;
}

int gw_out_queue(struct gw_out *o, const struct gw_chunk *in, int n, int *kept)
{
    if (kept != NULL)
        *kept = 0;
    int rc = enqueue(o, in, n, 0, kept);
    if (rc != 0)
        gw_out_drop(o); /* parks the refs of in that were queued (*kept says so) */
    return rc != 0 ? rc : gw_out_empty(o) ? GW_OUT_EMPTY : GW_OUT_BLOCKED;
}

void gw_out_trim(struct gw_out *o)
{
    struct gw_out_piece *q = o->head, *keep = NULL;
    if (o->unit_open)
        for (keep = q; keep != NULL && !keep->unit_end; keep = keep->next)
            ;
    if (keep == NULL) {
        gw_out_drop(o);
        return;
    }
    while (keep->next != NULL) {
        struct gw_out_piece *d = keep->next;
        keep->next = d->next;
        o->pending -= d->len;
        piece_free(o, d, 1);
    }
    o->tail = keep;
}

void gw_out_drop(struct gw_out *o)
{
    while (o->head != NULL) {
        struct gw_out_piece *q = o->head;
        o->head = q->next;
        piece_free(o, q, 1);
    }
    o->tail = NULL;
    o->pending = 0;
    o->stalled = 0;
    o->unit_open = 0;
    spill_close(o);
}
