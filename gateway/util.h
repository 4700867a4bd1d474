/*
 * Small helpers shared by the core and the front-ends (see gateway/util.c).
 */
#ifndef GW_UTIL_H
#define GW_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define GW_VERSION      "0.1.0"
#define GW_SERVER_TOKEN "wsgate/" GW_VERSION

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t gw_now_ns(void);

/* "Sun, 06 Nov 1994 08:49:37 GMT" for now; a thread-local string, valid until this
 * thread's next call. */
#define GW_HTTP_DATE_LEN 29
const char *gw_http_date(void);

/* An unlinked temp file (O_TMPFILE, else mkostemp + unlink) in dir (NULL: $TMPDIR,
 * else /tmp), read-write, close-on-exec. Returns the descriptor, or -1 with errno. */
int gw_temp_file(const char *dir);

/* This process's resident set size in bytes, from /proc/self/statm (one open, one
 * read: cheap enough for a few calls a second, not one per request). 0 or -1. */
int gw_rss_bytes(uint64_t *out);

/* Parses 1..19 ASCII digits (nothing else) into *out when <= max. Returns 0 or -1. */
int gw_parse_u64(const char *p, size_t n, uint64_t max, uint64_t *out);

#endif
