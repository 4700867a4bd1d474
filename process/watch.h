/*
 * --reload: watching the app's source files (and the --config file) for changes and
 * reloading gracefully, the same as SIGHUP, when they do. For development.
 *
 * One thread of its own, in the process that reloads (the prefork master, or the
 * single process; never a bridge, a worker or an import check), reads an inotify fd
 * watching the files' directories, so editors that save by renaming a new file over
 * the old one are seen too. A change to a watched name starts a quiet period
 * (GW_WATCH_QUIET_MS); each further change restarts it, so an editor's burst of
 * writes is one reload. At its end the thread sends SIGHUP to its own process, whose
 * handler (the master's signalfd or the server's loop) reloads as for an operator's
 * SIGHUP: the new code is checked first and a failing import leaves the old code
 * serving. The new image watches again with its own list, or, when it cannot import
 * the app either (the files changed again during the reload), with its predecessor's.
 * The fd is close-on-exec and closed in forked children, so workers never see it; the
 * thread is stopped around every fork, so the prefork master still forks its workers
 * single-threaded.
 */
#ifndef GW_WATCH_H
#define GW_WATCH_H

#include <stddef.h>

#define GW_WATCH_QUIET_MS 300
#define GW_WATCH_ENV      "WSGATE_RELOAD_FILES"

/* Main thread, first thing in main: this image starts now. A watched file changed
 * since (saved after the import read it, before the watch began) reloads at once. */
void gw_watch_image_started(void);

/* Starts watching files[0..n) (absolute paths; copied). Main thread, with the reload
 * signals blocked in it (the thread inherits the mask). 0, or -1 with the reason
 * logged (the server runs on without --reload). */
int gw_watch_start(const char *const *files, size_t n);

/* The same for an image that has no app to ask (its import failed while the old
 * code serves on: a re-executed image kept by its bridge, a master without the app):
 * the list of the image before it, which gw_watch_start leaves in the environment
 * (GW_WATCH_ENV) for the images it executes. 0 or -1 (logged, or no list). */
int gw_watch_start_inherited(void);

/* Stops the thread and closes the fd (no-op when not started). Main thread. */
void gw_watch_stop(void);

#endif
