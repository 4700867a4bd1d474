/*
 * The nghttp2 session of an HTTP/2 connection (see h2_conn.h): its set-up with our
 * SETTINGS, the callbacks through which it reports what it decoded, and the pump
 * that moves the frames it has to send into the connection's output queue.
 *
 * Every function here runs under hc->lock: the callbacks because nghttp2 calls them
 * from nghttp2_session_mem_recv (the loop) or nghttp2_session_mem_send (whoever
 * pumps: the loop, or a worker after adding response bytes or reading body bytes).
 * A stream struct is created here (HEADERS begins) and marked closed here (the stream
 * ends); the loop alone links, unlinks and frees it (h2.c).
 *
 * Flow control is backpressure: nghttp2's automatic WINDOW_UPDATE is off, and a
 * stream's body bytes are given back to the windows (nghttp2_session_consume) only as
 * its app reads them, so what a stream buffers is bounded by its window. Bytes of a
 * stream nobody will read (refused, reset, over --max-body) are given back at once.
 *
 * The defences of h2_conn.h are counted here, as the frames arrive: the rate limits
 * in on_frame_recv, the streams held by apps in on_begin_headers, the decoded size of
 * a header block in on_header. Past one, gw_h2_end terminates the session from the
 * callback (nghttp2 then ignores the rest of the input) with ENHANCE_YOUR_CALM.
 */
#include <stdint.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/util.h"
#include "protocols/h2_conn.h"

static struct h2_stream *stream_of(struct h2_conn *hc, int32_t id)
{
    return nghttp2_session_get_stream_user_data(hc->s, id);
}

/* Gives back the window of body bytes that no app will read. */
static void consume_rest(struct h2_conn *hc, struct h2_stream *st)
{
    if (st->body_in > st->consumed) {
        nghttp2_session_consume_connection(hc->s, (size_t)(st->body_in - st->consumed));
        st->consumed = st->body_in;
    }
}

void gw_h2_end(struct h2_conn *hc, uint32_t code, const char *why)
{
    char peer[64];
    if (hc->ended || hc->failed)
        return;
    hc->ended = 1;
    gw_log(GW_LOG_INFO, "%s: %s: h2: %s; %s%s, closing the connection", hc->c->listener->spec,
           gw_conn_peer(hc->c, peer, sizeof(peer)), why, code ? "GOAWAY " : "GOAWAY sent",
           code ? nghttp2_http2_strerror(code) : "");
    if (code != NGHTTP2_NO_ERROR)
        nghttp2_session_terminate_session(hc->s, code);
    for (struct h2_stream *st = hc->streams; st != NULL; st = st->next) {
        if (!st->body_err)
            st->body_err = GW_ECLOSED;
        pthread_cond_broadcast(&st->cond);
    }
}

/* Takes a token from b: 0, or -1 when it is empty. */
static int spend(struct h2_bucket *b, double burst, double rate)
{
    uint64_t now = gw_now_ns();
    b->tokens += (double)(now - b->at_ns) / 1e9 * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at_ns = now;
    if (b->tokens < 1)
        return -1;
    b->tokens -= 1;
    return 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    struct h2_conn *hc = user;
    if (hc->ended || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    hc->opened++;
    if (f->hd.stream_id == INT32_MAX && !hc->goaway) {
        /* The last stream id a client can open: this stream is served, and GOAWAY
         * tells the client to go on on a new connection. */
        hc->goaway = 1;
        nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, INT32_MAX, NGHTTP2_NO_ERROR, NULL, 0);
    }
    if (hc->held >= GW_H2_MAX_STREAMS) {
        /* No stream struct: its header fields and DATA are ignored. */
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct h2_stream *st = gw_h2_stream_new();
    if (st == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM for this one */
    gw_h2_stream_attach(hc, st, f->hd.stream_id);
    return 0;
}

static int add(struct h2_stream *st, struct gw_buf *b, const void *p, size_t n, size_t max)
{
    int rc = gw_buf_append(b, p, n, max);
    if (rc == GW_ETOOBIG)
        st->too_big = 1;
    return rc;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    struct h2_conn *hc = user;
    const struct gw_config *cfg = hc->c->cfg;
    struct h2_stream *st = stream_of(hc, f->hd.stream_id);
    size_t max = cfg->max_head + 64;
    int rc = 0;
    (void)s;
    (void)flags;
    if (hc->ended || st == NULL)
        return 0;
    st->head_bytes += nlen + vlen + 32; /* the trailers' too: a bomb may come there */
    if (st->head_bytes / GW_H2_HEAD_ABUSE > cfg->max_head) {
        gw_h2_end(hc, NGHTTP2_ENHANCE_YOUR_CALM, "a header block far past --max-header-size");
        return 0;
    }
    if (st->headers_end || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: not for the app */
    if (st->head_bytes > cfg->max_head)
        st->too_big = 1;
    if (st->too_big)
        return 0;
    if (nlen > 0 && name[0] == ':') {
        struct gw_buf *b = NULL;
        if (nlen == 7 && memcmp(name, ":method", 7) == 0)
            b = &st->method;
        else if (nlen == 5 && memcmp(name, ":path", 5) == 0)
            b = &st->path;
        else if (nlen == 10 && memcmp(name, ":authority", 10) == 0)
            b = &st->authority;
        if (b != NULL)
            rc = add(st, b, value, vlen, max);
    } else {
        if (++st->nfields > cfg->max_headers) {
            st->too_big = 1;
            return 0;
        }
        if (nlen == 6 && memcmp(name, "cookie", 6) == 0) {
            /* RFC 9113 8.2.3: the crumbs are one Cookie field again, "; "-joined. */
            if (st->cookie.end > 0)
                rc = add(st, &st->cookie, "; ", 2, max);
            if (rc == 0)
                rc = add(st, &st->cookie, value, vlen, max);
        } else {
            st->have_host |= nlen == 4 && memcmp(name, "host", 4) == 0;
            if ((rc = add(st, &st->fields, name, nlen, max)) == 0 &&
                (rc = add(st, &st->fields, ": ", 2, max)) == 0 &&
                (rc = add(st, &st->fields, value, vlen, max)) == 0)
                rc = add(st, &st->fields, "\r\n", 2, max);
        }
    }
    return rc == GW_ENOMEM ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

struct h2_stream *gw_h2_stream_new(void)
{
    struct h2_stream *st = calloc(1, sizeof(*st));
    if (st != NULL)
        pthread_cond_init(&st->cond, NULL);
    return st;
}

void gw_h2_stream_attach(struct h2_conn *hc, struct h2_stream *st, int32_t id)
{
    st->hc = hc;
    st->id = id;
    st->prev = NULL;
    st->next = hc->streams;
    if (hc->streams != NULL)
        hc->streams->prev = st;
    hc->streams = st;
    hc->held += gw_h2_holds(st);
    hc->heads += gw_h2_heading(st);
    nghttp2_session_set_stream_user_data(hc->s, id, st);
}

void gw_h2_mark(struct h2_conn *hc, struct h2_stream *st, int *flag, int v)
{
    int held = gw_h2_holds(st), heading = gw_h2_heading(st);
    *flag = v;
    hc->held += gw_h2_holds(st) - held;
    hc->heads += gw_h2_heading(st) - heading;
    if (!st->on_dead && gw_h2_freeable(st)) {
        st->on_dead = 1;
        st->next_dead = hc->dead;
        hc->dead = st;
    }
}

void gw_h2_ready(struct h2_conn *hc, struct h2_stream *st)
{
    st->next_ready = NULL;
    gw_h2_mark(hc, st, &st->on_ready, 1);
    if (hc->ready_last != NULL)
        hc->ready_last->next_ready = st;
    else
        hc->ready = st;
    hc->ready_last = st;
}

static void body_end(struct h2_stream *st)
{
    st->body_eof = 1;
    pthread_cond_broadcast(&st->cond);
}

/* The rate limits of h2_conn.h: 0, or -1 when f ended the session. */
static int rate_limit(struct h2_conn *hc, const nghttp2_frame *f)
{
    int ctrl = 0;
    switch (f->hd.type) {
    case NGHTTP2_RST_STREAM:
        if (spend(&hc->resets, GW_H2_RESET_BURST, GW_H2_RESET_RATE) != 0) {
            gw_h2_end(hc, NGHTTP2_ENHANCE_YOUR_CALM, "streams reset too fast (Rapid Reset)");
            return -1;
        }
        return 0;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_WINDOW_UPDATE:
        ctrl = 1;
        break;
    case NGHTTP2_DATA:
        ctrl = f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM);
        break;
    default:
        break;
    }
    if (ctrl && spend(&hc->ctrl, GW_H2_CTRL_BURST, GW_H2_CTRL_RATE) != 0) {
        gw_h2_end(hc, NGHTTP2_ENHANCE_YOUR_CALM, "control frames too fast (a flood)");
        return -1;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    struct h2_conn *hc = user;
    int end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    (void)s;
    if (rate_limit(hc, f) != 0 || hc->ended)
        return 0;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    struct h2_stream *st = stream_of(hc, f->hd.stream_id);
    if (st == NULL)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
        !st->headers_end) {
        gw_h2_mark(hc, st, &st->headers_end, 1);
        if (end_stream)
            st->body_eof = 1;
        int status = st->too_big ? 431 : gw_h2_build_request(hc->c, st, end_stream);
        if (status != 0) {
            st->body_err = GW_ECLOSED; /* nobody reads it: its bytes are given back */
            consume_rest(hc, st);
            return gw_h2_submit_status(hc, st, status) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        gw_h2_ready(hc, st);
        return 0;
    }
    if (end_stream)
        body_end(st);
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    struct h2_conn *hc = user;
    struct h2_stream *st = stream_of(hc, id);
    (void)flags;
    if (st == NULL) {
        nghttp2_session_consume_connection(s, len);
        return 0;
    }
    st->body_in += len;
    if (!st->body_err && st->body_in > hc->c->cfg->max_body)
        st->body_err = GW_ETOOBIG;
    if (st->body_err || st->finished) {
        consume_rest(hc, st);
        pthread_cond_broadcast(&st->cond);
        return 0;
    }
    /* Move the unread bytes down once more was read than is left (amortized O(1) a
     * byte): the buffer stays within the window. */
    size_t pending = st->body.end - st->body.start;
    if (st->body.start > 0 && st->body.start >= pending) {
        memmove(st->body.data, st->body.data + st->body.start, pending);
        st->body.start = 0;
        st->body.end = pending;
    }
    if (gw_buf_append(&st->body, (const char *)data, len, GW_H2_BODY_CAP) != 0) {
        st->body_err = GW_ENOMEM;
        consume_rest(hc, st);
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    }
    pthread_cond_broadcast(&st->cond);
    return 0;
}

/* Each DATA frame we send gives back a control-frame token (see h2_conn.h); a
 * GOAWAY with an error is a connection error (nghttp2's own, or gw_h2_end's). */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    struct h2_conn *hc = user;
    (void)s;
    if (f->hd.type == NGHTTP2_DATA && hc->ctrl.tokens < GW_H2_CTRL_BURST)
        hc->ctrl.tokens += 1;
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR)
        hc->error_sent = 1;
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error, void *user)
{
    struct h2_conn *hc = user;
    struct h2_stream *st = stream_of(hc, id);
    (void)s;
    (void)error;
    if (st == NULL)
        return 0;
    gw_h2_mark(hc, st, &st->closed, 1);
    if (!st->body_eof && !st->body_err)
        st->body_err = GW_ECLOSED;
    consume_rest(hc, st);
    hc->out_held -= st->out.end - st->out.start;
    st->out.start = st->out.end = 0;
    pthread_cond_broadcast(&st->cond);
    return 0;
}

ssize_t gw_h2_data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *source, void *user)
{
    struct h2_stream *st = source->ptr;
    struct h2_conn *hc = user;
    size_t avail = st->out.end - st->out.start;
    (void)s;
    (void)id;
    if (avail == 0 && !st->out_eof)
        return NGHTTP2_ERR_DEFERRED; /* resumed when the worker adds bytes */
    size_t n = avail < len ? avail : len;
    memcpy(buf, st->out.data + st->out.start, n);
    st->out.start += n;
    hc->out_held -= n;
    if (st->out.start == st->out.end)
        st->out.start = st->out.end = 0;
    if (st->out.end == 0 && st->out_eof)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    pthread_cond_broadcast(&st->cond); /* room for a waiting worker */
    return (ssize_t)n;
}

/* Under lock: the session can send no more. Every waiting worker wakes and gives up
 * (its stream is gone): nothing else would wake one waiting for the peer's window. */
static void fail(struct h2_conn *hc)
{
    hc->failed = 1;
    for (struct h2_stream *st = hc->streams; st != NULL; st = st->next)
        pthread_cond_broadcast(&st->cond);
}

/* Under lock: n bytes of frames to the socket, or queued behind what it has not
 * taken. 0, or GW_E* with the session failed. */
static int put(struct h2_conn *hc, const void *p, size_t n)
{
    struct gw_chunk ch = {.kind = GW_CHUNK_COPY, .p = p, .len = (uint64_t)n, .unit_end = 1};
    int rc = gw_out_write(&hc->out, &ch, 1, NULL);
    if (rc < 0)
        fail(hc);
    return rc < 0 ? rc : 0;
}

/* Frames are gathered (copied: nghttp2 reuses its buffer on the next call) into one
 * send of up to GW_H2_BATCH bytes: a 1 MiB body's 64 DATA frames of 16 KiB leave in
 * 16 writes, a response's HEADERS and DATA (and other streams' frames) in one. */
int gw_h2_pump(struct h2_conn *hc)
{
    char batch[GW_H2_BATCH];
    size_t used = 0;
    if (hc->failed || gw_conn_broken(hc->c))
        return GW_ECLOSED;
    while (gw_out_empty(&hc->out)) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(hc->s, &data);
        if (n < 0) {
            fail(hc);
            return GW_EPROTO;
        }
        if (n == 0)
            break;
        if (used + (size_t)n > sizeof(batch)) {
            if (put(hc, batch, used) != 0)
                return GW_ECLOSED;
            used = 0;
        }
        if ((size_t)n > sizeof(batch)) {
            if (put(hc, data, (size_t)n) != 0)
                return GW_ECLOSED;
            continue;
        }
        memcpy(batch + used, data, (size_t)n);
        used += (size_t)n;
    }
    /* What is gathered goes now, behind anything the socket left queued. */
    if (used > 0 && put(hc, batch, used) != 0)
        return GW_ECLOSED;
    return gw_out_empty(&hc->out) ? 0 : 1;
}

int gw_h2_session_open(struct h2_conn *hc)
{
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    int rc = GW_ENOMEM;
    if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0)
        goto done;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    /* The window opens as the app reads (see the top of this file). */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* nghttp2's own limits, named here (their defaults): they stay behind ours. */
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    hc->resets = (struct h2_bucket){.tokens = GW_H2_RESET_BURST, .at_ns = gw_now_ns()};
    hc->ctrl = (struct h2_bucket){.tokens = GW_H2_CTRL_BURST, .at_ns = gw_now_ns()};
    if (nghttp2_session_server_new2(&hc->s, cb, hc, opt) != 0)
        goto done;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, GW_H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)hc->c->cfg->max_head},
    };
    if (nghttp2_submit_settings(hc->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(hc->s, NGHTTP2_FLAG_NONE, 0, GW_H2_CONN_WINDOW) !=
            0) {
        nghttp2_session_del(hc->s);
        hc->s = NULL;
        goto done;
    }
    rc = 0;
done:
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    return rc;
}
