/*
 * Keep-alive carry: a worker that has just finished a response on a keep-alive
 * connection of a one-request-at-a-time protocol (HTTP) goes on to that
 * connection's next request itself, instead of handing the connection back to the
 * loop to be read, parsed and queued for a worker again. For a lone client that
 * saves two of the three thread wake-ups each request costs (loop, worker, loop).
 *
 * The worker stays the connection's only owner throughout; nothing changes hands
 * outside the queues. Whatever is not a complete request (a partial head, a small
 * body still arriving, an error reply, a quiet client) goes back to the loop as
 * before, which then acts on what the connection holds.
 */
#ifndef GW_CARRY_H
#define GW_CARRY_H

struct gw_request;

/* How long a worker may wait for the next request of a connection it carries, when
 * the pool has nothing else for it (see gateway/pool.c). */
#define GW_CARRY_WAIT_US 1000
/* Requests one dispatch may carry before the connection goes back through the
 * loop (which counts them for --max-requests and balances the queue). */
#define GW_CARRY_MAX 64

/* Worker, GIL released: 1 when r's connection may be carried to another request:
 * r was answered and keeps its connection, the protocol serves one request at a
 * time, the connection is healthy, its response is all written and the server is
 * not stopping. */
int gw_carry_possible(const struct gw_request *r);

/* Worker: 1 when r's connection already holds bytes of a next request. */
int gw_carry_buffered(const struct gw_request *r);

/*
 * Worker, after r was finished, logged and counted (its slices are dead from here
 * on). Takes the next request of r's connection if it is complete: one already
 * buffered (pipelined), else one that arrives within wait_us (0: only a buffered
 * one; else at most one read). Returns it, parsed and stamped (t_head), ready to run on this
 * worker; or NULL: hand r back to the loop, which finds in the connection any bytes
 * read here (kept for its parser), an error reply in c->out to send before closing,
 * or the connection marked broken (the peer closed it or failed).
 */
struct gw_request *gw_carry_next(struct gw_request *r, int wait_us);

#endif
