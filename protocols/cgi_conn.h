/*
 * The connection side of the one-request CGI front-ends, SCGI and uwsgi: what they
 * share once their parser has a head (the variables, its length, CONTENT_LENGTH).
 * Each front-end embeds a struct gw_cgi_conn in its per-connection state, points
 * r->proto_data at it, and fills its protocol table's worker-side slots with the
 * functions below; only conn_open, conn_close and parse are its own. The two differ
 * in the wire form of the head (protocols/scgi_parse.h, uwsgi_parse.h), in the
 * response's first line (CGI "Status:" or an HTTP status line: the ops below) and
 * in what an empty CONTENT_LENGTH means (gw_cgi_options.body_by_framing).
 *
 * One request per connection: the loop reads the head and a body of up to
 * --body-buffer (gateway/spool.h: a slow uploader holds no thread), normalizes the
 * variables with protocols/cgi.c and dispatches; the worker streams the rest of a
 * larger body to wsgi.input (never past CONTENT_LENGTH: what follows is never read as
 * a request), writes the response through the connection's output queue
 * (gateway/output.h), and the connection is closed.
 *
 * Threads: gw_cgi_conn_refuse, _prepare and _dispatch run where parse runs (the
 * loop); the gw_protocol slots where the core calls them (gateway/protocol.h).
 */
#ifndef GW_CGI_CONN_H
#define GW_CGI_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gateway/conn.h"
#include "gateway/output.h"
#include "gateway/protocol.h"
#include "gateway/request.h"

struct gw_cgi_conn_ops {
    /* Builds the response head into out (gw_cgi_response_head or _head_line). */
    int (*head)(struct gw_buf *out, const struct gw_request *r, struct gw_slice status,
                const struct gw_field *f, size_t n);
    /* Writes a complete short error response (gw_cgi_error_response or _line). */
    size_t (*error)(char *buf, size_t cap, int status);
    int body_by_framing; /* gw_cgi_options.body_by_framing for gw_cgi_build */
};

/* Per connection, inside the front-end's state; zeroed, then ops set, at conn_open. */
struct gw_cgi_conn {
    const struct gw_cgi_conn_ops *ops;
    struct gw_request req;
    struct gw_field *vars; /* the head's variables, room for nvars_cap (gw_cgi_conn_prepare) */
    size_t nvars_cap;
    char *scratch; /* the CGI normalizer's scratch (grown to the head's size) */
    size_t scratch_cap;
    uint64_t body_left; /* CONTENT_LENGTH bytes not yet read */
    int body_error;     /* GW_E* of a failed body read */
    struct gw_buf out;  /* the response head */
    int head_sent;      /* the head went to the output queue */
};

/* Frees what the struct holds (not the struct). */
void gw_cgi_conn_free(struct gw_cgi_conn *cc);

/* A refusal before the app runs: the ops' error response for status in c->out (the
 * front server shows that status instead of a 502), counted as c->reply_status.
 * Returns GW_PARSE_CLOSE, for `return gw_cgi_conn_refuse(...)` in parse. */
enum gw_parse_result gw_cgi_conn_refuse(struct gw_conn *c, const struct gw_cgi_conn *cc,
                                        int status);

/*
 * A head was parsed (its variables counted: nvars), with content_length body bytes to
 * follow: checks --max-body, reserves room behind the head in c->in (for a collected
 * body's memory share; none without a body) and makes cc->vars hold nvars variables.
 * Returns 0, or the status to refuse with (413, 500). The reserve may move c->in:
 * the caller parses again (same bytes, same verdict) into cc->vars for slices of the
 * final place.
 */
int gw_cgi_conn_prepare(struct gw_conn *c, struct gw_cgi_conn *cc, int64_t content_length,
                        size_t nvars);

/*
 * After gw_cgi_conn_prepare and the parse again: collects a body of up to
 * --body-buffer (GW_PARSE_MORE while it arrives; c->body_wait set), then builds the
 * normalized request from vars[0..nvars) (slices into c->in after the head's start),
 * pins the head and stores the request in *out. Returns GW_PARSE_READY,
 * GW_PARSE_MORE, or GW_PARSE_CLOSE after a refusal (bad variables: 400, 404 outside
 * --script-name; no memory: 500). vars[] may be reordered.
 */
enum gw_parse_result gw_cgi_conn_dispatch(struct gw_conn *c, struct gw_cgi_conn *cc,
                                          struct gw_field *vars, size_t nvars, size_t head_len,
                                          int64_t content_length, struct gw_request **out);

/* The gw_protocol slots (contracts in gateway/protocol.h); r->proto_data is the
 * struct gw_cgi_conn. reject: 503 for a parsed request, a plain close for a head
 * that never completed. read_body: exactly CONTENT_LENGTH bytes, a short body
 * raises (S16, U06). finish: 500 (408 after a timed-out read) if nothing was sent; a
 * reset when the app failed mid-body (R4); otherwise close, without lingering when
 * the whole request was read. timeout: the 504, then the write side shut. answer
 * (--health-path): the short reply of status, then close. */
int gw_cgi_conn_reject(struct gw_conn *c, struct gw_request *r, int status);
int gw_cgi_conn_answer(struct gw_conn *c, struct gw_request *r, int status);
ssize_t gw_cgi_conn_read_body(struct gw_request *r, char *buf, size_t len);
int gw_cgi_conn_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                          size_t n);
int gw_cgi_conn_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept);
int gw_cgi_conn_finish(struct gw_request *r, int ok);
int gw_cgi_conn_timeout(struct gw_request *r);

#endif
