/*
 * The keep-alive carry of gateway/carry.h: a worker reads and parses the next
 * request of the connection it owns, with the front-end's own parser, exactly as
 * the loop would (one read into c->in through the transport, then parse), so the parser's limits
 * and verdicts are the same on either thread. The in-flight gauge counts a carried request from
 * its parse (the one before left it when it had run), so /metrics shows a quiet connection as idle.
 */
#include "gateway/carry.h"

#include <poll.h>
#include <time.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "gateway/util.h"

int gw_carry_possible(const struct gw_request *r)
{
    const struct gw_conn *c = r->conn;
    return r->keep && !c->proto->multiplexed && c->proto->parse != NULL && !gw_conn_broken(c) &&
           !gw_conn_draining(c) && gw_out_empty(&c->send);
}

int gw_carry_buffered(const struct gw_request *r)
{
    return r->conn->in.start < r->conn->in.end || gw_conn_tr_pending(r->conn);
}

static int readable_within(int fd, int wait_us)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    struct timespec ts = {.tv_sec = wait_us / 1000000, .tv_nsec = (wait_us % 1000000) * 1000L};
    return ppoll(&pfd, 1, &ts, NULL) > 0;
}

/* One read into c->in, through the transport: at once when it holds bytes already,
 * else after waiting up to wait_us for the socket (0: no read: a request that was not
 * buffered cannot have been answered yet). 1: bytes came; 0: none (or no room: the
 * loop deals with it); -1: the peer closed or failed, and the connection is marked
 * broken. */
static int read_some(struct gw_conn *c, int wait_us)
{
    if (!gw_conn_tr_pending(c) && (wait_us <= 0 || !readable_within(c->fd, wait_us)))
        return 0;
    if (gw_conn_reserve(c, GW_CONN_READ_SIZE) != 0)
        return 0;
    ssize_t n = c->tr->read(c, c->in.data + c->in.end, c->in.cap - c->in.end);
    if (n > 0) {
        c->in.end += (size_t)n;
        return 1;
    }
    if (n == GW_EAGAIN)
        return 0;
    gw_conn_set_broken(c); /* EOF or error between requests: nothing to answer */
    return -1;
}

struct gw_request *gw_carry_next(struct gw_request *r, int wait_us)
{
    struct gw_conn *c = r->conn;
    struct gw_request *next = NULL;
    c->pin = 0;                     /* r's slices are dead: the buffer may move */
    unsigned seq = r->conn_seq + 1; /* next may be r itself, made anew by parse */
    if (c->in.start == c->in.end && read_some(c, wait_us) <= 0)
        return NULL;
    if (c->proto->parse(c, &next) != GW_PARSE_READY)
        return NULL;          /* MORE: the loop reads the rest; CLOSE: it sends c->out */
    gw_stats_inflight_add(1); /* off again when it has run (pool.c) */
    c->carried++;
    next->t_head = gw_now_ns();
    next->conn_seq = seq;
    return next;
}
