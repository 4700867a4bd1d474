/*
 * The single-process reload of process/reload.h. Three roles, one per image:
 *
 * - the serving process, which starts a bridge on SIGHUP or retirement (a child:
 *   fork, then execve of the same command line with the listeners and the write end
 *   of a readiness pipe), watches the pipe, and on "ready" drains and re-executes;
 * - the bridge (WSGATE_READY_FD in its environment), which writes its pid to that
 *   pipe once it accepts and then only serves until told to stop;
 * - the re-executed image (WSGATE_BRIDGE_PID), which imports the app, accepts, sends
 *   the bridge SIGTERM and reaps it.
 *
 * State is this file's (the main/loop thread only). The handled signals (TERM, INT,
 * QUIT, HUP) stay blocked from before fork or execve to the next image's loop, so one
 * sent meanwhile waits pending instead of reaching a handler that no longer exists.
 */
#include "process/reload.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/server.h"
#include "gateway/stats.h"
#include "gateway/tls_tickets.h"
#include "gateway/util.h"
#include "process/handover.h"
#include "process/pidfile.h"
#include "process/sd_notify.h"
#include "process/stats_http.h"

static struct {
    const struct gw_config *cfg;
    struct gw_listener *ls;
    const size_t *nls;
    char **argv;
    sigset_t handled; /* the stop and reload signals */
    int ready_fd;     /* bridge: where to say it accepts; -1 */
    int is_bridge;    /* this image is a bridge */
    pid_t bridge;     /* the bridge child (starting, serving or draining); 0: none */
    int bridge_rd;    /* read end of its readiness pipe while it starts; -1 */
    int starting;     /* the bridge has not said it accepts yet */
    int handed_over;  /* the bridge accepts: re-execute after the drain */
    int service_stop; /* a stop signal came: no re-execution */
    int again;        /* a reload was asked for while a bridge ran: start it after */
    ev_io ready_w;    /* bridge_rd */
    ev_child child_w; /* the bridge's exit (libev's default loop reaps every child) */
} rl = {.ready_fd = -1, .bridge_rd = -1};

static int int_from_env(const char *name)
{
    const char *v = getenv(name);
    uint64_t n = 0;
    int ok = v != NULL && gw_parse_u64(v, strlen(v), 1u << 30, &n) == 0 && n > 0;
    unsetenv(name);
    return ok ? (int)n : 0;
}

void gw_reload_init(const struct gw_config *cfg, struct gw_listener *ls, const size_t *nls,
                    char **argv)
{
    rl.cfg = cfg;
    rl.ls = ls;
    rl.nls = nls;
    rl.argv = argv;
    sigemptyset(&rl.handled);
    sigaddset(&rl.handled, SIGTERM);
    sigaddset(&rl.handled, SIGINT);
    sigaddset(&rl.handled, SIGQUIT);
    sigaddset(&rl.handled, SIGHUP);
    int fd = int_from_env(GW_READY_FD_ENV);
    if (fd > 0 && fd < 65536 && fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) {
        rl.ready_fd = fd;
        rl.is_bridge = 1;
        unsetenv("NOTIFY_SOCKET"); /* the service is its parent's pid */
    }
    rl.bridge = (pid_t)int_from_env(GW_BRIDGE_ENV);
}

int gw_reload_is_bridge(void)
{
    return rl.is_bridge;
}

int gw_reload_has_bridge(void)
{
    return !rl.is_bridge && rl.bridge != 0;
}

/* Waits for the bridge to exit, up to --graceful-timeout + 5 s (its import may
 * still be running), then kills it. */
static void reap_bridge(void)
{
    if (rl.bridge == 0)
        return;
    uint64_t deadline = gw_now_ns() + (uint64_t)((rl.cfg->graceful_timeout + 5.) * 1e9);
    while (waitpid(rl.bridge, NULL, WNOHANG) == 0) {
        if (gw_now_ns() >= deadline) {
            gw_log(GW_LOG_WARNING, "the reload's bridge (pid %d) did not stop; killing it",
                   (int)rl.bridge);
            kill(rl.bridge, SIGKILL);
            waitpid(rl.bridge, NULL, 0);
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    rl.bridge = 0;
}

static void stop_watching_ready(struct gw_server *s)
{
    if (rl.bridge_rd < 0)
        return;
    ev_io_stop(s->loop, &rl.ready_w);
    close(rl.bridge_rd);
    rl.bridge_rd = -1;
}

static void ready_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct gw_server *s = w->data;
    pid_t pid = 0;
    (void)loop;
    (void)revents;
    ssize_t n = read(rl.bridge_rd, &pid, sizeof(pid));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    stop_watching_ready(s);
    if (n != (ssize_t)sizeof(pid) || pid != rl.bridge)
        return; /* it failed to start: child_cb reports its exit */
    gw_log(GW_LOG_INFO,
           "reload: the bridge (pid %d) accepts; this process drains, then "
           "re-executes itself",
           (int)pid);
    rl.starting = 0;
    rl.handed_over = 1;
    s->handed_over = 1;
    gw_server_stop(s, "reload");
}

static const char *how(int st, int *code)
{
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : st;
    return WIFEXITED(st) ? "exited with status" : "was killed by signal";
}

/* The bridge exited: a failed start (before it accepted), the end of a reload (it
 * was told to stop), or a death in between. */
static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    struct gw_server *s = w->data;
    int code;
    (void)revents;
    ev_child_stop(loop, w);
    const char *what = how(w->rstatus, &code);
    if (rl.starting && !rl.service_stop) {
        rl.starting = 0;
        stop_watching_ready(s);
        gw_log(GW_LOG_ERROR,
               "reload failed: the new code did not start (the bridge, pid %d, %s %d); this "
               "process carries on serving the code and certificates it has",
               (int)rl.bridge, what, code);
        s->retire_after = 0;
        gw_stats_note_reload(0);
        gw_sd_notify("READY=1\nSTATUS=reload failed; serving the old code");
    } else if (WIFEXITED(w->rstatus) && code == 0) {
        gw_log(GW_LOG_INFO, "reload complete: the bridge (pid %d) finished its requests",
               (int)rl.bridge);
    } else {
        gw_log(GW_LOG_WARNING, "the reload's bridge (pid %d) %s %d", (int)rl.bridge, what, code);
    }
    rl.bridge = 0;
    if (rl.again && !rl.handed_over && !rl.service_stop && !s->stopping) {
        rl.again = 0;
        if (gw_reload_start(s) != 0)
            gw_log(GW_LOG_ERROR, "reload: cannot start a bridge: %s", strerror(errno));
    }
}

static void watch_bridge(struct gw_server *s)
{
    ev_child_init(&rl.child_w, child_cb, rl.bridge, 0);
    rl.child_w.data = s;
    ev_child_start(s->loop, &rl.child_w);
}

int gw_reload_start(struct gw_server *s)
{
    int p[2];
    char ready[64];
    struct gw_handover_env env = {0};
    if (rl.bridge != 0) {
        gw_log(GW_LOG_INFO, "reload: one is in progress (bridge pid %d); another follows it",
               (int)rl.bridge);
        rl.again = 1;
        return 0;
    }
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    snprintf(ready, sizeof(ready), "%s=%d", GW_READY_FD_ENV, p[1]);
    const char *extra[] = {ready, gw_tls_tickets_env(), NULL}; /* tickets: NULL or more */
    if (gw_handover_env_build(&env, rl.ls, *rl.nls, extra) != 0) {
        close(p[0]);
        close(p[1]);
        errno = ENOMEM;
        return -1;
    }
    sigset_t was;
    pthread_sigmask(SIG_BLOCK, &rl.handled, &was);
    pid_t pid = fork();
    if (pid == 0) { /* async-signal-safe calls only: other threads exist */
        struct sched_param sp = {0};
        sigprocmask(SIG_SETMASK, &rl.handled, NULL);
        sched_setscheduler(0, SCHED_OTHER, &sp); /* the loop thread runs SCHED_BATCH */
        gw_handover_keep(rl.ls, *rl.nls, p[1]);
        gw_tls_tickets_keep(1);
        gw_handover_exec(rl.argv, &env);
        _exit(127);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    gw_handover_env_free(&env);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        errno = saved;
        return -1;
    }
    gw_log(GW_LOG_INFO, "reload: started a bridge (pid %d) to import the app afresh", (int)pid);
    gw_sd_notify_reloading();
    rl.bridge = pid;
    rl.starting = 1;
    rl.bridge_rd = p[0];
    ev_io_init(&rl.ready_w, ready_cb, p[0], EV_READ);
    rl.ready_w.data = s;
    ev_io_start(s->loop, &rl.ready_w);
    watch_bridge(s);
    return 0;
}

void gw_reload_on_stop(struct gw_server *s, int sig)
{
    if (sig == SIGQUIT) /* _exit follows */
        gw_pidfile_remove(rl.cfg->pid_file);
    else if (!rl.service_stop)
        gw_sd_notify("STOPPING=1");
    rl.service_stop = 1;
    stop_watching_ready(s);
    if (rl.bridge != 0) {
        gw_log(GW_LOG_INFO, "the reload's bridge (pid %d) stops with the service", (int)rl.bridge);
        kill(rl.bridge, sig);
    }
}

void gw_reload_serving(struct gw_server *s)
{
    if (rl.is_bridge) {
        pid_t pid = getpid();
        if (write(rl.ready_fd, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
            gw_log(GW_LOG_WARNING, "cannot report readiness: %s", strerror(errno));
        close(rl.ready_fd);
        rl.ready_fd = -1;
        return;
    }
    if (rl.bridge == 0)
        return;
    gw_stats_note_reload(1);
    gw_log(GW_LOG_INFO, "reload: serving the new code; the bridge (pid %d) finishes its requests",
           (int)rl.bridge);
    watch_bridge(s);
    kill(rl.bridge, SIGTERM);
}

int gw_reload_after_run(const struct gw_server *s)
{
    if (rl.handed_over && !rl.service_stop)
        return 1;
    if (rl.bridge != 0 && ev_is_active(&rl.child_w))
        ev_child_stop(s->loop, &rl.child_w);
    reap_bridge();
    return 0;
}

static void keep_open(int fd)
{
    int fl = fd >= 0 ? fcntl(fd, F_GETFD) : -1;
    if (fl >= 0)
        fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

void gw_reload_exec(int metrics_fd)
{
    char bridge[64], metrics[64];
    struct gw_handover_env env = {0};
    snprintf(bridge, sizeof(bridge), "%s=%d", GW_BRIDGE_ENV, (int)rl.bridge);
    snprintf(metrics, sizeof(metrics), "%s=%d", GW_STATS_FD_ENV, metrics_fd);
    const char *extra[5] = {bridge, NULL, NULL, NULL, NULL};
    size_t n = 1;
    if (metrics_fd >= 0)
        extra[n++] = metrics;
    if (gw_stats_reload_env() != NULL)
        extra[n++] = gw_stats_reload_env();
    if (gw_tls_tickets_env() != NULL)
        extra[n++] = gw_tls_tickets_env();
    if (gw_handover_env_build(&env, rl.ls, *rl.nls, extra) != 0) {
        gw_log(GW_LOG_ERROR, "reload: out of memory");
        return;
    }
    pthread_sigmask(SIG_SETMASK, &rl.handled, NULL); /* pending across execve */
    gw_handover_keep(rl.ls, *rl.nls, -1);
    keep_open(metrics_fd);
    gw_tls_tickets_keep(1);
    gw_handover_exec(rl.argv, &env);
    gw_log(GW_LOG_ERROR, "reload: cannot re-execute wsgate: %s", strerror(errno));
    gw_tls_tickets_keep(0);
    for (size_t i = 0; i < *rl.nls; i++) /* back to close-on-exec */
        if (rl.ls[i].fd >= 0)
            fcntl(rl.ls[i].fd, F_SETFD, FD_CLOEXEC);
    if (metrics_fd >= 0)
        fcntl(metrics_fd, F_SETFD, FD_CLOEXEC);
    gw_handover_env_free(&env);
}

int gw_reload_keep(int metrics_fd)
{
    sigset_t set = rl.handled;
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    gw_stats_note_reload(0);
    gw_log(GW_LOG_ERROR,
           "reload failed: this process cannot serve the app (or load its certificate); "
           "the reload's bridge (pid %d) keeps serving. Fix it and send SIGHUP to try again",
           (int)rl.bridge);
    gw_sd_notify("READY=1\nSTATUS=reload failed; the bridge process serves");
    for (;;) {
        siginfo_t si;
        if (rl.bridge == 0 || waitpid(rl.bridge, NULL, WNOHANG) != 0) {
            gw_log(GW_LOG_CRITICAL,
                   "the reload's bridge (pid %d) exited: nothing serves; "
                   "stopping",
                   (int)rl.bridge);
            rl.bridge = 0;
            return 1;
        }
        int sig = sigwaitinfo(&set, &si);
        if (sig == SIGHUP) {
            gw_log(GW_LOG_INFO, "SIGHUP: re-executing to import the app again");
            gw_reload_exec(metrics_fd);
        } else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
            gw_log(GW_LOG_INFO, "stopping with the reload's bridge (pid %d)", (int)rl.bridge);
            kill(rl.bridge, sig == SIGQUIT ? SIGQUIT : SIGTERM);
            reap_bridge();
            return 0;
        }
    }
}
