/*
 * The request watchdog (gateway/watchdog.h): --timeout and --slow-log. Two threads,
 * started only with --timeout > 0 or --slow-log > 0, so a server without them pays
 * nothing:
 *
 * - the watchdog wakes every WD_TICK_NS (or sooner for the next deadline), scans the
 *   worker slots under w->lock, and for each request past its deadline claims the
 *   head (gw_request_claim_timeout) and, outside the lock, has the front-end answer
 *   504; then it queues an interrupt for the slot. Later it detects and reports
 *   stuck threads. A request past --slow-log gets its stack queued for the
 *   interrupter, once. It never takes the GIL, never blocks on the loop.
 * - the interrupter waits for queued jobs and calls app->stack (slow log first) or
 *   app->interrupt, which take the GIL (and may wait for it indefinitely behind a C
 *   call that holds it: that is why it is not the watchdog). The stack is read with
 *   the GIL held only that long, then logged without it, so the other workers lose
 *   one GIL switch, not the time of a log write.
 *
 * Lifetimes: a slot's request stays alive while slot.r points to it (the worker
 * clears it under w->lock before handing the request back), and while the watchdog
 * writes a 504 (the worker's gw_request_finish waits for the claim to settle). A
 * queued interrupt or stack names (slot, gen); gen changes at every enter and leave, and the
 * interrupt is raised only if confirm() still sees that gen with the GIL held, so it
 * never lands in a later request (python/ also drops a stale pending one when a
 * request starts).
 */
#include "gateway/watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/util.h"

#define WD_TICK_NS 100000000ull /* 0.1 s: the 504 goes out at most this late */

struct wd_slot {
    struct gw_request *r; /* the request in the app, NULL when idle */
    void *tctx;           /* the worker's app context (for interrupt) */
    uint64_t gen;         /* bumped at every enter and leave */
    uint64_t deadline;    /* t_worker + timeout (ns, CLOCK_MONOTONIC) */
    uint64_t stuck_at;    /* deadline + grace */
    int fired;            /* the deadline was handled (504 and/or interrupt queued) */
    int stuck;            /* reported stuck */
    uint64_t raise_gen;   /* an interrupt is queued for this gen (0: none) */
    uint64_t slow_at;     /* t_worker + slow_log (UINT64_MAX: off) */
    uint64_t t_worker;    /* of r, for the slow log line once r may be gone */
    int slow_done;        /* past slow_at: its stack queued (or no stack hook) */
    uint64_t stack_gen;   /* a stack is queued for this gen (0: none) */
    char slow_desc[512];  /* describe(r) when the stack was queued */
};

struct gw_watchdog {
    pthread_mutex_t lock;
    pthread_cond_t tick;  /* wakes the watchdog (stop) */
    pthread_cond_t raise; /* wakes the interrupter */
    int stopping;
    const struct gw_app *app;
    const struct gw_config *cfg;
    void (*on_stuck)(void *ctx);
    void *ctx;
    uint64_t timeout_ns, grace_ns, slow_ns; /* 0: off */
    struct wd_slot *slots;
    int nslots;
    pthread_t watch_thread, raise_thread;
    int watch_started, raise_started;
};

struct wd_confirm {
    struct gw_watchdog *w;
    int slot;
    uint64_t gen;
};

/* "METHOD URI" of r for log lines, unprintable bytes as '?', truncated. */
static void describe(const struct gw_request *r, char *buf, size_t len)
{
    size_t w = 0;
    struct gw_slice parts[2] = {r->method, r->request_uri.ptr ? r->request_uri : r->path_info};
    for (int k = 0; k < 2 && w + 1 < len; k++) {
        if (k == 1)
            buf[w++] = ' ';
        for (size_t i = 0; parts[k].ptr && i < parts[k].len && w + 1 < len && i < 200; i++) {
            unsigned char c = (unsigned char)parts[k].ptr[i];
            buf[w++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
    }
    buf[w < len ? w : len - 1] = '\0';
}

static uint64_t sec_to_ns(double s)
{
    return s <= 0 ? 0 : (uint64_t)(s * 1e9);
}

static void abs_monotonic(struct timespec *ts, uint64_t ns)
{
    ts->tv_sec = (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

/* Under the GIL, from app->interrupt: is the slot still running that request? */
static int confirm(void *arg)
{
    struct wd_confirm *k = arg;
    pthread_mutex_lock(&k->w->lock);
    int same = k->w->slots[k->slot].gen == k->gen && k->w->slots[k->slot].r != NULL;
    pthread_mutex_unlock(&k->w->lock);
    return same;
}

/* With w->lock held, slot's stack_gen set: takes the stack (without the lock) and
 * logs it with the request line. Returns with the lock held again. */
static void log_stack(struct gw_watchdog *w, int slot)
{
    struct wd_slot *sl = &w->slots[slot];
    struct wd_confirm k = {w, slot, sl->stack_gen};
    void *tctx = sl->tctx;
    uint64_t t_worker = sl->t_worker;
    char desc[sizeof(sl->slow_desc)];
    memcpy(desc, sl->slow_desc, sizeof(desc));
    sl->stack_gen = 0;
    pthread_mutex_unlock(&w->lock);
    char *stack = w->app->stack(tctx, confirm, &k); /* takes the GIL, then confirm() */
    if (stack != NULL) {
        gw_stats_note_slow();
        gw_log_lines(GW_LOG_WARNING, stack,
                     "%s: still in the app after %.1f s (--slow-log %.1f), thread %d; its "
                     "Python stack, most recent call last:",
                     desc, (double)(gw_now_ns() - t_worker) / 1e9, w->cfg->slow_log, slot);
        free(stack);
    }
    pthread_mutex_lock(&w->lock);
}

static void *raise_main(void *arg)
{
    struct gw_watchdog *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        int found = -1;
        for (int i = 0; i < w->nslots && found < 0; i++)
            if (w->slots[i].stack_gen != 0)
                found = i;
        if (found >= 0) { /* before a slot's interrupt: the stack of the slow request */
            log_stack(w, found);
            continue;
        }
        for (int i = 0; i < w->nslots && found < 0; i++)
            if (w->slots[i].raise_gen != 0)
                found = i;
        if (found < 0) {
            pthread_cond_wait(&w->raise, &w->lock);
            continue;
        }
        struct wd_confirm k = {w, found, w->slots[found].raise_gen};
        void *tctx = w->slots[found].tctx;
        w->slots[found].raise_gen = 0;
        pthread_mutex_unlock(&w->lock);
        w->app->interrupt(tctx, confirm, &k); /* takes the GIL, then confirm() */
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* One request past its deadline, claimed by the watchdog: the 504, outside the lock. */
static void answer_504(struct gw_request *r, double timeout)
{
    char desc[512];
    describe(r, desc, sizeof(desc));
    int rc = r->proto->timeout ? r->proto->timeout(r) : 0;
    r->status = 504;
    gw_log(GW_LOG_WARNING, "%s: still in the app after --timeout %.1fs: %s", desc, timeout,
           rc == 0 ? "answered 504, interrupting it" : "the 504 could not be sent");
    gw_request_timeout_done(r); /* r may be handed back from here on */
}

static void *watch_main(void *arg)
{
    struct gw_watchdog *w = arg;
    const struct gw_config *cfg = w->cfg;
    struct gw_request **claimed = calloc((size_t)w->nslots, sizeof(*claimed));
    if (claimed == NULL) {
        gw_log(GW_LOG_CRITICAL, "request timeout watchdog: out of memory; timeouts are off");
        return NULL;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        uint64_t now = gw_now_ns(), next = now + WD_TICK_NS;
        int nclaimed = 0, abandon = 0, raise = 0;
        for (int i = 0; i < w->nslots; i++) {
            struct wd_slot *sl = &w->slots[i];
            if (sl->r == NULL)
                continue;
            if (!sl->slow_done && now >= sl->slow_at) {
                sl->slow_done = 1;
                describe(sl->r, sl->slow_desc, sizeof(sl->slow_desc));
                sl->stack_gen = sl->gen;
                raise = 1;
            }
            if (!sl->slow_done && sl->slow_at < next)
                next = sl->slow_at;
            if (!sl->fired && now >= sl->deadline) {
                int c = gw_request_claim_timeout(sl->r);
                if (c < 0)
                    continue; /* a 100 Continue is being written: next tick */
                sl->fired = 1;
                if (c > 0) {
                    claimed[nclaimed++] = sl->r;
                } else {
                    char desc[512];
                    describe(sl->r, desc, sizeof(desc));
                    gw_log(GW_LOG_WARNING,
                           "%s: still in the app after --timeout %.1fs: the response "
                           "has started, interrupting it",
                           desc, cfg->timeout);
                }
                if (w->app->interrupt != NULL) {
                    sl->raise_gen = sl->gen;
                    raise = 1;
                }
            }
            if (!sl->fired && sl->deadline < next)
                next = sl->deadline;
            if (sl->fired && !sl->stuck && now >= sl->stuck_at) {
                char desc[512];
                sl->stuck = 1;
                describe(sl->r, desc, sizeof(desc));
                gw_log(GW_LOG_ERROR,
                       "request %s stuck in the app for %.1f s after its timeout; thread %d%s",
                       desc, (double)(now - sl->r->t_worker) / 1e9, i,
                       cfg->processes > 1 ? ": replacing this worker process"
                                          : ": the thread stays busy until the app returns");
                abandon |= cfg->processes > 1;
            }
            if (sl->fired && !sl->stuck && sl->stuck_at < next)
                next = sl->stuck_at;
        }
        if (raise)
            pthread_cond_signal(&w->raise);
        pthread_mutex_unlock(&w->lock);
        /* The claimed requests stay alive until gw_request_timeout_done. */
        for (int i = 0; i < nclaimed; i++)
            answer_504(claimed[i], cfg->timeout);
        if (abandon && w->on_stuck != NULL)
            w->on_stuck(w->ctx);
        pthread_mutex_lock(&w->lock);
        if (w->stopping)
            break;
        if (nclaimed == 0) {
            struct timespec ts;
            abs_monotonic(&ts, next);
            pthread_cond_timedwait(&w->tick, &w->lock, &ts);
        }
    }
    pthread_mutex_unlock(&w->lock);
    free(claimed);
    return NULL;
}

struct gw_watchdog *gw_watchdog_start(const struct gw_app *app, const struct gw_config *cfg,
                                      int nslots, void (*on_stuck)(void *ctx), void *ctx)
{
    pthread_condattr_t ca;
    struct gw_watchdog *w = calloc(1, sizeof(*w));
    if (w == NULL || nslots <= 0)
        goto fail;
    w->slots = calloc((size_t)nslots, sizeof(*w->slots));
    if (w->slots == NULL)
        goto fail;
    w->nslots = nslots;
    w->app = app;
    w->cfg = cfg;
    w->on_stuck = on_stuck;
    w->ctx = ctx;
    w->timeout_ns = sec_to_ns(cfg->timeout);
    w->grace_ns = sec_to_ns(cfg->timeout_grace);
    w->slow_ns = app->stack != NULL ? sec_to_ns(cfg->slow_log) : 0;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->tick, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&w->raise, NULL);
    int rc = pthread_create(&w->watch_thread, NULL, watch_main, w);
    if (rc == 0) {
        w->watch_started = 1;
        if (app->interrupt != NULL || w->slow_ns > 0) {
            rc = pthread_create(&w->raise_thread, NULL, raise_main, w);
            w->raise_started = rc == 0;
        }
    }
    if (rc != 0) {
        gw_log(GW_LOG_CRITICAL, "cannot start the request timeout watchdog: %s", strerror(rc));
        gw_watchdog_stop(w);
        return NULL;
    }
    return w;
fail:
    gw_log(GW_LOG_CRITICAL, "cannot allocate the request timeout watchdog");
    if (w != NULL)
        free(w->slots);
    free(w);
    return NULL;
}

void gw_watchdog_enter(struct gw_watchdog *w, int slot, struct gw_request *r, void *tctx)
{
    struct wd_slot *sl = &w->slots[slot];
    r->watched = w->timeout_ns > 0; /* the slow log alone does not race for the head */
    __atomic_store_n(&r->head_claim, GW_HEAD_OPEN, __ATOMIC_RELAXED);
    pthread_mutex_lock(&w->lock);
    sl->r = r;
    sl->tctx = tctx;
    sl->gen++;
    sl->deadline = w->timeout_ns > 0 ? r->t_worker + w->timeout_ns : UINT64_MAX;
    sl->stuck_at = w->timeout_ns > 0 ? sl->deadline + w->grace_ns : UINT64_MAX;
    sl->fired = 0;
    sl->stuck = 0;
    sl->raise_gen = 0;
    sl->slow_at = w->slow_ns > 0 ? r->t_worker + w->slow_ns : UINT64_MAX;
    sl->t_worker = r->t_worker;
    sl->slow_done = w->slow_ns == 0;
    sl->stack_gen = 0;
    pthread_mutex_unlock(&w->lock);
}

void gw_watchdog_leave(struct gw_watchdog *w, int slot)
{
    struct wd_slot *sl = &w->slots[slot];
    pthread_mutex_lock(&w->lock);
    if (sl->stuck) {
        char desc[512];
        describe(sl->r, desc, sizeof(desc));
        gw_log(GW_LOG_WARNING, "request %s: thread %d is back after %.1f s in the app", desc, slot,
               (double)(gw_now_ns() - sl->r->t_worker) / 1e9);
    }
    sl->r = NULL;
    sl->gen++;
    sl->raise_gen = 0;
    sl->stack_gen = 0;
    pthread_mutex_unlock(&w->lock);
}

void gw_watchdog_stop(struct gw_watchdog *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->tick);
    pthread_cond_broadcast(&w->raise);
    pthread_mutex_unlock(&w->lock);
    if (w->watch_started)
        pthread_join(w->watch_thread, NULL);
    if (w->raise_started)
        pthread_join(w->raise_thread, NULL);
    pthread_cond_destroy(&w->raise);
    pthread_cond_destroy(&w->tick);
    pthread_mutex_destroy(&w->lock);
    free(w->slots);
    free(w);
}
