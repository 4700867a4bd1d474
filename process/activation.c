/*
 * systemd socket activation (sd_listen_fds(3) without libsystemd): the pure reading of
 * LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES, then the start-up glue that checks the
 * handed-over descriptors and adds them to the configuration as "fd:N" listeners.
 * Runs once on the main thread before any thread or fork; the spec strings it makes
 * live in a static table for the whole process (struct gw_config points at them).
 */
#include "process/activation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/util.h"

/* LISTEN_FDNAMES values and the front-end each selects. */
static const struct {
    const char *name;
    const char *proto;
} names[] = {
    {"http", "http"},       {"https", "https"}, /* HTTP over TLS: needs --certfile */
    {"fastcgi", "fastcgi"}, {"scgi", "scgi"},   {"uwsgi", "uwsgi"},
    {"unknown", "http"}, /* systemd's name when the unit sets no FileDescriptorName= */
};

static const char *proto_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
            return names[i].proto;
    return NULL;
}

int gw_activation_parse(const char *listen_pid, const char *listen_fds, const char *fdnames,
                        pid_t pid, struct gw_activated *out, size_t max, size_t *n, char *err,
                        size_t errlen)
{
    uint64_t v, count;
    *n = 0;
    if (listen_pid == NULL || listen_fds == NULL)
        return 0;
    if (gw_parse_u64(listen_pid, strlen(listen_pid), INT32_MAX, &v) != 0 || v == 0) {
        snprintf(err, errlen, "socket activation: invalid LISTEN_PID '%.32s'", listen_pid);
        return -1;
    }
    if ((pid_t)v != pid)
        return 0; /* meant for another process (e.g. our parent) */
    if (gw_parse_u64(listen_fds, strlen(listen_fds), INT32_MAX, &count) != 0) {
        snprintf(err, errlen, "socket activation: invalid LISTEN_FDS '%.32s'", listen_fds);
        return -1;
    }
    if (count > max) {
        snprintf(err, errlen, "socket activation: LISTEN_FDS=%llu, at most %zu sockets",
                 (unsigned long long)count, max);
        return -1;
    }
    const char *p = fdnames;
    for (size_t i = 0; i < count; i++) {
        out[i].fd = GW_ACTIVATION_FD_START + (int)i;
        out[i].proto = "http";
        if (fdnames == NULL)
            continue;
        if (p == NULL) {
            snprintf(err, errlen,
                     "socket activation: LISTEN_FDNAMES names %zu sockets but LISTEN_FDS is "
                     "%llu",
                     i, (unsigned long long)count);
            return -1;
        }
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        out[i].proto = proto_of(p, len);
        if (out[i].proto == NULL) {
            snprintf(err, errlen,
                     "socket activation: unknown name '%.*s' for fd %d in LISTEN_FDNAMES "
                     "(use http, https, fastcgi, scgi or uwsgi)",
                     (int)(len > 64 ? 64 : len), p, out[i].fd);
            return -1;
        }
        p = colon ? colon + 1 : NULL;
    }
    if (fdnames != NULL && p != NULL && count > 0) {
        size_t more = 1;
        for (const char *q = p; (q = strchr(q, ':')) != NULL; q++)
            more++;
        snprintf(err, errlen,
                 "socket activation: LISTEN_FDNAMES names %llu sockets but LISTEN_FDS is %llu",
                 (unsigned long long)(count + more), (unsigned long long)count);
        return -1;
    }
    *n = (size_t)count;
    return 0;
}

/* A listening stream socket, made close-on-exec and non-blocking. 0 or -1 with err. */
static int check_fd(int fd, char *err, size_t errlen)
{
    int type = 0, acc = 0;
    socklen_t sl = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) != 0) {
        if (errno == EBADF)
            snprintf(err, errlen, "socket activation: fd %d (LISTEN_FDS) is not open", fd);
        else if (errno == ENOTSOCK)
            snprintf(err, errlen, "socket activation: fd %d (LISTEN_FDS) is not a socket", fd);
        else
            snprintf(err, errlen, "socket activation: fd %d: %s", fd, strerror(errno));
        return -1;
    }
    if (type != SOCK_STREAM) {
        snprintf(err, errlen, "socket activation: fd %d is not a stream socket (use ListenStream=)",
                 fd);
        return -1;
    }
    sl = sizeof(acc);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl) != 0 || !acc) {
        snprintf(err, errlen,
                 "socket activation: fd %d is not a listening socket (Accept=yes is not "
                 "supported)",
                 fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) != 0) {
        snprintf(err, errlen, "socket activation: fd %d: %s", fd, strerror(errno));
        return -1;
    }
    return 0;
}

int gw_activation_listen(struct gw_config *cfg, char *err, size_t errlen)
{
    static char specs[GW_MAX_LISTENERS][16];
    struct gw_activated act[GW_MAX_LISTENERS];
    size_t n = 0;
    int rc =
        gw_activation_parse(getenv("LISTEN_PID"), getenv("LISTEN_FDS"), getenv("LISTEN_FDNAMES"),
                            getpid(), act, GW_MAX_LISTENERS, &n, err, errlen);
    /* sd_listen_fds(unset_environment=1): never passed on, whatever the outcome. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (rc != 0)
        return -1;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (check_fd(act[i].fd, err, errlen) != 0)
            return -1;
    if (cfg->default_listen) {
        cfg->nlisten = 0;
        cfg->default_listen = 0;
    }
    if (cfg->nlisten + n > GW_MAX_LISTENERS) {
        snprintf(err, errlen,
                 "too many listeners: %zu options and %zu activated sockets (at most %d)",
                 cfg->nlisten, n, GW_MAX_LISTENERS);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(specs[i], sizeof(specs[i]), "fd:%d", act[i].fd);
        cfg->listen[cfg->nlisten].proto = act[i].proto;
        cfg->listen[cfg->nlisten].addr = specs[i];
        cfg->nlisten++;
    }
    return (int)n;
}
