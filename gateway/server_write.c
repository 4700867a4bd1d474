/*
 * The loop's writing and closing, on the loop thread: the loop's own error replies
 * (c->out, GW_CONN_REPLYING), the rest of a response a worker left queued for a slow
 * reader (GW_CONN_WRITING), a multiplexed front-end's queued records (its flush, the
 * want-write watcher), the lingering close, and each request handed back by a worker:
 * what its connection does next (close, linger, keep alive, read a pipelined request).
 *
 * Invariants: the loop writes a one-request connection's queued response only once its
 * worker has handed the request back (gw_srv_request_back); a multiplexed front-end's
 * records go out through its flush, under its own locks; --send-timeout is an idle
 * limit, restarted by progress; a lingering connection is only read and discarded,
 * for LINGER_SECONDS and LINGER_MAX_BYTES at most.
 */
#include "gateway/server.h"
#include "gateway/server_internal.h"

#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/output.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/stats.h"

#define LINGER_SECONDS   2.0
#define LINGER_MAX_BYTES (256 * 1024)

/* Stops writing, then reads and discards for a short while before closing, so the
 * client reads our last response instead of a reset caused by its unread bytes. */
static void linger(struct gw_server *s, struct gw_conn *c)
{
    if (gw_conn_shut_write(c) != 0) {
        gw_srv_conn_free(s, c);
        return;
    }
    c->state = GW_CONN_LINGERING;
    c->linger_bytes = 0;
    gw_srv_set_io(s, c, EV_READ);
    gw_srv_set_timer(s, c, LINGER_SECONDS);
}

/* 1 when the client has sent bytes nobody read yet (buffered or in the socket):
 * closing then would reset the connection and could destroy our last response. */
static int input_pending(struct gw_conn *c)
{
    int n = 0;
    return c->in.start < c->in.end || gw_conn_tr_pending(c) || ioctl(c->fd, FIONREAD, &n) != 0 ||
           n > 0;
}

/* Writes what is left of c->out; lingers when done. */
void gw_srv_flush_reply(struct gw_server *s, struct gw_conn *c)
{
    while (c->out.start < c->out.end) {
        struct iovec v = {c->out.data + c->out.start, c->out.end - c->out.start};
        ssize_t n = c->tr->writev(c, &v, 1);
        if (n > 0) {
            c->out.start += (size_t)n;
            continue;
        }
        if (n == GW_EAGAIN) {
            if (c->state != GW_CONN_REPLYING) {
                c->state = GW_CONN_REPLYING;
                gw_srv_set_timer(s, c, s->cfg->send_timeout);
            }
            gw_srv_watch(s, c, c->wr_wait, EV_WRITE);
            return;
        }
        gw_srv_conn_free(s, c);
        return;
    }
    linger(s, c);
}

void gw_srv_linger_read(struct gw_server *s, struct gw_conn *c)
{
    char sink[16384];
    for (;;) {
        ssize_t n = c->tr->read(c, sink, sizeof(sink));
        if (n > 0) {
            c->linger_bytes += (size_t)n;
            if (c->linger_bytes > LINGER_MAX_BYTES)
                break;
            continue;
        }
        if (n == GW_EAGAIN) {
            gw_srv_watch(s, c, c->rd_wait, EV_READ);
            return;
        }
        break;
    }
    gw_srv_conn_free(s, c);
}

/* A one-request-at-a-time connection whose response is complete (written): close it,
 * send an error reply the carry found, linger, or wait for its next request. */
static void carry_on(struct gw_server *s, struct gw_conn *c, int keep, int close_now)
{
    if (gw_conn_broken(c) || (!keep && close_now))
        gw_srv_conn_free(s, c);
    else if (c->out.start < c->out.end) {
        gw_srv_count_refusal(c); /* the worker's carry found a bad next request (carry.h) */
        gw_srv_flush_reply(s, c);
    } else if (keep && s->stopping && !input_pending(c))
        gw_srv_conn_free(s, c); /* between requests, as the idle ones at the stop */
    else if (!keep || s->stopping)
        linger(s, c);
    else {
        gw_srv_start_idle(s, c, s->cfg->keep_alive);
        gw_srv_process(s, c); /* a pipelined request may already be buffered */
    }
}

/* Writable while WRITING: more of the queued response; the rest of gw_srv_request_back when
 * it is all out. Progress restarts the --send-timeout idle limit. */
void gw_srv_write_out(struct gw_server *s, struct gw_conn *c)
{
    uint64_t before = c->send.pending;
    int rc = gw_out_flush(&c->send, 0);
    if (rc < 0) {
        gw_conn_set_broken(c);
        gw_srv_conn_free(s, c);
        return;
    }
    if (rc == GW_OUT_EMPTY) {
        gw_srv_release_parked(s);
        carry_on(s, c, c->then_keep, c->then_close_now);
        return;
    }
    if (c->send.pending < before)
        gw_srv_set_timer(s, c, s->cfg->send_timeout);
    gw_srv_watch(s, c, c->wr_wait, EV_WRITE);
}

/* A multiplexed connection whose queued output is all written: close it now if it
 * was only waiting for that. */
static void mux_finish(struct gw_server *s, struct gw_conn *c)
{
    if (c->inflight > 0 || c->state == GW_CONN_LINGERING)
        return;
    if (c->state == GW_CONN_CLOSING)
        gw_srv_conn_free(s, c);
    else if (s->stopping || c->close_after)
        linger(s, c);
}

/* Writes what a multiplexed front-end has queued for c; watches for writability
 * while some is left (with --send-timeout as the idle limit once nothing runs). */
void gw_srv_mux_write(struct gw_server *s, struct gw_conn *c)
{
    int rc = c->proto->flush ? c->proto->flush(c) : 0;
    gw_srv_release_parked(s); /* references of records written or dropped */
    if (rc < 0) {
        ev_io_stop(s->loop, &c->wio);
        gw_srv_close_when_idle(s, c);
        return;
    }
    if (rc == 1) {
        if (!ev_is_active(&c->wio))
            ev_io_start(s->loop, &c->wio);
        if (c->inflight == 0 && c->state != GW_CONN_LINGERING)
            gw_srv_set_timer(s, c, s->cfg->send_timeout);
        return;
    }
    ev_io_stop(s->loop, &c->wio);
    mux_finish(s, c);
}

void gw_srv_wio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct gw_conn *c = w->data;
    (void)loop;
    (void)revents;
    gw_srv_mux_write(c->srv, c);
}

/* One request back from its worker: continue its connection or close it. */
void gw_srv_request_back(struct gw_server *s, struct gw_request *r)
{
    struct gw_conn *c = r->conn;
    int keep = r->keep, close_now = r->close_now;
    s->ndispatched--;
    c->inflight--;
    c->requests += 1 + c->carried;
    s->served += 1 + c->carried;
    c->carried = 0;
    if (c->proto->multiplexed) {
        if (c->proto->done(c, r)) /* r is gone */
            c->close_after = 1;
        if (c->state == GW_CONN_CLOSING || s->stopping || c->close_after) {
            if (c->inflight == 0)
                gw_srv_mux_write(s, c); /* closes once what is queued is out */
            return;
        }
        if (!c->paused && (c->state == GW_CONN_IDLE || c->state == GW_CONN_READING)) {
            ev_io_start(s->loop, &c->io); /* no-op unless flow control had stopped it */
            if (!gw_srv_process(s, c))
                return;
        }
        if (c->inflight == 0 && c->state == GW_CONN_IDLE)
            gw_srv_set_timer(s, c, gw_srv_idle_limit(s, c));
        return;
    }
    c->pin = 0; /* the request is over: its slices are dead */
    if (!gw_conn_broken(c) && !gw_out_empty(&c->send)) {
        /* The worker left part of the response queued (a slow reader): the loop
         * writes it, with --send-timeout as the idle limit, then carries on. */
        c->then_keep = keep;
        c->then_close_now = close_now;
        c->state = GW_CONN_WRITING;
        gw_srv_set_io(s, c, EV_WRITE);
        gw_srv_set_timer(s, c, s->cfg->send_timeout);
        return;
    }
    carry_on(s, c, keep, close_now);
}
