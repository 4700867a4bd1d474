/*
 * Unit tests of the worker pool (gateway/pool.c) alone: no server, no Python. A fake
 * app (struct gw_app) records which request ran on which worker thread and in what
 * order, and can hold a request in the app until the test lets it go; the pool's
 * hooks record every hand-back. The requests speak the line protocol of
 * tests/unit/gateway/fake_conn.h.
 *
 * Covered: FIFO order, each request handed back once, thread_start / thread_stop once
 * per thread, a full queue refused at once, gw_pool_submit's 0 / 1, gw_pool_wake and
 * gw_pool_kick (doubling without progress), gw_pool_idle, gw_pool_stop draining the queue, the
 * keep-alive carry as the pool drives it, and with --timeout the watchdog's 504, interrupt and
 * stuck hook.
 *
 * Timing: every wait polls for something observable with a generous deadline and no
 * upper bound on time is ever asserted. Where a test shows that something does NOT
 * happen (a sleeper not woken), it first waits until the worker thread is asleep
 * (its state in /proc), then gives the wrong outcome 50 ms to show up.
 *
 * Like test_request.c the checks also run as a ThreadSanitizer program of their own
 * (tests/unit/gateway/check.h); the binary links only libwsgate.a.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "tests/unit/gateway/check.h"
#include "tests/unit/gateway/fake_conn.h"
#include "tests/unit/support.h"

#define MAX_THREADS 4
#define MAX_IDS     512
#define DEADLINE_S  20 /* for anything awaited: far beyond any normal run */

/* What the fake app does with a request (by its id). */
enum mode {
    RUN,        /* returns at once, response complete */
    HOLD,       /* stays in the app until the test opens its gate */
    UNTIL_INTR, /* stays until the watchdog's interrupt reaches its thread */
    HEAD_INTR,  /* sends its head, then as UNTIL_INTR */
    SEND_NEXT,  /* the client sends "GET <id+1>\n" on world.peer, then returns */
};

struct worker {
    int index;
    pid_t tid;
    int stopped;     /* thread_stop calls */
    int interrupted; /* an interrupt confirmed, not yet taken by the app */
};

static struct world {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* broadcast at every change of the fields below */
    struct gw_pool *pool;
    struct gw_app app;
    struct gw_pool_hooks hooks;
    struct gw_config cfg;
    struct fake_conn conn; /* the connection of reqs[]: not kept, no carry */
    struct fake_req reqs[MAX_IDS];
    int peer; /* SEND_NEXT writes here */

    struct worker workers[MAX_THREADS];
    int nstarted, nstopped;
    int fail_starts;   /* the first this many thread_start calls fail */
    size_t open_conns; /* what the hook answers */
    int nstuck;
    void *stuck_ctx;
    int ninterrupts, nconfirmed;

    enum mode mode[MAX_IDS];
    int gate[MAX_IDS];       /* HOLD: 1 lets it go */
    int entered[MAX_IDS];    /* handle began */
    int handled_by[MAX_IDS]; /* worker index */
    int done_by[MAX_IDS];
    int ndone[MAX_IDS];
    int head_rc[MAX_IDS]; /* HEAD_INTR: what send_head returned */
    int order[MAX_IDS];   /* ids in the order handle ran them */
    int norder, ndone_total;
    int idle_at_done; /* gw_pool_idle in the last done hook */
} world;

static __thread int cur_worker = -1;

/* ------------------------------------------------------------------ the fakes */

static void *app_thread_start(void *ctx)
{
    struct world *w = ctx;
    pthread_mutex_lock(&w->lock);
    if (w->fail_starts > 0) {
        w->fail_starts--;
        pthread_mutex_unlock(&w->lock);
        return NULL;
    }
    struct worker *k = &w->workers[w->nstarted];
    k->index = w->nstarted++;
    k->tid = gettid();
    cur_worker = k->index;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    return k;
}

static void app_thread_stop(void *tctx)
{
    struct worker *k = tctx;
    pthread_mutex_lock(&world.lock);
    k->stopped++;
    world.nstopped++;
    pthread_cond_broadcast(&world.changed);
    pthread_mutex_unlock(&world.lock);
}

static int app_handle(void *tctx, struct gw_request *r)
{
    struct world *w = &world;
    struct worker *k = tctx;
    int id = fake_req_of(r)->id;
    CHECK(id >= 0 && id < MAX_IDS, "request id %d", id);
    CHECK(k == &w->workers[cur_worker], "handle got another thread's context");
    pthread_mutex_lock(&w->lock);
    w->entered[id]++;
    w->handled_by[id] = k->index;
    w->order[w->norder++] = id;
    enum mode mode = w->mode[id];
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);

    if (mode == HEAD_INTR) {
        int rc = gw_request_send_head(r, GW_SLICE_LIT("200 OK"), NULL, 0);
        pthread_mutex_lock(&w->lock);
        w->head_rc[id] = rc;
        pthread_mutex_unlock(&w->lock);
    }
    if (mode == SEND_NEXT) {
        char line[32];
        int n = snprintf(line, sizeof(line), "GET %d\n", id + 1);
        CHECK(send(w->peer, line, (size_t)n, MSG_NOSIGNAL) == n, "send to the peer");
    }
    pthread_mutex_lock(&w->lock);
    while (mode == HOLD && !w->gate[id])
        pthread_cond_wait(&w->changed, &w->lock);
    while ((mode == UNTIL_INTR || mode == HEAD_INTR) && !k->interrupted)
        pthread_cond_wait(&w->changed, &w->lock);
    k->interrupted = 0;
    pthread_mutex_unlock(&w->lock);
    return mode == RUN || mode == HOLD || mode == SEND_NEXT;
}

/* The watchdog's interrupter thread: "raises" in the worker if still confirmed. */
static void app_interrupt(void *tctx, int (*confirm)(void *arg), void *arg)
{
    struct worker *k = tctx;
    int ok = confirm(arg);
    pthread_mutex_lock(&world.lock);
    world.ninterrupts++;
    if (ok) {
        world.nconfirmed++;
        k->interrupted = 1;
    }
    pthread_cond_broadcast(&world.changed);
    pthread_mutex_unlock(&world.lock);
}

static void hook_done(void *ctx, struct gw_request *r)
{
    struct world *w = ctx;
    int id = fake_req_of(r)->id;
    int idle = gw_pool_idle(w->pool);
    pthread_mutex_lock(&w->lock);
    w->done_by[id] = cur_worker;
    w->ndone[id]++;
    w->ndone_total++;
    w->idle_at_done = idle;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

static size_t hook_open_conns(void *ctx)
{
    struct world *w = ctx;
    pthread_mutex_lock(&w->lock);
    size_t n = w->open_conns;
    pthread_mutex_unlock(&w->lock);
    return n;
}

static void hook_stuck(void *ctx)
{
    pthread_mutex_lock(&world.lock);
    world.nstuck++;
    world.stuck_ctx = ctx;
    pthread_cond_broadcast(&world.changed);
    pthread_mutex_unlock(&world.lock);
}

/* -------------------------------------------------------------- the harness */

static void world_init(void)
{
    struct world *w = &world;
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
    w->app = (struct gw_app){.thread_start = app_thread_start,
                             .thread_stop = app_thread_stop,
                             .handle = app_handle,
                             .interrupt = app_interrupt,
                             .ctx = w};
    w->hooks = (struct gw_pool_hooks){
        .done = hook_done, .open_conns = hook_open_conns, .stuck = hook_stuck, .ctx = w};
    w->cfg.processes = 1;
    w->open_conns = 1000; /* a busy server: the carry waits for nothing */
    w->peer = -1;
    fake_conn_init(&w->conn, -1);
    w->conn.c.proto = &fake_mux_proto; /* its requests run at once on several threads */
    w->conn.keep = 0;
    for (int i = 0; i < MAX_IDS; i++) {
        fake_req_init(&w->reqs[i], &w->conn, i);
        w->handled_by[i] = w->done_by[i] = -1;
    }
}

static void world_start(int nthreads, size_t cap)
{
    world.pool = gw_pool_start(&world.app, &world.cfg, &world.hooks, nthreads, cap);
    CHECK(world.pool != NULL, "gw_pool_start");
}

static void world_stop(void)
{
    gw_pool_stop(world.pool);
    world.pool = NULL;
    fake_conn_free(&world.conn);
    pthread_cond_destroy(&world.changed);
    pthread_mutex_destroy(&world.lock);
}

static int submit_quiet(int id, enum mode mode)
{
    pthread_mutex_lock(&world.lock);
    world.mode[id] = mode;
    pthread_mutex_unlock(&world.lock);
    return gw_pool_submit(world.pool, &world.reqs[id].r);
}

/* As the loop does it: a submit that found no worker running is followed by
 * gw_pool_wake (the loop's is at the end of its turn). */
static int submit_woken(struct gw_request *r)
{
    int rc = gw_pool_submit(world.pool, r);
    if (rc == 0)
        gw_pool_wake(world.pool);
    return rc;
}

static int submit(int id, enum mode mode)
{
    int rc = submit_quiet(id, mode);
    if (rc == 0)
        gw_pool_wake(world.pool);
    return rc;
}

static void open_gate(int id)
{
    pthread_mutex_lock(&world.lock);
    world.gate[id] = 1;
    pthread_cond_broadcast(&world.changed);
    pthread_mutex_unlock(&world.lock);
}

static void deadline_in(struct timespec *ts, int seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += seconds;
}

/* Waits (world.lock held inside) until cond holds, up to DEADLINE_S; checks it. */
#define WAIT_FOR(cond, ...)                                                                        \
    do {                                                                                           \
        struct timespec dl_;                                                                       \
        deadline_in(&dl_, DEADLINE_S);                                                             \
        pthread_mutex_lock(&world.lock);                                                           \
        while (!(cond) && pthread_cond_timedwait(&world.changed, &world.lock, &dl_) == 0)          \
            ;                                                                                      \
        int ok_ = (cond);                                                                          \
        pthread_mutex_unlock(&world.lock);                                                         \
        CHECK(ok_, __VA_ARGS__);                                                                   \
    } while (0)

/* An int of world, read under its lock. */
static int world_int(const int *field)
{
    pthread_mutex_lock(&world.lock);
    int v = *field;
    pthread_mutex_unlock(&world.lock);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The scheduler state of a thread of this process ('R', 'S', ...), from /proc. */
static char thread_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* after the name, which may hold spaces */
    CHECK(paren != NULL && paren[1] == ' ', "%s: %s", path, buf);
    return paren[2];
}

/*
 * Waits until worker index sleeps in the pool's queue wait. Called only when that
 * worker has started and holds no request: asleep then means waiting for work, or
 * for a moment on the pool's lock, hence asleep at 5 looks in a row, 1 ms apart.
 */
static void wait_asleep(int index)
{
    WAIT_FOR(world.nstarted > index, "worker %d started", index);
    pid_t tid = world_int(&world.workers[index].tid);
    int asleep = 0;
    for (int i = 0; i < DEADLINE_S * 1000 && asleep < 5; i++) {
        asleep = thread_state(tid) == 'S' ? asleep + 1 : 0;
        sleep_ms(1);
    }
    CHECK(asleep == 5, "worker %d never fell asleep", index);
}

/* -------------------------------------------------------------------- order */

/* One thread takes requests in the order they were queued, across many wraps of a
 * small ring, and every request is handed back exactly once by the thread that ran
 * it; a full queue refuses (-1) rather than waits. */
static void check_fifo_one_thread(size_t row)
{
    (void)row;
    world_init();
    world_start(1, 4);
    int n = 200;
    for (int id = 0; id < n; id++) {
        int rc;
        while ((rc = submit(id, RUN)) < 0)
            sleep_ms(1); /* full: the worker makes room */
        CHECK(rc == 0 || rc == 1, "submit %d: %d", id, rc);
    }
    WAIT_FOR(world.ndone_total == n, "all %d handed back", n);
    for (int i = 0; i < n; i++) {
        CHECK(world.order[i] == i, "position %d ran request %d", i, world.order[i]);
        CHECK(world.entered[i] == 1 && world.ndone[i] == 1, "request %d: ran %d, back %d", i,
              world.entered[i], world.ndone[i]);
        CHECK(world.done_by[i] == world.handled_by[i], "request %d handed back by another", i);
    }
    world_stop();
}

/* Several threads: each request runs once and is handed back once, by its thread. */
static void check_each_once(size_t row)
{
    (void)row;
    int n = 400;
    world_init();
    world_start(MAX_THREADS, 16);
    for (int id = 0; id < n; id++)
        while (submit(id, RUN) < 0)
            sleep_ms(1);
    WAIT_FOR(world.ndone_total == n, "all %d handed back", n);
    world_stop();
    for (int i = 0; i < n; i++) {
        CHECK(world.entered[i] == 1 && world.ndone[i] == 1, "request %d: ran %d, back %d", i,
              world.entered[i], world.ndone[i]);
        CHECK(world.done_by[i] == world.handled_by[i], "request %d handed back by another", i);
    }
}

/* thread_start once per thread before any request, thread_stop once each at stop,
 * with the context its thread_start returned. */
static void check_thread_start_stop(size_t row)
{
    int nthreads = (int)row + 1;
    world_init();
    world_start(nthreads, 4);
    WAIT_FOR(world.nstarted == nthreads, "%d threads started", nthreads);
    CHECK(submit(0, RUN) >= 0, "submit");
    WAIT_FOR(world.ndone[0] == 1, "request handed back");
    world_stop();
    CHECK(world.nstarted == nthreads, "thread_start %d times", world.nstarted);
    CHECK(world.nstopped == nthreads, "thread_stop %d times", world.nstopped);
    for (int i = 0; i < nthreads; i++)
        CHECK(world.workers[i].stopped == 1, "worker %d stopped %d times", i,
              world.workers[i].stopped);
}

/* A thread whose runtime does not start does not count: with all of them failing
 * there is no pool (requests would wait forever), with one of two failing the pool
 * has one thread, and gw_pool_idle says so. */
static void check_failed_thread_start(size_t row)
{
    (void)row;
    world_init();
    world.fail_starts = 2;
    CHECK(gw_pool_start(&world.app, &world.cfg, &world.hooks, 2, 4) == NULL,
          "a pool without a thread");
    pthread_cond_destroy(&world.changed);
    pthread_mutex_destroy(&world.lock);
    fake_conn_free(&world.conn);

    world_init();
    world.fail_starts = 1;
    world_start(2, 4);
    CHECK(gw_pool_idle(world.pool) == 1, "idle %d with one thread alive", gw_pool_idle(world.pool));
    CHECK(submit(0, RUN) >= 0, "submit");
    WAIT_FOR(world.ndone[0] == 1, "the live thread runs it");
    world_stop();
}

/* ------------------------------------------------------ submit, kick, idle */

/* A full queue answers -1 at once, however long the worker is busy. */
static void check_full_queue_refuses(size_t row)
{
    (void)row;
    world_init();
    world_start(1, 2);
    CHECK(submit(0, HOLD) == 0, "an idle pool wakes its worker");
    WAIT_FOR(world.entered[0], "request 0 in the app");
    CHECK(submit(1, RUN) == 1, "queued behind the busy worker");
    CHECK(submit(2, RUN) == 1, "queued behind the busy worker");
    CHECK(submit(3, RUN) == -1, "the queue is full");
    CHECK(submit(3, RUN) == -1, "still full");
    CHECK(gw_pool_idle(world.pool) == 1 - 1 - 2, "idle %d", gw_pool_idle(world.pool));
    open_gate(0);
    WAIT_FOR(world.ndone_total == 3, "the three accepted handed back");
    world_stop();
    CHECK(world.entered[3] == 0, "the refused request never ran");
}

/* gw_pool_submit: 0 when no worker runs (it wakes nobody: gw_pool_wake then wakes a
 * sleeper), 1 when it queued for a busy worker and did not wake the one asleep;
 * gw_pool_kick then wakes it. */
static void check_submit_and_kick(size_t row)
{
    (void)row;
    world_init();
    world_start(2, 8);
    WAIT_FOR(world.nstarted == 2, "both started");
    wait_asleep(0);
    wait_asleep(1);
    CHECK(submit_quiet(0, HOLD) == 0, "an idle pool: a wake-up due");
    sleep_ms(50);
    CHECK(world_int(&world.entered[0]) == 0, "a worker woke before gw_pool_wake");
    gw_pool_wake(world.pool);
    WAIT_FOR(world.entered[0], "request 0 in the app");
    int busy = world_int(&world.handled_by[0]), other = 1 - busy;
    wait_asleep(other);

    CHECK(submit(1, RUN) == 1, "one worker busy: queued for it, no wake-up");
    sleep_ms(50);
    CHECK(world_int(&world.entered[1]) == 0, "the sleeper woke without a kick");
    CHECK(gw_pool_kick(world.pool) == 1, "a request waits and a worker sleeps");
    WAIT_FOR(world.entered[1], "the kick woke the sleeper");
    CHECK(world_int(&world.handled_by[1]) == other, "request 1 ran on the busy worker");
    CHECK(world_int(&world.ndone[0]) == 0, "request 0 is still held");
    WAIT_FOR(world.ndone[1] == 1, "request 1 handed back");
    CHECK(gw_pool_kick(world.pool) == 0, "nothing waits: no more kicks due");
    open_gate(0);
    WAIT_FOR(world.ndone[0] == 1, "request 0 handed back");
    world_stop();
}

/* Requests 0..n-1 that entered the app; the caller holds world.lock (WAIT_FOR). */
static int entered_locked(int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += world.entered[i] > 0;
    return k;
}

static int entered_count(int n)
{
    pthread_mutex_lock(&world.lock);
    int k = entered_locked(n);
    pthread_mutex_unlock(&world.lock);
    return k;
}

/* Kicks in a row without progress wake 1, then 2 (then 4...) sleepers: a burst of
 * requests that all block gets its threads within a few kicks. */
static void check_kick_doubles_without_progress(size_t row)
{
    (void)row;
    world_init();
    world_start(MAX_THREADS, 8);
    WAIT_FOR(world.nstarted == MAX_THREADS, "all started");
    for (int i = 0; i < MAX_THREADS; i++)
        wait_asleep(i);
    CHECK(submit(0, HOLD) == 0, "submit");
    WAIT_FOR(world.entered[0], "request 0 in the app");
    for (int i = 1; i < MAX_THREADS; i++)
        CHECK(submit(i, HOLD) == 1, "request %d queued for the busy worker", i);
    CHECK(gw_pool_kick(world.pool) == 1, "requests wait and workers sleep");
    WAIT_FOR(entered_locked(MAX_THREADS) == 2, "the first kick woke one");
    sleep_ms(50);
    CHECK(entered_count(MAX_THREADS) == 2, "the first kick woke %d",
          entered_count(MAX_THREADS) - 1);
    CHECK(gw_pool_kick(world.pool) == 1, "still waiting");
    WAIT_FOR(entered_locked(MAX_THREADS) == 4, "the second kick woke two");
    for (int i = 0; i < MAX_THREADS; i++)
        open_gate(i);
    WAIT_FOR(world.ndone_total == MAX_THREADS, "all handed back");
    world_stop();
}

/* gw_pool_kick wakes nobody while the busy workers finish requests, and a sleeper
 * once they finished none since the previous kick. */
static void check_kick_waits_for_no_progress(size_t row)
{
    (void)row;
    world_init();
    world_start(2, 8);
    WAIT_FOR(world.nstarted == 2, "both started");
    CHECK(submit(0, HOLD) == 0, "submit");
    WAIT_FOR(world.entered[0], "request 0 in the app");
    int busy = world_int(&world.handled_by[0]), other = 1 - busy;
    wait_asleep(other);
    CHECK(submit(1, HOLD) == 1, "queued for the busy worker");
    CHECK(submit(2, RUN) == 1, "queued for the busy worker");

    open_gate(0); /* progress: the busy worker finishes 0 and takes 1 */
    WAIT_FOR(world.entered[1], "request 1 in the app");
    CHECK(world_int(&world.handled_by[1]) == busy, "request 1 went to the sleeper");
    CHECK(gw_pool_kick(world.pool) == 1, "a request waits and a worker sleeps");
    sleep_ms(50);
    CHECK(world_int(&world.entered[2]) == 0, "a kick after progress woke the sleeper");
    CHECK(gw_pool_kick(world.pool) == 1, "still waiting");
    WAIT_FOR(world.entered[2], "no progress since the last kick: the sleeper is woken");
    CHECK(world_int(&world.handled_by[2]) == other, "request 2 ran on the busy worker");
    open_gate(1);
    WAIT_FOR(world.ndone_total == 3, "all handed back");
    world_stop();
}

/* gw_pool_idle: threads minus those running a request minus the queue; a worker
 * counts as idle again before its hand-back. */
static void check_idle(size_t row)
{
    (void)row;
    world_init();
    world_start(2, 8);
    CHECK(gw_pool_idle(world.pool) == 2, "idle %d at start", gw_pool_idle(world.pool));
    CHECK(submit(0, HOLD) == 0, "submit");
    WAIT_FOR(world.entered[0], "request 0 in the app");
    CHECK(gw_pool_idle(world.pool) == 1, "idle %d with one running", gw_pool_idle(world.pool));
    CHECK(submit(1, HOLD) >= 0, "submit");
    CHECK(gw_pool_idle(world.pool) == 0, "idle %d with one running, one queued or running",
          gw_pool_idle(world.pool));
    CHECK(submit(2, HOLD) >= 0, "submit");
    CHECK(gw_pool_idle(world.pool) == -1, "idle %d with three for two threads",
          gw_pool_idle(world.pool));
    open_gate(0);
    open_gate(1);
    open_gate(2);
    WAIT_FOR(world.ndone_total == 3, "all handed back");
    CHECK(gw_pool_idle(world.pool) == 2, "idle %d at the end", gw_pool_idle(world.pool));
    world_stop();

    world_init();
    world_start(1, 8);
    CHECK(submit(0, RUN) == 0, "submit");
    WAIT_FOR(world.ndone[0] == 1, "handed back");
    CHECK(world.idle_at_done == 1, "the done hook saw idle %d: its worker still counted busy",
          world.idle_at_done);
    world_stop();
}

/* ------------------------------------------------------------------- stop */

struct stopper {
    pthread_t thread;
    int returned; /* atomic */
};

static void *stop_main(void *arg)
{
    struct stopper *s = arg;
    gw_pool_stop(world.pool);
    __atomic_store_n(&s->returned, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* gw_pool_stop lets the running request end, runs what is queued, then joins. */
static void check_stop_drains(size_t row)
{
    (void)row;
    world_init();
    world_start(1, 8);
    CHECK(submit(0, HOLD) == 0, "submit");
    WAIT_FOR(world.entered[0], "request 0 in the app");
    for (int id = 1; id <= 5; id++)
        CHECK(submit(id, RUN) == 1, "queued");
    struct stopper s = {0};
    CHECK(pthread_create(&s.thread, NULL, stop_main, &s) == 0, "pthread_create");
    sleep_ms(50);
    CHECK(__atomic_load_n(&s.returned, __ATOMIC_ACQUIRE) == 0,
          "gw_pool_stop returned with a request still running");
    open_gate(0);
    CHECK(pthread_join(s.thread, NULL) == 0, "pthread_join");
    world.pool = NULL; /* freed by the stop */
    for (int id = 0; id <= 5; id++)
        CHECK(world.entered[id] == 1 && world.ndone[id] == 1, "request %d: ran %d, back %d", id,
              world.entered[id], world.ndone[id]);
    CHECK(world.nstopped == 1, "thread_stop %d times", world.nstopped);
    fake_conn_free(&world.conn);
    pthread_cond_destroy(&world.changed);
    pthread_mutex_destroy(&world.lock);
}

/* ------------------------------------------------------------------ carry */

/* Requests of a kept connection of its own (fc), already pipelined behind the first:
 * the worker runs them one after the other and hands the connection back once, with
 * the last. */
static void check_carry_pipelined(size_t row)
{
    (void)row;
    struct fake_conn fc;
    struct fake_req first;
    world_init();
    fake_conn_init(&fc, -1);
    fake_req_init(&first, &fc, 10);
    fake_conn_feed(&fc, "GET 11\nGET 12\n");
    world_start(1, 8);
    CHECK(submit_woken(&first.r) == 0, "submit");
    WAIT_FOR(world.ndone_total == 1, "the connection handed back");
    world_stop();
    for (int i = 0; i < 3; i++) {
        CHECK(world.order[i] == 10 + i, "position %d ran request %d", i, world.order[i]);
        CHECK(world.handled_by[10 + i] == 0, "request %d ran elsewhere", 10 + i);
    }
    CHECK(world.ndone[12] == 1 && world.ndone[10] + world.ndone[11] == 0,
          "handed back: 10 %d times, 11 %d, 12 %d", world.ndone[10], world.ndone[11],
          world.ndone[12]);
    CHECK(fc.c.carried == 2, "carried %u", fc.c.carried);
    fake_conn_free(&fc);
}

/* A request queued meanwhile goes first: the connection is handed back with its
 * pipelined request left in c->in for the loop. */
static void check_carry_yields_to_the_queue(size_t row)
{
    (void)row;
    struct fake_conn fc;
    struct fake_req first;
    char buf[32];
    world_init();
    fake_conn_init(&fc, -1);
    fake_req_init(&first, &fc, 20);
    fake_conn_feed(&fc, "GET 21\n");
    world.mode[20] = HOLD;
    world_start(1, 8);
    CHECK(submit_woken(&first.r) == 0, "submit");
    WAIT_FOR(world.entered[20], "request 20 in the app");
    CHECK(submit(1, RUN) == 1, "queued");
    open_gate(20);
    WAIT_FOR(world.ndone_total == 2, "both handed back");
    world_stop();
    CHECK(world.order[0] == 20 && world.order[1] == 1 && world.norder == 2,
          "ran %d then %d (%d in all)", world.order[0], world.order[1], world.norder);
    CHECK(world.ndone[20] == 1, "the connection handed back with request 20");
    CHECK(strcmp(fake_conn_buffered(&fc, buf, sizeof(buf)), "GET 21\n") == 0,
          "left for the loop: '%s'", buf);
    CHECK(fc.c.carried == 0, "carried %u", fc.c.carried);
    fake_conn_free(&fc);
}

struct lone_row {
    const char *name;
    size_t open_conns;
    int carried; /* the next request ran on the same worker */
};

static const struct lone_row lone_rows[] = {
    {"a lone client: the worker waits for its next request", 1, 1},
    {"more connections than threads: handed back at once", 1000, 0},
};

/* Nothing buffered: the worker waits for the next request only when the server is
 * otherwise idle (no more connections than threads, another worker asleep). The app
 * makes the client send it before returning. */
static void check_carry_lone_client(size_t row)
{
    const struct lone_row *lr = &lone_rows[row];
    struct fake_conn fc;
    struct fake_req first;
    int sv[2];
    world_init();
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
    fake_conn_init(&fc, sv[0]);
    fake_req_init(&first, &fc, 30);
    world.peer = sv[1];
    world.mode[30] = SEND_NEXT;
    world.open_conns = lr->open_conns;
    world_start(2, 8);
    WAIT_FOR(world.nstarted == 2, "both started");
    wait_asleep(0);
    wait_asleep(1);
    CHECK(submit_woken(&first.r) == 0, "%s: submit", lr->name);
    WAIT_FOR(world.ndone_total == 1, "%s: handed back", lr->name);
    world_stop();
    int unread = -1;
    CHECK(ioctl(sv[0], FIONREAD, &unread) == 0, "FIONREAD");
    if (lr->carried) {
        CHECK(world.entered[31] == 1 && world.handled_by[31] == world.handled_by[30],
              "%s: request 31 ran %d times, on worker %d", lr->name, world.entered[31],
              world.handled_by[31]);
        CHECK(world.ndone[31] == 1 && world.ndone[30] == 0, "%s: handed back with 31", lr->name);
        CHECK(fc.c.carried == 1 && unread == 0, "%s: carried %u, %d bytes unread", lr->name,
              fc.c.carried, unread);
    } else {
        CHECK(world.entered[31] == 0 && world.ndone[30] == 1, "%s: carried", lr->name);
        CHECK(fc.c.carried == 0 && unread == 7, "%s: carried %u, %d bytes unread", lr->name,
              fc.c.carried, unread);
    }
    close(sv[0]);
    close(sv[1]);
    fake_conn_free(&fc);
}

/* ---------------------------------------------------------------- timeout */

struct timeout_row {
    const char *name;
    enum mode mode; /* all but HEAD_INTR send no head: the watchdog answers 504 */
    int processes;
    int want_stuck;     /* 1: the stuck hook is called; 0: it is not; -1: either */
    const char *logged; /* a line the error log must show */
};

static const struct timeout_row timeout_rows[] = {
    {"no head yet: the watchdog answers 504 and interrupts the app", UNTIL_INTR, 1, -1,
     "answered 504, interrupting it"},
    {"the head went out: the app is only interrupted", HEAD_INTR, 1, -1,
     "the response has started, interrupting it"},
    {"stuck, one process: logged, the hook is not called", HOLD, 1, 0,
     "the thread stays busy until the app returns"},
    {"stuck, prefork: the stuck hook", HOLD, 2, 1, "replacing this worker process"},
};

static int log_has(const char *path, const char *text)
{
    char buf[8192];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

/* With cfg->timeout the pool starts the watchdog: a request past --timeout (0.05 s)
 * gets its 504 unless its head went out, its thread is interrupted, and one still in
 * the app --timeout-grace (0.05 s) later is stuck (the hook only in prefork). */
static void check_timeout(size_t row)
{
    const struct timeout_row *tr = &timeout_rows[row];
    char dir[] = "/tmp/wsgpoolXXXXXX", path[64], err[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof(path), "%s/error.log", dir);
    CHECK(gw_log_open(path, NULL, GW_LOG_WARNING, err, sizeof(err)) == 0, "%s", err);
    world_init();
    world.cfg.timeout = 0.05;
    world.cfg.timeout_grace = 0.05;
    world.cfg.processes = tr->processes;
    world_start(1, 4);
    CHECK(submit(0, tr->mode) == 0, "submit");

    if (tr->mode == HOLD) { /* the app ignores the interrupt: stuck */
        if (tr->want_stuck == 1)
            WAIT_FOR(world.nstuck > 0, "%s: the stuck hook", tr->name);
        /* The interrupter thread raises it some time after the watchdog queued it
         * (before the stuck verdict); a stop drops one still queued. */
        WAIT_FOR(world.ninterrupts > 0, "%s: the interrupt", tr->name);
        for (int i = 0; i < DEADLINE_S * 100 && !log_has(path, tr->logged); i++)
            sleep_ms(10);
        open_gate(0);
    }
    WAIT_FOR(world.ndone[0] == 1, "%s: handed back", tr->name);
    /* A worker that stalls past --timeout before its send_head rightly loses the head
     * to the watchdog: then the row shows the 504 case again, and says so. */
    int head = tr->mode == HEAD_INTR && world.head_rc[0] == 0;
    if (tr->mode == HEAD_INTR && !head)
        CHECK_LOG("%s: the worker was late, the watchdog answered first", tr->name);
    const char *logged = tr->mode == HEAD_INTR && !head ? "answered 504" : tr->logged;
    CHECK(log_has(path, logged), "%s: no '%s' in the error log", tr->name, logged);
    world_stop(); /* joins the watchdog: every hook call is in */
    gw_log_close();

    const struct fake_req *fr = &world.reqs[0];
    CHECK(fr->heads == head, "%s: %d heads", tr->name, fr->heads);
    CHECK(fr->timeouts == !head, "%s: %d 504s", tr->name, fr->timeouts);
    CHECK(fr->finishes == head, "%s: finish called %d times", tr->name, fr->finishes);
    if (!head)
        CHECK(fr->r.status == 504 && fr->r.keep == 0, "%s: status %d keep %d", tr->name,
              fr->r.status, fr->r.keep);
    CHECK(world.ninterrupts >= 1 && world.nconfirmed >= (tr->mode != HOLD),
          "%s: %d interrupts, %d confirmed", tr->name, world.ninterrupts, world.nconfirmed);
    if (tr->want_stuck == 1)
        CHECK(world.nstuck >= 1 && world.stuck_ctx == &world, "%s: stuck hook %d times", tr->name,
              world.nstuck);
    if (tr->want_stuck == 0)
        CHECK(world.nstuck == 0, "%s: the stuck hook called %d times", tr->name, world.nstuck);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------------ the runs */

TEST_UNUSED static const struct check_case cases[] = {
    {"fifo_one_thread", check_fifo_one_thread, 1},
    {"each_once", check_each_once, 1},
    {"thread_start_stop", check_thread_start_stop, MAX_THREADS},
    {"failed_thread_start", check_failed_thread_start, 1},
    {"full_queue_refuses", check_full_queue_refuses, 1},
    {"submit_and_kick", check_submit_and_kick, 1},
    {"kick_waits_for_no_progress", check_kick_waits_for_no_progress, 1},
    {"kick_doubles_without_progress", check_kick_doubles_without_progress, 1},
    {"idle", check_idle, 1},
    {"stop_drains", check_stop_drains, 1},
    {"carry_pipelined", check_carry_pipelined, 1},
    {"carry_yields_to_the_queue", check_carry_yields_to_the_queue, 1},
    {"carry_lone_client", check_carry_lone_client, NROWS(lone_rows)},
    {"timeout", check_timeout, NROWS(timeout_rows)},
};

CHECK_MAIN(cases)

Test(pool, fifo_one_thread, .timeout = 60)
{
    check_fifo_one_thread(0);
}

Test(pool, each_request_handed_back_once, .timeout = 60)
{
    check_each_once(0);
}

ParameterizedTestParameters(pool, thread_start_stop)
{
    return index_params(MAX_THREADS);
}

ParameterizedTest(size_t *i, pool, thread_start_stop, .timeout = 60)
{
    check_thread_start_stop(*i);
}

Test(pool, failed_thread_start, .timeout = 60)
{
    check_failed_thread_start(0);
}

Test(pool, full_queue_refuses, .timeout = 60)
{
    check_full_queue_refuses(0);
}

Test(pool, submit_and_kick, .timeout = 60)
{
    check_submit_and_kick(0);
}

Test(pool, kick_waits_for_no_progress, .timeout = 60)
{
    check_kick_waits_for_no_progress(0);
}

Test(pool, kick_doubles_without_progress, .timeout = 60)
{
    check_kick_doubles_without_progress(0);
}

Test(pool, idle, .timeout = 60)
{
    check_idle(0);
}

Test(pool, stop_drains_then_joins, .timeout = 60)
{
    check_stop_drains(0);
}

Test(pool, carry_pipelined, .timeout = 60)
{
    check_carry_pipelined(0);
}

Test(pool, carry_yields_to_the_queue, .timeout = 60)
{
    check_carry_yields_to_the_queue(0);
}

ParameterizedTestParameters(pool, carry_lone_client)
{
    return index_params(NROWS(lone_rows));
}

ParameterizedTest(size_t *i, pool, carry_lone_client, .timeout = 60)
{
    check_carry_lone_client(*i);
}

ParameterizedTestParameters(pool, timeout)
{
    return index_params(NROWS(timeout_rows));
}

ParameterizedTest(size_t *i, pool, timeout, .timeout = 60)
{
    check_timeout(*i);
}
