/*
 * The SCGI request-head parser (contract in scgi_parse.h): a netstring length read
 * digit by digit, then a header block parsed once, in place, into name/value slices.
 *
 * Invariants: no allocation, no I/O, no mutable globals; nothing is read outside
 * [buf, buf + len) nor written outside the caller's state, array and head struct.
 * Between calls the state holds offsets and counts only (the caller's buffer may
 * move), so every slice points into the buffer of the completing call. Feeding a head
 * one byte at a time costs O(n) in total and gives the same verdict and variables as
 * feeding it whole: each length digit is looked at once; while the block is arriving
 * a call costs O(1); the block and the ',' are examined once, when all are present.
 * The length's value never exceeds max_head (clamped to GW_SCGI_MAX_HEAD_CAP) before
 * the next digit is added, so it cannot overflow, and a hostile length is refused on
 * the digit that makes it too big, before the caller has buffered anything for it.
 * Any thread may call gw_scgi_parse; a state struct belongs to one request.
 */
#include "protocols/scgi_parse.h"

#include <string.h>

#include "protocols/lex.h"

enum { S_LENGTH, S_BLOCK, S_DONE, S_ERROR };

void gw_scgi_parser_init(struct gw_scgi_parser *p)
{
    memset(p, 0, sizeof(*p));
    p->state = S_LENGTH;
}

/* SCGI answers a malformed head 400 and an oversized one 431 (scgi_parse.h). */
static int parser_fail(struct gw_scgi_parser *p, int code, const char *why)
{
    p->state = S_ERROR;
    return gw_parse_fail(&p->err, code, code == GW_ETOOBIG ? 431 : 400, why);
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int name_is(struct gw_slice name, const char *lit)
{
    return gw_slice_eq(name, lit);
}

/*
 * Splits the block b[0..n) (n >= GW_SCGI_MIN_BLOCK) into vars[] and checks the
 * variables the framing depends on. Returns 0 or a GW_E* with *why set.
 */
static int parse_block(const char *b, size_t n, struct gw_field *vars, size_t cap,
                       struct gw_scgi_head *out, const char **why)
{
    const char *end = b + n;
    const char *s = b;
    size_t nvars = 0;
    int64_t clen = -1;

    /* Every string ends with a NUL; with the last byte a NUL, memchr below always
     * finds one inside the block. */
    if (end[-1] != '\0') {
        *why = "header block not NUL-terminated";
        return GW_EPROTO;
    }
    while (s < end) {
        const char *name_end = memchr(s, '\0', (size_t)(end - s));
        const char *val, *val_end;
        struct gw_field f;

        if (name_end == s) {
            *why = "empty variable name";
            return GW_EPROTO;
        }
        val = name_end + 1;
        if (val == end) {
            *why = "odd number of strings in the header block";
            return GW_EPROTO;
        }
        val_end = memchr(val, '\0', (size_t)(end - val));
        f.name = gw_slice_make(s, (size_t)(name_end - s));
        f.value = gw_slice_make(val, (size_t)(val_end - val));

        if (nvars == 0) {
            if (!name_is(f.name, "CONTENT_LENGTH")) {
                *why = "CONTENT_LENGTH missing or not first";
                return GW_EPROTO;
            }
            if (gw_lex_content_length(f.value, &clen) < 0) {
                *why = "CONTENT_LENGTH not 1-18 digits";
                return GW_EPROTO;
            }
        } else if (name_is(f.name, "CONTENT_LENGTH")) {
            *why = "CONTENT_LENGTH given twice";
            return GW_EPROTO;
        } else if (name_is(f.name, "SCGI") && !gw_slice_eq(f.value, "1")) {
            *why = "SCGI variable other than 1";
            return GW_EPROTO;
        }
        if (nvars == cap) {
            *why = "too many variables";
            return GW_ETOOBIG;
        }
        if (vars != NULL)
            vars[nvars] = f;
        nvars++;
        s = val_end + 1;
    }
    out->vars = vars;
    out->nvars = nvars;
    out->content_length = clen;
    return 0;
}

int gw_scgi_parse(struct gw_scgi_parser *p, const char *buf, size_t len,
                  const struct gw_scgi_limits *lim, struct gw_field *vars, size_t cap,
                  struct gw_scgi_head *out)
{
    size_t max_head = lim != NULL ? lim->max_head : GW_SCGI_DEF_MAX_HEAD;
    const char *why = NULL;
    size_t head_len;
    int rc;

    if (max_head > GW_SCGI_MAX_HEAD_CAP)
        max_head = GW_SCGI_MAX_HEAD_CAP;
    if (p->state == S_ERROR)
        return p->err.code;

    for (; p->state == S_LENGTH && p->pos < len; p->pos++) {
        unsigned char c = (unsigned char)buf[p->pos];

        if (p->pos == 0) {
            /* The first byte decides empty lengths, signs and leading zeros: a
             * length starting with '0' is either "0" (no room for CONTENT_LENGTH)
             * or has a leading zero. */
            if (c == ':')
                return parser_fail(p, GW_EPROTO, "empty netstring length");
            if (c == '0')
                return parser_fail(p, GW_EPROTO, "netstring length zero or with a leading zero");
            if (!is_digit(c))
                return parser_fail(p, GW_EPROTO, "netstring length not a digit");
            p->block_len = (size_t)(c - '0');
        } else if (is_digit(c)) {
            p->block_len = p->block_len * 10 + (size_t)(c - '0');
        } else if (c == ':') {
            if (p->block_len < GW_SCGI_MIN_BLOCK)
                return parser_fail(p, GW_EPROTO, "netstring too short for CONTENT_LENGTH");
            p->pos++; /* past ':' */
            p->block_off = p->pos;
            p->state = S_BLOCK;
            break;
        } else {
            return parser_fail(p, GW_EPROTO, "netstring length not a digit");
        }
        /* Refused on the digit that makes it too long; each digit at most multiplies a
         * value <= max_head by ten, so block_len stays below 10 * GW_SCGI_MAX_HEAD_CAP. */
        if (p->block_len > max_head)
            return parser_fail(p, GW_ETOOBIG, "header block longer than the limit");
    }
    if (p->state == S_LENGTH)
        return 0;

    /* S_BLOCK or S_DONE: wait for the block and its ',' (O(1) per call). */
    head_len = p->block_off + p->block_len + 1;
    if (len < head_len) {
        p->pos = len;
        return 0;
    }
    p->pos = head_len;
    if (buf[head_len - 1] != ',')
        return parser_fail(p, GW_EPROTO, "netstring not ending in ','");
    rc = parse_block(buf + p->block_off, p->block_len, vars, cap, out, &why);
    if (rc < 0)
        return parser_fail(p, rc, why);
    out->head_len = head_len;
    p->state = S_DONE;
    return (int)head_len;
}
