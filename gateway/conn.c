/*
 * Connection buffers, the blocking I/O a worker does on the connection it owns, and
 * the plain transport. Sockets are non-blocking (the loop needs that); a worker goes
 * through the connection's transport and waits with poll(2), for the event the
 * transport names, bounded by the read or send timeout, so a stalled peer can hold a
 * worker for at most that long per step. The GIL is never held here: callers in
 * python/ release it first.
 */
#include "gateway/conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/protocol.h"

static void buf_release(struct gw_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

const char *gw_conn_peer(const struct gw_conn *c, char *buf, size_t len)
{
    struct ucred cr;
    socklen_t sl = sizeof(cr);
    if (c->remote_addr[0] != '\0') {
        if (c->remote_port[0] == '\0')
            return c->remote_addr;
        snprintf(buf, len, strchr(c->remote_addr, ':') != NULL ? "[%s]:%s" : "%s:%s",
                 c->remote_addr, c->remote_port);
        return buf;
    }
    /* Asked only when a line is logged: accepting a unix connection costs no syscall. */
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) == 0 && sl == sizeof(cr))
        snprintf(buf, len, "pid=%ld,uid=%lu", (long)cr.pid, (unsigned long)cr.uid);
    else
        snprintf(buf, len, "-");
    return buf;
}

void gw_conn_trim(struct gw_conn *c)
{
    if (c->pin == 0 && c->in.start == c->in.end)
        buf_release(&c->in);
    if (c->out.start == c->out.end)
        buf_release(&c->out);
    if (c->proto->conn_trim)
        c->proto->conn_trim(c);
}

int gw_conn_in_adopt(struct gw_conn *c, const char *p, size_t n)
{
    struct gw_buf *b = &c->in;
    char *d = malloc(n);
    if (d == NULL)
        return GW_ENOMEM;
    memcpy(d, p, n);
    free(b->data);
    *b = (struct gw_buf){.data = d, .cap = n, .start = 0, .end = n};
    return 0;
}

int gw_conn_reserve(struct gw_conn *c, size_t want)
{
    struct gw_buf *b = &c->in;
    if (b->cap - b->end >= want)
        return 0;
    /* Move the unconsumed bytes down to the pin (0 when nothing is in flight). */
    if (b->start > c->pin) {
        size_t n = b->end - b->start;
        memmove(b->data + c->pin, b->data + b->start, n);
        b->start = c->pin;
        b->end = c->pin + n;
        if (b->cap - b->end >= want)
            return 0;
    }
    if (c->pin > 0)
        return GW_ETOOBIG; /* slices point into data: it must not move */
    size_t cap = b->cap ? b->cap : GW_CONN_READ_SIZE;
    while (cap - b->end < want) {
        if (cap > SIZE_MAX / 2)
            return GW_ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return GW_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

short gw_conn_poll_events(unsigned char want, short own)
{
    return want == GW_WAIT_READ ? POLLIN : want == GW_WAIT_WRITE ? POLLOUT : own;
}

static int wait_fd(struct gw_conn *c, short events, double timeout)
{
    struct pollfd pfd = {.fd = c->fd, .events = events};
    int ms = timeout > 2e6 ? 2000000000 : (int)(timeout * 1000.0);
    for (;;) {
        int n = poll(&pfd, 1, ms);
        if (n > 0)
            return 0;
        if (n == 0)
            return GW_ETIMEDOUT;
        if (errno != EINTR)
            return GW_EIO;
    }
}

ssize_t gw_conn_recv(struct gw_conn *c, char *buf, size_t len)
{
    if (gw_conn_broken(c))
        return GW_ECLOSED;
    for (;;) {
        ssize_t n = c->tr->read(c, buf, len);
        if (n > 0)
            return n;
        if (n == GW_EAGAIN) {
            n = wait_fd(c, gw_conn_poll_events(c->rd_wait, POLLIN), c->cfg->read_timeout);
            if (n == 0)
                continue;
            /* A read timeout leaves the write side usable: the front-end can still
             * answer (408) before it closes. */
            if (n == GW_ETIMEDOUT)
                return n;
        } else if (n == 0) {
            n = GW_ECLOSED; /* the end of the stream */
        }
        gw_conn_set_broken(c);
        return n;
    }
}

ssize_t gw_conn_read_body(struct gw_conn *c, char *buf, size_t len)
{
    size_t avail = c->in.end - c->in.start;
    ssize_t n = gw_spool_read(c, buf, len); /* a body collected into a file comes first */
    if (n != 0)
        return n;
    if (avail == 0)
        return gw_conn_recv(c, buf, len);
    n = (ssize_t)(len < avail ? len : avail);
    memcpy(buf, c->in.data + c->in.start, (size_t)n);
    c->in.start += (size_t)n;
    return n;
}

ssize_t gw_conn_fill(struct gw_conn *c)
{
    int rc = gw_conn_reserve(c, GW_CONN_READ_SIZE);
    if (rc != 0)
        return rc;
    ssize_t n = gw_conn_recv(c, c->in.data + c->in.end, c->in.cap - c->in.end);
    if (n > 0)
        c->in.end += (size_t)n;
    return n;
}

int gw_conn_writev(struct gw_conn *c, const struct iovec *iov, int iovcnt)
{
    struct iovec local[64];
    if (gw_conn_broken(c))
        return GW_ECLOSED;
    while (iovcnt > 0) {
        int cnt = iovcnt > 64 ? 64 : iovcnt;
        memcpy(local, iov, (size_t)cnt * sizeof(*iov));
        struct iovec *v = local;
        int left = cnt;
        while (left > 0) {
            ssize_t n = c->tr->writev(c, v, left);
            if (n == GW_EAGAIN)
                n = wait_fd(c, gw_conn_poll_events(c->wr_wait, POLLOUT), c->cfg->send_timeout);
            if (n < 0) {
                gw_conn_set_broken(c);
                return (int)n;
            }
            size_t done = (size_t)n;
            while (left > 0 && done >= v->iov_len) {
                done -= v->iov_len;
                v++;
                left--;
            }
            if (left > 0) {
                v->iov_base = (char *)v->iov_base + done;
                v->iov_len -= done;
            }
        }
        iov += cnt;
        iovcnt -= cnt;
    }
    return 0;
}

/* ---- the plain transport: the socket itself ---------------------------------- */

static ssize_t errno_result(void)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return GW_EAGAIN;
    if (errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN)
        return GW_ECLOSED;
    return GW_EIO;
}

static ssize_t plain_read(struct gw_conn *c, void *buf, size_t len)
{
    for (;;) {
        ssize_t k = recv(c->fd, buf, len, 0);
        if (k >= 0)
            return k;
        if (errno != EINTR)
            return errno_result();
    }
}

static ssize_t plain_writev(struct gw_conn *c, const struct iovec *iov, int n)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    for (;;) {
        ssize_t k = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k >= 0)
            return k;
        if (errno != EINTR)
            return errno_result();
    }
}

static ssize_t plain_sendfile(struct gw_conn *c, int fd, off_t off, size_t len)
{
    for (;;) {
        ssize_t k = sendfile(c->fd, fd, &off, len);
        if (k >= 0)
            return k;
        if (errno == EINVAL || errno == ENOSYS)
            return GW_ENOTSUP;
        if (errno != EINTR)
            return errno_result();
    }
}

static int plain_shut_write(struct gw_conn *c)
{
    return shutdown(c->fd, SHUT_WR) == 0 ? 0 : (int)errno_result();
}

const struct gw_transport gw_plain_transport = {
    .read = plain_read,
    .writev = plain_writev,
    .sendfile = plain_sendfile,
    .shut_write = plain_shut_write,
    .pending = NULL, /* the socket holds nothing for us */
};

int gw_buf_append(struct gw_buf *b, const char *p, size_t n, size_t max)
{
    if (b->cap - b->end < n) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap - b->end < n) {
            if (cap > max / 2)
                return GW_ETOOBIG;
            cap *= 2;
        }
        char *q = realloc(b->data, cap);
        if (q == NULL)
            return GW_ENOMEM;
        b->data = q;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->end, p, n);
    b->end += n;
    return 0;
}

int gw_conn_out_append(struct gw_conn *c, const char *p, size_t n)
{
    return gw_buf_append(&c->out, p, n, 1u << 20);
}
