/*
 * A client connection: its socket, its input buffer, its protocol and who owns it.
 * The loop thread creates and frees connections; between dispatch and hand-back a
 * single worker thread owns one and may use only the gw_conn_* I/O helpers below,
 * which block (poll) with the configured timeouts and never touch the loop's
 * watchers, and the front-end's parser (gateway/carry.h).
 *
 * The input buffer holds bytes read but not yet consumed, data[start..end). While a
 * request is in flight, the front-end pins its head (bytes [0..pin) never move, since
 * the request's slices point there) and reads body bytes behind it.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "gateway/output.h"
#include "gateway/spool.h"

struct gw_config;
struct gw_conn;
struct gw_field;
struct gw_listener;
struct gw_protocol;
struct gw_request;
struct gw_server;

/*
 * How a connection's bytes travel: gw_plain_transport (the socket itself) or TLS
 * (gateway/tls.h). Every byte a connection reads or writes goes through its transport;
 * nothing else calls recv or send on c->fd. No call blocks. They are made by the
 * connection's owner, except that the watchdog may write a 504 (writev, shut_write)
 * while the owner reads the body: a transport keeps its two sides apart (TLS takes a
 * lock of its own around each call).
 *
 * GW_EAGAIN means: try again once the socket is ready. For which event: the transport
 * records it in c->rd_wait (after read or handshake) or c->wr_wait (after writev,
 * sendfile) as GW_WAIT_READ or GW_WAIT_WRITE, or leaves it 0 for the call's own
 * direction (the plain socket never sets them). TLS may need the other one (a write
 * that must first read a handshake record, a read whose output is not flushed).
 *
 * After a writev or sendfile answered GW_EAGAIN, the caller's next write carries on
 * the same byte stream from where it stopped (as the output queue and gw_conn_writev
 * do): a transport may have taken those bytes already (TLS encrypts ahead) and only
 * report them written once they have left.
 */
struct gw_transport {
    /* Reads up to len bytes into buf: bytes read (> 0), 0 at the end of the stream,
     * GW_EAGAIN, or GW_E* (GW_ECLOSED when the peer reset the connection). */
    ssize_t (*read)(struct gw_conn *c, void *buf, size_t len);
    /* Writes from iov[0..n): bytes written (> 0), GW_EAGAIN, or GW_E* (GW_ECLOSED when
     * the peer is gone). */
    ssize_t (*writev)(struct gw_conn *c, const struct iovec *iov, int n);
    /* Sends up to len bytes of the file fd from off: bytes sent (> 0), 0 when the
     * file ends before off, GW_EAGAIN, GW_ENOTSUP (the caller copies instead),
     * or GW_E*. */
    ssize_t (*sendfile)(struct gw_conn *c, int fd, off_t off, size_t len);
    /* Ends the write side (the peer reads the end of the stream; TLS says close_notify
     * first): 0 or GW_E*. Reading stays possible. */
    int (*shut_write)(struct gw_conn *c);
    /* Optional (NULL: never): 1 when read would return bytes the transport already
     * holds, although the socket may not be readable (TLS records read ahead). */
    int (*pending)(struct gw_conn *c);
    /* Optional (NULL: none), loop thread: runs the transport's handshake as far as it
     * goes now: 0 once it is done (bytes of the protocol follow), GW_EAGAIN (c->rd_wait
     * names the event), or GW_E* when the peer is no client of this transport (close
     * the connection; the transport has logged why, at info level at most). */
    int (*handshake)(struct gw_conn *c);
    /* Optional: frees the transport's state of c (c->tr_state), first saying goodbye
     * if c is healthy (TLS: one close_notify, never waited for). Once, before the
     * socket is closed. */
    void (*close)(struct gw_conn *c);
    /* Optional: the CGI variables that describe the connection (TLS: HTTPS=on,
     * SSL_PROTOCOL, ...), for the front-end to hand to the app; *n = 0 before the
     * handshake is done. They live as long as the connection. */
    const struct gw_field *(*vars)(struct gw_conn *c, size_t *n);
    int secure; /* 1: bytes are encrypted on the wire (wsgi.url_scheme "https") */
};

/* Values of c->rd_wait and c->wr_wait (see struct gw_transport). */
enum gw_wait {
    GW_WAIT_OWN = 0,   /* the call's own direction */
    GW_WAIT_READ = 1,  /* the socket must become readable */
    GW_WAIT_WRITE = 2, /* the socket must become writable */
};

extern const struct gw_transport gw_plain_transport;

/* What the connections of one server share of it (gateway/server.c fills one per
 * server): the front-ends and the workers reach the loop only through this, never
 * through the server itself. */
struct gw_conn_host {
    int draining; /* atomic: 1 once a graceful stop began (use gw_conn_draining) */
    /* Any thread that owns one of c's requests: asks the loop to read the paused
     * connection c again (a multiplexed front-end's flow control). Thread-safe;
     * coalesces. c must stay alive until then. */
    void (*resume)(struct gw_conn *c);
    /* Any thread that owns one of c's requests or writes for it: a multiplexed
     * front-end has bytes queued that the socket did not take; the loop calls the
     * protocol's flush when it is writable (and until it says all is out).
     * Thread-safe; coalesces. */
    void (*want_write)(struct gw_conn *c);
};

struct gw_buf {
    char *data;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte read */
    size_t cap;
};

enum gw_conn_state {
    GW_CONN_IDLE,       /* loop: waiting for the first byte of a request */
    GW_CONN_READING,    /* loop: reading a request head */
    GW_CONN_DISPATCHED, /* owned by the pool / a worker */
    GW_CONN_REPLYING,   /* loop: writing an error reply from c->out */
    GW_CONN_WRITING,    /* loop: writing what a response left in c->send */
    GW_CONN_LINGERING,  /* loop: write side shut, draining input before close */
    GW_CONN_CLOSING,    /* loop: no more reading (dead, or a multiplexed peer shut its
                           write side), freed when its last in-flight request is back */
    GW_CONN_HANDSHAKE,  /* loop: the transport's handshake (TLS), before the first
                           request; bounded by --read-timeout from the accept */
    GW_CONN_PREFACE,    /* loop: reading the listener's preface (a PROXY protocol
                           header), before the handshake; the same deadline */
};

struct gw_conn {
    int fd;
    enum gw_conn_state state;
    const struct gw_protocol *proto;
    const struct gw_listener *listener;
    const struct gw_config *cfg; /* the server's, read-only */
    struct gw_conn_host *host;
    const struct gw_transport *tr;
    void *tr_state;                 /* the transport's own (TLS: the session), or NULL */
    unsigned char rd_wait, wr_wait; /* enum gw_wait, set by tr: see struct gw_transport */
    struct gw_server *srv;          /* the loop's own (gateway/server*.c only) */
    void *proto_state;

    struct gw_buf in;
    size_t pin;            /* bytes [0..pin) of in.data must not move (in-flight head) */
    struct gw_buf out;     /* loop-side reply bytes (error answers) */
    struct gw_spool spool; /* a request body collected before dispatch (--body-buffer) */
    struct gw_out send;    /* the response's output queue (one-request-at-a-time protocols:
                              its worker writes through it, the loop finishes it) */
    int reply_status;      /* status of the error answer in out, set by the front-end with
                              it (0: none); the loop counts it in the metrics */

    ev_io io;
    ev_io wio; /* multiplexed: writable, while the front-end has output queued */
    ev_timer timer;
    ev_tstamp head_deadline; /* absolute deadline of the head being read */
    int body_wait;           /* set by the front-end: head done, small body awaited on
                                the loop; each read then extends the deadline (idle) */
    size_t linger_bytes;

    unsigned inflight;  /* requests owned by workers (loop thread only) */
    int paused;         /* set by a multiplexed front-end: stop reading until resumed */
    int at_rest;        /* set by a multiplexed front-end's parse when it answers
                           GW_PARSE_MORE holding no part of a record or request head:
                           the connection is between requests (--keep-alive applies
                           once none is in flight, not the head's --read-timeout) */
    int parse_again;    /* set by a multiplexed front-end's parse answering GW_PARSE_READY
                           while it holds more requests ready: the loop calls parse
                           again even with no bytes buffered (HTTP/2 decodes many
                           streams from one read) */
    int close_after;    /* multiplexed: close once the requests in flight are back */
    int resume_queued;  /* on the server's resume list (under server.back_lock) */
    int write_queued;   /* on the server's want-write list (under server.back_lock) */
    int loop_waits;     /* under server.back_lock: the loop saw c readable while a worker
                           owned it and stopped reading; the hand-back must wake it */
    int broken;         /* a send or receive failed: use gw_conn_broken / _set_broken,
                           several workers may share a multiplexed connection */
    unsigned requests;  /* requests served on this connection */
    unsigned carried;   /* requests its worker carried on to since the dispatch
                           (gateway/carry.h); the loop counts them at the hand-back */
    int fresh;          /* prefork: accepted < FRESH_SECONDS ago, no request dispatched yet */
    int then_keep;      /* WRITING: what the response's end decided, acted on once */
    int then_close_now; /*   c->send is written (gw_srv_request_back, server_write.c) */
    double accepted_at; /* loop time of the accept */

    char remote_addr[64];
    char remote_port[8];
    /* Set by a PROXY protocol header (the listener's preface), else empty / 0: the
     * address the client connected to, and whether it spoke TLS to the balancer. */
    char server_addr[64];
    char server_port[8];
    int proxy_ssl;

    struct gw_conn *next_resume;         /* link in the server's resume list */
    struct gw_conn *next_write;          /* link in the server's want-write list */
    struct gw_conn *prev_all, *next_all; /* the loop's list of every connection */
};

static inline int gw_conn_broken(const struct gw_conn *c)
{
    return __atomic_load_n(&c->broken, __ATOMIC_RELAXED);
}

static inline void gw_conn_set_broken(struct gw_conn *c)
{
    __atomic_store_n(&c->broken, 1, __ATOMIC_RELAXED);
}

/* Any thread: 1 once the server began a graceful stop; responses then close their
 * connections instead of keeping them alive. */
static inline int gw_conn_draining(const struct gw_conn *c)
{
    return __atomic_load_n(&c->host->draining, __ATOMIC_RELAXED);
}

/* See gw_conn_host.resume. */
static inline void gw_conn_resume(struct gw_conn *c)
{
    c->host->resume(c);
}

/* See gw_conn_host.want_write. */
static inline void gw_conn_want_write(struct gw_conn *c)
{
    c->host->want_write(c);
}

/* Bytes asked of one read into a connection's input (the loop's, a carrying
 * worker's): the input buffer's smallest size. */
#define GW_CONN_READ_SIZE 4096

/* Loop thread, c->in released (gw_conn_trim: between requests): the n > 0 bytes at p,
 * read elsewhere, become c->in in a buffer of their own size. A request that waits
 * for a thread then holds its own bytes, not a whole read's room; a later read grows
 * the buffer as usual. Returns 0 or GW_ENOMEM. */
int gw_conn_in_adopt(struct gw_conn *c, const char *p, size_t n);

/* Makes sure the input buffer has at least want free bytes after in.end, moving
 * unpinned unconsumed bytes down or growing it (only when nothing is pinned).
 * Returns 0 or GW_ENOMEM / GW_ETOOBIG (cannot grow while pinned). */
int gw_conn_reserve(struct gw_conn *c, size_t want);

/* Any thread: who is at the other end of c, for log lines: remote_addr on TCP; on a
 * unix socket (where remote_addr is empty, as REMOTE_ADDR is) the peer process's
 * credentials "pid=N,uid=N" (SO_PEERCRED), else "-". A TCP peer is "addr:port"
 * ("[addr]:port" for IPv6), to match a front server's or balancer's log line. Returns
 * buf (cut to len - 1 characters), or remote_addr when the port is unknown. */
const char *gw_conn_peer(const struct gw_conn *c, char *buf, size_t len);

/* Loop: c is idle between requests with nothing in flight: frees its empty buffers
 * and the protocol's per-request allocations (conn_trim). */
void gw_conn_trim(struct gw_conn *c);

/*
 * Worker side. Reads more bytes into c->in (after reserve), waiting up to the read
 * timeout. Returns the count (> 0), GW_ECLOSED at EOF or reset, GW_ETIMEDOUT, or
 * another GW_E*. Marks the connection broken on failure, except a timeout (the peer
 * may still read an answer: the front-end sends 408 and closes).
 */
ssize_t gw_conn_fill(struct gw_conn *c);

/* Worker side: reads directly into buf (after c->in is empty). Same results. */
ssize_t gw_conn_recv(struct gw_conn *c, char *buf, size_t len);

/* Worker side: up to len bytes of a request body that has no framing of its own (a
 * Content-Length): from the spool first (gateway/spool.h), then what c->in holds,
 * then the socket. The caller never asks past the body's end. Same results. */
ssize_t gw_conn_read_body(struct gw_conn *c, char *buf, size_t len);

/* Worker side (or the watchdog's 504): writes all of iov through the transport,
 * waiting up to the send timeout between progress. Returns 0 or GW_E* (and marks the
 * connection broken). iov is not modified. */
int gw_conn_writev(struct gw_conn *c, const struct iovec *iov, int iovcnt);

/* Ends c's write side through its transport (see gw_transport.shut_write). */
static inline int gw_conn_shut_write(struct gw_conn *c)
{
    return c->tr->shut_write(c);
}

/* 1 when c's transport holds bytes that a read returns at once (gw_transport.pending). */
static inline int gw_conn_tr_pending(struct gw_conn *c)
{
    return c->tr->pending != NULL && c->tr->pending(c);
}

/* The poll(2) events to wait for after a GW_EAGAIN from c's transport: want is
 * c->rd_wait or c->wr_wait, own the call's own direction (POLLIN or POLLOUT). */
short gw_conn_poll_events(unsigned char want, short own);

/* Appends n bytes to b, growing it (doubling) up to max bytes of capacity.
 * Returns 0, GW_ETOOBIG past max, or GW_ENOMEM. */
int gw_buf_append(struct gw_buf *b, const char *p, size_t n, size_t max);

/* Loop side: appends bytes to c->out (the error-reply buffer). 0 or GW_ENOMEM. */
int gw_conn_out_append(struct gw_conn *c, const char *p, size_t n);

#endif
