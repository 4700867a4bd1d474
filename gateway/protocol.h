/*
 * The front-end interface: one const table of callbacks per wire protocol (HTTP,
 * FastCGI, SCGI), filled with designated initializers in protocols/ (the h2o
 * pattern). A connection's protocol is its table pointer; the core never looks
 * inside the protocol's state.
 *
 * Threads: the loop-side callbacks run on the loop thread with no GIL; the
 * worker-side ones run on the worker that owns the request, GIL released, and may
 * block on the socket (bounded by the configured timeouts).
 */
#ifndef GW_PROTOCOL_H
#define GW_PROTOCOL_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "gateway/slice.h"

struct gw_chunk;
struct gw_conn;
struct gw_request;

/* Results of parse(). */
enum gw_parse_result {
    GW_PARSE_MORE = 0,  /* need more bytes: the loop keeps reading */
    GW_PARSE_READY = 1, /* *req is complete: the loop dispatches it to the pool */
    GW_PARSE_CLOSE = 2, /* error: c->out holds the reply, if any; the loop sends it,
                           then closes (lingering) without reading another request */
};

struct gw_protocol {
    const char *name; /* "http", "fastcgi", "scgi", "uwsgi": in logs, listener specs */
    /* 0: one request at a time; while it runs the connection belongs to its worker
     *    (HTTP, SCGI).
     * 1: the loop keeps reading the connection while its requests run on workers
     *    (FastCGI multiplexing); workers write under the protocol's own lock. */
    int multiplexed;

    /* Loop: a connection was accepted on a listener of this protocol. Allocates the
     * protocol's per-connection state into c->proto_state. Returns 0 or GW_E*. */
    int (*conn_open)(struct gw_conn *c);
    /* Loop or worker (whoever owns c): the connection is being closed; free state. */
    void (*conn_close)(struct gw_conn *c);
    /* Loop, optional: the connection is idle between requests; free what the next
     * request can allocate again (an idle keep-alive connection should cost little). */
    void (*conn_trim)(struct gw_conn *c);

    /* The connection's owner: the loop, or for a protocol that is not multiplexed
     * the worker carrying it to its next request (gateway/carry.h). Bytes were
     * appended to c->in. Consumes what it can. On GW_PARSE_READY stores the request
     * in *req (owned by c). Must never block and touches only c and its state. */
    enum gw_parse_result (*parse)(struct gw_conn *c, struct gw_request **req);

    /* Loop, optional (multiplexed protocols): nothing more will be read from c.
     * clean = 1: the peer shut its write side (recv returned 0) but may still read:
     * fail the body reads of the requests whose input is not complete (a cut record,
     * a stream not ended); the complete ones are answered, and the loop closes c once
     * they are all back. clean = 0: the connection failed (c is broken): fail the
     * reads of every request. NULL: nothing to do (the loop owns c only between
     * requests). */
    void (*read_end)(struct gw_conn *c, int clean);

    /* Loop, optional (multiplexed protocols): a graceful stop began while c has
     * requests in flight: tell the peer no new ones will be taken (HTTP/2 GOAWAY);
     * those in flight finish. */
    void (*drain)(struct gw_conn *c);

    /* Loop: answer at once: the request could not be queued (503: pool full or
     * server stopping; r is the parsed request, never dispatched) or the head did not
     * arrive in time (408; r is NULL). Either writes the reply into c->out and returns
     * 1 (the loop sends it and closes the connection), or answers by itself and
     * returns 0 (the connection carries on: FastCGI's FCGI_OVERLOADED). */
    int (*reject)(struct gw_conn *c, struct gw_request *r, int status);
    /* Loop: answer r (parsed, never dispatched) at once with the core's own short
     * text reply of status (--health-path: 200 or 503), the body "200 OK\n" (none to
     * HEAD over HTTP). Like reject: writes it into c->out and returns 1 (the loop
     * sends it and closes the connection), or sends it by itself and returns 0 (the
     * connection carries on: FastCGI). */
    int (*answer)(struct gw_conn *c, struct gw_request *r, int status);

    /* Loop: a worker has finished r (after finish) and handed it back. Frees the
     * request's resources; returns 1 when the connection must now be closed (once
     * its other requests are back). Multiplexed protocols only; for the others the
     * core decides from r->keep. */
    int (*done)(struct gw_conn *c, struct gw_request *r);

    /* Loop, multiplexed protocols: writes the output the front-end has queued, as far
     * as the socket takes it (after gw_conn_want_write, and whenever the loop must
     * know whether any is left: it does not close c while some is). Returns 0 when
     * nothing is left, 1 when bytes remain (the loop calls again once the socket is
     * writable), or GW_E* when the connection failed. */
    int (*flush)(struct gw_conn *c);

    /* Worker side, see the gw_request_* contracts in gateway/request.h. */
    ssize_t (*read_body)(struct gw_request *r, char *buf, size_t len);
    /* Worker: frames the response head from r->resp (parsed by the core) and the
     * app's fields f[0..n) (those gw_response_keeps says); nothing is written yet:
     * the head goes out with the first body bytes or at the end. 0 or GW_E*. */
    int (*send_head)(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                     size_t n);
    /* Worker: frames body chunks (gateway/output.h; the core has already cut them to
     * what may go out) behind the pending head and writes them through the
     * connection's output queue, which never waits long for the peer. *kept (may be
     * NULL) as gw_out_write's. 0 or GW_E*. */
    int (*send_body)(struct gw_request *r, const struct gw_chunk *c, int n, int *kept);
    /* Worker: ends the response (see gw_request_finish). Returns 1 when the
     * connection may be kept for another request (handed back to the loop), 0 when
     * it must be closed. */
    int (*finish)(struct gw_request *r, int ok);

    /* Optional (NULL: the protocol has no such stream). See gw_request_send_stderr:
     * any thread, while r is alive and before finish; sends n bytes of the app's
     * error text as the front-end's error stream of r (FastCGI: FCGI_STDERR records,
     * when the configuration asks for them), or nothing when it does not. Thread-safe
     * against r's owner, the watchdog's timeout and the connection's other requests;
     * never writes after r's response has ended. Returns 0 or GW_E*. */
    int (*send_stderr)(struct gw_request *r, const char *p, size_t n);

    /* Optional (NULL: the client just sees the connection end). The watchdog thread
     * (gateway/watchdog.c), NOT the owner of r, after gw_request_claim_timeout gave it
     * the head: answers 504 at once while the worker may still be in the app (and
     * reading the body, never writing). Must be thread-safe against that worker and,
     * for a multiplexed protocol, against the connection's other requests. It ends the
     * response completely: the core never calls finish for r afterwards (FastCGI:
     * END_REQUEST goes out here, once; HTTP/SCGI: the connection is closed after the
     * 504). Returns 0 or GW_E* (the 504 could not be written). */
    int (*timeout)(struct gw_request *r);

    /* Optional (NULL: never). Worker, before the app runs r: 1 when the client has
     * already given r up (an HTTP/2 stream reset, or FastCGI's FCGI_ABORT_REQUEST or a
     * failed connection, while it waited in the queue); the app is then not run, r
     * finishes as failed with status 0 (finish(r, 0), which for an aborted FastCGI
     * request still sends its END_REQUEST) and its access line says so. Thread-safe
     * against the connection's owner. */
    int (*abandoned)(struct gw_request *r);
};

#endif
