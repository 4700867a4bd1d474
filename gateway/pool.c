/*
 * The worker pool. One mutex guards a ring buffer of requests; workers sleep on
 * `ready` (a futex word, see ready_wait) when it is empty. The loop thread submits
 * with a trylock-free short critical section and never waits for a worker.
 *
 * Per request a worker: stamps t_worker (where --timeout starts counting; the
 * watchdog of gateway/watchdog.c watches the worker's slot from there to after
 * finish, only when --timeout or --slow-log is set), runs app->handle (which takes the GIL
 * itself), ends the response with gw_request_finish, writes the access-log line and
 * hands the connection back to the server, or carries it on to its next request
 * (gateway/carry.h, when the server is otherwise idle). No lock is held during any
 * of that.
 * Each finished request is counted in the metrics (gateway/stats.h) just before its
 * access line; the queue depth and busy-thread gauges are kept here too.
 *
 * Lock order: pool.lock is a leaf (see gateway/server.h); the GIL is never taken while
 * it is held.
 */
#include "gateway/pool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gateway/app.h"
#include "gateway/carry.h"
#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/util.h"
#include "gateway/watchdog.h"

struct gw_pool {
    pthread_mutex_t lock;
    unsigned ready; /* atomic; moved on under the lock for every wake-up (ready_wait) */
    struct gw_request **ring;
    size_t cap, head, count;
    int stopping;
    int release_due; /* gw_pool_release was called: run app->release */
    const struct gw_app *app;
    struct gw_pool_hooks hooks;
    pthread_t *threads;
    int nthreads;           /* threads created (joined at stop) */
    int nlive, nfailed;     /* of which started the app's runtime / could not */
    pthread_cond_t started; /* a thread has said which */
    int size;               /* threads asked for: set before any starts */
    int nslots;             /* atomic: slot numbers handed to starting workers */
    int nwaiting;           /* workers asleep on `ready` (or about to be) */
    int nbusy;              /* workers between pop and their next pop */
    int nrunning;           /* workers between pop and the hand-back (gw_pool_idle) */
    uint64_t ndone;         /* requests finished (progress, for gw_pool_kick) */
    uint64_t kick_done;     /* ndone at the previous kick */
    int kick_wakes;         /* threads the next kick without progress wakes (doubles) */
    struct gw_watchdog *wd; /* --timeout, --slow-log: the request watchdog, else NULL */
};

/* Stands for "run app->release" in what pop returns. */
static struct gw_request release_job;

/*
 * The workers' sleep, with p->lock held (and held again on return). Not a condition
 * variable: glibc's pthread_cond_wait takes the mutex back marked contended, so the
 * woken worker's next unlock always makes a futex call of its own, one system call
 * more per wake-up (a third of the pool's futex calls with 16 connections posting
 * 1 MiB bodies). Here the worker reads `ready` under the lock, sleeps on that value
 * after the unlock and takes the lock as usual when woken. Whoever wakes workers
 * moves `ready` on under the lock first (ready_move), so a wake-up between this
 * unlock and the sleep makes the sleep return at once; it calls ready_wake after its
 * own unlock. A spurious return is harmless: pop looks at the queue again.
 */
static void ready_wait(struct gw_pool *p)
{
    unsigned seen = __atomic_load_n(&p->ready, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&p->lock);
    syscall(SYS_futex, &p->ready, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
    pthread_mutex_lock(&p->lock);
}

/* Under p->lock: sleepers from here on are to wake (ready_wake, after the unlock). */
static void ready_move(struct gw_pool *p)
{
    __atomic_fetch_add(&p->ready, 1, __ATOMIC_RELAXED);
}

/* Wakes up to n sleeping workers; after ready_move and the unlock. */
static void ready_wake(struct gw_pool *p, int n)
{
    syscall(SYS_futex, &p->ready, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static struct gw_request *pop(struct gw_pool *p, int was_busy)
{
    struct gw_request *r = NULL;
    pthread_mutex_lock(&p->lock);
    if (was_busy) {
        p->nbusy--;
        p->ndone++;
    }
    while (p->count == 0 && !p->stopping && !p->release_due) {
        p->nwaiting++;
        ready_wait(p);
        p->nwaiting--;
    }
    if (p->release_due) {
        p->release_due = 0;
        r = &release_job;
    } else if (p->count > 0) {
        r = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->nbusy++;
        p->nrunning++;
        gw_stats_queue_set((long)p->count);
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* One request, from taking it to its access line. */
static void run(struct gw_pool *p, int slot, void *tctx, struct gw_request *r)
{
    r->t_worker = gw_now_ns();
    gw_stats_busy_add(1);
    if (p->wd != NULL)
        gw_watchdog_enter(p->wd, slot, r, tctx);
    /* A request its client gave up while it was queued costs no app time (an HTTP/2
     * stream reset past the Rapid Reset limits must not still run the app; a FastCGI
     * request aborted by the web server neither). */
    int ok = gw_request_abandoned(r) ? 0 : p->app->handle(tctx, r);
    gw_request_finish(r, ok);
    if (p->wd != NULL)
        gw_watchdog_leave(p->wd, slot);
    /* Off the in-flight gauge before the total counts it, here and not at the hand-back
     * (which may wait for the loop's next wake-up): a reader that sees the total sees
     * the gauge agree. The request itself lives until the hand-back. */
    gw_stats_inflight_add(-1);
    gw_stats_note_request(r);
    gw_log_access(r);
    gw_stats_busy_add(-1);
}

/*
 * The keep-alive carry (gateway/carry.h): after r, the worker may take the next
 * request of r's connection itself. A pipelined one, already buffered, whenever no
 * request is queued (those came first). It waits for one only for a lone client:
 * no more connections open than threads, no other worker running a request, and
 * another one asleep, ready for whatever the loop queues meanwhile. A lone client
 * then costs one wake-up per request instead of three; a busy server, whose loop
 * gathers many ready connections per wake-up and feeds workers that are already
 * running, is left as it is. While waiting the worker does not count as busy, so
 * gw_pool_submit wakes a sleeper at once.
 */
static struct gw_request *carry(struct gw_pool *p, struct gw_request *r)
{
    if (!gw_carry_possible(r))
        return NULL;
    int buffered = gw_carry_buffered(r);
    if (!buffered && p->hooks.open_conns(p->hooks.ctx) > (size_t)p->size)
        return NULL; /* without a lock: this is the busy server's path */
    pthread_mutex_lock(&p->lock);
    int queued = p->count > 0;
    int wait = !buffered && !queued && !p->stopping && p->nbusy == 1 && p->nwaiting > 0;
    if (wait) {
        p->nbusy--;
        p->ndone++;
    }
    pthread_mutex_unlock(&p->lock);
    if (queued || (!buffered && !wait))
        return NULL;
    struct gw_request *next = gw_carry_next(r, wait ? GW_CARRY_WAIT_US : 0);
    if (wait) {
        pthread_mutex_lock(&p->lock);
        p->nbusy++;
        pthread_mutex_unlock(&p->lock);
    }
    return next;
}

static void *worker_main(void *arg)
{
    struct gw_pool *p = arg;
    struct sched_param sp = {0};
    sched_setscheduler(0, SCHED_BATCH, &sp); /* see gw_server_run */
    void *tctx = p->app->thread_start ? p->app->thread_start(p->app->ctx) : NULL;
    int failed = p->app->thread_start && tctx == NULL;
    pthread_mutex_lock(&p->lock);
    if (failed)
        p->nfailed++;
    else
        p->nlive++;
    pthread_cond_signal(&p->started);
    pthread_mutex_unlock(&p->lock);
    if (failed) {
        gw_log(GW_LOG_CRITICAL, "worker thread could not start the application runtime");
        return NULL;
    }
    struct gw_request *r;
    int slot = __atomic_fetch_add(&p->nslots, 1, __ATOMIC_RELAXED);
    int was_busy = 0;
    gw_stats_threads_add(1);
    while ((r = pop(p, was_busy)) != NULL) {
        if (r == &release_job) {
            if (p->app->release)
                p->app->release(tctx);
            was_busy = 0;
            continue;
        }
        was_busy = 1;
        for (int carried = 0;; carried++) {
            run(p, slot, tctx, r);
            struct gw_request *next = carried < GW_CARRY_MAX ? carry(p, r) : NULL;
            if (next == NULL)
                break;
            r = next;
        }
        pthread_mutex_lock(&p->lock); /* before the hand-back: gw_pool_idle sees it */
        p->nrunning--;
        pthread_mutex_unlock(&p->lock);
        p->hooks.done(p->hooks.ctx, r);
    }
    gw_stats_threads_add(-1);
    if (p->app->thread_stop)
        p->app->thread_stop(tctx);
    return NULL;
}

struct gw_pool *gw_pool_start(const struct gw_app *app, const struct gw_config *cfg,
                              const struct gw_pool_hooks *hooks, int nthreads, size_t queue_cap)
{
    struct gw_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto fail;
    p->ring = calloc(queue_cap, sizeof(*p->ring));
    p->threads = calloc((size_t)nthreads, sizeof(*p->threads));
    if (p->ring == NULL || p->threads == NULL)
        goto fail;
    p->cap = queue_cap;
    p->size = nthreads;
    p->app = app;
    p->hooks = *hooks;
    p->kick_wakes = 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->started, NULL);
    if (cfg->timeout > 0 || cfg->slow_log > 0) {
        p->wd = gw_watchdog_start(app, cfg, nthreads, hooks->stuck, hooks->ctx);
        if (p->wd == NULL) {
            pthread_cond_destroy(&p->started);
            pthread_mutex_destroy(&p->lock);
            goto fail;
        }
    }
    for (int i = 0; i < nthreads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker_main, p);
        if (rc != 0) {
            gw_log(GW_LOG_ERROR, "cannot start worker thread %d: %s", i, strerror(rc));
            break;
        }
        p->nthreads++;
    }
    /* Only threads that run the app count: wait until each has said whether it does. */
    pthread_mutex_lock(&p->lock);
    while (p->nlive + p->nfailed < p->nthreads)
        pthread_cond_wait(&p->started, &p->lock);
    int live = p->nlive;
    pthread_mutex_unlock(&p->lock);
    if (live == 0) {
        gw_log(GW_LOG_CRITICAL, "no worker thread could start");
        gw_pool_stop(p);
        return NULL;
    }
    return p;
fail:
    gw_log(GW_LOG_CRITICAL, "cannot start the worker pool");
    if (p != NULL) {
        free(p->ring);
        free(p->threads);
        free(p);
    }
    return NULL;
}

int gw_pool_submit(struct gw_pool *p, struct gw_request *r)
{
    int rc = -1;
    pthread_mutex_lock(&p->lock);
    if (p->count < p->cap && !p->stopping) {
        p->ring[(p->head + p->count) % p->cap] = r;
        p->count++;
        gw_stats_queue_set((long)p->count);
        rc = 0;
        /* A worker that is running a request takes this one when it is done: waking
         * a sleeping one now would only make it wait for the GIL. gw_pool_kick wakes
         * one if the busy ones make no progress. */
        rc = p->nbusy == 0 ? 0 : 1;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int gw_pool_wake(struct gw_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int wake = p->nbusy == 0 && p->count > 0 && p->nwaiting > 0;
    int more = p->count > (size_t)wake && p->nwaiting > wake;
    if (wake)
        ready_move(p);
    pthread_mutex_unlock(&p->lock);
    /* After the unlock: a worker woken while the lock is held (the loop preempted by
     * the wake-up on a shared CPU) would run only to block on the lock at once. */
    if (wake)
        ready_wake(p, 1);
    return more;
}

int gw_pool_idle(struct gw_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int idle = p->nlive - p->nrunning - (int)p->count;
    pthread_mutex_unlock(&p->lock);
    return idle;
}

int gw_pool_kick(struct gw_pool *p)
{
    int more, wake = 0;
    pthread_mutex_lock(&p->lock);
    if (p->count > 0 && p->nwaiting > 0 && p->ndone == p->kick_done) {
        /* No progress: the running requests block (or compute long). Each such kick
         * in a row wakes twice as many as the one before, so that a burst of requests
         * that all block (256 clients of a slow app arriving at once) has its threads
         * within a few kicks, not one a kick. */
        wake = p->kick_wakes;
        if (wake > (int)p->count)
            wake = (int)p->count;
        if (wake > p->nwaiting)
            wake = p->nwaiting;
        if (p->kick_wakes < p->size)
            p->kick_wakes *= 2;
    } else {
        p->kick_wakes = 1;
    }
    p->kick_done = p->ndone;
    more = p->count > 0 && p->nwaiting > 0;
    if (wake > 0)
        ready_move(p);
    pthread_mutex_unlock(&p->lock);
    if (wake > 0) /* after the unlock, as in gw_pool_wake */
        ready_wake(p, wake);
    return more;
}

void gw_pool_release(struct gw_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int wake = !p->release_due && p->nwaiting > 0; /* else a busy worker sees it at its pop */
    p->release_due = 1;
    if (wake)
        ready_move(p);
    pthread_mutex_unlock(&p->lock);
    if (wake)
        ready_wake(p, 1);
}

void gw_pool_stop(struct gw_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    ready_move(p);
    pthread_mutex_unlock(&p->lock);
    ready_wake(p, INT_MAX);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    gw_watchdog_stop(p->wd); /* after the workers: it watches them to the end */
    pthread_cond_destroy(&p->started);
    pthread_mutex_destroy(&p->lock);
    free(p->ring);
    free(p->threads);
    free(p);
}
