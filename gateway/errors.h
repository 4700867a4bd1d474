/*
 * Error codes of the gateway's C functions, and the one error convention of its
 * parsers.
 *
 * Functions: 0 (or a count, a length, an event: never negative) on success, a
 * negative GW_E* on failure (the house style, docs/architecture.md; libuv's UV__ERR model).
 * gw_strerror gives a short English text for logs and exceptions.
 *
 * Parsers: the pure parsers of protocols/ (http_parse.c, fastcgi_parse.c,
 * scgi_parse.c) and the CGI normalisation (cgi.c) follow the same rule, and with
 * the GW_E* they return they fill a struct gw_parse_error (in their state struct,
 * or one the caller passes) that says what to do about it:
 *
 *   code    the GW_E* returned: the class the caller acts on (a body read returns it
 *           to wsgi.input, which raises; a refused head is answered and closed);
 *   status  what the front-end answers: an HTTP status (HTTP, and the CGI-style
 *           "Status:" of SCGI and FastCGI), or 0 when there is no answer but closing
 *           the connection (FastCGI framing: no request to answer for);
 *   why     a short static text naming the rule broken, for the error log.
 *
 * The classes and the statuses that go with them:
 *   GW_EPROTO   malformed (grammar, framing, duplicate or bad framing fields): 400
 *   GW_ETOOBIG  over a limit: 413 (body, chunk extensions), 414 (request-target),
 *               431 (head, field count, SCGI block, variables)
 *   GW_ENOTSUP  well-formed but not served: 501 (a transfer coding, CONNECT), 505
 *               (an HTTP version), 417 (an expectation), 404 (a path outside
 *               --script-name)
 *   GW_ENOMEM   the caller's buffer is smaller than the contract asks: 500
 * FastCGI's record and PARAMS errors carry status 0 (close). A parser's error is
 * sticky unless its header says otherwise. So every front-end's glue reads the same:
 *
 *     rc = gw_xxx_parse(&p, ...);
 *     if (rc < 0)
 *         return refuse(c, p.err.status);   (and p.err.why where it is logged)
 */
#ifndef GW_ERRORS_H
#define GW_ERRORS_H

#define GW_EOF       0     /* not an error: end of the request body */
#define GW_ECLOSED   (-1)  /* the peer closed the connection or reset it */
#define GW_ETIMEDOUT (-2)  /* no progress within the read or send timeout */
#define GW_EPROTO    (-3)  /* malformed input: request head, body framing, records */
#define GW_ETOOBIG   (-4)  /* over a configured limit (head, body, extensions) */
#define GW_ESTATE    (-5)  /* call not valid now (e.g. body after finish) */
#define GW_ENOMEM    (-6)  /* allocation failed, or a caller's buffer is too small */
#define GW_EABORTED  (-7)  /* the front server aborted the request */
#define GW_EIO       (-8)  /* any other socket or file error */
#define GW_ENOTSUP   (-9)  /* well-formed, but asks for what is not served */
#define GW_EAGAIN    (-10) /* not a failure: the transport would block (output path) */

const char *gw_strerror(int err);

/* A parser's refusal (see above). Zeroed: nothing refused. */
struct gw_parse_error {
    int code;        /* the GW_E* returned, 0 while healthy */
    int status;      /* the status to answer, 0: close without an answer */
    const char *why; /* static text naming the broken rule, NULL while healthy */
};

/* Records a refusal in *e and returns code, for `return gw_parse_fail(...)`. */
static inline int gw_parse_fail(struct gw_parse_error *e, int code, int status, const char *why)
{
    e->code = code;
    e->status = status;
    e->why = why;
    return code;
}

#endif
