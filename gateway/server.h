/*
 * The server: listeners, the libev loop, every connection, and the hand-offs between
 * the loop thread and the worker pool. The loop thread runs gw_server_run and is the
 * only thread that touches the watchers, the connection list and the counters below;
 * workers reach it only through the pool's hooks (gw_server_pool_hooks) and the
 * connections' host (gw_conn_host.resume): locked lists plus ev_async.
 *
 * Lock order: server.back_lock and the pool's lock are leaves; neither is ever held
 * while taking the other, nor while taking the GIL.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <ev.h>
#include <pthread.h>
#include <stddef.h>

#include "gateway/config.h"
#include "gateway/conn.h"

/* Exit status of a worker process that gave up because a request thread is stuck in
 * the app past --timeout + --timeout-grace (the pool's stuck hook): the prefork master
 * starts a replacement. 75 is EX_TEMPFAIL of sysexits.h. */
#define GW_EXIT_STUCK 75
/* A prefork worker's exit status after a retirement for --max-rss (a clean exit the
 * master counts apart from --max-requests). */
#define GW_EXIT_MAX_RSS 76

struct gw_listener;
struct gw_pool;
struct gw_pool_hooks;
struct gw_protocol;

struct gw_server {
    const struct gw_config *cfg;
    struct ev_loop *loop;
    struct gw_pool *pool;
    struct gw_listener *listeners;
    size_t nlisteners;

    ev_async wake;             /* a worker handed a request back */
    ev_prepare pool_wake;      /* before the loop waits: wake a worker for what it queued */
    int wake_due;              /* requests queued with no worker running, not yet woken for */
    pthread_mutex_t back_lock; /* protects the three lists below */
    struct gw_request *back_head, *back_tail;
    struct gw_conn *resume_head; /* paused connections a worker wants read again */
    struct gw_conn *write_head;  /* multiplexed connections with output queued */
    int quiet_ok;                /* under back_lock: a worker may hand a resting connection
                                    back without waking the loop (server.c, hand_back) */
    unsigned quiet_backs;        /* atomic: such hand-backs on the list, not yet taken */
    ev_check back_check;         /* after the loop wakes, before the sockets' callbacks */
    ev_timer sweep;              /* while requests are out: quiet hand-backs taken anyway */

    ev_signal sig_term, sig_int, sig_quit, sig_hup;
    ev_timer accept_pause;  /* accept() paused after EMFILE */
    ev_timer stop_deadline; /* --graceful-timeout after a stop began */
    ev_timer kick;          /* requests queued for busy workers: gw_pool_kick */
    int stopping;
    int draining;             /* --health-path answers 503: a stop or its --drain-delay */
    ev_timer drain_timer;     /* --drain-delay: the graceful stop once it has run */
    ev_signal sig_usr2;       /* prefork: the master's stop begins its --drain-delay */
    struct gw_conn_host host; /* its draining: an atomic copy of stopping for workers */
    int accept_held;          /* prefork: not accepting while every thread is busy */
    ev_timer hold_timer;      /* bounds a hold: then the backlog is accepted anyway */
    int accept_forced;        /* the hold ran out: accepting until the backlog is empty */
    size_t nfresh;            /* fresh connections (gateway/conn.h), counted against idle threads */
    ev_timer fresh_timer;     /* expires fresh connections that send nothing */
    int handed_over;          /* a reload's bridge accepts: the stop keeps the listeners
                                 open for the re-execution */
    uint64_t served;          /* requests handed back (--max-requests) */
    uint64_t retire_after;    /* served count that starts a retirement; 0 = never */
    uint64_t max_rss;         /* resident bytes that start a retirement (--max-rss); 0 = never.
                                 Set before gw_server_run. */
    ev_timer rss_timer;       /* reads the resident size while idle (max_rss) */
    ev_tstamp rss_checked;    /* when it was last read */
    int over_rss;             /* the retirement was for max_rss (a worker exits GW_EXIT_MAX_RSS) */
    ev_timer trim_timer;      /* gives freed heap memory back once requests stop (gateway/heap.h) */
    uint64_t trim_seen;       /* served at its last tick */
    uint64_t trimmed;         /* served at the last trim */
    ev_tstamp full_logged;    /* the last "request queue full" warning (once a second) */
    uint64_t full_unlogged;   /* refusals since, not logged */
    /* SIGHUP and --max-requests call this (process/reload.h: a bridge process takes
     * the listeners over, and once it accepts, the hook sets handed_over and calls
     * gw_server_stop); 0 or -1 with errno. NULL: SIGHUP is ignored and retirement is
     * a plain graceful stop (a prefork worker: its master replaces it). */
    int (*reload)(struct gw_server *s);
    /* Every stop signal (SIGTERM, SIGINT: sig SIGTERM; SIGQUIT: sig SIGQUIT) calls
     * this first, also during a stop already under way, so a reload in progress is
     * stopped with the service and, before SIGQUIT's _exit, the pid file is removed
     * (process/reload.h). NULL: nothing. */
    void (*on_stop)(struct gw_server *s, int sig);
    size_t nconns;       /* open connections */
    size_t open_conns;   /* atomic copy of nconns for the workers (gateway/carry.h) */
    size_t ndispatched;  /* connections owned by the pool */
    struct gw_conn *all; /* every open connection */

    ev_async abandon_wake;  /* the pool's stuck hook was called */
    ev_timer abandon_timer; /* polls for the other requests, up to the deadline */
    int abandoning;         /* loop thread: draining before _exit(GW_EXIT_STUCK) */
    size_t nstuck;          /* atomic: requests that will never come back */
    ev_tstamp abandon_deadline;

    /* The loop's read of a connection with no input buffer lands here; only the
     * bytes that came are kept (gw_conn_in_adopt). */
    char scratch[GW_CONN_READ_SIZE];
};

/* The hooks a pool that feeds s needs (gateway/pool.h): its workers hand requests
 * back to s (locked list plus ev_async), read its open-connection count, and a stuck
 * thread abandons the process (see gw_srv_abandon in server_stop.c). Only records s's address: call
 * it before gw_server_init, start the pool, then initialise s with it. */
void gw_server_pool_hooks(struct gw_server *s, struct gw_pool_hooks *h);

/* Sets up the loop, its watchers and the listeners' watchers. 0 or -1. */
int gw_server_init(struct gw_server *s, const struct gw_config *cfg, struct gw_listener *listeners,
                   size_t nlisteners, struct gw_pool *pool);

/* Runs the loop until a graceful stop has finished (SIGTERM/SIGINT, a reload or a
 * retirement). SIGQUIT ends the process at once (exit 0); requests still in flight
 * when --graceful-timeout runs out are abandoned the same way. */
void gw_server_run(struct gw_server *s);

/* Loop thread: begins a graceful stop (stop accepting, close idle connections, finish
 * in-flight requests); why is logged. Idempotent. From then on --health-path answers
 * 503. (A stop signal first runs --drain-delay: see gw_srv_stop_cb in server_stop.c.) */
void gw_server_stop(struct gw_server *s, const char *why);

/* Frees what gw_server_init made (after the pool has stopped). */
void gw_server_destroy(struct gw_server *s);

#endif
