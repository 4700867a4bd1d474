/*
 * FastCGI records out (see fastcgi_conn.h). Every record a connection sends goes
 * through an output queue (gateway/output.h): one per request (its STDOUT, STDERR
 * and END_REQUEST) and one for the loop's own records (management answers and
 * refusals). A queue is a "turn"; the connection keeps the turns that hold bytes in
 * a list and writes them in order, one record at a time, so a request whose peer
 * reads slowly, or a huge response, never starves the connection's other requests
 * (C04), and records of different requests never interleave byte by byte.
 *
 * A sender writes at once when no turn is waiting (the fast path: one sendmsg), else
 * it queues behind the others and writes what the socket takes of the turns in
 * order; whatever is left, the loop finishes (gw_conn_want_write, then the
 * protocol's flush). Nobody waits for the peer: a worker is free when its app is.
 *
 * Threads: any thread that may write for a turn, always under fc->wlock, which also
 * guards the list of turns.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "gateway/errors.h"
#include "protocols/cgi_response.h"
#include "protocols/fastcgi_conn.h"

/* Records gathered into one send. */
#define REC_BATCH 32

void gw_fcgi_turn_init(struct fcgi_turn *t, struct gw_conn *c)
{
    memset(t, 0, sizeof(*t));
    gw_out_init(&t->out, c);
    t->out.no_wait = 1; /* never wait for the peer while holding wlock */
}

/* Under wlock: t holds bytes: it takes its place in the turns. */
static void enter(struct fcgi_conn *fc, struct fcgi_turn *t)
{
    if (t->queued || gw_out_empty(&t->out))
        return;
    t->queued = 1;
    t->next = NULL;
    if (fc->last != NULL)
        fc->last->next = t;
    else
        fc->turns = t;
    fc->last = t;
}

static void pop(struct fcgi_conn *fc)
{
    struct fcgi_turn *t = fc->turns;
    fc->turns = t->next;
    if (fc->turns == NULL)
        fc->last = NULL;
    t->next = NULL;
    t->queued = 0;
}

int gw_fcgi_flush_turns(struct fcgi_conn *fc)
{
    while (fc->turns != NULL) {
        struct fcgi_turn *t = fc->turns;
        int rc = gw_out_flush(&t->out, 1);
        if (rc < 0) {
            pop(fc); /* its queue is dropped; the connection is broken */
            return rc;
        }
        if (rc == GW_OUT_BLOCKED)
            return 1; /* a partly written record stays first */
        pop(fc);
        if (rc == GW_OUT_YIELD)
            enter(fc, t); /* one record done: to the back of the line */
        else if (t->gone)
            fc->reap = 1;
    }
    return 0;
}

/* Sends v under wlock (see gw_fcgi_send_records); stop: see _unless. */
static int send_locked(struct gw_conn *c, struct fcgi_turn *t, const struct gw_chunk *v, int n,
                       int *kept, const int *stop)
{
    struct fcgi_conn *fc = c->proto_state;
    int rc, want = 0;
    if (kept != NULL)
        *kept = 0;
    pthread_mutex_lock(&fc->wlock);
    if (stop != NULL && __atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
        pthread_mutex_unlock(&fc->wlock);
        return GW_ECLOSED; /* the request has ended: not the connection's fault */
    }
    if (gw_conn_broken(c)) {
        rc = GW_ECLOSED;
    } else if (fc->turns == NULL) {
        rc = gw_out_write(&t->out, v, n, kept); /* nobody waiting: straight out */
        if (rc == GW_OUT_BLOCKED) {
            enter(fc, t);
            want = 1;
        }
    } else {
        rc = gw_out_queue(&t->out, v, n, kept);
        if (rc >= 0) {
            enter(fc, t);
            rc = gw_fcgi_flush_turns(fc);
            want = rc == 1;
        }
    }
    want |= fc->reap; /* a handed-back request's records all went out: the loop frees it */
    fc->reap = 0;
    pthread_mutex_unlock(&fc->wlock);
    if (rc < 0) {
        gw_conn_set_broken(c);
        return rc;
    }
    if (want)
        gw_conn_want_write(c);
    return 0;
}

int gw_fcgi_send_records(struct gw_conn *c, struct fcgi_turn *t, const struct gw_chunk *v, int n,
                         int *kept)
{
    return send_locked(c, t, v, n, kept, NULL);
}

int gw_fcgi_send_records_unless(struct gw_conn *c, struct fcgi_turn *t, const struct gw_chunk *v,
                                int n, const int *stop)
{
    return send_locked(c, t, v, n, NULL, stop);
}

/* Records being gathered for one send: headers live here until the send has written
 * or copied them. */
struct batch {
    struct gw_chunk v[2 * REC_BATCH];
    unsigned char hdr[REC_BATCH][FCGI_HEADER_LEN];
    int nv, nr;
};

static int batch_send(struct gw_conn *c, struct fcgi_turn *t, struct batch *b, int *kept)
{
    int k = 0;
    int rc = b->nv ? gw_fcgi_send_records(c, t, b->v, b->nv, &k) : 0;
    if (kept != NULL)
        *kept |= k;
    b->nv = b->nr = 0;
    return rc;
}

/* Adds one record of type/id with content ch (a memory chunk of at most 65535
 * bytes, or none for an empty record). */
static void batch_add(struct batch *b, uint8_t type, uint16_t id, const struct gw_chunk *ch)
{
    unsigned char *h = b->hdr[b->nr++];
    uint64_t len = ch ? ch->len : 0;
    gw_fcgi_stream_header(h, type, id, (size_t)len);
    b->v[b->nv++] = (struct gw_chunk){
        .kind = GW_CHUNK_COPY, .p = h, .len = FCGI_HEADER_LEN, .unit_end = len == 0};
    if (len > 0) {
        b->v[b->nv] = *ch;
        b->v[b->nv++].unit_end = 1;
    }
}

/* A file chunk: read and sent a record at a time (a queued record is a copy, so a
 * slow peer costs no descriptor per record). */
static int send_file(struct gw_conn *c, struct fcgi_turn *t, uint8_t type, uint16_t id,
                     const struct gw_chunk *ch)
{
    char buf[GW_FCGI_MAX_CONTENT];
    off_t off = ch->off;
    uint64_t len = ch->len;
    while (len > 0) {
        ssize_t k = pread(ch->fd, buf, len < sizeof(buf) ? (size_t)len : sizeof(buf), off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return GW_EIO; /* shorter than promised: the body would be short */
        struct batch b = {.nv = 0};
        struct gw_chunk part = {.kind = GW_CHUNK_COPY, .p = buf, .len = (uint64_t)k};
        batch_add(&b, type, id, &part);
        int rc = batch_send(c, t, &b, NULL);
        if (rc != 0)
            return rc;
        off += k;
        len -= (uint64_t)k;
    }
    return 0;
}

int gw_fcgi_send_stream(struct gw_conn *c, struct fcgi_turn *t, uint8_t type, uint16_t id,
                        const struct gw_chunk *in, int n, int *kept)
{
    struct batch b = {.nv = 0};
    int rc = 0;
    if (kept != NULL)
        *kept = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const struct gw_chunk *ch = &in[i];
        if (ch->kind == GW_CHUNK_FILE) {
            rc = batch_send(c, t, &b, kept);
            if (rc == 0)
                rc = send_file(c, t, type, id, ch);
            continue;
        }
        /* A buffer over several sends: only the last send may keep it by reference,
         * the earlier ones are copies where they do not go out at once. */
        uint64_t nrec = (ch->len + GW_FCGI_MAX_CONTENT - 1) / GW_FCGI_MAX_CONTENT;
        uint64_t last_send = nrec > 0 ? (nrec - 1) / REC_BATCH * REC_BATCH : 0;
        if (ch->kind == GW_CHUNK_REF && b.nr > 0)
            rc = batch_send(c, t, &b, kept); /* the buffer's sends start aligned */
        for (uint64_t r = 0, off = 0; r < nrec && rc == 0; r++) {
            uint64_t take =
                ch->len - off < GW_FCGI_MAX_CONTENT ? ch->len - off : GW_FCGI_MAX_CONTENT;
            struct gw_chunk part = *ch;
            part.p = (const char *)ch->p + off;
            part.len = take;
            part.ref = off + take == ch->len ? ch->ref : NULL;
            if (ch->kind == GW_CHUNK_REF && r < last_send)
                part.kind = GW_CHUNK_COPY;
            if (b.nr == REC_BATCH)
                rc = batch_send(c, t, &b, kept);
            batch_add(&b, type, id, &part);
            off += take;
        }
    }
    if (rc == 0)
        rc = batch_send(c, t, &b, kept);
    return rc;
}

int gw_fcgi_end_request(struct gw_conn *c, struct fcgi_turn *t, uint16_t id, uint32_t app_status,
                        uint8_t proto_status)
{
    unsigned char rec[16];
    gw_fcgi_header_write(rec, FCGI_END_REQUEST, id, 8, 0);
    gw_fcgi_end_request_write(rec + 8, app_status, proto_status);
    struct gw_chunk v = {.kind = GW_CHUNK_COPY, .p = rec, .len = sizeof(rec), .unit_end = 1};
    return gw_fcgi_send_records(c, t, &v, 1, NULL);
}

int gw_fcgi_status_response(struct gw_conn *c, struct fcgi_turn *t, uint16_t id, int status)
{
    char body[256];
    unsigned char h1[8], h2[8], end[16];
    size_t n = gw_cgi_error_response(body, sizeof(body), status);
    gw_fcgi_header_write(h1, FCGI_STDOUT, id, (uint16_t)n, 0);
    gw_fcgi_header_write(h2, FCGI_STDOUT, id, 0, 0);
    gw_fcgi_header_write(end, FCGI_END_REQUEST, id, 8, 0);
    gw_fcgi_end_request_write(end + 8, (uint32_t)status, FCGI_REQUEST_COMPLETE);
    struct gw_chunk v[4] = {
        {.kind = GW_CHUNK_COPY, .p = h1, .len = 8},
        {.kind = GW_CHUNK_COPY, .p = body, .len = n, .unit_end = 1},
        {.kind = GW_CHUNK_COPY, .p = h2, .len = 8, .unit_end = 1},
        {.kind = GW_CHUNK_COPY, .p = end, .len = 16, .unit_end = 1},
    };
    return gw_fcgi_send_records(c, t, v, 4, NULL);
}
