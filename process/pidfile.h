/*
 * --pid-file: the pid of the process to signal (the master in prefork mode, the one
 * process otherwise; it keeps its pid through reloads).
 */
#ifndef GW_PIDFILE_H
#define GW_PIDFILE_H

/* Writes getpid() to path (atomically: a temporary file renamed over it). 0 or -1
 * with the error logged. NULL path: nothing, 0. */
int gw_pidfile_write(const char *path);

/* Removes path if it still names this process. NULL path: nothing. */
void gw_pidfile_remove(const char *path);

#endif
