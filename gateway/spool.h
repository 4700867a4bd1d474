/*
 * A request body collected before the app runs (--body-buffer): the loop moves the
 * body bytes that arrive past the connection buffer's share into an unlinked temp
 * file, so a slow uploader costs a file, not a worker thread, and the worker later
 * reads the body from the file first. One spool per connection (a
 * one-request-at-a-time front-end: HTTP with Content-Length, SCGI).
 *
 * Threads: the loop fills it while it collects; the request's worker reads it; the
 * loop empties it when the request is handed back. Never both at once.
 */
#ifndef GW_SPOOL_H
#define GW_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct gw_conn;

struct gw_spool {
    int fd;        /* the temp file, -1 when none */
    uint64_t size; /* bytes in it */
    uint64_t read; /* of which the worker has read */
};

/* Bytes of a collected body kept in the connection buffer before the rest goes to the
 * spool file. */
#define GW_SPOOL_MEMORY (64 * 1024)

static inline void gw_spool_init(struct gw_spool *s)
{
    s->fd = -1;
    s->size = s->read = 0;
}

/*
 * Loop: the head of a request is c->in's first head_len bytes after c->in.start and
 * its body has length body_len. When the body bytes in c->in pass GW_SPOOL_MEMORY (or
 * a spool was begun), moves them (at most what the body still lacks) into c's spool
 * and closes the gap, so c->in keeps the head and any bytes after the body. Returns
 * the body bytes collected so far (spooled + still in c->in), or GW_E* (the temp file
 * could not be made or written).
 */
int64_t gw_spool_collect(struct gw_conn *c, size_t head_len, uint64_t body_len);

/* Worker: reads up to len body bytes from c's spool. Returns the count, 0 when the
 * spool is exhausted (or there is none: read the connection then), or GW_EIO. */
ssize_t gw_spool_read(struct gw_conn *c, char *buf, size_t len);

/* Loop: the request is over: the file goes. */
void gw_spool_close(struct gw_spool *s);

#endif
