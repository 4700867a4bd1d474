/*
 * The HTTP/1.1 request parser: pure functions over a caller's buffer, no I/O, no
 * allocation, no globals. Strict RFC 9112 grammar; what it refuses and why is the
 * HTTP table of docs/hostile-inputs.md.
 *
 * Three pieces, used in this order on one request:
 *   1. gw_http_scan_head: incremental; finds the end of the header block as bytes
 *      arrive, enforcing line-ending rules (bare LF / bare CR refused at once) and the
 *      size limits, counted across any read split. Resumes where it stopped.
 *   2. gw_http_parse_head: once the block is complete, parses it in one pass into a
 *      struct gw_http_head whose strings are slices into the same buffer.
 *   3. gw_http_chunked_step: incremental de-chunking of a chunked body, returning the
 *      data as slices into the input (zero copy), and trailer fields one by one.
 *
 * Errors follow the parsers' convention of gateway/errors.h: each piece returns a
 * negative GW_E* and records it in its struct's `err` with the status to answer and a
 * static reason: GW_EPROTO 400 (malformed), GW_ETOOBIG 413/414/431 (a limit),
 * GW_ENOTSUP 417/501/505 (well-formed, not served). The front-end answers
 * err.status and closes the connection.
 */
#ifndef GW_HTTP_PARSE_H
#define GW_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/errors.h"
#include "gateway/slice.h"

/* Defaults of the named limits (each overridable on the command line). */
#define GW_HTTP_DEF_MAX_TARGET 8190        /* request-target bytes  -> 414 */
#define GW_HTTP_DEF_MAX_HEAD   (64 * 1024) /* whole header block    -> 431 */
#define GW_HTTP_DEF_MAX_FIELDS 100         /* header field count    -> 431 */
#define GW_HTTP_MAX_CHUNK_EXT  (16 * 1024) /* chunk extensions + trailers per body -> 400 */

struct gw_http_limits {
    size_t max_target; /* longest request-target; longer -> 414 */
    size_t max_head;   /* longest header block incl. request line and final CRLF -> 431 */
    size_t max_fields; /* most header fields; more -> 431 (also bounded by the array) */
};

/* Scanner state; zero it (or gw_http_scan_init) before the first byte of a request. */
struct gw_http_scan {
    size_t pos;                /* bytes of the buffer already examined */
    size_t line_start;         /* offset where the current line starts */
    size_t nlines;             /* lines completed so far (request line included) */
    int prev_cr;               /* the byte at pos-1 was CR */
    struct gw_parse_error err; /* the sticky refusal, zero while healthy */
};

static inline void gw_http_scan_init(struct gw_http_scan *s)
{
    s->pos = 0;
    s->line_start = 0;
    s->nlines = 0;
    s->prev_cr = 0;
    s->err = (struct gw_parse_error){0, 0, NULL};
}

/*
 * Examines buf[s->pos .. len) (buf[0] is the first byte of the request; the caller
 * passes the same growing buffer each time, possibly moved, with len >= the previous
 * len). Empty lines (CRLF) before the request line are skipped, as RFC 9112 section 2.2
 * advises; they count toward max_head and toward the returned length (the head parser
 * skips them too), not toward the line count.
 * Returns:
 *   > 0   the head is complete; the value is its length (through the final CRLF CRLF);
 *   0     need more bytes;
 *   < 0   a GW_E*, recorded in s->err with its status (sticky until gw_http_scan_init):
 *         GW_EPROTO 400 (bare LF, bare CR, NUL in the head), GW_ETOOBIG 414 (request
 *         line longer than max_target + method/version allowance, decided as soon as it
 *         is known), GW_ETOOBIG 431 (head longer than max_head or more than
 *         max_fields+1 lines).
 */
int gw_http_scan_head(struct gw_http_scan *s, const char *buf, size_t len,
                      const struct gw_http_limits *lim);

/* The parsed head. Every slice points into the buffer given to gw_http_parse_head. */
struct gw_http_head {
    struct gw_slice method;    /* token */
    struct gw_slice target;    /* request-target exactly as sent (VCHAR and obs-text) */
    struct gw_slice path;      /* origin path, raw (still %-encoded); for absolute-form
                                  the path part ("/" when empty); for "*": "*" */
    struct gw_slice query;     /* after the first '?', raw, without '#fragment'; ptr NULL
                                  when there is no '?' */
    struct gw_slice authority; /* host[:port] of an absolute-form target, else NULL;
                                  RFC 9112 3.2.2: it takes the place of Host */
    struct gw_slice scheme;    /* "http" or "https" (as sent, any case) of an
                                  absolute-form target, else NULL */
    int minor;                 /* 0 or 1: HTTP/1.0 or HTTP/1.1 */

    struct gw_field *fields; /* caller's array: every field in order, name as sent,
                                value with surrounding OWS trimmed */
    size_t nfields;

    /* Framing and connection semantics, already validated: */
    int64_t content_length;              /* -1 when absent */
    int chunked;                         /* Transfer-Encoding: chunked (the only coding accepted) */
    int keep_alive;                      /* per HTTP/1.0 and 1.1 rules and Connection tokens */
    int expect_continue;                 /* Expect: 100-continue (case-insensitive) */
    const struct gw_field *host;         /* the Host field, or NULL */
    const struct gw_field *content_type; /* the Content-Type field, or NULL */

    struct gw_parse_error err; /* why gw_http_parse_head failed; zero after success */
};

/*
 * Parses a complete head of head_len bytes (as returned by gw_http_scan_head) into
 * *out, storing at most cap fields in fields[] (more -> 431).
 * Returns 0, or a GW_E* recorded with its status in out->err, nothing else of *out to
 * be trusted:
 *   GW_EPROTO 400: grammar (request line, field syntax, obs-fold, space before
 *        colon, CTL/DEL/NUL in a value, bad Content-Length, CL together with TE, two
 *        CL, two TE or TE twice chunked, empty TE, a TE element that is not a token,
 *        a TE whose last coding is not chunked (chunked, identity / identity /
 *        blegh: no determinable length, RFC 9112 6.3), TE on HTTP/1.0, HTTP/1.1
 *        without Host or with two or a bad Host, two Content-Type fields, "*" target
 *        on non-OPTIONS, malformed absolute-form (no host, userinfo, bad port), PRI
 *        method);
 *   GW_ENOTSUP 501: other codings before a final chunked (gzip, chunked), or CONNECT;
 *   GW_ENOTSUP 505: HTTP version other than 1.0/1.1 (HTTP/2.0, HTTP/1.32 ...;
 *        lower-case "http/1.1" and a missing version are 400);
 *   GW_ENOTSUP 417: an Expect value other than 100-continue;
 *   GW_ETOOBIG 431: more fields than cap or lim->max_fields;
 *   GW_ETOOBIG 414: request-target longer than lim->max_target.
 * Field names containing '_' are kept here (the environ builder drops them).
 */
int gw_http_parse_head(const char *buf, size_t head_len, const struct gw_http_limits *lim,
                       struct gw_field *fields, size_t cap, struct gw_http_head *out);

/* Chunked body decoder state; zero it (or gw_http_chunked_init) per body. */
struct gw_http_chunked {
    int state;
    uint64_t remaining; /* data bytes left in the current chunk */
    size_t meta_bytes;  /* extension + trailer bytes seen, capped by GW_HTTP_MAX_CHUNK_EXT */
    size_t line_len;    /* bytes of a pending (unconsumed) trailer line already checked */
    int ndigits;
    struct gw_parse_error err; /* the sticky refusal, zero while healthy */
};

static inline void gw_http_chunked_init(struct gw_http_chunked *d)
{
    memset(d, 0, sizeof(*d));
}

enum {
    GW_CHUNK_MORE = 0,    /* need more; every input byte consumed, except inside the
                             trailer section, where a partial trailer line is left
                             unconsumed (*consumed < len): present those bytes again,
                             followed by more, on the next call */
    GW_CHUNK_DATA = 1,    /* *data holds body bytes (a slice of the input) */
    GW_CHUNK_TRAILER = 2, /* *data holds one complete trailer line "Name: value"
                             (without CRLF), syntax already checked; never
                             Content-Length, Transfer-Encoding or Host (400) */
    GW_CHUNK_DONE = 3,    /* last chunk, trailers and final CRLF consumed */
};

/*
 * Consumes bytes from in[0..len). Sets *consumed to the bytes used (always, also on
 * GW_CHUNK_DATA where the data is in[..consumed) tail). Returns one of the GW_CHUNK_*
 * values above, or a GW_E* recorded with its status in d->err: GW_EPROTO 400 on a
 * framing error (bad size syntax: sign, 0x, '_', spaces, empty, more than 16 hex
 * digits, whitespace not followed by ';'; bare LF or CR; data not followed by CRLF;
 * extension or trailer syntax; a trailer naming Content-Length, Transfer-Encoding or
 * Host), GW_ETOOBIG 413 when extensions/trailers exceed GW_HTTP_MAX_CHUNK_EXT. A body
 * reader may hand the code on as it is (wsgi.input raises). After an error every
 * further call returns the same error; after GW_CHUNK_DONE, GW_CHUNK_DONE with
 * nothing consumed.
 * May return GW_CHUNK_DATA with fewer bytes than available; call again with the rest.
 * Never reads outside in[0..len).
 */
int gw_http_chunked_step(struct gw_http_chunked *d, const char *in, size_t len, size_t *consumed,
                         struct gw_slice *data);

#endif
