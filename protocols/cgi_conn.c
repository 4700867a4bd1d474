/*
 * The connection side SCGI and uwsgi share (contract in cgi_conn.h): one request per
 * connection, the head and a small body read on the loop, the rest streamed to the
 * worker, the response through c->send, then close.
 *
 * Invariants: once dispatched, the head's bytes are pinned in c->in (the request's
 * slices point there); body bytes are read behind them or straight into the app's
 * buffer. The struct gw_cgi_conn belongs to the connection's owner: the loop until
 * dispatch, then the worker (the watchdog's timeout writes only through
 * gw_conn_writev, after it claimed the head).
 */
#include "protocols/cgi_conn.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/spool.h"
#include "protocols/cgi.h"

void gw_cgi_conn_free(struct gw_cgi_conn *cc)
{
    free(cc->vars);
    free(cc->scratch);
    free(cc->out.data);
    cc->vars = NULL;
    cc->nvars_cap = 0;
    cc->scratch = NULL;
    cc->out.data = NULL;
}

enum gw_parse_result gw_cgi_conn_refuse(struct gw_conn *c, const struct gw_cgi_conn *cc, int status)
{
    char buf[256];
    size_t n = cc->ops->error(buf, sizeof(buf), status);
    c->pin = 0;
    c->body_wait = 0;
    c->out.start = c->out.end = 0;
    gw_conn_out_append(c, buf, n);
    c->reply_status = status;
    return GW_PARSE_CLOSE;
}

int gw_cgi_conn_prepare(struct gw_conn *c, struct gw_cgi_conn *cc, int64_t cl, size_t nvars)
{
    if ((uint64_t)cl > c->cfg->max_body)
        return 413;
    if (nvars == 0)
        nvars = 1;
    if (cc->nvars_cap < nvars) { /* sized to the head, not to the variable limit */
        struct gw_field *v = realloc(cc->vars, nvars * sizeof(*v));
        if (v == NULL)
            return 500;
        cc->vars = v;
        cc->nvars_cap = nvars;
    }
    /* Room behind the head for a small body, or the memory share of a collected one,
     * before any slice points into the buffer. A request without a body needs none:
     * it waits for a thread holding its head only. */
    if (cl == 0)
        return 0;
    int collect = (uint64_t)cl <= c->cfg->body_buffer;
    size_t want = 4096 + (collect ? (cl < GW_SPOOL_MEMORY ? (size_t)cl : GW_SPOOL_MEMORY) : 0);
    return gw_conn_reserve(c, want) != 0 ? 500 : 0;
}

/* The normalized request from the head's variables. 0, or a GW_E* recorded in *err
 * with the status to answer. */
static int build_request(struct gw_conn *c, struct gw_cgi_conn *cc, struct gw_field *vars,
                         size_t nvars, size_t head_len, int64_t cl, struct gw_parse_error *err)
{
    const struct gw_listener *l = c->listener;
    struct gw_request *r = &cc->req;
    /* the values are inside the head: its length bounds their total */
    size_t need = head_len + GW_CGI_SCRATCH_EXTRA;
    if (cc->scratch_cap < need) {
        char *p = realloc(cc->scratch, need);
        if (p == NULL)
            return gw_parse_fail(err, GW_ENOMEM, 500, "no memory for the CGI scratch");
        cc->scratch = p;
        cc->scratch_cap = need;
    }
    memset(r, 0, sizeof(*r));
    r->conn = c;
    r->proto = c->proto;
    r->proto_data = cc;
    struct gw_cgi_options opt = {
        .script_name = c->cfg->script_name,
        .server_name = l->server_name,
        .server_port = l->server_port,
        .body_by_framing = cc->ops->body_by_framing,
    };
    int rc = gw_cgi_build(vars, nvars, &opt, cc->scratch, cc->scratch_cap, r, err);
    if (rc != 0)
        return rc;
    cc->body_left = (uint64_t)cl;
    cc->body_error = 0;
    cc->head_sent = 0;
    return 0;
}

enum gw_parse_result gw_cgi_conn_dispatch(struct gw_conn *c, struct gw_cgi_conn *cc,
                                          struct gw_field *vars, size_t nvars, size_t head_len,
                                          int64_t cl, struct gw_request **out)
{
    if (cl > 0 && (uint64_t)cl <= c->cfg->body_buffer) {
        /* read here, past GW_SPOOL_MEMORY into a temp file */
        int64_t got = gw_spool_collect(c, head_len, (uint64_t)cl);
        if (got < 0)
            return gw_cgi_conn_refuse(c, cc, 500);
        if (got < cl) {
            c->body_wait = 1; /* an idle limit while the body arrives */
            return GW_PARSE_MORE;
        }
    }
    c->body_wait = 0;
    struct gw_parse_error err;
    if (build_request(c, cc, vars, nvars, head_len, cl, &err) != 0)
        return gw_cgi_conn_refuse(c, cc, err.status);
    c->in.start += head_len;
    c->pin = c->in.start;
    *out = &cc->req;
    return GW_PARSE_READY;
}

int gw_cgi_conn_reject(struct gw_conn *c, struct gw_request *r, int status)
{
    if (r == NULL)
        return 0; /* a head that never completed: just close */
    gw_cgi_conn_refuse(c, r->proto_data, status);
    return 1;
}

int gw_cgi_conn_answer(struct gw_conn *c, struct gw_request *r, int status)
{
    gw_cgi_conn_refuse(c, r->proto_data, status);
    return 1;
}

ssize_t gw_cgi_conn_read_body(struct gw_request *r, char *buf, size_t len)
{
    struct gw_cgi_conn *cc = r->proto_data;
    if (cc->body_error)
        return cc->body_error;
    if (cc->body_left == 0 || len == 0)
        return 0;
    size_t want = len < cc->body_left ? len : (size_t)cc->body_left;
    ssize_t n = gw_conn_read_body(r->conn, buf, want);
    if (n < 0) {
        cc->body_error = (int)n; /* S16, U06: a short body raises */
        return n;
    }
    cc->body_left -= (uint64_t)n;
    return n;
}

int gw_cgi_conn_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                          size_t n)
{
    struct gw_cgi_conn *cc = r->proto_data;
    if (cc->head_sent)
        return GW_ESTATE;
    return cc->ops->head(&cc->out, r, status, f, n);
}

/* The pending head, then c[0..n), through the connection's queue. */
int gw_cgi_conn_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept)
{
    struct gw_cgi_conn *cc = r->proto_data;
    struct gw_chunk v[17];
    int nv = 0;
    if (n > 16)
        return GW_ESTATE; /* the core sends at most 16 at once */
    if (!cc->head_sent)
        v[nv++] = (struct gw_chunk){.kind = GW_CHUNK_COPY, .p = cc->out.data, .len = cc->out.end};
    for (int i = 0; i < n; i++)
        v[nv++] = c[i];
    int rc = gw_out_write(&r->conn->send, v, nv, kept);
    if (rc < 0) {
        gw_conn_set_broken(r->conn);
        return rc;
    }
    cc->head_sent = 1;
    return 0;
}

int gw_cgi_conn_finish(struct gw_request *r, int ok)
{
    struct gw_cgi_conn *cc = r->proto_data;
    struct gw_conn *c = r->conn;
    if (gw_conn_broken(c))
        return 0;
    if (!r->resp.started || (!ok && !cc->head_sent)) {
        char buf[256];
        int status = cc->body_error == GW_ETIMEDOUT ? 408 : 500;
        struct gw_chunk v = {
            .kind = GW_CHUNK_COPY, .p = buf, .len = cc->ops->error(buf, sizeof(buf), status)};
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
    if (!cc->head_sent && gw_cgi_conn_send_body(r, NULL, 0, NULL) != 0)
        return 0;
    /* One request per connection; a front server sends nothing after the body, so
     * when the app read all of it the loop closes without lingering. */
    r->close_now = cc->body_left == 0 && c->in.start == c->in.end;
    return 0;
}

/* Watchdog thread: the request ran past --timeout before its head went out. The
 * worker is not writing (it never claimed the head); the 504, then the write side is
 * shut so the front server sees the response end (it ends at EOF). */
int gw_cgi_conn_timeout(struct gw_request *r)
{
    const struct gw_cgi_conn *cc = r->proto_data;
    char buf[256];
    struct iovec v = {buf, cc->ops->error(buf, sizeof(buf), 504)};
    int rc = gw_conn_writev(r->conn, &v, 1);
    gw_conn_shut_write(r->conn);
    r->status = 504;
    return rc;
}
