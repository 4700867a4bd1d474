/*
 * The normalized request: what every front-end (HTTP, FastCGI, SCGI) produces and
 * what the app handler (python/) consumes. It is a CGI-shaped view: the front-end
 * fills the slices, the environ builder turns them into PEP 3333 keys.
 *
 * Ownership: a request belongs to its connection. All slices point into the
 * connection's buffers (or the listener's strings) and stay valid until the
 * worker hands the connection back to the loop, after gw_request_finish. Between dispatch and
 * finish exactly one worker thread owns the request; the functions below are called only by that
 * thread, with the GIL released (they block on the socket). The one exception is --timeout: the
 * watchdog (gateway/watchdog.c) may answer 504 for a request whose head has not
 * gone out, under the head_claim handshake declared at the end of this file.
 */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "gateway/slice.h"
#include "gateway/status.h"

struct gw_chunk;
struct gw_conn;
struct gw_protocol;

/* The response as the core sees it: parsed once from the app's status and fields by
 * gw_request_send_head, for every front-end (which only frames it). */
struct gw_response {
    int started;                /* gw_request_send_head succeeded */
    int code;                   /* the status code */
    enum gw_content_rule rule;  /* what the response may carry (gateway/status.h) */
    int64_t length;             /* the app's Content-Length, -1 when it gave none */
    int64_t limit;              /* body bytes that may go out: length, 0 when the rule
                                   allows no body, -1 when unbounded */
    uint64_t sent;              /* body bytes passed to the front-end */
    int truncated;              /* the app gave more than it declared (R2): dropped */
    int app_close;              /* the app sent "Connection: close" */
    int have_date, have_server; /* the app gave its own Date / Server */
    size_t length_field;        /* the index of the Content-Length field the front-end
                                   sends, or (size_t)-1 for none of the app's */
};

struct gw_request {
    struct gw_request *next_back; /* link in the server's hand-back list */
    struct gw_conn *conn;
    const struct gw_protocol *proto;
    void *proto_data; /* the front-end's per-request state */

    /* CGI view. A NULL ptr means "not present". */
    struct gw_slice method;         /* REQUEST_METHOD */
    struct gw_slice request_uri;    /* REQUEST_URI: the target as sent (raw) */
    struct gw_slice script_name;    /* SCRIPT_NAME: decoded mount prefix ("" if none) */
    struct gw_slice path_info;      /* PATH_INFO: decoded path after script_name */
    struct gw_slice query;          /* QUERY_STRING: raw, "" when none */
    struct gw_slice protocol;       /* SERVER_PROTOCOL, e.g. "HTTP/1.1" */
    struct gw_slice content_type;   /* CONTENT_TYPE, NULL when absent */
    struct gw_slice content_length; /* CONTENT_LENGTH as digits, NULL when absent/chunked */
    struct gw_slice server_name;    /* SERVER_NAME */
    struct gw_slice server_port;    /* SERVER_PORT */
    struct gw_slice remote_addr;    /* REMOTE_ADDR ("" on a unix socket) */
    struct gw_slice remote_port;    /* REMOTE_PORT ("" on a unix socket) */
    int https;                      /* wsgi.url_scheme is "https" */

    /* HTTP header fields as received (HTTP front-end): the environ builder maps them
     * to HTTP_* (dropping names with '_', Content-Type and Content-Length, joining
     * repeats with ", "). */
    const struct gw_field *headers;
    size_t nheaders;
    /* CGI variables already in CGI form (FastCGI/SCGI front-ends): copied into
     * environ as they are, after the fields above. */
    const struct gw_field *cgi;
    size_t ncgi;

    int64_t body_length;     /* CONTENT_LENGTH as a number; -1 when the body ends by framing */
    struct gw_response resp; /* set by gw_request_send_head */
    int keep;                /* set by gw_request_finish: the connection may carry on */
    int close_now;           /* set by the front-end's finish when it does not keep the
                              * connection: the client has sent all it will send and none
                              * of it is unread, so the loop closes without lingering */

    /* Filled while it runs, for the access log. Times are CLOCK_MONOTONIC ns. */
    int status;          /* status code sent, 0 before send_head */
    uint64_t bytes_sent; /* body bytes written */
    uint64_t t_head;     /* head complete (loop thread) */
    uint64_t t_worker;   /* taken by a worker */
    uint64_t t_app;      /* GIL acquired, app about to be called (python/) */
    uint64_t t_app_done; /* app returned its iterable or raised (python/) */
    uint64_t t_send;     /* ns inside gw_request_send_* and _finish (accumulated) */
    uint64_t t_end;      /* response finished (end of gw_request_finish) */
    uint64_t bytes_in;   /* body bytes read through gw_request_read */
    unsigned conn_seq;   /* its ordinal among the requests of its connection that reached
                            a worker, 1 for the first (nginx's $connection_requests; an
                            HTTP/2 stream's among its connection's streams): set by the
                            loop at dispatch, by the worker at a carry */

    /* --timeout (gateway/watchdog.c): who writes the response head, a GW_HEAD_*
     * value changed only with atomics. watched is set by the worker when it takes the
     * request with a timeout configured; when 0 (no --timeout) head_claim is never
     * touched and the calls below cost nothing more than that test. */
    int watched;
    int head_claim;
};

/* The time split of a finished request, in ns (see gw_request_times). */
struct gw_request_times {
    uint64_t queue; /* t_worker - t_head: waiting in the pool's queue */
    uint64_t gil;   /* t_app - t_worker: waiting for the GIL (and the thread state) */
    uint64_t app;   /* (t_end - t_app) - send: in the app, iterating, reading the body */
    uint64_t send;  /* t_send: writing the response (head, body, file, end) */
    uint64_t total; /* t_end - t_head */
};

/* Values of head_claim. The worker and the watchdog race for the head: whoever moves
 * it out of OPEN first writes it; the other writes nothing. */
enum gw_head_claim {
    GW_HEAD_OPEN = 0,      /* nothing written yet */
    GW_HEAD_APP = 1,       /* the worker owns the response (send_head was called) */
    GW_HEAD_INTERIM = 2,   /* the worker is writing an interim reply (100 Continue) */
    GW_HEAD_TIMEOUT = 3,   /* the watchdog is writing the 504 */
    GW_HEAD_TIMED_OUT = 4, /* the 504 went out (or failed): the request is over */
};

/*
 * Reads up to len body bytes into buf. Returns the count (> 0), 0 at the end of the
 * body (GW_EOF), or a negative GW_E* (body ended early, timeout, bad chunk framing,
 * aborted). Never reads past the body. The first call may first send
 * "100 Continue" when the client asked for it.
 */
ssize_t gw_request_read(struct gw_request *r, char *buf, size_t len);

/*
 * Sends the status line / Status header and the app's headers. status is the WSGI
 * status string ("200 OK"), already validated by the caller: 3 digits, a space, a
 * reason without CR/LF/NUL. Field names are tokens, values free of CR/LF/NUL. The
 * front-end adds Date, Server, framing and connection headers and drops hop-by-hop
 * ones the app gave. Copies what it needs: the arguments may be freed on return.
 * Returns 0 or GW_E*.
 */
int gw_request_send_head(struct gw_request *r, struct gw_slice status,
                         const struct gw_field *fields, size_t n);

/* 1 when the front-end sends field i of the n fields given to send_head: not a
 * hop-by-hop field, and for Content-Length only the one r->resp kept. */
int gw_response_keeps(const struct gw_request *r, const struct gw_field *f, size_t i);

/*
 * Sends body bytes (after send_head), copied where the connection does not take them
 * at once. Honours the app's Content-Length (never sends more than declared: R2,
 * here for every front-end), HEAD/1xx/204/205/304 (sends nothing: gw_content_rule in
 * gateway/status.h) and the front-end's framing. Never waits long for a slow peer:
 * what the connection does not take is queued (gateway/output.h) and written by the
 * loop after the response. Returns 0 or GW_E*.
 */
int gw_request_send_body(struct gw_request *r, const struct iovec *iov, int iovcnt);

/*
 * As gw_request_send_body for one buffer p[0..n) that ref (an opaque reference of
 * the caller's, e.g. a Python bytes object) keeps alive. *kept = 1: the core kept
 * the reference (it comes back through gw_out_take_parked, see gateway/output.h),
 * else it is the caller's again. Returns 0 or GW_E* (*kept is valid either way).
 */
int gw_request_send_ref(struct gw_request *r, const void *p, size_t n, void *ref, int *kept);

/*
 * Sends len bytes of the regular file fd from offset (len = (size_t)-1: to its end)
 * with sendfile(2) where the transport allows it; the file is read later if the
 * connection is slow (a duplicate of fd is kept). Returns 0 or GW_E*.
 */
int gw_request_send_file(struct gw_request *r, int fd, off_t offset, size_t len);

/*
 * Ends the response: ok = 1 completes it (last chunk / END_REQUEST), ok = 0 aborts
 * it (the connection is closed without a clean end). If nothing was sent yet, an
 * error answer goes out instead (a 500 unless a failed body read was the client's
 * fault), whatever ok says: ok = 1 without a head never happens with a correct
 * handler. Called by the worker pool (gateway/pool.c) once the app handler
 * has returned, never by the handler itself. The request's slices stay readable (for
 * the access log) until the worker hands the connection back to the loop.
 */
void gw_request_finish(struct gw_request *r, int ok);

/*
 * Sends n bytes of the app's error text (whole lines of wsgi.errors) to the front
 * server as well, where its protocol has such a stream and the configuration asks
 * for it (FastCGI with --fastcgi-stderr: FCGI_STDERR records of r); elsewhere it
 * does nothing. The exception to the one-owner rule above: any thread may call it,
 * GIL released, while r is alive, i.e. after dispatch and before gw_request_finish,
 * and the caller must make the request's end wait for a call in progress
 * (python/errors.c does). Nothing goes out once the response has ended (a --timeout
 * 504, FCGI_ABORT_REQUEST). Not counted in t_send. Returns 0, or GW_E* when the
 * text was not sent (the caller's own log has it anyway).
 */
int gw_request_send_stderr(struct gw_request *r, const char *p, size_t n);

/*
 * The time split of r after gw_request_finish. Missing stamps (a request that never
 * reached the app) count as zero-length phases; the four parts are never negative
 * and add up to at most total. Any thread; reads r only.
 */
void gw_request_times(const struct gw_request *r, struct gw_request_times *t);

/* Worker, before the app runs r: 1 when its client has already given it up (the
 * front-end's abandoned hook, gateway/protocol.h); the app is then not run. */
int gw_request_abandoned(struct gw_request *r);

/* 1 when the client has gone (a send failed) or the request timed out (the server
 * answered 504 itself); the app handler may stop iterating. */
int gw_request_client_gone(const struct gw_request *r);

/* Front-end, while building r: SCRIPT_NAME and PATH_INFO from the request's decoded
 * path and the mount point script_name ("" = none; --script-name): 0, or 404 when the
 * path is outside the mount (neither the prefix itself nor under "prefix/"). */
int gw_request_mount(struct gw_request *r, struct gw_slice path, const char *script_name);

/*
 * The timeout handshake (only for a watched request, see the fields above).
 *
 * gw_request_timed_out: any thread; 1 once the watchdog has claimed the head. After
 * that the worker's reads fail with GW_ETIMEDOUT, its sends with GW_ECLOSED, and
 * gw_request_finish sends nothing (the front-end's timeout callback has already
 * ended the response; r->status is 504).
 *
 * gw_request_interim_begin / _end: worker, around an interim write that may come
 * before the head (HTTP "100 Continue"), so the watchdog's 504 never interleaves
 * with it. begin returns 0 when the write may go ahead (then call _end after it),
 * GW_ETIMEDOUT when the request has timed out (write nothing).
 *
 * gw_request_claim_timeout: watchdog thread; tries to take the head for a 504.
 * Returns 1 (taken: call the front-end's timeout callback, then
 * gw_request_timeout_done), 0 (the worker owns the head: only interrupt the app),
 * or -1 (an interim write is in progress: try again a little later).
 */
int gw_request_timed_out(const struct gw_request *r);
int gw_request_interim_begin(struct gw_request *r);
void gw_request_interim_end(struct gw_request *r);
int gw_request_claim_timeout(struct gw_request *r);
void gw_request_timeout_done(struct gw_request *r);

#endif
