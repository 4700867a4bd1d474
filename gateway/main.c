/*
 * wsgate's entry point, and the one place where the core, the front-ends and the
 * Python side are wired together (style.md rule 1). Start-up order: command line,
 * logs, fd limit, listeners (so a busy port fails before Python starts), the
 * interpreter and the app, then either the worker pool and the loop in this process,
 * or (--processes > 1) the prefork master, whose workers run the pool and the loop.
 * Shut-down runs it backwards after a graceful stop.
 *
 * A reload in single-process mode (SIGHUP, --max-requests) starts a successor: the
 * same command line in a new process that inherits the listeners and says when it
 * accepts (WSGATE_READY_FD); only then does this process stop accepting and drain.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/activation.h"
#include "gateway/config.h"
#include "gateway/handover.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/master.h"
#include "gateway/pidfile.h"
#include "gateway/pool.h"
#include "gateway/sd_notify.h"
#include "gateway/server.h"
#include "gateway/stats.h"
#include "gateway/util.h"
#include "protocols/fastcgi.h"
#include "protocols/http.h"
#include "protocols/scgi.h"
#include "python/wsgi.h"

/* The front-ends by listener option name. Adding a protocol adds one line here. */
static const struct {
    const char *name;
    const struct gw_protocol *proto;
} protocols[] = {
    {"http", &gw_http_protocol},
    {"fastcgi", &gw_fastcgi_protocol},
    {"scgi", &gw_scgi_protocol},
};

static const struct gw_protocol *find_protocol(const char *name)
{
    for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
        if (strcmp(protocols[i].name, name) == 0)
            return protocols[i].proto;
    return NULL;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            gw_log(GW_LOG_WARNING, "cannot raise the open-file limit to %llu",
                   (unsigned long long)rl.rlim_max);
    }
}

static struct gw_config cfg;
static struct gw_listener listeners[GW_MAX_LISTENERS];
static size_t nopen;
static char **saved_argv;
static struct gw_app app;
static sigset_t handled_signals; /* blocked until the loop watches them */

static int open_listeners(char *err, size_t errlen)
{
    int rc = gw_handover_import(listeners, GW_MAX_LISTENERS, &nopen, find_protocol, err, errlen);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    for (; nopen < cfg.nlisten; nopen++) {
        const struct gw_protocol *p = find_protocol(cfg.listen[nopen].proto);
        if (p == NULL) {
            snprintf(err, errlen, "unknown protocol");
            return -1;
        }
        if (gw_listener_open(&listeners[nopen], cfg.listen[nopen].addr, p, cfg.backlog,
                             cfg.socket_mode, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int start_python(void)
{
    char err[512];
    struct gw_py_options po = {
        .app_spec = cfg.app_spec,
        .pythonpath = cfg.pythonpath,
        .npythonpath = cfg.npythonpath,
        .chdir = cfg.chdir,
        .venv = cfg.venv,
        .multiprocess = cfg.processes > 1,
    };
    if (gw_py_start(&po, &app, err, sizeof(err)) != 0) {
        /* The traceback, if any, is in the error log now; the summary comes last and
         * once: on stderr, and in the error log too when that is another file. */
        if (!gw_log_error_is_stderr())
            gw_log(GW_LOG_ERROR, "%s", err);
        fprintf(stderr, "wsgate: %s\n", err);
        return -1;
    }
    return 0;
}

/* The fd a predecessor (single-process reload) waits on, from the environment. */
static int ready_fd_from_env(void)
{
    const char *v = getenv(GW_READY_FD_ENV);
    uint64_t fd;
    if (v == NULL)
        return -1;
    int ok = gw_parse_u64(v, strlen(v), 65535, &fd) == 0;
    unsetenv(GW_READY_FD_ENV);
    if (!ok)
        return -1;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return (int)fd;
}

static void say_ready(int fd)
{
    pid_t pid = getpid();
    if (fd < 0)
        return;
    if (write(fd, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
        gw_log(GW_LOG_WARNING, "cannot report readiness: %s", strerror(errno));
    close(fd);
}

/* --- single-process reload: the successor ------------------------------------ */

static struct {
    pid_t pid;
    int fd;
    ev_io w;
} succ = {.pid = 0, .fd = -1};

/* A reload that did not happen: this process serves the metrics again. */
static void relisten_stats(struct gw_server *s)
{
    char err[256];
    if (cfg.stats_addr != NULL && gw_stats_listen(s->loop, cfg.stats_addr, err, sizeof(err)) != 0)
        gw_log(GW_LOG_ERROR, "--stats: %s", err);
}

static void successor_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct gw_server *s = w->data;
    pid_t pid = 0;
    (void)revents;
    ssize_t n = read(succ.fd, &pid, sizeof(pid));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    ev_io_stop(loop, w);
    close(succ.fd);
    succ.fd = -1;
    if (n == (ssize_t)sizeof(pid) && pid == succ.pid) {
        gw_log(GW_LOG_INFO, "reload: the successor (pid %d) accepts; this process drains",
               (int)pid);
        for (size_t i = 0; i < s->nlisteners; i++)
            gw_listener_disown(&s->listeners[i]);
        s->handed_over = 1;
        gw_server_stop(s, "reload");
        return;
    }
    int st = 0;
    waitpid(succ.pid, &st, 0);
    gw_log(GW_LOG_ERROR,
           "reload: the successor (pid %d) failed to start (status %d); this "
           "process carries on serving",
           (int)succ.pid, WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
    succ.pid = 0;
    s->retire_after = 0;
    relisten_stats(s);
    gw_sd_notify("READY=1\nSTATUS=reload failed; serving the old code");
}

/* The server's on_stop hook. A stop while the successor has not yet taken over is
 * the service's, so the successor is stopped too (it may have been forked after the
 * signal was sent to the process group); SIGTERM lets it finish what it accepted.
 * SIGQUIT ends in _exit: the pid file goes now (only if it still names us). */
static void stopping(struct gw_server *s, int sig)
{
    if (sig == SIGQUIT)
        gw_pidfile_remove(cfg.pid_file);
    if (succ.fd < 0 || succ.pid == 0)
        return;
    gw_log(GW_LOG_INFO, "the reload in progress is abandoned: stopping the successor (pid %d)",
           (int)succ.pid);
    kill(succ.pid, sig);
    ev_io_stop(s->loop, &succ.w);
    close(succ.fd);
    succ.fd = -1;
}

/* After this process's own drain: waits for a successor stopped by stopping(),
 * up to --graceful-timeout (its import can still be running), then kills it. */
static void reap_successor(const struct gw_server *s)
{
    if (succ.pid == 0 || s->handed_over)
        return;
    uint64_t deadline = gw_now_ns() + (uint64_t)((cfg.graceful_timeout + 5.) * 1e9);
    while (waitpid(succ.pid, NULL, WNOHANG) == 0) {
        if (gw_now_ns() >= deadline) {
            gw_log(GW_LOG_WARNING, "the successor (pid %d) did not stop; killing it",
                   (int)succ.pid);
            kill(succ.pid, SIGKILL);
            waitpid(succ.pid, NULL, 0);
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    succ.pid = 0;
}

static int spawn_successor(struct gw_server *s)
{
    int p[2];
    char ready[64];
    struct gw_handover_env env = {0};
    if (succ.pid != 0) {
        gw_log(GW_LOG_INFO, "reload: already in progress (successor pid %d)", (int)succ.pid);
        return 0;
    }
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    snprintf(ready, sizeof(ready), "%s=%d", GW_READY_FD_ENV, p[1]);
    const char *extra[] = {ready, NULL};
    if (gw_handover_env_build(&env, listeners, nopen, extra) != 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (cfg.stats_addr != NULL)
        gw_stats_close(); /* the successor serves the metrics (its own counters) */
    /* The handled signals stay blocked from before fork to the new image's loop: one
     * sent meanwhile waits pending across execve instead of reaching the inherited
     * libev handler of this image, which would lose it. */
    sigset_t was;
    pthread_sigmask(SIG_BLOCK, &handled_signals, &was);
    pid_t pid = fork();
    if (pid == 0) { /* async-signal-safe calls only: other threads exist */
        struct sched_param sp = {0};
        sigprocmask(SIG_SETMASK, &handled_signals, NULL);
        sched_setscheduler(0, SCHED_OTHER, &sp); /* the loop thread runs SCHED_BATCH */
        gw_handover_keep(listeners, nopen, p[1]);
        gw_handover_exec(saved_argv, &env);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    gw_handover_env_free(&env);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        relisten_stats(s);
        return -1;
    }
    gw_log(GW_LOG_INFO, "reload: started a successor (pid %d)", (int)pid);
    gw_sd_notify_reloading();
    succ.pid = pid;
    succ.fd = p[0];
    ev_io_init(&succ.w, successor_cb, p[0], EV_READ);
    succ.w.data = s;
    ev_io_start(s->loop, &succ.w);
    return 0;
}

/* --- running requests in this process ---------------------------------------- */

static uint64_t retire_point(void)
{
    if (cfg.max_requests == 0)
        return 0;
    uint64_t jitter = 0;
    if (cfg.max_requests_jitter > 0) {
        srandom((unsigned)(getpid() ^ (pid_t)time(NULL)));
        jitter = (uint64_t)random() % (cfg.max_requests_jitter + 1);
    }
    return cfg.max_requests + jitter;
}

/* The pool and the loop until a stop. 0, or 1 when they could not start. */
static int serve(int ready_fd, int (*reload)(struct gw_server *s))
{
    static struct gw_server server;
    if (gw_server_init(&server, &cfg, listeners, nopen, NULL) != 0)
        return 1;
    struct gw_pool *pool = gw_pool_start(&app, &server, cfg.threads, (size_t)cfg.queue);
    if (pool == NULL)
        return 1;
    gw_server_set_pool(&server, pool);
    server.reload = reload;
    if (reload != NULL)
        server.on_stop = stopping;
    server.retire_after = retire_point();
    if (reload != NULL) { /* no master: this process is the one to signal */
        for (size_t i = 0; i < nopen; i++)
            gw_log(GW_LOG_INFO, "listening on %s (%s)", listeners[i].spec,
                   listeners[i].proto->name);
        gw_pidfile_write(cfg.pid_file);
    }
    if (cfg.stats_addr != NULL)
        gw_log(GW_LOG_INFO, "metrics on %s (/metrics, /stats)", cfg.stats_addr);
    gw_log(GW_LOG_INFO, "wsgate %s serving %s with %d threads", GW_VERSION, cfg.app_spec,
           cfg.threads);
    say_ready(ready_fd);
    if (reload != NULL) /* listeners open and the app imported: the service is up */
        gw_sd_notifyf("READY=1\nSTATUS=serving %s\nMAINPID=%ld", cfg.app_spec, (long)getpid());
    pthread_sigmask(SIG_UNBLOCK, &handled_signals, NULL);
    gw_server_run(&server);
    reap_successor(&server);

    gw_pool_stop(pool);
    gw_server_destroy(&server);
    return 0;
}

/* --- prefork ------------------------------------------------------------------ */

static int worker_main(void *ctx, int slot, int ready_fd)
{
    (void)ctx;
    (void)slot;
    if (cfg.lazy && start_python() != 0)
        return GW_EXIT_NOAPP;
    int rc = serve(ready_fd, NULL);
    gw_py_stop();
    for (size_t i = 0; i < nopen; i++)
        gw_listener_close(&listeners[i]);
    gw_log_close();
    return rc;
}

static void fork_prepare(void *ctx)
{
    (void)ctx;
    if (!cfg.lazy)
        gw_py_fork_prepare();
}

static void fork_parent(void *ctx)
{
    (void)ctx;
    if (!cfg.lazy)
        gw_py_fork_parent();
}

static void fork_child(void *ctx)
{
    (void)ctx;
    if (!cfg.lazy)
        gw_py_fork_child();
}

static int run_master(void)
{
    static const struct gw_master_ops ops = {
        .worker = worker_main,
        .fork_prepare = fork_prepare,
        .fork_parent = fork_parent,
        .fork_child = fork_child,
    };
    int have_app = 1;
    if (!cfg.lazy && start_python() != 0) {
        if (!gw_master_is_reload())
            return 1;
        have_app = 0; /* the old workers keep serving */
    }
    for (size_t i = 0; i < nopen; i++)
        gw_log(GW_LOG_INFO, "listening on %s (%s)", listeners[i].spec, listeners[i].proto->name);
    gw_pidfile_write(cfg.pid_file);
    int rc = gw_master_run(&cfg, listeners, nopen, &ops, have_app, saved_argv);
    if (!cfg.lazy && have_app)
        gw_py_stop();
    return rc;
}

int main(int argc, char **argv)
{
    char err[512];
    int status = 1;

    saved_argv = argv;
    /* Signals the loop (or the master) handles wait, blocked, until it watches them.
     * Worker threads inherit the blocked mask, so the loop's thread receives them. */
    sigemptyset(&handled_signals);
    sigaddset(&handled_signals, SIGTERM);
    sigaddset(&handled_signals, SIGINT);
    sigaddset(&handled_signals, SIGQUIT);
    sigaddset(&handled_signals, SIGHUP);
    sigprocmask(SIG_BLOCK, &handled_signals, NULL);

    int rc = gw_config_parse(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    /* Sockets handed over by systemd (3..), read before anything else opens a file
     * that could take one of their numbers. */
    if (gw_activation_listen(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 2;
    }
    if (gw_log_open(cfg.error_log, cfg.access_log, (enum gw_log_level)cfg.log_level, err,
                    sizeof(err)) != 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 2;
    }
    gw_log_access_json(cfg.access_format == GW_ACCESS_JSON);
    signal(SIGPIPE, SIG_IGN);
    gw_sd_notify_init();
    raise_fd_limit();
    int ready_fd = ready_fd_from_env();

    if (cfg.check_only) {
        if (start_python() == 0) {
            printf("wsgate: %s imported and callable\n", cfg.app_spec);
            gw_py_stop();
            status = 0;
        }
        goto done;
    }
    if (open_listeners(err, sizeof(err)) != 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        goto done;
    }
    /* --stats: the shared counters, one slot per worker process. Like the listeners,
     * a busy address fails before Python starts. The master serves them on its own
     * loop; a single process on the default loop, which gw_server_init adopts. */
    if (cfg.stats_addr != NULL) {
        int one = cfg.processes == 1;
        struct ev_loop *loop = one ? ev_default_loop(EVFLAG_AUTO) : NULL;
        if (gw_stats_init(cfg.processes, err, sizeof(err)) != 0 ||
            (one &&
             (loop == NULL || gw_stats_listen(loop, cfg.stats_addr, err, sizeof(err)) != 0))) {
            fprintf(stderr, "wsgate: %s\n", err);
            goto done;
        }
        if (one)
            gw_stats_set_slot(0);
    }
    if (cfg.processes > 1) {
        status = run_master();
    } else if (start_python() == 0) {
        status = serve(ready_fd, spawn_successor);
        gw_py_stop();
        if (status == 0)
            gw_log(GW_LOG_INFO, "stopped");
    }
    gw_pidfile_remove(cfg.pid_file);
done:
    gw_stats_close();
    for (size_t i = 0; i < nopen; i++)
        gw_listener_close(&listeners[i]);
    gw_log_close();
    return status;
}
