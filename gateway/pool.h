/*
 * The worker pool: a fixed number of threads and one bounded FIFO of requests.
 * The loop submits (never blocks: a full queue is refused at once); each worker pops
 * a request, runs the app handler, ends the response and hands the connection back
 * to the server. See the lock order in gateway/server.h.
 */
#ifndef GW_POOL_H
#define GW_POOL_H

#include <stddef.h>

struct gw_app;
struct gw_config;
struct gw_request;
struct gw_pool;

/* What the pool reports to, and asks of, whoever feeds it (gateway/server.c fills
 * one; a test can fill its own). The pool never calls anything else above it. */
struct gw_pool_hooks {
    /* Worker thread, no lock held: r is finished (response ended, counted, logged);
     * its connection goes back to the feeder. */
    void (*done)(void *ctx, struct gw_request *r);
    /* Worker thread: how many connections are open (a moment ago); the keep-alive
     * carry waits for a next request only when there are no more than threads. */
    size_t (*open_conns)(void *ctx);
    /* The watchdog thread (--timeout): a request thread is stuck past --timeout +
     * --timeout-grace and this process should be replaced (prefork only). */
    void (*stuck)(void *ctx);
    void *ctx;
};

/* Starts nthreads workers (each calls app->thread_start first), and with
 * cfg->timeout > 0 the request watchdog. hooks is copied. Returns once every thread
 * has started the app's runtime or failed to (a thread that failed has exited and
 * does not count in gw_pool_idle); NULL with a logged error when none could. */
struct gw_pool *gw_pool_start(const struct gw_app *app, const struct gw_config *cfg,
                              const struct gw_pool_hooks *hooks, int nthreads, size_t queue_cap);

/* Loop: queues a request. 0 (no worker is running: call gw_pool_wake before the loop
 * waits again), 1 (queued for a busy worker: call gw_pool_kick soon), or -1 when the
 * queue is full (answer 503). Wakes no thread itself: see gw_pool_wake. */
int gw_pool_submit(struct gw_pool *p, struct gw_request *r);

/* Loop, once per turn before it waits for sockets (and every few dozen requests in a
 * long turn): wakes a sleeping worker if requests are queued and none is running.
 * Submitting a turn's requests first and waking once after lets the worker find them
 * all (one wake-up and one sleep per turn, not per request), and spares the loop
 * being preempted mid-turn. Returns 1 when more requests wait than it woke a worker
 * for and other workers sleep: call gw_pool_kick soon (it wakes more of them while
 * the running ones make no progress, as when a batch of requests blocks in the app). */
int gw_pool_wake(struct gw_pool *p);

/* Loop: threads asleep and waiting for work beyond the requests already queued
 * (<= 0: every thread has something to do). */
int gw_pool_idle(struct gw_pool *p);

/* Loop, on a short timer while requests wait: wakes a sleeping worker if the busy
 * ones finished nothing since the last kick, twice as many at each such kick in a
 * row. Returns 1 while kicks are still due. */
int gw_pool_kick(struct gw_pool *p);

/* Any thread: asks a worker to run app->release soon (before its next request, or
 * now if one is asleep). Coalesces. */
void gw_pool_release(struct gw_pool *p);

/* Stops the workers after the queue has drained and joins them; frees the pool. */
void gw_pool_stop(struct gw_pool *p);

#endif
