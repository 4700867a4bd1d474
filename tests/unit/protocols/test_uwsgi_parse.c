/*
 * Unit tests of protocols/uwsgi_parse.c: tables of {raw bytes, expected verdict,
 * expected cause, expected variables} for the uwsgi rows of docs/hostile-inputs.md
 * the head parser decides (U01-U04, U07) and for heads as nginx uwsgi_pass (stock
 * uwsgi_params) and Apache mod_proxy_uwsgi send them. Every input is fed whole, one
 * byte at a time and in several random splits (fixed seed) into a growing buffer, as
 * the front-end does; the verdict, the variables and the head length must not
 * change. Each call gets an exact-size heap copy of the bytes received so far (a new
 * address every time, so a parser keeping pointers across calls would be caught), and
 * ASan reports any read past them.
 *
 * Heads are written as pair lists ("KEY=value;KEY=value", built into the wire form by
 * head_of) or, for the malformed ones, as raw bytes.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/uwsgi_parse.h"
#include "tests/unit/support.h"

#define INCOMPLETE 0 /* verdict: the input ended inside the head */
#define COMPLETE   1 /* verdict: a head was parsed */
#define NVARS      64

/* ------------------------------------------------------------------ driver */

/*
 * Feeds data[0..n) in steps ending at cuts[] (increasing, the last == n) into one
 * growing buffer. Writes a description to *b: CONTENT_LENGTH, the variables, the
 * dropped count and the bytes after the head, or the error and its cause. Returns
 * COMPLETE, INCOMPLETE or the error.
 */
static int drive(const char *data, size_t n, const size_t *cuts, const struct gw_uwsgi_limits *lim,
                 size_t cap, struct sb *b)
{
    struct gw_uwsgi_parser p;
    struct gw_field *vars = malloc((cap ? cap : 1) * sizeof(*vars));
    size_t ci = 0;
    int rc;

    cr_assert(vars != NULL);
    sb_add(b, "", 0);
    gw_uwsgi_parser_init(&p);
    for (;;) {
        size_t avail = cuts[ci];
        char *copy = avail <= EXACT_COPY_MAX ? exact_copy(data, avail) : NULL;
        const char *buf = copy ? copy : data;
        struct gw_uwsgi_head h;

        memset(&h, 0xa5, sizeof(h));
        rc = gw_uwsgi_parse(&p, buf, avail, lim, vars, cap, &h);
        cr_assert(p.pos <= avail, "examined %zu of %zu bytes", p.pos, avail);
        if (rc > 0) {
            cr_assert_eq((size_t)rc, h.head_len);
            cr_assert(h.head_len <= avail && h.head_len >= GW_UWSGI_HEADER_LEN);
            cr_assert(h.vars == vars && h.nvars <= cap);
            sb_fmt(b, "CL %" PRId64 " DROPPED %zu\n", h.content_length, h.ndropped);
            for (size_t i = 0; i < h.nvars; i++) {
                struct gw_field *f = &h.vars[i];
                /* slices inside the block of this call's buffer */
                cr_assert(f->name.len > 0);
                cr_assert(f->name.ptr >= buf + GW_UWSGI_HEADER_LEN &&
                          f->name.ptr + f->name.len <= buf + h.head_len);
                cr_assert(f->value.ptr != NULL && f->value.ptr >= buf + GW_UWSGI_HEADER_LEN &&
                          f->value.ptr + f->value.len <= buf + h.head_len);
                sb_add(b, "V ", 2);
                sb_esc(b, f->name.ptr, f->name.len);
                sb_add(b, "=", 1);
                sb_esc(b, f->value.ptr, f->value.len);
                sb_add(b, "\n", 1);
            }
            sb_add(b, "REST ", 5);
            sb_esc(b, data + h.head_len, n - h.head_len);
            sb_add(b, "\n", 1);
            free(copy);
            rc = COMPLETE;
            break;
        }
        free(copy);
        if (rc < 0) {
            int status = -check_refusal(rc, &p.err, 0);
            sb_fmt(b, "ERR %d %d %s\n", rc, status, p.err.why);
            cr_assert_eq(gw_uwsgi_parse(&p, data, n, lim, vars, cap, &h), rc); /* sticky */
            break;
        }
        if (avail == n) {
            sb_add(b, "INCOMPLETE\n", 11);
            rc = INCOMPLETE;
            break;
        }
        ci++;
    }
    free(vars);
    return rc;
}

struct drive_ctx {
    const struct gw_uwsgi_limits *lim;
    size_t cap;
};

static int feed_drive(const char *data, size_t n, const size_t *cuts, size_t ncuts, const void *ctx,
                      struct sb *b)
{
    const struct drive_ctx *d = ctx;

    (void)ncuts;
    return drive(data, n, cuts, d->lim, d->cap, b);
}

/* Whole, byte by byte (when bytewise) and 8 random splits: the same result. */
static int run_all_splits(const char *name, const char *data, size_t n,
                          const struct gw_uwsgi_limits *lim, size_t cap, int bytewise, char **out)
{
    struct drive_ctx d = {lim, cap};

    return check_splits(name, data, n, bytewise, feed_drive, &d, out);
}

/* ------------------------------------------------------------------ encoders */

static void put16(struct sb *b, size_t v)
{
    char le[2] = {(char)(v & 0xff), (char)(v >> 8)};
    sb_add(b, le, 2);
}

/* One pair in the wire form. */
static void put_pair(struct sb *b, const char *k, size_t kn, const char *v, size_t vn)
{
    put16(b, kn);
    sb_add(b, k, kn);
    put16(b, vn);
    sb_add(b, v, vn);
}

/* "K=v;K=v" (split at the first '=' of each item; '~' stands for a NUL byte) -> the
 * vars block. */
static void put_pairs(struct sb *b, const char *list)
{
    const char *s = list;
    while (*s) {
        size_t item = strcspn(s, ";");
        const char *eq = memchr(s, '=', item);
        cr_assert(eq != NULL, "bad pair list %s", list);
        char v[512];
        size_t vn = item - (size_t)(eq + 1 - s);
        cr_assert(vn < sizeof(v));
        memcpy(v, eq + 1, vn);
        for (size_t i = 0; i < vn; i++)
            if (v[i] == '~')
                v[i] = '\0';
        put_pair(b, s, (size_t)(eq - s), v, vn);
        s += item;
        if (*s == ';')
            s++;
    }
}

/* A whole head: modifier1, datasize (the block's true size unless size >= 0),
 * modifier2, the block, then tail. */
static char *head_of(int m1, long size, int m2, const char *pairs, const char *tail, size_t tn,
                     size_t *n)
{
    struct sb block = {0}, b = {0};
    sb_add(&block, "", 0);
    put_pairs(&block, pairs);
    char m[1] = {(char)m1};
    sb_add(&b, m, 1);
    put16(&b, size >= 0 ? (size_t)size : block.len);
    m[0] = (char)m2;
    sb_add(&b, m, 1);
    sb_add(&b, block.p, block.len);
    sb_add(&b, tail, tn);
    free(block.p);
    *n = b.len;
    return b.p;
}

/* ------------------------------------------------------------------ tables */

#define NGINX_PAIRS                                                                                \
    "QUERY_STRING=a=1;REQUEST_METHOD=POST;CONTENT_TYPE=text/plain;CONTENT_LENGTH=5;"               \
    "REQUEST_URI=/app/x%20y?a=1;PATH_INFO=/app/x y;DOCUMENT_ROOT=/usr/share/nginx/html;"           \
    "SERVER_PROTOCOL=HTTP/1.1;REQUEST_SCHEME=http;REMOTE_ADDR=127.0.0.1;REMOTE_PORT=40000;"        \
    "SERVER_PORT=8080;SERVER_NAME=localhost;HTTP_HOST=localhost:8080"

struct ucase {
    const char *name;
    int m1, m2;
    long size;          /* datasize as sent, -1: the block's true size */
    const char *pairs;  /* the block, as put_pairs takes it */
    const char *tail;   /* what follows the block */
    int verdict;        /* COMPLETE, INCOMPLETE or GW_E* */
    const char *why;    /* expected cause of an error, or NULL */
    const char *expect; /* description (see drive), or NULL */
};

static const struct gw_uwsgi_limits default_limits = {.max_head = 64 * 1024};

static const struct ucase cases[] = {
    {"nginx uwsgi_params", 0, 0, -1, NGINX_PAIRS, "hello", COMPLETE, NULL,
     "CL 5 DROPPED 0\nV QUERY_STRING=a=1\nV REQUEST_METHOD=POST\nV CONTENT_TYPE=text/plain\n"
     "V CONTENT_LENGTH=5\nV REQUEST_URI=/app/x%20y?a=1\nV PATH_INFO=/app/x y\n"
     "V DOCUMENT_ROOT=/usr/share/nginx/html\nV SERVER_PROTOCOL=HTTP/1.1\n"
     "V REQUEST_SCHEME=http\nV REMOTE_ADDR=127.0.0.1\nV REMOTE_PORT=40000\n"
     "V SERVER_PORT=8080\nV SERVER_NAME=localhost\nV HTTP_HOST=localhost:8080\nREST hello\n"},
    {"GET: CONTENT_LENGTH empty is no body", 0, 0, -1,
     "REQUEST_METHOD=GET;CONTENT_LENGTH=;REQUEST_URI=/", "", COMPLETE, NULL,
     "CL 0 DROPPED 0\nV REQUEST_METHOD=GET\nV CONTENT_LENGTH=\nV REQUEST_URI=/\nREST \n"},
    {"CONTENT_LENGTH absent is no body", 0, 0, -1, "REQUEST_METHOD=GET", "x", COMPLETE, NULL,
     "CL 0 DROPPED 0\nV REQUEST_METHOD=GET\nREST x\n"},
    {"empty block", 0, 0, -1, "", "", COMPLETE, NULL, "CL 0 DROPPED 0\nREST \n"},
    {"values are data: CR, LF, NUL, empty", 0, 0, -1, "HTTP_X=a\r\nSet-Cookie: x;E=;N=a~b", "",
     COMPLETE, NULL,
     "CL 0 DROPPED 0\nV HTTP_X=a\\x0d\\x0aSet-Cookie: x\nV E=\nV N=a\\x00b\nREST \n"},
    {"CL leading zeros", 0, 0, -1, "CONTENT_LENGTH=005", "hello", COMPLETE, NULL,
     "CL 5 DROPPED 0\nV CONTENT_LENGTH=005\nREST hello\n"},
    /* U03: magic variables dropped, whatever they ask */
    {"U03 UWSGI_* dropped", 0, 0, -1,
     "UWSGI_FILE=/tmp/evil.py;REQUEST_METHOD=GET;UWSGI_SCRIPT=evil;UWSGI_MODULE=os;"
     "UWSGI_CALLABLE=system;UWSGI_CHDIR=/;UWSGI_PYHOME=/tmp;UWSGI_SETENV=A=b;UWSGI_APPID=x;"
     "UWSGI_SCHEME=https;UWSGI_=x;HTTP_UWSGI_FILE=kept;uwsgi_file=kept",
     "", COMPLETE, NULL,
     "CL 0 DROPPED 10\nV REQUEST_METHOD=GET\nV HTTP_UWSGI_FILE=kept\nV uwsgi_file=kept\n"
     "REST \n"},
    /* U01: modifiers */
    {"U01 modifier1 5 (PSGI)", 5, 0, -1, "REQUEST_METHOD=GET", "", GW_ENOTSUP, "modifier1 not 0",
     NULL},
    {"U01 modifier1 255", 255, 0, -1, "REQUEST_METHOD=GET", "", GW_ENOTSUP, "modifier1 not 0",
     NULL},
    {"U01 modifier2 1", 0, 1, -1, "REQUEST_METHOD=GET", "", GW_ENOTSUP, "modifier2 not 0", NULL},
    {"U01 modifier2 255, block huge", 0, 255, 65535, "", "", GW_ENOTSUP, "modifier2 not 0", NULL},
    /* U02: lengths past the block (CVE-2020-11984) */
    {"U02 datasize one short of the pair", 0, 0, 12, "REQUEST_METHOD=GET", "", GW_EPROTO,
     "past the vars block", NULL},
    {"U02 datasize one short of a value", 0, 0, 20, "REQUEST_METHOD=GET", "", GW_EPROTO,
     "value length past the vars block", NULL},
    {"U02 datasize cuts the value length", 0, 0, 17, "REQUEST_METHOD=GET", "", GW_EPROTO,
     "value length past the vars block", NULL},
    {"U02 datasize cuts a key length", 0, 0, 22, "REQUEST_METHOD=GET", "X", GW_EPROTO,
     "key length past the vars block", NULL},
    {"U02 datasize two long: body bytes read as a key length", 0, 0, 23, "REQUEST_METHOD=GET", "hi",
     GW_EPROTO, "key length past the vars block", NULL},
    {"U02 datasize 1", 0, 0, 1, "", "\x05", GW_EPROTO, "key length past the vars block", NULL},
    /* U04: zero-length keys */
    {"U04 zero-length key", 0, 0, -1, "REQUEST_METHOD=GET;=x", "", GW_EPROTO, "zero-length key",
     NULL},
    {"U04 zero-length key and value", 0, 0, -1, "=", "", GW_EPROTO, "zero-length key", NULL},
    /* CONTENT_LENGTH framing */
    {"CL twice", 0, 0, -1, "CONTENT_LENGTH=5;CONTENT_LENGTH=5", "hello", GW_EPROTO,
     "CONTENT_LENGTH given twice", NULL},
    {"CL twice, one empty", 0, 0, -1, "CONTENT_LENGTH=;CONTENT_LENGTH=5", "hello", GW_EPROTO,
     "CONTENT_LENGTH given twice", NULL},
    {"CL -1", 0, 0, -1, "CONTENT_LENGTH=-1", "", GW_EPROTO, "1-18 digits", NULL},
    {"CL +5", 0, 0, -1, "CONTENT_LENGTH=+5", "", GW_EPROTO, "1-18 digits", NULL},
    {"CL with space", 0, 0, -1, "CONTENT_LENGTH= 5", "", GW_EPROTO, "1-18 digits", NULL},
    {"CL 19 digits", 0, 0, -1, "CONTENT_LENGTH=1000000000000000000", "", GW_EPROTO, "1-18 digits",
     NULL},
    /* U05: truncated, then nothing more */
    {"U05 block one byte short", 0, 0, 33, "REQUEST_METHOD=GET;A=bcdefg", "", INCOMPLETE, NULL,
     "INCOMPLETE\n"},
    /* U04: over the limit (the datasize alone decides) */
    {"datasize over max_head", 0, 0, 65535, "", "", GW_ETOOBIG, "longer than the limit", NULL},
};

ParameterizedTestParameters(uwsgi_parse, cases)
{
    return index_params(NROWS(cases));
}

ParameterizedTest(size_t *i, uwsgi_parse, cases)
{
    const struct ucase *c = &cases[*i];
    struct gw_uwsgi_limits small = {.max_head = 1000};
    size_t n;
    char *raw = head_of(c->m1, c->size, c->m2, c->pairs, c->tail, strlen(c->tail), &n);
    char *desc = NULL;
    int v =
        run_all_splits(c->name, raw, n, c->size == 65535 && c->m2 == 0 ? &small : &default_limits,
                       NVARS, 1, &desc);

    cr_expect_eq(v, c->verdict, "%s: verdict %d, expected %d\n%s", c->name, v, c->verdict, desc);
    if (c->why != NULL)
        cr_expect(strstr(desc, c->why) != NULL, "%s: cause\n%s\nexpected %s", c->name, desc,
                  c->why);
    if (c->expect != NULL)
        cr_expect_str_eq(desc, c->expect, "%s: got\n%s\nexpected\n%s", c->name, desc, c->expect);
    free(desc);
    free(raw);
}

/* Raw header bytes the pair builder cannot write. */
Test(uwsgi_parse, header_bytes)
{
    struct gw_uwsgi_parser p;
    struct gw_field vars[4];
    struct gw_uwsgi_head h;

    /* U01: an HTTP request on the uwsgi port is refused on its first byte */
    gw_uwsgi_parser_init(&p);
    cr_expect_eq(gw_uwsgi_parse(&p, "G", 1, NULL, vars, 4, &h), GW_ENOTSUP);
    cr_expect_eq(p.err.status, 501);
    cr_expect_eq(p.pos, 0);
    /* modifier2 decided on byte 3, pos names it */
    gw_uwsgi_parser_init(&p);
    cr_expect_eq(gw_uwsgi_parse(&p, "\0\0\0", 3, NULL, vars, 4, &h), 0);
    cr_expect_eq(gw_uwsgi_parse(&p, "\0\0\0\x07", 4, NULL, vars, 4, &h), GW_ENOTSUP);
    cr_expect_eq(p.pos, 3);
    /* U05: a truncated header waits */
    gw_uwsgi_parser_init(&p);
    cr_expect_eq(gw_uwsgi_parse(&p, "\0\x10", 2, NULL, vars, 4, &h), 0);
    /* datasize little-endian: 0x0100 = 256, refused at byte 2 under a limit of 255 */
    struct gw_uwsgi_limits lim = {.max_head = 255};
    gw_uwsgi_parser_init(&p);
    cr_expect_eq(gw_uwsgi_parse(&p, "\0\0", 2, &lim, vars, 4, &h), 0);
    cr_expect_eq(gw_uwsgi_parse(&p, "\0\0\x01", 3, &lim, vars, 4, &h), GW_ETOOBIG);
    cr_expect_eq(p.err.status, 431);
    gw_uwsgi_parser_init(&p);
    cr_expect_eq(gw_uwsgi_parse(&p, "\0\xff\0\0", 4, &lim, vars, 4, &h), 0); /* 255: waits */
}

/* U04: a 65,535-byte block (the protocol's largest) is served under the default
 * limit (64 KiB), refused 431 under a smaller one; datasize 65535 with a pair that
 * says 65535 more is U02. */
Test(uwsgi_parse, block_65535)
{
    size_t vlen = GW_UWSGI_MAX_BLOCK - 2 - 1 - 2 - 14 - 2 - 2 - 3; /* X=... + method */
    char *v = malloc(vlen);
    struct sb b = {0};
    struct sb block = {0};
    char *desc;

    cr_assert(v != NULL);
    memset(v, 'v', vlen);
    put_pair(&block, "REQUEST_METHOD", 14, "GET", 3);
    put_pair(&block, "X", 1, v, vlen);
    cr_assert_eq(block.len, GW_UWSGI_MAX_BLOCK);
    sb_add(&b, "\0", 1);
    put16(&b, block.len);
    sb_add(&b, "\0", 1);
    sb_add(&b, block.p, block.len);
    cr_expect_eq(run_all_splits("65535-byte block", b.p, b.len, &default_limits, NVARS, 0, &desc),
                 COMPLETE, "%s", desc);
    free(desc);
    cr_expect_eq(run_all_splits("lim NULL", b.p, b.len, NULL, NVARS, 0, &desc), COMPLETE, "%s",
                 desc);
    free(desc);
    struct gw_uwsgi_limits lim = {.max_head = 65534};
    cr_expect_eq(run_all_splits("limit 65534", b.p, b.len, &lim, NVARS, 0, &desc), GW_ETOOBIG, "%s",
                 desc);
    free(desc);
    /* the pair's value length says 65535: past the block */
    b.p[4 + 2 + 14 + 2 + 3 + 2 + 1] = (char)0xff;
    b.p[4 + 2 + 14 + 2 + 3 + 2 + 1 + 1] = (char)0xff;
    cr_expect_eq(run_all_splits("value length 65535", b.p, b.len, &default_limits, NVARS, 0, &desc),
                 GW_EPROTO, "%s", desc);
    free(desc);
    free(block.p);
    free(b.p);
    free(v);
}

/* More variables than the caller's array holds: GW_ETOOBIG; exactly cap: fine; the
 * dropped UWSGI_* ones do not count. */
Test(uwsgi_parse, variable_cap)
{
    size_t n;
    char *raw = head_of(0, -1, 0, "A=1;UWSGI_FILE=x;B=2;C=3", "", 0, &n);
    char *desc;
    cr_expect_eq(run_all_splits("cap 3", raw, n, NULL, 3, 1, &desc), COMPLETE, "%s", desc);
    free(desc);
    cr_expect_eq(run_all_splits("cap 2", raw, n, NULL, 2, 1, &desc), GW_ETOOBIG, "%s", desc);
    cr_expect(strstr(desc, "too many variables") != NULL, "%s", desc);
    free(desc);
    free(raw);
}

/* vars NULL counts the variables without storing them, as the front-end does to
 * size its array: the same verdict and count as a parse into an array, and cap still
 * bounds them. */
Test(uwsgi_parse, counting_without_an_array)
{
    size_t n;
    char *raw = head_of(0, -1, 0, NGINX_PAIRS, "hello", 5, &n);
    struct gw_uwsgi_parser p, q;
    struct gw_field vars[NVARS];
    struct gw_uwsgi_head h, counted;

    gw_uwsgi_parser_init(&p);
    gw_uwsgi_parser_init(&q);
    int rc = gw_uwsgi_parse(&p, raw, n, NULL, vars, NVARS, &h);
    cr_assert_gt(rc, 0);
    cr_expect_eq(gw_uwsgi_parse(&q, raw, n, NULL, NULL, NVARS, &counted), rc);
    cr_expect_eq(counted.nvars, h.nvars);
    cr_expect_null(counted.vars);
    cr_expect_eq(counted.content_length, h.content_length);
    /* then into an array of exactly that size: the same head */
    cr_expect_eq(gw_uwsgi_parse(&q, raw, n, NULL, vars, counted.nvars, &counted), rc);
    cr_expect_eq(counted.vars, vars);
    gw_uwsgi_parser_init(&q);
    cr_expect_eq(gw_uwsgi_parse(&q, raw, n, NULL, NULL, h.nvars - 1, &counted), GW_ETOOBIG);
    free(raw);
}

/* Byte-by-byte feeding is O(n) and a complete head is idempotent. */
Test(uwsgi_parse, bytewise_and_idempotent)
{
    size_t n;
    char *raw = head_of(0, -1, 0, NGINX_PAIRS, "hello", 5, &n);
    struct gw_uwsgi_parser p;
    struct gw_field vars[NVARS];
    struct gw_uwsgi_head h, h2;
    int rc = 0;

    gw_uwsgi_parser_init(&p);
    for (size_t i = 1; i <= n && rc == 0; i++)
        rc = gw_uwsgi_parse(&p, raw, i, NULL, vars, NVARS, &h);
    cr_expect_eq(rc, (int)(n - 5));
    cr_expect_eq(gw_uwsgi_parse(&p, raw, n, NULL, vars, NVARS, &h2), rc);
    cr_expect_eq(h2.nvars, h.nvars);
    cr_expect_eq(h2.content_length, 5);
    cr_expect_eq(p.err.code, 0);
    free(raw);
}
