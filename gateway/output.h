/*
 * The output queue: what one response (or, for a multiplexed front-end, one request)
 * still has to write, in order, and the one place where bytes are put on the wire.
 *
 * A front-end frames a response into chunks (gw_chunk): copies of its own small
 * framing bytes, references to the app's buffers (kept alive by a reference the
 * queue holds, no copy), and file ranges (sendfile). gw_out_write tries to write
 * them at once, without blocking, behind whatever is already queued; what the
 * transport does not take is queued. gw_out_flush writes queued chunks later (the
 * loop thread, when the socket is writable). Bytes leave through the connection's
 * transport (gateway/conn.h): a plain socket today, TLS next.
 *
 * Memory is bounded: past the queue's share (gw_out_limits.conn_mem) or when every
 * queue together holds gw_out_limits.total_mem, new bytes go to the queue's spill
 * file (an unlinked temp file, sent with sendfile, closed when the queue is empty),
 * and a reference is copied there and given up. Spill files together hold at most
 * gw_out_limits.total_spill bytes;
 * beyond it the queue that made no progress for the longest time is cut off (its
 * connection shut down and the drop logged) to make room.
 *
 * References: a chunk's ref is an opaque pointer of the app side (a Python bytes
 * object). The core never touches what it points to; when the bytes are written or
 * dropped the queue gives the ref back: to the caller of gw_out_write when it finished
 * within that call (gw_out_write's *kept), else it is parked and the app side
 * releases parked refs in batches, holding its runtime lock once (gw_out_take_parked).
 *
 * Threads: a queue has one owner at a time, its connection's (or request's) owner;
 * nothing here locks a queue. The limits, the counters, the spill registry and the
 * parked refs are global and thread-safe.
 */
#ifndef GW_OUTPUT_H
#define GW_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct gw_conn;
struct gw_out_piece;

enum gw_chunk_kind {
    GW_CHUNK_COPY, /* p[0..len) is copied (or written at once) */
    GW_CHUNK_REF,  /* p[0..len) stays valid while ref is held; see above */
    GW_CHUNK_FILE, /* len bytes of the regular file fd from off (the queue dups fd) */
};

struct gw_chunk {
    enum gw_chunk_kind kind;
    const void *p;
    uint64_t len;
    void *ref;    /* REF: the reference keeping p alive; one per buffer, on its last chunk
                     when a buffer is split over several (NULL on the others) */
    int fd;       /* FILE */
    off_t off;    /* FILE */
    int unit_end; /* the last chunk of a unit that must leave whole before another
                     queue's bytes may follow on the same connection (a FastCGI
                     record); see gw_out_flush */
};

struct gw_out {
    struct gw_out_piece *head, *tail;
    uint64_t pending;     /* bytes not yet written */
    size_t mem;           /* bytes held in memory: copies and references */
    int spill_fd;         /* the spill file, -1 until needed */
    uint64_t spill_size;  /* its size: bytes written into it */
    uint64_t progress_ns; /* when bytes last left (CLOCK_MONOTONIC) */
    int cut;              /* atomic: cut off to make room for other spill files */
    int no_wait;          /* set by the owner: gw_out_write never waits (a queue that shares
                             its connection: FastCGI writes under a lock) */
    int unit_open;        /* bytes of the head unit went out, its end has not */
    int stalled;          /* the peer took nothing for a while: no more waiting for it until the
                             queue is empty again (see gw_out_write) */
    struct gw_conn *conn; /* whose socket to shut down when cut off */
    struct gw_out *spill_prev, *spill_next; /* the spill registry */
};

/* The bounds (the process's configuration, set once before any queue is used). */
struct gw_out_limits {
    size_t conn_mem;      /* one queue's bytes in memory before it spills */
    size_t total_mem;     /* all queues' bytes in memory before they spill */
    uint64_t total_spill; /* all spill files' bytes */
    const char *tmpdir;   /* where spill files are made (NULL: $TMPDIR or /tmp) */
};

void gw_out_configure(const struct gw_out_limits *l);

/* Empty queue writing to c's transport (c may be NULL in tests that only queue). */
void gw_out_init(struct gw_out *o, struct gw_conn *c);

/* Frees everything: queued copies, file descriptors, the spill file; references are
 * parked. The queue can be used again. */
void gw_out_drop(struct gw_out *o);

/* 1 when nothing is queued. */
static inline int gw_out_empty(const struct gw_out *o)
{
    return o->head == NULL;
}

/* What gw_out_write and gw_out_flush return when they did not fail (GW_E* < 0). */
enum gw_out_state {
    GW_OUT_EMPTY = 0,   /* everything is written */
    GW_OUT_BLOCKED = 1, /* bytes remain and the transport would block: wait until the
                           socket is writable */
    GW_OUT_YIELD = 2,   /* bytes remain; gw_out_flush did the units it was asked for */
};

/*
 * Owner: writes what is queued, then in[0..n), as far as the transport takes them
 * now; queues the rest. It waits only when the rest would go to the spill file, and
 * only briefly: for a peer that reads more slowly than we write, never for one that
 * takes nothing (then the queue is stalled until it is empty again). *kept (may be NULL when in
 * holds no REF chunk) is set to 1 when a REF chunk's ref was queued (it comes back parked), 0 when
 * every ref of in is the caller's again. Returns GW_OUT_EMPTY, GW_OUT_BLOCKED, or
 * GW_E* (the transport failed, GW_ENOMEM, a spill file error, cut off): the queue
 * is then dropped and nothing of in was kept.
 */
int gw_out_write(struct gw_out *o, const struct gw_chunk *in, int n, int *kept);

/*
 * Owner: writes queued bytes as far as the transport takes them. units > 0: stops
 * after that many units have been completed (a partly written unit is finished
 * first), so a multiplexed front-end can take turns between queues; 0: no limit.
 * Returns GW_OUT_EMPTY, GW_OUT_BLOCKED, GW_OUT_YIELD, or GW_E* (the queue is then
 * dropped).
 */
int gw_out_flush(struct gw_out *o, unsigned units);

/* Owner: queues in[0..n) without writing anything (for a multiplexed front-end that
 * must let another queue finish its unit first). Returns GW_OUT_BLOCKED (or
 * GW_OUT_EMPTY for nothing), or GW_E* with the queue dropped; *kept as above. */
int gw_out_queue(struct gw_out *o, const struct gw_chunk *in, int n, int *kept);

/* 1 when a unit is partly written: it must be finished before another queue's bytes
 * may go out on the same connection. */
static inline int gw_out_mid_unit(const struct gw_out *o)
{
    return o->unit_open && o->head != NULL;
}

/* Owner: drops what is queued except the rest of a partly written unit (the request
 * was aborted: nothing more goes out for it, but the framing stays whole). */
void gw_out_trim(struct gw_out *o);

/* Takes up to max parked references into refs; returns how many. Any thread. */
size_t gw_out_take_parked(void **refs, size_t max);

/* Parked references waiting to be released. Any thread (a moment ago). */
size_t gw_out_parked(void);

/* Bytes held in memory / in spill files by every queue (a moment ago), for the
 * metrics. */
uint64_t gw_out_total_mem(void);
uint64_t gw_out_total_spill(void);

#endif
