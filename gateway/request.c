/*
 * The worker-side request API (gateway/request.h): thin dispatch to the front-end of
 * the request's connection, so python/ never knows which protocol it is speaking.
 *
 * With --timeout, a request is "watched" and its head is raced for by the worker and
 * the watchdog (gateway/watchdog.c) through r->head_claim: the worker claims it in
 * send_head and before finish writes anything; the watchdog claims it for its 504.
 * The loser writes nothing. A worker that lost waits in finish until the watchdog's
 * 504 is out, so the request (and its connection) outlive the watchdog's writes.
 *
 * The wrappers also keep the access log's accounting: time spent sending (t_send),
 * body bytes read (bytes_in) and the end stamp (t_end). Only the worker that owns
 * the request calls them, so the fields need no locking; gw_request_send_stderr, which
 * any of the app's threads may call, touches none of them.
 */
#include "gateway/request.h"

#include <time.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/protocol.h"
#include "gateway/util.h"

static int load_claim(const struct gw_request *r)
{
    return __atomic_load_n(&r->head_claim, __ATOMIC_ACQUIRE);
}

static int cas_claim(struct gw_request *r, int from, int to)
{
    return __atomic_compare_exchange_n(&r->head_claim, &from, to, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/* Worker: takes the head for the app. 0, or GW_ECLOSED when the watchdog has it. */
static int claim_for_app(struct gw_request *r)
{
    for (;;) {
        int s = load_claim(r);
        if (s == GW_HEAD_APP)
            return 0;
        if (s == GW_HEAD_TIMEOUT || s == GW_HEAD_TIMED_OUT)
            return GW_ECLOSED;
        /* OPEN (INTERIM is only ever set by this same thread) */
        if (cas_claim(r, GW_HEAD_OPEN, GW_HEAD_APP))
            return 0;
    }
}

int gw_request_timed_out(const struct gw_request *r)
{
    return load_claim(r) >= GW_HEAD_TIMEOUT;
}

int gw_request_interim_begin(struct gw_request *r)
{
    if (!r->watched || load_claim(r) == GW_HEAD_APP)
        return 0;
    return cas_claim(r, GW_HEAD_OPEN, GW_HEAD_INTERIM) ? 0 : GW_ETIMEDOUT;
}

void gw_request_interim_end(struct gw_request *r)
{
    if (r->watched)
        cas_claim(r, GW_HEAD_INTERIM, GW_HEAD_OPEN);
}

int gw_request_claim_timeout(struct gw_request *r)
{
    if (cas_claim(r, GW_HEAD_OPEN, GW_HEAD_TIMEOUT))
        return 1;
    return load_claim(r) == GW_HEAD_INTERIM ? -1 : 0;
}

void gw_request_timeout_done(struct gw_request *r)
{
    __atomic_store_n(&r->head_claim, GW_HEAD_TIMED_OUT, __ATOMIC_RELEASE);
}

ssize_t gw_request_read(struct gw_request *r, char *buf, size_t len)
{
    if (r->watched && gw_request_timed_out(r))
        return GW_ETIMEDOUT;
    ssize_t n = r->proto->read_body(r, buf, len);
    if (n > 0)
        r->bytes_in += (uint64_t)n;
    return n;
}

int gw_request_send_head(struct gw_request *r, struct gw_slice status,
                         const struct gw_field *fields, size_t n)
{
    if (r->watched) {
        int rc = claim_for_app(r);
        if (rc != 0)
            return rc;
    }
    uint64_t t0 = gw_now_ns();
    int rc = r->proto->send_head(r, status, fields, n);
    r->t_send += gw_now_ns() - t0;
    return rc;
}

int gw_request_send_body(struct gw_request *r, const struct iovec *iov, int iovcnt)
{
    if (r->watched && gw_request_timed_out(r))
        return GW_ECLOSED;
    uint64_t t0 = gw_now_ns();
    int rc = r->proto->send_body(r, iov, iovcnt);
    r->t_send += gw_now_ns() - t0;
    return rc;
}

int gw_request_send_file(struct gw_request *r, int fd, off_t offset, size_t len)
{
    if (r->watched && gw_request_timed_out(r))
        return GW_ECLOSED;
    uint64_t t0 = gw_now_ns();
    int rc = r->proto->send_file(r, fd, offset, len);
    r->t_send += gw_now_ns() - t0;
    return rc;
}

int gw_request_send_stderr(struct gw_request *r, const char *p, size_t n)
{
    if (r->proto->send_stderr == NULL || n == 0)
        return 0;
    if (r->watched && gw_request_timed_out(r))
        return GW_ECLOSED; /* the watchdog has ended the response */
    return r->proto->send_stderr(r, p, n);
}

void gw_request_finish(struct gw_request *r, int ok)
{
    if (r->watched && claim_for_app(r) != 0) {
        /* The watchdog answered 504 and ended the response for the front-end; wait
         * until its writes are done before the request may be handed back. */
        struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
        while (load_claim(r) == GW_HEAD_TIMEOUT)
            nanosleep(&ms, NULL);
        r->keep = 0;
        r->close_now = 0;
        r->t_end = gw_now_ns();
        return;
    }
    uint64_t t0 = gw_now_ns();
    r->close_now = 0;
    int keep = r->proto->finish(r, ok);
    r->keep = keep && !gw_conn_broken(r->conn);
    r->t_end = gw_now_ns();
    r->t_send += r->t_end - t0;
}

int gw_request_client_gone(const struct gw_request *r)
{
    return gw_conn_broken(r->conn) || (r->watched && gw_request_timed_out(r));
}

/* b - a, or 0 when either stamp is missing or b is earlier. */
static uint64_t span(uint64_t a, uint64_t b)
{
    return a != 0 && b > a ? b - a : 0;
}

void gw_request_times(const struct gw_request *r, struct gw_request_times *t)
{
    uint64_t end = r->t_end ? r->t_end : gw_now_ns();
    uint64_t worker = r->t_worker ? r->t_worker : end;
    /* No app stamp (the handler failed before taking the GIL): no GIL phase. */
    uint64_t app = r->t_app >= worker && r->t_app <= end ? r->t_app : worker;
    t->total = span(r->t_head, end);
    t->queue = span(r->t_head, worker);
    t->gil = span(worker, app);
    uint64_t in_app = span(app, end);
    /* send is measured inside the app phase; it cannot exceed it */
    t->send = r->t_send < in_app ? r->t_send : in_app;
    t->app = in_app - t->send;
    if (r->t_head == 0) /* never stamped: nothing meaningful to split */
        t->total = t->queue + t->gil + t->app + t->send;
}
