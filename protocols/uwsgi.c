/*
 * The uwsgi front-end (--uwsgi): nginx's uwsgi_pass and Apache's mod_proxy_uwsgi, for
 * deployments leaving uWSGI. One request per connection (the protocol has no
 * keep-alive). The loop parses the 4-byte header and the vars block with
 * uwsgi_parse.c (modifier1/modifier2 other than 0 refused, UWSGI_* variables dropped:
 * nothing a peer sends ever chooses code to run), collects a body of up to
 * --body-buffer before dispatch (gateway/spool.h), normalizes the CGI variables with
 * protocols/cgi.c, as SCGI does, and dispatches; the worker streams the rest of a
 * larger body to wsgi.input (never past CONTENT_LENGTH) and writes the response as
 * uWSGI does: an HTTP status line, the headers, a blank line, the body, through the
 * connection's output queue (gateway/output.h); then the connection is closed.
 *
 * The connection side is SCGI's (protocols/scgi.c): the same states, the same
 * refusals and the same close; only the head's wire form and the response's first
 * line differ.
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
#include "gateway/log.h"
#include "gateway/output.h"
#include "protocols/cgi.h"
#include "protocols/cgi_response.h"
#include "protocols/uwsgi.h"
#include "protocols/uwsgi_parse.h"

struct gw_uwsgi_conn {
    struct gw_uwsgi_parser p;
    struct gw_uwsgi_head head;
    struct gw_field vars[GW_UWSGI_DEF_MAX_VARS];
    struct gw_request req;
    char *scratch;
    size_t scratch_cap;
    uint64_t body_left; /* CONTENT_LENGTH bytes not yet read */
    int body_error;     /* GW_E* of a failed body read */
    struct gw_buf out;  /* the response head */
    int head_sent;      /* the head went to the output queue */
};

static int uwsgi_conn_open(struct gw_conn *c)
{
    struct gw_uwsgi_conn *uc = calloc(1, sizeof(*uc));
    if (uc == NULL)
        return GW_ENOMEM;
    gw_uwsgi_parser_init(&uc->p);
    c->proto_state = uc;
    return 0;
}

static void uwsgi_conn_close(struct gw_conn *c)
{
    struct gw_uwsgi_conn *uc = c->proto_state;
    if (uc == NULL)
        return;
    free(uc->scratch);
    free(uc->out.data);
    free(uc);
    c->proto_state = NULL;
}

/* A refusal before the app runs: an HTTP status line response the front server
 * passes on (instead of a bare 502), then close. */
static enum gw_parse_result refuse(struct gw_conn *c, int status)
{
    char buf[256];
    size_t n = gw_cgi_error_response_line(buf, sizeof(buf), status);
    c->pin = 0;
    c->body_wait = 0;
    c->out.start = c->out.end = 0;
    gw_conn_out_append(c, buf, n);
    c->reply_status = status;
    return GW_PARSE_CLOSE;
}

/* The normalized request from the head's variables. 0, or a GW_E* recorded in *err
 * with the status to answer. */
static int build_request(struct gw_conn *c, struct gw_uwsgi_conn *uc, struct gw_parse_error *err)
{
    const struct gw_listener *l = c->listener;
    struct gw_request *r = &uc->req;
    size_t need = uc->head.head_len + GW_CGI_SCRATCH_EXTRA;
    if (uc->scratch_cap < need) {
        char *p = realloc(uc->scratch, need);
        if (p == NULL)
            return gw_parse_fail(err, GW_ENOMEM, 500, "no memory for the CGI scratch");
        uc->scratch = p;
        uc->scratch_cap = need;
    }
    memset(r, 0, sizeof(*r));
    r->conn = c;
    r->proto = c->proto;
    r->proto_data = uc;
    struct gw_cgi_options opt = {
        .script_name = c->cfg->script_name,
        .server_name = l->server_name,
        .server_port = l->server_port,
        .body_by_framing = GW_CGI_EMPTY_LENGTH_NO_BODY,
    };
    int rc =
        gw_cgi_build(uc->head.vars, uc->head.nvars, &opt, uc->scratch, uc->scratch_cap, r, err);
    if (rc != 0)
        return rc;
    uc->body_left = (uint64_t)uc->head.content_length;
    uc->body_error = 0;
    uc->head_sent = 0;
    return 0;
}

static enum gw_parse_result uwsgi_parse(struct gw_conn *c, struct gw_request **out)
{
    struct gw_uwsgi_conn *uc = c->proto_state;
    struct gw_uwsgi_limits lim = {.max_head = c->cfg->max_head};
    size_t avail = c->in.end - c->in.start;
    int rc = gw_uwsgi_parse(&uc->p, c->in.data + c->in.start, avail, &lim, uc->vars,
                            GW_UWSGI_DEF_MAX_VARS, &uc->head);
    if (rc < 0) {
        if (uc->p.err.code == GW_ENOTSUP) {
            /* U01: a request for another uWSGI plugin (or not uwsgi at all). */
            char peer[64];
            unsigned m = (unsigned char)c->in.data[c->in.start + uc->p.pos]; /* the byte */
            gw_log(GW_LOG_INFO, "%s: %s: %s (%u), refused: only 0/0 (WSGI) is served",
                   c->listener->spec, gw_conn_peer(c, peer, sizeof(peer)), uc->p.err.why, m);
        }
        return refuse(c, uc->p.err.status);
    }
    if (rc == 0)
        return GW_PARSE_MORE;
    int64_t cl = uc->head.content_length;
    if ((uint64_t)cl > c->cfg->max_body)
        return refuse(c, 413);

    /* Room behind the head (for a small body, or the memory share of a collected
     * one) before any slice points into the buffer; then parse again (cheap, same
     * verdict) for slices of the final place. */
    int collect = cl > 0 && (uint64_t)cl <= c->cfg->body_buffer;
    size_t want = 4096 + (collect ? (cl < GW_SPOOL_MEMORY ? (size_t)cl : GW_SPOOL_MEMORY) : 0);
    if (gw_conn_reserve(c, want) != 0)
        return refuse(c, 500);
    rc = gw_uwsgi_parse(&uc->p, c->in.data + c->in.start, avail, &lim, uc->vars,
                        GW_UWSGI_DEF_MAX_VARS, &uc->head);
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
    rc = build_request(c, uc, &err);
    if (rc != 0)
        return refuse(c, err.status);
    c->in.start += head_len;
    c->pin = c->in.start;
    *out = &uc->req;
    return GW_PARSE_READY;
}

static int uwsgi_reject(struct gw_conn *c, struct gw_request *r, int status)
{
    if (r == NULL)
        return 0; /* a head that never completed: just close */
    refuse(c, status);
    return 1;
}

static ssize_t uwsgi_read_body(struct gw_request *r, char *buf, size_t len)
{
    struct gw_uwsgi_conn *uc = r->proto_data;
    struct gw_conn *c = r->conn;
    if (uc->body_error)
        return uc->body_error;
    if (uc->body_left == 0 || len == 0)
        return 0;
    size_t want = len < uc->body_left ? len : (size_t)uc->body_left;
    ssize_t n = gw_conn_read_body(c, buf, want);
    if (n < 0) {
        uc->body_error = (int)n; /* U06: a short body raises */
        return n;
    }
    uc->body_left -= (uint64_t)n;
    return n;
}

static int uwsgi_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                           size_t n)
{
    struct gw_uwsgi_conn *uc = r->proto_data;
    if (uc->head_sent)
        return GW_ESTATE;
    return gw_cgi_response_head_line(&uc->out, r, status, f, n);
}

/* The pending head, then c[0..n), through the connection's queue. */
static int uwsgi_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept)
{
    struct gw_uwsgi_conn *uc = r->proto_data;
    struct gw_chunk v[17];
    int nv = 0;
    if (n > 16)
        return GW_ESTATE; /* the core sends at most 16 at once */
    if (!uc->head_sent)
        v[nv++] = (struct gw_chunk){.kind = GW_CHUNK_COPY, .p = uc->out.data, .len = uc->out.end};
    for (int i = 0; i < n; i++)
        v[nv++] = c[i];
    int rc = gw_out_write(&r->conn->send, v, nv, kept);
    if (rc < 0) {
        gw_conn_set_broken(r->conn);
        return rc;
    }
    uc->head_sent = 1;
    return 0;
}

static int uwsgi_finish(struct gw_request *r, int ok)
{
    struct gw_uwsgi_conn *uc = r->proto_data;
    struct gw_conn *c = r->conn;
    if (gw_conn_broken(c))
        return 0;
    if (!r->resp.started || (!ok && !uc->head_sent)) {
        char buf[256];
        int status = uc->body_error == GW_ETIMEDOUT ? 408 : 500;
        struct gw_chunk v = {.kind = GW_CHUNK_COPY,
                             .p = buf,
                             .len = gw_cgi_error_response_line(buf, sizeof(buf), status)};
        if (gw_out_write(&c->send, &v, 1, NULL) < 0)
            gw_conn_set_broken(c);
        r->status = status;
        return 0;
    }
    if (!ok) {
        /* R4: the app failed mid-body. A plain close would look like a complete
         * response to the front server (the body ends at EOF); a reset does not. */
        gw_out_drop(&c->send);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        gw_conn_set_broken(c); /* the loop closes at once, without lingering */
        return 0;
    }
    if (!uc->head_sent && uwsgi_send_body(r, NULL, 0, NULL) != 0)
        return 0;
    /* One request per connection; a front server sends nothing after the body, so
     * when the app read all of it the loop closes without lingering. */
    r->close_now = uc->body_left == 0 && c->in.start == c->in.end;
    return 0;
}

/* Watchdog thread: the request ran past --timeout before its head went out. The
 * worker is not writing (it never claimed the head); a 504, then the write side is
 * shut so the front server sees the response end (it ends at EOF). */
static int uwsgi_timeout(struct gw_request *r)
{
    char buf[256];
    struct iovec v = {buf, gw_cgi_error_response_line(buf, sizeof(buf), 504)};
    int rc = gw_conn_writev(r->conn, &v, 1);
    gw_conn_shut_write(r->conn);
    r->status = 504;
    return rc;
}

const struct gw_protocol gw_uwsgi_protocol = {
    .name = "uwsgi",
    .multiplexed = 0,               /* one request, then close */
    .conn_open = uwsgi_conn_open,   /* parser state and the variables array */
    .conn_close = uwsgi_conn_close, /* frees them */
    .parse = uwsgi_parse,           /* loop: header and vars block, small body */
    .reject = uwsgi_reject,         /* loop: 503, then close */
    .read_body = uwsgi_read_body,   /* worker: exactly CONTENT_LENGTH bytes */
    .send_head = uwsgi_send_head,   /* worker: HTTP status line + headers (buffered) */
    .send_body = uwsgi_send_body,   /* worker: the raw body */
    .finish = uwsgi_finish,         /* worker: 500 if nothing was sent; close */
    .timeout = uwsgi_timeout,       /* watchdog: 504, then close */
};
