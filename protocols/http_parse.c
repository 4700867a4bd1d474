/*
 * The HTTP/1.1 request parser (contract in http_parse.h): a head scanner, a head
 * parser and a chunked-body decoder, all pure functions over the caller's bytes.
 *
 * Invariants: no allocation, no I/O, no mutable globals (the tchar table and
 * the other lexical rules are protocols/lex.c's); nothing is ever read outside [buf, buf + len);
 * every result is a slice of the caller's buffer (or a string literal, for the "/" of an empty
 * absolute path). The scanner and the decoder keep all their progress in the caller's state struct,
 * so feeding a request one byte at a time costs O(n) in total and gives the same
 * verdict as feeding it whole. Any thread may call them; a state struct belongs to
 * one connection.
 *
 * Grammar is RFC 9112 read strictly, with the refusals listed in
 * docs/hostile-inputs.md (H01-H42). Two tolerances, both taken from practice and
 * the gunicorn corpus: empty lines (CRLF) before the request-line are skipped
 * (RFC 9112 section 2.2), and obs-text (0x80-0xFF) is accepted in the request-target
 * as well as in field values.
 */
#include "protocols/http_parse.h"

#include <limits.h>

#include "gateway/errors.h"
#include "protocols/lex.h"

/* Bytes a request line may hold beyond the request-target: method, two SP, version. */
#define REQUEST_LINE_ALLOWANCE 32

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* field-vchar / SP / HTAB: what a field value may hold (RFC 9110 section 5.5). */
static int is_value_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* 1 when the n bytes at p equal the lower-case literal lit, ignoring ASCII case. */
static int mem_eq_lower(const char *p, size_t n, const char *lit)
{
    return gw_slice_eq_lower(gw_slice_make(p, n), lit);
}

/* The three ways an HTTP request is refused (gateway/errors.h), each with its status. */
static int malformed(struct gw_parse_error *e, const char *why)
{
    return gw_parse_fail(e, GW_EPROTO, 400, why);
}

static int too_big(struct gw_parse_error *e, int status, const char *why)
{
    return gw_parse_fail(e, GW_ETOOBIG, status, why);
}

static int unsupported(struct gw_parse_error *e, int status, const char *why)
{
    return gw_parse_fail(e, GW_ENOTSUP, status, why);
}

/* ------------------------------------------------------------------ scanner */

int gw_http_scan_head(struct gw_http_scan *s, const char *buf, size_t len,
                      const struct gw_http_limits *lim)
{
    size_t max_line = lim->max_target > SIZE_MAX - REQUEST_LINE_ALLOWANCE
                          ? SIZE_MAX
                          : lim->max_target + REQUEST_LINE_ALLOWANCE;
    size_t max_head = lim->max_head < (size_t)INT_MAX ? lim->max_head : (size_t)INT_MAX;
    size_t max_lines = lim->max_fields < SIZE_MAX ? lim->max_fields + 1 : SIZE_MAX;

    if (s->err.code)
        return s->err.code;
    for (size_t pos = s->pos; pos < len; pos++) {
        unsigned char c = (unsigned char)buf[pos];

        if (pos + 1 > max_head)
            return too_big(&s->err, 431, "head longer than the limit");
        if (s->prev_cr) {
            if (c != '\n')
                return malformed(&s->err, "bare CR in the head");
            s->prev_cr = 0;
            if (pos - 1 == s->line_start) {
                if (s->nlines == 0) {
                    /* empty line before the request-line: skipped (RFC 9112 2.2) */
                    s->line_start = pos + 1;
                    continue;
                }
                s->pos = pos + 1;
                return (int)(pos + 1);
            }
            s->nlines++;
            s->line_start = pos + 1;
            continue;
        }
        if (c == '\r') {
            s->prev_cr = 1;
            continue;
        }
        if (c == '\n')
            return malformed(&s->err, "bare LF in the head");
        if (c == '\0')
            return malformed(&s->err, "NUL in the head");
        if (s->nlines == 0) {
            if (pos + 1 - s->line_start > max_line)
                return too_big(&s->err, 414, "request line longer than the target limit");
        } else if (pos == s->line_start && s->nlines >= max_lines) {
            /* a field line beyond max_fields starts */
            return too_big(&s->err, 431, "more header fields than the limit");
        }
    }
    s->pos = len;
    return 0;
}

/* ------------------------------------------------------------- head parser */

/* Checks host [":" port] (RFC 3986 authority without userinfo); 1 when valid.
 * An empty string is valid (an empty Host field is allowed by RFC 9112 3.2). */
static int valid_hostport(const char *p, size_t n)
{
    size_t i = 0;

    if (n > 0 && p[0] == '[') {
        /* IP-literal: hex digits, ':' and '.' (IPv6, maybe IPv4-suffixed) or a
         * future "vX." form made of unreserved / sub-delims / ':'. */
        for (i = 1; i < n && p[i] != ']'; i++) {
            unsigned char c = (unsigned char)p[i];
            if (!(gw_lex_hex_value(c) >= 0 || c == ':' || c == '.' || c == 'v' || c == 'V'))
                return 0;
        }
        if (i >= n || i == 1)
            return 0;
        i++; /* past ']' */
    } else {
        for (; i < n && p[i] != ':'; i++) {
            unsigned char c = (unsigned char)p[i];
            /* reg-name: unreserved / pct-encoded / sub-delims */
            if (!(gw_lex_is_tchar(c) || c == '(' || c == ')' || c == ',' || c == ';' || c == '=') ||
                c == '^' || c == '`' || c == '|' || c == '#')
                return 0;
            if (c == '%' && (i + 2 >= n || gw_lex_hex_value((unsigned char)p[i + 1]) < 0 ||
                             gw_lex_hex_value((unsigned char)p[i + 2]) < 0))
                return 0;
        }
    }
    if (i == n)
        return 1;
    if (p[i] != ':')
        return 0;
    for (i++; i < n; i++) {
        if (!is_digit((unsigned char)p[i]))
            return 0;
    }
    return 1;
}

/* Splits off path and query of p[0..n) (which starts at the path). */
static void split_path_query(const char *p, size_t n, struct gw_http_head *out)
{
    size_t i = 0;

    while (i < n && p[i] != '?' && p[i] != '#')
        i++;
    out->path = gw_slice_make(p, i);
    out->query = gw_slice_make(NULL, 0);
    if (i < n && p[i] == '?') {
        size_t q = ++i;
        while (i < n && p[i] != '#')
            i++;
        out->query = gw_slice_make(p + q, i - q);
    }
}

/*
 * Absolute-form "http[s]://authority[path-abempty][?query]". Returns 0 or GW_EPROTO.
 * The authority must be a non-empty host[:port]: userinfo ("http://u@h/") is
 * refused as nginx does (RFC 9110 4.2.4 deprecates it; a server has no use for a
 * password in a request line), and "http:///p" has no host.
 */
static int parse_absolute(const char *t, size_t n, struct gw_http_head *out)
{
    size_t skip, a, e;

    if (n >= 7 && mem_eq_lower(t, 7, "http://"))
        skip = 7;
    else if (n >= 8 && mem_eq_lower(t, 8, "https://"))
        skip = 8;
    else
        return malformed(&out->err, "request-target neither origin nor http(s) absolute form");
    a = skip;
    for (e = a; e < n && t[e] != '/' && t[e] != '?' && t[e] != '#'; e++)
        ;
    if (memchr(t + a, '@', e - a) != NULL)
        return malformed(&out->err, "userinfo in the request-target");
    if (e == a || t[a] == ':' || !valid_hostport(t + a, e - a))
        return malformed(&out->err, "absolute-form target without a valid host");
    out->scheme = gw_slice_make(t, skip - 3);
    out->authority = gw_slice_make(t + a, e - a);
    if (e == n || t[e] != '/') {
        /* empty path: "/" as RFC 9112 3.2.2 says, then the query if any */
        split_path_query(t + e, n - e, out);
        out->path = GW_SLICE_LIT("/");
    } else {
        split_path_query(t + e, n - e, out);
    }
    return 0;
}

/* Request line p[0..n) without CRLF. Returns 0 or a GW_E* recorded in out->err. */
static int parse_request_line(const char *p, size_t n, const struct gw_http_limits *lim,
                              struct gw_http_head *out)
{
    size_t i = 0, m, ts, te;
    const char *v;

    while (i < n && gw_lex_is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ' ')
        return malformed(&out->err, "method not a token followed by one SP");
    m = i;
    ts = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x21 || c == 0x7f)
            return malformed(&out->err, "CTL or DEL in the request-target");
        i++;
    }
    te = i;
    if (te == ts || i == n)
        return malformed(&out->err, "empty request-target or no HTTP version");
    v = p + i + 1;
    n -= i + 1;

    out->method = gw_slice_make(p, m);
    out->target = gw_slice_make(p + ts, te - ts);
    if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && is_digit((unsigned char)v[5]) && v[6] == '.' &&
        is_digit((unsigned char)v[7])) {
        if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
            return unsupported(&out->err, 505, "HTTP version other than 1.0 and 1.1");
        out->minor = v[7] - '0';
    } else {
        return malformed(&out->err, "malformed HTTP version");
    }
    if (out->target.len > lim->max_target)
        return too_big(&out->err, 414, "request-target longer than the limit");
    if (gw_slice_eq(out->method, "CONNECT")) /* authority-form tunnels are not served */
        return unsupported(&out->err, 501, "CONNECT");
    if (gw_slice_eq(out->method, "PRI"))
        return malformed(&out->err, "PRI method (an HTTP/2 preface) with an HTTP/1 version");

    out->authority = gw_slice_make(NULL, 0);
    out->scheme = gw_slice_make(NULL, 0);
    if (out->target.ptr[0] == '/') {
        split_path_query(out->target.ptr, out->target.len, out);
        return 0;
    }
    if (gw_slice_eq(out->target, "*")) {
        if (!gw_slice_eq(out->method, "OPTIONS"))
            return malformed(&out->err, "'*' target on a method other than OPTIONS");
        out->path = out->target;
        out->query = gw_slice_make(NULL, 0);
        return 0;
    }
    return parse_absolute(out->target.ptr, out->target.len, out);
}

/*
 * One field line p[0..n) (no CRLF) into *f: name = token, ':' right after it,
 * value with OWS trimmed and only field-vchar / SP / HTAB inside. 0 or GW_EPROTO
 * recorded in *e. Shared by the head parser and the chunked decoder's trailers.
 */
static int parse_field_line(const char *p, size_t n, struct gw_field *f, struct gw_parse_error *e)
{
    size_t i = 0, vs, ve;

    while (i < n && gw_lex_is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ':') /* empty name, obs-fold, space before colon ... */
        return malformed(e, "field name not a token followed by ':'");
    f->name = gw_slice_make(p, i);
    for (size_t k = i + 1; k < n; k++) {
        if (!is_value_byte((unsigned char)p[k]))
            return malformed(e, "CTL or DEL in a field value");
    }
    vs = i + 1;
    ve = n;
    while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
        vs++;
    while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
        ve--;
    f->value = gw_slice_make(p + vs, ve - vs);
    return 0;
}

/*
 * Transfer-Encoding value: exactly "chunked" -> 0; a list naming chunked twice, an
 * empty element or a non-token element (e.g. "\xa0chunked") -> 400; a list whose
 * last coding is not chunked ("chunked, identity", "identity", "gzip", "blegh") ->
 * 400, since such a request has no determinable length (RFC 9112 6.3, item 4);
 * chunked last with other codings before it ("gzip, chunked") -> 501, codings we
 * do not decode (RFC 9112 6.1). Refusals are recorded in *err.
 */
static int check_transfer_encoding(struct gw_slice v, struct gw_parse_error *err)
{
    size_t i = 0, nchunked = 0;
    int last_chunked = 0;

    if (gw_slice_eq_lower(v, "chunked"))
        return 0;
    if (v.len == 0)
        return malformed(err, "empty Transfer-Encoding");
    while (i <= v.len) {
        size_t s, e;
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t'))
            i++;
        s = i;
        while (i < v.len && gw_lex_is_tchar((unsigned char)v.ptr[i]))
            i++;
        e = i;
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t'))
            i++;
        if (e == s || (i < v.len && v.ptr[i] != ','))
            return malformed(err, "Transfer-Encoding not a list of tokens");
        last_chunked = mem_eq_lower(v.ptr + s, e - s, "chunked");
        nchunked += (size_t)last_chunked;
        i++; /* past ',' (or past the end, which stops the loop) */
    }
    if (nchunked > 1)
        return malformed(err, "chunked twice in Transfer-Encoding");
    if (!last_chunked)
        return malformed(err, "Transfer-Encoding not ending in chunked");
    return unsupported(err, 501, "a transfer coding other than chunked");
}

/* Scans a Connection value for the close and keep-alive options. */
static void scan_connection(struct gw_slice v, int *has_close, int *has_keep_alive)
{
    size_t i = 0;

    while (i < v.len) {
        size_t s, e;
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ','))
            i++;
        s = i;
        while (i < v.len && v.ptr[i] != ',')
            i++;
        e = i;
        while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t'))
            e--;
        if (mem_eq_lower(v.ptr + s, e - s, "close"))
            *has_close = 1;
        else if (mem_eq_lower(v.ptr + s, e - s, "keep-alive"))
            *has_keep_alive = 1;
    }
}

int gw_http_parse_head(const char *buf, size_t head_len, const struct gw_http_limits *lim,
                       struct gw_field *fields, size_t cap, struct gw_http_head *out)
{
    const char *p = buf, *end = buf + head_len;
    const struct gw_field *te = NULL, *cl = NULL;
    int has_close = 0, has_keep_alive = 0, expect_other = 0, rc;
    size_t max_fields = cap < lim->max_fields ? cap : lim->max_fields;

    memset(out, 0, sizeof(*out));
    out->fields = fields;
    out->content_length = -1;

    /* empty lines before the request-line (the scanner allowed them) */
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;

    for (int first = 1;; first = 0) {
        const char *eol = p;
        struct gw_field f;

        while (eol < end && *eol != '\r' && *eol != '\n' && *eol != '\0')
            eol++;
        if (end - eol < 2 || eol[0] != '\r' || eol[1] != '\n')
            return malformed(&out->err, "bare CR, LF or NUL, or no CRLF CRLF, in the head");
        if (first) {
            rc = parse_request_line(p, (size_t)(eol - p), lim, out);
            if (rc < 0)
                return rc;
            p = eol + 2;
            continue;
        }
        if (eol == p) {
            p += 2;
            break; /* the empty line ending the head */
        }
        rc = parse_field_line(p, (size_t)(eol - p), &f, &out->err);
        if (rc < 0)
            return rc;
        p = eol + 2;
        if (out->nfields >= max_fields)
            return too_big(&out->err, 431, "more header fields than the limit");
        fields[out->nfields] = f;

        const struct gw_field *fp = &fields[out->nfields++];
        if (gw_slice_eq_lower(f.name, "content-length")) {
            if (cl != NULL)
                return malformed(&out->err, "two Content-Length fields");
            if (gw_lex_content_length(f.value, &out->content_length) < 0)
                return malformed(&out->err, "Content-Length not 1-18 digits");
            cl = fp;
        } else if (gw_slice_eq_lower(f.name, "transfer-encoding")) {
            if (te != NULL)
                return malformed(&out->err, "two Transfer-Encoding fields");
            te = fp;
        } else if (gw_slice_eq_lower(f.name, "host")) {
            if (out->host != NULL)
                return malformed(&out->err, "two Host fields");
            if (!valid_hostport(f.value.ptr, f.value.len))
                return malformed(&out->err, "Host not host[:port]");
            out->host = fp;
        } else if (gw_slice_eq_lower(f.name, "content-type")) {
            if (out->content_type != NULL) /* a singleton field given twice: which one? */
                return malformed(&out->err, "two Content-Type fields");
            out->content_type = fp;
        } else if (gw_slice_eq_lower(f.name, "connection")) {
            scan_connection(f.value, &has_close, &has_keep_alive);
        } else if (gw_slice_eq_lower(f.name, "expect")) {
            if (gw_slice_eq_lower(f.value, "100-continue"))
                out->expect_continue = 1;
            else
                expect_other = 1;
        }
    }
    if (p != end)
        return malformed(&out->err, "bytes after the end of the head");

    if (te != NULL) {
        if (cl != NULL)
            return malformed(&out->err, "Transfer-Encoding with Content-Length");
        if (out->minor == 0)
            return malformed(&out->err, "Transfer-Encoding on HTTP/1.0");
        rc = check_transfer_encoding(te->value, &out->err);
        if (rc < 0)
            return rc;
        out->chunked = 1;
    }
    if (out->minor == 1 && out->host == NULL)
        return malformed(&out->err, "HTTP/1.1 request without Host");
    if (out->minor == 0) {
        /* RFC 9110 10.1.1: a 1.0 request's expectations are ignored */
        out->expect_continue = 0;
        expect_other = 0;
        out->keep_alive = has_keep_alive && !has_close;
    } else {
        out->keep_alive = !has_close;
    }
    if (expect_other)
        return unsupported(&out->err, 417, "an expectation other than 100-continue");
    return 0;
}

/* --------------------------------------------------------- chunked decoder */

enum {
    C_SIZE = 0,      /* first hex digit of a chunk-size */
    C_SIZE_MORE,     /* more hex digits, ';', BWS or CR */
    C_SIZE_BWS,      /* whitespace after the size: only ';' may follow */
    C_EXT_PRE_NAME,  /* after ';': BWS, then the extension name */
    C_EXT_NAME,      /* inside the name */
    C_EXT_POST_NAME, /* BWS after the name: '=', ';' or CR */
    C_EXT_PRE_VAL,   /* after '=': BWS, then token or quoted-string */
    C_EXT_TOKEN,     /* inside a token value */
    C_EXT_QUOTED,    /* inside a quoted-string */
    C_EXT_QPAIR,     /* after a backslash in a quoted-string */
    C_EXT_QEND,      /* right after the closing quote */
    C_EXT_POST_VAL,  /* BWS after a value: ';' or CR */
    C_SIZE_LF,       /* CR of the size line seen, LF expected */
    C_DATA,          /* inside chunk data */
    C_DATA_CR,       /* CRLF after the data */
    C_DATA_LF,
    C_TRAILER,  /* at the start of a trailer line or the final CRLF */
    C_FINAL_LF, /* CR of the final empty line seen */
    C_DONE,
    C_ERROR,
};

/* One byte of the size line (digits, extensions, CR). Returns 0 or GW_EPROTO recorded
 * in d->err. */
static int size_line_byte(struct gw_http_chunked *d, unsigned char c)
{
    int h = gw_lex_hex_value(c);

    switch (d->state) {
    case C_SIZE:
        if (h < 0)
            return malformed(&d->err, "chunk size not a hex number");
        d->remaining = (uint64_t)h;
        d->ndigits = 1;
        d->state = C_SIZE_MORE;
        return 0;
    case C_SIZE_MORE:
        if (h >= 0) {
            if (++d->ndigits > 16)
                return malformed(&d->err, "chunk size longer than 16 hex digits");
            d->remaining = d->remaining << 4 | (uint64_t)h;
            return 0;
        }
        break;
    case C_SIZE_BWS:
    case C_EXT_POST_NAME:
    case C_EXT_POST_VAL:
        if (c == ' ' || c == '\t')
            return 0;
        if (c == '=' && d->state == C_EXT_POST_NAME) {
            d->state = C_EXT_PRE_VAL;
            return 0;
        }
        break;
    case C_EXT_PRE_NAME:
    case C_EXT_PRE_VAL:
        if (c == ' ' || c == '\t')
            return 0;
        if (c == '"' && d->state == C_EXT_PRE_VAL) {
            d->state = C_EXT_QUOTED;
            return 0;
        }
        if (!gw_lex_is_tchar(c))
            return malformed(&d->err, "chunk extension name or value not a token");
        d->state = d->state == C_EXT_PRE_NAME ? C_EXT_NAME : C_EXT_TOKEN;
        return 0;
    case C_EXT_NAME:
    case C_EXT_TOKEN:
        if (gw_lex_is_tchar(c))
            return 0;
        if (c == ' ' || c == '\t') {
            d->state = d->state == C_EXT_NAME ? C_EXT_POST_NAME : C_EXT_POST_VAL;
            return 0;
        }
        if (c == '=' && d->state == C_EXT_NAME) {
            d->state = C_EXT_PRE_VAL;
            return 0;
        }
        break;
    case C_EXT_QUOTED:
        if (c == '"')
            d->state = C_EXT_QEND;
        else if (c == '\\')
            d->state = C_EXT_QPAIR;
        else if (!is_value_byte(c))
            return malformed(&d->err, "CTL or DEL in a chunk extension");
        return 0;
    case C_EXT_QPAIR:
        if (!is_value_byte(c))
            return malformed(&d->err, "CTL or DEL in a chunk extension");
        d->state = C_EXT_QUOTED;
        return 0;
    case C_EXT_QEND:
        if (c == ' ' || c == '\t') {
            d->state = C_EXT_POST_VAL;
            return 0;
        }
        break;
    default:
        return malformed(&d->err, "chunk size line in a bad state");
    }

    /*
     * The end of a digit run, name, value or BWS: ';', CR, or (after the digits)
     * BWS. Whitespace is only allowed before ';' or '=' (RFC 9112 7.1.1 BWS), so a
     * CR after it ("5 " CRLF, H17) is refused.
     */
    if (c == ';') {
        d->state = C_EXT_PRE_NAME;
        return 0;
    }
    if (c == '\r' && d->state != C_SIZE_BWS && d->state != C_EXT_POST_NAME &&
        d->state != C_EXT_POST_VAL) {
        d->state = C_SIZE_LF;
        return 0;
    }
    if ((c == ' ' || c == '\t') && d->state == C_SIZE_MORE) {
        d->state = C_SIZE_BWS;
        return 0;
    }
    return malformed(&d->err, "malformed chunk size line");
}

/* Counts n extension or trailer bytes against GW_HTTP_MAX_CHUNK_EXT: 0 or GW_ETOOBIG. */
static int count_meta(struct gw_http_chunked *d, size_t n)
{
    if (n > GW_HTTP_MAX_CHUNK_EXT - d->meta_bytes)
        return too_big(&d->err, 413, "chunk extensions and trailers longer than the limit");
    d->meta_bytes += n;
    return 0;
}

/* A complete trailer line p[0..n): field syntax, and never a framing or routing
 * field (H25: they must not be merged into the request). 0 or GW_EPROTO in *e. */
static int check_trailer(const char *p, size_t n, struct gw_parse_error *e)
{
    struct gw_field f;
    int rc = parse_field_line(p, n, &f, e);

    if (rc < 0)
        return rc;
    if (gw_slice_eq_lower(f.name, "content-length") ||
        gw_slice_eq_lower(f.name, "transfer-encoding") || gw_slice_eq_lower(f.name, "host"))
        return malformed(e, "trailer naming Content-Length, Transfer-Encoding or Host");
    return 0;
}

/* Makes the refusal rc (recorded in d->err) sticky. */
static int chunked_fail(struct gw_http_chunked *d, int rc)
{
    d->state = C_ERROR;
    return rc;
}

int gw_http_chunked_step(struct gw_http_chunked *d, const char *in, size_t len, size_t *consumed,
                         struct gw_slice *data)
{
    size_t i = 0;
    int rc;

    *data = gw_slice_make(NULL, 0);
    *consumed = 0;
    if (d->state == C_ERROR)
        return d->err.code;
    if (d->state == C_DONE)
        return GW_CHUNK_DONE;

    while (i < len) {
        unsigned char c = (unsigned char)in[i];

        switch (d->state) {
        case C_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > d->remaining)
                n = (size_t)d->remaining;
            d->remaining -= n;
            if (d->remaining == 0)
                d->state = C_DATA_CR;
            *data = gw_slice_make(in + i, n);
            *consumed = i + n;
            return GW_CHUNK_DATA;
        }
        case C_DATA_CR:
        case C_DATA_LF:
            if (c != (d->state == C_DATA_CR ? '\r' : '\n'))
                return chunked_fail(d, malformed(&d->err, "chunk data not followed by CRLF"));
            d->state = d->state == C_DATA_CR ? C_DATA_LF : C_SIZE;
            i++;
            break;
        case C_SIZE_LF:
            if (c != '\n')
                return chunked_fail(d, malformed(&d->err, "bare CR in a chunk size line"));
            d->state = d->remaining == 0 ? C_TRAILER : C_DATA;
            i++;
            break;
        case C_FINAL_LF:
            if (c != '\n')
                return chunked_fail(d, malformed(&d->err, "bare CR after the last chunk"));
            d->state = C_DONE;
            *consumed = i + 1;
            return GW_CHUNK_DONE;
        case C_TRAILER: {
            /*
             * A trailer line is returned whole as one slice of the input, so a
             * partial line is left unconsumed for the caller to present again;
             * line_len remembers how much of it was already checked.
             */
            size_t k = i + d->line_len;
            if (d->line_len == 0 && c == '\r') {
                if ((rc = count_meta(d, 2)) < 0)
                    return chunked_fail(d, rc);
                d->state = C_FINAL_LF;
                i++;
                break;
            }
            for (; k < len; k++) {
                unsigned char t = (unsigned char)in[k];
                if (t == '\r')
                    break;
                if (t == '\n' || t == '\0')
                    return chunked_fail(d, malformed(&d->err, "bare LF or NUL in a trailer"));
                if (k - i + 2 > GW_HTTP_MAX_CHUNK_EXT - d->meta_bytes)
                    return chunked_fail(d, count_meta(d, k - i + 2)); /* refuses it */
            }
            if (k + 1 >= len) {
                d->line_len = k - i; /* CR (if seen) is re-examined next time */
                *consumed = i;
                return GW_CHUNK_MORE;
            }
            if (in[k + 1] != '\n')
                return chunked_fail(d, malformed(&d->err, "bare CR in a trailer"));
            if ((rc = check_trailer(in + i, k - i, &d->err)) < 0 ||
                (rc = count_meta(d, k - i + 2)) < 0)
                return chunked_fail(d, rc);
            d->line_len = 0;
            *data = gw_slice_make(in + i, k - i);
            *consumed = k + 2;
            return GW_CHUNK_TRAILER;
        }
        default:
            /* the size line: every byte but the digits and CR counts as extension */
            if (c != '\r' && !(d->state <= C_SIZE_MORE && gw_lex_hex_value(c) >= 0) &&
                (rc = count_meta(d, 1)) < 0)
                return chunked_fail(d, rc);
            if ((rc = size_line_byte(d, c)) < 0)
                return chunked_fail(d, rc);
            i++;
            break;
        }
    }
    *consumed = i;
    return GW_CHUNK_MORE;
}
