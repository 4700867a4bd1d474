/*
 * The request-body spool of gateway/spool.h. A body past GW_SPOOL_MEMORY first asks
 * for a grant of its whole length from the process's --body-memory (an atomic count
 * of the bytes granted: the loop takes, whichever thread ends the request gives
 * back); with one it stays in c->in, which grows to hold it. Otherwise the loop appends with pwrite
 * at the file's end and closes the gap in c->in with memmove (nothing is pinned while a body is
 * collected: the head is parsed again from c->in each time, see the front-ends); the worker reads
 * with pread from where it left off. The file is made in
 * --temp-dir on the first byte that does not stay in memory.
 */
#include "gateway/spool.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/log.h"
#include "gateway/util.h"

static uint64_t granted; /* bytes of --body-memory held by bodies in c->in; atomic */

static int take_grant(struct gw_spool *s, uint64_t limit, uint64_t n)
{
    uint64_t cur = __atomic_load_n(&granted, __ATOMIC_RELAXED);
    do {
        if (n > limit || cur > limit - n)
            return 0;
    } while (!__atomic_compare_exchange_n(&granted, &cur, cur + n, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    s->grant = n;
    return 1;
}

uint64_t gw_spool_granted(void)
{
    return __atomic_load_n(&granted, __ATOMIC_RELAXED);
}

int64_t gw_spool_collect(struct gw_conn *c, size_t head_len, uint64_t body_len)
{
    struct gw_spool *s = &c->spool;
    size_t body_at = c->in.start + head_len;
    size_t in_mem = c->in.end - body_at;
    uint64_t want = body_len - s->size;
    if (s->size == 0 && (in_mem <= GW_SPOOL_MEMORY || s->grant >= body_len ||
                         (s->grant == 0 && take_grant(s, c->cfg->body_memory, body_len))))
        return (int64_t)in_mem; /* still all in memory */
    size_t move = in_mem < want ? in_mem : (size_t)want;
    if (s->fd < 0 && (s->fd = gw_temp_file(c->cfg->temp_dir)) < 0) {
        gw_log(GW_LOG_ERROR, "cannot create a temp file for a request body: %s", strerror(errno));
        return GW_EIO;
    }
    for (size_t done = 0; done < move;) {
        ssize_t k =
            pwrite(s->fd, c->in.data + body_at + done, move - done, (off_t)(s->size + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            gw_log(GW_LOG_ERROR, "cannot write a request body's temp file: %s",
                   k < 0 ? strerror(errno) : "short write");
            return GW_EIO;
        }
        done += (size_t)k;
    }
    s->size += move;
    /* Whatever followed the moved bytes (the rest of the body, or the next request)
     * comes right after the head again. */
    memmove(c->in.data + body_at, c->in.data + body_at + move, in_mem - move);
    c->in.end -= move;
    return (int64_t)(s->size +
                     (in_mem - move < body_len - s->size ? in_mem - move : body_len - s->size));
}

size_t gw_spool_room(const struct gw_conn *c, uint64_t left)
{
    if (c->spool.grant > 0 && c->spool.fd < 0)
        return left > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)left;
    return left < GW_SPOOL_MEMORY ? (size_t)left : GW_SPOOL_MEMORY;
}

ssize_t gw_spool_read(struct gw_conn *c, char *buf, size_t len)
{
    struct gw_spool *s = &c->spool;
    uint64_t left = s->size - s->read;
    if (s->fd < 0 || left == 0)
        return 0;
    size_t want = len < left ? len : (size_t)left;
    for (;;) {
        ssize_t k = pread(s->fd, buf, want, (off_t)s->read);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return GW_EIO;
        s->read += (uint64_t)k;
        return k;
    }
}

void gw_spool_close(struct gw_spool *s)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->grant > 0)
        __atomic_sub_fetch(&granted, s->grant, __ATOMIC_RELAXED);
    gw_spool_init(s);
}
