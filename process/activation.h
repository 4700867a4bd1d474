/*
 * systemd socket activation: listening sockets handed over as descriptors 3..3+n-1
 * with LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES in the environment (sd_listen_fds(3)).
 * The names choose each socket's front-end: "http", "fastcgi", "scgi"; systemd's
 * default name "unknown", or no LISTEN_FDNAMES at all, means http.
 *
 * Start-up only, on the main thread, before any other thread exists and before any
 * fork: gw_activation_listen changes the environment (unsetenv).
 */
#ifndef GW_ACTIVATION_H
#define GW_ACTIVATION_H

#include <stddef.h>
#include <sys/types.h>

#define GW_ACTIVATION_FD_START 3 /* SD_LISTEN_FDS_START */

struct gw_config;

struct gw_activated {
    int fd;
    const char *proto; /* "http", "https", "fastcgi", "scgi" or "uwsgi" (static strings) */
};

/*
 * Pure: decides from the values of LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (each
 * NULL when unset) which descriptors this process (pid) was given. Fills out[0..*n).
 * Returns 0 (with *n == 0 when the variables are absent or LISTEN_PID names another
 * process), or -1 with one line in err: a malformed number, more than max sockets, a
 * name list whose length differs from LISTEN_FDS, or an unknown name.
 */
int gw_activation_parse(const char *listen_pid, const char *listen_fds, const char *fdnames,
                        pid_t pid, struct gw_activated *out, size_t max, size_t *n, char *err,
                        size_t errlen);

/*
 * Reads the environment, checks that every handed-over descriptor is a listening
 * stream socket, marks it close-on-exec and non-blocking, and adds it to cfg's
 * listeners as "fd:N" with its protocol. When sockets were handed over and no
 * listener option was given, the default listener is dropped. LISTEN_PID, LISTEN_FDS
 * and LISTEN_FDNAMES are removed from the environment in every case, so the app's
 * subprocesses never see them. Call once, after gw_config_parse and before the
 * listeners open (the prefork master calls it before forking: workers inherit the
 * sockets). Returns the number of sockets added, or -1 with one line in err.
 */
int gw_activation_listen(struct gw_config *cfg, char *err, size_t errlen);

#endif
