/*
 * The SCGI front-end: one request per connection (SCGI has no keep-alive). The loop
 * parses the netstring head with scgi_parse.c; the rest (a small body collected
 * before dispatch, the CGI normalization, the worker-side body reads and the
 * CGI-style response: Status line, headers, blank line, body; then close) is the
 * connection side it shares with uwsgi, protocols/cgi_conn.c.
 *
 * Invariants: as cgi_conn.c's; the parser's state and variables live with the
 * connection, and the request's slices point into c->in.
 */
#include <stdlib.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "protocols/cgi_conn.h"
#include "protocols/cgi_response.h"
#include "protocols/scgi.h"
#include "protocols/scgi_parse.h"

struct gw_scgi_conn {
    struct gw_cgi_conn cc; /* the shared connection side; r->proto_data */
    struct gw_scgi_parser p;
    struct gw_scgi_head head;
};

/* The CGI form: "Status: 200 OK"; CONTENT_LENGTH is always sent, empty is refused. */
static const struct gw_cgi_conn_ops scgi_ops = {
    .head = gw_cgi_response_head,
    .error = gw_cgi_error_response,
    .body_by_framing = 0,
};

static int scgi_conn_open(struct gw_conn *c)
{
    struct gw_scgi_conn *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return GW_ENOMEM;
    sc->cc.ops = &scgi_ops;
    gw_scgi_parser_init(&sc->p);
    c->proto_state = sc;
    return 0;
}

static void scgi_conn_close(struct gw_conn *c)
{
    struct gw_scgi_conn *sc = c->proto_state;
    if (sc == NULL)
        return;
    gw_cgi_conn_free(&sc->cc);
    free(sc);
    c->proto_state = NULL;
}

static enum gw_parse_result scgi_parse(struct gw_conn *c, struct gw_request **out)
{
    struct gw_scgi_conn *sc = c->proto_state;
    struct gw_scgi_limits lim = {.max_head = c->cfg->max_head};
    size_t avail = c->in.end - c->in.start;
    int rc = gw_scgi_parse(&sc->p, c->in.data + c->in.start, avail, &lim, NULL,
                           GW_SCGI_DEF_MAX_VARS, &sc->head);
    if (rc < 0)
        return gw_cgi_conn_refuse(c, &sc->cc, sc->p.err.status);
    if (rc == 0)
        return GW_PARSE_MORE;
    int status = gw_cgi_conn_prepare(c, &sc->cc, sc->head.content_length, sc->head.nvars);
    if (status != 0)
        return gw_cgi_conn_refuse(c, &sc->cc, status);
    /* c->in may have moved: parse again (cheap, same verdict) for its slices, into
     * the array prepare sized to the count */
    rc = gw_scgi_parse(&sc->p, c->in.data + c->in.start, avail, &lim, sc->cc.vars, sc->cc.nvars_cap,
                       &sc->head);
    if (rc <= 0)
        return gw_cgi_conn_refuse(c, &sc->cc, 500);
    return gw_cgi_conn_dispatch(c, &sc->cc, sc->head.vars, sc->head.nvars, (size_t)rc,
                                sc->head.content_length, out);
}

const struct gw_protocol gw_scgi_protocol = {
    .name = "scgi",
    .multiplexed = 0,                   /* one request, then close */
    .conn_open = scgi_conn_open,        /* parser state and the variables array */
    .conn_close = scgi_conn_close,      /* frees them */
    .parse = scgi_parse,                /* loop: netstring head, small body */
    .reject = gw_cgi_conn_reject,       /* loop: Status 503, then close */
    .answer = gw_cgi_conn_answer,       /* loop: --health-path, then close */
    .read_body = gw_cgi_conn_read_body, /* worker: exactly CONTENT_LENGTH bytes */
    .send_head = gw_cgi_conn_send_head, /* worker: CGI Status + headers (buffered) */
    .send_body = gw_cgi_conn_send_body, /* worker: the raw body */
    .finish = gw_cgi_conn_finish,       /* worker: 500 if nothing was sent; close */
    .timeout = gw_cgi_conn_timeout,     /* watchdog: Status 504, then close */
};
