/*
 * Accepting, on the loop thread: the listeners' watchers (accept4 up to 64 a wake-up,
 * one in a prefork worker so that the kernel spreads a burst over the processes), a
 * new connection's set-up (peer address, TLS session, the front-end's conn_open, its
 * watchers, then the preface, the handshake or its first request), the 0.5 s pause
 * after EMFILE and its kin, and a prefork worker's balance: it stops accepting while
 * every thread is busy or reserved by a fresh connection, and starts again once one
 * is free or after GW_SRV_HOLD_SECONDS at most.
 *
 * Invariants: a listener is watched only while the server is not stopping, not in an
 * accept pause and (prefork) not held by the balance; a connection is on s->all and
 * counted in s->nconns from its accept until gw_srv_conn_free.
 */
#include "gateway/server.h"
#include "gateway/server_internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/output.h"
#include "gateway/pool.h"
#include "gateway/protocol.h"
#include "gateway/spool.h"
#include "gateway/tls.h"

#define ACCEPT_BATCH 64
#define FORCED_BATCH 8 /* prefork, a hold that ran out: accepts per wake-up */

static void fill_peer(struct gw_conn *c, const struct sockaddr_storage *ss, socklen_t sl)
{
    c->remote_addr[0] = '\0';
    c->remote_port[0] = '\0';
    if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
        return;
    if (getnameinfo((const struct sockaddr *)ss, sl, c->remote_addr, sizeof(c->remote_addr),
                    c->remote_port, sizeof(c->remote_port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        c->remote_addr[0] = '\0';
        c->remote_port[0] = '\0';
    }
    /* An IPv4 peer on a dual-stack socket: show 1.2.3.4, not ::ffff:1.2.3.4. */
    if (strncmp(c->remote_addr, "::ffff:", 7) == 0 && strchr(c->remote_addr + 7, ':') == NULL)
        memmove(c->remote_addr, c->remote_addr + 7, strlen(c->remote_addr + 7) + 1);
}

static void accept_one(struct gw_server *s, struct gw_listener *l, int fd,
                       const struct sockaddr_storage *ss, socklen_t sl)
{
    struct gw_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->srv = s;
    c->cfg = s->cfg;
    c->host = &s->host;
    c->tr = &gw_plain_transport;
    gw_out_init(&c->send, c);
    gw_spool_init(&c->spool);
    c->listener = l;
    c->proto = l->proto;
    fill_peer(c, ss, sl); /* TCP_NODELAY comes from the listener (gateway/listener.c) */
    if (l->tls != NULL && gw_tls_conn_open(c, l->tls) != 0) {
        close(fd);
        free(c);
        return;
    }
    if (c->proto->conn_open && c->proto->conn_open(c) != 0) {
        if (c->tr->close)
            c->tr->close(c);
        close(fd);
        free(c);
        return;
    }
    ev_io_init(&c->io, gw_srv_conn_io_cb, fd, EV_READ);
    c->io.data = c;
    ev_io_init(&c->wio, gw_srv_wio_cb, fd, EV_WRITE);
    c->wio.data = c;
    ev_timer_init(&c->timer, gw_srv_conn_timer_cb, 0., 0.);
    c->timer.data = c;
    c->next_all = s->all;
    if (s->all)
        s->all->prev_all = c;
    s->all = c;
    s->nconns++;
    __atomic_store_n(&s->open_conns, s->nconns, __ATOMIC_RELAXED);
    if (s->cfg->processes > 1) {
        c->fresh = 1;
        c->accepted_at = ev_now(s->loop);
        s->nfresh++;
        if (!ev_is_active(&s->fresh_timer))
            ev_timer_again(s->loop, &s->fresh_timer);
    }
    if (l->preface != NULL || c->tr->handshake != NULL) {
        /* The handshake has the head's deadline, from the accept: a client that
         * stalls it costs a session's few KiB and no thread, until then. So has the
         * preface before it. */
        c->state = l->preface != NULL ? GW_CONN_PREFACE : GW_CONN_HANDSHAKE;
        gw_srv_set_io(s, c, EV_READ);
        gw_srv_set_timer(s, c, s->cfg->read_timeout);
        return;
    }
    gw_srv_start_idle(s, c, s->cfg->read_timeout);
}

/* A fresh connection holds a thread's place only briefly: one that sends nothing
 * (a browser's preconnect) must not keep this process from accepting. */
void gw_srv_fresh_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw_server *s = w->data;
    double old = ev_now(loop) - GW_SRV_FRESH_SECONDS;
    (void)revents;
    for (struct gw_conn *c = s->all; c != NULL && s->nfresh > 0; c = c->next_all)
        if (c->fresh && c->accepted_at <= old)
            gw_srv_unfresh(s, c);
    if (s->nfresh == 0)
        ev_timer_stop(loop, w);
    gw_srv_balance(s);
}

void gw_srv_listeners_watch(struct gw_server *s, int on)
{
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i].fd < 0)
            continue;
        if (on)
            ev_io_start(s->loop, &s->listeners[i].io);
        else
            ev_io_stop(s->loop, &s->listeners[i].io);
    }
}

void gw_srv_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct gw_listener *l = w->data;
    struct gw_server *s = l->srv;
    (void)loop;
    (void)revents;
    /* Worker processes of a master accept one connection per wake-up: the kernel
     * then spreads a burst over the processes instead of one taking it all. One whose
     * hold ran out (all of them busy) takes a few, so that a backlog that built up
     * meanwhile is in within a few turns, and sees it empty (EAGAIN) to hold again. */
    int batch = s->cfg->processes <= 1 ? ACCEPT_BATCH : s->accept_forced ? FORCED_BATCH : 1;
    for (int i = 0; i < batch; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (!s->accept_forced)
                ev_timer_stop(s->loop, &s->hold_timer); /* the backlog is being served */
            accept_one(s, l, fd, &ss, sl);
            gw_srv_balance(s);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN && s->accept_forced) {
            s->accept_forced = 0;
            gw_srv_balance(s);
            return;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            gw_log(GW_LOG_ERROR, "%s: accept: %s; pausing accepts for 0.5s", l->spec,
                   strerror(errno));
            gw_srv_listeners_watch(s, 0);
            ev_timer_set(&s->accept_pause, 0.5, 0.);
            ev_timer_start(s->loop, &s->accept_pause);
        }
        return;
    }
}

void gw_srv_accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    if (!s->stopping && !s->accept_held)
        gw_srv_listeners_watch(s, 1);
}

/* A worker process of a master stops accepting while all its threads are busy, so
 * new connections go to a process that can run them, and accepts again once a thread
 * is free. The hold is bounded (GW_SRV_HOLD_SECONDS, gw_srv_hold_cb): when every
 * process stays busy, as under a steady load of keep-alive clients, a thread is free
 * only for moments (the hold ends and begins again within one turn of the loop,
 * which never waits on the listener in between), and a new client would wait in the
 * kernel's backlog for seconds while the connections already accepted were served.
 * So the timer runs from the first hold after an accept, through such moments, until
 * the next accept. */
void gw_srv_balance(struct gw_server *s)
{
    if (s->cfg->processes <= 1 || s->stopping)
        return;
    int idle = gw_pool_idle(s->pool) - (int)s->nfresh > 0;
    if (!idle && !s->accept_held && !s->accept_forced) {
        /* Held, the loop must hear of every thread that comes free: no quiet
         * hand-backs (server.c). A worker that left one before this saw quiet_ok
         * off had come free before this second look, which then sees it. */
        gw_srv_set_quiet(s, 0);
        if (gw_pool_idle(s->pool) - (int)s->nfresh > 0) {
            gw_srv_set_quiet(s, 1);
            return;
        }
        gw_srv_listeners_watch(s, 0);
        s->accept_held = 1;
        if (!ev_is_active(&s->hold_timer)) {
            ev_timer_set(&s->hold_timer, GW_SRV_HOLD_SECONDS, 0.);
            ev_timer_start(s->loop, &s->hold_timer);
        }
    } else if (idle && s->accept_held) {
        s->accept_held = 0;
        gw_srv_set_quiet(s, 1);
        if (!ev_is_active(&s->accept_pause))
            gw_srv_listeners_watch(s, 1);
    }
}

/* The hold ran out with every thread still busy: a connection that waited that long
 * in the backlog found no idle process, so this one takes what waits, FORCED_BATCH a
 * wake-up (the others whose holds ran out take their share), until accept finds the
 * backlog empty; gw_srv_balance may hold again then. */
void gw_srv_hold_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    if (s->stopping)
        return;
    s->accept_forced = 1;
    if (s->accept_held) {
        s->accept_held = 0;
        gw_srv_set_quiet(s, 1);
        if (!ev_is_active(&s->accept_pause))
            gw_srv_listeners_watch(s, 1);
    }
}
