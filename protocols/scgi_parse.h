/*
 * The SCGI request-head parser: a pure function over a caller's buffer, no I/O, no
 * allocation, no globals. What it refuses and why is the SCGI table (S01-S23) of
 * docs/hostile-inputs.md; the wire format is the SCGI spec
 * (python.ca/scgi/protocol.txt):
 *
 *     <length> ":" <name> NUL <value> NUL ... "," <body>
 *
 * a netstring whose payload (the "header block") is NUL-terminated name/value strings,
 * CONTENT_LENGTH first, followed by exactly CONTENT_LENGTH body bytes.
 *
 * gw_scgi_parse is resumable: the caller presents the same growing buffer after each
 * read and the parser goes on where it stopped. When the head is complete it returns
 * its length and the variables as gw_field slices into the buffer; the front-end
 * (protocols/scgi.c) then streams the body and hands the variables to the CGI
 * normalizer (protocols/cgi.h, gw_cgi_build with body_by_framing = 0). Everything
 * after the head (body, and any bytes after the body, S17) is the front-end's business.
 *
 * Errors follow the parsers' convention of gateway/errors.h: a negative GW_E*
 * (GW_EPROTO for malformed framing, GW_ETOOBIG for a limit) and p->err, which holds
 * the status to answer (400 or 431) and a static reason for the log. SCGI has no
 * error channel before a head is valid; the front-end writes that status as a
 * CGI-style error response and closes the connection (see gw_scgi_parse).
 */
#ifndef GW_SCGI_PARSE_H
#define GW_SCGI_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/errors.h"
#include "gateway/slice.h"

/* Defaults of the named limits (overridable by the front-end's configuration). */
#define GW_SCGI_DEF_MAX_HEAD (64 * 1024) /* header block bytes (the netstring length) */
#define GW_SCGI_DEF_MAX_VARS 512         /* variables per request (the vars[] capacity) */

/* Hard caps, whatever the configuration: the netstring length has at most
 * GW_SCGI_MAX_LEN_DIGITS digits, so max_head is clamped to GW_SCGI_MAX_HEAD_CAP. */
#define GW_SCGI_MAX_LEN_DIGITS 7
#define GW_SCGI_MAX_HEAD_CAP   9999999

/* The smallest valid header block: "CONTENT_LENGTH" NUL <1 digit> NUL. A netstring
 * length below it is refused when the ':' arrives. */
#define GW_SCGI_MIN_BLOCK 17

/* Most bytes of a head whose block is at most max_head bytes: the length digits, ':',
 * the block, ','. A read buffer of this size (for the configured max_head) always
 * holds a whole head. */
#define GW_SCGI_HEAD_ROOM(max_head) ((size_t)(max_head) + GW_SCGI_MAX_LEN_DIGITS + 2)

struct gw_scgi_limits {
    size_t max_head; /* longest header block (the netstring's payload), clamped to
                        GW_SCGI_MAX_HEAD_CAP; a length over it -> GW_ETOOBIG as soon as
                        its digits show it, before the block is read */
};

/* Parser state, one per request; gw_scgi_parser_init before the first byte. */
struct gw_scgi_parser {
    int state;
    size_t pos;                /* bytes of the buffer already examined */
    size_t block_len;          /* the netstring length (while its digits arrive: the value
                                  so far) */
    size_t block_off;          /* offset of the header block (just after ':'), once known */
    struct gw_parse_error err; /* the sticky refusal: code, status (400, 431), why */
};

void gw_scgi_parser_init(struct gw_scgi_parser *p);

/* A parsed head. Every slice points into the buffer given to the completing call. */
struct gw_scgi_head {
    struct gw_field *vars;  /* the caller's array: every variable in order, as sent,
                               vars[0] being CONTENT_LENGTH; values may hold any byte
                               but NUL (CR, LF are data, S21); an empty value is a
                               non-NULL slice of length 0 */
    size_t nvars;           /* >= 1 */
    int64_t content_length; /* body bytes that follow the head: 0 .. 10^18 - 1 */
    size_t head_len;        /* bytes of the head, length digits through the ','; the
                               body starts at buf + head_len */
};

/*
 * Examines buf[p->pos .. len): buf[0] is the first byte of the request; the caller
 * passes the same growing buffer on each call (it may have moved; len never
 * shrinks). The parser keeps offsets only, never pointers, between calls. Byte by
 * byte feeding costs O(n) in total: each length digit is examined once, and the
 * block is parsed once, in the call where its last byte and the ',' are present.
 *
 * lim may be NULL (GW_SCGI_DEF_MAX_HEAD). vars[] has room for cap variables. vars may be
 * NULL: the variables are then counted (out->nvars, out->vars NULL), not stored,
 * and cap still bounds them, so a front-end can size its array to the head.
 *
 * Returns:
 *   > 0   the head is complete; the value is out->head_len (it fits an int: at most
 *         GW_SCGI_HEAD_ROOM(GW_SCGI_MAX_HEAD_CAP)). *out is filled; its slices point
 *         into buf and stay valid as long as buf's bytes do. Calling again with the
 *         same bytes gives the same result.
 *   0     need more bytes (*out untouched).
 *   < 0   (sticky: every later call returns the same; p->err says which rule and
 *         the status to answer: 400 for GW_EPROTO, 431 for GW_ETOOBIG)
 *         GW_EPROTO  the netstring length is empty, starts with '0' (a leading zero,
 *                    or a zero length: a head always holds CONTENT_LENGTH), or holds a
 *                    byte other than a digit before ':' (sign, space, letter; S01),
 *                    decided on that byte; a length below GW_SCGI_MIN_BLOCK, decided at
 *                    the ':'; the byte after the block is not ',' (S08); the block is
 *                    not NUL-terminated, has an odd number of strings, or an empty
 *                    name (S09); the first variable is not CONTENT_LENGTH (S11);
 *                    CONTENT_LENGTH empty, not 1-18 ASCII digits (sign, '+', space,
 *                    20 digits), or given twice (S13); an SCGI variable whose value
 *                    is not exactly "1" (S18; no SCGI variable is fine).
 *         GW_ETOOBIG the length exceeds max_head, decided on the digit that makes it
 *                    exceed (S06, S07: the digit cap, nothing read beyond it); more
 *                    than cap variables.
 * Never reads outside buf[0 .. len); writes only *p, vars[0 .. cap) and *out.
 *
 * What to answer: the front-end closes the connection on any error. Before closing it
 * may write p->err.status ("Status: 400 Bad Request", "Status: 431 Request Header
 * Fields Too Large") as a CGI response, so that a front server shows its client that
 * status instead of a 502; recommended once a netstring length was read (the peer
 * speaks SCGI), harmless before. Unread request bytes make close() send a RST that
 * can destroy the response in flight: shutdown(SHUT_WR) and drain briefly.
 */
int gw_scgi_parse(struct gw_scgi_parser *p, const char *buf, size_t len,
                  const struct gw_scgi_limits *lim, struct gw_field *vars, size_t cap,
                  struct gw_scgi_head *out);

#endif
