/*
 * The HTTP/2 front-end (on by default; --no-h2, --no-h2c): a multiplexed protocol
 * (gateway/protocol.h) on nghttp2, like FastCGI: the loop owns the connection and
 * keeps reading it while its streams run on workers, several at once. Each stream
 * whose header block is complete becomes one normalized request (h2_request.c),
 * dispatched to the pool; its worker reads the body and writes the response through
 * the session (h2_response.c).
 *
 * No listener speaks it from the first byte: an HTTP/1.1 connection is handed over
 * (gw_h2_take_over) before its first request when TLS negotiated h2 by ALPN, or
 * when a plain connection opens with the HTTP/2 preface (h2c with prior knowledge),
 * or with its first request by Upgrade: h2c (h2_upgrade.c); gw_h2_switch does it.
 *
 * Threads: nghttp2 sessions are not thread-safe, and both the loop (frames in) and
 * the workers (frames out, window updates as the app reads) must reach the session,
 * so every session call is made under the connection's one lock, hc->lock (see
 * h2_conn.h), as FastCGI's workers write under its wlock. Bytes the socket does not
 * take wait in the connection's output queue (no-wait mode: whoever holds the lock
 * never waits for the peer), which the loop flushes when the socket is writable.
 *
 * Ownership: a stream struct is made by the session's callbacks (on the loop) and
 * freed by the loop alone (reap), once nghttp2 has closed the stream and no worker
 * has it; conn_close frees the rest.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/stats.h"
#include "protocols/h2.h"
#include "protocols/h2_conn.h"

void gw_h2_stream_free(struct h2_stream *st)
{
    pthread_cond_destroy(&st->cond);
    free(st->method.data);
    free(st->path.data);
    free(st->authority.data);
    free(st->fields.data);
    free(st->cookie.data);
    free(st->text.data);
    free(st->hfields);
    free(st->decoded);
    free(st->body.data);
    free(st->nva);
    free(st->nv_text);
    free(st->out.data);
    free(st);
}

/* Loop, under lock: frees the streams nghttp2 has closed that no worker has (those
 * gw_h2_mark put on hc->dead). */
static void reap(struct h2_conn *hc)
{
    struct h2_stream *st;
    while ((st = hc->dead) != NULL) {
        hc->dead = st->next_dead;
        st->on_dead = 0;
        if (!gw_h2_freeable(st))
            continue; /* not after all: marked again when it is */
        if (st->prev != NULL)
            st->prev->next = st->next;
        else
            hc->streams = st->next;
        if (st->next != NULL)
            st->next->prev = st->prev;
        gw_h2_stream_free(st);
    }
}

static int h2_conn_open(struct gw_conn *c)
{
    struct h2_conn *hc = calloc(1, sizeof(*hc));
    if (hc == NULL)
        return GW_ENOMEM;
    hc->c = c;
    pthread_mutex_init(&hc->lock, NULL);
    gw_out_init(&hc->out, c);
    hc->out.no_wait = 1; /* never wait for the peer while holding the lock */
    int rc = gw_h2_session_open(hc);
    if (rc != 0) {
        pthread_mutex_destroy(&hc->lock);
        free(hc);
        return rc;
    }
    c->proto_state = hc;
    return 0;
}

/* Loop, under lock: GOAWAY once (graceful stop): the streams it names still finish. */
static void goaway(struct h2_conn *hc)
{
    if (hc->goaway || hc->failed)
        return;
    hc->goaway = 1;
    nghttp2_submit_goaway(hc->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(hc->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

static void h2_conn_close(struct gw_conn *c)
{
    struct h2_conn *hc = c->proto_state;
    if (hc == NULL)
        return;
    /* A healthy connection closed at a stop says goodbye: GOAWAY, sent as far as the
     * socket takes it now. */
    if (gw_conn_draining(c) && !gw_conn_broken(c)) {
        goaway(hc);
        gw_h2_pump(hc);
    }
    gw_out_drop(&hc->out); /* before the connection's close, see gateway/output.h */
    gw_stats_note_h2_conn_end(c->proto->name, hc->opened);
    while (hc->streams != NULL) {
        struct h2_stream *st = hc->streams;
        hc->streams = st->next;
        gw_h2_stream_free(st);
    }
    nghttp2_session_del(hc->s);
    pthread_mutex_destroy(&hc->lock);
    free(hc);
    c->proto_state = NULL;
}

/* Fails the body reads of the streams whose input is not complete (all: clean = 0),
 * and wakes every worker: one waiting for the peer's window to open gives up, as no
 * WINDOW_UPDATE can come any more (see append in h2_response.c). */
static void h2_read_end(struct gw_conn *c, int clean)
{
    struct h2_conn *hc = c->proto_state;
    pthread_mutex_lock(&hc->lock);
    hc->read_ended = 1;
    for (struct h2_stream *st = hc->streams; st != NULL; st = st->next) {
        if ((!clean || (!st->body_eof && !st->body_err)) && !st->body_err)
            st->body_err = GW_ECLOSED;
        pthread_cond_broadcast(&st->cond);
    }
    if (!clean)
        hc->failed = 1;
    pthread_mutex_unlock(&hc->lock);
}

/* Loop, under lock: the next stream ready for dispatch, skipping those the peer has
 * already reset. */
static struct h2_stream *pop_ready(struct h2_conn *hc)
{
    struct h2_stream *st;
    while ((st = hc->ready) != NULL) {
        hc->ready = st->next_ready;
        gw_h2_mark(hc, st, &st->on_ready, 0);
        if (hc->ready == NULL)
            hc->ready_last = NULL;
        if (!st->closed)
            return st;
    }
    return NULL;
}

static enum gw_parse_result h2_parse(struct gw_conn *c, struct gw_request **out)
{
    struct h2_conn *hc = c->proto_state;
    enum gw_parse_result res = GW_PARSE_MORE;
    pthread_mutex_lock(&hc->lock);
    c->parse_again = 0;
    if (hc->ready == NULL && c->in.end > c->in.start && !hc->failed) {
        ssize_t n = nghttp2_session_mem_recv(hc->s, (const uint8_t *)c->in.data + c->in.start,
                                             c->in.end - c->in.start);
        if (n < 0) {
            /* nghttp2's own flood limits (SETTINGS and PING acks the peer does not
             * read, CONTINUATION frames) are calm-downs too */
            int flood = n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
            gw_h2_end(hc, flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR,
                      nghttp2_strerror((int)n));
            res = GW_PARSE_CLOSE;
            goto done;
        }
        c->in.start = c->in.end = 0; /* nghttp2 takes every byte it is given */
        /* A connection error nghttp2 answered itself (a 101st open stream, too many
         * settings...) ends the session once its GOAWAY is out: then the connection
         * closes, and the streams read before the error are not dispatched. */
        if (!hc->ended && gw_h2_pump(hc) >= 0 && hc->error_sent)
            gw_h2_end(hc, NGHTTP2_NO_ERROR, "nghttp2 ended the session (a connection error)");
        if (hc->ended) { /* a defence ended it (h2_session.c) */
            res = GW_PARSE_CLOSE;
            goto done;
        }
    }
    if (gw_conn_draining(c))
        goaway(hc);
    struct h2_stream *st = pop_ready(hc);
    if (st != NULL) {
        gw_h2_mark(hc, st, &st->dispatched, 1);
        *out = &st->req;
        c->parse_again = hc->ready != NULL;
        res = GW_PARSE_READY;
    } else if (!nghttp2_session_want_read(hc->s) && !nghttp2_session_want_write(hc->s) &&
               c->inflight == 0) {
        res = GW_PARSE_CLOSE; /* GOAWAY both ways, nothing left to do */
    }
    reap(hc);
    c->at_rest = hc->heads == 0; /* else the head's --read-timeout applies */
done:;
    int rc = gw_h2_pump(hc); /* a GOAWAY of nghttp2's goes out before a close too */
    pthread_mutex_unlock(&hc->lock);
    if (rc == 1)
        gw_conn_want_write(c);
    return res;
}

/* 503: the pool is full (the stream is refused, the connection carries on); 408: the
 * connection stalled mid-frame (GOAWAY, then it is closed). */
static int h2_reject(struct gw_conn *c, struct gw_request *r, int status)
{
    struct h2_conn *hc = c->proto_state;
    pthread_mutex_lock(&hc->lock);
    if (r != NULL) {
        struct h2_stream *st = r->proto_data;
        gw_h2_mark(hc, st, &st->dispatched, 0);
        st->finished = 1;
        gw_h2_submit_status(hc, st, status);
    } else {
        goaway(hc);
    }
    int rc = gw_h2_pump(hc);
    pthread_mutex_unlock(&hc->lock);
    if (rc == 1)
        gw_conn_want_write(c);
    return r == NULL;
}

static int h2_done(struct gw_conn *c, struct gw_request *r)
{
    struct h2_conn *hc = c->proto_state;
    struct h2_stream *st = r->proto_data;
    pthread_mutex_lock(&hc->lock);
    gw_h2_mark(hc, st, &st->handed_back, 1);
    if (gw_conn_draining(c))
        goaway(hc);
    reap(hc);
    int rc = gw_h2_pump(hc);
    int over =
        hc->failed || (!nghttp2_session_want_read(hc->s) && !nghttp2_session_want_write(hc->s));
    pthread_mutex_unlock(&hc->lock);
    if (rc == 1)
        gw_conn_want_write(c);
    return over || rc < 0;
}

/* A graceful stop: GOAWAY now, naming the last stream taken; those finish. */
static void h2_drain(struct gw_conn *c)
{
    struct h2_conn *hc = c->proto_state;
    pthread_mutex_lock(&hc->lock);
    goaway(hc);
    int rc = gw_h2_pump(hc);
    pthread_mutex_unlock(&hc->lock);
    if (rc == 1)
        gw_conn_want_write(c);
}

static int h2_flush(struct gw_conn *c)
{
    struct h2_conn *hc = c->proto_state;
    int rc;
    pthread_mutex_lock(&hc->lock);
    if (hc->failed || gw_conn_broken(c)) {
        rc = GW_ECLOSED;
    } else {
        rc = gw_out_flush(&hc->out, 0);
        if (rc == GW_OUT_EMPTY)
            rc = gw_h2_pump(hc);
        else if (rc > 0)
            rc = 1;
    }
    reap(hc);
    pthread_mutex_unlock(&hc->lock);
    if (rc < 0)
        gw_conn_set_broken(c);
    return rc;
}

/* The two tables differ only by name: the access log's protocol and the metrics'
 * frontend say h2 (over TLS, by ALPN) or h2c (cleartext, prior knowledge). Their
 * slots, one per line (clang-format off): */
// clang-format off
#define H2_SLOTS                                                                                   \
    .multiplexed = 1,             /* streams run on workers at once */                             \
    .conn_open = h2_conn_open,    /* session and our SETTINGS */                                   \
    .conn_close = h2_conn_close,  /* GOAWAY at a stop; frees the streams */                        \
    .parse = h2_parse,            /* loop: frames in, one ready stream at a time */                \
    .read_end = h2_read_end,      /* loop: EOF fails the reads of open streams */                  \
    .reject = h2_reject,          /* loop: 503 on the stream; 408 GOAWAY */                        \
    .done = h2_done,              /* loop: a stream's worker is done */                            \
    .flush = h2_flush,            /* loop: queued frames, then what the session has */             \
    .drain = h2_drain,            /* loop: GOAWAY at a graceful stop */                            \
    .read_body = gw_h2_read_body, /* worker: the stream's DATA, opening its window */              \
    .send_head = gw_h2_send_head, /* worker: HEADERS (kept until the first DATA) */                \
    .send_body = gw_h2_send_body, /* worker: DATA as the windows allow */                          \
    .finish = gw_h2_finish,       /* worker: END_STREAM, or RST_STREAM when cut */                 \
    .timeout = gw_h2_timeout,     /* watchdog: 504 on the stream */                                \
    .abandoned = gw_h2_abandoned, /* worker: a stream reset while queued skips the app */
// clang-format on

const struct gw_protocol gw_h2_protocol = {.name = "h2", H2_SLOTS};
const struct gw_protocol gw_h2c_protocol = {.name = "h2c", H2_SLOTS};

/* The 24 bytes every HTTP/2 connection opens with (RFC 9113 3.4). */
static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int gw_h2_detect(struct gw_conn *c)
{
    size_t have = c->in.end - c->in.start;
    size_t n = have < sizeof(preface) - 1 ? have : sizeof(preface) - 1;
    if (c->tr->secure)
        return c->cfg->h2 && gw_tls_alpn_h2(c);
    if (!c->cfg->h2c || memcmp(c->in.data + c->in.start, preface, n) != 0)
        return 0;
    return n == sizeof(preface) - 1 ? 1 : -1;
}

int gw_h2_switch(struct gw_conn *c, const char *first, size_t n)
{
    if (c->proto->conn_close)
        c->proto->conn_close(c);
    c->proto = c->tr->secure ? &gw_h2_protocol : &gw_h2c_protocol;
    int rc = h2_conn_open(c);
    if (rc != 0 || n == 0)
        return rc;
    /* Into the output queue before the session's first frame: the pump adds frames
     * only to an empty queue. */
    struct h2_conn *hc = c->proto_state;
    struct gw_chunk ch = {.kind = GW_CHUNK_COPY, .p = first, .len = n, .unit_end = 1};
    pthread_mutex_lock(&hc->lock);
    rc = gw_out_write(&hc->out, &ch, 1, NULL);
    pthread_mutex_unlock(&hc->lock);
    return rc < 0 ? rc : 0;
}

enum gw_parse_result gw_h2_take_over(struct gw_conn *c, struct gw_request **req)
{
    if (gw_h2_switch(c, NULL, 0) != 0)
        return GW_PARSE_CLOSE;
    gw_stats_note_h2_conn();
    return h2_parse(c, req);
}

const char *gw_h2_library_version(void)
{
    return nghttp2_version(0)->version_str;
}
