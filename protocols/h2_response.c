/*
 * The worker's side of an HTTP/2 stream (see h2_conn.h): wsgi.input from the
 * stream's body buffer, the response head as HEADERS, the body as DATA, the end of
 * the stream; and the watchdog's 504.
 *
 * Every call into the session is made under hc->lock (nghttp2 is not thread-safe).
 * The response bytes are copied into the stream's out buffer, which the session
 * reads (gw_h2_data_read) as the peer's windows allow. While a body is partial the
 * worker pumps the frames to the socket without waiting (the output queue's no-wait
 * mode, as FastCGI's), and the loop writes what the socket did not take; once a
 * response is complete the worker leaves the write to the loop (gw_conn_want_write),
 * which sends the responses completed meanwhile together: on one busy connection,
 * one write for dozens of streams instead of one each. A worker waits only
 * when its stream already holds GW_H2_STREAM_OUT bytes (or the connection's streams
 * GW_H2_CONN_OUT) that the peer's window does not let out: up to --send-timeout
 * without progress, then the stream is reset (a reader that never opens its window is
 * a slow reader). Lock order: hc->lock, then the server's hand-back lock (taken by
 * gw_conn_want_write), never the reverse.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/status.h"
#include "gateway/util.h"
#include "protocols/h2_conn.h"

static void deadline(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)seconds;
    ts->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Sends what the session has, then unlocks; the loop finishes what the socket left. */
static void pump_unlock(struct h2_conn *hc)
{
    int rc = gw_h2_pump(hc);
    pthread_mutex_unlock(&hc->lock);
    if (rc < 0)
        gw_conn_set_broken(hc->c);
    if (rc != 0)
        gw_conn_want_write(hc->c); /* the loop writes the rest, or sees the failure */
}

static int gone(const struct h2_stream *st)
{
    return st->closed || st->hc->failed || st->hc->ended || gw_conn_broken(st->hc->c);
}

ssize_t gw_h2_read_body(struct gw_request *r, char *buf, size_t len)
{
    struct h2_stream *st = r->proto_data;
    struct h2_conn *hc = st->hc;
    ssize_t n = 0;
    if (st->expect_continue && !st->continue_sent) {
        if (gw_request_interim_begin(r) != 0)
            return GW_ETIMEDOUT;
        static const nghttp2_nv cont = {(uint8_t *)":status", (uint8_t *)"100", 7, 3,
                                        NGHTTP2_NV_FLAG_NONE};
        pthread_mutex_lock(&hc->lock);
        if (!gone(st))
            nghttp2_submit_headers(hc->s, NGHTTP2_FLAG_NONE, st->id, NULL, &cont, 1, NULL);
        st->continue_sent = 1;
        pump_unlock(hc);
        gw_request_interim_end(r);
    }
    pthread_mutex_lock(&hc->lock);
    for (;;) {
        size_t avail = st->body.end - st->body.start;
        if (st->finished) { /* the watchdog answered 504 */
            n = GW_ETIMEDOUT;
            break;
        }
        if (avail > 0) {
            n = (ssize_t)(avail < len ? avail : len);
            memcpy(buf, st->body.data + st->body.start, (size_t)n);
            st->body.start += (size_t)n;
            st->body_out += (uint64_t)n;
            if (!st->closed && !hc->failed) { /* the window opens as the app reads */
                nghttp2_session_consume(hc->s, st->id, (size_t)n);
                st->consumed += (uint64_t)n;
            }
            break;
        }
        if (st->body_err) {
            n = st->body_err;
            break;
        }
        if (st->body_eof) {
            if (r->body_length >= 0 && st->body_out < (uint64_t)r->body_length)
                n = GW_ECLOSED; /* shorter than its Content-Length */
            break;
        }
        struct timespec ts;
        deadline(&ts, r->conn->cfg->read_timeout);
        if (pthread_cond_timedwait(&st->cond, &hc->lock, &ts) == ETIMEDOUT &&
            st->body.end == st->body.start && !st->body_eof && !st->body_err) {
            n = GW_ETIMEDOUT;
            break;
        }
    }
    pump_unlock(hc);
    return n;
}

int gw_h2_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                    size_t n)
{
    struct h2_stream *st = r->proto_data;
    const char *date = gw_http_date();
    size_t nkept = 0, bytes = 3 + sizeof(GW_SERVER_TOKEN) + strlen(date);
    if (st->nva != NULL || status.len < 3)
        return GW_ESTATE;
    for (size_t i = 0; i < n; i++) {
        if (gw_response_keeps(r, f, i)) {
            nkept++;
            bytes += f[i].name.len + f[i].value.len;
        }
    }
    st->nva = calloc(nkept + 3, sizeof(*st->nva));
    st->nv_text = malloc(bytes);
    if (st->nva == NULL || st->nv_text == NULL)
        return GW_ENOMEM;
    char *p = st->nv_text;
    size_t k = 0;
#define NV(nm, nl, vp, vl)                                                                         \
    st->nva[k++] = (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(vp), (nl), (vl), NGHTTP2_NV_FLAG_NONE}
    memcpy(p, status.ptr, 3);
    NV(":status", 7, p, 3);
    p += 3;
    for (size_t i = 0; i < n; i++) {
        if (!gw_response_keeps(r, f, i))
            continue;
        char *name = p;
        for (size_t j = 0; j < f[i].name.len; j++) /* HTTP/2 field names are lower-case */
            *p++ = (char)((f[i].name.ptr[j] >= 'A' && f[i].name.ptr[j] <= 'Z')
                              ? f[i].name.ptr[j] + ('a' - 'A')
                              : f[i].name.ptr[j]);
        memcpy(p, f[i].value.ptr, f[i].value.len);
        NV(name, f[i].name.len, p, f[i].value.len);
        p += f[i].value.len;
    }
    if (!r->resp.have_server) {
        memcpy(p, GW_SERVER_TOKEN, sizeof(GW_SERVER_TOKEN) - 1);
        NV("server", 6, p, sizeof(GW_SERVER_TOKEN) - 1);
        p += sizeof(GW_SERVER_TOKEN) - 1;
    }
    if (!r->resp.have_date) {
        memcpy(p, date, strlen(date));
        NV("date", 4, p, strlen(date));
    }
#undef NV
    st->nnv = k;
    return 0;
}

/* Under lock: the response HEADERS (with a DATA source unless the body is empty). */
static int submit(struct h2_conn *hc, struct h2_stream *st, int with_data)
{
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = gw_h2_data_read};
    st->submitted = 1;
    if (nghttp2_submit_response(hc->s, st->id, st->nva, st->nnv, with_data ? &prd : NULL) != 0)
        return GW_EPROTO;
    return 0;
}

static void reset(struct h2_conn *hc, struct h2_stream *st, uint32_t code)
{
    if (!gone(st))
        nghttp2_submit_rst_stream(hc->s, NGHTTP2_FLAG_NONE, st->id, code);
}

/* Under lock: appends p[0..n) to the stream's out buffer, waiting for room. */
static int append(struct h2_conn *hc, struct h2_stream *st, const char *p, size_t n)
{
    double limit = hc->c->cfg->send_timeout;
    while (n > 0) {
        if (gone(st) || st->finished)
            return GW_ECLOSED;
        if (!st->submitted && submit(hc, st, 1) != 0)
            return GW_EPROTO;
        size_t held = st->out.end - st->out.start;
        size_t room = held < GW_H2_STREAM_OUT ? GW_H2_STREAM_OUT - held : 0;
        size_t croom = hc->out_held < GW_H2_CONN_OUT ? GW_H2_CONN_OUT - hc->out_held : 0;
        room = room < croom ? room : croom;
        if (room == 0) {
            /* The peer's window is closed: let out what it allows, then wait for it to
             * take more (gw_h2_data_read signals), at most limit without progress. */
            nghttp2_session_resume_data(hc->s, st->id);
            int rc = gw_h2_pump(hc);
            if (rc < 0)
                return rc;
            if (rc == 1)
                gw_conn_want_write(hc->c);
            if (st->out.end - st->out.start < GW_H2_STREAM_OUT && hc->out_held < GW_H2_CONN_OUT)
                continue; /* the pump made room */
            /* The peer has closed its side: it can open no window any more. */
            if (hc->read_ended) {
                reset(hc, st, NGHTTP2_CANCEL);
                return GW_ECLOSED;
            }
            struct timespec ts;
            deadline(&ts, limit);
            size_t before = st->out.end - st->out.start, cheld = hc->out_held;
            if (pthread_cond_timedwait(&st->cond, &hc->lock, &ts) == ETIMEDOUT &&
                st->out.end - st->out.start == before && hc->out_held == cheld) {
                reset(hc, st, NGHTTP2_CANCEL); /* a reader that never opens its window */
                return GW_ETIMEDOUT;
            }
            continue;
        }
        if (st->out.start > 0) { /* keep the unsent bytes at the front */
            memmove(st->out.data, st->out.data + st->out.start, held);
            st->out.start = 0;
            st->out.end = held;
        }
        size_t k = n < room ? n : room;
        if (gw_buf_append(&st->out, p, k, GW_H2_STREAM_OUT) != 0)
            return GW_ENOMEM;
        hc->out_held += k;
        p += k;
        n -= k;
        nghttp2_session_resume_data(hc->s, st->id);
    }
    return 0;
}

/* Under lock: after the last of the bytes its Content-Length promised, the stream's
 * END_STREAM goes with them (one send for a whole response, not a second one from
 * finish with an empty DATA frame). 1 when it did. */
static int end_if_complete(struct h2_stream *st, const struct gw_request *r)
{
    if (r->resp.limit < 0 || r->resp.sent < (uint64_t)r->resp.limit || !st->submitted)
        return 0;
    st->out_eof = 1;
    gw_h2_mark(st->hc, st, &st->app_done, 1); /* the client sees the stream end */
    nghttp2_session_resume_data(st->hc->s, st->id);
    return 1;
}

/* Unlocks after a stream's response is complete in the session. While other streams
 * of the connection are open or running, the loop sends it, together with whatever
 * other streams complete meanwhile (one write for many responses, where each
 * worker's own pump made one each); a lone stream's worker sends it at once (the
 * loop's turn would only delay it: 9,200 against 12,000 req/s on one stream at a
 * time). */
static void complete_unlock(struct h2_conn *hc)
{
    if (hc->held <= 1) {
        pump_unlock(hc);
        return;
    }
    pthread_mutex_unlock(&hc->lock);
    gw_conn_want_write(hc->c);
}

/* Appends p[0..n) to r's stream and sends what may go; last: these are the response's
 * last bytes here (its END_STREAM may go with them). 0 or GW_E*. */
static int add_bytes(struct gw_request *r, const char *p, size_t n, int last)
{
    struct h2_stream *st = r->proto_data;
    struct h2_conn *hc = st->hc;
    pthread_mutex_lock(&hc->lock);
    int rc = append(hc, st, p, n);
    if (rc == 0 && last && end_if_complete(st, r))
        complete_unlock(hc);
    else
        pump_unlock(hc);
    return rc;
}

int gw_h2_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept)
{
    int rc = 0;
    if (kept != NULL)
        *kept = 0; /* the bytes are copied: DATA leaves as the peer's window allows */
    for (int i = 0; i < n && rc == 0; i++) {
        if (c[i].kind != GW_CHUNK_FILE) {
            rc = add_bytes(r, c[i].p, (size_t)c[i].len, i == n - 1);
            continue;
        }
        char buf[16384];
        off_t off = c[i].off;
        uint64_t left = c[i].len;
        while (left > 0 && rc == 0) { /* read outside the lock, a piece at a time */
            ssize_t k = pread(c[i].fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf), off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                rc = GW_EIO; /* shorter than promised */
                break;
            }
            off += k;
            left -= (uint64_t)k;
            rc = add_bytes(r, buf, (size_t)k, left == 0 && i == n - 1);
        }
    }
    return rc;
}

int gw_h2_submit_status(struct h2_conn *hc, struct h2_stream *st, int status)
{
    char code[4], len[24], body[96];
    const char *date = gw_http_date();
    if (st->submitted) {
        reset(hc, st, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    int bl = snprintf(body, sizeof(body), "%d %s\n", status, gw_status_reason(status));
    snprintf(code, sizeof(code), "%03d", status);
    int ll = snprintf(len, sizeof(len), "%d", bl);
#define NV(nm, v, vl) {(uint8_t *)(nm), (uint8_t *)(v), sizeof(nm) - 1, (vl), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[] = {
        NV(":status", code, 3),
        NV("content-type", "text/plain; charset=utf-8", 25),
        NV("content-length", len, (size_t)ll),
        NV("server", GW_SERVER_TOKEN, sizeof(GW_SERVER_TOKEN) - 1),
        NV("date", date, strlen(date)),
        NV("retry-after", "1", 1),
    };
#undef NV
    size_t nnv = sizeof(nva) / sizeof(nva[0]) - (status == 503 ? 0 : 1);
    st->out.start = st->out.end = 0;
    if (gw_buf_append(&st->out, body, (size_t)bl, GW_H2_STREAM_OUT) != 0)
        return GW_ENOMEM;
    hc->out_held += (size_t)bl;
    st->out_eof = 1;
    st->submitted = 1;
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = gw_h2_data_read};
    return nghttp2_submit_response(hc->s, st->id, nva, nnv, &prd) == 0 ? 0 : GW_EPROTO;
}

/* Under lock: the app is done with the body: its unread bytes are given back. */
static void give_back(struct h2_conn *hc, struct h2_stream *st)
{
    if (!st->closed && !hc->failed && st->body_in > st->consumed) {
        nghttp2_session_consume(hc->s, st->id, (size_t)(st->body_in - st->consumed));
        st->consumed = st->body_in;
    }
}

int gw_h2_finish(struct gw_request *r, int ok)
{
    struct h2_stream *st = r->proto_data;
    struct h2_conn *hc = st->hc;
    pthread_mutex_lock(&hc->lock);
    st->finished = 1;
    gw_h2_mark(hc, st, &st->app_done, 1);
    give_back(hc, st);
    if (gone(st) || st->out_eof) {
        /* nothing more can go out for it, or its last DATA has (end_if_complete) */
    } else if (!r->resp.started || (!ok && !st->submitted)) {
        int status = st->body_err == GW_ETOOBIG ? 413 : 500;
        r->status = status;
        gw_h2_submit_status(hc, st, status);
    } else if (!ok || (r->resp.limit >= 0 && r->resp.sent < (uint64_t)r->resp.limit)) {
        if (!st->submitted)
            submit(hc, st, 1);
        reset(hc, st, NGHTTP2_INTERNAL_ERROR); /* the body is cut short */
    } else if (!st->submitted) {
        st->out_eof = 1;
        submit(hc, st, st->out.end > st->out.start);
    } else {
        st->out_eof = 1;
        nghttp2_session_resume_data(hc->s, st->id);
    }
    complete_unlock(hc);
    return 1;
}

int gw_h2_timeout(struct gw_request *r)
{
    struct h2_stream *st = r->proto_data;
    struct h2_conn *hc = st->hc;
    int rc = 0;
    pthread_mutex_lock(&hc->lock);
    st->finished = 1;
    give_back(hc, st);
    if (!gone(st))
        rc = gw_h2_submit_status(hc, st, 504);
    pthread_cond_broadcast(&st->cond); /* a body read in progress fails */
    pump_unlock(hc);
    r->status = 504;
    return rc;
}

int gw_h2_abandoned(struct gw_request *r)
{
    struct h2_stream *st = r->proto_data;
    struct h2_conn *hc = st->hc;
    pthread_mutex_lock(&hc->lock);
    int gone_now = gone(st);
    pthread_mutex_unlock(&hc->lock);
    return gone_now;
}
