/*
 * The event loop (libev): its set-up, run and tear-down, a connection's life on the
 * loop thread (its watchers and timer, going idle, closing when its requests are back,
 * freeing it), and the hand-offs from the workers: the hand-back, resume and
 * want-write lists a wake-up drains, the pool's hooks, the kick of a stalled pool.
 * What the loop does with a connection is split by job: server_read.c (heads,
 * dispatch, head timeouts), server_write.c (replies, queued output, lingering close,
 * requests back), server_accept.c, server_stop.c and server_retire.c.
 *
 * Invariants: only the loop thread runs the server's files (except the pool hooks
 * hand_back and gw_srv_abandon, and the connections' resume and want_write, which
 * only queue work for it under back_lock); the loop never calls Python.
 */
#include "gateway/server.h"
#include "gateway/server_internal.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/output.h"
#include "gateway/pool.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/stats.h"

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

/* libev runs this once per turn, after the callbacks of the sockets that were ready
 * and before it waits again: the requests dispatched this turn are all queued by now,
 * so one wake-up gives a worker the whole batch (hello with 64 connections: 0.04
 * context switches and 2.1 system calls per request, against 0.14 and 2.4 with a
 * wake-up at the turn's first request, which let the worker start, and run out of
 * work, while the loop was still reading). A long turn (hundreds of connections
 * ready) wakes one every GW_SRV_WAKE_BATCH requests instead (dispatch), so that
 * the worker can run while the loop still reads. */
void gw_srv_pool_wake(struct gw_server *s)
{
    s->wake_due = 0;
    if (gw_pool_wake(s->pool) && !ev_is_active(&s->kick))
        ev_timer_again(s->loop, &s->kick);
}

static void pool_wake_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    struct gw_server *s = w->data;
    if (s->wake_due > 0)
        gw_srv_pool_wake(s);
}

/* Takes what the workers handed over: the hand-back, resume and want-write lists. */
static void take_back(struct gw_server *s)
{
    /* The lists are taken whole; each connection stays marked queued (so nobody links
     * it again) until its link has been read under the lock. */
    pthread_mutex_lock(&s->back_lock);
    struct gw_request *r = s->back_head;
    struct gw_conn *c = s->resume_head, *wr = s->write_head;
    s->back_head = s->back_tail = NULL;
    s->resume_head = s->write_head = NULL;
    __atomic_store_n(&s->quiet_backs, 0, __ATOMIC_RELAXED);
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
    if (!s->stopping && !ev_is_active(&s->trim_timer))
        ev_timer_again(s->loop, &s->trim_timer);
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    take_back(w->data);
}

/* Takes the hand-backs if any were left quietly (hand_back): the check below and
 * the sweep both look. */
static void take_quiet(struct gw_server *s)
{
    if (__atomic_load_n(&s->quiet_backs, __ATOMIC_RELAXED) > 0)
        take_back(s);
}

/* After every wake-up of the loop, before the sockets' callbacks (the highest
 * priority): quiet hand-backs are taken first, so a connection whose next request
 * woke the loop is the loop's again when its callback runs. */
static void back_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    take_quiet(s);
}

/* While requests are out: a quiet hand-back whose client sends nothing more is taken
 * within GW_SRV_SWEEP_SECONDS (its keep-alive limit starts then). */
static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw_server *s = w->data;
    (void)revents;
    take_quiet(s);
    if (s->ndispatched == 0)
        ev_timer_stop(loop, w);
}

void gw_srv_set_quiet(struct gw_server *s, int on)
{
    pthread_mutex_lock(&s->back_lock);
    s->quiet_ok = on;
    pthread_mutex_unlock(&s->back_lock);
}

int gw_srv_owned_readable(struct gw_server *s, struct gw_conn *c)
{
    pthread_mutex_lock(&s->back_lock);
    int waiting = s->back_head != NULL;
    if (!waiting)
        c->loop_waits = 1;
    pthread_mutex_unlock(&s->back_lock);
    if (waiting)
        take_back(s);
    return waiting;
}

/* Worker, owning r's connection: it rests after r, a plain keep-alive connection
 * between requests with nothing buffered either way, so the loop has nothing to do
 * for it until the client sends again (which wakes the loop anyway) or a sweep. */
static int at_rest(const struct gw_request *r)
{
    struct gw_conn *c = r->conn;
    return r->keep && !c->proto->multiplexed && !gw_conn_broken(c) && gw_out_empty(&c->send) &&
           c->in.start == c->in.end && c->out.start == c->out.end && !gw_conn_tr_pending(c);
}

/* The pool's done hook (worker thread): r goes back to the loop, which continues its
 * connection (r->keep) or closes it. A connection left at rest goes back quietly,
 * without waking the loop (an eventfd write, and the loop's read of it and extra turn):
 * the client's next request wakes it and back_check_cb takes the hand-back first.
 * Not when the loop already saw that request come (c->loop_waits) or does not allow
 * it (quiet_ok: a stop, held accepts); both are read under the lock, after the loop
 * changed them under it, so either the worker sees the change or the loop sees the
 * hand-back. */
static void hand_back(void *ctx, struct gw_request *r)
{
    struct gw_server *s = ctx;
    struct gw_conn *c = r->conn;
    int quiet = at_rest(r); /* before the push: then the loop may free c */
    pthread_mutex_lock(&s->back_lock);
    r->next_back = NULL;
    if (s->back_tail)
        s->back_tail->next_back = r;
    else
        s->back_head = r;
    s->back_tail = r;
    quiet = quiet && s->quiet_ok && !c->loop_waits;
    if (quiet)
        __atomic_store_n(&s->quiet_backs, s->quiet_backs + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->back_lock);
    if (!quiet)
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
    ev_prepare_init(&s->pool_wake, pool_wake_cb);
    s->pool_wake.data = s;
    ev_prepare_start(s->loop, &s->pool_wake);
    s->quiet_ok = 1;
    ev_check_init(&s->back_check, back_check_cb);
    ev_set_priority(&s->back_check, EV_MAXPRI);
    s->back_check.data = s;
    ev_check_start(s->loop, &s->back_check);
    ev_timer_init(&s->sweep, sweep_cb, 0., GW_SRV_SWEEP_SECONDS);
    s->sweep.data = s;
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
    ev_timer_init(&s->hold_timer, gw_srv_hold_cb, GW_SRV_HOLD_SECONDS, 0.);
    s->hold_timer.data = s;
    ev_timer_init(&s->rss_timer, gw_srv_rss_timer_cb, 1., 1.);
    s->rss_timer.data = s;
    ev_timer_init(&s->trim_timer, gw_srv_trim_timer_cb, 0., GW_SRV_TRIM_SECONDS);
    s->trim_timer.data = s;
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
     * 64 connections on one CPU; pool_wake_cb then took it to 0.04). The kernel's
     * time slices still rotate them. */
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
