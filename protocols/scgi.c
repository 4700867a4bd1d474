/*
 * The SCGI front-end: one request per connection (SCGI has no keep-alive). The loop
 * parses the netstring head with scgi_parse.c, collects a body of up to --body-buffer
 * before dispatch (gateway/spool.h: a slow uploader holds no thread), normalizes the
 * CGI variables with protocols/cgi.c and dispatches; the worker streams the rest of
 * a larger body to wsgi.input (never past CONTENT_LENGTH: what follows is never read
 * as a request) and writes a CGI-style response (Status line, headers, blank line,
 * body) through the connection's output queue (gateway/output.h), then the
 * connection is closed.
 *
 * Invariants: once dispatched, the head's bytes are pinned in c->in (the request's
 * slices point there); body bytes are read behind them or straight into the app's
 * buffer.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/output.h"
#include "protocols/cgi.h"
#include "protocols/cgi_response.h"
#include "protocols/scgi.h"
#include "protocols/scgi_parse.h"

/* Bodies up to this size are read by the loop before a worker is taken. */

struct gw_scgi_conn {
    struct gw_scgi_parser p;
    struct gw_scgi_head head;
    struct gw_field vars[GW_SCGI_DEF_MAX_VARS];
    struct gw_request req;
    char *scratch;
    size_t scratch_cap;
    uint64_t body_left; /* CONTENT_LENGTH bytes not yet read */
    int body_error;     /* GW_E* of a failed body read */
    struct gw_buf out;  /* the response head */
    int head_sent;      /* the head went to the output queue */
};

static int scgi_conn_open(struct gw_conn *c)
{
    struct gw_scgi_conn *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return GW_ENOMEM;
    gw_scgi_parser_init(&sc->p);
    c->proto_state = sc;
    return 0;
}

static void scgi_conn_close(struct gw_conn *c)
{
    struct gw_scgi_conn *sc = c->proto_state;
    if (sc == NULL)
        return;
    free(sc->scratch);
    free(sc->out.data);
    free(sc);
    c->proto_state = NULL;
}

/* A refusal before the app runs: a CGI-style status the front server turns into
 * its answer (instead of a bare 502), then close. */
static enum gw_parse_result refuse(struct gw_conn *c, int status)
{
    char buf[256];
    size_t n = gw_cgi_error_response(buf, sizeof(buf), status);
    c->pin = 0;
    c->body_wait = 0;
    c->out.start = c->out.end = 0;
    gw_conn_out_append(c, buf, n);
    c->reply_status = status;
    return GW_PARSE_CLOSE;
}

/* The normalized request from the head's variables. 0, or a GW_E* recorded in *err
 * with the status to answer. */
static int build_request(struct gw_conn *c, struct gw_scgi_conn *sc, struct gw_parse_error *err)
{
    const struct gw_listener *l = c->listener;
    struct gw_request *r = &sc->req;
    size_t need = sc->head.head_len + 16;
    if (sc->scratch_cap < need) {
        char *p = realloc(sc->scratch, need);
        if (p == NULL)
            return gw_parse_fail(err, GW_ENOMEM, 500, "no memory for the CGI scratch");
        sc->scratch = p;
        sc->scratch_cap = need;
    }
    memset(r, 0, sizeof(*r));
    r->conn = c;
    r->proto = c->proto;
    r->proto_data = sc;
    struct gw_cgi_options opt = {
        .script_name = c->cfg->script_name,
        .server_name = l->server_name,
        .server_port = l->server_port,
        .body_by_framing = 0,
    };
    int rc =
        gw_cgi_build(sc->head.vars, sc->head.nvars, &opt, sc->scratch, sc->scratch_cap, r, err);
    if (rc != 0)
        return rc;
    sc->body_left = (uint64_t)sc->head.content_length;
    sc->body_error = 0;
    sc->head_sent = 0;
    return 0;
}

static enum gw_parse_result scgi_parse(struct gw_conn *c, struct gw_request **out)
{
    struct gw_scgi_conn *sc = c->proto_state;
    struct gw_scgi_limits lim = {.max_head = c->cfg->max_head};
    size_t avail = c->in.end - c->in.start;
    int rc = gw_scgi_parse(&sc->p, c->in.data + c->in.start, avail, &lim, sc->vars,
                           GW_SCGI_DEF_MAX_VARS, &sc->head);
    if (rc < 0)
        return refuse(c, sc->p.err.status);
    if (rc == 0)
        return GW_PARSE_MORE;
    int64_t cl = sc->head.content_length;
    if ((uint64_t)cl > c->cfg->max_body)
        return refuse(c, 413);

    /* Room behind the head (for a small body, or the memory share of a collected
     * one) before any slice points into the buffer; then parse again (cheap, same
     * verdict) for slices of the final place. */
    int collect = cl > 0 && (uint64_t)cl <= c->cfg->body_buffer;
    size_t want = 4096 + (collect ? (cl < GW_SPOOL_MEMORY ? (size_t)cl : GW_SPOOL_MEMORY) : 0);
    if (gw_conn_reserve(c, want) != 0)
        return refuse(c, 500);
    rc = gw_scgi_parse(&sc->p, c->in.data + c->in.start, avail, &lim, sc->vars,
                       GW_SCGI_DEF_MAX_VARS, &sc->head);
    if (rc <= 0)
        return refuse(c, 500);
    size_t head_len = (size_t)rc;
    if (collect) { /* read here, past GW_SPOOL_MEMORY into a temp file */
        int64_t got = gw_spool_collect(c, head_len, (uint64_t)cl);
        if (got < 0)
            return refuse(c, 500);
        if (got < cl) {
            c->body_wait = 1; /* an idle limit while the body arrives */
            return GW_PARSE_MORE;
        }
    }
    c->body_wait = 0;
    struct gw_parse_error err;
    rc = build_request(c, sc, &err);
    if (rc != 0)
        return refuse(c, err.status);
    c->in.start += head_len;
    c->pin = c->in.start;
    *out = &sc->req;
    return GW_PARSE_READY;
}

static int scgi_reject(struct gw_conn *c, struct gw_request *r, int status)
{
    if (r == NULL)
        return 0; /* a head that never completed: just close */
    refuse(c, status);
    return 1;
}

static int scgi_answer(struct gw_conn *c, struct gw_request *r, int status)
{
    (void)r;
    refuse(c, status);
    return 1;
}

static ssize_t scgi_read_body(struct gw_request *r, char *buf, size_t len)
{
    struct gw_scgi_conn *sc = r->proto_data;
    struct gw_conn *c = r->conn;
    if (sc->body_error)
        return sc->body_error;
    if (sc->body_left == 0 || len == 0)
        return 0;
    size_t want = len < sc->body_left ? len : (size_t)sc->body_left;
    ssize_t n = gw_conn_read_body(c, buf, want);
    if (n < 0) {
        sc->body_error = (int)n; /* S16: a short body raises */
        return n;
    }
    sc->body_left -= (uint64_t)n;
    return n;
}

static int scgi_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                          size_t n)
{
    struct gw_scgi_conn *sc = r->proto_data;
    if (sc->head_sent)
        return GW_ESTATE;
    return gw_cgi_response_head(&sc->out, r, status, f, n);
}

/* The pending head, then c[0..n), through the connection's queue. */
static int scgi_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept)
{
    struct gw_scgi_conn *sc = r->proto_data;
    struct gw_chunk v[17];
    int nv = 0;
    if (n > 16)
        return GW_ESTATE; /* the core sends at most 16 at once */
    if (!sc->head_sent)
        v[nv++] = (struct gw_chunk){.kind = GW_CHUNK_COPY, .p = sc->out.data, .len = sc->out.end};
    for (int i = 0; i < n; i++)
        v[nv++] = c[i];
    int rc = gw_out_write(&r->conn->send, v, nv, kept);
    if (rc < 0) {
        gw_conn_set_broken(r->conn);
        return rc;
    }
    sc->head_sent = 1;
    return 0;
}

static int scgi_finish(struct gw_request *r, int ok)
{
    struct gw_scgi_conn *sc = r->proto_data;
    struct gw_conn *c = r->conn;
    if (gw_conn_broken(c))
        return 0;
    if (!r->resp.started || (!ok && !sc->head_sent)) {
        char buf[256];
        int status = sc->body_error == GW_ETIMEDOUT ? 408 : 500;
        struct gw_chunk v = {.kind = GW_CHUNK_COPY,
                             .p = buf,
                             .len = gw_cgi_error_response(buf, sizeof(buf), status)};
        if (gw_out_write(&c->send, &v, 1, NULL) < 0)
            gw_conn_set_broken(c);
        r->status = status;
        return 0;
    }
    if (!ok) {
        /* R4: the app failed mid-body. A plain close would look like a complete
         * response to the front server (SCGI bodies end at EOF); a reset does not. */
        gw_out_drop(&c->send);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        gw_conn_set_broken(c); /* the loop closes at once, without lingering */
        return 0;
    }
    if (!sc->head_sent && scgi_send_body(r, NULL, 0, NULL) != 0)
        return 0;
    /* SCGI: one request per connection; a front server sends nothing after the body,
     * so when the app read all of it the loop closes without lingering. */
    r->close_now = sc->body_left == 0 && c->in.start == c->in.end;
    return 0;
}

/* Watchdog thread: the request ran past --timeout before its head went out. The
 * worker is not writing (it never claimed the head); "Status: 504", then the write
 * side is shut so the front server sees the response end (SCGI ends at EOF). */
static int scgi_timeout(struct gw_request *r)
{
    char buf[256];
    struct iovec v = {buf, gw_cgi_error_response(buf, sizeof(buf), 504)};
    int rc = gw_conn_writev(r->conn, &v, 1);
    gw_conn_shut_write(r->conn);
    r->status = 504;
    return rc;
}

const struct gw_protocol gw_scgi_protocol = {
    .name = "scgi",
    .multiplexed = 0,              /* one request, then close */
    .conn_open = scgi_conn_open,   /* parser state and the variables array */
    .conn_close = scgi_conn_close, /* frees them */
    .parse = scgi_parse,           /* loop: netstring head, small body */
    .reject = scgi_reject,         /* loop: Status 503, then close */
    .answer = scgi_answer,         /* loop: --health-path, then close */
    .read_body = scgi_read_body,   /* worker: exactly CONTENT_LENGTH bytes */
    .send_head = scgi_send_head,   /* worker: CGI Status + headers (buffered) */
    .send_body = scgi_send_body,   /* worker: the raw body */
    .finish = scgi_finish,         /* worker: 500 if nothing was sent; close */
    .timeout = scgi_timeout,       /* watchdog: Status 504, then close */
};
