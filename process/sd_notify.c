/*
 * sd_notify: the address from $NOTIFY_SOCKET is resolved and the socket opened once at
 * start-up (gw_sd_notify_init, main thread, before any other thread); afterwards the
 * state below is read-only, so any thread may send. Each report is one sendto().
 */
#include "process/sd_notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gateway/log.h"

static int notify_fd = -1;
static pid_t notify_pid;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

void gw_sd_notify_init(void)
{
    const char *e = getenv("NOTIFY_SOCKET");
    if (e == NULL || e[0] == '\0' || notify_fd >= 0)
        return;
    size_t len = strlen(e);
    if ((e[0] != '/' && e[0] != '@') || len < 2 || len > sizeof(notify_addr.sun_path) ||
        (e[0] == '/' && len == sizeof(notify_addr.sun_path))) {
        gw_log(GW_LOG_WARNING,
               "NOTIFY_SOCKET '%.120s' is not a unix socket path or @name; "
               "readiness will not be reported",
               e);
        return;
    }
    memset(&notify_addr, 0, sizeof(notify_addr));
    notify_addr.sun_family = AF_UNIX;
    memcpy(notify_addr.sun_path, e, len);
    if (e[0] == '@') {
        notify_addr.sun_path[0] = '\0'; /* abstract: leading NUL, length without terminator */
        notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (notify_fd < 0) {
        gw_log(GW_LOG_WARNING, "NOTIFY_SOCKET: socket: %s; readiness will not be reported",
               strerror(errno));
        return;
    }
    notify_pid = getpid();
}

int gw_sd_notify_enabled(void)
{
    return notify_fd >= 0 && getpid() == notify_pid;
}

void gw_sd_notify(const char *state)
{
    if (!gw_sd_notify_enabled())
        return;
    ssize_t n;
    do
        n = sendto(notify_fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
                   (const struct sockaddr *)&notify_addr, notify_len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        gw_log(GW_LOG_DEBUG, "NOTIFY_SOCKET: cannot send '%.40s': %s", state, strerror(errno));
}

void gw_sd_notifyf(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    if (!gw_sd_notify_enabled())
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    gw_sd_notify(buf);
}

void gw_sd_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    gw_sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)ts.tv_sec * 1000000ull +
                                                          (unsigned long long)ts.tv_nsec / 1000ull);
}
