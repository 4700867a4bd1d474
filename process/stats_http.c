/*
 * The metrics responder (--stats ADDR): a deliberately tiny HTTP/1.x server on a
 * libev loop. One request per connection: read a head of at most STATS_MAX_HEAD
 * bytes within STATS_TIMEOUT seconds, answer GET/HEAD /metrics (Prometheus text) or
 * /stats (JSON), 404 for other paths, 405 for other methods, 400 for garbage, always
 * with Connection: close, then close. Sockets are non-blocking; the answer is
 * written as far as the socket takes it and the rest on EV_WRITE, bounded by the same
 * timeout, so a slow or silent client never blocks the loop.
 *
 * Only the loop thread that called gw_stats_listen runs this file; it never touches
 * Python, and the numbers come from the shared mapping (gateway/stats.c), so it
 * answers while every worker thread is busy in the app.
 */
#include "process/stats_http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway/listener.h"
#include "gateway/stats.h"
#include "gateway/util.h"

#define STATS_MAX_HEAD  4096
#define STATS_TIMEOUT   5.0
#define STATS_MAX_CONNS 32

struct sconn {
    int fd;
    ev_io io;
    ev_timer timer;
    size_t inlen;
    char *out; /* malloc'd answer */
    size_t outlen, outoff;
    struct sconn *prev, *next;
    char in[STATS_MAX_HEAD];
};

static struct {
    struct ev_loop *loop;
    struct gw_listener l; /* fd < 0: not listening */
    int bound;            /* l is open (gw_stats_bind) */
    int made;             /* l was opened here, not inherited from the image before */
    int open;             /* ... and served on loop */
    struct sconn *conns;
    int nconns;
} st = {.l = {.fd = -1}};

static void sconn_free(struct sconn *c)
{
    ev_io_stop(st.loop, &c->io);
    ev_timer_stop(st.loop, &c->timer);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        st.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    st.nconns--;
    free(c->out);
    free(c);
}

/* Writes what the socket takes now; frees the connection when done or failed. */
static void flush(struct sconn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n > 0) {
            c->outoff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_stop(st.loop, &c->io);
            ev_io_set(&c->io, c->fd, EV_WRITE);
            ev_io_start(st.loop, &c->io);
            return;
        }
        break;
    }
    sconn_free(c);
}

/* Builds the whole answer (head + body) into c->out. 0 or -1 (out of memory). */
static int answer(struct sconn *c, int status, const char *reason, const char *ctype,
                  const char *body, size_t blen, int head_only, const char *extra)
{
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                      status, reason, ctype, blen, extra);
    if (hl < 0 || (size_t)hl >= sizeof(head))
        return -1;
    size_t total = (size_t)hl + (head_only ? 0 : blen);
    c->out = malloc(total);
    if (c->out == NULL)
        return -1;
    memcpy(c->out, head, (size_t)hl);
    if (!head_only && blen > 0)
        memcpy(c->out + hl, body, blen);
    c->outlen = total;
    c->outoff = 0;
    return 0;
}

static int answer_text(struct sconn *c, int status, const char *reason, const char *extra)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, reason);
    return answer(c, status, reason, "text/plain; charset=utf-8", body, (size_t)n, 0, extra);
}

/* The head is complete in c->in[0..end): decides the answer. 0 or -1. */
static int respond(struct sconn *c, size_t end)
{
    /* request line: METHOD SP TARGET SP HTTP/1.x */
    const char *p = c->in, *lim = c->in + end;
    const char *sp1 = memchr(p, ' ', (size_t)(lim - p));
    const char *eol = memchr(p, '\n', (size_t)(lim - p));
    if (sp1 == NULL || eol == NULL || sp1 > eol)
        return answer_text(c, 400, "Bad Request", "");
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(eol - target));
    if (sp2 == NULL || sp2 == target || (size_t)(eol - sp2) < 9 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return answer_text(c, 400, "Bad Request", "");
    size_t mlen = (size_t)(sp1 - p);
    int is_get = mlen == 3 && memcmp(p, "GET", 3) == 0;
    int is_head = mlen == 4 && memcmp(p, "HEAD", 4) == 0;
    if (!is_get && !is_head)
        return answer_text(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
    size_t plen = (size_t)(sp2 - target);
    const char *q = memchr(target, '?', plen);
    if (q != NULL)
        plen = (size_t)(q - target);
    int json;
    if (plen == 8 && memcmp(target, "/metrics", 8) == 0)
        json = 0;
    else if (plen == 6 && memcmp(target, "/stats", 6) == 0)
        json = 1;
    else
        return answer_text(c, 404, "Not Found", "");
    size_t blen = 0;
    char *body = gw_stats_render(json, &blen);
    if (body == NULL)
        return answer_text(c, 500, "Internal Server Error", "");
    int rc =
        answer(c, 200, "OK", json ? "application/json" : "text/plain; version=0.0.4; charset=utf-8",
               body, blen, is_head, "");
    free(body);
    return rc;
}

/* Offset one past the blank line ending the head, or 0 while incomplete. */
static size_t head_end(const struct sconn *c)
{
    for (size_t i = 0; i + 1 < c->inlen; i++) {
        if (c->in[i] != '\n')
            continue;
        if (c->in[i + 1] == '\n')
            return i + 2;
        if (i + 2 < c->inlen && c->in[i + 1] == '\r' && c->in[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static void read_cb(struct sconn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
        if (n > 0) {
            c->inlen += (size_t)n;
            break;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        sconn_free(c); /* EOF or error before a complete head */
        return;
    }
    size_t end = head_end(c);
    int rc;
    if (end > 0)
        rc = respond(c, end);
    else if (c->inlen == sizeof(c->in))
        rc = answer_text(c, 431, "Request Header Fields Too Large", "");
    else
        return; /* need more */
    if (rc != 0) {
        sconn_free(c);
        return;
    }
    shutdown(c->fd, SHUT_RD);
    flush(c);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sconn *c = w->data;
    (void)loop;
    (void)revents;
    if (c->out != NULL)
        flush(c);
    else
        read_cb(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sconn_free(w->data);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(st.l.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the next readiness retries */
        if (st.nconns >= STATS_MAX_CONNS) {
            close(fd);
            continue;
        }
        struct sconn *c = malloc(sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->inlen = 0;
        c->out = NULL;
        c->outlen = c->outoff = 0;
        c->prev = NULL;
        c->next = st.conns;
        if (st.conns)
            st.conns->prev = c;
        st.conns = c;
        st.nconns++;
        ev_io_init(&c->io, io_cb, fd, EV_READ);
        c->io.data = c;
        ev_io_start(st.loop, &c->io);
        ev_timer_init(&c->timer, timer_cb, STATS_TIMEOUT, 0.);
        c->timer.data = c;
        ev_timer_start(st.loop, &c->timer);
    }
}

int gw_stats_bind(const char *addr, char *err, size_t errlen)
{
    char lerr[400];
    if (st.bound) {
        snprintf(err, errlen, "--stats: the metrics responder is already listening");
        return -1;
    }
    const char *inherited = getenv(GW_STATS_FD_ENV);
    uint64_t fd = 0;
    int adopt = inherited != NULL && gw_parse_u64(inherited, strlen(inherited), 65535, &fd) == 0;
    unsetenv(GW_STATS_FD_ENV);
    if (adopt ? gw_listener_adopt(&st.l, (int)fd, addr, NULL, lerr, sizeof(lerr)) != 0
              : gw_listener_open(&st.l, addr, NULL, 64, -1, lerr, sizeof(lerr)) != 0) {
        snprintf(err, errlen, "--stats: %s", lerr);
        st.l.fd = -1;
        return -1;
    }
    st.made = !adopt;
    st.bound = 1;
    return 0;
}

int gw_stats_listen(struct ev_loop *loop, const char *addr, char *err, size_t errlen)
{
    if (st.open) {
        snprintf(err, errlen, "--stats: the metrics responder is already listening");
        return -1;
    }
    if (!st.bound && gw_stats_bind(addr, err, errlen) != 0)
        return -1;
    st.loop = loop;
    st.open = 1;
    ev_io_init(&st.l.io, accept_cb, st.l.fd, EV_READ);
    ev_io_start(loop, &st.l.io);
    return 0;
}

void gw_stats_finish(double max_seconds)
{
    struct pollfd pf[STATS_MAX_CONNS];
    struct sconn *cs[STATS_MAX_CONNS];
    struct timespec now;

    if (!st.open)
        return;
    ev_io_stop(st.loop, &st.l.io);
    clock_gettime(CLOCK_MONOTONIC, &now);
    double deadline = (double)now.tv_sec + (double)now.tv_nsec / 1e9 + max_seconds;
    while (st.conns != NULL) {
        int n = 0;
        for (struct sconn *c = st.conns; c != NULL && n < STATS_MAX_CONNS; c = c->next) {
            pf[n] = (struct pollfd){.fd = c->fd, .events = c->out != NULL ? POLLOUT : POLLIN};
            cs[n++] = c;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = deadline - ((double)now.tv_sec + (double)now.tv_nsec / 1e9);
        if (left <= 0)
            break;
        int rc = poll(pf, (nfds_t)n, (int)(left * 1000) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        /* Each connection at most once a round: handling one frees no other. */
        for (int i = 0; i < n; i++) {
            if (pf[i].revents == 0)
                continue;
            if (cs[i]->out != NULL)
                flush(cs[i]);
            else
                read_cb(cs[i]);
        }
    }
}

void gw_stats_resume(void)
{
    if (st.open)
        ev_io_start(st.loop, &st.l.io);
}

const char *gw_stats_made_socket(void)
{
    return st.bound && st.made ? st.l.unix_path : NULL;
}

int gw_stats_listen_fd(void)
{
    return st.open ? st.l.fd : -1;
}

void gw_stats_close(void)
{
    if (!st.open && st.bound) { /* bound, never served */
        gw_listener_close(&st.l);
        st.l.fd = -1;
        st.bound = 0;
    }
    if (!st.open)
        return;
    ev_io_stop(st.loop, &st.l.io);
    while (st.conns != NULL)
        sconn_free(st.conns);
    gw_listener_close(&st.l);
    st.l.fd = -1;
    st.open = 0;
    st.bound = 0;
}

void gw_stats_forget_after_fork(struct ev_loop *inherited)
{
    if (!st.open)
        return;
    /* Stopping a watcher only edits the loop's (this child's) memory; the kernel side
     * is rebuilt by ev_loop_fork before the child runs that loop again. */
    if (inherited != NULL) {
        ev_io_stop(inherited, &st.l.io);
        for (struct sconn *c = st.conns; c != NULL; c = c->next) {
            ev_io_stop(inherited, &c->io);
            ev_timer_stop(inherited, &c->timer);
        }
    }
    while (st.conns != NULL) {
        struct sconn *c = st.conns;
        st.conns = c->next;
        close(c->fd);
        free(c->out);
        free(c);
    }
    st.nconns = 0;
    close(st.l.fd); /* not gw_listener_close: the socket file is the parent's */
    st.l.fd = -1;
    free(st.l.unix_path);
    st.l.unix_path = NULL;
    st.open = 0;
    st.bound = 0;
    st.loop = NULL;
}
