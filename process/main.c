/*
 * wsgate's entry point, and the one place where the core, the front-ends and the
 * Python side are wired together (the one-way rule of docs/architecture.md).
 * Start-up order: command line, logs, fd limit, listeners (so a busy port fails
 * before Python starts), the interpreter and the app, then either the worker pool and
 * the loop in this process, or (--processes > 1) the prefork master, whose workers
 * run the pool and the loop. Shut-down runs it backwards after a graceful stop.
 *
 * A reload in single-process mode (SIGHUP, --max-requests) goes through a bridge
 * process and a re-execution in place (process/reload.h); with --processes > 1 the
 * master re-executes itself (process/master.h).
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

#include "gateway/config.h"
#include "gateway/heap.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/output.h"
#include "gateway/pool.h"
#include "gateway/server.h"
#include "gateway/stats.h"
#include "gateway/tls.h"
#include "gateway/tls_tickets.h"
#include "gateway/util.h"
#include "process/activation.h"
#include "process/handover.h"
#include "process/master.h"
#include "process/pidfile.h"
#include "process/privileges.h"
#include "process/reload.h"
#include "process/sd_notify.h"
#include "process/stats_http.h"
#include "process/version.h"
#include "process/watch.h"
#include "protocols/fastcgi.h"
#include "protocols/http.h"
#include "protocols/proxy.h"
#include "protocols/scgi.h"
#include "protocols/uwsgi.h"
#include "python/wsgi.h"

/* The front-ends by listener option name. Adding a protocol adds one line here. */
static const struct {
    const char *name;
    const struct gw_protocol *proto;
} protocols[] = {
    {"http", &gw_http_protocol},       /* HTTP/1.1 */
    {"https", &gw_http_protocol},      /* with a TLS transport: see attach_tls */
    {"fastcgi", &gw_fastcgi_protocol}, /* FastCGI, multiplexed */
    {"scgi", &gw_scgi_protocol},       /* SCGI */
    {"uwsgi", &gw_uwsgi_protocol},     /* the uwsgi protocol (nginx uwsgi_pass) */
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
static struct gw_tls_ctx *tls_ctx; /* the https listeners' server context */
static sigset_t handled_signals;   /* blocked until the loop watches them */

/* The TLS server context, when a listener is https (an option, or a socket systemd
 * named so): made before any listener or Python, so a bad certificate or key is one
 * line and exit status 2 (in a reload's bridge or import check too: the reload then
 * fails and the old image serves on, see tls_refused). 0 or -1 with one line in err. */
static int start_tls(char *err, size_t errlen)
{
    int https = 0;
    for (size_t i = 0; i < cfg.nlisten; i++)
        https |= strcmp(cfg.listen[i].proto, "https") == 0;
    if (!https) {
        if (cfg.certfile == NULL && cfg.keyfile == NULL && cfg.ca_certs == NULL &&
            cfg.verify_client == GW_TLS_VERIFY_NONE && cfg.tls_min_version == 0 &&
            cfg.tls_ciphers == NULL && cfg.tls_suites == NULL)
            return 0;
        snprintf(err, errlen,
                 "the TLS options (--certfile, --keyfile, --ca-certs, --verify-client, "
                 "--tls-*) are for --https listeners, and there is none");
        return -1;
    }
    if (cfg.certfile == NULL) {
        snprintf(err, errlen,
                 "--https needs --certfile (and --keyfile, unless the key is in "
                 "that file)");
        return -1;
    }
    struct gw_tls_options opt = {
        .ca_certs = cfg.ca_certs,
        .verify = (enum gw_tls_verify)cfg.verify_client,
        .min_version = cfg.tls_min_version,
        .ciphers = cfg.tls_ciphers,
        .suites = cfg.tls_suites,
        .h2 = cfg.h2,
    };
    /* The session ticket keys before the files: an image that replaces a serving one
     * takes them over (and hands them on) even when its certificate fails to load. */
    if (gw_tls_tickets_init(err, errlen) != 0)
        return -1;
    tls_ctx = gw_tls_ctx_new(cfg.certfile, cfg.keyfile, &opt, err, errlen);
    return tls_ctx != NULL ? 0 : -1;
}

/* The TLS files could not be loaded by an image that replaces a serving one (see
 * tls_refused): it keeps the listeners for the next reload but never serves them. */
static int tls_failed;

/* A listener's kind for the log ("https" where its protocol says "http"). */
static const char *listener_kind(const struct gw_listener *l)
{
    return l->name != NULL ? l->name : l->proto->name;
}

/* The listener of kind http or https (opened, activated or handed over) or --http /
 * --https option that a --proxy-protocol-at entry names: 0, or -1 with err. (A reload
 * re-reads the settings but keeps the sockets: an entry may name an address added to
 * the settings since, which is not open until a restart.) */
static int check_proxy_at(const struct gw_proxy_at *pa, char *err, size_t errlen)
{
    for (size_t i = 0; i < nopen; i++) {
        if (strlen(listeners[i].spec) != pa->addr_len ||
            memcmp(listeners[i].spec, pa->addr, pa->addr_len) != 0)
            continue;
        if (listeners[i].proto == &gw_http_protocol)
            return 0;
        snprintf(err, errlen,
                 "--proxy-protocol-at %.*s: that is a %s listener; the PROXY protocol is read "
                 "on --http and --https listeners",
                 (int)pa->addr_len, pa->addr, listener_kind(&listeners[i]));
        return -1;
    }
    for (size_t k = 0; k < cfg.nlisten; k++)
        if (strlen(cfg.listen[k].addr) == pa->addr_len &&
            memcmp(cfg.listen[k].addr, pa->addr, pa->addr_len) == 0)
            return 0; /* of its kind: checked with the settings */
    snprintf(err, errlen, "--proxy-protocol-at %.*s: no --http or --https listener has that ADDR",
             (int)pa->addr_len, pa->addr);
    return -1;
}

/* The https listeners (opened or handed over) get the TLS context, and the http and
 * https ones whose setting (--proxy-protocol, or their --proxy-protocol-at) is not off
 * read a PROXY header first. The settings are this image's: a reload applies changed
 * ones to the sockets it takes over, matched by their ADDR. 0 or -1. */
static int attach_tls(char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg.nproxy_at; i++)
        if (check_proxy_at(&cfg.proxy_at[i], err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < nopen; i++) {
        int mode = gw_config_proxy_protocol(&cfg, listeners[i].spec);
        if (mode != 0 && listeners[i].proto == &gw_http_protocol) {
            listeners[i].preface = gw_proxy_preface;
            listeners[i].proxy_protocol = mode;
        }
        if (listeners[i].name == NULL || strcmp(listeners[i].name, "https") != 0)
            continue;
        if (tls_failed)
            continue; /* this image will not serve them */
        if (tls_ctx == NULL) {
            snprintf(err, errlen, "%s: https needs --certfile", listeners[i].spec);
            return -1;
        }
        listeners[i].tls = tls_ctx;
    }
    return 0;
}

/*
 * start_tls failed with err. Every image says why on stderr and in the error log
 * (a reload's bridge or import check has only those to explain the failed reload).
 * Returns 1 when this image replaces one that served and carries on without TLS
 * (tls_failed): the files changed between the reload's check (or bridge) and this
 * image, which must not exit (the old workers, or the bridge, serve on until a
 * reload succeeds); 0 when it must exit with status 2.
 */
static int tls_refused(const char *err)
{
    int replacing = (cfg.processes > 1 && gw_master_is_reload()) || gw_reload_has_bridge();
    if (!gw_log_error_is_stderr())
        gw_log(GW_LOG_ERROR, "%s", err);
    fprintf(stderr, "wsgate: %s\n", err);
    tls_failed = replacing;
    return replacing;
}

static int listener_configured(const char *proto, const char *addr)
{
    for (size_t i = 0; i < cfg.nlisten; i++)
        if (strcmp(cfg.listen[i].proto, proto) == 0 && strcmp(cfg.listen[i].addr, addr) == 0)
            return 1;
    return 0;
}

/* A reload keeps the sockets it was handed: a listener the settings (a changed
 * --config file) add or drop since the start is not applied, and says so. Sockets of
 * systemd's (fd:N) and the default address stand for no setting of the user's. */
static void warn_listener_changes(void)
{
    if (!cfg.default_listen)
        for (size_t i = 0; i < cfg.nlisten; i++) {
            int open = 0;
            for (size_t j = 0; j < nopen && !open; j++)
                open = strcmp(listeners[j].name, cfg.listen[i].proto) == 0 &&
                       strcmp(listeners[j].spec, cfg.listen[i].addr) == 0;
            if (!open)
                gw_log(GW_LOG_WARNING,
                       "--%s %s is not opened: a reload keeps the listening sockets it was "
                       "handed; restart wsgate to listen there",
                       cfg.listen[i].proto, cfg.listen[i].addr);
        }
    for (size_t j = 0; j < nopen; j++)
        if (strncmp(listeners[j].spec, "fd:", 3) != 0 &&
            !listener_configured(listeners[j].name, listeners[j].spec))
            gw_log(GW_LOG_WARNING,
                   "--%s %s is no longer in the settings but keeps listening until wsgate "
                   "restarts (a reload keeps the listening sockets it was handed)",
                   listeners[j].name, listeners[j].spec);
}

static int open_listeners(char *err, size_t errlen)
{
    int rc = gw_handover_import(listeners, GW_MAX_LISTENERS, &nopen, find_protocol, err, errlen);
    if (rc > 0) /* a reload: the sockets, with their kinds, come from the old image */
        warn_listener_changes();
    if (rc != 0)
        return rc < 0 ? -1 : attach_tls(err, errlen);
    for (; nopen < cfg.nlisten; nopen++) {
        const struct gw_protocol *p = find_protocol(cfg.listen[nopen].proto);
        if (p == NULL) {
            snprintf(err, errlen, "unknown protocol");
            return -1;
        }
        if (gw_listener_open(&listeners[nopen], cfg.listen[nopen].addr, p, cfg.backlog,
                             cfg.socket_mode, err, errlen) != 0)
            return -1;
        if (listeners[nopen].unix_path != NULL &&
            gw_priv_own_socket(listeners[nopen].unix_path, err, errlen) != 0) {
            nopen++; /* closed (and its file removed) by main */
            return -1;
        }
        listeners[nopen].name = cfg.listen[nopen].proto;
    }
    return attach_tls(err, errlen);
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

/* --reload, in the process that reloads: watch the app's sources and the --config
 * file (with no app imported: those of the image before). The server runs on without
 * it when that fails (logged). */
static void start_watch(int have_app)
{
    char **files = NULL;
    size_t n = 0;
    if (!cfg.reload)
        return;
    if (!have_app) {
        gw_watch_start_inherited();
        return;
    }
    if (gw_py_source_files(&files, &n) != 0) {
        gw_log(GW_LOG_ERROR, "--reload: cannot list the app's source files; not watching");
        return;
    }
    char **all = realloc(files, (n + 1) * sizeof(*all));
    if (all != NULL) {
        files = all;
        if (cfg.config_file != NULL) {
            char *abs = realpath(cfg.config_file, NULL);
            if (abs != NULL)
                files[n++] = abs;
        }
    }
    gw_watch_start((const char *const *)files, n);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
}

/* A prefork worker tells its master it accepts. */
static void say_ready(int fd)
{
    pid_t pid = getpid();
    if (fd < 0)
        return;
    if (write(fd, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
        gw_log(GW_LOG_WARNING, "cannot report readiness: %s", strerror(errno));
    close(fd);
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

/* The pool and the loop until a stop. single: no master (this process is the service,
 * or a reload's bridge); else ready_fd is the master's readiness pipe. 0, 1 when
 * they could not start, -1 when a reload's bridge took over (single), GW_EXIT_MAX_RSS
 * after a worker's retirement for --max-rss. */
static int serve(int single, int ready_fd)
{
    static struct gw_server server;
    int bridge = single && gw_reload_is_bridge();
    struct gw_pool_hooks hooks;
    gw_server_pool_hooks(&server, &hooks);
    struct gw_pool *pool = gw_pool_start(&app, &cfg, &hooks, cfg.threads, (size_t)cfg.queue);
    if (pool == NULL)
        return 1;
    if (gw_server_init(&server, &cfg, listeners, nopen, pool) != 0) {
        gw_pool_stop(pool);
        return 1;
    }
    if (!bridge) { /* a bridge serves only until its parent's new image does */
        server.retire_after = retire_point();
        server.max_rss = cfg.max_rss << 20;
    }
    if (single && !bridge) { /* this process is the one to signal */
        server.reload = gw_reload_start;
        server.on_stop = gw_reload_on_stop;
        for (size_t i = 0; i < nopen; i++)
            gw_log(GW_LOG_INFO, "listening on %s (%s)", listeners[i].spec,
                   listener_kind(&listeners[i]));
        if (!gw_reload_has_bridge())
            gw_priv_say_root();
        if (cfg.stats_addr != NULL) /* a prefork master says it for its workers */
            gw_log(GW_LOG_INFO, "metrics on %s (/metrics, /stats)", cfg.stats_addr);
        gw_pidfile_write(cfg.pid_file);
    }
    gw_log(GW_LOG_INFO, "wsgate %s serving %s with %d threads%s", GW_VERSION, cfg.app_spec,
           cfg.threads, bridge ? " (a reload's bridge)" : "");
    if (single)
        gw_reload_serving(&server);
    else
        say_ready(ready_fd);
    if (single && !bridge) /* listeners open and the app imported: the service is up */
        gw_sd_notifyf("READY=1\nSTATUS=serving %s\nMAINPID=%ld", cfg.app_spec, (long)getpid());
    if (single && !bridge)
        start_watch(1);
    pthread_sigmask(SIG_UNBLOCK, &handled_signals, NULL);
    gw_server_run(&server);
    /* Blocked again at once: a stop signal that comes from here on must not reach the
     * loop's handler, which no longer runs, and be lost; pending, it ends this process
     * or, after a reload's hand-over, crosses execve to the next image, which stops. */
    pthread_sigmask(SIG_BLOCK, &handled_signals, NULL);
    gw_watch_stop();
    int reexec = single && gw_reload_after_run(&server);

    /* Connections first: freeing one can hand references to the pool to release. */
    gw_server_destroy(&server);
    gw_pool_stop(pool);
    if (reexec)
        return -1;
    return !single && server.over_rss ? GW_EXIT_MAX_RSS : 0;
}

/* --- prefork ------------------------------------------------------------------ */

static int worker_main(void *ctx, int slot, int ready_fd)
{
    (void)ctx;
    (void)slot;
    if (cfg.lazy && start_python() != 0)
        return GW_EXIT_NOAPP;
    int rc = serve(0, ready_fd);
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
    int have_app = !tls_failed;
    if (have_app && !cfg.lazy && start_python() != 0) {
        if (!gw_master_is_reload())
            return 1;
        have_app = 0; /* the old workers keep serving */
    }
    for (size_t i = 0; i < nopen; i++)
        gw_log(GW_LOG_INFO, "listening on %s (%s)", listeners[i].spec,
               listener_kind(&listeners[i]));
    if (!gw_master_is_reload())
        gw_priv_say_root();
    gw_pidfile_write(cfg.pid_file);
    if (!cfg.lazy)
        start_watch(have_app);
    int rc = gw_master_run(&cfg, listeners, nopen, &ops, have_app, saved_argv);
    gw_watch_stop();
    if (!cfg.lazy && have_app)
        gw_py_stop();
    return rc;
}

int main(int argc, char **argv)
{
    char err[512];
    int status = 1;

    gw_watch_image_started(); /* --reload: saves from here on are this image's to see */
    gw_heap_tune();           /* before any thread or large block (gateway/heap.h) */
    saved_argv = argv;
    /* Signals the loop (or the master) handles wait, blocked, until it watches them.
     * Worker threads inherit the blocked mask, so the loop's thread receives them. */
    sigemptyset(&handled_signals);
    sigaddset(&handled_signals, SIGTERM);
    sigaddset(&handled_signals, SIGINT);
    sigaddset(&handled_signals, SIGQUIT);
    sigaddset(&handled_signals, SIGHUP);
    sigaddset(&handled_signals, SIGUSR2); /* draining (gateway/server_stop.c) */
    sigprocmask(SIG_BLOCK, &handled_signals, NULL);

    int rc = gw_config_parse(&cfg, argc, argv);
    if (rc > 0 && cfg.version_only)
        gw_version_print(stdout);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    /* Sockets handed over by systemd (3..), read before anything else opens a file
     * that could take one of their numbers. */
    if (gw_activation_listen(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 2;
    }
    /* --umask, and --user/--group/--socket-owner resolved: a bad name is one line
     * before anything is opened. */
    if (gw_priv_init(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 2;
    }
    if (gw_log_open(cfg.error_log, cfg.access_log, (enum gw_log_level)cfg.log_level, err,
                    sizeof(err)) != 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 2;
    }
    gw_log_access_json(cfg.access_format == GW_ACCESS_JSON);
    if (cfg.temp_dir != NULL && access(cfg.temp_dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "wsgate: --temp-dir %s: %s\n", cfg.temp_dir, strerror(errno));
        return 2;
    }
    struct gw_out_limits out_limits = {
        .conn_mem = (size_t)cfg.send_buffer,
        .total_mem = (size_t)cfg.send_memory,
        .total_spill = cfg.send_spill,
        .tmpdir = cfg.temp_dir,
    };
    gw_out_configure(&out_limits);
    signal(SIGPIPE, SIG_IGN);
    gw_reload_init(&cfg, listeners, &nopen, argv); /* before the service manager's socket */
    gw_sd_notify_init();
    raise_fd_limit();
    /* After gw_reload_init: a re-executed image knows by then whether it replaces one. */
    if (start_tls(err, sizeof(err)) != 0 && !tls_refused(err)) {
        status = 2;
        goto done;
    }

    if (cfg.check_only || gw_master_is_check()) {
        sigprocmask(SIG_UNBLOCK, &handled_signals, NULL); /* no loop: their defaults */
        if (gw_priv_drop(&cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "wsgate: %s\n", err);
            status = 2;
        } else if (start_python() == 0) {
            if (cfg.check_only)
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
    if (gw_reload_is_bridge()) /* the socket files stay the parent's */
        for (size_t i = 0; i < nopen; i++)
            gw_listener_disown(&listeners[i]);
    /* --stats: the shared counters, one slot per worker process. Like the listeners,
     * a busy address fails before Python starts. The master serves them on its own
     * loop; a single process on the default loop, which gw_server_init adopts. */
    if (cfg.stats_addr != NULL && !gw_reload_is_bridge()) {
        int one = cfg.processes == 1;
        struct ev_loop *loop = one ? ev_default_loop(EVFLAG_AUTO) : NULL;
        if (gw_stats_init(cfg.processes, err, sizeof(err)) != 0 ||
            (one &&
             (loop == NULL || gw_stats_listen(loop, cfg.stats_addr, err, sizeof(err)) != 0)) ||
            (!one && gw_stats_bind(cfg.stats_addr, err, sizeof(err)) != 0)) {
            fprintf(stderr, "wsgate: %s\n", err);
            goto done;
        }
        if (one)
            gw_stats_set_slot(0);
        const char *made = gw_stats_made_socket(); /* --socket-owner, like the listeners' */
        if (made != NULL && gw_priv_own_socket(made, err, sizeof(err)) != 0) {
            fprintf(stderr, "wsgate: --stats: %s\n", err);
            goto done;
        }
    }
    /* Everything that may need root is open: the app runs as --user/--group from here
     * on (process/privileges.h). The pid file is written first, by root (a reload's
     * image finds its pid in it and leaves it). */
    if (gw_priv_switching() && !gw_reload_is_bridge())
        gw_pidfile_write(cfg.pid_file);
    if (gw_priv_drop(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        status = 2;
        goto done;
    }
    if (cfg.temp_dir != NULL && access(cfg.temp_dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "wsgate: --temp-dir %s: %s\n", cfg.temp_dir, strerror(errno));
        status = 2;
        goto done;
    }
    if (cfg.processes > 1) {
        status = run_master();
    } else if (tls_failed || start_python() != 0) {
        if (gw_reload_has_bridge()) { /* a re-execution: the bridge serves on */
            start_watch(0);
            status = gw_reload_keep(gw_stats_listen_fd());
            gw_watch_stop();
        }
    } else {
        status = serve(1, -1);
        if (status < 0)
            gw_stats_finish(1.0); /* the metrics requests already accepted are answered */
        gw_py_stop();
        if (status < 0) { /* a reload's bridge serves: this image is replaced */
            gw_reload_exec(gw_stats_listen_fd());
            status = gw_reload_keep(gw_stats_listen_fd());
        } else if (status == 0)
            gw_log(GW_LOG_INFO, "stopped");
    }
    gw_pidfile_remove(cfg.pid_file);
done:
    gw_stats_close();
    gw_tls_ctx_free(tls_ctx);
    for (size_t i = 0; i < nopen; i++)
        gw_listener_close(&listeners[i]);
    gw_log_close();
    return status;
}
