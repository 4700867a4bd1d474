/*
 * The uwsgi request-head parser: a pure function over a caller's buffer, no I/O, no
 * allocation, no globals. What it refuses and why is the uwsgi table (U01-U07) of
 * docs/hostile-inputs.md; the wire format is uWSGI's "uwsgi protocol" as nginx's
 * uwsgi_pass and Apache's mod_proxy_uwsgi send it:
 *
 *     modifier1 (u8) | datasize (u16 little-endian) | modifier2 (u8)     4 bytes
 *     datasize bytes of pairs: keylen (u16 LE) key vallen (u16 LE) value ...
 *     the body: CONTENT_LENGTH bytes
 *
 * Only modifier1 0 (a WSGI request) with modifier2 0 is served. Every variable whose
 * name starts with "UWSGI_" (UWSGI_FILE, UWSGI_SCRIPT, UWSGI_MODULE, UWSGI_CHDIR,
 * UWSGI_PYHOME, UWSGI_SETENV, ...: uWSGI acts on them, which makes an exposed uWSGI
 * port a remote code execution) is dropped here, so it never reaches environ.
 *
 * gw_uwsgi_parse is resumable: the caller presents the same growing buffer after each
 * read and the parser goes on where it stopped. When the head is complete it returns
 * its length and the variables as gw_field slices into the buffer; the front-end
 * (protocols/uwsgi.c) then streams the body and hands the variables to the CGI
 * normalizer (protocols/cgi.h, gw_cgi_build with GW_CGI_EMPTY_LENGTH_NO_BODY).
 *
 * Errors follow the parsers' convention of gateway/errors.h: a negative GW_E* and
 * p->err with the status to answer and a static reason for the log: GW_EPROTO (400)
 * for malformed framing, GW_ETOOBIG (431) for a limit, GW_ENOTSUP (501) for a
 * modifier other than 0 (a request for another uWSGI plugin, or not uwsgi at all:
 * "GET /" puts 'G' in modifier1).
 */
#ifndef GW_UWSGI_PARSE_H
#define GW_UWSGI_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/errors.h"
#include "gateway/slice.h"

/* The fixed header: modifier1, datasize (2 bytes), modifier2. */
#define GW_UWSGI_HEADER_LEN 4
/* The protocol's own cap on the vars block: datasize is 16 bits. */
#define GW_UWSGI_MAX_BLOCK 65535
/* Variables kept per request (the vars[] capacity the front-end gives). */
#define GW_UWSGI_DEF_MAX_VARS 512
/* Most bytes of a head: a read buffer of this size always holds a whole head. */
#define GW_UWSGI_HEAD_ROOM (GW_UWSGI_HEADER_LEN + GW_UWSGI_MAX_BLOCK)

struct gw_uwsgi_limits {
    size_t max_head; /* longest vars block (datasize) accepted; the protocol caps it at
                        GW_UWSGI_MAX_BLOCK, so any value >= 65535 accepts every block.
                        A datasize over it -> GW_ETOOBIG as soon as its two bytes are
                        in, before the block is read */
};

/* Parser state, one per request; gw_uwsgi_parser_init before the first byte. */
struct gw_uwsgi_parser {
    int state;
    size_t pos;                /* bytes of the buffer already examined */
    size_t block_len;          /* datasize, once its bytes are in */
    struct gw_parse_error err; /* the sticky refusal: code, status, why */
};

void gw_uwsgi_parser_init(struct gw_uwsgi_parser *p);

/* A parsed head. Every slice points into the buffer given to the completing call. */
struct gw_uwsgi_head {
    struct gw_field *vars;  /* the caller's array: the variables in the order sent,
                               without the UWSGI_* ones; names are never empty; values
                               may hold any byte (CR, LF, NUL are data); an empty value
                               is a non-NULL slice of length 0 */
    size_t nvars;           /* may be 0 (an empty block: gw_cgi_build refuses it) */
    size_t ndropped;        /* UWSGI_* variables dropped */
    int64_t content_length; /* body bytes after the head: CONTENT_LENGTH, 0 when it is
                               absent or empty (nginx's uwsgi_params send it empty for
                               a request without a body) */
    size_t head_len;        /* GW_UWSGI_HEADER_LEN + datasize; the body starts at
                               buf + head_len */
};

/*
 * Examines buf[p->pos .. len): buf[0] is the first byte of the request; the caller
 * passes the same growing buffer on each call (it may have moved; len never
 * shrinks). The parser keeps offsets only between calls. Byte-by-byte feeding costs
 * O(n) in total: the header bytes are examined once each, a call while the block
 * arrives costs O(1), and the block is parsed once, in the call where its last byte
 * is present.
 *
 * lim may be NULL (every block up to GW_UWSGI_MAX_BLOCK). vars[] has room for cap
 * variables. vars may be NULL: the variables are then counted (out->nvars,
 * out->vars NULL), not stored, and cap still bounds them, so a front-end can size
 * its array to the head.
 *
 * Returns:
 *   > 0   the head is complete; the value is out->head_len (at most
 *         GW_UWSGI_HEAD_ROOM). *out is filled; its slices point into buf. Calling again
 *         with the same bytes gives the same result.
 *   0     need more bytes (*out untouched).
 *   < 0   (sticky: every later call returns the same; p->err says which rule)
 *         GW_ENOTSUP modifier1 not 0 (decided on byte 0) or modifier2 not 0 (byte 3);
 *                    status 501 (U01); p->pos is then the offending byte's offset.
 *         GW_ETOOBIG datasize over lim->max_head, decided on byte 2; more than cap
 *                    variables kept; status 431.
 *         GW_EPROTO  status 400: a key length, key, value length or value that runs
 *                    past the block (U02: the block is exactly datasize bytes; what
 *                    follows is body); a zero-length key (U04); CONTENT_LENGTH given
 *                    twice, or not empty and not 1-18 ASCII digits.
 * Never reads outside buf[0 .. len); writes only *p, vars[0 .. cap) and *out.
 *
 * What to answer: the front-end writes p->err.status as an HTTP status line response
 * (the form nginx and Apache read from a uwsgi backend) and closes the connection.
 */
int gw_uwsgi_parse(struct gw_uwsgi_parser *p, const char *buf, size_t len,
                   const struct gw_uwsgi_limits *lim, struct gw_field *vars, size_t cap,
                   struct gw_uwsgi_head *out);

#endif
