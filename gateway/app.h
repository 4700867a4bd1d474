/*
 * The app-handler interface: how the core runs one request through the application
 * without knowing it is Python. python/ fills one struct gw_app; gateway/pool.c calls
 * it from its worker threads.
 */
#ifndef GW_APP_H
#define GW_APP_H

struct gw_request;

struct gw_app {
    /* Worker thread start-up, once per thread, before any request: returns the
     * thread's context (e.g. its PyThreadState), or NULL on failure (the thread
     * exits and the error is logged). Runs without any gateway lock held. */
    void *(*thread_start)(void *ctx);
    /* Worker thread end, once, with the value thread_start returned. */
    void (*thread_stop)(void *tctx);
    /* Runs the application for one request on a worker thread: builds environ, calls
     * the app, sends the head and body through gw_request_send_* and calls close()
     * on the result. Returns 1 when the response was produced completely, 0 when it
     * must be aborted (app raised, client gone, bad status...). Must not call
     * gw_request_finish: the pool does, right after. */
    int (*handle)(void *tctx, struct gw_request *r);
    /* Optional (--timeout). Called by the watchdog's interrupter thread, never by a
     * worker, with no gateway lock held: raises the request-timeout exception in the
     * worker thread whose thread_start returned tctx, if confirm(arg) still returns 1
     * once the runtime's lock (the GIL) is held (the worker may have moved on to
     * another request meanwhile). May block as long as another thread holds the GIL.
     * confirm takes a gateway lock: lock order GIL -> watchdog lock. */
    void (*interrupt)(void *tctx, int (*confirm)(void *arg), void *arg);
    /* Optional (--slow-log). Called by the watchdog's helper thread like interrupt:
     * takes the runtime's lock (the GIL) only to read the frames and, if confirm(arg)
     * still returns 1 then, returns the stack of the worker thread whose thread_start
     * returned tctx as malloc'd text (the caller frees it): one line per frame,
     * outermost first, "  File \"PATH\", line N, in FUNCTION\n". NULL when the
     * request is over or memory is short. */
    char *(*stack)(void *tctx, int (*confirm)(void *arg), void *arg);
    /* Optional. Worker thread, between requests, no gateway lock held: releases the
     * references to the app's buffers that the core is done with (gw_out_take_parked,
     * gateway/output.h), taking the runtime's lock (the GIL) once for all of them. */
    void (*release)(void *tctx);
    void *ctx;
};

#endif
