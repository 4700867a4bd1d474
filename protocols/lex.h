/*
 * Lexical rules the request parsers share (protocols/http_parse.c, cgi.c,
 * scgi_parse.c): RFC 9110 token characters, hex digits, percent-decoding of a path
 * and the digits of a Content-Length / CONTENT_LENGTH, the host of an authority,
 * base64url (HTTP2-Settings, protocols/h2_upgrade.c). Pure: no I/O, no
 * allocation, no mutable globals (one const table); any thread.
 */
#ifndef GW_LEX_H
#define GW_LEX_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/slice.h"

/* Content-Length (HTTP) and CONTENT_LENGTH (FastCGI, SCGI) have at most this many
 * digits, so the value fits an int64_t (999,999,999,999,999,999 at most; H05, F19). */
#define GW_LEX_MAX_LENGTH_DIGITS 18

/* 1 for the RFC 9110 tchars ("!#$%&'*+-.^_`|~", DIGIT, ALPHA), 0 for every other
 * byte. A table, so the parsers' per-byte loops stay a load each. */
extern const unsigned char gw_lex_tchar[256];

/* 1 when c is a tchar. */
static inline int gw_lex_is_tchar(unsigned char c)
{
    return gw_lex_tchar[c];
}

/* The value of a hex digit (0-9, a-f, A-F), -1 for any other byte. */
static inline int gw_lex_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decodes in[0..n) into out (which has room for n bytes; it may be in itself).
 * A '%' not followed by two hex digits is kept as it is (like urllib.parse.unquote);
 * "%00" decodes to a NUL byte. Returns the decoded length (<= n). Never reads outside
 * in[0..n).
 */
size_t gw_lex_percent_decode(const char *in, size_t n, char *out);

/*
 * A Content-Length value: 1 to GW_LEX_MAX_LENGTH_DIGITS ASCII digits, leading zeros
 * allowed (RFC 9110 1*DIGIT), nothing else (no sign, space, '_', hex, list). Sets *out
 * and returns 0, or returns GW_EPROTO (gateway/errors.h) with *out untouched.
 */
int gw_lex_content_length(struct gw_slice v, int64_t *out);

/* The host of an authority "host[:port]" or "[v6]:port" (the brackets kept), copied
 * into buf[0..cap) so that it is NUL-free and bounded; {NULL, 0} when it is empty or
 * does not fit. For SERVER_NAME from a Host field or an :authority. */
struct gw_slice gw_lex_host_name(struct gw_slice authority, char *buf, size_t cap);

/*
 * Decodes base64url (RFC 4648 section 5: A-Z a-z 0-9 '-' '_'), unpadded or with its
 * one or two '=' (token68 may end so), from v into out[0..cap). Returns the decoded
 * length, or -1: empty, a byte outside the alphabet (the '+' '/' of plain base64
 * included), a length no encoding has, more than cap bytes. Never reads outside v
 * nor writes past cap.
 */
long gw_lex_base64url_decode(struct gw_slice v, uint8_t *out, size_t cap);

#endif
