/*
 * The metrics area and its two renderings (gateway/stats.h). One shared anonymous
 * mapping holds a header, the master's restart counters and one slot per worker
 * process; it is created before any fork, so every process sees the same pages.
 *
 * Invariants: every field a worker or the master changes after start-up is a C11
 * atomic, updated with relaxed order (each one is an independent count, nothing is
 * published through them); readers sum slots at render time and may see a request
 * counted in one counter and not yet in another. Counters only grow; histogram
 * buckets are stored per bucket (not cumulative) and made cumulative when rendered.
 * `cur` (the current process's slot) is set before threads start and only read
 * afterwards.
 */
#include "gateway/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gateway/protocol.h"
#include "gateway/request.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free (shared mapping)");

enum { FE_HTTP, FE_FASTCGI, FE_SCGI, FE_UWSGI, FE_H2, FE_H2C, FE_OTHER, FE_N };
static const char *const fe_names[FE_N] = {"http", "fastcgi", "scgi", "uwsgi",
                                           "h2",   "h2c",     "other"};

/* class 0 is "other" (no status sent, or out of range) */
#define NCLASS 6
static const char *const class_names[NCLASS] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

enum { RS_EXIT, RS_SIGNAL, RS_STUCK, RS_MAXREQ, RS_MAXRSS, RS_RELOAD, RS_OTHER, RS_N };
static const char *const cause_names[RS_N] = {"exit",    "signal", "stuck", "max-requests",
                                              "max-rss", "reload", "other"};

enum { HS_OK, HS_FAILED, HS_TIMEOUT, HS_N };
static const char *const hs_names[HS_N] = {"ok", "failed", "timeout"};

/* Negotiated TLS versions: 1.0 .. 1.3 by the wire number's low byte (0x0301..0x0304),
 * anything else "other". Only 1.2 and 1.3 are rendered when zero. */
enum { TV_10, TV_11, TV_12, TV_13, TV_OTHER, TV_N };
static const char *const tv_names[TV_N] = {"1.0", "1.1", "1.2", "1.3", "other"};

/* Upper bounds (le) of the histogram buckets in ns; one more bucket is +Inf. */
#define NBOUND  12
#define NBUCKET (NBOUND + 1)
static const uint64_t bounds_ns[NBOUND] = {
    1000000ull,   5000000ull,   10000000ull,   25000000ull,   50000000ull,   100000000ull,
    250000000ull, 500000000ull, 1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull};
static const char *const bound_names[NBUCKET] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"};

/* Streams per HTTP/2 connection: upper bounds of the buckets; one more is +Inf. The
 * histograms are kept by frontend, h2 (index 0) and h2c (1). */
#define NSBOUND  10
#define NSBUCKET (NSBOUND + 1)
static const uint64_t stream_bounds[NSBOUND] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
static const char *const stream_bound_names[NSBUCKET] = {"1",   "2",   "5",   "10",   "20",  "50",
                                                         "100", "200", "500", "1000", "+Inf"};

struct hist {
    atomic_ullong bucket[NBUCKET];
    atomic_ullong sum_ns;
};

struct slot {
    atomic_int pid; /* 0: no process */
    atomic_int threads;
    atomic_int busy;
    atomic_long queued;
    atomic_long inflight;
    atomic_llong send_mem;   /* queued response bytes in memory (gateway/output.c) */
    atomic_llong send_spill; /* ... in temp files */
    atomic_ullong send_cut;  /* slow readers dropped for temp file room */
    atomic_ullong slow;      /* requests past --slow-log (their stack logged) */
    atomic_ullong handshakes[HS_N];
    atomic_ullong tls_resumed;
    atomic_ullong tls_versions[TV_N];
    atomic_ullong h2_conns;                /* connections that became HTTP/2 */
    atomic_ullong h2_streams[2][NSBUCKET]; /* closed h2 / h2c connections, by streams */
    atomic_ullong h2_streams_sum[2];
    atomic_ullong requests[FE_N][NCLASS];
    atomic_ullong bytes_in[FE_N];
    atomic_ullong bytes_out[FE_N];
    struct hist req_time;
    struct hist gil_wait;
};

struct area {
    int nslots;
    atomic_ullong restarts[RS_N];
    atomic_ullong reloads[2]; /* [0] failed, [1] done */
    atomic_int last_reload_failed;
    struct slot slots[];
};

static struct area *area;
static size_t area_len;
static struct slot *cur;

/* The reload counts of the previous image (gw_stats_reload_env), if any. */
static void import_reloads(void)
{
    const char *v = getenv(GW_STATS_RELOADS_ENV);
    unsigned long long failed, done;
    int last;
    if (v != NULL && sscanf(v, "%llu,%llu,%d", &failed, &done, &last) == 3) {
        atomic_store_explicit(&area->reloads[0], failed, memory_order_relaxed);
        atomic_store_explicit(&area->reloads[1], done, memory_order_relaxed);
        atomic_store_explicit(&area->last_reload_failed, last != 0, memory_order_relaxed);
    }
    unsetenv(GW_STATS_RELOADS_ENV);
}

int gw_stats_init(int nslots, char *err, size_t errlen)
{
    if (area != NULL) {
        snprintf(err, errlen, "stats: already initialised");
        return -1;
    }
    if (nslots < 1 || nslots > GW_STATS_MAX_SLOTS) {
        snprintf(err, errlen, "stats: %d worker slots (1..%d)", nslots, GW_STATS_MAX_SLOTS);
        return -1;
    }
    size_t len = sizeof(struct area) + (size_t)nslots * sizeof(struct slot);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "stats: cannot map the shared counters: %s", strerror(errno));
        return -1;
    }
    /* fresh anonymous pages are zero: every atomic starts at 0 */
    area = p;
    area_len = len;
    area->nslots = nslots;
    cur = &area->slots[0];
    import_reloads();
    return 0;
}

static void reset_gauges(struct slot *s)
{
    atomic_store_explicit(&s->threads, 0, memory_order_relaxed);
    atomic_store_explicit(&s->busy, 0, memory_order_relaxed);
    atomic_store_explicit(&s->queued, 0, memory_order_relaxed);
    atomic_store_explicit(&s->inflight, 0, memory_order_relaxed);
    atomic_store_explicit(&s->send_mem, 0, memory_order_relaxed);
    atomic_store_explicit(&s->send_spill, 0, memory_order_relaxed);
}

void gw_stats_set_slot(int slot)
{
    if (area == NULL || slot < 0 || slot >= area->nslots)
        return;
    cur = &area->slots[slot];
    reset_gauges(cur);
    atomic_store_explicit(&cur->pid, (int)getpid(), memory_order_relaxed);
}

void gw_stats_slot_exited(int slot)
{
    if (area == NULL || slot < 0 || slot >= area->nslots)
        return;
    reset_gauges(&area->slots[slot]);
    atomic_store_explicit(&area->slots[slot].pid, 0, memory_order_relaxed);
}

static uint64_t ld(atomic_ullong *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void add(atomic_ullong *a, uint64_t v)
{
    atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

void gw_stats_note_restart(const char *cause)
{
    if (area == NULL)
        return;
    int i = RS_OTHER;
    for (int k = 0; k < RS_OTHER; k++)
        if (cause != NULL && strcmp(cause, cause_names[k]) == 0)
            i = k;
    add(&area->restarts[i], 1);
}

void gw_stats_note_reload(int ok)
{
    if (area == NULL)
        return;
    add(&area->reloads[ok != 0], 1);
    atomic_store_explicit(&area->last_reload_failed, ok == 0, memory_order_relaxed);
}

const char *gw_stats_reload_env(void)
{
    static char text[96];
    if (area == NULL)
        return NULL;
    snprintf(text, sizeof(text), "%s=%llu,%llu,%d", GW_STATS_RELOADS_ENV,
             (unsigned long long)ld(&area->reloads[0]), (unsigned long long)ld(&area->reloads[1]),
             atomic_load_explicit(&area->last_reload_failed, memory_order_relaxed));
    return text;
}

static int fe_index(const char *name)
{
    for (int i = 0; i < FE_OTHER; i++)
        if (name != NULL && strcmp(name, fe_names[i]) == 0)
            return i;
    return FE_OTHER;
}

static int class_index(int status)
{
    return status >= 100 && status <= 599 ? status / 100 : 0;
}

static void hist_add(struct hist *h, uint64_t ns)
{
    int b = 0;
    while (b < NBOUND && ns > bounds_ns[b])
        b++;
    add(&h->bucket[b], 1);
    add(&h->sum_ns, ns);
}

void gw_stats_note_request(const struct gw_request *r)
{
    if (cur == NULL)
        return;
    struct gw_request_times t;
    gw_request_times(r, &t);
    int fe = fe_index(r->proto ? r->proto->name : NULL);
    /* The caller took r off the in-flight gauge first: a reader that sees r counted
     * (its acquire fence after the totals) sees the gauge without it. */
    atomic_thread_fence(memory_order_release);
    add(&cur->requests[fe][class_index(r->status)], 1);
    add(&cur->bytes_in[fe], r->bytes_in);
    add(&cur->bytes_out[fe], r->bytes_sent);
    hist_add(&cur->req_time, t.total);
    hist_add(&cur->gil_wait, t.gil);
}

void gw_stats_note_reject(const char *proto_name, int status)
{
    if (cur == NULL)
        return;
    add(&cur->requests[fe_index(proto_name)][class_index(status)], 1);
}

void gw_stats_note_h2_conn(void)
{
    if (cur == NULL)
        return;
    add(&cur->h2_conns, 1);
}

void gw_stats_note_h2_conn_end(const char *proto_name, uint64_t streams)
{
    if (cur == NULL)
        return;
    int fe = fe_index(proto_name);
    if (fe != FE_H2 && fe != FE_H2C)
        return;
    int b = 0;
    while (b < NSBOUND && streams > stream_bounds[b])
        b++;
    add(&cur->h2_streams[fe == FE_H2C][b], 1);
    add(&cur->h2_streams_sum[fe == FE_H2C], streams);
}

void gw_stats_note_handshake(enum gw_stats_handshake result, int version, int resumed)
{
    if (cur == NULL)
        return;
    int r = result == GW_STATS_HS_OK       ? HS_OK
            : result == GW_STATS_HS_FAILED ? HS_FAILED
                                           : HS_TIMEOUT;
    add(&cur->handshakes[r], 1);
    if (r != HS_OK)
        return;
    int v = version >= 0x0301 && version <= 0x0304 ? version - 0x0301 : TV_OTHER;
    add(&cur->tls_versions[v], 1);
    if (resumed)
        add(&cur->tls_resumed, 1);
}

void gw_stats_inflight_add(int delta)
{
    if (cur != NULL)
        atomic_fetch_add_explicit(&cur->inflight, delta, memory_order_relaxed);
}

void gw_stats_send_add(int64_t mem, int64_t spill)
{
    if (cur == NULL)
        return;
    if (mem != 0)
        atomic_fetch_add_explicit(&cur->send_mem, mem, memory_order_relaxed);
    if (spill != 0)
        atomic_fetch_add_explicit(&cur->send_spill, spill, memory_order_relaxed);
}

void gw_stats_send_cut(void)
{
    if (cur != NULL)
        add(&cur->send_cut, 1);
}

void gw_stats_note_slow(void)
{
    if (cur != NULL)
        add(&cur->slow, 1);
}

void gw_stats_queue_set(long depth)
{
    if (cur != NULL)
        atomic_store_explicit(&cur->queued, depth, memory_order_relaxed);
}

void gw_stats_threads_add(int delta)
{
    if (cur != NULL)
        atomic_fetch_add_explicit(&cur->threads, delta, memory_order_relaxed);
}

void gw_stats_busy_add(int delta)
{
    if (cur != NULL)
        atomic_fetch_add_explicit(&cur->busy, delta, memory_order_relaxed);
}

/* ---------------------------------------------------------------- rendering */

struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t ncap = b->cap * 2;
        while (ncap - b->len <= (size_t)k)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

/* The sums over every slot, read once so both renderings agree with themselves. */
struct snapshot {
    uint64_t requests[FE_N][NCLASS];
    uint64_t bytes_in[FE_N], bytes_out[FE_N];
    uint64_t req_bucket[NBUCKET], req_sum_ns, req_count;
    uint64_t gil_bucket[NBUCKET], gil_sum_ns, gil_count;
    uint64_t restarts[RS_N];
    uint64_t reloads[2];
    int last_reload_failed;
    uint64_t send_cut;
    uint64_t slow;
    uint64_t handshakes[HS_N], tls_resumed, tls_versions[TV_N];
    uint64_t h2_conns;
    uint64_t h2_streams[2][NSBUCKET], h2_streams_sum[2], h2_streams_count[2];
};

static void take_snapshot(struct snapshot *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < area->nslots; i++) {
        struct slot *sl = &area->slots[i];
        for (int f = 0; f < FE_N; f++) {
            for (int c = 0; c < NCLASS; c++)
                s->requests[f][c] += ld(&sl->requests[f][c]);
            s->bytes_in[f] += ld(&sl->bytes_in[f]);
            s->bytes_out[f] += ld(&sl->bytes_out[f]);
        }
        for (int b = 0; b < NBUCKET; b++) {
            s->req_bucket[b] += ld(&sl->req_time.bucket[b]);
            s->gil_bucket[b] += ld(&sl->gil_wait.bucket[b]);
        }
        s->req_sum_ns += ld(&sl->req_time.sum_ns);
        s->send_cut += ld(&sl->send_cut);
        s->slow += ld(&sl->slow);
        s->gil_sum_ns += ld(&sl->gil_wait.sum_ns);
        for (int h = 0; h < HS_N; h++)
            s->handshakes[h] += ld(&sl->handshakes[h]);
        s->tls_resumed += ld(&sl->tls_resumed);
        s->h2_conns += ld(&sl->h2_conns);
        for (int k = 0; k < 2; k++) {
            for (int b = 0; b < NSBUCKET; b++)
                s->h2_streams[k][b] += ld(&sl->h2_streams[k][b]);
            s->h2_streams_sum[k] += ld(&sl->h2_streams_sum[k]);
        }
        for (int v = 0; v < TV_N; v++)
            s->tls_versions[v] += ld(&sl->tls_versions[v]);
    }
    for (int b = 0; b < NBUCKET; b++) {
        s->req_count += s->req_bucket[b];
        s->gil_count += s->gil_bucket[b];
    }
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < NSBUCKET; b++)
            s->h2_streams_count[k] += s->h2_streams[k][b];
    for (int i = 0; i < RS_N; i++)
        s->restarts[i] = ld(&area->restarts[i]);
    s->reloads[0] = ld(&area->reloads[0]);
    s->reloads[1] = ld(&area->reloads[1]);
    s->last_reload_failed = atomic_load_explicit(&area->last_reload_failed, memory_order_relaxed);
}

struct proc_view {
    int slot, pid, threads, busy;
    long queued, inflight;
    long long send_mem, send_spill;
    long long rss; /* bytes, -1 when unknown */
};

/* Resident set size of pid from /proc/PID/statm (pages -> bytes), or -1. */
static long long read_rss(int pid)
{
    char path[64], text[128];
    snprintf(path, sizeof(path), "/proc/%d/statm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    unsigned long long size, resident;
    if (sscanf(text, "%llu %llu", &size, &resident) != 2)
        return -1;
    long page = sysconf(_SC_PAGESIZE);
    return (long long)resident * (page > 0 ? page : 4096);
}

/* Fills v for slot i; 0 when no process owns the slot. */
static int view_slot(int i, struct proc_view *v)
{
    struct slot *sl = &area->slots[i];
    v->slot = i;
    v->pid = atomic_load_explicit(&sl->pid, memory_order_relaxed);
    if (v->pid == 0)
        return 0;
    v->threads = atomic_load_explicit(&sl->threads, memory_order_relaxed);
    v->busy = atomic_load_explicit(&sl->busy, memory_order_relaxed);
    if (v->busy > v->threads)
        v->busy = v->threads;
    if (v->busy < 0)
        v->busy = 0;
    v->queued = atomic_load_explicit(&sl->queued, memory_order_relaxed);
    v->inflight = atomic_load_explicit(&sl->inflight, memory_order_relaxed);
    v->send_mem = atomic_load_explicit(&sl->send_mem, memory_order_relaxed);
    v->send_spill = atomic_load_explicit(&sl->send_spill, memory_order_relaxed);
    v->rss = read_rss(v->pid);
    return 1;
}

static void prom_head(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_hist(struct sbuf *b, const char *name, const char *help, const uint64_t *bucket,
                      uint64_t sum_ns, uint64_t count)
{
    uint64_t acc = 0;
    prom_head(b, name, "histogram", help);
    for (int i = 0; i < NBUCKET; i++) {
        acc += bucket[i];
        sb_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, bound_names[i], (unsigned long long)acc);
    }
    sb_printf(b, "%s_sum %.9f\n%s_count %llu\n", name, (double)sum_ns / 1e9, name,
              (unsigned long long)count);
}

static void render_prometheus(struct sbuf *b, const struct snapshot *s)
{
    prom_head(b, "wsgate_requests_total", "counter",
              "Requests answered, by front-end and status class (worker and loop replies).");
    for (int f = 0; f < FE_N; f++)
        for (int c = 0; c < NCLASS; c++)
            if ((f != FE_OTHER && c != 0) || s->requests[f][c] != 0)
                sb_printf(b, "wsgate_requests_total{frontend=\"%s\",status=\"%s\"} %llu\n",
                          fe_names[f], class_names[c], (unsigned long long)s->requests[f][c]);
    prom_head(b, "wsgate_bytes_in_total", "counter",
              "Request body bytes read by the app, by front-end.");
    for (int f = 0; f < FE_OTHER; f++)
        sb_printf(b, "wsgate_bytes_in_total{frontend=\"%s\"} %llu\n", fe_names[f],
                  (unsigned long long)s->bytes_in[f]);
    prom_head(b, "wsgate_bytes_out_total", "counter", "Response body bytes sent, by front-end.");
    for (int f = 0; f < FE_OTHER; f++)
        sb_printf(b, "wsgate_bytes_out_total{frontend=\"%s\"} %llu\n", fe_names[f],
                  (unsigned long long)s->bytes_out[f]);
    prom_hist(b, "wsgate_request_duration_seconds",
              "Time from a complete request head to the end of the response.", s->req_bucket,
              s->req_sum_ns, s->req_count);
    prom_hist(b, "wsgate_gil_wait_seconds",
              "Time a worker thread waited for the GIL before calling the app.", s->gil_bucket,
              s->gil_sum_ns, s->gil_count);
    prom_head(b, "wsgate_worker_restarts_total", "counter",
              "Worker processes restarted by the master, by cause.");
    for (int i = 0; i < RS_N; i++)
        sb_printf(b, "wsgate_worker_restarts_total{cause=\"%s\"} %llu\n", cause_names[i],
                  (unsigned long long)s->restarts[i]);
    prom_head(b, "wsgate_reloads_total", "counter",
              "Reloads (SIGHUP; --max-requests of a single process), by result.");
    sb_printf(b, "wsgate_reloads_total{result=\"done\"} %llu\n", (unsigned long long)s->reloads[1]);
    sb_printf(b, "wsgate_reloads_total{result=\"failed\"} %llu\n",
              (unsigned long long)s->reloads[0]);
    prom_head(b, "wsgate_send_dropped_total", "counter",
              "Slow readers dropped to keep the temp files under --send-spill.");
    sb_printf(b, "wsgate_send_dropped_total %llu\n", (unsigned long long)s->send_cut);
    prom_head(b, "wsgate_slow_requests_total", "counter",
              "Requests still in the app after --slow-log (their stack was logged).");
    sb_printf(b, "wsgate_slow_requests_total %llu\n", (unsigned long long)s->slow);
    prom_head(b, "wsgate_tls_handshakes_total", "counter",
              "TLS handshakes on the https listeners, by result.");
    for (int h = 0; h < HS_N; h++)
        sb_printf(b, "wsgate_tls_handshakes_total{result=\"%s\"} %llu\n", hs_names[h],
                  (unsigned long long)s->handshakes[h]);
    prom_head(b, "wsgate_h2_connections_total", "counter",
              "Connections that became HTTP/2 (h2 by ALPN, h2c); their streams are "
              "wsgate_requests_total{frontend=\"h2\"} and {frontend=\"h2c\"}.");
    sb_printf(b, "wsgate_h2_connections_total %llu\n", (unsigned long long)s->h2_conns);
    prom_head(b, "wsgate_h2_streams_per_connection", "histogram",
              "Streams the client opened on an HTTP/2 connection, observed when it closes, "
              "by frontend (h2: TLS, h2c: cleartext).");
    for (int k = 0; k < 2; k++) {
        const char *fe = fe_names[k ? FE_H2C : FE_H2];
        uint64_t acc = 0;
        for (int i = 0; i < NSBUCKET; i++) {
            acc += s->h2_streams[k][i];
            sb_printf(b,
                      "wsgate_h2_streams_per_connection_bucket{frontend=\"%s\",le=\"%s\"} %llu\n",
                      fe, stream_bound_names[i], (unsigned long long)acc);
        }
        sb_printf(b, "wsgate_h2_streams_per_connection_sum{frontend=\"%s\"} %llu\n", fe,
                  (unsigned long long)s->h2_streams_sum[k]);
        sb_printf(b, "wsgate_h2_streams_per_connection_count{frontend=\"%s\"} %llu\n", fe,
                  (unsigned long long)s->h2_streams_count[k]);
    }
    prom_head(b, "wsgate_tls_resumed_total", "counter",
              "TLS handshakes done that resumed a session.");
    sb_printf(b, "wsgate_tls_resumed_total %llu\n", (unsigned long long)s->tls_resumed);
    prom_head(b, "wsgate_tls_versions_total", "counter",
              "TLS handshakes done, by negotiated protocol version.");
    for (int v = 0; v < TV_N; v++)
        if (v == TV_12 || v == TV_13 || s->tls_versions[v] != 0)
            sb_printf(b, "wsgate_tls_versions_total{version=\"%s\"} %llu\n", tv_names[v],
                      (unsigned long long)s->tls_versions[v]);
    prom_head(b, "wsgate_last_reload_failed", "gauge",
              "1 when the last reload failed (the old code serves), else 0.");
    sb_printf(b, "wsgate_last_reload_failed %d\n", s->last_reload_failed);

    /* per-process gauges */
    static const struct {
        const char *name, *help;
    } gauges[] = {
        {"wsgate_worker_threads", "Worker threads of a process, by state (busy or idle)."},
        {"wsgate_requests_in_flight", "Requests dispatched to a process's pool whose app "
                                      "has not yet returned."},
        {"wsgate_queue_depth", "Requests waiting in a process's queue for a free thread."},
        {"wsgate_worker_rss_bytes", "Resident set size of a worker process."},
        {"wsgate_send_queued_bytes", "Response bytes a process holds for slow readers, by "
                                     "where (memory or temp files)."},
    };
    int nlive = 0;
    for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        prom_head(b, gauges[g].name, "gauge", gauges[g].help);
        for (int i = 0; i < area->nslots; i++) {
            struct proc_view v;
            if (!view_slot(i, &v))
                continue;
            nlive += g == 0;
            const char *n = gauges[g].name;
            if (g == 0) {
                sb_printf(b, "%s{worker=\"%d\",pid=\"%d\",state=\"busy\"} %d\n", n, i, v.pid,
                          v.busy);
                sb_printf(b, "%s{worker=\"%d\",pid=\"%d\",state=\"idle\"} %d\n", n, i, v.pid,
                          v.threads - v.busy);
            } else if (g == 1) {
                sb_printf(b, "%s{worker=\"%d\",pid=\"%d\"} %ld\n", n, i, v.pid, v.inflight);
            } else if (g == 2) {
                sb_printf(b, "%s{worker=\"%d\",pid=\"%d\"} %ld\n", n, i, v.pid, v.queued);
            } else if (g == 3) {
                if (v.rss >= 0)
                    sb_printf(b, "%s{worker=\"%d\",pid=\"%d\"} %lld\n", n, i, v.pid, v.rss);
            } else {
                sb_printf(b, "%s{worker=\"%d\",pid=\"%d\",where=\"memory\"} %lld\n", n, i, v.pid,
                          v.send_mem);
                sb_printf(b, "%s{worker=\"%d\",pid=\"%d\",where=\"file\"} %lld\n", n, i, v.pid,
                          v.send_spill);
            }
        }
    }
    prom_head(b, "wsgate_workers", "gauge", "Worker processes currently running.");
    sb_printf(b, "wsgate_workers %d\n", nlive);
}

static void json_hist(struct sbuf *b, const char *name, const uint64_t *bucket, uint64_t sum_ns,
                      uint64_t count)
{
    uint64_t acc = 0;
    sb_printf(b, "\"%s\":{\"buckets\":{", name);
    for (int i = 0; i < NBUCKET; i++) {
        acc += bucket[i];
        sb_printf(b, "%s\"%s\":%llu", i ? "," : "", bound_names[i], (unsigned long long)acc);
    }
    sb_printf(b, "},\"sum\":%.9f,\"count\":%llu}", (double)sum_ns / 1e9, (unsigned long long)count);
}

static void render_json(struct sbuf *b, const struct snapshot *s)
{
    sb_printf(b, "{\"requests\":{");
    for (int f = 0; f < FE_N; f++) {
        sb_printf(b, "%s\"%s\":{", f ? "," : "", fe_names[f]);
        for (int c = 0; c < NCLASS; c++)
            sb_printf(b, "%s\"%s\":%llu", c ? "," : "", class_names[c],
                      (unsigned long long)s->requests[f][c]);
        sb_printf(b, "}");
    }
    sb_printf(b, "},\"bytes_in\":{");
    for (int f = 0; f < FE_N; f++)
        sb_printf(b, "%s\"%s\":%llu", f ? "," : "", fe_names[f],
                  (unsigned long long)s->bytes_in[f]);
    sb_printf(b, "},\"bytes_out\":{");
    for (int f = 0; f < FE_N; f++)
        sb_printf(b, "%s\"%s\":%llu", f ? "," : "", fe_names[f],
                  (unsigned long long)s->bytes_out[f]);
    sb_printf(b, "},");
    json_hist(b, "request_duration_seconds", s->req_bucket, s->req_sum_ns, s->req_count);
    sb_printf(b, ",");
    json_hist(b, "gil_wait_seconds", s->gil_bucket, s->gil_sum_ns, s->gil_count);
    sb_printf(b, ",\"restarts\":{");
    for (int i = 0; i < RS_N; i++)
        sb_printf(b, "%s\"%s\":%llu", i ? "," : "", cause_names[i],
                  (unsigned long long)s->restarts[i]);
    sb_printf(b, "},\"send_dropped\":%llu", (unsigned long long)s->send_cut);
    sb_printf(b, ",\"slow_requests\":%llu", (unsigned long long)s->slow);
    sb_printf(b, ",\"reloads\":{\"done\":%llu,\"failed\":%llu,\"last_failed\":%s}",
              (unsigned long long)s->reloads[1], (unsigned long long)s->reloads[0],
              s->last_reload_failed ? "true" : "false");
    sb_printf(b, ",\"h2_connections\":%llu", (unsigned long long)s->h2_conns);
    sb_printf(b, ",\"h2_streams_per_connection\":{");
    for (int k = 0; k < 2; k++) {
        uint64_t acc = 0;
        sb_printf(b, "%s\"%s\":{\"buckets\":{", k ? "," : "", fe_names[k ? FE_H2C : FE_H2]);
        for (int i = 0; i < NSBUCKET; i++) {
            acc += s->h2_streams[k][i];
            sb_printf(b, "%s\"%s\":%llu", i ? "," : "", stream_bound_names[i],
                      (unsigned long long)acc);
        }
        sb_printf(b, "},\"sum\":%llu,\"count\":%llu}", (unsigned long long)s->h2_streams_sum[k],
                  (unsigned long long)s->h2_streams_count[k]);
    }
    sb_printf(b, "}");
    sb_printf(b, ",\"tls\":{\"handshakes\":{");
    for (int h = 0; h < HS_N; h++)
        sb_printf(b, "%s\"%s\":%llu", h ? "," : "", hs_names[h],
                  (unsigned long long)s->handshakes[h]);
    sb_printf(b, "},\"resumed\":%llu,\"versions\":{", (unsigned long long)s->tls_resumed);
    for (int v = 0, first = 1; v < TV_N; v++)
        if (v == TV_12 || v == TV_13 || s->tls_versions[v] != 0) {
            sb_printf(b, "%s\"%s\":%llu", first ? "" : ",", tv_names[v],
                      (unsigned long long)s->tls_versions[v]);
            first = 0;
        }
    sb_printf(b, "}}");
    sb_printf(b, ",\"workers\":[");
    int first = 1;
    for (int i = 0; i < area->nslots; i++) {
        struct proc_view v;
        if (!view_slot(i, &v))
            continue;
        sb_printf(b,
                  "%s{\"worker\":%d,\"pid\":%d,\"threads\":%d,\"busy\":%d,\"idle\":%d,"
                  "\"inflight\":%ld,\"queued\":%ld,\"send_memory_bytes\":%lld,"
                  "\"send_file_bytes\":%lld,\"rss_bytes\":",
                  first ? "" : ",", i, v.pid, v.threads, v.busy, v.threads - v.busy, v.inflight,
                  v.queued, v.send_mem, v.send_spill);
        if (v.rss >= 0)
            sb_printf(b, "%lld}", v.rss);
        else
            sb_printf(b, "null}");
        first = 0;
    }
    sb_printf(b, "]}\n");
}

char *gw_stats_render(int json, size_t *len)
{
    struct sbuf b = {.cap = 8192};
    struct snapshot s;
    if (area == NULL)
        return NULL;
    b.p = malloc(b.cap);
    if (b.p == NULL)
        return NULL;
    take_snapshot(&s);
    atomic_thread_fence(memory_order_acquire); /* the gauges after the totals */
    if (json)
        render_json(&b, &s);
    else
        render_prometheus(&b, &s);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
