/*
 * The loop's reading, on the loop thread: a connection's read watcher (the preface, the
 * transport's handshake, request heads one read per wake-up), the front-end's parser
 * run over the buffered bytes and its verdicts acted on, a ready request dispatched to
 * the pool (or, for --health-path, answered here: 200, or 503 while draining), and the
 * connection timer's head, preface, handshake and idle limits.
 *
 * Invariants: head timeouts are absolute (set when the first byte of a request
 * arrives, never extended per byte: slowloris); once dispatched, a one-request
 * connection (GW_CONN_DISPATCHED) belongs to the pool: its timer is stopped and its
 * read watcher, left registered, stops at its first event without touching it.
 */
#include "gateway/server.h"
#include "gateway/server_internal.h"

#include <string.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/util.h"

/* 1 when r asks for --health-path: the path of the raw target (REQUEST_URI, without
 * its query), or SCRIPT_NAME + PATH_INFO (absolute-form targets, a front server that
 * sends no REQUEST_URI). */
static int is_health(const char *hp, const struct gw_request *r)
{
    size_t n = strlen(hp), plen = 0;
    struct gw_slice u = r->request_uri, sn = r->script_name, pi = r->path_info;
    while (u.ptr != NULL && plen < u.len && u.ptr[plen] != '?' && u.ptr[plen] != '#')
        plen++;
    if (u.ptr != NULL && plen == n && memcmp(u.ptr, hp, n) == 0)
        return 1;
    return sn.len + pi.len == n && (sn.len == 0 || memcmp(hp, sn.ptr, sn.len) == 0) &&
           (pi.len == 0 || memcmp(hp + sn.len, pi.ptr, pi.len) == 0);
}

/* --health-path: answered here on the loop, whatever the workers are doing: 200 while
 * serving, 503 once draining. Returns as dispatch. */
static int answer_health(struct gw_server *s, struct gw_conn *c, struct gw_request *r)
{
    int status = s->draining ? 503 : 200;
    gw_srv_unfresh(s, c);
    if (c->proto->answer(c, r, status)) {
        gw_srv_count_refusal(c);
        ev_timer_stop(s->loop, &c->timer);
        gw_srv_flush_reply(s, c);
        return 0;
    }
    gw_stats_note_reject(c->proto->name, status); /* answered without c->out (FastCGI) */
    if (c->close_after) {
        if (c->inflight == 0)
            gw_srv_mux_write(s, c); /* closes once the answer is out */
        return 0;
    }
    return c->proto->multiplexed;
}

/* At most one warning a second while the queue stays full; the refusals between are
 * counted into the next line (and each is in /metrics): a flood of 503s must not
 * become a flood of log lines. */
static void log_queue_full(struct gw_server *s, const struct gw_conn *c)
{
    ev_tstamp now = ev_now(s->loop);
    if (s->full_logged > 0 && now - s->full_logged < 1.0) {
        s->full_unlogged++;
        return;
    }
    if (s->full_unlogged > 0)
        gw_log(GW_LOG_WARNING,
               "%s: request queue full, refusing a request (and %llu more since "
               "the last such line)",
               c->listener->spec, (unsigned long long)s->full_unlogged);
    else
        gw_log(GW_LOG_WARNING, "%s: request queue full, refusing a request", c->listener->spec);
    s->full_logged = now;
    s->full_unlogged = 0;
}

/* Returns 1 when the connection is still the loop's to read (multiplexed). */
static int dispatch(struct gw_server *s, struct gw_conn *c, struct gw_request *r)
{
    if (s->cfg->health_path != NULL && c->proto->answer != NULL &&
        is_health(s->cfg->health_path, r))
        return answer_health(s, c, r);
    r->t_head = gw_now_ns();
    /* c->requests counts those handed back; a multiplexed connection's others are in
     * flight (a one-at-a-time connection has none then, nor carried ones) */
    r->conn_seq = c->requests + c->inflight + 1;
    c->loop_waits = 0; /* before the submit: the pool's lock orders it before the worker */
    int queued = gw_pool_submit(s->pool, r);
    /* The wake-up waits for the end of the loop's turn (pool_wake_cb), or for
     * GW_SRV_WAKE_BATCH requests in a long one. */
    if (queued == 0 && ++s->wake_due >= GW_SRV_WAKE_BATCH)
        gw_srv_pool_wake(s);
    if (queued == 1 && !ev_is_active(&s->kick))
        ev_timer_again(s->loop, &s->kick);
    if (queued < 0) {
        log_queue_full(s, c);
        if (c->proto->reject(c, r, 503)) {
            gw_srv_count_refusal(c);
            ev_timer_stop(s->loop, &c->timer);
            gw_srv_flush_reply(s, c);
            return 0;
        }
        gw_stats_note_reject(c->proto->name, 503); /* answered without c->out (FastCGI) */
        return c->proto->multiplexed;
    }
    c->inflight++;
    s->ndispatched++;
    gw_stats_inflight_add(1);
    gw_srv_unfresh(s, c);
    gw_srv_balance(s);
    ev_timer_stop(s->loop, &c->timer);
    if (!c->proto->multiplexed) {
        /* The read watcher stays registered: it is stopped at its first event while
         * the worker owns c (gw_srv_conn_io_cb), so the usual request, whose next one comes
         * after the hand-back, costs the kernel's interest list no change. That event
         * is also what takes a quiet hand-back (server.c, hand_back), or the sweep. */
        c->state = GW_CONN_DISPATCHED;
        if (!ev_is_active(&s->sweep))
            ev_timer_again(s->loop, &s->sweep);
        return 0;
    }
    c->state = GW_CONN_IDLE; /* reading the next request; no idle limit while busy */
    return 1;
}

/* Runs the parser over the buffered bytes and acts on its verdicts. Returns 1 when c
 * is still the loop's; 0 when it may be gone (a reply sent, after which a reset peer
 * frees it at once) or a worker's: the caller must not touch it then. */
int gw_srv_process(struct gw_server *s, struct gw_conn *c)
{
    for (;;) {
        struct gw_request *r = NULL;
        if (c->in.start == c->in.end && !c->parse_again)
            break;
        if (c->state == GW_CONN_IDLE) {
            c->state = GW_CONN_READING;
            c->head_deadline = ev_now(s->loop) + s->cfg->read_timeout;
            gw_srv_set_timer(s, c, s->cfg->read_timeout);
        }
        enum gw_parse_result rc = c->proto->parse(c, &r);
        if (rc == GW_PARSE_MORE)
            break;
        if (rc == GW_PARSE_CLOSE) {
            gw_srv_count_refusal(c);
            if (c->inflight > 0) {
                gw_srv_close_when_idle(s, c);
                return 0;
            }
            ev_timer_stop(s->loop, &c->timer);
            gw_srv_flush_reply(s, c);
            return 0;
        }
        if (!dispatch(s, c, r))
            return 0;
    }
    /* A multiplexed front-end pauses reading while a worker is behind on a body. */
    if (c->proto->multiplexed) {
        if (c->paused)
            ev_io_stop(s->loop, &c->io);
        if (c->state == GW_CONN_READING && c->at_rest) {
            /* Whole records only, no request head half-read: between requests again.
             * An idle kept connection (FCGI_KEEP_CONN, pooled by the front server)
             * then ends at --keep-alive, silently, not at the head's deadline. */
            c->state = GW_CONN_IDLE;
            if (c->inflight == 0)
                gw_srv_set_timer(s, c, gw_srv_idle_limit(s, c));
        }
        if (c->state == GW_CONN_IDLE && c->inflight > 0)
            ev_timer_stop(s->loop, &c->timer);
    }
    return 1;
}

/* One read per wake-up (level-triggered), so the parser sees every piece and its
 * limits bound the buffer. */
static void read_head(struct gw_server *s, struct gw_conn *c)
{
    ssize_t n;
    if (c->in.cap == 0) { /* released between requests: keep only what comes */
        n = c->tr->read(c, s->scratch, sizeof(s->scratch));
        if (n > 0 && gw_conn_in_adopt(c, s->scratch, (size_t)n) != 0) {
            gw_srv_conn_free(s, c);
            return;
        }
    } else {
        if (gw_conn_reserve(c, GW_CONN_READ_SIZE) != 0) {
            gw_srv_conn_free(s, c);
            return;
        }
        n = c->tr->read(c, c->in.data + c->in.end, c->in.cap - c->in.end);
        if (n > 0)
            c->in.end += (size_t)n;
    }
    if (n == GW_EAGAIN) {
        gw_srv_watch(s, c, c->rd_wait, EV_READ);
        return;
    }
    if (n > 0) {
        if (c->body_wait) /* body bytes: an idle limit, not the head's deadline */
            c->head_deadline = ev_now(s->loop) + s->cfg->read_timeout;
        gw_srv_watch(s, c, GW_WAIT_OWN, EV_READ);
        if (gw_srv_process(s, c))
            gw_srv_read_again_if_held(s, c);
        return;
    }
    /* EOF or error: nothing more will be read. A multiplexed front-end fails the
     * reads of the requests still waiting for input (all of them on an error). */
    int clean = n == 0;
    if (!clean)
        gw_conn_set_broken(c);
    if (c->proto->read_end)
        c->proto->read_end(c, clean);
    if (clean && (c->inflight > 0 || ev_is_active(&c->wio))) {
        /* A half-close: the peer reads on (uWSGI and libfcgi answer it too), so
         * the requests in flight are answered, and what is queued is written,
         * before the close (gw_srv_mux_write closes it then). */
        ev_io_stop(s->loop, &c->io);
        if (c->inflight > 0)
            ev_timer_stop(s->loop, &c->timer);
        c->state = GW_CONN_CLOSING;
        return;
    }
    gw_srv_close_when_idle(s, c);
}

/* The transport's handshake (TLS), as far as it goes; then the connection waits
 * for its first request like a plain one just accepted. A peer that is no client of
 * the transport (plain HTTP, garbage) is closed: the transport logged why. */
static void handshake(struct gw_server *s, struct gw_conn *c)
{
    int rc = c->tr->handshake(c);
    if (rc == GW_EAGAIN) {
        gw_srv_watch(s, c, c->rd_wait, EV_READ);
        return;
    }
    if (rc < 0) {
        gw_srv_conn_free(s, c);
        return;
    }
    gw_srv_start_idle(s, c, s->cfg->read_timeout);
}

/* The listener's preface (a PROXY protocol header), read before anything else;
 * then the handshake, if the transport has one, under the same deadline from the
 * accept, or the first request. Bytes the preface read that belong to the request
 * stay in c->in: the socket still holds the rest of them, so the read follows. */
static void preface(struct gw_server *s, struct gw_conn *c)
{
    int rc = c->listener->preface(c);
    if (rc == GW_EAGAIN) {
        gw_srv_watch(s, c, GW_WAIT_OWN, EV_READ);
        return;
    }
    if (rc < 0) {
        gw_srv_conn_free(s, c);
        return;
    }
    if (c->tr->handshake != NULL) {
        c->state = GW_CONN_HANDSHAKE;
        handshake(s, c);
        return;
    }
    gw_srv_start_idle(s, c, s->cfg->read_timeout);
}

void gw_srv_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct gw_conn *c = w->data;
    struct gw_server *s = c->srv;
    (void)loop;
    (void)revents;
    switch (c->state) {
    case GW_CONN_PREFACE:
        preface(s, c);
        break;
    case GW_CONN_HANDSHAKE:
        handshake(s, c);
        break;
    case GW_CONN_IDLE:
    case GW_CONN_READING:
        read_head(s, c);
        break;
    case GW_CONN_REPLYING:
        gw_srv_flush_reply(s, c);
        break;
    case GW_CONN_WRITING:
        gw_srv_write_out(s, c);
        break;
    case GW_CONN_LINGERING:
        gw_srv_linger_read(s, c);
        break;
    case GW_CONN_DISPATCHED:
        if (gw_srv_owned_readable(s, c))
            break; /* hand-backs taken: c may be gone */
        ev_io_stop(s->loop, &c->io);
        break;
    case GW_CONN_CLOSING:
        ev_io_stop(s->loop, &c->io);
        break;
    }
}

void gw_srv_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw_conn *c = w->data;
    struct gw_server *s = c->srv;
    (void)loop;
    (void)revents;
    if (c->state == GW_CONN_READING) {
        double left = c->head_deadline - ev_now(s->loop);
        if (left > 0.01) {
            gw_srv_set_timer(s, c, left);
            return;
        }
        char peer[64];
        gw_log(GW_LOG_INFO, "%s: %s: request head not complete within %.1fs, closing",
               c->listener->spec, gw_conn_peer(c, peer, sizeof(peer)), s->cfg->read_timeout);
        if (c->in.end > c->in.start && c->inflight == 0) {
            c->out.start = c->out.end = 0;
            if (c->proto->reject(c, NULL, 408)) {
                gw_srv_count_refusal(c);
                c->state = GW_CONN_REPLYING;
                gw_srv_flush_reply(s, c);
                return;
            }
        }
    }
    if (c->state == GW_CONN_PREFACE) {
        char peer[64];
        gw_log(GW_LOG_INFO, "%s: %s: PROXY header not complete within %.1fs, closing",
               c->listener->spec, gw_conn_peer(c, peer, sizeof(peer)), s->cfg->read_timeout);
    }
    if (c->state == GW_CONN_HANDSHAKE) {
        char peer[64];
        gw_log(GW_LOG_INFO, "%s: %s: TLS handshake not complete within %.1fs, closing",
               c->listener->spec, gw_conn_peer(c, peer, sizeof(peer)), s->cfg->read_timeout);
        gw_stats_note_handshake(GW_STATS_HS_TIMEOUT, 0, 0);
    }
    if (c->state == GW_CONN_IDLE && c->inflight > 0)
        return; /* a busy multiplexed connection has no idle limit */
    gw_srv_close_when_idle(s, c);
}
