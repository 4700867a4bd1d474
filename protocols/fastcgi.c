/*
 * The FastCGI front-end (a multiplexed protocol, gateway/protocol.h): the loop reads
 * records with the pure parser of fastcgi_parse.c for as long as the connection
 * lives, while the requests it carries run on workers, several at once (HAProxy's
 * mpxs-conns). The loop decodes PARAMS into a per-request arena, normalizes them with
 * protocols/cgi.c, dispatches, and feeds each request's STDIN into a body pipe that
 * its worker reads as wsgi.input. Workers answer with STDOUT records.
 *
 * Locks: fc->lock guards every request's body pipe (and the abort flag); fc->wlock
 * serializes writes to the socket, so records of different requests (and a request's
 * STDERR records, which any of the app's threads may send) interleave whole and never
 * byte by byte. The loop writes its own small records (END_REQUEST of a
 * refused request, GET_VALUES_RESULT, UNKNOWN_TYPE) under wlock too. Both are
 * leaves: neither is held while taking the other, the GIL or a server lock.
 *
 * Ownership: the loop allocates a request at BEGIN_REQUEST and frees it in done(),
 * after its worker handed it back; requests never dispatched are freed by the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/status.h"
#include "gateway/util.h"
#include "protocols/cgi.h"
#include "protocols/cgi_response.h"
#include "protocols/fastcgi.h"
#include "protocols/fastcgi_conn.h"
#include "protocols/fastcgi_parse.h"

/* The live request with this id. A request whose worker has written (or is about
 * to write) its END_REQUEST no longer counts: the peer may reuse its id at once. */
static struct fcgi_req *find_req(struct fcgi_conn *fc, uint16_t id)
{
    struct fcgi_req *found = NULL;
    pthread_mutex_lock(&fc->lock);
    for (struct fcgi_req *q = fc->reqs; q != NULL && found == NULL; q = q->next)
        if (q->id == id && !__atomic_load_n(&q->finished, __ATOMIC_ACQUIRE))
            found = q;
    pthread_mutex_unlock(&fc->lock);
    return found;
}

/* The smallest PARAMS storage a request takes: a front server's pairs are some
 * 500-1,500 bytes, 20-40 of them. */
#define PARAMS_ARENA_MIN  1024
#define PARAMS_FIELDS_MIN 32

/* The PARAMS decoder's grow hook (protocols/fastcgi_parse.h): the request's storage
 * doubles as its pairs need, from the sizes above up to the budget and the pair
 * limit, so a queued request holds what its pairs take. 0 or GW_ENOMEM. */
static int params_grow(struct gw_fcgi_params *d, size_t bytes, size_t nfields)
{
    if (d->arena == NULL || bytes > d->alloc) {
        size_t n = d->alloc ? d->alloc : PARAMS_ARENA_MIN;
        while (n < bytes)
            n = n > d->cap / 2 ? d->cap : n * 2;
        char *a = realloc(d->arena, n);
        if (a == NULL)
            return GW_ENOMEM;
        d->arena = a;
        d->alloc = n;
    }
    if (nfields > d->fields_cap) {
        size_t n = d->fields_cap ? d->fields_cap * 2 : PARAMS_FIELDS_MIN;
        if (n > d->max_fields)
            n = d->max_fields;
        struct gw_field *f = realloc(d->fields, n * sizeof(*f));
        if (f == NULL)
            return GW_ENOMEM;
        d->fields = f;
        d->fields_cap = n;
    }
    return 0;
}

static void req_free(struct fcgi_req *q)
{
    gw_out_drop(&q->turn.out); /* before the connection's close, see gateway/output.h */
    pthread_cond_destroy(&q->body_cond);
    free(q->params.arena);
    free(q->params.fields);
    free(q->scratch);
    free(q->body.data);
    free(q->head.data);
    free(q);
}

/* Loop: removes a request from the connection and frees it. */
static void drop_req(struct fcgi_conn *fc, struct fcgi_req *q)
{
    for (struct fcgi_req **pp = &fc->reqs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            fc->nreqs--;
            break;
        }
    }
    if (fc->cur == q)
        fc->cur = NULL;
    req_free(q);
}

static int fcgi_conn_open(struct gw_conn *c)
{
    struct fcgi_conn *fc = calloc(1, sizeof(*fc));
    if (fc == NULL)
        return GW_ENOMEM;
    gw_fcgi_parser_init(&fc->p);
    pthread_mutex_init(&fc->lock, NULL);
    pthread_mutex_init(&fc->wlock, NULL);
    gw_fcgi_turn_init(&fc->ctl, c);
    c->proto_state = fc;
    return 0;
}

static void fcgi_conn_close(struct gw_conn *c)
{
    struct fcgi_conn *fc = c->proto_state;
    if (fc == NULL)
        return;
    /* Only requests that never reached a worker, or whose records never all went out,
     * can be left. */
    gw_out_drop(&fc->ctl.out);
    while (fc->reqs != NULL) {
        struct fcgi_req *q = fc->reqs;
        fc->reqs = q->next;
        req_free(q);
    }
    pthread_mutex_destroy(&fc->lock);
    pthread_mutex_destroy(&fc->wlock);
    free(fc);
    c->proto_state = NULL;
}

static int begin_request(struct gw_conn *c, struct fcgi_conn *fc, struct gw_slice data)
{
    struct gw_fcgi_begin bg;
    uint16_t id = fc->p.rec.request_id;
    if (gw_fcgi_begin_read(&fc->p.rec, data, &bg) != 0)
        return GW_EPROTO;
    if (find_req(fc, id) != NULL)
        return GW_EPROTO; /* an id already in use: the peer lost track */
    if (bg.role != FCGI_RESPONDER)
        return gw_fcgi_end_request(c, &fc->ctl, id, 0, FCGI_UNKNOWN_ROLE);
    if (fc->nreqs >= GW_FCGI_MAX_REQS_PER_CONN)
        return gw_fcgi_end_request(c, &fc->ctl, id, 0, FCGI_OVERLOADED);
    struct fcgi_req *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return GW_ENOMEM;
    pthread_cond_init(&q->body_cond, NULL);
    gw_fcgi_params_init(&q->params, NULL, GW_FCGI_DEF_PARAMS_BUDGET, NULL, GW_FCGI_DEF_MAX_PARAMS,
                        params_grow);
    gw_fcgi_turn_init(&q->turn, c);
    q->id = id;
    q->keep_conn = (bg.flags & FCGI_KEEP_CONN) != 0;
    q->state = REQ_PARAMS;
    q->next = fc->reqs;
    fc->reqs = q;
    fc->nreqs++;
    return 0;
}

/* The empty PARAMS record: the request is complete enough to run. Returns 1 when it
 * is ready for dispatch, 0 when it was answered here (bad CGI variables), or GW_E*. */
static int params_done(struct gw_conn *c, struct fcgi_req *q)
{
    const struct gw_listener *l = c->listener;
    int rc = gw_fcgi_params_end(&q->params);
    if (rc != 0)
        return rc;
    size_t cap = q->params.used + 16;
    q->scratch = malloc(cap);
    if (q->scratch == NULL)
        return GW_ENOMEM;
    struct gw_cgi_options opt = {
        .script_name = c->cfg->script_name,
        .server_name = l->server_name,
        .server_port = l->server_port,
        .body_by_framing = 1,
    };
    struct gw_request *r = &q->req;
    r->conn = c;
    r->proto = c->proto;
    r->proto_data = q;
    struct gw_parse_error err;
    int status = 0;
    if (gw_cgi_build(q->params.fields, q->params.nfields, &opt, q->scratch, cap, r, &err) < 0)
        status = err.status; /* answered with a CGI status, as over SCGI */
    if (status == 0 && r->body_length > 0 && (uint64_t)r->body_length > c->cfg->max_body)
        status = 413;
    if (status != 0) {
        uint16_t id = q->id;
        drop_req(c->proto_state, q);
        return gw_fcgi_status_response(c, &((struct fcgi_conn *)c->proto_state)->ctl, id, status) ==
                       0
                   ? 0
                   : GW_EIO;
    }
    q->state = REQ_RUNNING;
    return 1;
}

/* STDIN bytes for a running request: into its pipe, never past CONTENT_LENGTH. */
static int stdin_data(struct gw_conn *c, struct fcgi_conn *fc, struct fcgi_req *q,
                      struct gw_slice data)
{
    int rc = 0;
    pthread_mutex_lock(&fc->lock);
    size_t n = data.len;
    if (q->req.body_length >= 0 && q->body_in + n > (uint64_t)q->req.body_length)
        n = (size_t)((uint64_t)q->req.body_length - q->body_in); /* F16 */
    if (!q->aborted && n > 0) {
        if (q->body_in + n > c->cfg->max_body) {
            q->aborted = GW_ETOOBIG;
        } else {
            /* Move the unread bytes down once more was read than is left (amortized
             * O(1) a byte), so the pipe never grows past the high-water mark. */
            size_t pending = q->body.end - q->body.start;
            if (q->body.start > 0 && q->body.start >= pending) {
                memmove(q->body.data, q->body.data + q->body.start, pending);
                q->body.start = 0;
                q->body.end = pending;
            }
            rc = gw_buf_append(&q->body, data.ptr, n, 2 * GW_FCGI_BODY_HIGH + 2 * 65536);
            q->body_in += n;
            if (q->body.end - q->body.start > GW_FCGI_BODY_HIGH) {
                q->paused_conn = 1;
                c->paused = 1;
            }
        }
    }
    pthread_cond_signal(&q->body_cond);
    pthread_mutex_unlock(&fc->lock);
    return rc;
}

static void stdin_end(struct fcgi_conn *fc, struct fcgi_req *q, int err)
{
    pthread_mutex_lock(&fc->lock);
    if (err)
        q->aborted = err;
    else
        q->body_eof = 1;
    pthread_cond_signal(&q->body_cond);
    pthread_mutex_unlock(&fc->lock);
}

/* Fails every running request's reads (the connection is going away). */
static void abort_all(struct fcgi_conn *fc)
{
    for (struct fcgi_req *q = fc->reqs; q != NULL; q = q->next)
        if (q->state == REQ_RUNNING)
            stdin_end(fc, q, GW_ECLOSED);
}

/* Loop: nothing more will be read. After a clean half-close only the requests whose
 * STDIN stream had not ended are cut short; the others still get their answers (the
 * peer reads on) and the loop closes the connection once they are back. */
static void fcgi_read_end(struct gw_conn *c, int clean)
{
    struct fcgi_conn *fc = c->proto_state;
    if (!clean) {
        abort_all(fc);
        return;
    }
    for (struct fcgi_req *q = fc->reqs; q != NULL; q = q->next) {
        if (q->state != REQ_RUNNING)
            continue; /* PARAMS not ended: never dispatched, freed with the connection */
        pthread_mutex_lock(&fc->lock);
        int cut = !q->body_eof;
        pthread_mutex_unlock(&fc->lock);
        if (cut)
            stdin_end(fc, q, GW_ECLOSED);
    }
}

static int management(struct gw_conn *c, struct fcgi_conn *fc, struct gw_slice data)
{
    unsigned char out[GW_FCGI_GET_VALUES_RESULT_MAX];
    if (fc->p.rec.type == FCGI_GET_VALUES) {
        struct rlimit rl;
        const struct gw_config *cfg = c->cfg;
        /* HAProxy takes FCGI_MAX_REQS as the most streams it may open on one
         * connection: never advertise more than one connection takes. */
        uint32_t reqs = (uint32_t)(cfg->threads + cfg->queue);
        struct gw_fcgi_values v = {
            .max_conns = 1024,
            .max_reqs = reqs < GW_FCGI_MAX_REQS_PER_CONN ? reqs : GW_FCGI_MAX_REQS_PER_CONN,
            .mpxs_conns = 1,
        };
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            v.max_conns = rl.rlim_cur > 1000000 ? 1000000 : (uint32_t)rl.rlim_cur;
        int n = gw_fcgi_get_values_result(data.ptr, data.len, &v, out, sizeof(out));
        if (n < 0)
            return n;
        struct gw_chunk rec = {.kind = GW_CHUNK_COPY, .p = out, .len = (size_t)n, .unit_end = 1};
        return gw_fcgi_send_records(c, &fc->ctl, &rec, 1, NULL);
    }
    gw_fcgi_header_write(out, FCGI_UNKNOWN_TYPE, 0, 8, 0);
    gw_fcgi_unknown_type_write(out + 8, fc->p.rec.type);
    struct gw_chunk v = {.kind = GW_CHUNK_COPY, .p = out, .len = 16, .unit_end = 1};
    return gw_fcgi_send_records(c, &fc->ctl, &v, 1, NULL);
}

/* One record event. Returns 1 when *out is a request to dispatch, 0 to go on, or
 * GW_E* (the connection is closed). */
static int on_event(struct gw_conn *c, struct fcgi_conn *fc, int ev, struct gw_slice data,
                    struct gw_request **out)
{
    const struct gw_fcgi_header *h = &fc->p.rec;
    if (ev == GW_FCGI_HEADER) {
        fc->cur = h->request_id ? find_req(fc, h->request_id) : NULL;
        return 0;
    }
    if (h->request_id == FCGI_NULL_REQUEST_ID) {
        /* GET_VALUES arrives whole (one CONTENT piece); anything else is answered
         * once, at its end. */
        if (h->type == FCGI_GET_VALUES && ev == GW_FCGI_CONTENT)
            return management(c, fc, data);
        if (ev == GW_FCGI_END && (h->type != FCGI_GET_VALUES || h->content_length == 0))
            return management(c, fc, GW_SLICE_LIT(""));
        return 0;
    }
    if (h->type == FCGI_BEGIN_REQUEST) {
        if (ev == GW_FCGI_CONTENT)
            return begin_request(c, fc, data);
        return 0;
    }
    struct fcgi_req *q = fc->cur;
    if (q == NULL)
        return 0; /* F11: a record for an id that is not active */
    switch (h->type) {
    case FCGI_PARAMS:
        if (q->state != REQ_PARAMS)
            return GW_EPROTO;
        if (ev == GW_FCGI_CONTENT)
            return gw_fcgi_params_feed(&q->params, data.ptr, data.len);
        if (ev == GW_FCGI_END && h->content_length == 0) {
            int rc = params_done(c, q);
            if (rc == 1)
                *out = &q->req;
            return rc;
        }
        return 0;
    case FCGI_STDIN:
        if (q->state == REQ_PARAMS)
            return GW_EPROTO; /* F21: STDIN before the PARAMS stream ended */
        if (ev == GW_FCGI_CONTENT)
            return stdin_data(c, fc, q, data);
        if (ev == GW_FCGI_END && h->content_length == 0)
            stdin_end(fc, q, 0);
        return 0;
    case FCGI_ABORT_REQUEST:
        if (ev != GW_FCGI_END)
            return 0;
        if (q->state == REQ_RUNNING) {
            /* its worker ends it promptly; one still queued skips the app */
            stdin_end(fc, q, GW_EABORTED);
            return 0;
        }
        uint16_t id = q->id;
        drop_req(fc, q);
        return gw_fcgi_end_request(c, &fc->ctl, id, 0, FCGI_REQUEST_COMPLETE);
    default:
        return 0; /* FCGI_DATA and others: not for a responder */
    }
}

/* Loop: 1 when a request has begun whose PARAMS stream has not ended (a request head
 * still being read: the head's --read-timeout applies to the connection). */
static int heads_pending(const struct fcgi_conn *fc)
{
    for (const struct fcgi_req *q = fc->reqs; q != NULL; q = q->next)
        if (q->state == REQ_PARAMS)
            return 1;
    return 0;
}

static enum gw_parse_result fcgi_parse(struct gw_conn *c, struct gw_request **out)
{
    struct fcgi_conn *fc = c->proto_state;
    char peer[64];
    if (gw_conn_broken(c)) { /* the peer went away: fail the requests' reads */
        abort_all(fc);
        return GW_PARSE_CLOSE;
    }
    /* Called with no bytes left too: a record whose content was the last byte still
     * owes its END event. */
    while (!c->paused) {
        size_t used = 0;
        struct gw_slice data = {NULL, 0};
        int ev =
            gw_fcgi_parse(&fc->p, c->in.data + c->in.start, c->in.end - c->in.start, &used, &data);
        c->in.start += used;
        if (ev < 0) {
            gw_log(GW_LOG_WARNING, "%s: %s: fastcgi: %s; closing the connection", c->listener->spec,
                   gw_conn_peer(c, peer, sizeof(peer)),
                   fc->p.err.why ? fc->p.err.why : "protocol error");
            abort_all(fc);
            return GW_PARSE_CLOSE;
        }
        if (ev == GW_FCGI_MORE && used == 0)
            break;
        int rc = on_event(c, fc, ev, data, out);
        if (rc < 0) {
            gw_log(GW_LOG_WARNING, "%s: %s: fastcgi: %s; closing the connection", c->listener->spec,
                   gw_conn_peer(c, peer, sizeof(peer)), gw_strerror(rc));
            abort_all(fc);
            return GW_PARSE_CLOSE;
        }
        if (rc == 1)
            return GW_PARSE_READY;
    }
    /* A whole-delivered record waiting for its content needs room for all of it; for
     * anything else the loop's next read makes its usual room. */
    size_t have = c->in.end - c->in.start;
    size_t need = gw_fcgi_parser_between_records(&fc->p)
                      ? gw_fcgi_whole_need(c->in.data + c->in.start, have)
                      : 0;
    if (need > 0 && gw_conn_reserve(c, need - have) != 0)
        return GW_PARSE_CLOSE;
    c->at_rest =
        c->in.start == c->in.end && gw_fcgi_parser_between_records(&fc->p) && !heads_pending(fc);
    return GW_PARSE_MORE;
}

static int fcgi_reject(struct gw_conn *c, struct gw_request *r, int status)
{
    if (r == NULL)
        return 0; /* a slow front server: nothing to answer, the loop closes */
    struct fcgi_req *q = r->proto_data;
    uint16_t id = q->id;
    (void)status;
    drop_req(c->proto_state, q);
    gw_fcgi_end_request(c, &((struct fcgi_conn *)c->proto_state)->ctl, id, 0, FCGI_OVERLOADED);
    return 0;
}

/* A complete response on the loop's own turn; the request's STDIN records that may
 * follow are dropped like those of any request answered before it ran. */
static int fcgi_answer(struct gw_conn *c, struct gw_request *r, int status)
{
    struct fcgi_conn *fc = c->proto_state;
    struct fcgi_req *q = r->proto_data;
    uint16_t id = q->id;
    if (!q->keep_conn)
        c->close_after = 1; /* the front server waits for the close */
    drop_req(fc, q);
    if (gw_fcgi_status_response(c, &fc->ctl, id, status) != 0)
        gw_conn_set_broken(c);
    return 0;
}

static int fcgi_done(struct gw_conn *c, struct gw_request *r)
{
    struct fcgi_conn *fc = c->proto_state;
    struct fcgi_req *q = r->proto_data;
    int close_now = !q->keep_conn;
    pthread_mutex_lock(&fc->wlock);
    int queued = !gw_out_empty(&q->turn.out);
    q->turn.gone = queued; /* freed by fcgi_flush once its records are out */
    pthread_mutex_unlock(&fc->wlock);
    if (!queued)
        drop_req(fc, q);
    /* A request that ended without reading its body may have paused the connection:
     * read again unless another request still holds it. */
    if (c->paused) {
        int held = 0;
        pthread_mutex_lock(&fc->lock);
        for (struct fcgi_req *k = fc->reqs; k != NULL; k = k->next)
            held |= k->paused_conn;
        pthread_mutex_unlock(&fc->lock);
        if (!held)
            c->paused = 0;
    }
    return close_now || gw_conn_broken(c);
}

/* ---- worker side ------------------------------------------------------------------ */

static ssize_t fcgi_read_body(struct gw_request *r, char *buf, size_t len)
{
    struct fcgi_req *q = r->proto_data;
    struct gw_conn *c = r->conn;
    struct fcgi_conn *fc = c->proto_state;
    ssize_t n = 0;
    int resume = 0;

    pthread_mutex_lock(&fc->lock);
    for (;;) {
        if (r->body_length >= 0 && q->body_out >= (uint64_t)r->body_length)
            break; /* the app has all of CONTENT_LENGTH */
        if (q->aborted) {
            n = q->aborted;
            break;
        }
        size_t avail = q->body.end - q->body.start;
        if (avail > 0) {
            n = (ssize_t)(avail < len ? avail : len);
            memcpy(buf, q->body.data + q->body.start, (size_t)n);
            q->body.start += (size_t)n;
            q->body_out += (uint64_t)n;
            if (q->paused_conn && avail - (size_t)n < GW_FCGI_BODY_LOW) {
                q->paused_conn = 0;
                resume = 1;
            }
            break;
        }
        if (q->body_eof) {
            if (r->body_length >= 0 && q->body_out < (uint64_t)r->body_length)
                n = GW_ECLOSED; /* F17: shorter than CONTENT_LENGTH */
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = c->cfg->read_timeout;
        ts.tv_sec += (time_t)t;
        ts.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&q->body_cond, &fc->lock, &ts) == ETIMEDOUT &&
            q->body.end == q->body.start && !q->body_eof && !q->aborted) {
            n = GW_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&fc->lock);
    if (resume)
        gw_conn_resume(c);
    return n;
}

static int is_aborted(struct fcgi_req *q)
{
    struct fcgi_conn *fc = q->req.conn->proto_state;
    pthread_mutex_lock(&fc->lock);
    int a = q->aborted == GW_EABORTED || q->aborted == GW_ECLOSED;
    pthread_mutex_unlock(&fc->lock);
    return a;
}

/* Worker, before the app runs r: FCGI_ABORT_REQUEST came (or the connection failed)
 * while r waited in the queue for a thread. The app is not run; fcgi_finish then
 * sends the END_REQUEST alone (F15), which the front server still waits for. */
static int fcgi_abandoned(struct gw_request *r)
{
    return is_aborted(r->proto_data);
}

static int fcgi_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                          size_t n)
{
    struct fcgi_req *q = r->proto_data;
    if (q->head_sent)
        return GW_ESTATE;
    return gw_cgi_response_head(&q->head, r, status, f, n);
}

/* Any of the app's threads, while r is alive (gateway/request.h): the app's error text
 * as FCGI_STDERR records, one per line as PHP-FPM sends them (Apache and HAProxy log
 * each record as one entry), in the request's turn like its STDOUT. Never after
 * END_REQUEST: whoever ends the response sets finished before it queues END_REQUEST
 * (under wlock), so records that find it clear under wlock go first.
 *
 * Each record carries at most GW_FCGI_STDERR_CHUNK bytes and is padded to a multiple
 * of 8 with 1 to 8 bytes (the spec recommends 8-byte records; 0 padding is never
 * used). HAProxy before its fix "mux-fcgi: Don't swap trash and dbuf when handling
 * STDERR records" (2023; Debian 12 ships 2.6.12 without it) corrupts its memory and
 * crashes when a STDERR record's content is all its read buffer holds, and writes
 * past its log buffer for a record of 16 KiB or more: with a whole record of at most
 * 8 KiB buffered, the padding behind the content keeps it on its copying path. */
static int fcgi_send_stderr(struct gw_request *r, const char *p, size_t n)
{
    static const char pad[8];
    struct fcgi_req *q = r->proto_data;
    struct gw_conn *c = r->conn;
    int rc = 0;
    if (!c->cfg->fastcgi_stderr)
        return 0;
    while (n > 0 && rc == 0) {
        unsigned char hdr[FCGI_HEADER_LEN];
        size_t k = n < GW_FCGI_STDERR_CHUNK ? n : GW_FCGI_STDERR_CHUNK;
        const char *nl = memchr(p, '\n', k);
        if (nl != NULL)
            k = (size_t)(nl - p) + 1;
        uint8_t padding = (uint8_t)(8 - k % 8);
        gw_fcgi_header_write(hdr, FCGI_STDERR, q->id, (uint16_t)k, padding);
        struct gw_chunk v[3] = {
            {.kind = GW_CHUNK_COPY, .p = hdr, .len = FCGI_HEADER_LEN},
            {.kind = GW_CHUNK_COPY, .p = p, .len = k},
            {.kind = GW_CHUNK_COPY, .p = pad, .len = padding, .unit_end = 1},
        };
        if (is_aborted(q))
            return GW_EABORTED; /* F15: nothing more for an aborted request */
        rc = gw_fcgi_send_records_unless(c, &q->turn, v, 3, &q->finished);
        p += k;
        n -= k;
    }
    return rc;
}

static int fcgi_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept)
{
    struct fcgi_req *q = r->proto_data;
    struct gw_chunk v[17];
    int nv = 0;
    if (kept != NULL)
        *kept = 0;
    if (n > 16)
        return GW_ESTATE; /* the core sends at most 16 at once */
    if (is_aborted(q))
        return GW_EABORTED; /* F15: nothing more for an aborted request */
    if (!q->head_sent)
        v[nv++] = (struct gw_chunk){.kind = GW_CHUNK_COPY,
                                    .p = q->head.data + q->head.start,
                                    .len = q->head.end - q->head.start};
    for (int i = 0; i < n; i++)
        v[nv++] = c[i];
    int rc = gw_fcgi_send_stream(r->conn, &q->turn, FCGI_STDOUT, q->id, v, nv, kept);
    if (rc == 0)
        q->head_sent = 1;
    return rc;
}

/* Marks q's END_REQUEST as going out: the peer may reuse the id once it has it. Under
 * wlock, so a STDERR record (sent under wlock only while finished is clear) is queued
 * before END_REQUEST or not at all. */
static void set_finished(struct fcgi_conn *fc, struct fcgi_req *q)
{
    pthread_mutex_lock(&fc->wlock);
    __atomic_store_n(&q->finished, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&fc->wlock);
}

static int fcgi_finish(struct gw_request *r, int ok)
{
    struct fcgi_req *q = r->proto_data;
    struct gw_conn *c = r->conn;
    struct fcgi_conn *fc = c->proto_state;
    set_finished(fc, q);
    if (gw_conn_broken(c))
        return 0;
    if (is_aborted(q)) { /* F15: END_REQUEST now, nothing more on STDOUT */
        pthread_mutex_lock(&fc->wlock);
        gw_out_trim(&q->turn.out); /* keeps a partly written record whole */
        pthread_mutex_unlock(&fc->wlock);
        gw_fcgi_end_request(c, &q->turn, q->id, 1, FCGI_REQUEST_COMPLETE);
        return q->keep_conn;
    }
    if (!r->resp.started || (!ok && !q->head_sent)) {
        int status = 500;
        pthread_mutex_lock(&fc->lock);
        if (q->aborted == GW_ETOOBIG)
            status = 413;
        pthread_mutex_unlock(&fc->lock);
        r->status = status;
        gw_fcgi_status_response(c, &q->turn, q->id, status);
        return q->keep_conn;
    }
    int rc = q->head_sent ? 0 : fcgi_send_body(r, NULL, 0, NULL);
    unsigned char rec[24];
    gw_fcgi_header_write(rec, FCGI_STDOUT, q->id, 0, 0);
    gw_fcgi_header_write(rec + 8, FCGI_END_REQUEST, q->id, 8, 0);
    /* An app that failed mid-body, or sent less than its Content-Length, ends with a
     * non-zero app status; the front server sees the short body. */
    int short_body = r->resp.limit >= 0 && r->resp.sent < (uint64_t)r->resp.limit;
    gw_fcgi_end_request_write(rec + 16, (ok && !short_body) ? 0 : 1, FCGI_REQUEST_COMPLETE);
    struct gw_chunk v[2] = {
        {.kind = GW_CHUNK_COPY, .p = rec, .len = 8, .unit_end = 1},
        {.kind = GW_CHUNK_COPY, .p = rec + 8, .len = 16, .unit_end = 1},
    };
    if (rc == 0)
        rc = gw_fcgi_send_records(c, &q->turn, v, 2, NULL);
    return rc == 0 && q->keep_conn;
}

/* Watchdog thread: the request ran past --timeout before its head went out. Its
 * worker is not writing (it never claimed the head) and will not call finish: the
 * id is freed and the 504 and END_REQUEST go out here, in the request's turn like any
 * worker's records. A read of the body in progress is woken and fails. */
static int fcgi_timeout(struct gw_request *r)
{
    struct fcgi_req *q = r->proto_data;
    struct fcgi_conn *fc = r->conn->proto_state;
    set_finished(fc, q);
    pthread_mutex_lock(&fc->lock);
    if (!q->aborted)
        q->aborted = GW_ETIMEDOUT; /* its STDIN is dropped from now on */
    int resume = q->paused_conn;   /* its unread body must not stall the others */
    q->paused_conn = 0;
    pthread_cond_signal(&q->body_cond);
    pthread_mutex_unlock(&fc->lock);
    if (resume)
        gw_conn_resume(r->conn); /* r is in flight: c is alive */
    r->status = 504;
    return gw_fcgi_status_response(r->conn, &q->turn, q->id, 504);
}

/* Loop: the socket is writable (or the loop wants to know): the turns go on; requests
 * handed back whose records are all out are freed. 0: nothing left, 1: bytes left,
 * GW_E*: the connection failed. */
static int fcgi_flush(struct gw_conn *c)
{
    struct fcgi_conn *fc = c->proto_state;
    pthread_mutex_lock(&fc->wlock);
    int rc = gw_conn_broken(c) ? GW_ECLOSED : gw_fcgi_flush_turns(fc);
    pthread_mutex_unlock(&fc->wlock);
    /* gone requests are touched by nobody but the loop and this flush */
    for (struct fcgi_req *q = fc->reqs, *next; q != NULL; q = next) {
        next = q->next;
        if (q->turn.gone && (rc < 0 || gw_out_empty(&q->turn.out)))
            drop_req(fc, q);
    }
    if (rc < 0)
        gw_conn_set_broken(c);
    return rc;
}

const struct gw_protocol gw_fastcgi_protocol = {
    .name = "fastcgi",
    .multiplexed = 1,              /* several request ids at once (FCGI_MPXS_CONNS) */
    .conn_open = fcgi_conn_open,   /* parser and locks */
    .conn_close = fcgi_conn_close, /* frees requests that never ran */
    .parse = fcgi_parse,           /* loop: records, PARAMS, STDIN into pipes */
    .read_end = fcgi_read_end,     /* loop: EOF cuts the requests with input pending */
    .reject = fcgi_reject,         /* loop: FCGI_OVERLOADED, the connection goes on */
    .answer = fcgi_answer,         /* loop: --health-path, the connection goes on */
    .done = fcgi_done,             /* loop: frees a finished request */
    .read_body = fcgi_read_body,   /* worker: from the STDIN pipe */
    .send_head = fcgi_send_head,   /* worker: CGI Status + headers (buffered) */
    .send_body = fcgi_send_body,   /* worker: STDOUT records <= 65535 bytes */
    .finish = fcgi_finish,         /* worker: empty STDOUT + END_REQUEST */
    .flush = fcgi_flush,           /* loop: the turns go on; frees requests done */
    .timeout = fcgi_timeout,       /* watchdog: Status 504 + END_REQUEST */
    .abandoned = fcgi_abandoned,   /* worker: aborted while queued, the app skipped */
    /* the app's threads: wsgi.errors as FCGI_STDERR (--fastcgi-stderr) */
    .send_stderr = fcgi_send_stderr,
};
