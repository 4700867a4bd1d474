/*
 * The FastCGI front-end's state, shared by its two files: fastcgi.c (records in:
 * requests, PARAMS, the STDIN pipes, the worker's side of a response) and
 * fastcgi_write.c (records out: every record goes through a queue, the queues of a
 * connection take turns record by record). Internal to protocols/.
 *
 * Locks: fc->lock guards the requests' body pipes (and abort flags); fc->wlock the
 * output: every turn's queue, the connection's list of turns with bytes, and the
 * socket's write side. Both are leaves (never held together, nor with the GIL or a
 * server lock).
 */
#ifndef GW_FASTCGI_CONN_H
#define GW_FASTCGI_CONN_H

#include <pthread.h>
#include <stdint.h>

#include "gateway/conn.h"
#include "gateway/output.h"
#include "gateway/request.h"
#include "protocols/fastcgi_parse.h"

/* Requests one connection may carry at once; more get FCGI_OVERLOADED. */
#define GW_FCGI_MAX_REQS_PER_CONN 64
/* STDIN bytes buffered for one request before the loop stops reading the
 * connection (flow control), and the level at which it reads again. */
#define GW_FCGI_BODY_HIGH (256 * 1024)
#define GW_FCGI_BODY_LOW  (64 * 1024)
/* Content bytes of one FCGI_STDERR record: small enough for a front server's 16 KiB
 * read buffer, see gw_fcgi_send_stderr. */
#define GW_FCGI_STDERR_CHUNK 8184

/* An output queue and its place in the connection's turns (all under fc->wlock). */
struct fcgi_turn {
    struct gw_out out;
    struct fcgi_turn *next; /* in fc->turns while queued */
    int queued;             /* it holds bytes and is in fc->turns */
    int gone;               /* its request was handed back: freed once its bytes are out */
};

enum req_state { REQ_PARAMS, REQ_RUNNING };

struct fcgi_req {
    struct gw_request req; /* first: the core's view */
    struct fcgi_req *next; /* the connection's list (loop thread only) */
    uint16_t id;
    int keep_conn;
    enum req_state state;
    struct gw_fcgi_params params; /* its decoder holds the pairs (the request's vars) */
    char *scratch;

    /* body pipe, under fc->lock */
    pthread_cond_t body_cond;
    struct gw_buf body;
    int body_eof;      /* the empty STDIN record arrived */
    int aborted;       /* FCGI_ABORT_REQUEST, or the connection died */
    int paused_conn;   /* this request's backlog paused the connection */
    int finished;      /* its END_REQUEST is queued: the id is free again; set with an
                          atomic store (the output side reads it under wlock only) */
    uint64_t body_in;  /* STDIN bytes accepted (at most CONTENT_LENGTH) */
    uint64_t body_out; /* bytes handed to the app */

    /* response (worker only; the core's view of it is req.resp) */
    struct gw_buf head;
    int head_sent;
    struct fcgi_turn turn; /* its records on their way out */
};

struct fcgi_conn {
    struct gw_fcgi_parser p;
    pthread_mutex_t lock;
    pthread_mutex_t wlock;
    struct fcgi_req *reqs;
    struct fcgi_req *cur; /* the request the current record belongs to, or NULL */
    unsigned nreqs;

    /* output, under wlock */
    struct fcgi_turn ctl;           /* the loop's own records (management, refusals) */
    struct fcgi_turn *turns, *last; /* queues with bytes, in turn order */
    int reap;                       /* a gone turn emptied: the loop should free it */
};

/* fastcgi_write.c */

/* A turn of connection c (its queue never waits for the peer: see gateway/output.h). */
void gw_fcgi_turn_init(struct fcgi_turn *t, struct gw_conn *c);

/* Any thread that may write for t (its request's owner, the watchdog's 504, the app's
 * threads for STDERR, the loop for ctl): sends the records in v[0..n) (each record is
 * a unit: its last chunk has unit_end) after the records queued before, never
 * blocking: written at once when no other turn is waiting, else queued and the turns
 * go on in order; the loop is asked to finish when the socket is full. *kept as
 * gw_out_write's. 0 or GW_E* (the connection is broken). */
int gw_fcgi_send_records(struct gw_conn *c, struct fcgi_turn *t, const struct gw_chunk *v, int n,
                         int *kept);

/* As gw_fcgi_send_records, but nothing is sent (GW_ECLOSED) once *stop is set, checked
 * under wlock (a request's finished flag: no STDERR after END_REQUEST). No *kept. */
int gw_fcgi_send_records_unless(struct gw_conn *c, struct fcgi_turn *t, const struct gw_chunk *v,
                                int n, const int *stop);

/* Any thread: the bytes of in[0..n) as records of stream type (FCGI_STDOUT) of id, at
 * most 65535 bytes each (F27). A REF chunk's ref rides on its last record. */
int gw_fcgi_send_stream(struct gw_conn *c, struct fcgi_turn *t, uint8_t type, uint16_t id,
                        const struct gw_chunk *in, int n, int *kept);

/* The END_REQUEST record of id; a short complete response (STDOUT with a CGI status
 * and text, the empty STDOUT, END_REQUEST with app status = status). 0 or GW_E*. */
int gw_fcgi_end_request(struct gw_conn *c, struct fcgi_turn *t, uint16_t id, uint32_t app_status,
                        uint8_t proto_status);
int gw_fcgi_status_response(struct gw_conn *c, struct fcgi_turn *t, uint16_t id, int status);

/* Under wlock: writes the queued turns in order, a record each, until the socket is
 * full. 0: nothing left; 1: bytes left (the loop waits for the socket); GW_E*. */
int gw_fcgi_flush_turns(struct fcgi_conn *fc);

#endif
