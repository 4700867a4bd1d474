/*
 * Unit tests of protocols/http_parse.c: tables of {raw bytes, expected verdict,
 * expected fields} for the HTTP rows of docs/hostile-inputs.md (H01-H42, H47-H51
 * as far as the parser decides them) and for valid requests, plus the chunked
 * decoder. Every input is fed whole, one byte at a time and in several random splits
 * (fixed seed); the verdict and the parsed fields must not change. Each call gets
 * an exact-size heap copy of the bytes it may read, so ASan reports any over-read.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/http_parse.h"
#include "tests/unit/support.h"

#define INCOMPLETE 1 /* verdict: the input ended inside a head or a body */
#define NFIELDS    128

/* ------------------------------------------------------------------ driver */

static const struct gw_http_limits default_limits = {
    .max_target = GW_HTTP_DEF_MAX_TARGET,
    .max_head = GW_HTTP_DEF_MAX_HEAD,
    .max_fields = GW_HTTP_DEF_MAX_FIELDS,
};

/* The verdicts as the tables write them: a refusal as -status, once its record has
 * been checked against the code (gateway/errors.h). */
static int scan_verdict(struct gw_http_scan *s, const char *buf, size_t len,
                        const struct gw_http_limits *lim)
{
    int rc = gw_http_scan_head(s, buf, len, lim);
    return rc < 0 ? check_refusal(rc, &s->err, 0) : rc;
}

static int parse_verdict(const char *buf, size_t head_len, const struct gw_http_limits *lim,
                         struct gw_field *fields, size_t cap, struct gw_http_head *out)
{
    int rc = gw_http_parse_head(buf, head_len, lim, fields, cap, out);
    if (rc < 0)
        return check_refusal(rc, &out->err, 0);
    cr_assert(out->err.code == 0 && out->err.why == NULL);
    return rc;
}

static void describe_head(struct sb *b, const struct gw_http_head *h)
{
    sb_add(b, "REQ ", 4);
    sb_esc_slice(b, h->method);
    sb_add(b, " ", 1);
    sb_esc_slice(b, h->target);
    sb_fmt(b, " 1.%d path=", h->minor);
    sb_esc_slice(b, h->path);
    sb_add(b, " q=", 3);
    sb_esc_slice(b, h->query);
    sb_add(b, " auth=", 6);
    sb_esc_slice(b, h->authority);
    if (h->scheme.ptr != NULL) {
        sb_add(b, " scheme=", 8);
        sb_esc_slice(b, h->scheme);
    }
    sb_fmt(b, " cl=%" PRId64 " te=%d ka=%d ec=%d\n", h->content_length, h->chunked, h->keep_alive,
           h->expect_continue);
    for (size_t i = 0; i < h->nfields; i++) {
        sb_add(b, "H ", 2);
        sb_esc_slice(b, h->fields[i].name);
        sb_add(b, ": ", 2);
        sb_esc_slice(b, h->fields[i].value);
        sb_add(b, "\n", 1);
    }
    /* the direct pointers must point at fields of the list */
    if (h->host != NULL)
        cr_assert(h->host >= h->fields && h->host < h->fields + h->nfields);
    if (h->content_type != NULL)
        cr_assert(h->content_type >= h->fields && h->content_type < h->fields + h->nfields);
}

static void flush_body(struct sb *b, struct sb *body)
{
    if (body->len) {
        sb_add(b, "B ", 2);
        sb_add(b, body->p, body->len);
        sb_add(b, "\n", 1);
        body->len = 0;
    }
}

/*
 * Runs the requests in data[0..n) as a server would: head, body (Content-Length or
 * chunked), next request while keep-alive. Bytes arrive in steps ending at cuts[]
 * (increasing, the last == n). Writes a description to *b; returns the verdict:
 * 0, INCOMPLETE or the first negative status.
 */
static int drive(const char *data, size_t n, const size_t *cuts, size_t ncuts,
                 const struct gw_http_limits *lim, struct sb *b)
{
    (void)ncuts; /* the last cut is n */
    enum { P_HEAD, P_BODY, P_CHUNKED } phase = P_HEAD;
    struct gw_http_scan scan;
    struct gw_http_chunked dec;
    struct gw_field fields[NFIELDS];
    size_t off = 0, ci = 0, avail = cuts[0];
    uint64_t need = 0;
    int ka = 1, rc = 0;
    struct sb body = {0}; /* body bytes so far: one "B" line however they arrived */

    gw_http_scan_init(&scan);
    for (;;) {
        size_t len = avail - off;
        char *copy = len <= EXACT_COPY_MAX ? exact_copy(data + off, len) : NULL;
        const char *in = copy ? copy : data + off;
        int progressed = 0, done = 0;

        if (phase == P_HEAD) {
            rc = scan_verdict(&scan, in, len, lim);
            if (rc > 0) {
                struct gw_http_head h;
                size_t hl = (size_t)rc;
                char *hc = exact_copy(in, hl);
                rc = parse_verdict(hc, hl, lim, fields, NFIELDS, &h);
                if (rc == 0) {
                    describe_head(b, &h);
                    ka = h.keep_alive;
                    off += hl;
                    progressed = 1;
                    if (h.chunked) {
                        gw_http_chunked_init(&dec);
                        phase = P_CHUNKED;
                    } else if (h.content_length > 0) {
                        need = (uint64_t)h.content_length;
                        phase = P_BODY;
                    } else {
                        done = 1;
                    }
                }
                free(hc);
            }
        } else if (phase == P_BODY) {
            size_t take = len < need ? len : (size_t)need;
            sb_esc_slice(&body, gw_slice_make(in, take));
            off += take;
            need -= take;
            progressed = take > 0;
            done = need == 0;
            rc = 0;
        } else {
            size_t used = 0;
            struct gw_slice d;
            rc = gw_http_chunked_step(&dec, in, len, &used, &d);
            cr_assert(used <= len);
            if (rc == GW_CHUNK_DATA) {
                cr_assert(d.ptr >= in && d.ptr + d.len == in + used && d.len > 0);
                sb_esc_slice(&body, d);
            } else if (rc == GW_CHUNK_TRAILER) {
                cr_assert(d.ptr >= in && d.ptr + d.len + 2 == in + used);
                flush_body(b, &body);
                sb_add(b, "T ", 2);
                sb_esc_slice(b, d);
                sb_add(b, "\n", 1);
            }
            off += used;
            progressed = rc == GW_CHUNK_DATA || rc == GW_CHUNK_TRAILER;
            done = rc == GW_CHUNK_DONE;
            if (rc >= 0)
                rc = 0;
            else
                rc = check_refusal(rc, &dec.err, 0);
        }
        free(copy);
        if (rc < 0)
            break;
        if (done) {
            flush_body(b, &body);
            sb_add(b, "END\n", 4);
            if (!ka || off == n) {
                free(body.p);
                return 0;
            }
            phase = P_HEAD;
            gw_http_scan_init(&scan);
            continue;
        }
        if (progressed)
            continue;
        if (avail == n) {
            rc = INCOMPLETE;
            break;
        }
        avail = cuts[++ci];
    }
    flush_body(b, &body);
    free(body.p);
    if (rc == INCOMPLETE)
        sb_add(b, "INCOMPLETE\n", 11);
    else
        sb_fmt(b, "ERR %d\n", rc);
    return rc;
}

/* drive() as check_splits calls it; ctx is the limits. */
static int feed_drive(const char *data, size_t n, const size_t *cuts, size_t ncuts, const void *lim,
                      struct sb *b)
{
    return drive(data, n, cuts, ncuts, lim, b);
}

/* ------------------------------------------------------------- head tables */

struct req_case {
    const char *name; /* hostile-inputs row or what the case checks */
    const char *raw;
    size_t len;
    int verdict;        /* 0, INCOMPLETE or -status */
    const char *expect; /* full description, or NULL to check the verdict only */
};

#define R(s) (s), sizeof(s) - 1

/* Requests the parser must refuse, each tagged with its hostile-inputs row. */
static struct req_case bad_requests[] = {
    {"H01 CL+TE",
     R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
     -400, NULL},
    {"H01 TE+CL",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
       "Content-Length: 6\r\n\r\n0\r\n\r\n"),
     -400, NULL},
    {"H03 two CL differ",
     R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
       "Content-Length: 6\r\n\r\nhello!"),
     -400, NULL},
    {"H03 two CL equal",
     R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
       "content-length: 5\r\n\r\nhello"),
     -400, NULL},
    {"H03 CL list", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello"), -400,
     NULL},
    {"H05 CL +5", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello"), -400, NULL},
    {"H05 CL -1", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), -400, NULL},
    {"H05 CL 0x5", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello"), -400, NULL},
    {"H05 CL 1_0", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1_0\r\n\r\n"), -400, NULL},
    {"H05 CL 1 0", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n"), -400, NULL},
    {"H05 CL empty", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), -400, NULL},
    {"H05 CL blank", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  \t\r\n\r\n"), -400, NULL},
    {"H05 CL 20 digits",
     R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n"), -400, NULL},
    {"H05 CL 19 digits",
     R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n"), -400, NULL},
    {"H05 CL 5.0", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\nhello"), -400, NULL},
    {"H08 space before colon", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello"),
     -400, NULL},
    {"H08 tab before colon", R("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), -400, NULL},
    {"H09 gzip, chunked",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n"
       "\r\n0\r\n\r\n"),
     -501, NULL},
    {"H09 identity, chunked (a coding before chunked)",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n"
       "\r\n0\r\n\r\n"),
     -501, NULL},
    /* RFC 9112 6.3: chunked not last -> no determinable length -> 400, not 501 */
    {"H09 blegh", R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: blegh\r\n\r\n"), -400, NULL},
    {"H09 chunked, identity",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, "
       "identity\r\n\r\n0\r\n\r\n"),
     -400, NULL},
    {"H09 identity", R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"), -400,
     NULL},
    {"H09 gzip", R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nhello"), -400,
     NULL},
    {"H09 chunked, gzip",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"), -400,
     NULL},
    {"H12 TE twice",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
     -400, NULL},
    {"H12 TE gzip then chunked",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
     -400, NULL},
    {"H12 chunked, chunked",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, "
       "chunked\r\n\r\n0\r\n\r\n"),
     -400, NULL},
    {"H12 empty TE", R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), -400, NULL},
    {"H12 TE list with empty element",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n"), -400, NULL},
    {"H14 TE nbsp",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xa0"
       "chunked\r\n\r\n"),
     -400, NULL},
    {"H14 TE vtab",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0b"
       "chunked\r\n\r\n"),
     -400, NULL},
    {"H14 TE folded", R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"),
     -400, NULL},
    {"H14 TE chunked;q", R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"),
     -400, NULL},
    {"H16 chunked on 1.0", R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
     -400, NULL},
    {"H20 bare LF head", R("GET / HTTP/1.1\nHost: a\n\n"), -400, NULL},
    {"H20 bare LF after a field", R("GET / HTTP/1.1\r\nHost: a\n\r\n"), -400, NULL},
    {"H20 bare LF end", R("GET / HTTP/1.1\r\nHost: a\r\n\n"), -400, NULL},
    {"H20 bare LF in body size",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
       "\r\n5\nhello\r\n0\r\n\r\n"),
     -400, NULL},
    {"H21 bare CR in value",
     R("GET / HTTP/1.1\r\nHost: a\r\nX-Abc: \rxTransfer-Encoding: "
       "chunked\r\n\r\n"),
     -400, NULL},
    {"H21 head ends CRLF CR X", R("GET / HTTP/1.1\r\nHost: a\r\n\rX"), -400, NULL},
    {"H21 bare CR request line", R("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H21 bare CR in size",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\r;ABCD\r\n"),
     -400, NULL},
    {"H23 data without CRLF",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
       "\r\n5\r\nhelloXX0\r\n\r\n"),
     -400, NULL},
    {"H25 trailer CL",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\nContent-Length: 5\r\n\r\n"),
     -400, NULL},
    {"H25 trailer TE",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\ntransfer-encoding: chunked\r\n\r\n"),
     -400, NULL},
    {"H25 trailer Host",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\nHOST: evil\r\n\r\n"),
     -400, NULL},
    {"H31 obs-fold", R("GET / HTTP/1.1\r\nHost: a\r\nLong: one\r\n two\r\n\r\n"), -400, NULL},
    {"H31 obs-fold tab", R("GET / HTTP/1.1\r\nHost: a\r\nLong: one\r\n\ttwo\r\n\r\n"), -400, NULL},
    {"H31 fold first line", R("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), -400, NULL},
    {"H33 empty name", R("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"), -400, NULL},
    {"H33 name with space", R("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"), -400, NULL},
    {"H33 no colon", R("GET / HTTP/1.1\r\nHost: a\r\nContent-Length 10\r\n\r\n"), -400, NULL},
    {"H33 non-token name", R("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\x9f: 3\r\n\r\n"), -400, NULL},
    {"H34 NUL in value", R("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), -400, NULL},
    {"H34 BEL in value",
     R("GET / HTTP/1.1\r\nHost: a\r\nX: a\x07"
       "b\r\n\r\n"),
     -400, NULL},
    {"H34 DEL in value",
     R("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f"
       "b\r\n\r\n"),
     -400, NULL},
    {"H34 ESC in value", R("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[1m\r\n\r\n"), -400, NULL},
    {"H34 NUL in name", R("GET / HTTP/1.1\r\nHost: a\r\nba\0z: bar\r\n\r\n"), -400, NULL},
    {"H37 1.1 without Host", R("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), -400, NULL},
    {"H37 two Host", R("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), -400, NULL},
    {"H37 two Host equal", R("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), -400, NULL},
    {"H37 Host a b", R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400, NULL},
    {"H37 Host with slash", R("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), -400, NULL},
    {"H37 Host with userinfo", R("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), -400, NULL},
    {"H37 Host bad port", R("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"), -400, NULL},
    {"H37 Host bad IPv6", R("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), -400, NULL},
    {"H38 HTTP/2.0", R("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505, NULL},
    {"H38 HTTP/0.9", R("GET / HTTP/0.9\r\n\r\n"), -505, NULL},
    {"H38 HTTP/1.2", R("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), -505, NULL},
    {"H38 no version", R("GET /\r\n\r\n"), -400, NULL},
    {"H38 no version, trailing SP", R("GET / \r\n\r\n"), -400, NULL},
    {"H38 HTTP/1.32", R("GET / HTTP/1.32\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H38 http/1.1", R("GET / http/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H38 HTTP/111", R("GET / HTTP/111\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H38 FTP/1.1", R("GET / FTP/1.1\r\n\r\n"), -400, NULL},
    {"H38 HTTP/0.99", R("GET / HTTP/0.99\r\n\r\n"), -400, NULL},
    {"H38 HTTP/1.1 + SP", R("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), -400, NULL},
    {"H39 method with (", R("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H39 method with colon", R("GET: / HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H39 method non-ASCII", R("GET\xc3\x9f / HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H39 method NUL", R("GET\0 / HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H39 empty method", R(" / HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H39 two SP", R("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H39 tab separator", R("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 GET *", R("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 relative target", R("GET foo/bar HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 authority-form on GET", R("GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 http:// without host", R("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 http:///p", R("GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 absolute bad host", R("GET http://a^b/p HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 absolute bad port", R("GET http://a:x/p HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    /* userinfo: deprecated by RFC 9110 4.2.4 and refused by nginx */
    {"H40 absolute userinfo",
     R("GET http://user:pass@example.com:8080/foo?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"), -400,
     NULL},
    {"H40 absolute userinfo, empty", R("GET http://@h/p HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 absolute userinfo, IPv6", R("GET https://u@[::1]:81/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400,
     NULL},
    {"H40 absolute empty authority with query", R("GET http://?x HTTP/1.1\r\nHost: a\r\n\r\n"),
     -400, NULL},
    {"H40 absolute port only", R("GET http://:81/x HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 other scheme", R("GET ftp://a/p HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 s://]ufd", R("PUT s://]ufd/: HTTP/1.1\r\n\r\n"), -400, NULL},
    {"H40 CTL in target", R("GET /a\x01z HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 DEL in target", R("GET /a\x7fz HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H40 TAB in target", R("GET /a\tz HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H41 CONNECT", R("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"), -501, NULL},
    {"H41 PRI preface", R("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), -505, NULL},
    {"H41 PRI on 1.1", R("PRI * HTTP/1.1\r\nHost: a\r\n\r\n"), -400, NULL},
    {"H51 Expect foo", R("POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n"), -417, NULL},
    {"H51 Expect list", R("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n"), -417,
     NULL},
    {"two Content-Type",
     R("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\n"
       "Content-Type: c/d\r\n\r\n"),
     -400, NULL},
    {"H47 valid then invalid",
     R("GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\n"
       "Host: a\r\nContent-Length: -1\r\n\r\n"),
     -400,
     "REQ GET /one 1.1 path=/one q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nEND\nERR -400\n"},
    {"H47 CL body then garbage",
     R("POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"
       "okGET / HTTP/9.9\r\n\r\n"),
     -505,
     "REQ POST /one 1.1 path=/one q=- auth=- cl=2 te=0 ka=1 ec=0\nH Host: a\n"
     "H Content-Length: 2\nB ok\nEND\nERR -505\n"},
    {"H47 chunked body then bare LF",
     R("POST /one HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
       "chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nGET / HTTP/1.1\n\n"),
     -400,
     "REQ POST /one 1.1 path=/one q=- auth=- cl=-1 te=1 ka=1 ec=0\nH Host: a\n"
     "H Transfer-Encoding: chunked\nB ok\nEND\nERR -400\n"},
    {"incomplete head", R("GET /foo/bar HTTP/1.0\r\nbaz"), INCOMPLETE, "INCOMPLETE\n"},
    {"H26 short CL body", R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"),
     INCOMPLETE,
     "REQ POST / 1.1 path=/ q=- auth=- cl=10 te=0 ka=1 ec=0\nH Host: a\n"
     "H Content-Length: 10\nB abc\nINCOMPLETE\n"},
    {"H26 chunked ends mid-chunk",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
       "chunked\r\n\r\n5\r\nabc"),
     INCOMPLETE,
     "REQ POST / 1.1 path=/ q=- auth=- cl=-1 te=1 ka=1 ec=0\nH Host: a\n"
     "H Transfer-Encoding: chunked\nB abc\nINCOMPLETE\n"},
    {"H26 no final CRLF",
     R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n"),
     INCOMPLETE, NULL},
};

/* Requests the parser must accept, with every field it reports. */
static struct req_case good_requests[] = {
    {"simple GET", R("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0,
     "REQ GET / 1.1 path=/ q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: example.com\nEND\n"},
    {"query and fragment", R("GET /a/b?x=1&y=2#frag HTTP/1.1\r\nHost: h:8080\r\n\r\n"), 0,
     "REQ GET /a/b?x=1&y=2#frag 1.1 path=/a/b q=x=1&y=2 auth=- cl=-1 te=0 ka=1 ec=0\n"
     "H Host: h:8080\nEND\n"},
    {"empty query", R("GET /p? HTTP/1.1\r\nHost: h\r\n\r\n"), 0,
     "REQ GET /p? 1.1 path=/p q= auth=- cl=-1 te=0 ka=1 ec=0\nH Host: h\nEND\n"},
    {"1.0 no Host, close", R("GET /x HTTP/1.0\r\n\r\n"), 0,
     "REQ GET /x 1.0 path=/x q=- auth=- cl=-1 te=0 ka=0 ec=0\nEND\n"},
    {"1.0 keep-alive",
     R("GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /y HTTP/1.1\r\n"
       "Host: h\r\nConnection: foo, CLOSE\r\n\r\nGET /never HTTP/1.1\r\n\r\n"),
     0,
     "REQ GET /x 1.0 path=/x q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Connection: Keep-Alive\nEND\n"
     "REQ GET /y 1.1 path=/y q=- auth=- cl=-1 te=0 ka=0 ec=0\nH Host: h\n"
     "H Connection: foo, CLOSE\nEND\n"},
    {"H48 Connection close then pipelined",
     R("GET / HTTP/1.1\r\nHost: a\r\nConnection: close"
       "\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n"),
     0,
     "REQ GET / 1.1 path=/ q=- auth=- cl=-1 te=0 ka=0 ec=0\nH Host: a\nH Connection: close\n"
     "END\n"},
    {"H49 CL body is never a request",
     R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 24\r\n"
       "\r\nGET /second HTTP/1.1\r\n\r\n"),
     0,
     "REQ POST / 1.1 path=/ q=- auth=- cl=24 te=0 ka=1 ec=0\nH Host: a\nH Content-Length: 24\n"
     "B GET /second HTTP/1.1\\x0d\\x0a\\x0d\\x0a\nEND\n"},
    {"POST with CL body and pipelined GET",
     R("POST /f HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
       "helloGET /n HTTP/1.1\r\nHost: a\r\n\r\n"),
     0,
     "REQ POST /f 1.1 path=/f q=- auth=- cl=5 te=0 ka=1 ec=0\nH Host: a\n"
     "H Content-Type: text/plain\nH Content-Length: 5\nB hello\nEND\n"
     "REQ GET /n 1.1 path=/n q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nEND\n"},
    {"chunked with ext and trailers",
     R("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
       "5;a=b;c=\"d;\\\"e\"\r\nhello\r\n6 ; x\r\n world\r\n000\r\nVary: *\r\n"
       "X-T:\tv \r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"),
     0,
     "REQ POST /c 1.1 path=/c q=- auth=- cl=-1 te=1 ka=1 ec=0\nH Host: a\n"
     "H Transfer-Encoding: Chunked\nB hello world\nT Vary: *\nT X-T:\\x09v \nEND\n"
     "REQ GET /next 1.1 path=/next q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nEND\n"},
    {"CL 0 and 18 digits",
     R("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
       "GET / HTTP/1.0\r\nContent-Length: 999999999999999999\r\n\r\n"),
     INCOMPLETE,
     "REQ GET / 1.1 path=/ q=- auth=- cl=0 te=0 ka=1 ec=0\nH Host: a\nH Content-Length: 0\nEND\n"
     "REQ GET / 1.0 path=/ q=- auth=- cl=999999999999999999 te=0 ka=0 ec=0\n"
     "H Content-Length: 999999999999999999\nINCOMPLETE\n"},
    {"CL leading zeros", R("POST / HTTP/1.0\r\nContent-Length: 007\r\n\r\n1234567"), 0,
     "REQ POST / 1.0 path=/ q=- auth=- cl=7 te=0 ka=0 ec=0\nH Content-Length: 007\nB 1234567\n"
     "END\n"},
    {"H34 obs-text and OWS trimmed",
     R("GET / HTTP/1.1\r\nHost: a\r\nX-Value:  caf\xc3\xa9 \t\r\n"
       "X-Empty:\r\nX-In: a \t b\r\n\r\n"),
     0,
     "REQ GET / 1.1 path=/ q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\n"
     "H X-Value: caf\\xc3\\xa9\nH X-Empty: \nH X-In: a \\x09 b\nEND\n"},
    {"H36 underscore names kept, never framing",
     R("GET / HTTP/1.0\r\nTransfer_Encoding: chunked\r\nContent_Length: -1E23\r\n"
       "X_Forwarded_For: 1.2.3.4\r\n\r\n"),
     0,
     "REQ GET / 1.0 path=/ q=- auth=- cl=-1 te=0 ka=0 ec=0\nH Transfer_Encoding: chunked\n"
     "H Content_Length: -1E23\nH X_Forwarded_For: 1.2.3.4\nEND\n"},
    {"H39 unknown token methods pass",
     R("-BLARGH /foo HTTP/1.1\r\nHost: a\r\n\r\n"
       "m.x!#$%&'*+^_`|~ /foo HTTP/1.1\r\nHost: a\r\n\r\n"),
     0,
     "REQ -BLARGH /foo 1.1 path=/foo q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nEND\n"
     "REQ m.x!#$%&'*+^_`|~ /foo 1.1 path=/foo q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nEND\n"},
    {"H40 absolute-form", R("GET http://h/p?q=1#f HTTP/1.1\r\nHost: other\r\n\r\n"), 0,
     "REQ GET http://h/p?q=1#f 1.1 path=/p q=q=1 auth=h scheme=http cl=-1 te=0 ka=1 ec=0\nH Host: "
     "other\n"
     "END\n"},
    {"H40 absolute-form empty path",
     R("GET HTTPS://h.example:8443?x HTTP/1.1\r\nHost: h\r\n\r\n"
       "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n"),
     0,
     "REQ GET HTTPS://h.example:8443?x 1.1 path=/ q=x auth=h.example:8443 scheme=HTTPS cl=-1 te=0 "
     "ka=1 ec=0\n"
     "H Host: h\nEND\n"
     "REQ GET http://h 1.1 path=/ q=- auth=h scheme=http cl=-1 te=0 ka=1 ec=0\nH Host: h\nEND\n"},
    {"H40 absolute-form IPv6",
     R("GET http://[::1]:8080/foo HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"
       "GET http://[::1]/foo HTTP/1.1\r\nHost: x\r\n\r\n"),
     0,
     "REQ GET http://[::1]:8080/foo 1.1 path=/foo q=- auth=[::1]:8080 scheme=http cl=-1 te=0 "
     "ka=1 ec=0\nH Host: [::1]:8080\nEND\n"
     "REQ GET http://[::1]/foo 1.1 path=/foo q=- auth=[::1] scheme=http cl=-1 te=0 ka=1 ec=0\n"
     "H Host: x\nEND\n"},
    {"OPTIONS *", R("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0,
     "REQ OPTIONS * 1.1 path=* q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nEND\n"},
    {"obs-text in target", R("GET /\xc3\xa0%20k HTTP/1.0\r\n\r\n"), 0,
     "REQ GET /\\xc3\\xa0%20k 1.0 path=/\\xc3\\xa0%20k q=- auth=- cl=-1 te=0 ka=0 ec=0\nEND\n"},
    {"H41 Upgrade is just a field",
     R("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\n\r\n"),
     0,
     "REQ GET /ws 1.1 path=/ws q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nH Upgrade: websocket\n"
     "H Connection: Upgrade\nEND\n"},
    {"H51 Expect 100-continue",
     R("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
       "Content-Length: 1\r\n\r\nx"),
     0,
     "REQ PUT /u 1.1 path=/u q=- auth=- cl=1 te=0 ka=1 ec=1\nH Host: a\n"
     "H Expect: 100-Continue\nH Content-Length: 1\nB x\nEND\n"},
    {"H51 Expect ignored on 1.0",
     R("PUT /u HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"
       "PUT /v HTTP/1.0\r\nExpect: foo\r\n\r\n"),
     0, "REQ PUT /u 1.0 path=/u q=- auth=- cl=-1 te=0 ka=0 ec=0\nH Expect: 100-continue\nEND\n"},
    {"empty lines before the request line", R("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0,
     "REQ GET / 1.1 path=/ q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nEND\n"},
    {"stray CRLF after a body",
     R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\n"
       "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"),
     0,
     "REQ POST / 1.1 path=/ q=- auth=- cl=1 te=0 ka=1 ec=0\nH Host: a\nH Content-Length: 1\n"
     "B x\nEND\nREQ GET /2 1.1 path=/2 q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a\nEND\n"},
    {"empty Host and special names", R("GET / HTTP/1.1\r\nHost:\r\nX.Custom|Pipe: ok\r\n\r\n"), 0,
     "REQ GET / 1.1 path=/ q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: \nH X.Custom|Pipe: ok\n"
     "END\n"},
    {"Host forms",
     R("GET / HTTP/1.1\r\nHost: 0.0.0.0=5000\r\n\r\n"
       "GET / HTTP/1.1\r\nHost: [v1.fe]:80\r\n\r\nGET / HTTP/1.1\r\nHost: a%41:\r\n\r\n"),
     0,
     "REQ GET / 1.1 path=/ q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: 0.0.0.0=5000\nEND\n"
     "REQ GET / 1.1 path=/ q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: [v1.fe]:80\nEND\n"
     "REQ GET / 1.1 path=/ q=- auth=- cl=-1 te=0 ka=1 ec=0\nH Host: a%41:\nEND\n"},
};

static void check_case(struct req_case *c, const struct gw_http_limits *lim)
{
    char *desc = NULL;
    int v = check_splits(c->name, c->raw, c->len, 1, feed_drive, lim, &desc);

    cr_expect_eq(v, c->verdict, "%s: verdict %d, expected %d\n%s", c->name, v, c->verdict, desc);
    if (c->expect != NULL)
        cr_expect_str_eq(desc, c->expect, "%s: got\n%s\nexpected\n%s", c->name, desc, c->expect);
    free(desc);
}

ParameterizedTestParameters(http_parse, refused)
{
    return index_params(NROWS(bad_requests));
}

ParameterizedTest(size_t *i, http_parse, refused)
{
    check_case(&bad_requests[*i], &default_limits);
}

ParameterizedTestParameters(http_parse, accepted)
{
    return index_params(NROWS(good_requests));
}

ParameterizedTest(size_t *i, http_parse, accepted)
{
    check_case(&good_requests[*i], &default_limits);
}

/* ------------------------------------------------------------ limits (H42) */

static char *repeat_request(const char *head, const char *unit, size_t times, const char *tail,
                            size_t *n)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *p = malloc(hl + ul * times + tl);

    cr_assert(p != NULL);
    memcpy(p, head, hl);
    for (size_t i = 0; i < times; i++)
        memcpy(p + hl + i * ul, unit, ul);
    memcpy(p + hl + ul * times, tail, tl);
    *n = hl + ul * times + tl;
    return p;
}

static void check_limit(const char *name, char *raw, size_t n, int verdict)
{
    struct req_case c = {name, raw, n, verdict, NULL};
    check_case(&c, &default_limits);
    free(raw);
}

Test(http_parse, h42_long_target_414)
{
    size_t n;
    char *raw = repeat_request("GET /", "a", 64 * 1024, " HTTP/1.1\r\nHost: a\r\n\r\n", &n);
    check_limit("H42 64 KiB target", raw, n, -414);
    /* at the limit: accepted; one over: 414 (from the parser: the line fits) */
    raw = repeat_request("GET /", "a", GW_HTTP_DEF_MAX_TARGET - 1, " HTTP/1.1\r\nHost: a\r\n\r\n",
                         &n);
    check_limit("target at max_target", raw, n, 0);
    raw = repeat_request("GET /", "a", GW_HTTP_DEF_MAX_TARGET, " HTTP/1.1\r\nHost: a\r\n\r\n", &n);
    check_limit("target max_target + 1", raw, n, -414);
}

Test(http_parse, h42_big_head_431)
{
    size_t n;
    char *raw =
        repeat_request("GET / HTTP/1.1\r\nHost: a\r\nX-Big: ", "b", 100 * 1024, "\r\n\r\n", &n);
    check_limit("H42 100 KiB header", raw, n, -431);
}

Test(http_parse, h42_many_fields_431)
{
    size_t n;
    char *raw = repeat_request("GET / HTTP/1.1\r\nHost: a\r\n", "X: y\r\n", 10000, "\r\n", &n);
    check_limit("H42 10,000 headers", raw, n, -431);
    raw = repeat_request("GET / HTTP/1.1\r\nHost: a\r\n", "X: y\r\n", GW_HTTP_DEF_MAX_FIELDS - 1,
                         "\r\n", &n);
    check_limit("max_fields fields", raw, n, 0);
    raw = repeat_request("GET / HTTP/1.1\r\nHost: a\r\n", "X: y\r\n", GW_HTTP_DEF_MAX_FIELDS,
                         "\r\n", &n);
    check_limit("max_fields + 1 fields", raw, n, -431);
}

/* The scanner decides limits as soon as they are exceeded, not at the line end. */
Test(http_parse, scan_limits_are_immediate)
{
    struct gw_http_limits lim = {.max_target = 10, .max_head = 100, .max_fields = 2};
    struct gw_http_scan s;
    char buf[200];
    int rc = 0;
    size_t i;

    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5);
    gw_http_scan_init(&s);
    for (i = 1; i <= sizeof(buf) && (rc = scan_verdict(&s, buf, i, &lim)) == 0; i++)
        ;
    cr_assert_eq(rc, -414);
    cr_assert_eq(i, 10 + 32 + 1, "414 after %zu bytes", i);

    /* head over max_head without a CRLF CRLF */
    size_t n = 0;
    n += (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
    memset(buf + n, 'x', sizeof(buf) - n);
    buf[n + 1] = ':';
    gw_http_scan_init(&s);
    for (i = 1; i <= sizeof(buf) && (rc = scan_verdict(&s, buf, i, &lim)) == 0; i++)
        ;
    cr_assert_eq(rc, -431);
    cr_assert_eq(i, 101);

    /* a third field line is refused on its first byte */
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nA: b\r\nC: d\r\nE");
    gw_http_scan_init(&s);
    cr_assert_eq(scan_verdict(&s, buf, n - 1, &lim), 0);
    cr_assert_eq(scan_verdict(&s, buf, n, &lim), -431);
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\n");
    gw_http_scan_init(&s);
    cr_assert_eq(scan_verdict(&s, buf, n, &lim), (int)n);
}

/* A CR at the end of the available bytes waits; bare CR or LF fails at once. */
Test(http_parse, scan_line_endings)
{
    const struct gw_http_limits *lim = &default_limits;
    struct gw_http_scan s;
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
    size_t want = strlen(ok) - 4;

    gw_http_scan_init(&s);
    cr_assert_eq(scan_verdict(&s, ok, 15, lim), 0); /* ends with CR */
    cr_assert_eq(scan_verdict(&s, ok, 16, lim), 0);
    cr_assert_eq(scan_verdict(&s, ok, want - 1, lim), 0);
    cr_assert_eq(scan_verdict(&s, ok, strlen(ok), lim), (int)want);

    gw_http_scan_init(&s);
    cr_assert_eq(scan_verdict(&s, "GET / HTTP/1.1\rX", 15, lim), 0);
    cr_assert_eq(scan_verdict(&s, "GET / HTTP/1.1\rX", 16, lim), -400);
    gw_http_scan_init(&s);
    cr_assert_eq(scan_verdict(&s, "GET / HTTP/1.1\n", 15, lim), -400);
    gw_http_scan_init(&s);
    cr_assert_eq(scan_verdict(&s, "GET \0/", 6, lim), -400);
    gw_http_scan_init(&s);
    cr_assert_eq(scan_verdict(&s, "\r\n\n", 3, lim), -400);
}

Test(http_parse, parse_field_cap)
{
    const char *raw = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    struct gw_field f[2];
    struct gw_http_head h;

    cr_assert_eq(parse_verdict(raw, strlen(raw), &default_limits, f, 2, &h), -431);
    cr_assert_eq(parse_verdict(raw, strlen(raw), &default_limits, f, 3 > 2 ? 2 : 3, &h), -431);
    /* head_len that does not end at the head's end */
    struct gw_field g[4];
    cr_assert_eq(parse_verdict(raw, strlen(raw) - 1, &default_limits, g, 4, &h), -400);
    cr_assert_eq(parse_verdict(raw, strlen(raw), &default_limits, g, 4, &h), 0);
    cr_assert(h.host == &g[0]);
    cr_assert_eq(h.nfields, 3);
}

/* ------------------------------------------------------ chunked decoder alone */

struct chunk_case {
    const char *name;
    const char *raw;
    size_t len;
    int verdict;        /* GW_CHUNK_DONE, INCOMPLETE (as GW_CHUNK_MORE) or -status */
    const char *expect; /* data as "B ..." / "T ..." lines then "REST n" */
};

/* Decodes raw fed per cuts; describes data, trailers and the unconsumed rest. */
static int decode(const char *raw, size_t n, const size_t *cuts, size_t ncuts, struct sb *b)
{
    struct gw_http_chunked d;
    size_t off = 0, ci = 0, avail = cuts[0];
    int rc;

    (void)ncuts;
    gw_http_chunked_init(&d);
    for (;;) {
        size_t used = 0, len = avail - off;
        struct gw_slice s;
        char *copy = exact_copy(raw + off, len);

        rc = gw_http_chunked_step(&d, copy, len, &used, &s);
        cr_assert(used <= len);
        if (rc == GW_CHUNK_DATA || rc == GW_CHUNK_TRAILER) {
            sb_add(b, rc == GW_CHUNK_DATA ? "B " : "T ", 2);
            sb_esc_slice(b, s);
            sb_add(b, "\n", 1);
        }
        free(copy);
        off += used;
        if (rc < 0 || rc == GW_CHUNK_DONE)
            break;
        if (rc == GW_CHUNK_MORE) {
            if (avail == n) {
                rc = INCOMPLETE;
                break;
            }
            avail = cuts[++ci];
        }
    }
    if (rc == GW_CHUNK_DONE) {
        /* sticky: another call reports DONE again and consumes nothing */
        size_t used = 1;
        struct gw_slice s;
        cr_assert_eq(gw_http_chunked_step(&d, raw + off, n - off, &used, &s), GW_CHUNK_DONE);
        cr_assert_eq(used, 0);
        sb_fmt(b, "REST %zu\n", n - off);
    } else if (rc < 0) {
        size_t used;
        struct gw_slice s;
        cr_assert_eq(gw_http_chunked_step(&d, "0\r\n\r\n", 5, &used, &s), rc, "sticky error");
        rc = check_refusal(rc, &d.err, 0);
        sb_fmt(b, "ERR %d\n", rc);
    } else {
        sb_add(b, "INCOMPLETE\n", 11);
    }
    return rc;
}

static void check_chunk_case(struct chunk_case *c)
{
    struct sb whole = {0};
    size_t n = c->len, one = n;
    size_t *cuts = malloc((n + 1) * sizeof(*cuts));
    int v = decode(c->raw, n, &one, 1, &whole);
    uint64_t rng = 0x2545f4914f6cdd1dull ^ n;

    cr_assert(cuts != NULL);
    for (int mode = 0; mode < SPLIT_MODES && n > 1; mode++) {
        struct sb other = {0};
        size_t nc = split_cuts(cuts, n, mode, &rng);
        int v2 = decode(c->raw, n, cuts, nc, &other);
        cr_assert_eq(v2, v, "%s: verdict differs with the split (mode %d)", c->name, mode);
        /* data may come in more pieces; compare the concatenation */
        struct sb a = {0}, o = {0};
        for (char *p = whole.p; p && *p;) {
            char *e = strchr(p, '\n');
            if (strncmp(p, "B ", 2) == 0)
                sb_add(&a, p + 2, (size_t)(e - p - 2));
            else
                sb_add(&a, p, (size_t)(e - p + 1));
            p = e + 1;
        }
        for (char *p = other.p; p && *p;) {
            char *e = strchr(p, '\n');
            if (strncmp(p, "B ", 2) == 0)
                sb_add(&o, p + 2, (size_t)(e - p - 2));
            else
                sb_add(&o, p, (size_t)(e - p + 1));
            p = e + 1;
        }
        cr_assert_str_eq(o.p ? o.p : "", a.p ? a.p : "", "%s: result differs (mode %d)", c->name,
                         mode);
        free(a.p);
        free(o.p);
        free(other.p);
    }
    cr_expect_eq(v, c->verdict, "%s: verdict %d\n%s", c->name, v, whole.p);
    if (c->expect)
        cr_expect_str_eq(whole.p, c->expect, "%s: got\n%s", c->name, whole.p);
    free(whole.p);
    free(cuts);
}

static struct chunk_case chunk_cases[] = {
    {"one chunk", R("5\r\nhello\r\n0\r\n\r\n"), GW_CHUNK_DONE, "B hello\nREST 0\n"},
    {"rest after the body", R("1\r\na\r\n0\r\n\r\nGET /"), GW_CHUNK_DONE, "B a\nREST 5\n"},
    {"hex sizes", R("A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0000\r\n\r\n"), GW_CHUNK_DONE,
     "B 0123456789\nB abcdefghijk\nREST 0\n"},
    {"16 digits", R("0000000000000001\r\nx\r\n0\r\n\r\n"), GW_CHUNK_DONE, "B x\nREST 0\n"},
    {"extensions",
     R("5;a\r\nhello\r\n1 ;b=c ; d = \"q\\\"\";e\t;f=\"\" \t;g\r\n!\r\n0;e=f\r\n\r\n"),
     GW_CHUNK_DONE, "B hello\nB !\nREST 0\n"},
    {"trailers", R("0\r\nVary: *\r\nContent-Type: text/plain\r\nX:\r\n\r\n"), GW_CHUNK_DONE,
     "T Vary: *\nT Content-Type: text/plain\nT X:\nREST 0\n"},
    {"H17 0x5", R("0x5\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H17 +5", R("+5\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H17 -5", R("-5\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H17 0_2e", R("0_2e\r\n"), -400, NULL},
    {"H17 6_0", R("5\r\nhello\r\n6_0\r\n world\r\n0\r\n\r\n"), -400, NULL},
    {"H17 empty size", R("\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H17 5 SP", R("5 \r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H17 0 SP", R("0 \r\n\r\n"), -400, NULL},
    {"H17 SP 0", R(" 0\r\n\r\n"), -400, NULL},
    {"H17 no size but ext", R(" ;foo=bar\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H17 17 digits", R("00000000000000005\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H17 size then junk", R("5x\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H20 bare LF after size", R("5\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H20 bare LF after data", R("5\r\nhello\n0\r\n\r\n"), -400, NULL},
    {"H20 bare LF in trailer", R("0\r\nA: b\nC: d\r\n\r\n"), -400, NULL},
    {"H20 bare LF at the end", R("0\r\n\n"), -400, NULL},
    {"H21 bare CR in size", R("5\r\r;ABCD\r\nhello"), -400, NULL},
    {"H21 bare CR in ext", R("5;ext=val\rue\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H21 bare CR in trailer", R("0\r\nA: b\rC: d\r\n\r\n"), -400, NULL},
    {"H21 final CR X", R("0\r\n\rX"), -400, NULL},
    {"H23 data not followed by CRLF", R("5\r\nhelloXX0\r\n\r\n"), -400, NULL},
    {"H23 data then LF", R("5\r\nhello\n\r\n"), -400, NULL},
    {"ext then BWS then CRLF", R("5;a \r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"ext value then BWS then CRLF", R("5;a=b\t\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"ext quoted then BWS then CRLF", R("5;a=\"b\" \r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"ext without name", R("5;\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"ext with bad value", R("5;a=\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"ext unterminated quote", R("5;a=\"b\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"ext with CTL", R("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n"), -400, NULL},
    {"H25 trailer Content-Length", R("0\r\nContent-Length: 5\r\n\r\n"), -400, NULL},
    {"H25 trailer Transfer-Encoding", R("0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400, NULL},
    {"H25 trailer Host", R("0\r\nhost: evil\r\n\r\n"), -400, NULL},
    {"trailer obs-fold", R("0\r\nA: b\r\n c\r\n\r\n"), -400, NULL},
    {"trailer without colon", R("0\r\nAb\r\n\r\n"), -400, NULL},
    {"trailer NUL", R("0\r\nA: \0\r\n\r\n"), -400, NULL},
    {"H26 ends in data", R("5\r\nhel"), INCOMPLETE, "B hel\nINCOMPLETE\n"},
    {"H26 ends before final CRLF", R("0\r\n"), INCOMPLETE, "INCOMPLETE\n"},
    {"H26 ends inside a trailer", R("0\r\nVary: *"), INCOMPLETE, "INCOMPLETE\n"},
};

ParameterizedTestParameters(http_chunked, table)
{
    return index_params(NROWS(chunk_cases));
}

ParameterizedTest(size_t *i, http_chunked, table)
{
    check_chunk_case(&chunk_cases[*i]);
}

/* H24: extensions (and trailers) over GW_HTTP_MAX_CHUNK_EXT per body -> 413. */
Test(http_chunked, h24_extension_cap)
{
    size_t n = 0, cap = GW_HTTP_MAX_CHUNK_EXT;
    char *raw = malloc(cap * 2 + 64);
    struct chunk_case c;

    cr_assert(raw != NULL);
    /* one extension just over the cap */
    n += (size_t)sprintf(raw, "1;a=");
    memset(raw + n, 'b', cap);
    n += cap;
    n += (size_t)sprintf(raw + n, "\r\nx\r\n0\r\n\r\n");
    c = (struct chunk_case){"H24 one long extension", raw, n, -413, NULL};
    check_chunk_case(&c);

    /* many small ones across chunks add up */
    n = 0;
    for (size_t i = 0; i < cap / 26 + 1; i++) /* 26 extension bytes each */
        n += (size_t)sprintf(raw + n, "1;xxxxxxxxxxxxxxxxxxxxxxxxx\r\nz\r\n");
    n += (size_t)sprintf(raw + n, "0\r\n\r\n");
    c = (struct chunk_case){"H24 extensions summed", raw, n, -413, NULL};
    check_chunk_case(&c);

    /* a huge trailer */
    n = (size_t)sprintf(raw, "0\r\nX: ");
    memset(raw + n, 'y', cap);
    n += cap;
    n += (size_t)sprintf(raw + n, "\r\n\r\n");
    c = (struct chunk_case){"H24 long trailer", raw, n, -413, NULL};
    check_chunk_case(&c);

    /* just under the cap: accepted */
    n = (size_t)sprintf(raw, "1;a=");
    memset(raw + n, 'b', cap - 4 - 2 - 2);
    n += cap - 4 - 2 - 2;
    n += (size_t)sprintf(raw + n, "\r\nx\r\n0\r\n\r\n");
    c = (struct chunk_case){"extension at the cap", raw, n, GW_CHUNK_DONE, "B x\nREST 0\n"};
    check_chunk_case(&c);
    free(raw);
}

/* Data is returned as slices of the input, never more than the chunk holds. */
Test(http_chunked, data_slices)
{
    struct gw_http_chunked d;
    struct gw_slice s;
    size_t used;
    const char *in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT";

    gw_http_chunked_init(&d);
    cr_assert_eq(gw_http_chunked_step(&d, in, strlen(in), &used, &s), GW_CHUNK_DATA);
    cr_assert(s.ptr == in + 3 && s.len == 3 && used == 6);
    cr_assert_eq(gw_http_chunked_step(&d, in + 6, strlen(in) - 6, &used, &s), GW_CHUNK_DATA);
    cr_assert(s.ptr == in + 11 && s.len == 2 && used == 7);
    cr_assert_eq(gw_http_chunked_step(&d, in + 13, strlen(in) - 13, &used, &s), GW_CHUNK_DONE);
    cr_assert_eq(used, 7);
    cr_assert_str_eq(in + 20, "NEXT");
}
