/*
 * The request timeout (--timeout, --timeout-grace) and the slow log (--slow-log): one
 * watchdog thread per process, started only when either is on, watching one slot per
 * worker thread.
 *
 * A request's time starts when a worker takes it (r->t_worker). At
 * t_worker + timeout the watchdog answers 504 itself if the head has not gone out
 * (through the front-end's timeout callback, see gateway/protocol.h) and asks the
 * interrupter thread to raise the app's timeout exception in the worker thread
 * (gw_app.interrupt; that needs the GIL, which the watchdog itself never takes, so a
 * GIL held forever cannot stop 504s or the stuck detection). A thread still in the
 * app timeout_grace seconds later is "stuck": logged once as an error and, with
 * processes > 1, the process is abandoned (on_stuck: the server's abandon) so the master
 * replaces it.
 *
 * At t_worker + slow_log the same interrupter thread reads the worker's stack through
 * gw_app.stack and logs it with the request line at warning level, once per request
 * (before a timeout's interrupt when both are due), and counts it in the metrics.
 *
 * Lock order: watchdog.lock is a leaf, taken with or without the GIL (the confirm
 * callback runs under the GIL), never held while taking the GIL or another lock.
 */
#ifndef GW_WATCHDOG_H
#define GW_WATCHDOG_H

struct gw_app;
struct gw_config;
struct gw_request;
struct gw_watchdog;

/* Starts the watchdog (and its interrupter thread) for nslots worker threads, with
 * cfg->timeout > 0 or cfg->slow_log > 0. With cfg->processes > 1, a stuck thread
 * calls on_stuck(ctx) from the watchdog thread (each time one is found). Returns NULL
 * with a logged error when it cannot. */
struct gw_watchdog *gw_watchdog_start(const struct gw_app *app, const struct gw_config *cfg,
                                      int nslots, void (*on_stuck)(void *ctx), void *ctx);

/* Worker slot: r (stamped r->t_worker) runs from now on, on the thread whose app
 * context is tctx. Marks r watched (with --timeout) and resets its head claim. */
void gw_watchdog_enter(struct gw_watchdog *w, int slot, struct gw_request *r, void *tctx);

/* Worker slot: its request is over (after gw_request_finish, before the hand-back). */
void gw_watchdog_leave(struct gw_watchdog *w, int slot);

/* Stops both threads and frees w; call after the workers have been joined. */
void gw_watchdog_stop(struct gw_watchdog *w);

#endif
