/*
 * The prefork master. Single-threaded: a small libev loop (poll backend, so a forked
 * worker inherits no kernel object of it) watches a signalfd, a pipe on which
 * workers announce they are ready, and a 100 ms tick for respawns and deadlines.
 *
 * Worker states: a slot holds the current worker of that index; workers inherited
 * from the previous image after a reload are "old": they are asked to finish (SIGTERM)
 * once every current worker is ready, and they are never replaced. A worker that
 * exits without being asked is replaced at once, or after a back-off (0.1 s doubling
 * to 10 s) when it keeps dying young. A graceful stop with --drain-delay first sends
 * SIGUSR2 (the workers go on serving, their --health-path answering 503) and sends
 * SIGTERM once the delay has run.
 */
#include "process/master.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/server.h"
#include "gateway/stats.h"
#include "gateway/tls_tickets.h"
#include "gateway/util.h"
#include "process/handover.h"
#include "process/sd_notify.h"
#include "process/stats_http.h"

#define OLD_ENV        "WSGATE_OLD_WORKERS"
#define CHECK_ENV      "WSGATE_RELOAD_CHECK"
#define YOUNG_NS       (5ull * 1000000000) /* dying younger than this counts as a crash loop */
#define BACKOFF_MAX_NS (10ull * 1000000000)
#define QUIT_KILL_NS   (2ull * 1000000000) /* SIGQUIT: SIGKILL what is left after this */
#define KILL_MARGIN_NS (5ull * 1000000000)

struct slot {
    pid_t pid; /* 0: none running */
    int ready;
    uint64_t started;    /* ns */
    uint64_t respawn_at; /* ns; 0: no respawn pending */
    unsigned streak;     /* consecutive young deaths */
};

struct master {
    const struct gw_config *cfg;
    struct gw_listener *ls;
    size_t nls;
    const struct gw_master_ops *ops;
    char *const *argv;
    int have_app;
    pid_t checker; /* a reload's import check is running (0: none) */
    struct ev_loop *loop;
    ev_io sig_w, ready_w;
    ev_timer tick;
    int sigfd, ready_rd, ready_wr;
    struct slot slots[GW_MAX_PROCESSES];
    pid_t *old; /* inherited workers still running */
    size_t nold, oldcap;
    int old_asked;      /* SIGTERM sent to the old workers */
    int all_ready_once; /* every slot was ready at least once */
    int stopping;       /* 1 graceful, 2 quit */
    uint64_t drain_at;  /* a stop's --drain-delay runs (SIGUSR2 sent): the stop then */
    uint64_t kill_at;   /* stopping: SIGKILL whatever is left then */
    int status;         /* exit status */
};

int gw_master_is_reload(void)
{
    return getenv(OLD_ENV) != NULL;
}

int gw_master_is_check(void)
{
    int check = getenv(CHECK_ENV) != NULL;
    unsetenv(CHECK_ENV);
    return check;
}

static int old_add(struct master *m, pid_t pid)
{
    if (m->nold == m->oldcap) {
        size_t cap = m->oldcap ? m->oldcap * 2 : 16;
        pid_t *p = realloc(m->old, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        m->old = p;
        m->oldcap = cap;
    }
    m->old[m->nold++] = pid;
    return 0;
}

static void old_import(struct master *m)
{
    const char *v = getenv(OLD_ENV);
    if (v == NULL)
        return;
    while (*v != '\0') {
        char *end;
        long pid = strtol(v, &end, 10);
        if (end == v)
            break;
        if (pid > 0 && old_add(m, (pid_t)pid) != 0)
            gw_log(GW_LOG_ERROR, "out of memory tracking old worker %ld", pid);
        v = *end == ',' ? end + 1 : end;
    }
    unsetenv(OLD_ENV);
}

static void signal_all(struct master *m, int sig)
{
    for (int i = 0; i < m->cfg->processes; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
    for (size_t i = 0; i < m->nold; i++)
        kill(m->old[i], sig);
}

static size_t running(const struct master *m)
{
    size_t n = m->nold;
    for (int i = 0; i < m->cfg->processes; i++)
        n += m->slots[i].pid > 0;
    return n;
}

/* In the new worker process: drop everything of the master, then run the worker. */
static void child(struct master *m, int slot)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    close(m->sigfd);
    close(m->ready_rd);
    gw_stats_forget_after_fork(NULL); /* the master's loop is not run here */
    ev_loop_destroy(m->loop);
    gw_stats_set_slot(slot);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    if (m->ops->fork_child)
        m->ops->fork_child(m->ops->ctx);
    for (size_t i = 0; i < m->nls; i++)
        gw_listener_disown(&m->ls[i]);
    exit(m->ops->worker(m->ops->ctx, slot, m->ready_wr));
}

static void spawn(struct master *m, int i)
{
    struct slot *s = &m->slots[i];
    if (m->ops->fork_prepare)
        m->ops->fork_prepare(m->ops->ctx);
    pid_t pid = fork();
    if (pid == 0)
        child(m, i);
    if (m->ops->fork_parent)
        m->ops->fork_parent(m->ops->ctx);
    s->respawn_at = 0;
    if (pid < 0) {
        gw_log(GW_LOG_ERROR, "cannot start worker %d: %s; retrying", i, strerror(errno));
        s->respawn_at = gw_now_ns() + 1000000000ull;
        return;
    }
    s->pid = pid;
    s->ready = 0;
    if (m->drain_at != 0)
        kill(pid, SIGUSR2); /* blocked until its loop watches it (setup) */
    s->started = gw_now_ns();
    gw_log(GW_LOG_INFO, "worker %d started (pid %d)", i, (int)pid);
}

static void begin_stop(struct master *m, int how)
{
    uint64_t now = gw_now_ns();
    if (how == 2) {
        if (m->stopping == 2)
            return;
        gw_log(GW_LOG_INFO, "SIGQUIT: stopping the workers now");
        gw_sd_notify("STOPPING=1");
        signal_all(m, SIGQUIT);
        m->kill_at = now + QUIT_KILL_NS;
    } else {
        if (m->stopping)
            return;
        if (m->cfg->drain_delay > 0 && m->drain_at == 0) {
            /* The workers go on serving, their health path answering 503 (SIGUSR2),
             * until tick_cb stops them; a second SIGTERM stops them at once. */
            gw_sd_notify("STOPPING=1");
            gw_log(GW_LOG_INFO,
                   "draining: the health path answers 503, still serving for %.1fs "
                   "(--drain-delay)",
                   m->cfg->drain_delay);
            signal_all(m, SIGUSR2);
            m->drain_at = now + (uint64_t)(m->cfg->drain_delay * 1e9);
            return;
        }
        gw_sd_notify("STOPPING=1");
        gw_log(GW_LOG_INFO, "stopping gracefully: %zu workers finish their requests", running(m));
        signal_all(m, SIGTERM);
        m->kill_at = now + (uint64_t)(m->cfg->graceful_timeout * 1e9) + KILL_MARGIN_NS;
    }
    m->stopping = how;
    if (m->checker > 0)
        kill(m->checker, SIGKILL); /* no reload now */
    for (int i = 0; i < m->cfg->processes; i++)
        m->slots[i].respawn_at = 0;
    for (size_t i = 0; i < m->nls; i++)
        gw_listener_close(&m->ls[i]);
    if (running(m) == 0)
        ev_break(m->loop, EVBREAK_ALL);
}

/* The import check came back good: re-execute in place with the listeners, the
 * metrics socket and every running worker. */
static void reload(struct master *m)
{
    char *old = NULL;
    size_t cap = 32 + (size_t)(m->cfg->processes + (int)m->nold) * 12, off = 0;
    struct gw_handover_env env = {0};
    if (m->stopping)
        return;
    old = malloc(cap);
    if (old == NULL)
        goto fail;
    off = (size_t)snprintf(old, cap, "%s=", OLD_ENV);
    for (int i = 0; i < m->cfg->processes; i++)
        if (m->slots[i].pid > 0)
            off += (size_t)snprintf(old + off, cap - off, "%d,", (int)m->slots[i].pid);
    for (size_t i = 0; i < m->nold; i++)
        off += (size_t)snprintf(old + off, cap - off, "%d,", (int)m->old[i]);
    char metrics[64];
    int mfd = gw_stats_listen_fd();
    snprintf(metrics, sizeof(metrics), "%s=%d", GW_STATS_FD_ENV, mfd);
    const char *extra[5] = {old, NULL, NULL, NULL, NULL};
    size_t n = 1;
    if (mfd >= 0)
        extra[n++] = metrics;
    if (gw_stats_reload_env() != NULL)
        extra[n++] = gw_stats_reload_env();
    if (gw_tls_tickets_env() != NULL) /* the ticket keys carry over (gateway/tls_tickets.h) */
        extra[n++] = gw_tls_tickets_env();
    if (gw_handover_env_build(&env, m->ls, m->nls, extra) != 0)
        goto fail;
    gw_log(GW_LOG_INFO, "reload: the app imports; a new master image takes over");
    gw_stats_finish(1.0); /* the metrics requests already accepted are answered */
    gw_handover_keep(m->ls, m->nls, mfd);
    gw_tls_tickets_keep(1);
    gw_handover_exec(m->argv, &env);
    gw_log(GW_LOG_ERROR, "reload failed: cannot re-execute wsgate: %s", strerror(errno));
    gw_stats_resume();
    gw_tls_tickets_keep(0);
    gw_stats_note_reload(0);
    gw_sd_notify("READY=1\nSTATUS=reload failed; serving the old code");
    for (size_t i = 0; i < m->nls; i++) /* back to close-on-exec */
        if (m->ls[i].fd >= 0)
            fcntl(m->ls[i].fd, F_SETFD, FD_CLOEXEC);
    if (mfd >= 0)
        fcntl(mfd, F_SETFD, FD_CLOEXEC);
fail:
    if (old == NULL || env.envp == NULL)
        gw_log(GW_LOG_ERROR, "reload: out of memory");
    gw_handover_env_free(&env);
    free(old);
}

/*
 * SIGHUP: first makes sure the app imports, in a child that runs this program with
 * CHECK_ENV set (it imports the app and exits 0, or prints why not and exits 1).
 * Only then does the master give up its own image (reload), so a reload of broken
 * code leaves the master able to replace workers with the code they run.
 */
static void start_check(struct master *m)
{
    struct gw_handover_env env = {0};
    const char *extra[] = {CHECK_ENV "=1", NULL};
    if (m->stopping || m->drain_at != 0)
        return;
    if (m->checker > 0) {
        gw_log(GW_LOG_INFO, "SIGHUP: a reload is already in progress");
        return;
    }
    if (gw_handover_env_build(&env, NULL, 0, extra) != 0) {
        gw_log(GW_LOG_ERROR, "reload: out of memory");
        return;
    }
    gw_sd_notify_reloading();
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        gw_handover_exec(m->argv, &env);
        _exit(127);
    }
    gw_handover_env_free(&env);
    if (pid < 0) {
        gw_log(GW_LOG_ERROR, "reload failed: cannot start the import check: %s", strerror(errno));
        gw_stats_note_reload(0);
        gw_sd_notify("READY=1\nSTATUS=reload failed; serving the old code");
        return;
    }
    gw_log(GW_LOG_INFO, "SIGHUP: reloading; checking that the app imports (pid %d)", (int)pid);
    m->checker = pid;
}

/* The import check exited with status st. */
static void check_done(struct master *m, int st)
{
    m->checker = 0;
    if (m->stopping || m->drain_at != 0)
        return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        reload(m);
        return;
    }
    /* Status 2: the new image refused its start-up (a certificate or key that does not
     * load, say); 1: the app did not import. The check's own line says which. */
    gw_log(GW_LOG_ERROR,
           "reload failed: %s (its error is above); the workers keep serving, and are "
           "replaced if they die, with the code and certificates they have",
           WIFEXITED(st) && WEXITSTATUS(st) == 2 ? "the new image refused to start"
                                                 : "the app does not import");
    gw_stats_note_reload(0);
    gw_sd_notify("READY=1\nSTATUS=reload failed; serving the old code");
}

static const char *describe(int st, char *buf, size_t len)
{
    if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
                 WCOREDUMP(st) ? ", core dumped" : "");
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    return buf;
}

static void reaped(struct master *m, pid_t pid, int st)
{
    char how[96];
    for (size_t i = 0; i < m->nold; i++) {
        if (m->old[i] != pid)
            continue;
        m->old[i] = m->old[--m->nold];
        if (m->old_asked)
            gw_stats_note_restart("reload");
        gw_log(m->old_asked ? GW_LOG_INFO : GW_LOG_WARNING, "old worker (pid %d) %s", (int)pid,
               describe(st, how, sizeof(how)));
        return;
    }
    for (int i = 0; i < m->cfg->processes; i++) {
        struct slot *s = &m->slots[i];
        if (s->pid != pid)
            continue;
        s->pid = 0;
        gw_stats_slot_exited(i);
        int was_ready = s->ready;
        s->ready = 0;
        if (m->stopping) {
            gw_log(GW_LOG_INFO, "worker %d (pid %d) %s", i, (int)pid,
                   describe(st, how, sizeof(how)));
            return;
        }
        int rss = WIFEXITED(st) && WEXITSTATUS(st) == GW_EXIT_MAX_RSS;
        int clean = (WIFEXITED(st) && WEXITSTATUS(st) == 0) || rss;
        int stuck = WIFEXITED(st) && WEXITSTATUS(st) == GW_EXIT_STUCK;
        uint64_t now = gw_now_ns();
        if (!clean && !stuck && now - s->started < YOUNG_NS)
            s->streak++;
        else
            s->streak = 0;
        if (WIFEXITED(st) && WEXITSTATUS(st) == GW_EXIT_NOAPP && !was_ready) {
            if (!m->all_ready_once && m->nold == 0) {
                gw_log(GW_LOG_CRITICAL, "worker %d could not import the app; stopping", i);
                m->status = 1;
                begin_stop(m, 1);
                return;
            }
            if (m->nold > 0) {
                gw_log(GW_LOG_ERROR, "reload: the new workers cannot import the app; the old "
                                     "workers keep serving (fix the app and send SIGHUP)");
                m->have_app = 0;
                return;
            }
        }
        gw_stats_note_restart(rss               ? "max-rss"
                              : clean           ? "max-requests"
                              : stuck           ? "stuck"
                              : WIFSIGNALED(st) ? "signal"
                                                : "exit");
        uint64_t delay = 0;
        if (s->streak > 0) {
            delay = 100000000ull << (s->streak - 1 < 7 ? s->streak - 1 : 7);
            if (delay > BACKOFF_MAX_NS)
                delay = BACKOFF_MAX_NS;
        }
        gw_log(clean ? GW_LOG_INFO : GW_LOG_ERROR,
               "worker %d (pid %d) %s%s; replacing it in %.1f s", i, (int)pid,
               describe(st, how, sizeof(how)),
               rss     ? " (retired: over --max-rss)"
               : clean ? " (retired)"
               : stuck ? " (a request was stuck past --timeout)"
                       : "",
               (double)delay / 1e9);
        s->respawn_at = now + (delay ? delay : 1);
        return;
    }
}

static void reap(struct master *m)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == m->checker)
            check_done(m, st);
        else
            reaped(m, pid, st);
    }
    if (m->stopping && running(m) == 0)
        ev_break(m->loop, EVBREAK_ALL);
}

static void sig_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct master *m = w->data;
    struct signalfd_siginfo si;
    (void)loop;
    (void)revents;
    while (read(m->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap(m);
            break;
        case SIGTERM:
        case SIGINT:
            begin_stop(m, 1);
            break;
        case SIGQUIT:
            begin_stop(m, 2);
            break;
        case SIGHUP:
            start_check(m);
            break;
        }
    }
}

static int all_ready(const struct master *m)
{
    for (int i = 0; i < m->cfg->processes; i++)
        if (m->slots[i].pid == 0 || !m->slots[i].ready)
            return 0;
    return 1;
}

static void ready_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct master *m = w->data;
    pid_t pid;
    (void)loop;
    (void)revents;
    while (read(m->ready_rd, &pid, sizeof(pid)) == (ssize_t)sizeof(pid))
        for (int i = 0; i < m->cfg->processes; i++)
            if (m->slots[i].pid == pid)
                m->slots[i].ready = 1;
    if (!all_ready(m) || m->stopping)
        return;
    if (!m->all_ready_once) {
        gw_log(GW_LOG_INFO, "%d workers ready", m->cfg->processes);
        gw_sd_notifyf("READY=1\nSTATUS=%d workers serving\nMAINPID=%ld", m->cfg->processes,
                      (long)getpid());
    }
    m->all_ready_once = 1;
    if (m->nold > 0 && !m->old_asked) {
        gw_log(GW_LOG_INFO, "reload: new workers ready; %zu old workers finish their requests",
               m->nold);
        for (size_t i = 0; i < m->nold; i++)
            kill(m->old[i], SIGTERM);
        m->old_asked = 1;
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct master *m = w->data;
    uint64_t now = gw_now_ns();
    (void)loop;
    (void)revents;
    if (!m->stopping && m->drain_at != 0 && now >= m->drain_at)
        begin_stop(m, 1);
    if (m->stopping) {
        if (m->kill_at != 0 && now >= m->kill_at) {
            gw_log(GW_LOG_WARNING, "%zu workers still running; killing them", running(m));
            signal_all(m, SIGKILL);
            m->kill_at = 0;
        }
        return;
    }
    if (!m->have_app)
        return;
    for (int i = 0; i < m->cfg->processes; i++)
        if (m->slots[i].pid == 0 && m->slots[i].respawn_at != 0 && now >= m->slots[i].respawn_at)
            spawn(m, i);
}

static int setup(struct master *m)
{
    sigset_t set;
    int p[2];
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    /* Read and ignored here; blocked in the workers until their loop watches it, so
     * that one still starting is not ended by it (gateway/server_stop.c: draining). */
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sigfd < 0 || pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
        gw_log(GW_LOG_CRITICAL, "master: %s", strerror(errno));
        return -1;
    }
    m->ready_rd = p[0];
    m->ready_wr = p[1];
    m->loop = ev_loop_new(EVBACKEND_POLL | EVFLAG_NOSIGMASK);
    if (m->loop == NULL) {
        gw_log(GW_LOG_CRITICAL, "master: cannot create its event loop");
        return -1;
    }
    ev_io_init(&m->sig_w, sig_cb, m->sigfd, EV_READ);
    m->sig_w.data = m;
    ev_io_start(m->loop, &m->sig_w);
    ev_io_init(&m->ready_w, ready_cb, m->ready_rd, EV_READ);
    m->ready_w.data = m;
    ev_io_start(m->loop, &m->ready_w);
    if (m->cfg->stats_addr != NULL) {
        char err[256];
        if (gw_stats_listen(m->loop, m->cfg->stats_addr, err, sizeof(err)) != 0) {
            gw_log(GW_LOG_CRITICAL, "%s", err);
            fprintf(stderr, "wsgate: %s\n", err);
            return -1;
        }
        gw_log(GW_LOG_INFO, "metrics on %s (/metrics, /stats)", m->cfg->stats_addr);
    }
    ev_timer_init(&m->tick, tick_cb, 0.1, 0.1);
    m->tick.data = m;
    ev_timer_start(m->loop, &m->tick);
    return 0;
}

int gw_master_run(const struct gw_config *cfg, struct gw_listener *ls, size_t nls,
                  const struct gw_master_ops *ops, int have_app, char *const argv[])
{
    static struct master m;
    memset(&m, 0, sizeof(m));
    m.cfg = cfg;
    m.ls = ls;
    m.nls = nls;
    m.ops = ops;
    m.argv = argv;
    m.have_app = have_app;
    m.sigfd = m.ready_rd = m.ready_wr = -1;
    int reloaded = gw_master_is_reload();
    old_import(&m);
    if (setup(&m) != 0)
        return 1;
    gw_log(GW_LOG_INFO, "master (pid %d) starting %d workers%s", (int)getpid(), cfg->processes,
           m.nold ? " (reload)" : "");
    if (reloaded)
        gw_stats_note_reload(have_app);
    if (!have_app) {
        gw_sd_notify("READY=1\nSTATUS=reload failed; the old workers serve the old code");
        gw_log(GW_LOG_ERROR,
               "reload failed: the app (or the certificate) loaded for the check but not "
               "again for the new master image (did its files change meanwhile?); the %zu "
               "old workers keep serving but cannot be replaced until a reload succeeds",
               m.nold);
    } else
        for (int i = 0; i < cfg->processes; i++)
            spawn(&m, i);
    reap(&m); /* old workers may have exited while the image was replaced */
    if (!m.stopping || running(&m) > 0)
        ev_run(m.loop, 0);
    gw_log(GW_LOG_INFO, "master stopped");
    gw_stats_close();
    ev_loop_destroy(m.loop);
    close(m.sigfd);
    close(m.ready_rd);
    close(m.ready_wr);
    free(m.old);
    return m.status;
}
