/*
 * wsgate's entry point, and the one place where the core, the front-ends and the
 * Python side are wired together (style.md rule 1). Start-up order: command line,
 * logs, fd limit, listeners (so a busy port fails before Python starts), the
 * interpreter and the app, the worker pool, the loop. Shut-down runs it backwards
 * after a graceful stop.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "gateway/config.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/pool.h"
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

int main(int argc, char **argv)
{
    static struct gw_config cfg;
    static struct gw_listener listeners[GW_MAX_LISTENERS];
    static struct gw_server server;
    struct gw_app app;
    char err[512];
    size_t nopen = 0;
    int status = 1;

    /* A stop signal during start-up (the listeners accept before the app is
     * imported) waits until the loop's watchers exist. Worker threads inherit the
     * blocked mask, so the loop's thread is the one that receives them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, NULL);

    int rc = gw_config_parse(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (gw_log_open(cfg.error_log, cfg.access_log, (enum gw_log_level)cfg.log_level, err,
                    sizeof(err)) != 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 2;
    }
    gw_log_access_json(cfg.access_format == GW_ACCESS_JSON);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    if (!cfg.check_only) {
        for (; nopen < cfg.nlisten; nopen++) {
            const struct gw_protocol *p = find_protocol(cfg.listen[nopen].proto);
            if (p == NULL || gw_listener_open(&listeners[nopen], cfg.listen[nopen].addr, p,
                                              cfg.backlog, cfg.socket_mode, err,
                                              sizeof(err)) != 0) {
                fprintf(stderr, "wsgate: %s\n", p ? err : "unknown protocol");
                goto done;
            }
        }
        /* --stats: the shared counters (one slot: this process) and the responder on
         * the default loop, which gw_server_init adopts; like the listeners, a busy
         * address fails before Python starts. */
        if (cfg.stats_addr != NULL) {
            struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
            if (loop == NULL || gw_stats_init(1, err, sizeof(err)) != 0 ||
                gw_stats_listen(loop, cfg.stats_addr, err, sizeof(err)) != 0) {
                fprintf(stderr, "wsgate: %s\n", err);
                goto done;
            }
            gw_stats_set_slot(0);
        }
    }

    struct gw_py_options po = {
        .app_spec = cfg.app_spec,
        .pythonpath = cfg.pythonpath,
        .npythonpath = cfg.npythonpath,
        .chdir = cfg.chdir,
        .venv = cfg.venv,
        .multiprocess = cfg.processes > 1,
    };
    if (gw_py_start(&po, &app, err, sizeof(err)) != 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        goto done;
    }
    if (cfg.check_only) {
        printf("wsgate: %s imported and callable\n", cfg.app_spec);
        gw_py_stop();
        status = 0;
        goto done;
    }

    if (gw_server_init(&server, &cfg, listeners, nopen, NULL) != 0)
        goto stop_python;
    struct gw_pool *pool = gw_pool_start(&app, &server, cfg.threads, (size_t)cfg.queue);
    if (pool == NULL)
        goto stop_python;
    gw_server_set_pool(&server, pool);
    for (size_t i = 0; i < nopen; i++)
        gw_log(GW_LOG_INFO, "listening on %s (%s)", listeners[i].spec, listeners[i].proto->name);
    if (cfg.stats_addr != NULL)
        gw_log(GW_LOG_INFO, "metrics on %s (/metrics, /stats)", cfg.stats_addr);
    gw_log(GW_LOG_INFO, "wsgate %s serving %s with %d threads", GW_VERSION, cfg.app_spec,
           cfg.threads);

    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
    gw_server_run(&server);

    gw_pool_stop(pool);
    gw_server_destroy(&server);
    gw_log(GW_LOG_INFO, "stopped");
    status = 0;
stop_python:
    gw_py_stop();
done:
    gw_stats_close();
    for (size_t i = 0; i < nopen; i++)
        gw_listener_close(&listeners[i]);
    gw_log_close();
    return status;
}
