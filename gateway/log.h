/*
 * The error log and the access log. Both are files (or stderr for "-") opened at
 * start-up; every line is written with one write(2) so lines from different threads
 * never interleave. Safe to call from any thread, with or without the GIL.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

#include "gateway/request.h"

enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARNING, GW_LOG_ERROR, GW_LOG_CRITICAL };

/* Opens the logs; path "-" or NULL means stderr (error log) / no access log
 * (NULL for access). Returns 0 or -1 with a message in err. */
int gw_log_open(const char *error_path, const char *access_path, enum gw_log_level level, char *err,
                size_t errlen);
void gw_log_close(void);

/* 1 when the error log is where stderr goes (no --error-log, "-", or the same file),
 * so a message printed on stderr is in the error log already; 0 otherwise. */
int gw_log_error_is_stderr(void);

/* Parses "debug", "info", "warning", "error", "critical"; -1 if unknown. */
int gw_log_level_parse(const char *name);

/* One line to the error log, prefixed with time, pid and level. */
void gw_log(enum gw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like gw_log, followed by `more` (lines ending with '\n', of any length, or NULL),
 * all in one write so no other line comes between them. */
void gw_log_lines(enum gw_log_level level, const char *more, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Raw bytes to the error log (wsgi.errors): written as they are, in one write. */
void gw_log_raw(const char *buf, size_t len);

/* Start-up, before any thread: on = 1 writes access lines as JSON objects instead of
 * the combined format (docs/operations.md describes both). */
void gw_log_access_json(int on);

/* One access-log line for a finished request (after gw_request_finish): combined
 * format plus the time split, or one JSON object per line. */
void gw_log_access(const struct gw_request *r);

#endif
