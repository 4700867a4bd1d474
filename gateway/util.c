/*
 * Small shared helpers of the core: error texts, the status table lookup, the
 * response content rule, the monotonic clock and the cached HTTP date. Pure
 * functions or thread-local caches; safe on any thread.
 */
#include "gateway/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "gateway/errors.h"
#include "gateway/status.h"

const char *gw_strerror(int err)
{
    switch (err) {
    case GW_EOF:
        return "end of body";
    case GW_ECLOSED:
        return "connection closed by peer";
    case GW_ETIMEDOUT:
        return "timed out";
    case GW_EPROTO:
        return "malformed request body framing";
    case GW_ETOOBIG:
        return "request over a configured limit";
    case GW_ESTATE:
        return "invalid call in this state";
    case GW_ENOMEM:
        return "out of memory";
    case GW_EABORTED:
        return "request aborted by the front server";
    case GW_EIO:
        return "I/O error";
    case GW_ENOTSUP:
        return "not supported";
    case GW_EAGAIN:
        return "would block";
    default:
        return "unknown error";
    }
}

const char *gw_status_reason(int status)
{
    switch (status) {
#define GW_STATUS_CASE(code, text)                                                                 \
    case code:                                                                                     \
        return text;
        GW_STATUS_TABLE(GW_STATUS_CASE)
#undef GW_STATUS_CASE
    default:
        return "Unknown";
    }
}

enum gw_content_rule gw_content_rule(struct gw_slice method, int status)
{
    if (status < 200 || status == 204)
        return GW_CONTENT_NONE_NO_LENGTH;
    if (status == 205)
        return GW_CONTENT_EMPTY;
    if (status == 304 || gw_slice_eq(method, "HEAD"))
        return GW_CONTENT_NONE;
    return GW_CONTENT_ANY;
}

uint64_t gw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Each thread keeps the last formatted second; strftime runs once a second. */
static __thread time_t date_sec = -1;
static __thread char date_buf[GW_HTTP_DATE_LEN + 1];

const char *gw_http_date(void)
{
    time_t now = time(NULL);
    if (now != date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date_buf, sizeof(date_buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_sec = now;
    }
    return date_buf;
}

int gw_rss_bytes(uint64_t *out)
{
    char buf[128];
    unsigned long long size, resident;
    int rc = -1, fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto done;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        goto done;
    buf[n] = '\0';
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || sscanf(buf, "%llu %llu", &size, &resident) != 2)
        goto done;
    *out = (uint64_t)resident * (uint64_t)page;
    rc = 0;
done:
    return rc;
}

int gw_parse_u64(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int gw_temp_file(const char *dir)
{
    if (dir == NULL || *dir == '\0')
        dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[4096]; /* a file system without O_TMPFILE */
    if ((size_t)snprintf(path, sizeof(path), "%s/wsgate-XXXXXX", dir) >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}
