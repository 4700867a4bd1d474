/*
 * What the server's own files share, and nothing else includes (check-includes): the
 * helpers and watcher callbacks of the loop thread, split by job over server.c (the
 * loop, a connection's life and the hand-offs from workers), server_read.c (reading
 * heads, dispatching, head timeouts), server_write.c (replies, output a worker left,
 * lingering close, requests back), server_accept.c (accepting, the accept pause, the
 * prefork balance), server_stop.c (signals, drain, graceful stop, abandoning) and
 * server_retire.c (--max-requests, --max-rss, SIGHUP, idle heap trim).
 *
 * Every function here runs on the loop thread only, with no lock held (except
 * gw_srv_abandon, the pool's stuck hook); struct gw_server (gateway/server.h) is their
 * shared state. The callbacks (*_cb) are the
 * watchers' and are installed by gw_server_init or accept.
 */
#ifndef GW_SERVER_INTERNAL_H
#define GW_SERVER_INTERNAL_H

#include <ev.h>

#include "gateway/conn.h"
#include "gateway/request.h"
#include "gateway/server.h"

#define GW_SRV_FRESH_SECONDS 0.2  /* prefork: how long a new connection reserves a thread */
#define GW_SRV_HOLD_SECONDS  0.05 /* prefork: the longest a busy worker leaves the backlog */
#define GW_SRV_SWEEP_SECONDS 0.1  /* the longest a quiet hand-back waits to be taken */
#define GW_SRV_WAKE_BATCH    64   /* requests a loop turn queues before it wakes a worker */

/* ---- server.c: a connection's life ---- */

/* Ends the loop once a stop has closed every connection (exits when abandoning). */
void gw_srv_check_done(struct gw_server *s);
/* c no longer holds a thread's place (gateway/conn.h: fresh). */
void gw_srv_unfresh(struct gw_server *s, struct gw_conn *c);
/* Hands references the loop's writes are done with back to a worker to release. */
void gw_srv_release_parked(struct gw_server *s);
/* A multiplexed connection's idle limit with nothing in flight. */
double gw_srv_idle_limit(const struct gw_server *s, const struct gw_conn *c);
/* Closes and frees c (may end the loop: gw_srv_check_done). */
void gw_srv_conn_free(struct gw_server *s, struct gw_conn *c);
/* (Re)arms c's one timer to fire after seconds. */
void gw_srv_set_timer(struct gw_server *s, struct gw_conn *c, double after);
/* Watches c for events (EV_READ and/or EV_WRITE). */
void gw_srv_set_io(struct gw_server *s, struct gw_conn *c, int events);
/* Watches c for what its transport waits for (want), or for own. */
void gw_srv_watch(struct gw_server *s, struct gw_conn *c, unsigned char want, int own);
/* Reads c again in this iteration when its transport holds bytes already. */
void gw_srv_read_again_if_held(struct gw_server *s, struct gw_conn *c);
/* Counts a request the front-end's parser refused, by its status class. */
void gw_srv_count_refusal(struct gw_conn *c);
/* c waits for its next request, for at most timeout seconds. */
void gw_srv_start_idle(struct gw_server *s, struct gw_conn *c, double timeout);
/* Frees c now, or once its last request comes back from a worker. */
void gw_srv_close_when_idle(struct gw_server *s, struct gw_conn *c);

/* ---- server_read.c: heads, dispatch, head timeouts ---- */

/* Parses the buffered bytes and acts on them. 1: c is still the loop's; 0: it may be
 * gone or a worker's (do not touch it). */
int gw_srv_process(struct gw_server *s, struct gw_conn *c);
void gw_srv_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
void gw_srv_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- server_write.c: replies, queued output, lingering close, hand-back ---- */

/* Writes what is left of c->out, then lingers. */
void gw_srv_flush_reply(struct gw_server *s, struct gw_conn *c);
/* Reads and discards while lingering; frees c at the end. */
void gw_srv_linger_read(struct gw_server *s, struct gw_conn *c);
/* Writes more of what a worker left queued (GW_CONN_WRITING). */
void gw_srv_write_out(struct gw_server *s, struct gw_conn *c);
/* Writes what a multiplexed front-end has queued for c. */
void gw_srv_mux_write(struct gw_server *s, struct gw_conn *c);
void gw_srv_wio_cb(struct ev_loop *loop, ev_io *w, int revents);
/* One request back from its worker: continues its connection or closes it. */
void gw_srv_request_back(struct gw_server *s, struct gw_request *r);

/* ---- server_accept.c: listeners, the accept pause, the prefork balance ---- */

void gw_srv_fresh_cb(struct ev_loop *loop, ev_timer *w, int revents);
void gw_srv_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
void gw_srv_accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents);
void gw_srv_hold_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Wakes a worker for the requests queued since the last wake-up (gateway/pool.h:
 * gw_pool_wake), and starts the kick when more wait. */
void gw_srv_pool_wake(struct gw_server *s);

/* Loop: whether workers may hand resting connections back without waking the loop
 * (server.c, hand_back): not while a stop is under way or accepts are held. What was
 * left quietly before stays on the list until the loop takes it. */
void gw_srv_set_quiet(struct gw_server *s, int on);

/* Loop: c is readable while a worker owns it (GW_CONN_DISPATCHED). Returns 1 when
 * hand-backs were waiting and have been taken: c may be gone, the caller must not
 * touch it (if it is the loop's again and still readable, the next turn says so);
 * 0 when c is still a worker's: stop reading it, its hand-back will wake the loop. */
int gw_srv_owned_readable(struct gw_server *s, struct gw_conn *c);
/* Starts (on) or stops every open listener's watcher. */
void gw_srv_listeners_watch(struct gw_server *s, int on);
/* Prefork: stops or resumes accepting as the pool's threads fill or free up. */
void gw_srv_balance(struct gw_server *s);

/* ---- server_stop.c: signals, drain, graceful stop, abandoning the process ---- */

void gw_srv_stop_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents);
void gw_srv_abandon_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
void gw_srv_abandon_cb(struct ev_loop *loop, ev_async *w, int revents);
void gw_srv_drain_done_cb(struct ev_loop *loop, ev_timer *w, int revents);
void gw_srv_stop_cb(struct ev_loop *loop, ev_signal *w, int revents);
void gw_srv_usr2_cb(struct ev_loop *loop, ev_signal *w, int revents);
void gw_srv_quit_cb(struct ev_loop *loop, ev_signal *w, int revents);
/* The pool's stuck hook (any thread; ctx: the server). */
void gw_srv_abandon(void *ctx);
/* _exit(GW_EXIT_STUCK), after a log line. Never returns. */
void gw_srv_abandon_exit(struct gw_server *s);

/* ---- server_retire.c: retirement (--max-requests, --max-rss) and SIGHUP ---- */

/* Reloads (with a reload hook) or stops gracefully; nothing while draining. */
void gw_srv_retire(struct gw_server *s, const char *why);
/* Reads the resident size at most every 0.1 s; over --max-rss, retires once. */
void gw_srv_rss_check(struct gw_server *s);
void gw_srv_rss_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
/* Started by the wake-up that takes requests back: a tick that finds no request
 * served since the one before gives the heap's free memory back and stops. */
#define GW_SRV_TRIM_SECONDS 1.0
void gw_srv_trim_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
void gw_srv_hup_cb(struct ev_loop *loop, ev_signal *w, int revents);

#endif
