/*
 * The --reload watcher of process/watch.h: an inotify fd on the directories of the
 * watched files, a thread that reads it and turns a burst of changes into one SIGHUP.
 *
 * State is this file's. The main thread writes it in gw_watch_start before the thread
 * starts and frees it in gw_watch_stop after joining it; in between only the thread
 * reads it (and keeps its pending change in it). The thread blocks every signal, so a
 * signal meant for the loop or the master's signalfd never lands in it.
 *
 * Forks: the prefork master must stay single-threaded when it forks a worker (a
 * thread caught holding a libc lock, e.g. in localtime_r, would leave it held in the
 * child), so fork handlers stop the thread before every fork of this process and
 * start it again in the parent; the child (a worker, a bridge, an import check) just
 * closes the fds.
 */
#include "process/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway/log.h"
#include "gateway/util.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_ATTRIB | IN_DELETE)

struct wdir {
    int wd;
    char *path;
    char **names; /* the watched files in it (base names) */
    size_t nnames;
};

static struct {
    int fd;      /* inotify; -1 */
    int stop[2]; /* a byte on stop[1] ends the thread */
    pthread_t thread;
    int started;
    int paused; /* stopped by fork_prepare: start again in fork_parent */
    char changed[PATH_MAX + 1];
    uint64_t due;                /* a reload is due then (ns); 0: none */
    struct timespec image_start; /* gw_watch_image_started; 0: unknown */
    struct wdir *dirs;
    size_t ndirs;
    size_t nfiles;
} wt = {.fd = -1, .stop = {-1, -1}};

static void close_fds(void)
{
    if (wt.fd >= 0)
        close(wt.fd);
    for (int i = 0; i < 2; i++)
        if (wt.stop[i] >= 0)
            close(wt.stop[i]);
    wt.fd = wt.stop[0] = wt.stop[1] = -1;
}

static void *watch_main(void *arg);

/* Starts the thread with every signal blocked. 0 or -1 (logged). */
static int start_thread(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&wt.thread, NULL, watch_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        gw_log(GW_LOG_ERROR, "--reload: cannot start its thread: %s", strerror(rc));
        return -1;
    }
    wt.started = 1;
    return 0;
}

/* Ends the thread (it leaves its pending change in wt). */
static void stop_thread(void)
{
    char b = 1;
    char drain[16];
    while (write(wt.stop[1], &b, 1) < 0 && errno == EINTR)
        ; /* an empty pipe takes one byte */
    pthread_join(wt.thread, NULL);
    while (read(wt.stop[0], drain, sizeof(drain)) > 0)
        ;
    wt.started = 0;
}

static void fork_prepare(void)
{
    wt.paused = wt.started;
    if (wt.started)
        stop_thread();
}

static void fork_parent(void)
{
    if (wt.paused)
        start_thread();
    wt.paused = 0;
}

/* A forked child: the thread is not there, the fds must not be either. */
static void fork_child(void)
{
    close_fds();
    wt.started = wt.paused = 0;
}

static void free_dirs(void)
{
    for (size_t i = 0; i < wt.ndirs; i++) {
        for (size_t k = 0; k < wt.dirs[i].nnames; k++)
            free(wt.dirs[i].names[k]);
        free(wt.dirs[i].names);
        free(wt.dirs[i].path);
    }
    free(wt.dirs);
    wt.dirs = NULL;
    wt.ndirs = wt.nfiles = 0;
}

void gw_watch_image_started(void)
{
    clock_gettime(CLOCK_REALTIME, &wt.image_start);
}

/* A file modified after this image started: it may have been read before the save
 * (the import came first) and no watch saw the save. Counts as a change. */
static void check_changed_since_start(const char *file)
{
    struct stat st;
    if (wt.image_start.tv_sec == 0 || stat(file, &st) != 0)
        return;
    if (st.st_mtim.tv_sec > wt.image_start.tv_sec ||
        (st.st_mtim.tv_sec == wt.image_start.tv_sec &&
         st.st_mtim.tv_nsec > wt.image_start.tv_nsec)) {
        snprintf(wt.changed, sizeof(wt.changed), "%s", file);
        wt.due = gw_now_ns() + GW_WATCH_QUIET_MS * 1000000ull;
    }
}

/* Adds one file: its directory's watch (made once) and its name. 0 or -1 (logged). */
static int add_file(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (slash == NULL || slash[1] == '\0')
        return 0; /* not an absolute file path: nothing to watch */
    size_t dlen = slash == file ? 1 : (size_t)(slash - file);
    struct wdir *d = NULL;
    for (size_t i = 0; i < wt.ndirs && d == NULL; i++)
        if (strlen(wt.dirs[i].path) == dlen && memcmp(wt.dirs[i].path, file, dlen) == 0)
            d = &wt.dirs[i];
    if (d == NULL) {
        struct wdir *nd = realloc(wt.dirs, (wt.ndirs + 1) * sizeof(*nd));
        if (nd == NULL)
            goto nomem;
        wt.dirs = nd;
        d = &wt.dirs[wt.ndirs];
        memset(d, 0, sizeof(*d));
        d->path = strndup(file, dlen);
        if (d->path == NULL)
            goto nomem;
        d->wd = inotify_add_watch(wt.fd, d->path, WATCH_MASK);
        if (d->wd < 0) {
            gw_log(GW_LOG_WARNING, "--reload: cannot watch %s: %s", d->path, strerror(errno));
            free(d->path);
            return 0; /* the others are still watched */
        }
        wt.ndirs++;
    }
    char **nn = realloc(d->names, (d->nnames + 1) * sizeof(*nn));
    if (nn == NULL)
        goto nomem;
    d->names = nn;
    d->names[d->nnames] = strdup(slash + 1);
    if (d->names[d->nnames] == NULL)
        goto nomem;
    d->nnames++;
    wt.nfiles++;
    gw_log(GW_LOG_DEBUG, "--reload: watching %s", file);
    return 0;
nomem:
    gw_log(GW_LOG_ERROR, "--reload: out of memory");
    return -1;
}

/* The watched path named by ev, or NULL when ev is about another file. */
static const char *watched(const struct inotify_event *ev, char *buf, size_t len)
{
    for (size_t i = 0; i < wt.ndirs; i++) {
        if (wt.dirs[i].wd != ev->wd)
            continue;
        for (size_t k = 0; ev->len > 0 && k < wt.dirs[i].nnames; k++)
            if (strcmp(wt.dirs[i].names[k], ev->name) == 0) {
                snprintf(buf, len, "%s/%s", strcmp(wt.dirs[i].path, "/") ? wt.dirs[i].path : "",
                         ev->name);
                return buf;
            }
    }
    return NULL;
}

static void *watch_main(void *arg)
{
    char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    (void)arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = wt.fd, .events = POLLIN},
                              {.fd = wt.stop[0], .events = POLLIN}};
        int timeout = -1;
        if (wt.due != 0) {
            uint64_t now = gw_now_ns();
            timeout = now >= wt.due ? 0 : (int)((wt.due - now) / 1000000) + 1;
        }
        int n = poll(p, 2, timeout);
        if (n < 0 && errno != EINTR) {
            gw_log(GW_LOG_ERROR, "--reload: %s; no longer watching", strerror(errno));
            break;
        }
        if (n > 0 && p[1].revents != 0)
            break;
        if (n > 0 && p[0].revents != 0) {
            ssize_t len;
            while ((len = read(wt.fd, events, sizeof(events))) > 0) {
                for (char *e = events; e < events + len;) {
                    const struct inotify_event *ev = (const struct inotify_event *)e;
                    char path[PATH_MAX + 1];
                    const char *what = watched(ev, path, sizeof(path));
                    if (ev->mask & IN_Q_OVERFLOW)
                        what = "(many files)";
                    if (what != NULL) {
                        snprintf(wt.changed, sizeof(wt.changed), "%s", what);
                        wt.due = gw_now_ns() + GW_WATCH_QUIET_MS * 1000000ull;
                    }
                    e += sizeof(*ev) + ev->len;
                }
            }
        }
        if (wt.due != 0 && gw_now_ns() >= wt.due) {
            wt.due = 0;
            gw_log(GW_LOG_INFO, "--reload: %s changed: reloading", wt.changed);
            kill(getpid(), SIGHUP);
        }
    }
    return NULL;
}

/* Leaves the list in the environment for the images this one executes (a reload's
 * next image that cannot import the app watches it: gw_watch_start_inherited). */
static void export_list(const char *const *files, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(files[i]) + 1;
    char *v = malloc(len), *w = v;
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(files[i]);
        if (strchr(files[i], '\n') != NULL)
            continue; /* the separator */
        memcpy(w, files[i], l);
        w += l;
        *w++ = '\n';
    }
    *w = '\0';
    setenv(GW_WATCH_ENV, v, 1);
    free(v);
}

int gw_watch_start(const char *const *files, size_t n)
{
    static int atfork_done;
    if (!atfork_done && pthread_atfork(fork_prepare, fork_parent, fork_child) == 0)
        atfork_done = 1;
    wt.fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (wt.fd < 0 || pipe2(wt.stop, O_CLOEXEC | O_NONBLOCK) != 0) {
        gw_log(GW_LOG_ERROR, "--reload: %s; not watching", strerror(errno));
        goto fail;
    }
    wt.due = 0;
    for (size_t i = 0; i < n; i++) {
        if (add_file(files[i]) != 0)
            goto fail;
        check_changed_since_start(files[i]);
    }
    if (start_thread() != 0)
        goto fail;
    export_list(files, n);
    gw_log(GW_LOG_INFO, "--reload: watching %zu files in %zu directories (for development)",
           wt.nfiles, wt.ndirs);
    return 0;
fail:
    close_fds();
    free_dirs();
    return -1;
}

void gw_watch_stop(void)
{
    if (wt.started)
        stop_thread();
    close_fds();
    free_dirs();
}

int gw_watch_start_inherited(void)
{
    const char *v = getenv(GW_WATCH_ENV);
    char *copy = v != NULL ? strdup(v) : NULL, *save = NULL;
    const char **files = NULL;
    size_t n = 0;
    int rc = -1;
    if (copy == NULL)
        goto done;
    files = calloc(strlen(copy) / 2 + 1, sizeof(*files)); /* each path, '\n': 2+ bytes */
    if (files == NULL)
        goto done;
    for (char *p = strtok_r(copy, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save))
        files[n++] = p;
    gw_log(GW_LOG_INFO, "--reload: this image has no app; watching the files of the one before");
    rc = gw_watch_start(files, n);
done:
    free(files);
    free(copy);
    return rc;
}
