/*
 * Reloading one process (SIGHUP, or --max-requests without a master) while the pid
 * that was started stays the service's pid: the process a supervisor, a container
 * runtime (pid 1), a shell or a --pid-file watcher knows never exits during a
 * reload, and no connection is refused.
 *
 * A process cannot import its app afresh in place, so a reload goes through a
 * *bridge*: the same command line in a child process that inherits the listening
 * sockets, imports the app and accepts. Once it does, this process stops accepting,
 * finishes its requests, and re-executes itself in place (same pid) with the
 * listeners; the new image imports the app, accepts, and tells the bridge to finish
 * its requests and exit. Connections arrive throughout: on this process, then on
 * the bridge, then on the new image (both accept for a moment).
 *
 * If the bridge cannot import the app, this process carries on with the code it
 * runs (the reload failed). If the new image cannot import it or load the TLS
 * certificate (the files changed again meanwhile), the bridge keeps serving and the process waits
 * as its keeper: a stop signal stops both, SIGHUP tries the re-execution again.
 *
 * Everything here runs on the main (loop) thread; the bridge and the re-executed
 * image learn their roles from the environment (GW_READY_FD_ENV, GW_BRIDGE_ENV).
 */
#ifndef GW_RELOAD_H
#define GW_RELOAD_H

#include <stddef.h>

struct gw_config;
struct gw_listener;
struct gw_server;

#define GW_BRIDGE_ENV "WSGATE_BRIDGE_PID"

/* Start-up, before the listeners are opened: remembers where the listeners will be
 * (ls[0..*nls), filled later), the command line to re-execute, and reads this
 * image's role from the environment (and removes it from there). */
void gw_reload_init(const struct gw_config *cfg, struct gw_listener *ls, const size_t *nls,
                    char **argv);

/* 1 when this process is a reload's bridge: it serves until its parent's new image
 * tells it to stop; it never reloads, retires, writes the pid file, reports to the
 * service manager or serves the metrics, and the listeners' files are not its own. */
int gw_reload_is_bridge(void);

/* 1 in a re-executed image whose bridge still serves (it imports the app while the
 * bridge accepts). */
int gw_reload_has_bridge(void);

/* The server's reload hook (gateway/server.h): starts a bridge. 0 or -1 (errno). */
int gw_reload_start(struct gw_server *s);

/* The server's on_stop hook: a stop signal (SIGTERM for SIGTERM/SIGINT, or SIGQUIT)
 * stops the service, so a bridge (starting or serving) gets it too, and this
 * process will not re-execute after its drain. */
void gw_reload_on_stop(struct gw_server *s, int sig);

/* Loop thread, the server about to run: in a re-executed image, tells the bridge to
 * finish its requests and exit, and reaps it when it does. */
void gw_reload_serving(struct gw_server *s);

/* After gw_server_run returned: 1 when the stop was a completed hand-over to a
 * bridge and this process must now re-execute (call gw_reload_exec once Python has
 * stopped); 0 when the process exits, after waiting for a bridge that was stopped
 * with it (bounded by --graceful-timeout). */
int gw_reload_after_run(const struct gw_server *s);

/* Re-executes this program in place with the listeners and the metrics socket
 * (metrics_fd, -1: none). Returns only on failure, with the error logged. */
void gw_reload_exec(int metrics_fd);

/* A re-executed image that could not import the app while its bridge serves: keeps
 * the bridge until a stop signal (forwarded; waits for it) or SIGHUP (re-executes
 * again). Returns the process's exit status. */
int gw_reload_keep(int metrics_fd);

#endif
