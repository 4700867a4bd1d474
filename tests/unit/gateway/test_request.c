/*
 * Unit tests of the head claim of gateway/request.c. With --timeout the worker (its
 * first send_head, or gw_request_finish when the app sent nothing) and the watchdog
 * (gw_request_claim_timeout, for its 504) race for the response head; exactly one of
 * them writes it and the other writes nothing. First every ordering, one step at a
 * time from a table; then the blocking end of a lost race (gw_request_finish waits
 * for gw_request_timeout_done before the request may be handed back); then the race
 * itself, the two sides on two threads released together thousands of times.
 *
 * The front-end is tests/unit/gateway/fake_conn.h, which counts every write and any
 * two that overlap. The file must stay clean under ThreadSanitizer; make test-tsan
 * runs its TSan build, a program of its own (tests/unit/gateway/check.h):
 *   make BUILD=build/tsan SANITIZER=thread CFLAGS="-O1 -g" build/tsan/tests/test_request
 *   build/tsan/tests/test_request
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/request.h"
#include "tests/unit/gateway/check.h"
#include "tests/unit/gateway/fake_conn.h"
#include "tests/unit/support.h"

/* ------------------------------------------------------- orderings, step by step */

enum op {
    END,       /* end of the steps */
    HEAD,      /* worker: gw_request_send_head; rc */
    BODY,      /* worker: gw_request_send_body; rc */
    READ,      /* worker: gw_request_read; rc */
    STDERR,    /* any thread: gw_request_send_stderr; rc */
    IBEGIN,    /* worker: gw_request_interim_begin; rc */
    IEND,      /* worker: gw_request_interim_end */
    CLAIM,     /* watchdog: gw_request_claim_timeout; rc */
    ANSWER,    /* watchdog, after a claim: the 504 and gw_request_timeout_done */
    TIMED_OUT, /* gw_request_timed_out; rc */
    GONE,      /* gw_request_client_gone; rc */
    BREAK,     /* a send failed: the connection is marked broken */
    FINISH,    /* worker: gw_request_finish(r, 1); rc is r->keep after it */
};

static const char *const op_names[] = {"END",    "HEAD",  "BODY",  "READ",   "STDERR",
                                       "IBEGIN", "IEND",  "CLAIM", "ANSWER", "TIMED_OUT",
                                       "GONE",   "BREAK", "FINISH"};

struct step {
    enum op op;
    int rc;
};

/* The writes the front-end made, and the claim at the end. */
struct outcome {
    int heads, timeouts, finishes;
    int claim;
};

struct row {
    const char *name;
    int watched; /* --timeout is set */
    struct step steps[14];
    struct outcome want;
};

/* clang-format off: one row per ordering, the steps in the order they happen */
// clang-format off
static const struct row rows[] = {
    {"the app's head first: the watchdog gets 0 and only interrupts", 1,
     {{HEAD, 0}, {CLAIM, 0}, {TIMED_OUT, 0}, {GONE, 0}, {BODY, 0}, {STDERR, 0}, {FINISH, 1}},
     {.heads = 1, .finishes = 1, .claim = GW_HEAD_APP}},
    {"the watchdog first: the app writes nothing, finish ends nothing", 1,
     {{CLAIM, 1}, {TIMED_OUT, 1}, {GONE, 1}, {HEAD, GW_ECLOSED}, {BODY, GW_ECLOSED},
      {READ, GW_ETIMEDOUT}, {STDERR, GW_ECLOSED}, {CLAIM, 0}, {ANSWER, 0}, {HEAD, GW_ECLOSED},
      {CLAIM, 0}, {FINISH, 0}},
     {.timeouts = 1, .claim = GW_HEAD_TIMED_OUT}},
    {"a 100 Continue under way holds the watchdog off until it is written", 1,
     {{IBEGIN, 0}, {CLAIM, -1}, {IEND, 0}, {CLAIM, 1}, {IBEGIN, GW_ETIMEDOUT}, {ANSWER, 0},
      {FINISH, 0}},
     {.timeouts = 1, .claim = GW_HEAD_TIMED_OUT}},
    {"a 100 Continue, then the app's head", 1,
     {{IBEGIN, 0}, {IEND, 0}, {HEAD, 0}, {IBEGIN, 0}, {IEND, 0}, {CLAIM, 0}, {FINISH, 1}},
     {.heads = 1, .finishes = 1, .claim = GW_HEAD_APP}},
    {"nothing sent: finish claims the head for its own answer", 1,
     {{FINISH, 1}, {CLAIM, 0}, {TIMED_OUT, 0}},
     {.finishes = 1, .claim = GW_HEAD_APP}},
    {"a broken connection is gone and not kept", 1,
     {{HEAD, 0}, {BREAK, 0}, {GONE, 1}, {FINISH, 0}},
     {.heads = 1, .finishes = 1, .claim = GW_HEAD_APP}},
    {"without --timeout the claim is never touched", 0,
     {{IBEGIN, 0}, {IEND, 0}, {HEAD, 0}, {GONE, 0}, {READ, 0}, {FINISH, 1}},
     {.heads = 1, .finishes = 1, .claim = GW_HEAD_OPEN}},
};
// clang-format on

/* What the watchdog does once it has claimed the head (answer_504 in
 * gateway/watchdog.c): the front-end's 504, then the release to the worker. */
static void answer_504(struct gw_request *r)
{
    r->proto->timeout(r);
    r->status = 504;
    gw_request_timeout_done(r);
}

static int run_step(struct gw_request *r, enum op op)
{
    char buf[16];
    struct iovec iov = {.iov_base = buf, .iov_len = 1};
    switch (op) {
    case HEAD:
        return gw_request_send_head(r, GW_SLICE_LIT("200 OK"), NULL, 0);
    case BODY:
        return gw_request_send_body(r, &iov, 1);
    case READ:
        return (int)gw_request_read(r, buf, sizeof(buf));
    case STDERR:
        return gw_request_send_stderr(r, "oops\n", 5);
    case IBEGIN:
        return gw_request_interim_begin(r);
    case IEND:
        gw_request_interim_end(r);
        return 0;
    case CLAIM:
        return gw_request_claim_timeout(r);
    case ANSWER:
        answer_504(r);
        return 0;
    case TIMED_OUT:
        return gw_request_timed_out(r);
    case GONE:
        return gw_request_client_gone(r);
    case BREAK:
        gw_conn_set_broken(r->conn);
        return 0;
    case FINISH:
        gw_request_finish(r, 1);
        return r->keep;
    case END:
        break;
    }
    return 0;
}

static void check_ordering(size_t i)
{
    const struct row *row = &rows[i];
    struct fake_conn fc;
    struct fake_req fr;
    fake_conn_init(&fc, -1);
    fake_req_init(&fr, &fc, 1);
    fr.r.watched = row->watched;
    for (int k = 0; row->steps[k].op != END; k++) {
        int rc = run_step(&fr.r, row->steps[k].op);
        CHECK(rc == row->steps[k].rc, "%s: step %d (%s) gave %d, not %d", row->name, k,
              op_names[row->steps[k].op], rc, row->steps[k].rc);
    }
    CHECK(fr.heads == row->want.heads, "%s: %d heads", row->name, fr.heads);
    CHECK(fr.timeouts == row->want.timeouts, "%s: %d 504s", row->name, fr.timeouts);
    CHECK(fr.finishes == row->want.finishes, "%s: %d finish calls", row->name, fr.finishes);
    CHECK(fr.r.head_claim == row->want.claim, "%s: claim %d at the end", row->name,
          fr.r.head_claim);
    int status = 0; /* none went out */
    if (row->want.timeouts)
        status = 504;
    else if (row->want.heads)
        status = 200;
    CHECK(fr.r.status == status, "%s: status %d", row->name, fr.r.status);
    CHECK(fr.r.t_end != 0, "%s: finish stamps the end", row->name);
    CHECK(fc.overlaps == 0, "%s: overlapping writes", row->name);
}

/* ------------------------------------------------- the lost race's finish waits */

struct finisher {
    struct gw_request *r;
    int returned; /* atomic */
};

static void *finish_main(void *arg)
{
    struct finisher *f = arg;
    gw_request_finish(f->r, 1);
    __atomic_store_n(&f->returned, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The watchdog claimed the head and is still writing its 504: the worker's finish
 * must not return (its caller would hand the request and its connection back while
 * the watchdog writes on them) until gw_request_timeout_done. */
static void check_lost_finish(size_t i)
{
    struct fake_conn fc;
    struct fake_req fr;
    (void)i;
    fake_conn_init(&fc, -1);
    fake_req_init(&fr, &fc, 1);
    fr.r.watched = 1;
    CHECK(gw_request_claim_timeout(&fr.r) == 1, "the claim of an open head");

    struct finisher f = {.r = &fr.r};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, finish_main, &f) == 0, "pthread_create");
    for (int k = 0; k < 10; k++) { /* 50 ms in which it must not return */
        sleep_ms(5);
        CHECK(__atomic_load_n(&f.returned, __ATOMIC_ACQUIRE) == 0,
              "finish returned while the watchdog still owned the head");
    }
    answer_504(&fr.r);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");

    CHECK(fr.finishes == 0, "the front-end's finish was called after a 504");
    CHECK(fr.heads == 0 && fr.timeouts == 1, "heads %d, 504s %d", fr.heads, fr.timeouts);
    CHECK(fr.r.keep == 0, "a timed-out connection is kept");
    CHECK(fr.r.status == 504, "the worker sees status %d, not the watchdog's 504", fr.r.status);
    CHECK(fr.r.t_end != 0, "finish stamps the end");
}

/* ------------------------------------------------------------ the race, for real */

#define RACE_ROUNDS 10000
#define RACE_SWEEP  16 /* loop turns each way */

/* What the worker does; the watchdog always claims, retrying while an interim reply
 * is being written, and answers 504 when it got the head. */
struct race {
    const char *name;
    int interim; /* first a 100 Continue (when gw_request_interim_begin allows it) */
    int head;    /* then the app's head; else the app sent nothing and finish answers */
};

static const struct race races[] = {
    {"send_head against the claim", 0, 1},
    {"finish (nothing sent) against the claim", 0, 0},
    {"100 Continue then send_head against the claim", 1, 1},
};

struct race_run {
    const struct race *race;
    pthread_barrier_t go, over; /* main and the two sides */
    int ready;                  /* atomic: sides at the start line, for the spin start */
    struct fake_conn fc;
    struct fake_req fr;
    int app_rc; /* this round: send_head's rc (or 0 when no head) */
    int wd_rc;  /* this round: the claim's final rc */
};

/* Both sides spin until both are here, so they leave within a few ns of each other
 * (a barrier alone wakes them one after the other); then one of them (side 0 or 1)
 * waits a few loop turns, an offset that sweeps a range each way round after round,
 * so the two claims meet at every distance, the closest ones included. */
static void spin_start(struct race_run *run, int round, int side)
{
    int want = 2 * (round + 1);
    int offset = round % (2 * RACE_SWEEP) - RACE_SWEEP; /* < 0: side 0 waits */
    __atomic_fetch_add(&run->ready, 1, __ATOMIC_ACQ_REL);
    for (int spins = 0; __atomic_load_n(&run->ready, __ATOMIC_ACQUIRE) < want; spins++)
        if (spins > 10000)
            sched_yield(); /* the other side is not running: let it */
    for (volatile int k = side ? offset : -offset; k > 0; k--)
        ;
}

static void *worker_side(void *arg)
{
    struct race_run *run = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        pthread_barrier_wait(&run->go);
        spin_start(run, i, 0);
        struct gw_request *r = &run->fr.r;
        int rc = 0;
        if (run->race->interim && gw_request_interim_begin(r) == 0) {
            fake_write(&run->fc, &run->fr.interims);
            gw_request_interim_end(r);
        }
        if (run->race->head)
            rc = gw_request_send_head(r, GW_SLICE_LIT("200 OK"), NULL, 0);
        gw_request_finish(r, rc == 0);
        run->app_rc = rc;
        pthread_barrier_wait(&run->over);
    }
    return NULL;
}

static void *watchdog_side(void *arg)
{
    struct race_run *run = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        pthread_barrier_wait(&run->go);
        spin_start(run, i, 1);
        struct gw_request *r = &run->fr.r;
        int c;
        while ((c = gw_request_claim_timeout(r)) < 0)
            sched_yield(); /* an interim reply is being written: the next tick */
        if (c > 0)
            answer_504(r);
        run->wd_rc = c;
        pthread_barrier_wait(&run->over);
    }
    return NULL;
}

static void check_race(size_t i)
{
    static struct race_run run; /* large: off the stack */
    const struct race *race = &races[i];
    memset(&run, 0, sizeof(run));
    run.race = race;
    fake_conn_init(&run.fc, -1);
    CHECK(pthread_barrier_init(&run.go, NULL, 3) == 0, "barrier");
    CHECK(pthread_barrier_init(&run.over, NULL, 3) == 0, "barrier");
    pthread_t app, wd;
    CHECK(pthread_create(&app, NULL, worker_side, &run) == 0, "pthread_create");
    CHECK(pthread_create(&wd, NULL, watchdog_side, &run) == 0, "pthread_create");

    int app_wins = 0, wd_wins = 0;
    for (int k = 0; k < RACE_ROUNDS; k++) {
        fake_req_init(&run.fr, &run.fc, k);
        run.fr.r.watched = 1; /* as gw_watchdog_enter leaves it: the claim OPEN */
        pthread_barrier_wait(&run.go);
        pthread_barrier_wait(&run.over);

        const struct fake_req *fr = &run.fr;
        CHECK(run.wd_rc == 0 || run.wd_rc == 1, "%s, round %d: claim %d", race->name, k, run.wd_rc);
        if (run.wd_rc == 1) {
            wd_wins++;
            CHECK(run.app_rc == (race->head ? GW_ECLOSED : 0), "%s, round %d: send_head %d",
                  race->name, k, run.app_rc);
            CHECK(fr->heads == 0 && fr->finishes == 0 && fr->timeouts == 1,
                  "%s, round %d: the watchdog won, yet heads %d finishes %d 504s %d", race->name, k,
                  fr->heads, fr->finishes, fr->timeouts);
            CHECK(fr->r.keep == 0 && fr->r.status == 504, "%s, round %d: keep %d status %d",
                  race->name, k, fr->r.keep, fr->r.status);
        } else {
            app_wins++;
            CHECK(run.app_rc == 0, "%s, round %d: send_head %d", race->name, k, run.app_rc);
            CHECK(fr->heads == race->head && fr->finishes == 1 && fr->timeouts == 0,
                  "%s, round %d: the app won, yet heads %d finishes %d 504s %d", race->name, k,
                  fr->heads, fr->finishes, fr->timeouts);
            CHECK(fr->r.keep == 1, "%s, round %d: not kept", race->name, k);
        }
        CHECK(fr->interims <= race->interim, "%s, round %d: %d interims", race->name, k,
              fr->interims);
        CHECK(fake_load(&run.fc.overlaps) == 0, "%s, round %d: two writes overlapped", race->name,
              k);
    }
    CHECK(pthread_join(app, NULL) == 0, "pthread_join");
    CHECK(pthread_join(wd, NULL) == 0, "pthread_join");
    pthread_barrier_destroy(&run.go);
    pthread_barrier_destroy(&run.over);
    CHECK_LOG("%s: the app won %d rounds, the watchdog %d", race->name, app_wins, wd_wins);
}

/* ------------------------------------------------------------------ the runs */

TEST_UNUSED static const struct check_case cases[] = {
    {"orderings", check_ordering, NROWS(rows)},
    {"lost_finish_waits_for_the_504", check_lost_finish, 1},
    {"race", check_race, NROWS(races)},
};

CHECK_MAIN(cases)

ParameterizedTestParameters(head_claim, orderings)
{
    return index_params(NROWS(rows));
}

ParameterizedTest(size_t *i, head_claim, orderings)
{
    check_ordering(*i);
}

/* The watchdog claimed the head and is still writing its 504: the worker's finish
 * must not return (its caller would hand the request and its connection back while
 * the watchdog writes on them) until gw_request_timeout_done. */
Test(head_claim, lost_finish_waits_for_the_504, .timeout = 30)
{
    check_lost_finish(0);
}

ParameterizedTestParameters(head_claim, race)
{
    return index_params(NROWS(races));
}

ParameterizedTest(size_t *i, head_claim, race, .timeout = 300)
{
    check_race(*i);
}
