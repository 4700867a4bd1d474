/*
 * Metrics: counters and gauges in one shared anonymous mapping, and their two
 * renderings (Prometheus text and JSON). The small HTTP responder that serves them
 * (--stats ADDR) is process management's: process/stats_http.h.
 *
 * The mapping is made once, before any fork, by gw_stats_init: one slot per worker
 * process (slot 0 in single-process mode; in prefork the master gives worker i the
 * slot i, reused by its replacement) plus a master area for restart counts. Every
 * counter is a C11 atomic updated with relaxed order, so any thread of any process
 * updates it without a lock; the responder only reads. Counters are never reset
 * (a replacement worker keeps adding to its slot's counters); gauges are reset by
 * gw_stats_set_slot.
 *
 * Every gw_stats_note_* function is a cheap no-op before gw_stats_init (no --stats).
 */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stddef.h>
#include <stdint.h>

struct gw_request;

/* Master / main thread, before any fork or thread: maps the shared area with nslots
 * worker slots (1..GW_STATS_MAX_SLOTS) and makes slot 0 the current one. Returns 0
 * or -1 with one line in err. */
#define GW_STATS_MAX_SLOTS 256
int gw_stats_init(int nslots, char *err, size_t errlen);

/* Worker process, right after fork and before its threads start: this process now
 * owns slot (0..nslots-1): records getpid() there and resets the slot's gauges
 * (threads, busy, queue depth, in-flight). Out-of-range slots are ignored. */
void gw_stats_set_slot(int slot);

/* Master: the worker in slot has exited (before its replacement starts): clears its
 * pid and gauges so /metrics stops reporting it. */
void gw_stats_slot_exited(int slot);

/* Master: counts a worker restart. cause is one of "exit", "signal", "stuck",
 * "max-requests", "max-rss", "reload"; anything else counts as "other". */
void gw_stats_note_restart(const char *cause);

/* The process that reloads (the prefork master, or a single process): a reload
 * ended, ok = 1 when the new code serves, 0 when it failed and the old code goes on. */
void gw_stats_note_reload(int ok);

/* The reload counts as "NAME=VALUE" for the environment of the next image of this
 * process (a re-execution), which gw_stats_init reads back, so they survive it (a
 * static buffer, valid until the next call); NULL before gw_stats_init. */
#define GW_STATS_RELOADS_ENV "WSGATE_RELOADS"
const char *gw_stats_reload_env(void);

/* Worker thread, after gw_request_finish: counts a finished request (by front-end
 * and status class), its body bytes in and out, and its total and GIL-wait times in
 * the histograms. */
void gw_stats_note_request(const struct gw_request *r);

/* Loop thread: a request answered on the loop without reaching a worker (503 when
 * the queue is full, 408 head timeout, a request the front-end's parser refused:
 * 400, 413, 431, 501...). proto_name is the front-end's name. */
void gw_stats_note_reject(const char *proto_name, int status);

/* TLS handshakes: how one ended. */
enum gw_stats_handshake {
    GW_STATS_HS_OK,      /* done: a session to serve requests on */
    GW_STATS_HS_FAILED,  /* refused or broken off by either side, after the peer sent bytes */
    GW_STATS_HS_TIMEOUT, /* not done within --read-timeout (silent peers included) */
};

/* Loop thread: a TLS handshake ended with result (gateway/tls.c; the deadline in
 * gateway/server_read.c). For GW_STATS_HS_OK, version is the negotiated protocol's wire
 * number (0x0303 for TLS 1.2, 0x0304 for TLS 1.3) and resumed is 1 when the client
 * resumed a session; both are ignored otherwise. A peer that closes without sending
 * a byte (a TCP health check) started no handshake and is not counted. */
void gw_stats_note_handshake(enum gw_stats_handshake result, int version, int resumed);

/* Loop thread: a connection became HTTP/2 (protocols/h2.c). */
void gw_stats_note_h2_conn(void);

/* Loop thread: an HTTP/2 connection closed after its client opened streams streams;
 * proto_name is "h2" (TLS) or "h2c" (cleartext), anything else is ignored. One
 * histogram observation per connection (wsgate_h2_streams_per_connection). */
void gw_stats_note_h2_conn_end(const char *proto_name, uint64_t streams);

/* Gauges of the current process's slot (any thread). */
void gw_stats_inflight_add(int delta); /* loop: dispatched (+1); worker: carried (+1,
                                          gateway/carry.c), run (-1, gateway/pool.c) */
void gw_stats_queue_set(long depth);   /* pool: requests waiting for a thread */
void gw_stats_threads_add(int delta);  /* pool: a worker thread started / stopped */
void gw_stats_busy_add(int delta);     /* pool: a thread took (+1) / ended (-1) a request */
/* Output queues (gateway/output.c), any thread: response bytes held for slow readers
 * in memory / temp files changed by these amounts; a slow reader was dropped. */
void gw_stats_send_add(int64_t mem, int64_t spill);
void gw_stats_send_cut(void);
void gw_stats_note_slow(void); /* watchdog: a request's stack was logged (--slow-log) */

/* Any thread: the metrics as Prometheus text (json = 0) or one JSON object (json =
 * 1), summed over every slot. Returns a malloc'd buffer the caller frees, its length
 * in *len; NULL before gw_stats_init or when out of memory. Never takes the GIL. */
char *gw_stats_render(int json, size_t *len);

#endif
