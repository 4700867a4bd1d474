/*
 * A request body collected before the app runs (--body-buffer), so a slow uploader
 * costs memory or a file, not a worker thread. A body of up to GW_SPOOL_MEMORY stays
 * in the connection buffer; a larger one too while the process's share of memory for
 * such bodies (--body-memory) has room for its whole length (a grant, taken on the
 * loop, given back when the request ends); otherwise the loop moves its bytes into an
 * unlinked temp file and the worker later reads the body from the file first. One
 * spool per connection (a one-request-at-a-time front-end: HTTP with Content-Length,
 * SCGI).
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
    int fd;         /* the temp file, -1 when none */
    uint64_t size;  /* bytes in it */
    uint64_t read;  /* of which the worker has read */
    uint64_t grant; /* bytes of --body-memory this body holds in c->in; 0: none */
};

/* Bytes of a collected body kept in the connection buffer before the rest goes to the
 * spool file. */
#define GW_SPOOL_MEMORY (64 * 1024)

static inline void gw_spool_init(struct gw_spool *s)
{
    s->fd = -1;
    s->size = s->read = s->grant = 0;
}

/*
 * Loop: the head of a request is c->in's first head_len bytes after c->in.start and
 * its body has length body_len. When the body bytes in c->in pass GW_SPOOL_MEMORY,
 * first tries to take a grant of body_len bytes from c->cfg->body_memory (then the
 * body stays in c->in); without one (or once a spool was begun) moves them (at most what the body
 * still lacks) into c's spool and closes the gap, so c->in keeps the head and any bytes after the
 * body. Returns the body bytes collected so far (spooled + still in c->in), or GW_E* (the temp file
 * could not be made or written).
 */
int64_t gw_spool_collect(struct gw_conn *c, size_t head_len, uint64_t body_len);

/* Loop, after gw_spool_collect: the room c->in needs for the next part of a body that
 * still lacks `left` bytes: all of them when the body stays in memory, else at most
 * GW_SPOOL_MEMORY (the rest goes to the file). */
size_t gw_spool_room(const struct gw_conn *c, uint64_t left);

/* Worker: reads up to len body bytes from c's spool. Returns the count, 0 when the
 * spool is exhausted (or there is none: read the connection then), or GW_EIO. */
ssize_t gw_spool_read(struct gw_conn *c, char *buf, size_t len);

/* The bytes of --body-memory granted now (all connections of the process). */
uint64_t gw_spool_granted(void);

/* The request is over (its worker, or the loop when the connection goes): the file
 * goes and the grant is given back. Any thread, never two at once for one spool. */
void gw_spool_close(struct gw_spool *s);

#endif
