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
 * shared/hostile-inputs.md (H01-H42). Two tolerances, both taken from practice and
 * the gunicorn corpus: empty lines (CRLF) before the request-line are skipped
 * (RFC 9112 section 2.2), and obs-text (0x80-0xFF) is accepted in the request-target
 * as well as in field values.
 */
#include "protocols/http_parse.h"

#include <limits.h>

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

/* ------------------------------------------------------------------ scanner */

int gw_http_scan_head(struct gw_http_scan *s, const char *buf, size_t len,
                      const struct gw_http_limits *lim)
{
    size_t max_line = lim->max_target > SIZE_MAX - REQUEST_LINE_ALLOWANCE
                          ? SIZE_MAX
                          : lim->max_target + REQUEST_LINE_ALLOWANCE;
    size_t max_head = lim->max_head < (size_t)INT_MAX ? lim->max_head : (size_t)INT_MAX;
    size_t max_lines = lim->max_fields < SIZE_MAX ? lim->max_fields + 1 : SIZE_MAX;

    for (size_t pos = s->pos; pos < len; pos++) {
        unsigned char c = (unsigned char)buf[pos];

        if (pos + 1 > max_head)
            return -431;
        if (s->prev_cr) {
            if (c != '\n')
                return -400; /* bare CR */
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
        if (c == '\n' || c == '\0')
            return -400; /* bare LF, NUL */
        if (s->nlines == 0) {
            if (pos + 1 - s->line_start > max_line)
                return -414;
        } else if (pos == s->line_start && s->nlines >= max_lines) {
            return -431; /* a field line beyond max_fields starts */
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
 * Absolute-form "http[s]://authority[path-abempty][?query]". Returns 0 or -400.
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
        return -400;
    a = skip;
    for (e = a; e < n && t[e] != '/' && t[e] != '?' && t[e] != '#'; e++)
        ;
    if (memchr(t + a, '@', e - a) != NULL)
        return -400; /* userinfo */
    if (e == a || t[a] == ':' || !valid_hostport(t + a, e - a))
        return -400; /* http(s) URIs need a non-empty host */
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

/* Request line p[0..n) without CRLF. Returns 0 or -status. */
static int parse_request_line(const char *p, size_t n, const struct gw_http_limits *lim,
                              struct gw_http_head *out)
{
    size_t i = 0, m, ts, te;
    const char *v;

    while (i < n && gw_lex_is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ' ')
        return -400;
    m = i;
    ts = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x21 || c == 0x7f)
            return -400; /* CTL in the target */
        i++;
    }
    te = i;
    if (te == ts || i == n)
        return -400; /* empty target or no version */
    v = p + i + 1;
    n -= i + 1;

    out->method = gw_slice_make(p, m);
    out->target = gw_slice_make(p + ts, te - ts);
    if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && is_digit((unsigned char)v[5]) && v[6] == '.' &&
        is_digit((unsigned char)v[7])) {
        if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
            return -505;
        out->minor = v[7] - '0';
    } else {
        return -400;
    }
    if (out->target.len > lim->max_target)
        return -414;
    if (gw_slice_eq(out->method, "CONNECT"))
        return -501; /* authority-form tunnels are not served */
    if (gw_slice_eq(out->method, "PRI"))
        return -400; /* HTTP/2 preface with an HTTP/1 version */

    out->authority = gw_slice_make(NULL, 0);
    out->scheme = gw_slice_make(NULL, 0);
    if (out->target.ptr[0] == '/') {
        split_path_query(out->target.ptr, out->target.len, out);
        return 0;
    }
    if (gw_slice_eq(out->target, "*")) {
        if (!gw_slice_eq(out->method, "OPTIONS"))
            return -400;
        out->path = out->target;
        out->query = gw_slice_make(NULL, 0);
        return 0;
    }
    return parse_absolute(out->target.ptr, out->target.len, out);
}

/*
 * One field line p[0..n) (no CRLF) into *f: name = token, ':' right after it,
 * value with OWS trimmed and only field-vchar / SP / HTAB inside. 0 or -400.
 * Shared by the head parser and the chunked decoder's trailers.
 */
static int parse_field_line(const char *p, size_t n, struct gw_field *f)
{
    size_t i = 0, vs, ve;

    while (i < n && gw_lex_is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ':')
        return -400; /* empty name, obs-fold, space before colon, no colon */
    f->name = gw_slice_make(p, i);
    for (size_t k = i + 1; k < n; k++) {
        if (!is_value_byte((unsigned char)p[k]))
            return -400;
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
 * empty element or a non-token element (e.g. "\xa0chunked") -> -400; a list whose
 * last coding is not chunked ("chunked, identity", "identity", "gzip", "blegh") ->
 * -400, since such a request has no determinable length (RFC 9112 6.3, item 4);
 * chunked last with other codings before it ("gzip, chunked") -> -501, codings we
 * do not decode (RFC 9112 6.1).
 */
static int check_transfer_encoding(struct gw_slice v)
{
    size_t i = 0, nchunked = 0;
    int last_chunked = 0;

    if (gw_slice_eq_lower(v, "chunked"))
        return 0;
    if (v.len == 0)
        return -400;
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
            return -400;
        last_chunked = mem_eq_lower(v.ptr + s, e - s, "chunked");
        nchunked += (size_t)last_chunked;
        i++; /* past ',' (or past the end, which stops the loop) */
    }
    if (nchunked > 1 || !last_chunked)
        return -400;
    return -501;
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
            return -400; /* not a complete head, bare CR/LF or NUL */
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
        if (parse_field_line(p, (size_t)(eol - p), &f) < 0)
            return -400;
        p = eol + 2;
        if (out->nfields >= max_fields)
            return -431;
        fields[out->nfields] = f;

        const struct gw_field *fp = &fields[out->nfields++];
        if (gw_slice_eq_lower(f.name, "content-length")) {
            if (cl != NULL || gw_lex_content_length(f.value, &out->content_length) < 0)
                return -400;
            cl = fp;
        } else if (gw_slice_eq_lower(f.name, "transfer-encoding")) {
            if (te != NULL)
                return -400;
            te = fp;
        } else if (gw_slice_eq_lower(f.name, "host")) {
            if (out->host != NULL || !valid_hostport(f.value.ptr, f.value.len))
                return -400;
            out->host = fp;
        } else if (gw_slice_eq_lower(f.name, "content-type")) {
            if (out->content_type != NULL)
                return -400; /* a singleton field given twice: which one? */
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
        return -400; /* head_len did not end at the end of the head */

    if (te != NULL) {
        if (cl != NULL || out->minor == 0)
            return -400;
        rc = check_transfer_encoding(te->value);
        if (rc < 0)
            return rc;
        out->chunked = 1;
    }
    if (out->minor == 1 && out->host == NULL)
        return -400;
    if (out->minor == 0) {
        /* RFC 9110 10.1.1: a 1.0 request's expectations are ignored */
        out->expect_continue = 0;
        expect_other = 0;
        out->keep_alive = has_keep_alive && !has_close;
    } else {
        out->keep_alive = !has_close;
    }
    if (expect_other)
        return -417;
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

/* One byte of the size line (digits, extensions, CR). Returns 0 or -status. */
static int size_line_byte(struct gw_http_chunked *d, unsigned char c)
{
    int h = gw_lex_hex_value(c);

    switch (d->state) {
    case C_SIZE:
        if (h < 0)
            return -400;
        d->remaining = (uint64_t)h;
        d->ndigits = 1;
        d->state = C_SIZE_MORE;
        return 0;
    case C_SIZE_MORE:
        if (h >= 0) {
            if (++d->ndigits > 16)
                return -400;
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
            return -400;
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
            return -400;
        return 0;
    case C_EXT_QPAIR:
        if (!is_value_byte(c))
            return -400;
        d->state = C_EXT_QUOTED;
        return 0;
    case C_EXT_QEND:
        if (c == ' ' || c == '\t') {
            d->state = C_EXT_POST_VAL;
            return 0;
        }
        break;
    default:
        return -400;
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
    return -400;
}

static int count_meta(struct gw_http_chunked *d, size_t n)
{
    if (n > GW_HTTP_MAX_CHUNK_EXT - d->meta_bytes)
        return -413;
    d->meta_bytes += n;
    return 0;
}

/* A complete trailer line p[0..n): field syntax, and never a framing or routing
 * field (H25: they must not be merged into the request). */
static int check_trailer(const char *p, size_t n)
{
    struct gw_field f;

    if (parse_field_line(p, n, &f) < 0)
        return -400;
    if (gw_slice_eq_lower(f.name, "content-length") ||
        gw_slice_eq_lower(f.name, "transfer-encoding") || gw_slice_eq_lower(f.name, "host"))
        return -400;
    return 0;
}

static int chunked_fail(struct gw_http_chunked *d, int rc)
{
    d->state = C_ERROR;
    d->remaining = (uint64_t)-rc;
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
        return -(int)d->remaining;
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
                return chunked_fail(d, -400);
            d->state = d->state == C_DATA_CR ? C_DATA_LF : C_SIZE;
            i++;
            break;
        case C_SIZE_LF:
            if (c != '\n')
                return chunked_fail(d, -400);
            d->state = d->remaining == 0 ? C_TRAILER : C_DATA;
            i++;
            break;
        case C_FINAL_LF:
            if (c != '\n')
                return chunked_fail(d, -400);
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
                    return chunked_fail(d, -400);
                if (k - i + 2 > GW_HTTP_MAX_CHUNK_EXT - d->meta_bytes)
                    return chunked_fail(d, -413);
            }
            if (k + 1 >= len) {
                d->line_len = k - i; /* CR (if seen) is re-examined next time */
                *consumed = i;
                return GW_CHUNK_MORE;
            }
            if (in[k + 1] != '\n')
                return chunked_fail(d, -400);
            if ((rc = check_trailer(in + i, k - i)) < 0 || (rc = count_meta(d, k - i + 2)) < 0)
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
