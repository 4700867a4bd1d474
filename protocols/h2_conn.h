/*
 * The HTTP/2 front-end's state, shared by its files (internal to protocols/):
 * h2.c (the table: the loop's side and the connection's life), h2_session.c (the
 * nghttp2 session: callbacks in, frames out), h2_request.c (a stream's header block
 * into the normalized request) and h2_response.c (the worker's side: body reads, the
 * response head and DATA, the end, the watchdog's 504).
 *
 * nghttp2 does the framing, HPACK, flow-control accounting and the stream state
 * machine. Its session is not thread-safe, so every call into it, from the loop
 * (bytes in, flush) or from a worker (response bytes, window updates as the app reads
 * its body), is made under the connection's one lock, hc->lock, as FastCGI's workers
 * write under its wlock. The lock is a leaf: never held while taking the GIL, a server
 * lock, or waiting for anything but a stream's condition variable (which releases it).
 */
#ifndef GW_H2_CONN_H
#define GW_H2_CONN_H

#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdint.h>

#include "gateway/conn.h"
#include "gateway/output.h"
#include "gateway/request.h"
#include "gateway/tls.h"
#include "protocols/http_parse.h"

/* SETTINGS_MAX_CONCURRENT_STREAMS we announce. */
#define GW_H2_MAX_STREAMS 100

/* Frames gathered into one send by gw_h2_pump (on its caller's stack). */
#define GW_H2_BATCH (64 * 1024)

/* The connection's receive window: body bytes of all its streams that the apps have
 * not read yet (each stream has the protocol's initial 65,535). */
#define GW_H2_CONN_WINDOW (1024 * 1024)
/* A stream's body buffer: its window (the initial 65,535) unread, plus bytes read
 * but not yet moved down (see on_data_chunk). */
#define GW_H2_BODY_CAP (4 * 65536)
/* Response bytes one stream holds while the peer's window is closed; its worker
 * waits (up to --send-timeout) past it. The connection's streams together hold at
 * most GW_H2_CONN_OUT. */
#define GW_H2_STREAM_OUT (256 * 1024)
#define GW_H2_CONN_OUT   (4 * 1024 * 1024)

/* The defences (docs/hostile-inputs.md, Q01-Q10). Past any of them the connection
 * gets GOAWAY ENHANCE_YOUR_CALM and is closed; its streams' apps see failed reads.
 *
 * Rapid Reset (CVE-2023-44487): RST_STREAM frames from the peer, a token bucket of
 * GW_H2_RESET_BURST refilled at GW_H2_RESET_RATE a second (below nghttp2's own 1000
 * and 33, which stay as a backstop). A stream reset before its dispatch never reaches
 * a worker; one reset while its app runs still counts against GW_H2_MAX_STREAMS
 * until the app is done, so a new stream past that is refused (REFUSED_STREAM). */
#define GW_H2_RESET_BURST 200
#define GW_H2_RESET_RATE  33
/* Frames that bring no request but cost work: SETTINGS, PING, PRIORITY,
 * WINDOW_UPDATE, and DATA frames that are empty and do not end their stream. Each
 * DATA frame we send gives a token back (a reader's WINDOW_UPDATEs follow our DATA). */
#define GW_H2_CTRL_BURST 1000
#define GW_H2_CTRL_RATE  100
/* A header block whose decoded size passes --max-header-size is answered 431; a
 * stream whose header fields (trailers included) pass this many times it (an HPACK
 * bomb: a table entry referenced thousands of times) ends the connection. nghttp2 allows at most 8
 * CONTINUATION frames after a HEADERS frame. */
#define GW_H2_HEAD_ABUSE 2

/* A token bucket: at most burst tokens, rate more a second. */
struct h2_bucket {
    double tokens;
    uint64_t at_ns;
};

struct h2_conn;

struct h2_stream {
    struct gw_request req;         /* first: the core's view */
    struct h2_stream *next, *prev; /* hc->streams */
    struct h2_stream *next_ready;  /* hc->ready: complete heads awaiting dispatch */
    struct h2_stream *next_dead;   /* hc->dead: perhaps free to be freed (reap) */
    int on_ready;                  /* on hc->ready */
    int on_dead;                   /* on hc->dead */
    struct h2_conn *hc;
    int32_t id;

    /* The header block as it arrives (loop, under lock): the pseudo-headers, the
     * regular fields as HTTP/1.1 lines, the cookies joined with "; ". */
    struct gw_buf method, path, authority;
    struct gw_buf fields, cookie;
    size_t head_bytes; /* as SETTINGS_MAX_HEADER_LIST_SIZE counts them */
    size_t nfields;
    int have_host;
    int too_big;     /* past --max-header-size or --max-headers: 431 */
    int headers_end; /* the request's header block is complete */

    /* The normalized request (h2_request.c): slices point into these. */
    struct gw_buf text; /* the head written out as HTTP/1.1, parsed once */
    struct gw_field *hfields;
    struct gw_http_head hd;
    char *decoded; /* the percent-decoded path */
    char server_name[256];
    struct gw_field vars[GW_TLS_NVARS + 1]; /* the transport's, then HTTPS from a proxy */

    /* The body (under lock): bytes received and not read by the app; never more than
     * the stream's window, since the window opens only as the app reads. */
    pthread_cond_t cond; /* body bytes, output room, the stream's end */
    struct gw_buf body;
    int body_eof;
    int body_err;      /* GW_E* of the stream's input (reset, too large) */
    uint64_t body_in;  /* DATA bytes received */
    uint64_t body_out; /* handed to the app */
    uint64_t consumed; /* given back to the windows (nghttp2_session_consume) */
    int expect_continue;
    int continue_sent;

    /* The response (worker, under lock for what the session reads). */
    nghttp2_nv *nva; /* send_head's: :status, the app's kept fields, Server, Date */
    size_t nnv;
    char *nv_text;     /* the names (lower-cased) and values nva points into */
    int submitted;     /* the HEADERS are with the session */
    struct gw_buf out; /* DATA bytes waiting for the peer's window */
    int out_eof;       /* the last of them: END_STREAM follows */
    int finished;      /* finish or the watchdog ended the response */
    int app_done;      /* the app returned (finish; not the watchdog's 504), or its
                        * response is complete (its Content-Length is out) */

    /* Life: freed by the loop once nghttp2 closed it and no worker has it. These flags
     * and on_ready, headers_end and app_done change only through gw_h2_mark. */
    int closed;     /* nghttp2 closed the stream (on_stream_close) */
    int dispatched; /* handed to the pool; handed_back once it came back */
    int handed_back;
};

struct h2_conn {
    nghttp2_session *s;
    pthread_mutex_t lock;
    struct gw_conn *c;
    struct h2_stream *streams;
    struct h2_stream *ready, *ready_last;
    struct h2_stream *dead;        /* streams that became free to be freed (gw_h2_mark) */
    long held;                     /* streams that count against GW_H2_MAX_STREAMS (gw_h2_holds) */
    long heads;                    /* streams whose header block is still arriving */
    struct gw_out out;             /* frames the socket did not take (at most a batch) */
    size_t out_held;               /* DATA bytes all streams hold (under lock) */
    int goaway;                    /* GOAWAY submitted (graceful stop) */
    int failed;                    /* the session failed: no more calls but the delete */
    int read_ended;                /* the peer's side is closed: no WINDOW_UPDATE will come */
    int ended;                     /* the session was terminated (GOAWAY with an error): the
                                    * connection closes once that is out; streams are gone */
    int error_sent;                /* a GOAWAY with an error went out */
    struct h2_bucket resets, ctrl; /* the rate limits above */
    uint64_t opened;               /* streams the client opened (request HEADERS), refused
                                    * ones too: the metrics' streams per connection */
};

/* Under lock: 1 while st counts against GW_H2_MAX_STREAMS: open in the session, or
 * closed (reset) while its app still runs (Rapid Reset must not queue app work past
 * the limit). A stream whose response is complete (app_done) is free as soon as the
 * session closes it, before its worker hands it back: the client, which saw it end,
 * may open the next one at once. */
static inline int gw_h2_holds(const struct h2_stream *st)
{
    return !st->closed || (st->dispatched && !st->handed_back && !st->app_done);
}

/* Under lock: 1 while st's request header block is still arriving (the head's
 * --read-timeout then applies to the connection). */
static inline int gw_h2_heading(const struct h2_stream *st)
{
    return !st->headers_end && !st->closed;
}

/* Under lock: 1 once the loop may free st: nghttp2 has closed it, it waits for no
 * dispatch, and no worker has it. */
static inline int gw_h2_freeable(const struct h2_stream *st)
{
    return st->closed && !st->on_ready && (!st->dispatched || st->handed_back);
}

/* h2.c */

/* Loop: c, an HTTP/1.1 connection with no request in flight, becomes HTTP/2: the
 * HTTP/1.1 state is freed, the session made with our SETTINGS queued, and first[0..n)
 * (the 101 of an upgrade; n may be 0) goes out before any frame. 0, or GW_E* (c is
 * then to be closed). */
int gw_h2_switch(struct gw_conn *c, const char *first, size_t n);

/* Frees a stream struct and all it holds (the loop, or its maker before attaching). */
void gw_h2_stream_free(struct h2_stream *st);

/* h2_session.c */

/* A zeroed stream struct with its condition variable, or NULL (no memory). */
struct h2_stream *gw_h2_stream_new(void);

/* Under lock: st becomes stream id of hc (its user data in the session, on the list
 * of hc's streams, freed by the loop from now on). */
void gw_h2_stream_attach(struct h2_conn *hc, struct h2_stream *st, int32_t id);

/* Under lock: sets *flag, one of st's closed, on_ready, dispatched, handed_back,
 * app_done or headers_end, to v, keeping hc's counts (held, heads) in step and
 * putting st on hc->dead when it becomes free to be freed. O(1): nothing walks the
 * streams per request. */
void gw_h2_mark(struct h2_conn *hc, struct h2_stream *st, int *flag, int v);

/* Under lock: st's request is complete: it joins the streams awaiting dispatch. */
void gw_h2_ready(struct h2_conn *hc, struct h2_stream *st);

/* Loop: a server session for c with our SETTINGS queued. 0 or GW_E*. */
int gw_h2_session_open(struct h2_conn *hc);

/* Under lock, any thread: hands the session's frames to the socket as far as it
 * takes them now. 0: all out; 1: bytes wait for the socket (ask the loop for
 * gw_conn_want_write after unlocking); GW_E*: the connection failed. */
int gw_h2_pump(struct h2_conn *hc);

/* Under lock (nghttp2 calls it while sending): the DATA source of a response,
 * source->ptr its stream: what st->out holds, END_STREAM after out_eof. */
ssize_t gw_h2_data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *source, void *user);

/* Under lock: ends the session with GOAWAY code (ENHANCE_YOUR_CALM for the
 * defences, PROTOCOL_ERROR...; NO_ERROR: nghttp2 has already sent its own), logging
 * why at info; fails the body reads of all its streams. Callable from nghttp2's
 * callbacks. */
void gw_h2_end(struct h2_conn *hc, uint32_t code, const char *why);

/* h2_request.c */

/* Loop, under lock: st's header block is complete: fills st->req. 0, or the status
 * to answer the stream with (400, 404, 414, 431, 501...). */
int gw_h2_build_request(struct gw_conn *c, struct h2_stream *st, int end_stream);

/* h2_response.c */
ssize_t gw_h2_read_body(struct gw_request *r, char *buf, size_t len);
int gw_h2_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                    size_t n);
int gw_h2_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept);
int gw_h2_finish(struct gw_request *r, int ok);
int gw_h2_timeout(struct gw_request *r);
/* Worker, before the app: 1 when the stream is already gone (reset while queued). */
int gw_h2_abandoned(struct gw_request *r);
/* Under lock: a complete short answer (status, text body) on stream id, from the
 * loop (a refused head) or the watchdog. 0 or GW_E*. */
int gw_h2_submit_status(struct h2_conn *hc, struct h2_stream *st, int status);

#endif
