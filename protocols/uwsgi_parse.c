/*
 * The uwsgi request-head parser (contract in uwsgi_parse.h): the 4-byte header read
 * byte by byte, then the vars block parsed once, in place, into name/value slices.
 *
 * Invariants: no allocation, no I/O, no mutable globals; nothing is read outside
 * [buf, buf + len) nor written outside the caller's state, array and head struct.
 * Between calls the state holds offsets only (the caller's buffer may move). Every
 * length read from the block is checked against the bytes of the block left at that
 * point (never against datasize alone, never by subtracting one untrusted length
 * from another): a pair that says it is longer than what is left of the block is
 * refused, which is the check Apache's mod_proxy_uwsgi lacked in CVE-2020-11984.
 * Any thread may call gw_uwsgi_parse; a state struct belongs to one request.
 */
#include "protocols/uwsgi_parse.h"

#include <string.h>

#include "protocols/lex.h"

enum { S_HEADER, S_BLOCK, S_DONE, S_ERROR };

void gw_uwsgi_parser_init(struct gw_uwsgi_parser *p)
{
    memset(p, 0, sizeof(*p));
    p->state = S_HEADER;
}

static int parser_fail(struct gw_uwsgi_parser *p, int code, const char *why)
{
    p->state = S_ERROR;
    int status = code == GW_ETOOBIG ? 431 : code == GW_ENOTSUP ? 501 : 400;
    return gw_parse_fail(&p->err, code, status, why);
}

static size_t le16(const char *b)
{
    return (size_t)(unsigned char)b[0] | (size_t)(unsigned char)b[1] << 8;
}

/* One length-prefixed string at b[*off ..) (*off <= n): its slice, *off moved past
 * it. 0, or GW_EPROTO when its length or its bytes run past n. */
static int take_string(const char *b, size_t n, size_t *off, struct gw_slice *s)
{
    size_t len;
    if (n - *off < 2)
        return GW_EPROTO;
    len = le16(b + *off);
    *off += 2;
    if (len > n - *off)
        return GW_EPROTO;
    *s = gw_slice_make(b + *off, len);
    *off += len;
    return 0;
}

/*
 * Splits the block b[0..n) into vars[] (UWSGI_* dropped) and reads CONTENT_LENGTH.
 * Returns 0 or a GW_E* with *why set.
 */
static int parse_block(const char *b, size_t n, struct gw_field *vars, size_t cap,
                       struct gw_uwsgi_head *out, const char **why)
{
    size_t off = 0, nvars = 0, ndropped = 0, ncl = 0;
    int64_t clen = 0;

    while (off < n) {
        struct gw_field f;
        if (take_string(b, n, &off, &f.name) != 0) {
            *why = "key length past the vars block";
            return GW_EPROTO;
        }
        if (f.name.len == 0) {
            *why = "zero-length key";
            return GW_EPROTO;
        }
        if (take_string(b, n, &off, &f.value) != 0) {
            *why = "value length past the vars block";
            return GW_EPROTO;
        }
        if (f.name.len >= 6 && memcmp(f.name.ptr, "UWSGI_", 6) == 0) {
            ndropped++; /* never acted on, never in environ */
            continue;
        }
        if (gw_slice_eq(f.name, "CONTENT_LENGTH")) {
            if (++ncl > 1) {
                *why = "CONTENT_LENGTH given twice";
                return GW_EPROTO;
            }
            if (f.value.len > 0 && gw_lex_content_length(f.value, &clen) < 0) {
                *why = "CONTENT_LENGTH not 1-18 digits";
                return GW_EPROTO;
            }
        }
        if (nvars == cap) {
            *why = "too many variables";
            return GW_ETOOBIG;
        }
        if (vars != NULL)
            vars[nvars] = f;
        nvars++;
    }
    out->vars = vars;
    out->nvars = nvars;
    out->ndropped = ndropped;
    out->content_length = clen;
    return 0;
}

int gw_uwsgi_parse(struct gw_uwsgi_parser *p, const char *buf, size_t len,
                   const struct gw_uwsgi_limits *lim, struct gw_field *vars, size_t cap,
                   struct gw_uwsgi_head *out)
{
    size_t max_head = lim != NULL ? lim->max_head : GW_UWSGI_MAX_BLOCK;
    const char *why = NULL;
    size_t head_len;
    int rc;

    if (p->state == S_ERROR)
        return p->err.code;

    /* The header, each byte decided when it arrives. */
    for (; p->state == S_HEADER && p->pos < len; p->pos++) {
        switch (p->pos) {
        case 0:
            if (buf[0] != 0)
                return parser_fail(p, GW_ENOTSUP, "modifier1 not 0");
            break;
        case 2:
            p->block_len = le16(buf + 1);
            if (p->block_len > max_head)
                return parser_fail(p, GW_ETOOBIG, "vars block longer than the limit");
            break;
        case 3:
            if (buf[3] != 0)
                return parser_fail(p, GW_ENOTSUP, "modifier2 not 0");
            p->state = S_BLOCK;
            break;
        default:
            break;
        }
    }
    if (p->state == S_HEADER)
        return 0;

    /* S_BLOCK or S_DONE: wait for the whole block (O(1) per call). */
    head_len = GW_UWSGI_HEADER_LEN + p->block_len;
    if (len < head_len) {
        p->pos = len;
        return 0;
    }
    p->pos = head_len;
    rc = parse_block(buf + GW_UWSGI_HEADER_LEN, p->block_len, vars, cap, out, &why);
    if (rc < 0)
        return parser_fail(p, rc, why);
    out->head_len = head_len;
    p->state = S_DONE;
    return (int)head_len;
}
