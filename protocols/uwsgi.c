/*
 * The uwsgi front-end (--uwsgi): nginx's uwsgi_pass and Apache's mod_proxy_uwsgi, for
 * deployments leaving uWSGI. One request per connection (the protocol has no
 * keep-alive). The loop parses the 4-byte header and the vars block with
 * uwsgi_parse.c (modifier1/modifier2 other than 0 refused with one log line, UWSGI_*
 * variables dropped: nothing a peer sends ever chooses code to run); the rest is the
 * connection side it shares with SCGI, protocols/cgi_conn.c, with the response as
 * uWSGI writes it: an HTTP status line, the headers, a blank line, the body; then
 * close.
 *
 * Invariants: as cgi_conn.c's; the parser's state and variables live with the
 * connection, and the request's slices point into c->in.
 */
#include <stdlib.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "protocols/cgi.h"
#include "protocols/cgi_conn.h"
#include "protocols/cgi_response.h"
#include "protocols/uwsgi.h"
#include "protocols/uwsgi_parse.h"

struct gw_uwsgi_conn {
    struct gw_cgi_conn cc; /* the shared connection side; r->proto_data */
    struct gw_uwsgi_parser p;
    struct gw_uwsgi_head head;
};

/* "HTTP/1.1 200 OK" first; an empty CONTENT_LENGTH (nginx's uwsgi_params for a GET)
 * means no body. */
static const struct gw_cgi_conn_ops uwsgi_ops = {
    .head = gw_cgi_response_head_line,
    .error = gw_cgi_error_response_line,
    .body_by_framing = GW_CGI_EMPTY_LENGTH_NO_BODY,
};

static int uwsgi_conn_open(struct gw_conn *c)
{
    struct gw_uwsgi_conn *uc = calloc(1, sizeof(*uc));
    if (uc == NULL)
        return GW_ENOMEM;
    uc->cc.ops = &uwsgi_ops;
    gw_uwsgi_parser_init(&uc->p);
    c->proto_state = uc;
    return 0;
}

static void uwsgi_conn_close(struct gw_conn *c)
{
    struct gw_uwsgi_conn *uc = c->proto_state;
    if (uc == NULL)
        return;
    gw_cgi_conn_free(&uc->cc);
    free(uc);
    c->proto_state = NULL;
}

static enum gw_parse_result uwsgi_parse(struct gw_conn *c, struct gw_request **out)
{
    struct gw_uwsgi_conn *uc = c->proto_state;
    struct gw_uwsgi_limits lim = {.max_head = c->cfg->max_head};
    size_t avail = c->in.end - c->in.start;
    int rc = gw_uwsgi_parse(&uc->p, c->in.data + c->in.start, avail, &lim, NULL,
                            GW_UWSGI_DEF_MAX_VARS, &uc->head);
    if (rc < 0) {
        if (uc->p.err.code == GW_ENOTSUP) {
            /* U01: a request for another uWSGI plugin (or not uwsgi at all) */
            char peer[64];
            unsigned m = (unsigned char)c->in.data[c->in.start + uc->p.pos]; /* the byte */
            gw_log(GW_LOG_INFO, "%s: %s: %s (%u), refused: only 0/0 (WSGI) is served",
                   c->listener->spec, gw_conn_peer(c, peer, sizeof(peer)), uc->p.err.why, m);
        }
        return gw_cgi_conn_refuse(c, &uc->cc, uc->p.err.status);
    }
    if (rc == 0)
        return GW_PARSE_MORE;
    int status = gw_cgi_conn_prepare(c, &uc->cc, uc->head.content_length, uc->head.nvars);
    if (status != 0)
        return gw_cgi_conn_refuse(c, &uc->cc, status);
    /* c->in may have moved: parse again (cheap, same verdict) for its slices, into
     * the array prepare sized to the count */
    rc = gw_uwsgi_parse(&uc->p, c->in.data + c->in.start, avail, &lim, uc->cc.vars,
                        uc->cc.nvars_cap, &uc->head);
    if (rc <= 0)
        return gw_cgi_conn_refuse(c, &uc->cc, 500);
    return gw_cgi_conn_dispatch(c, &uc->cc, uc->head.vars, uc->head.nvars, (size_t)rc,
                                uc->head.content_length, out);
}

const struct gw_protocol gw_uwsgi_protocol = {
    .name = "uwsgi",
    .multiplexed = 0,                   /* one request, then close */
    .conn_open = uwsgi_conn_open,       /* parser state and the variables array */
    .conn_close = uwsgi_conn_close,     /* frees them */
    .parse = uwsgi_parse,               /* loop: header and vars block, small body */
    .reject = gw_cgi_conn_reject,       /* loop: 503, then close */
    .answer = gw_cgi_conn_answer,       /* loop: --health-path, then close */
    .read_body = gw_cgi_conn_read_body, /* worker: exactly CONTENT_LENGTH bytes */
    .send_head = gw_cgi_conn_send_head, /* worker: HTTP status line + headers */
    .send_body = gw_cgi_conn_send_body, /* worker: the raw body */
    .finish = gw_cgi_conn_finish,       /* worker: 500 if nothing was sent; close */
    .timeout = gw_cgi_conn_timeout,     /* watchdog: 504, then close */
};
