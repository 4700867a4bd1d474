/*
 * Error and access logs. Each line is formatted into a stack buffer and written with
 * a single write(2) on an O_APPEND descriptor, so lines from different threads (and,
 * later, processes) never interleave mid-line. The descriptors are set once at
 * start-up and only read afterwards.
 */
#include "gateway/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gateway/protocol.h"
#include "gateway/util.h"

static int error_fd = STDERR_FILENO;
static int access_fd = -1;
static enum gw_log_level min_level = GW_LOG_INFO;
static int access_json;

static const char *const level_names[] = {"debug", "info", "warning", "error", "critical"};

int gw_log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

static int open_log(const char *path, int dash_fd, char *err, size_t errlen)
{
    if (path == NULL || strcmp(path, "-") == 0)
        return dash_fd;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        snprintf(err, errlen, "cannot open log file '%s': %s", path, strerror(errno));
    return fd;
}

int gw_log_open(const char *error_path, const char *access_path, enum gw_log_level level, char *err,
                size_t errlen)
{
    int efd = open_log(error_path, STDERR_FILENO, err, errlen);
    if (efd < 0)
        return -1;
    int afd = -1;
    if (access_path != NULL) {
        afd = open_log(access_path, STDOUT_FILENO, err, errlen);
        if (afd < 0) {
            if (efd > STDERR_FILENO)
                close(efd);
            return -1;
        }
    }
    error_fd = efd;
    access_fd = afd;
    min_level = level;
    return 0;
}

int gw_log_error_is_stderr(void)
{
    struct stat a, b;

    if (error_fd == STDERR_FILENO)
        return 1;
    if (fstat(error_fd, &a) != 0 || fstat(STDERR_FILENO, &b) != 0)
        return 0;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void gw_log_access_json(int on)
{
    access_json = on;
}

void gw_log_close(void)
{
    if (error_fd > STDERR_FILENO)
        close(error_fd);
    if (access_fd > STDERR_FILENO)
        close(access_fd);
    error_fd = STDERR_FILENO;
    access_fd = -1;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* "[2026-11-22 03:04:05 +0000] [pid] " like gunicorn's error log. */
static size_t stamp(char *buf, size_t cap)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, cap, "[%Y-%m-%d %H:%M:%S %z] ", &tm);
    int k = snprintf(buf + n, cap - n, "[%ld] ", (long)getpid());
    return n + (k > 0 ? (size_t)k : 0);
}

/* The stamped, levelled line of fmt into line[cap], ending with '\n'; its length. */
static size_t format_line(char *line, size_t cap, enum gw_log_level level, const char *fmt,
                          va_list ap)
{
    size_t n = stamp(line, cap);
    int k = snprintf(line + n, cap - n, "[%s] ", level_names[level]);
    n += (size_t)k;
    k = vsnprintf(line + n, cap - n - 1, fmt, ap);
    if (k < 0)
        k = 0;
    n += (size_t)k;
    if (n > cap - 2)
        n = cap - 2;
    line[n++] = '\n';
    return n;
}

void gw_log(enum gw_log_level level, const char *fmt, ...)
{
    char line[2048];
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_line(line, sizeof(line), level, fmt, ap);
    va_end(ap);
    write_all(error_fd, line, n);
}

void gw_log_lines(enum gw_log_level level, const char *more, const char *fmt, ...)
{
    char line[2048];
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_line(line, sizeof(line), level, fmt, ap);
    va_end(ap);
    size_t mlen = more != NULL ? strlen(more) : 0;
    char *all = mlen > 0 ? malloc(n + mlen) : NULL;
    if (all == NULL) { /* nothing more, or no memory for one write: the line alone */
        write_all(error_fd, line, n);
        return;
    }
    memcpy(all, line, n);
    memcpy(all + n, more, mlen);
    write_all(error_fd, all, n + mlen);
    free(all);
}

void gw_log_raw(const char *buf, size_t len)
{
    write_all(error_fd, buf, len);
}

/* Appends s (at most max bytes), escaping '"', '\\' and non-printable bytes. */
static size_t put_escaped(char *out, size_t cap, size_t n, struct gw_slice s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    if (s.ptr == NULL || s.len == 0) {
        if (n < cap)
            out[n++] = '-';
        return n;
    }
    size_t len = s.len < max ? s.len : max;
    for (size_t i = 0; i < len && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

/* snprintf at out+n that never moves n past cap. */
static size_t appendf(char *out, size_t cap, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t appendf(char *out, size_t cap, size_t n, const char *fmt, ...)
{
    if (n >= cap)
        return cap;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + n, cap - n, fmt, ap);
    va_end(ap);
    if (k < 0)
        return n;
    return (size_t)k >= cap - n ? cap - 1 : n + (size_t)k;
}

/* The value of an HTTP field (HTTP front-end) or HTTP_* CGI variable (others). */
static struct gw_slice find_header(const struct gw_request *r, const char *lower, const char *cgi)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (gw_slice_eq_lower(r->headers[i].name, lower))
            return r->headers[i].value;
    for (size_t i = 0; i < r->ncgi; i++)
        if (gw_slice_eq(r->cgi[i].name, cgi))
            return r->cgi[i].value;
    return (struct gw_slice){NULL, 0};
}

/* Appends s as a JSON string (quotes included), at most max bytes of it. Bytes
 * outside printable ASCII become \u00XX (latin-1, as WSGI reads them), so the line is
 * pure ASCII and always valid JSON. The content stops early rather than pass limit;
 * the quotes are always written (the caller keeps room for them past limit). */
static size_t put_json(char *out, size_t limit, size_t n, struct gw_slice s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    out[n++] = '"';
    size_t len = s.ptr == NULL ? 0 : (s.len < max ? s.len : max);
    for (size_t i = 0; i < len && n + 7 < limit; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            memcpy(out + n, "\\u00", 4);
            n += 4;
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    return n;
}

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* The JSON access line: one object, every field always present (see
 * docs/operations.md). */
static size_t format_json(char *line, size_t cap, const struct gw_request *r,
                          const struct gw_request_times *t, const struct timeval *tv)
{
    /* Strings stop at limit; the keys, quotes and numbers after them (< 1 KiB in all)
     * use the room kept between limit and cap, so the object is always complete. */
    size_t limit = cap - 1024, n = 0;
    struct tm tm;
    char when[64];
    gmtime_r(&tv->tv_sec, &tm);
    size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof(when) - w, ".%06ldZ", (long)tv->tv_usec);

    struct gw_slice target = r->request_uri, path = target;
    if (path.ptr != NULL) {
        const char *q = memchr(path.ptr, '?', path.len);
        if (q != NULL)
            path.len = (size_t)(q - path.ptr);
    }
    n = appendf(line, cap, n, "{\"time\":\"%s\",\"remote\":", when);
    n = put_json(line, limit, n, r->remote_addr, 64);
    n = appendf(line, cap, n, ",\"method\":");
    n = put_json(line, limit, n, r->method, 32);
    n = appendf(line, cap, n, ",\"path\":");
    n = put_json(line, limit, n, path, 2048);
    n = appendf(line, cap, n, ",\"query\":");
    n = put_json(line, limit, n, r->query, 2048);
    n = appendf(line, cap, n, ",\"version\":");
    n = put_json(line, limit, n, r->protocol, 16);
    n = appendf(line, cap, n, ",\"referer\":");
    n = put_json(line, limit, n, find_header(r, "referer", "HTTP_REFERER"), 1024);
    n = appendf(line, cap, n, ",\"user_agent\":");
    n = put_json(line, limit, n, find_header(r, "user-agent", "HTTP_USER_AGENT"), 1024);
    n = appendf(line, cap, n,
                ",\"protocol\":\"%s\",\"conn_requests\":%u,\"status\":%d,\"bytes\":%llu,"
                "\"bytes_in\":%llu,\"pid\":%ld,\"total\":%.6f,\"queue\":%.6f,\"gil\":%.6f,"
                "\"app\":%.6f,\"send\":%.6f}",
                r->proto ? r->proto->name : "", r->conn_seq, r->status,
                (unsigned long long)r->bytes_sent, (unsigned long long)r->bytes_in, (long)getpid(),
                secs(t->total), secs(t->queue), secs(t->gil), secs(t->app), secs(t->send));
    return n;
}

/* Combined: host - - [time] "request" status bytes "referer" "agent", then the time
 * split: rt=TOTAL q=QUEUE gil=GIL app=APP send=SEND (seconds). */
static size_t format_combined(char *line, size_t cap, const struct gw_request *r,
                              const struct gw_request_times *t, const struct timeval *tv)
{
    size_t n = 0;
    struct tm tm;
    char when[64];
    localtime_r(&tv->tv_sec, &tm);
    strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S %z", &tm);

    n = put_escaped(line, cap, n, r->remote_addr, 64);
    n = appendf(line, cap, n, " - - [%s] \"", when);
    n = put_escaped(line, cap, n, r->method, 32);
    if (n < cap)
        line[n++] = ' ';
    n = put_escaped(line, cap, n, r->request_uri, 1024);
    if (n < cap)
        line[n++] = ' ';
    n = put_escaped(line, cap, n, r->protocol, 16);
    n = appendf(line, cap, n, "\" %d %llu \"", r->status, (unsigned long long)r->bytes_sent);
    n = put_escaped(line, cap, n, find_header(r, "referer", "HTTP_REFERER"), 512);
    n = appendf(line, cap, n, "\" \"");
    n = put_escaped(line, cap, n, find_header(r, "user-agent", "HTTP_USER_AGENT"), 512);
    n = appendf(line, cap, n, "\" rt=%.6f q=%.6f gil=%.6f app=%.6f send=%.6f", secs(t->total),
                secs(t->queue), secs(t->gil), secs(t->app), secs(t->send));
    return n;
}

void gw_log_access(const struct gw_request *r)
{
    char line[16384];
    size_t n, cap = sizeof(line) - 2;
    if (access_fd < 0)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct gw_request_times t;
    gw_request_times(r, &t);
    if (access_json)
        n = format_json(line, cap, r, &t, &tv);
    else
        n = format_combined(line, cap, r, &t, &tv);
    if (n > cap)
        n = cap;
    line[n++] = '\n';
    write_all(access_fd, line, n);
}
