/*
 * Handing listening sockets to the next process image. A reload (SIGHUP, or
 * --max-requests in single-process mode) starts a new image of wsgate (the master
 * re-executes itself; a single process starts a bridge) that must accept on the
 * very same sockets, so no client ever sees a refused connection. The sockets travel
 * as inherited descriptors named in one environment variable; the spawning side
 * builds the whole environment before fork(2), so the child only calls execve.
 */
#ifndef GW_HANDOVER_H
#define GW_HANDOVER_H

#include <stddef.h>

struct gw_listener;
struct gw_protocol;

#define GW_HANDOVER_ENV "WSGATE_LISTENERS"
#define GW_READY_FD_ENV "WSGATE_READY_FD"

/* A prepared environment for execve: the current one with the listeners' variable
 * (and optionally more "NAME=value" entries) replacing older values. */
struct gw_handover_env {
    char **envp;
    size_t n;
};

/* Builds the environment for the next image. extra: NULL-terminated "NAME=value"
 * strings (copied). 0 or -1 (out of memory). */
int gw_handover_env_build(struct gw_handover_env *e, const struct gw_listener *ls, size_t n,
                          const char *const *extra);
void gw_handover_env_free(struct gw_handover_env *e);

/* In the child, right before execve (async-signal-safe): lets the listeners' and
 * keep_fd's descriptors survive the exec (keep_fd < 0: none). */
void gw_handover_keep(const struct gw_listener *ls, size_t n, int keep_fd);

/* At start-up: when the variable is set, adopts its sockets into ls (at most max),
 * sets *n, removes the variable and returns 1; returns 0 when it is absent and -1
 * with one line in err when it is malformed. find maps a listener's kind ("http",
 * "https", ...) to its protocol; the kind is kept in the listener's name. */
int gw_handover_import(struct gw_listener *ls, size_t max, size_t *n,
                       const struct gw_protocol *(*find)(const char *name), char *err,
                       size_t errlen);

/* Re-executes this program (/proc/self/exe) with argv and e->envp. Returns only on
 * failure (-1, errno set). */
int gw_handover_exec(char *const argv[], const struct gw_handover_env *e);

#endif
