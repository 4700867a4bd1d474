/*
 * The metrics responder (--stats ADDR): a small HTTP server for /metrics (Prometheus
 * text) and /stats (JSON) over the counters of gateway/stats.h. It runs on a libev
 * loop (the server's loop in single-process mode, the master's loop in prefork) and
 * never touches Python or the GIL, so it answers while every worker thread is busy
 * in the app.
 */
#ifndef GW_STATS_HTTP_H
#define GW_STATS_HTTP_H

#include <ev.h>
#include <stddef.h>

/* Main thread, before privileges are dropped (process/privileges.h): opens ADDR
 * (HOST:PORT, :PORT, [V6]:PORT, unix:PATH), or adopts the socket a re-executed image
 * inherited (GW_STATS_FD_ENV below), without serving it yet. 0 or -1 with one line in
 * err. Optional: gw_stats_listen binds itself when this was not called. */
int gw_stats_bind(const char *addr, char *err, size_t errlen);

/* Loop thread of the process that serves the metrics: binds ADDR as gw_stats_bind
 * unless that was done, and serves /metrics and /stats on loop. Returns 0 or -1 with
 * one line in err. At most one responder per process. */
int gw_stats_listen(struct ev_loop *loop, const char *addr, char *err, size_t errlen);

/* The responder's listening socket, for a re-execution of this process to inherit
 * (named in the environment as GW_STATS_FD_ENV=fd, which gw_stats_listen then adopts
 * instead of opening ADDR, so the metrics are never refused); -1 when none. */
#define GW_STATS_FD_ENV "WSGATE_STATS_FD"
int gw_stats_listen_fd(void);

/* The unix socket file gw_stats_bind created (to be given --socket-owner), or NULL:
 * not bound, not a unix socket, or inherited from the image before a reload. */
const char *gw_stats_made_socket(void);

/* Loop thread, the loop no longer running, before this process re-executes itself
 * (a reload): stops accepting (connections not yet accepted wait in the socket's
 * backlog for the next image, which inherits it) and answers the connections already
 * accepted, for up to max_seconds; those still open then are closed by the exec, as
 * before. Without it a metrics request accepted in the last moment got a reset.
 * gw_stats_resume accepts again (the exec failed). */
void gw_stats_finish(double max_seconds);
void gw_stats_resume(void);

/* Loop thread: stops the responder, closes its connections and its listening socket
 * (removing a unix socket file). Idempotent. */
void gw_stats_close(void);

/* A forked child that inherited the responder: closes the listening socket and the
 * connections' descriptors and frees their memory, without removing a unix socket
 * file (the parent still serves it). inherited: NULL when the child will never run
 * the loop the responder was on; otherwise the child's copy of that loop, which it
 * keeps using: the watchers are stopped on it (no system call; run ev_loop_fork on
 * it before ev_run). */
void gw_stats_forget_after_fork(struct ev_loop *inherited);

#endif
