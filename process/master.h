/*
 * The prefork master (--processes N > 1): forks N worker processes that share the
 * listening sockets, replaces the ones that die (with a back-off against crash
 * loops), and turns signals into process work: SIGTERM/SIGINT stop gracefully,
 * SIGQUIT stops at once, SIGHUP reloads. A reload first checks, in a child process,
 * that the app imports; only then does it re-execute the master in place (same pid;
 * the listeners, the metrics socket and the running workers are inherited): the new
 * image imports the app afresh, starts new workers, and only when they are ready
 * asks the old ones to finish their requests and exit. A reload whose check fails
 * changes nothing: the master keeps the code it has and replaces workers with it.
 * The master never runs a request.
 */
#ifndef GW_MASTER_H
#define GW_MASTER_H

#include <stddef.h>

struct gw_config;
struct gw_listener;

/* Exit statuses of a worker process, as the master reads them. */
#define GW_EXIT_NOAPP 4 /* the app could not be imported (--lazy) */

struct gw_master_ops {
    /* Runs in the new worker process; returns its exit status. slot is the worker's
     * index (0 .. processes-1, kept by its replacements); ready_fd gets one byte
     * once the worker accepts connections. */
    int (*worker)(void *ctx, int slot, int ready_fd);
    /* Around fork(2) when the master holds an imported app (may be NULL). */
    void (*fork_prepare)(void *ctx);
    void (*fork_parent)(void *ctx);
    void (*fork_child)(void *ctx);
    void *ctx;
};

/*
 * Runs the master until it stops; returns the process exit status. have_app is 0
 * when this image could not import the app during a reload: the inherited workers
 * keep serving the old code and nothing new is started until the next SIGHUP. argv
 * is the command line to re-execute on SIGHUP. The stop signals must be blocked by
 * the caller (they are read through a signalfd).
 */
int gw_master_run(const struct gw_config *cfg, struct gw_listener *ls, size_t nls,
                  const struct gw_master_ops *ops, int have_app, char *const argv[]);

/* 1 when this image was started by a master's reload (it inherits workers). */
int gw_master_is_reload(void);

/* 1 when this image is a reload's import check (see SIGHUP in master.c): import the
 * app, exit 0 when it imports and 1 (with the error printed) when not; nothing else.
 * Removes the marker from the environment. */
int gw_master_is_check(void);

#endif
