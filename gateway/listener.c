/*
 * Opening listening sockets from the address syntax of the command line:
 * HOST:PORT, :PORT (all IPv4 interfaces), [V6]:PORT, unix:PATH and fd:N. Runs on the
 * main thread at start-up; every failure is one line in err.
 */
#include "gateway/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway/util.h"

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

/* Fills server_name/server_port from the bound address. */
static void describe(struct gw_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[sizeof(l->server_name)], port[sizeof(l->server_port)];
    snprintf(l->server_name, sizeof(l->server_name), "localhost");
    snprintf(l->server_port, sizeof(l->server_port), "80");
    if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_UNIX) {
        l->is_unix = 1;
        return;
    }
    l->is_tcp = 1;
    /* Accepted sockets inherit it from the listener (Linux clones the listening
     * socket): one setsockopt here instead of one per connection. */
    int one = 1;
    setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return;
    snprintf(l->server_name, sizeof(l->server_name), "%s", host);
    snprintf(l->server_port, sizeof(l->server_port), "%s", port);
}

static int open_fd(struct gw_listener *l, const char *num, char *err, size_t errlen)
{
    uint64_t v;
    int type = 0, acc = 0;
    socklen_t sl = sizeof(type);
    if (gw_parse_u64(num, strlen(num), 65535, &v) != 0) {
        snprintf(err, errlen, "invalid listener '%s': fd:N needs a descriptor number", l->spec);
        return -1;
    }
    int fd = (int)v;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) != 0 || type != SOCK_STREAM) {
        snprintf(err, errlen, "listener '%s': descriptor %d is not a stream socket", l->spec, fd);
        return -1;
    }
    sl = sizeof(acc);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl) != 0 || !acc) {
        snprintf(err, errlen, "listener '%s': socket %d is not listening", l->spec, fd);
        return -1;
    }
    if (set_flags(fd) != 0) {
        snprintf(err, errlen, "listener '%s': %s", l->spec, strerror(errno));
        return -1;
    }
    l->fd = fd;
    return 0;
}

/* A socket file that nobody accepts on is stale: remove it. A live one is an error. */
static int clear_stale(const char *path, const struct sockaddr_un *sun, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "unix:%s exists and is not a socket", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto unlink_it;
    if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
        close(fd);
        snprintf(err, errlen, "unix:%s is in use by another server", path);
        return -1;
    }
    close(fd);
unlink_it:
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove stale socket unix:%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_unix(struct gw_listener *l, const char *path, int backlog, int mode, char *err,
                     size_t errlen)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "invalid listener '%s': path empty or longer than %zu bytes", l->spec,
                 sizeof(sun.sun_path) - 1);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path));
    if (clear_stale(path, &sun, err, errlen) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
        goto fail;
    l->unix_path = strdup(path);
    if (l->unix_path == NULL)
        goto fail;
    l->path_owner = getpid();
    if (mode >= 0 && chmod(path, (mode_t)mode) != 0)
        goto fail;
    if (listen(fd, backlog) != 0)
        goto fail;
    l->fd = fd;
    return 0;
fail:
    snprintf(err, errlen, "cannot listen on %s: %s", l->spec, strerror(errno));
    if (fd >= 0) {
        close(fd);
        if (l->unix_path != NULL)
            unlink(path);
    }
    free(l->unix_path);
    l->unix_path = NULL;
    return -1;
}

static int open_tcp(struct gw_listener *l, const char *addr, int backlog, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0') {
        snprintf(err, errlen,
                 "invalid listener '%s': expected HOST:PORT, :PORT, [V6]:PORT, "
                 "unix:PATH or fd:N",
                 l->spec);
        return -1;
    }
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        addr++;
        hl -= 2;
    } else if (memchr(addr, ':', hl) != NULL) {
        snprintf(err, errlen, "invalid listener '%s': write IPv6 addresses as [ADDR]:PORT",
                 l->spec);
        return -1;
    }
    if (hl >= sizeof(host)) {
        snprintf(err, errlen, "invalid listener '%s': host too long", l->spec);
        return -1;
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    port = colon + 1;
    uint64_t pv;
    if (gw_parse_u64(port, strlen(port), 65535, &pv) != 0) {
        snprintf(err, errlen, "invalid listener '%s': bad port '%s'", l->spec, port);
        return -1;
    }

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(hl ? host : "0.0.0.0", port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve listener '%s': %s", l->spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", l->spec, strerror(saved));
        return -1;
    }
    l->fd = fd;
    return 0;
}

int gw_listener_open(struct gw_listener *l, const char *spec, const struct gw_protocol *proto,
                     int backlog, int socket_mode, char *err, size_t errlen)
{
    int rc;
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->spec = spec;
    l->proto = proto;
    if (strncmp(spec, "unix:", 5) == 0)
        rc = open_unix(l, spec + 5, backlog, socket_mode, err, errlen);
    else if (strncmp(spec, "fd:", 3) == 0)
        rc = open_fd(l, spec + 3, err, errlen);
    else
        rc = open_tcp(l, spec, backlog, err, errlen);
    if (rc != 0)
        return -1;
    describe(l);
    return 0;
}

int gw_listener_adopt(struct gw_listener *l, int fd, const char *spec,
                      const struct gw_protocol *proto, char *err, size_t errlen)
{
    char num[16];
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->spec = spec;
    l->proto = proto;
    snprintf(num, sizeof(num), "%d", fd);
    if (open_fd(l, num, err, errlen) != 0)
        return -1;
    describe(l);
    if (strncmp(spec, "unix:", 5) == 0) {
        l->unix_path = strdup(spec + 5);
        if (l->unix_path == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        l->path_owner = getpid();
    }
    return 0;
}

void gw_listener_disown(struct gw_listener *l)
{
    l->path_owner = 0;
}

void gw_listener_close(struct gw_listener *l)
{
    if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
    if (l->unix_path != NULL) {
        if (l->path_owner == getpid())
            unlink(l->unix_path);
        free(l->unix_path);
        l->unix_path = NULL;
    }
}
