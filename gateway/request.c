/*
 * The worker-side request API (gateway/request.h): thin dispatch to the front-end of
 * the request's connection, so python/ never knows which protocol it is speaking.
 * The wrappers also keep the access log's accounting: time spent sending (t_send),
 * body bytes read (bytes_in) and the end stamp (t_end). Only the worker that owns
 * the request calls them, so the fields need no locking.
 */
#include "gateway/request.h"

#include "gateway/conn.h"
#include "gateway/protocol.h"
#include "gateway/util.h"

ssize_t gw_request_read(struct gw_request *r, char *buf, size_t len)
{
    ssize_t n = r->proto->read_body(r, buf, len);
    if (n > 0)
        r->bytes_in += (uint64_t)n;
    return n;
}

int gw_request_send_head(struct gw_request *r, struct gw_slice status,
                         const struct gw_field *fields, size_t n)
{
    uint64_t t0 = gw_now_ns();
    int rc = r->proto->send_head(r, status, fields, n);
    r->t_send += gw_now_ns() - t0;
    return rc;
}

int gw_request_send_body(struct gw_request *r, const struct iovec *iov, int iovcnt)
{
    uint64_t t0 = gw_now_ns();
    int rc = r->proto->send_body(r, iov, iovcnt);
    r->t_send += gw_now_ns() - t0;
    return rc;
}

int gw_request_send_file(struct gw_request *r, int fd, off_t offset, size_t len)
{
    uint64_t t0 = gw_now_ns();
    int rc = r->proto->send_file(r, fd, offset, len);
    r->t_send += gw_now_ns() - t0;
    return rc;
}

void gw_request_finish(struct gw_request *r, int ok)
{
    uint64_t t0 = gw_now_ns();
    int keep = r->proto->finish(r, ok);
    r->keep = keep && !gw_conn_broken(r->conn);
    r->t_end = gw_now_ns();
    r->t_send += r->t_end - t0;
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
