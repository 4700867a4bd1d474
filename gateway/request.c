/*
 * The worker-side request API (gateway/request.h): thin dispatch to the front-end of
 * the request's connection, so python/ never knows which protocol it is speaking.
 *
 * With --timeout, a request is "watched" and its head is raced for by the worker and
 * the watchdog (gateway/watchdog.c) through r->head_claim: the worker claims it in
 * send_head and before finish writes anything; the watchdog claims it for its 504.
 * The loser writes nothing. A worker that lost waits in finish until the watchdog's
 * 504 is out, so the request (and its connection) outlive the watchdog's writes.
 *
 * The wrappers also keep the access log's accounting: time spent sending (t_send),
 * body bytes read (bytes_in) and the end stamp (t_end). Only the worker that owns
 * the request calls them, so the fields need no locking; gw_request_send_stderr, which
 * any of the app's threads may call, touches none of them.
 */
#include "gateway/request.h"

#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/output.h"
#include "gateway/protocol.h"
#include "gateway/util.h"

static int load_claim(const struct gw_request *r)
{
    return __atomic_load_n(&r->head_claim, __ATOMIC_ACQUIRE);
}

static int cas_claim(struct gw_request *r, int from, int to)
{
    return __atomic_compare_exchange_n(&r->head_claim, &from, to, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/* Worker: takes the head for the app. 0, or GW_ECLOSED when the watchdog has it. */
static int claim_for_app(struct gw_request *r)
{
    for (;;) {
        int s = load_claim(r);
        if (s == GW_HEAD_APP)
            return 0;
        if (s == GW_HEAD_TIMEOUT || s == GW_HEAD_TIMED_OUT)
            return GW_ECLOSED;
        /* OPEN (INTERIM is only ever set by this same thread) */
        if (cas_claim(r, GW_HEAD_OPEN, GW_HEAD_APP))
            return 0;
    }
}

int gw_request_mount(struct gw_request *r, struct gw_slice path, const char *script_name)
{
    size_t sl = strlen(script_name);
    if (sl == 0) {
        r->script_name = GW_SLICE_LIT("");
        r->path_info = path;
        return 0;
    }
    if (path.len < sl || memcmp(path.ptr, script_name, sl) != 0 ||
        (path.len > sl && path.ptr[sl] != '/'))
        return 404;
    r->script_name = gw_slice_make(script_name, sl);
    r->path_info = gw_slice_make(path.ptr + sl, path.len - sl);
    return 0;
}

int gw_request_timed_out(const struct gw_request *r)
{
    return load_claim(r) >= GW_HEAD_TIMEOUT;
}

int gw_request_interim_begin(struct gw_request *r)
{
    if (!r->watched || load_claim(r) == GW_HEAD_APP)
        return 0;
    return cas_claim(r, GW_HEAD_OPEN, GW_HEAD_INTERIM) ? 0 : GW_ETIMEDOUT;
}

void gw_request_interim_end(struct gw_request *r)
{
    if (r->watched)
        cas_claim(r, GW_HEAD_INTERIM, GW_HEAD_OPEN);
}

int gw_request_claim_timeout(struct gw_request *r)
{
    if (cas_claim(r, GW_HEAD_OPEN, GW_HEAD_TIMEOUT))
        return 1;
    return load_claim(r) == GW_HEAD_INTERIM ? -1 : 0;
}

void gw_request_timeout_done(struct gw_request *r)
{
    __atomic_store_n(&r->head_claim, GW_HEAD_TIMED_OUT, __ATOMIC_RELEASE);
}

ssize_t gw_request_read(struct gw_request *r, char *buf, size_t len)
{
    if (r->watched && gw_request_timed_out(r))
        return GW_ETIMEDOUT;
    ssize_t n = r->proto->read_body(r, buf, len);
    if (n > 0)
        r->bytes_in += (uint64_t)n;
    return n;
}

/* Hop-by-hop fields are the server's business (PEP 3333): dropped from the app's. */
static int hop_by_hop(struct gw_slice n)
{
    static const char *const hop[] = {"connection", "keep-alive", "transfer-encoding", "te",
                                      "trailer",    "upgrade",    "proxy-connection"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (gw_slice_eq_lower(n, hop[i]))
            return 1;
    return 0;
}

/* 1 when the comma-separated list v holds tok (ASCII case-insensitive). */
static int has_token(struct gw_slice v, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= v.len; i++) {
        if (strncasecmp(v.ptr + i, tok, tl) == 0 &&
            (i == 0 || v.ptr[i - 1] == ',' || v.ptr[i - 1] == ' ') &&
            (i + tl == v.len || v.ptr[i + tl] == ',' || v.ptr[i + tl] == ' '))
            return 1;
    }
    return 0;
}

/* The status code and fields, once for every front-end: GW_EPROTO for a status
 * without three digits or below 100, and for a malformed or conflicting
 * Content-Length (an exact repeat is sent once). */
static int parse_response(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                          size_t n)
{
    struct gw_response *h = &r->resp;
    int code = 0;
    if (status.len < 3)
        return GW_EPROTO;
    for (int i = 0; i < 3; i++) {
        if (status.ptr[i] < '0' || status.ptr[i] > '9')
            return GW_EPROTO;
        code = code * 10 + (status.ptr[i] - '0');
    }
    if (code < 100)
        return GW_EPROTO;
    memset(h, 0, sizeof(*h));
    h->code = code;
    h->rule = gw_content_rule(r->method, code);
    h->length = -1;
    h->length_field = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        struct gw_slice name = f[i].name, value = f[i].value;
        if (hop_by_hop(name)) {
            if (gw_slice_eq_lower(name, "connection") && has_token(value, "close"))
                h->app_close = 1;
            continue;
        }
        h->have_date |= gw_slice_eq_lower(name, "date");
        h->have_server |= gw_slice_eq_lower(name, "server");
        if (!gw_slice_eq_lower(name, "content-length"))
            continue;
        uint64_t v;
        if (gw_parse_u64(value.ptr, value.len, (uint64_t)INT64_MAX, &v) != 0)
            return GW_EPROTO;
        if (h->length >= 0 && (uint64_t)h->length != v)
            return GW_EPROTO;
        if (h->length < 0) {
            h->length = (int64_t)v;
            h->length_field = i;
        }
    }
    /* None at all, or "Content-Length: 0" in place of the app's (the front-end's). */
    if (h->rule == GW_CONTENT_NONE_NO_LENGTH || h->rule == GW_CONTENT_EMPTY)
        h->length_field = (size_t)-1;
    h->limit = h->rule == GW_CONTENT_ANY ? h->length : 0;
    return 0;
}

int gw_response_keeps(const struct gw_request *r, const struct gw_field *f, size_t i)
{
    if (hop_by_hop(f[i].name))
        return 0;
    if (gw_slice_eq_lower(f[i].name, "content-length"))
        return i == r->resp.length_field;
    return 1;
}

int gw_request_send_head(struct gw_request *r, struct gw_slice status,
                         const struct gw_field *fields, size_t n)
{
    if (r->watched) {
        int rc = claim_for_app(r);
        if (rc != 0)
            return rc;
    }
    if (r->resp.started)
        return GW_ESTATE;
    uint64_t t0 = gw_now_ns();
    int rc = parse_response(r, status, fields, n);
    if (rc == 0)
        rc = r->proto->send_head(r, status, fields, n);
    if (rc == 0) {
        r->resp.started = 1;
        r->status = r->resp.code;
    }
    r->t_send += gw_now_ns() - t0;
    return rc;
}

/* How many of want body bytes may still go out (R2: never more than declared). */
static uint64_t room_for(struct gw_request *r, uint64_t want)
{
    struct gw_response *h = &r->resp;
    if (h->limit < 0)
        return want;
    uint64_t room = (uint64_t)h->limit - h->sent;
    if (want > room && h->rule == GW_CONTENT_ANY)
        h->truncated = 1;
    return want < room ? want : room;
}

/* Cuts c[0..n) to what may go out and hands it to the front-end. A REF chunk comes
 * alone (one buffer, its ref on it), so a cut never separates bytes from their ref. */
static int send_chunks(struct gw_request *r, struct gw_chunk *c, int n, int *kept)
{
    int k = 0;
    if (kept != NULL)
        *kept = 0;
    if (r->watched && gw_request_timed_out(r))
        return GW_ECLOSED;
    if (!r->resp.started)
        return GW_ESTATE;
    for (int i = 0; i < n; i++) {
        uint64_t len = room_for(r, c[i].len);
        r->resp.sent += len;
        if (len == 0)
            continue;
        c[k] = c[i];
        c[k++].len = len;
    }
    if (k == 0)
        return 0;
    uint64_t t0 = gw_now_ns(), total = 0;
    for (int i = 0; i < k; i++)
        total += c[i].len;
    int rc = r->proto->send_body(r, c, k, kept);
    if (rc == 0)
        r->bytes_sent += total;
    r->t_send += gw_now_ns() - t0;
    return rc;
}

int gw_request_send_body(struct gw_request *r, const struct iovec *iov, int iovcnt)
{
    struct gw_chunk c[16];
    while (iovcnt > 0) {
        int n = iovcnt < 16 ? iovcnt : 16;
        for (int i = 0; i < n; i++)
            c[i] = (struct gw_chunk){
                .kind = GW_CHUNK_COPY, .p = iov[i].iov_base, .len = iov[i].iov_len};
        int rc = send_chunks(r, c, n, NULL);
        if (rc != 0)
            return rc;
        iov += n;
        iovcnt -= n;
    }
    return 0;
}

int gw_request_send_ref(struct gw_request *r, const void *p, size_t n, void *ref, int *kept)
{
    struct gw_chunk c = {.kind = GW_CHUNK_REF, .p = p, .len = n, .ref = ref};
    return send_chunks(r, &c, 1, kept);
}

int gw_request_send_file(struct gw_request *r, int fd, off_t offset, size_t len)
{
    struct stat st;
    uint64_t n = len;
    if (len == (size_t)-1) {
        if (fstat(fd, &st) != 0)
            return GW_EIO;
        n = st.st_size > offset ? (uint64_t)(st.st_size - offset) : 0;
    }
    struct gw_chunk c = {.kind = GW_CHUNK_FILE, .fd = fd, .off = offset, .len = n};
    return send_chunks(r, &c, 1, NULL);
}

int gw_request_send_stderr(struct gw_request *r, const char *p, size_t n)
{
    if (r->proto->send_stderr == NULL || n == 0)
        return 0;
    if (r->watched && gw_request_timed_out(r))
        return GW_ECLOSED; /* the watchdog has ended the response */
    return r->proto->send_stderr(r, p, n);
}

void gw_request_finish(struct gw_request *r, int ok)
{
    if (r->watched && claim_for_app(r) != 0) {
        /* The watchdog answered 504 and ended the response for the front-end; wait
         * until its writes are done before the request may be handed back. */
        struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
        while (load_claim(r) == GW_HEAD_TIMEOUT)
            nanosleep(&ms, NULL);
        r->keep = 0;
        r->close_now = 0;
        r->t_end = gw_now_ns();
        return;
    }
    uint64_t t0 = gw_now_ns();
    r->close_now = 0;
    int keep = r->proto->finish(r, ok);
    if (!r->proto->multiplexed)
        gw_spool_close(&r->conn->spool); /* the body is read or drained by now */
    r->keep = keep && !gw_conn_broken(r->conn);
    r->t_end = gw_now_ns();
    r->t_send += r->t_end - t0;
}

int gw_request_abandoned(struct gw_request *r)
{
    return r->proto->abandoned != NULL && r->proto->abandoned(r);
}

int gw_request_client_gone(const struct gw_request *r)
{
    return gw_conn_broken(r->conn) || (r->watched && gw_request_timed_out(r));
}

/* b - a, or 0 when either stamp is missing or b is earlier. */
static uint64_t span(uint64_t a, uint64_t b)
{
    return a != 0 && b > a ? b - a : 0;
}

void gw_request_times(const struct gw_request *r, struct gw_request_times *t)
{
    uint64_t end = r->t_end ? r->t_end : gw_now_ns();
    uint64_t worker = r->t_worker ? r->t_worker : end;
    /* No app stamp (the handler failed before taking the GIL): no GIL phase. */
    uint64_t app = r->t_app >= worker && r->t_app <= end ? r->t_app : worker;
    t->total = span(r->t_head, end);
    t->queue = span(r->t_head, worker);
    t->gil = span(worker, app);
    uint64_t in_app = span(app, end);
    /* send is measured inside the app phase; it cannot exceed it */
    t->send = r->t_send < in_app ? r->t_send : in_app;
    t->app = in_app - t->send;
    if (r->t_head == 0) /* never stamped: nothing meaningful to split */
        t->total = t->queue + t->gil + t->app + t->send;
}
