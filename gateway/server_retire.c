/*
 * Retirement, on the loop thread: after --max-requests requests (counted as they come
 * back, checked in the wake-up that takes them: server.c), at --max-rss resident bytes,
 * and at SIGHUP. With a reload hook (gateway/server.h) a bridge process takes the
 * listeners over; without one (a prefork worker, whose master replaces it) retiring is
 * a plain graceful stop (server_stop.c).
 *
 * Memory: once no request has come back for a second (trim_timer), the heap's free
 * memory goes back to the system (gateway/heap.h), so a burst of large bodies does not
 * hold the process's resident size up while it idles.
 *
 * Invariants: --max-requests and --max-rss fire once (the limit is cleared first, even
 * when the reload cannot start); nothing retires a process already stopping or
 * draining (out of rotation, a new image would answer 200).
 */
#include "gateway/server.h"
#include "gateway/server_internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "gateway/heap.h"
#include "gateway/log.h"
#include "gateway/util.h"

/*
 * --max-rss: the resident size is read (gw_rss_bytes: one open and read of
 * /proc/self/statm) at most every RSS_EVERY seconds after requests come back, and by
 * rss_timer once a second while idle; over the limit, the process retires as for
 * --max-requests, once.
 */
#define RSS_EVERY 0.1

void gw_srv_rss_check(struct gw_server *s)
{
    uint64_t rss;
    ev_tstamp now = ev_now(s->loop);
    if (s->max_rss == 0 || s->stopping || now - s->rss_checked < RSS_EVERY)
        return;
    s->rss_checked = now;
    if (gw_rss_bytes(&rss) != 0 || rss <= s->max_rss)
        return;
    gw_log(GW_LOG_INFO, "resident memory %llu MiB is over --max-rss %llu MiB: retiring",
           (unsigned long long)(rss >> 20), (unsigned long long)(s->max_rss >> 20));
    s->max_rss = 0; /* once, even if the reload fails */
    s->over_rss = 1;
    ev_timer_stop(s->loop, &s->rss_timer);
    gw_srv_retire(s, "--max-rss reached");
}

void gw_srv_rss_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    gw_srv_rss_check(w->data);
}

void gw_srv_trim_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw_server *s = w->data;
    (void)revents;
    if (s->served != s->trim_seen) { /* still busy: look again next tick */
        s->trim_seen = s->served;
        return;
    }
    if (s->served != s->trimmed) {
        int gave = gw_heap_trim();
        gw_log(GW_LOG_DEBUG, "idle: heap trimmed (%s)", gave ? "memory given back" : "none free");
        s->trimmed = s->served;
    }
    ev_timer_stop(loop, w);
}

/* Retirement (--max-requests) and SIGHUP. With a reload hook, a bridge process
 * takes the listeners over and the hook stops this server once it accepts; without
 * one (a prefork worker), retirement is a plain graceful stop. */
void gw_srv_retire(struct gw_server *s, const char *why)
{
    if (s->stopping || s->draining) /* out of rotation: a new image would answer 200 */
        return;
    if (s->reload == NULL) {
        gw_server_stop(s, why);
        return;
    }
    if (s->reload(s) != 0)
        gw_log(GW_LOG_ERROR, "%s: cannot start the reload: %s; carrying on", why, strerror(errno));
}

void gw_srv_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct gw_server *s = w->data;
    (void)loop;
    (void)revents;
    if (s->reload == NULL) {
        gw_log(GW_LOG_INFO, "SIGHUP ignored: this process is reloaded by its parent");
        return;
    }
    gw_srv_retire(s, "SIGHUP");
}
