/*
 * The event loop (libev) and everything the loop thread does: accept, read request
 * heads and hand them to the front-end's parser, dispatch ready requests to the pool,
 * write the loop's own error replies, linger before closing, keep-alive and head
 * timeouts, take connections back from workers, and the graceful stop.
 *
 * Invariants: only the loop thread runs this file (except the pool hooks hand_back and
 * abandon, and the connections' resume, which only queue work for it); a
 * connection in GW_CONN_DISPATCHED belongs to the pool: its timer is stopped and its
 * read watcher, left registered, stops at its first event without touching it;
 * the loop never calls Python. Head timeouts are absolute (set when the first byte
 * of a request arrives, never extended per byte: slowloris).
 */
#include "gateway/server.h"
#include "gateway/server_internal.h"

#include <errno.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/output.h"
#include "gateway/pool.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/status.h"
#include "gateway/tls.h"
#include "gateway/util.h"

#define KICK_SECONDS 0.0005 /* a queued request waits at most this for a stalled pool */

void gw_srv_check_done(struct gw_server *s)
{
    if (s->stopping && s->nconns == 0) {
        if (s->abandoning)
            gw_srv_abandon_exit(s); /* never returns */
        ev_break(s->loop, EVBREAK_ALL);
    }
}

void gw_srv_unfresh(struct gw_server *s, struct gw_conn *c)
{
    if (c->fresh) {
        c->fresh = 0;
        s->nfresh--;
    }
}

/* References the loop's writes are done with go back to the app side (which needs
 * its runtime lock for that): a worker releases them in one batch. */
void gw_srv_release_parked(struct gw_server *s)
{
    if (gw_out_parked() > 0)
        gw_pool_release(s->pool);
}

/* A multiplexed connection with nothing in flight: its idle limit is --keep-alive,
 * or --send-timeout while it still has output queued (the front server reads it). */
double gw_srv_idle_limit(const struct gw_server *s, const struct gw_conn *c)
{
    return ev_is_active(&c->wio) ? s->cfg->send_timeout : s->cfg->keep_alive;
}

/* Takes c off the want-write list (it is being freed). */
static void unqueue_write(struct gw_server *s, struct gw_conn *c)
{
    pthread_mutex_lock(&s->back_lock);
    for (struct gw_conn **pp = &s->write_head; c->write_queued && *pp != NULL;
         pp = &(*pp)->next_write) {
        if (*pp == c) {
            *pp = c->next_write;
            c->write_queued = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->back_lock);
}

void gw_srv_conn_free(struct gw_server *s, struct gw_conn *c)
{
    gw_srv_unfresh(s, c);
    if (c->write_queued) /* only the loop's own records queue it while no request runs */
        unqueue_write(s, c);
    ev_io_stop(s->loop, &c->wio);
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
    if (c->proto->conn_close)
        c->proto->conn_close(c);
    gw_out_drop(&c->send); /* before the close: see gateway/output.h */
    gw_spool_close(&c->spool);
    if (c->tr->close)
        c->tr->close(c); /* TLS: close_notify if healthy, then the session goes */
    close(c->fd);
    gw_srv_release_parked(s); /* what the queues just dropped (c->send, a FastCGI request's) */
    if (c->prev_all)
        c->prev_all->next_all = c->next_all;
    else
        s->all = c->next_all;
    if (c->next_all)
        c->next_all->prev_all = c->prev_all;
    free(c->in.data);
    free(c->out.data);
    free(c);
    s->nconns--;
    __atomic_store_n(&s->open_conns, s->nconns, __ATOMIC_RELAXED);
    gw_srv_check_done(s);
}

void gw_srv_set_timer(struct gw_server *s, struct gw_conn *c, double after)
{
    ev_timer_stop(s->loop, &c->timer);
    ev_timer_set(&c->timer, after > 0 ? after : 0.001, 0.);
    ev_timer_start(s->loop, &c->timer);
}

/* Watches c for events. ev_io_set only when they change: libev then asks the kernel
 * again (epoll_ctl) even for the same events, and a watcher stopped and started
 * again within one loop iteration costs no system call at all. */
void gw_srv_set_io(struct gw_server *s, struct gw_conn *c, int events)
{
    if ((c->io.events & (EV_READ | EV_WRITE)) != events) {
        ev_io_stop(s->loop, &c->io);
        ev_io_set(&c->io, c->fd, events);
    }
    ev_io_start(s->loop, &c->io);
}

/* Watches c for what its transport waits for after a GW_EAGAIN (want: c->rd_wait or
 * c->wr_wait), or for own when it named nothing. No system call when the watch does
 * not change (always, on a plain socket). */
void gw_srv_watch(struct gw_server *s, struct gw_conn *c, unsigned char want, int own)
{
    int ev = want == GW_WAIT_READ ? EV_READ : want == GW_WAIT_WRITE ? EV_WRITE : own;
    if (!ev_is_active(&c->io) || (c->io.events & (EV_READ | EV_WRITE)) != ev)
        gw_srv_set_io(s, c, ev);
}

/* c is read on the loop: when its transport already holds bytes (TLS records read
 * ahead), the socket may never become readable for them, so the read is run again in
 * this loop iteration. */
void gw_srv_read_again_if_held(struct gw_server *s, struct gw_conn *c)
{
    if ((c->state == GW_CONN_IDLE || c->state == GW_CONN_READING) && ev_is_active(&c->io) &&
        gw_conn_tr_pending(c))
        ev_feed_event(s->loop, &c->io, EV_READ);
}

/* A request refused by the front-end's parser (on the loop or a carrying worker)
 * counts in the metrics like one the app answered: by its status class. */
void gw_srv_count_refusal(struct gw_conn *c)
{
    if (c->reply_status != 0)
        gw_stats_note_reject(c->proto->name, c->reply_status);
    c->reply_status = 0;
}

void gw_srv_start_idle(struct gw_server *s, struct gw_conn *c, double timeout)
{
    c->state = GW_CONN_IDLE;
    if (c->inflight == 0)
        gw_conn_trim(c);
    gw_srv_set_io(s, c, EV_READ);
    gw_srv_set_timer(s, c, timeout);
    gw_srv_read_again_if_held(s, c);
}

/* A dead connection with requests still on workers: stop reading, make their
 * writes fail fast, and free it when the last one comes back. */
void gw_srv_close_when_idle(struct gw_server *s, struct gw_conn *c)
{
    if (c->inflight == 0) {
        gw_srv_conn_free(s, c);
        return;
    }
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
    shutdown(c->fd, SHUT_RDWR);
    c->state = GW_CONN_CLOSING;
}

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

/* Returns 1 when the connection is still the loop's to read (multiplexed). */
static int dispatch(struct gw_server *s, struct gw_conn *c, struct gw_request *r)
{
    if (s->cfg->health_path != NULL && c->proto->answer != NULL &&
        is_health(s->cfg->health_path, r))
        return answer_health(s, c, r);
    r->t_head = gw_now_ns();
    int queued = gw_pool_submit(s->pool, r);
    if (queued == 1 && !ev_is_active(&s->kick))
        ev_timer_again(s->loop, &s->kick);
    if (queued < 0) {
        gw_log(GW_LOG_WARNING, "%s: request queue full, refusing a request", c->listener->spec);
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
         * after the hand-back, costs the kernel's interest list no change. */
        c->state = GW_CONN_DISPATCHED;
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
    if (gw_conn_reserve(c, 4096) != 0) {
        gw_srv_conn_free(s, c);
        return;
    }
    ssize_t n = c->tr->read(c, c->in.data + c->in.end, c->in.cap - c->in.end);
    if (n == GW_EAGAIN) {
        gw_srv_watch(s, c, c->rd_wait, EV_READ);
        return;
    }
    if (n > 0) {
        c->in.end += (size_t)n;
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

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    /* The lists are taken whole; each connection stays marked queued (so nobody links
     * it again) until its link has been read under the lock. */
    pthread_mutex_lock(&s->back_lock);
    struct gw_request *r = s->back_head;
    struct gw_conn *c = s->resume_head, *wr = s->write_head;
    s->back_head = s->back_tail = NULL;
    s->resume_head = s->write_head = NULL;
    pthread_mutex_unlock(&s->back_lock);
    /* Writes first: whoever asked still owns a request of the connection (or is this
     * loop, which frees a connection only after taking it off the list). */
    while (wr != NULL) {
        pthread_mutex_lock(&s->back_lock);
        struct gw_conn *next = wr->next_write;
        wr->write_queued = 0;
        pthread_mutex_unlock(&s->back_lock);
        gw_srv_mux_write(s, wr);
        wr = next;
    }
    /* Then resumes: their connections are alive (a request of theirs is in flight or
     * was just handed back behind them on the other list). */
    while (c != NULL) {
        pthread_mutex_lock(&s->back_lock);
        struct gw_conn *next = c->next_resume;
        c->resume_queued = 0;
        pthread_mutex_unlock(&s->back_lock);
        if (c->paused && c->state != GW_CONN_CLOSING && c->state != GW_CONN_LINGERING) {
            c->paused = 0;
            ev_io_start(s->loop, &c->io);
            gw_srv_process(s, c);
        }
        c = next;
    }
    while (r != NULL) {
        struct gw_request *next = r->next_back;
        r->next_back = NULL;
        gw_srv_request_back(s, r);
        r = next;
    }
    gw_srv_balance(s);
    if (s->retire_after != 0 && s->served >= s->retire_after) {
        s->retire_after = 0; /* once, even if the reload fails */
        gw_srv_retire(s, "--max-requests reached");
    }
    gw_srv_rss_check(s);
}

/* The pool's done hook (worker thread): r goes back to the loop, which continues its
 * connection (r->keep) or closes it. */
static void hand_back(void *ctx, struct gw_request *r)
{
    struct gw_server *s = ctx;
    pthread_mutex_lock(&s->back_lock);
    r->next_back = NULL;
    if (s->back_tail)
        s->back_tail->next_back = r;
    else
        s->back_head = r;
    s->back_tail = r;
    pthread_mutex_unlock(&s->back_lock);
    ev_async_send(s->loop, &s->wake);
}

/* The connections' want_write (gw_conn_host): any thread writing for c. */
static void want_write(struct gw_conn *c)
{
    struct gw_server *s = c->srv;
    pthread_mutex_lock(&s->back_lock);
    if (!c->write_queued) {
        c->write_queued = 1;
        c->next_write = s->write_head;
        s->write_head = c;
    }
    pthread_mutex_unlock(&s->back_lock);
    ev_async_send(s->loop, &s->wake);
}

/* The connections' resume (gw_conn_host): any thread owning one of c's requests. */
static void resume(struct gw_conn *c)
{
    struct gw_server *s = c->srv;
    pthread_mutex_lock(&s->back_lock);
    if (!c->resume_queued) {
        c->resume_queued = 1;
        c->next_resume = s->resume_head;
        s->resume_head = c;
    }
    pthread_mutex_unlock(&s->back_lock);
    ev_async_send(s->loop, &s->wake);
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw_server *s = w->data;
    (void)revents;
    if (!gw_pool_kick(s->pool))
        ev_timer_stop(loop, w);
}

int gw_server_init(struct gw_server *s, const struct gw_config *cfg, struct gw_listener *listeners,
                   size_t nlisteners, struct gw_pool *pool)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->pool = pool;
    s->listeners = listeners;
    s->nlisteners = nlisteners;
    s->host.resume = resume;
    s->host.want_write = want_write;
    s->loop = ev_default_loop(EVFLAG_AUTO);
    if (s->loop == NULL) {
        gw_log(GW_LOG_CRITICAL, "cannot create the event loop");
        return -1;
    }
    pthread_mutex_init(&s->back_lock, NULL);
    ev_async_init(&s->wake, wake_cb);
    s->wake.data = s;
    ev_async_start(s->loop, &s->wake);
    ev_signal_init(&s->sig_term, gw_srv_stop_cb, SIGTERM);
    s->sig_term.data = s;
    ev_signal_start(s->loop, &s->sig_term);
    ev_signal_init(&s->sig_int, gw_srv_stop_cb, SIGINT);
    s->sig_int.data = s;
    ev_signal_start(s->loop, &s->sig_int);
    ev_signal_init(&s->sig_quit, gw_srv_quit_cb, SIGQUIT);
    s->sig_quit.data = s;
    ev_signal_start(s->loop, &s->sig_quit);
    ev_signal_init(&s->sig_hup, gw_srv_hup_cb, SIGHUP);
    s->sig_hup.data = s;
    ev_signal_start(s->loop, &s->sig_hup);
    ev_signal_init(&s->sig_usr2, gw_srv_usr2_cb, SIGUSR2);
    s->sig_usr2.data = s;
    ev_signal_start(s->loop, &s->sig_usr2);
    ev_timer_init(&s->drain_timer, gw_srv_drain_done_cb, 1., 0.);
    s->drain_timer.data = s;
    ev_timer_init(&s->fresh_timer, gw_srv_fresh_cb, 0., GW_SRV_FRESH_SECONDS);
    s->fresh_timer.data = s;
    ev_timer_init(&s->kick, kick_cb, 0., KICK_SECONDS);
    s->kick.data = s;
    ev_timer_init(&s->stop_deadline, gw_srv_stop_deadline_cb, 1., 0.);
    s->stop_deadline.data = s;
    ev_timer_init(&s->accept_pause, gw_srv_accept_pause_cb, 0.5, 0.);
    s->accept_pause.data = s;
    ev_timer_init(&s->rss_timer, gw_srv_rss_timer_cb, 1., 1.);
    s->rss_timer.data = s;
    ev_async_init(&s->abandon_wake, gw_srv_abandon_cb);
    s->abandon_wake.data = s;
    ev_async_start(s->loop, &s->abandon_wake);
    ev_timer_init(&s->abandon_timer, gw_srv_abandon_timer_cb, 0.1, 0.1);
    s->abandon_timer.data = s;
    for (size_t i = 0; i < nlisteners; i++) {
        struct gw_listener *l = &listeners[i];
        l->srv = s;
        ev_io_init(&l->io, gw_srv_accept_cb, l->fd, EV_READ);
        l->io.data = l;
    }
    gw_srv_listeners_watch(s, 1);
    return 0;
}

static size_t open_conns(void *ctx)
{
    const struct gw_server *s = ctx;
    return __atomic_load_n(&s->open_conns, __ATOMIC_RELAXED);
}

void gw_server_pool_hooks(struct gw_server *s, struct gw_pool_hooks *h)
{
    h->done = hand_back;
    h->open_conns = open_conns;
    h->stuck = gw_srv_abandon;
    h->ctx = s;
}

void gw_server_run(struct gw_server *s)
{
    /* SCHED_BATCH (as the workers, gateway/pool.c): a wake-up does not preempt the
     * thread that runs, so on a busy CPU the loop gathers every ready socket while
     * a worker drains its queue, instead of the two taking turns per request (0.14
     * context switches per hello request instead of ~1.8, ~25% more requests/s at
     * 64 connections on one CPU). The kernel's time slices still rotate them. */
    struct sched_param sp = {0};
    sched_setscheduler(0, SCHED_BATCH, &sp);
    if (s->max_rss != 0)
        ev_timer_start(s->loop, &s->rss_timer);
    ev_run(s->loop, 0);
}

void gw_server_destroy(struct gw_server *s)
{
    while (s->all != NULL)
        gw_srv_conn_free(s, s->all);
    pthread_mutex_destroy(&s->back_lock);
}
