/*
 * Stopping, on the loop thread: the stop signals (SIGTERM and SIGINT begin the
 * --drain-delay or the graceful stop, SIGQUIT ends the process at once, SIGUSR2 marks
 * a prefork worker as draining), the graceful stop itself (gw_server_stop: listeners
 * closed unless a reload's bridge took them, idle connections closed, the others
 * bounded by --graceful-timeout), and abandoning a process whose request thread is
 * stuck (the pool's stuck hook, the only function here another thread calls).
 *
 * Invariants: s->stopping and s->draining only ever go from 0 to 1; once stopping,
 * the loop ends as soon as no connection is left (gw_srv_check_done), or the process
 * exits at the --graceful-timeout deadline without joining the workers.
 */
#include "gateway/server.h"
#include "gateway/server_internal.h"

#include <signal.h>
#include <stddef.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/protocol.h"

void gw_srv_stop_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    gw_log(GW_LOG_WARNING,
           "graceful timeout (%.0f s): %zu requests still in flight are abandoned; exiting",
           s->cfg->graceful_timeout, s->ndispatched);
    _exit(0); /* the workers cannot be joined: one of them may never return */
}

/* A stop begins: every hand-back from now on wakes the loop, to close its connection,
 * and those left quietly before are taken in this turn of the loop. */
static void no_more_quiet(struct gw_server *s)
{
    gw_srv_set_quiet(s, 0);
    ev_feed_event(s->loop, &s->wake, EV_ASYNC);
}

void gw_server_stop(struct gw_server *s, const char *why)
{
    if (s->stopping)
        return;
    gw_log(GW_LOG_INFO, "%s: stopping gracefully (%zu requests in flight)", why, s->ndispatched);
    s->stopping = 1;
    s->draining = 1;
    no_more_quiet(s);
    ev_timer_stop(s->loop, &s->drain_timer);
    __atomic_store_n(&s->host.draining, 1, __ATOMIC_RELAXED);
    gw_srv_listeners_watch(s, 0);
    ev_timer_stop(s->loop, &s->accept_pause);
    ev_timer_stop(s->loop, &s->hold_timer);
    ev_timer_stop(s->loop, &s->rss_timer);
    ev_timer_stop(s->loop, &s->trim_timer);
    if (!s->handed_over) /* else the reload hook hands them on again */
        for (size_t i = 0; i < s->nlisteners; i++)
            gw_listener_close(&s->listeners[i]);
    /* Connections idle between requests are closed now. One that was accepted but
     * has not completed its first request still gets it served (the client could not
     * know we were stopping); its head deadline bounds the wait. */
    struct gw_conn *c = s->all;
    while (c != NULL) {
        struct gw_conn *next = c->next_all;
        int idle = c->state == GW_CONN_IDLE || c->state == GW_CONN_READING;
        if (idle && c->inflight == 0 && (c->proto->multiplexed || c->requests > 0))
            gw_srv_conn_free(s, c);
        else if (idle && c->proto->drain != NULL)
            c->proto->drain(c); /* requests in flight: tell the peer (HTTP/2 GOAWAY) */
        c = next;
    }
    if (s->nconns > 0) {
        ev_timer_set(&s->stop_deadline, s->cfg->graceful_timeout, 0.);
        ev_timer_start(s->loop, &s->stop_deadline);
    }
    gw_srv_check_done(s);
}

/* ---- abandoning the process (a request thread is stuck past --timeout-grace) ---- */

void gw_srv_abandon_exit(struct gw_server *s)
{
    size_t stuck = __atomic_load_n(&s->nstuck, __ATOMIC_RELAXED);
    gw_log(GW_LOG_ERROR,
           "exiting with status %d so that this worker process is replaced "
           "(%zu stuck, %zu requests in flight)",
           GW_EXIT_STUCK, stuck, s->ndispatched);
    /* No join (a stuck thread would never come back), no Python finalization (it
     * would wait for that thread's GIL): the kernel closes every socket. */
    _exit(GW_EXIT_STUCK);
}

static void abandon_check(struct gw_server *s)
{
    if (s->ndispatched <= __atomic_load_n(&s->nstuck, __ATOMIC_RELAXED) ||
        ev_now(s->loop) >= s->abandon_deadline)
        gw_srv_abandon_exit(s);
}

void gw_srv_abandon_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    abandon_check(w->data);
}

void gw_srv_abandon_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    if (!s->abandoning) {
        s->abandoning = 1;
        s->stopping = 1; /* no new requests, no keep-alive */
        s->draining = 1;
        no_more_quiet(s);
        __atomic_store_n(&s->host.draining, 1, __ATOMIC_RELAXED);
        gw_srv_listeners_watch(s, 0);
        ev_timer_stop(s->loop, &s->accept_pause);
        ev_timer_stop(s->loop, &s->hold_timer);
        /* Close our copies only: the master and the other workers keep listening
         * on these sockets (a unix socket's file stays). */
        for (size_t i = 0; i < s->nlisteners; i++) {
            if (s->listeners[i].fd >= 0) {
                close(s->listeners[i].fd);
                s->listeners[i].fd = -1;
            }
        }
        struct gw_conn *c = s->all;
        while (c != NULL) {
            struct gw_conn *next = c->next_all;
            if ((c->state == GW_CONN_IDLE || c->state == GW_CONN_READING ||
                 c->state == GW_CONN_HANDSHAKE || c->state == GW_CONN_PREFACE) &&
                c->inflight == 0)
                gw_srv_conn_free(s, c); /* may exit at once when nothing else is left */
            c = next;
        }
        s->abandon_deadline = ev_now(s->loop) + s->cfg->graceful_timeout;
        ev_timer_set(&s->abandon_timer, 0.1, 0.1);
        ev_timer_start(s->loop, &s->abandon_timer);
        gw_log(GW_LOG_WARNING,
               "a request thread is stuck: no longer accepting; waiting up to %.1fs for "
               "the %zu requests in flight",
               s->cfg->graceful_timeout, s->ndispatched);
    }
    abandon_check(s);
}

/*
 * The pool's stuck hook (the watchdog thread): this process cannot recover a stuck
 * request thread (prefork mode only: the master replaces it). Counts one stuck
 * request, then asks the loop to stop accepting (listeners closed, idle connections
 * closed, no more keep-alive), lets the other requests in flight finish for up to
 * cfg->graceful_timeout, and then _exit(GW_EXIT_STUCK): without joining the worker
 * threads and without finalizing Python (the stuck thread would block both).
 * Thread-safe; calling it again only counts another stuck request.
 */
void gw_srv_abandon(void *ctx)
{
    struct gw_server *s = ctx;
    __atomic_fetch_add(&s->nstuck, 1, __ATOMIC_RELAXED);
    ev_async_send(s->loop, &s->abandon_wake);
}

void gw_srv_drain_done_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    gw_server_stop(w->data, "--drain-delay over");
}

/* Draining: --health-path answers 503 while the process goes on accepting and serving
 * for --drain-delay, so that the load balancers' checks take the host out before its
 * listeners close; then the graceful stop. Without a delay, at a second stop signal,
 * or after SIGUSR2 (already out of rotation), the stop begins at once. A prefork
 * worker gets no delay of its own: its master runs it for all of them (SIGUSR2
 * first, then SIGTERM: process/master.c). */
void gw_srv_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct gw_server *s = w->data;
    const char *why = w->signum == SIGINT ? "SIGINT" : "SIGTERM";
    (void)loop;
    (void)revents;
    if (s->on_stop != NULL)
        s->on_stop(s, SIGTERM);
    if (s->cfg->drain_delay > 0 && s->cfg->processes <= 1 && !s->draining && !s->stopping) {
        s->draining = 1;
        gw_log(GW_LOG_INFO, "%s: draining for %.1fs (--drain-delay): still serving, %s%s", why,
               s->cfg->drain_delay, s->cfg->health_path != NULL ? s->cfg->health_path : "",
               s->cfg->health_path != NULL ? " answers 503" : "no --health-path to say so");
        ev_timer_set(&s->drain_timer, s->cfg->drain_delay, 0.);
        ev_timer_start(s->loop, &s->drain_timer);
        return;
    }
    gw_server_stop(s, why);
}

/* Prefork: the master's stop begins its --drain-delay. */
void gw_srv_usr2_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    if (!s->draining)
        gw_log(GW_LOG_INFO, "draining: the health path answers 503 until the stop");
    s->draining = 1;
}

void gw_srv_quit_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    if (s->on_stop != NULL)
        s->on_stop(s, SIGQUIT);
    gw_log(GW_LOG_INFO, "SIGQUIT: stopping now (%zu requests in flight abandoned)", s->ndispatched);
    _exit(0);
}
