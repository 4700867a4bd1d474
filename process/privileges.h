/*
 * Privileges: --umask, --user, --group, --allow-root and --socket-owner. wsgate may
 * be started as root to bind low ports and open files only root may open (logs, the
 * pid file's directory, the TLS key); it then runs the app as an unprivileged user
 * (gunicorn's and uWSGI's semantics). The order in process/main.c: gw_priv_init
 * first (a bad name is one line before anything is opened), then the logs, the TLS
 * files, the listeners (gw_priv_own_socket on each new unix socket), the metrics
 * socket and the pid file, then gw_priv_drop, and only then Python: the app (and the
 * master that forks the workers) never runs with root's rights.
 *
 * A re-executed image (a reload of the master, or of a single process), a reload's
 * bridge and its import check start as the user already: they inherit the sockets
 * and gw_priv_drop has nothing to do. Main thread, start-up only.
 */
#ifndef GW_PRIVILEGES_H
#define GW_PRIVILEGES_H

#include <stddef.h>

struct gw_config;

/* Applies --umask, resolves --user, --group and --socket-owner (names or numeric
 * ids) and, without --allow-root, refuses to run the app as root: a start as root
 * (effective id 0) without --user/--group, and a --user/--group that leaves the app
 * running as root. The same for --check, which imports the app too. 0 or -1 with one
 * line in err (exit status 2). */
int gw_priv_init(const struct gw_config *cfg, char *err, size_t errlen);

/* A unix socket file this process just made: owned by --socket-owner (when given).
 * 0 or -1 with one line in err. */
int gw_priv_own_socket(const char *path, char *err, size_t errlen);

/* 1 when --user or --group is given (this process runs the app as someone else). */
int gw_priv_switching(void);

/*
 * Becomes --user/--group: the log files (paths of cfg) are handed to that user so a
 * re-executed image can open them again; then the supplementary groups (the user's,
 * initgroups; only the group for an id without a passwd entry), the group, the user;
 * then makes sure root cannot be regained. Nothing to do without --user/--group or
 * in a process that already runs as them. 0 or -1 with one line in err.
 */
int gw_priv_drop(const struct gw_config *cfg, char *err, size_t errlen);

/* Without --user/--group, a process running as root (which gw_priv_init let through
 * for --allow-root) logs that it runs the app as root (once per service start: the
 * caller leaves re-executed images and bridges out). */
void gw_priv_say_root(void);

#endif
