/*
 * Unit tests of protocols/scgi_parse.c: tables of {raw bytes, expected verdict,
 * expected cause, expected variables} for the SCGI rows of docs/hostile-inputs.md
 * the head parser decides (S01, S06-S09, S11, S13, S17, S18, S21, S23) and for heads
 * as lighttpd mod_scgi, nginx scgi_pass (stock scgi_params) and Apache mod_proxy_scgi
 * send them. Every input is fed whole, one byte at a time and in several random splits
 * (fixed seed) into a growing buffer, as the front-end will; the verdict, the variables
 * and the head length must not change. Each call gets an exact-size heap copy of the
 * bytes received so far (a new address every time, so a parser keeping pointers across
 * calls would be caught), and ASan reports any read past them.
 *
 * In the tables '|' stands for a NUL byte (so "\0" never meets a digit and turns
 * into an octal escape); no test needs a real '|'.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/scgi_parse.h"
#include "tests/unit/support.h"

#define INCOMPLETE 0 /* verdict: the input ended inside the head */
#define COMPLETE   1 /* verdict: a head was parsed */
#define NVARS      64

/* ------------------------------------------------------------------ driver */

/*
 * Feeds data[0..n) as a front-end would: bytes arrive in steps ending at cuts[]
 * (increasing, the last == n) and are appended to one buffer. Writes a description to
 * *b: the variables and the bytes after the head (which shows that head_len is exact),
 * or the error and its cause. Returns COMPLETE, INCOMPLETE or the error.
 */
static int drive(const char *data, size_t n, const size_t *cuts, const struct gw_scgi_limits *lim,
                 size_t cap, struct sb *b)
{
    struct gw_scgi_parser p;
    struct gw_field *vars = malloc((cap ? cap : 1) * sizeof(*vars));
    size_t ci = 0;
    int rc;

    cr_assert(vars != NULL);
    sb_add(b, "", 0);
    gw_scgi_parser_init(&p);
    for (;;) {
        size_t avail = cuts[ci];
        char *copy = avail <= EXACT_COPY_MAX ? exact_copy(data, avail) : NULL;
        const char *buf = copy ? copy : data;
        struct gw_scgi_head h;

        memset(&h, 0xa5, sizeof(h));
        rc = gw_scgi_parse(&p, buf, avail, lim, vars, cap, &h);
        cr_assert(p.pos <= avail, "examined %zu of %zu bytes", p.pos, avail);
        if (rc > 0) {
            cr_assert_eq((size_t)rc, h.head_len);
            cr_assert(h.head_len <= avail);
            cr_assert_eq(buf[h.head_len - 1], ',');
            cr_assert(h.vars == vars && h.nvars >= 1 && h.nvars <= cap);
            sb_fmt(b, "CL %" PRId64 "\n", h.content_length);
            for (size_t i = 0; i < h.nvars; i++) {
                struct gw_field *f = &h.vars[i];
                /* slices inside the block of this call's buffer */
                cr_assert(f->name.ptr > buf && f->name.ptr + f->name.len < buf + h.head_len);
                cr_assert(f->value.ptr > buf && f->value.ptr + f->value.len < buf + h.head_len);
                cr_assert_eq(f->name.ptr[f->name.len], '\0');
                cr_assert_eq(f->value.ptr[f->value.len], '\0');
                sb_add(b, "V ", 2);
                sb_esc(b, f->name.ptr, f->name.len);
                sb_add(b, "=", 1);
                sb_esc(b, f->value.ptr, f->value.len);
                sb_add(b, "\n", 1);
            }
            /* what follows the head, as the front-end would see it: the rest of the
             * whole input, not only of this call's bytes */
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
            cr_assert_eq(status, rc == GW_ETOOBIG ? 431 : 400, "%s", p.err.why);
            sb_fmt(b, "ERR %d %d %s\n", rc, status, p.err.why);
            /* sticky */
            cr_assert_eq(gw_scgi_parse(&p, data, n, lim, vars, cap, &h), rc);
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

/* What drive() needs besides the bytes, for check_splits. */
struct drive_ctx {
    const struct gw_scgi_limits *lim;
    size_t cap;
};

static int feed_drive(const char *data, size_t n, const size_t *cuts, size_t ncuts, const void *ctx,
                      struct sb *b)
{
    const struct drive_ctx *d = ctx;

    (void)ncuts;
    return drive(data, n, cuts, d->lim, d->cap, b);
}

/*
 * Feeds data whole, byte by byte and in 8 random splits; asserts the same result
 * each time. Returns the verdict; *out gets the description (caller frees).
 */
static int run_all_splits(const char *name, const char *data, size_t n,
                          const struct gw_scgi_limits *lim, size_t cap, char **out)
{
    struct drive_ctx d = {lim, cap};

    return check_splits(name, data, n, 1, feed_drive, &d, out);
}

/* ------------------------------------------------------------------ tables */

struct scgi_case {
    const char *name;   /* hostile-inputs row or what the case checks */
    const char *len;    /* the netstring length as sent ("17:"), or NULL: the block's
                           real length followed by ':' */
    const char *block;  /* the header block, '|' for NUL */
    const char *tail;   /* what follows the block ("," and the body...), '|' for NUL */
    int verdict;        /* COMPLETE, INCOMPLETE or GW_E* */
    const char *why;    /* expected cause of an error, or NULL */
    const char *expect; /* variables and REST (see drive), or NULL: for COMPLETE, the
                           pairs of the block with REST = tail after its ',' */
};

/* The case's bytes; '|' becomes NUL. */
static char *case_bytes(const struct scgi_case *c, size_t *n)
{
    struct sb b = {0};
    if (c->len != NULL)
        sb_add(&b, c->len, strlen(c->len));
    else
        sb_fmt(&b, "%zu:", strlen(c->block));
    sb_add(&b, c->block, strlen(c->block));
    sb_add(&b, c->tail, strlen(c->tail));
    for (size_t i = 0; i < b.len; i++)
        if (b.p[i] == '|')
            b.p[i] = '\0';
    *n = b.len;
    return b.p;
}

/* The description drive gives for a valid case, built without the parser: the
 * block split at '|' into pairs, and the tail after its leading ','. */
static char *expected_of(const struct scgi_case *c)
{
    struct sb b = {0};
    const char *s = c->block;
    int name = 1;

    sb_fmt(&b, "CL %" PRId64 "\n", (int64_t)strtoll(s + strlen("CONTENT_LENGTH|"), NULL, 10));
    while (*s) {
        size_t k = strcspn(s, "|");
        if (name)
            sb_add(&b, "V ", 2);
        sb_esc(&b, s, k);
        sb_add(&b, name ? "=" : "\n", 1);
        name = !name;
        s += k + 1;
    }
    cr_assert(c->tail[0] == ',');
    sb_add(&b, "REST ", 5);
    for (const char *t = c->tail + 1; *t; t++) {
        if (*t == '|')
            sb_add(&b, "\\x00", 4);
        else
            sb_esc(&b, t, 1);
    }
    sb_add(&b, "\n", 1);
    return b.p;
}

static const struct gw_scgi_limits default_limits = {.max_head = GW_SCGI_DEF_MAX_HEAD};

static void check_case(const struct scgi_case *c, const struct gw_scgi_limits *lim, size_t cap)
{
    size_t n;
    char *raw = case_bytes(c, &n);
    char *desc = NULL;
    char *want = c->expect == NULL && c->verdict == COMPLETE ? expected_of(c) : NULL;
    int v = run_all_splits(c->name, raw, n, lim, cap, &desc);

    cr_expect_eq(v, c->verdict, "%s: verdict %d, expected %d\n%s", c->name, v, c->verdict, desc);
    if (c->why != NULL)
        cr_expect(strstr(desc, c->why) != NULL, "%s: cause\n%s\nexpected %s", c->name, desc,
                  c->why);
    if (c->expect != NULL || want != NULL)
        cr_expect_str_eq(desc, c->expect ? c->expect : want, "%s: got\n%s\nexpected\n%s", c->name,
                         desc, c->expect ? c->expect : want);
    free(want);
    free(desc);
    free(raw);
}

#define MIN_BLOCK "CONTENT_LENGTH|0|"
#define EPROTO    GW_EPROTO
#define ETOOBIG   GW_ETOOBIG

/* Heads the parser must refuse (or wait on), each tagged with its hostile-inputs row. */
static const struct scgi_case bad_heads[] = {
    /* S01: the netstring length */
    {"S01 empty length", ":", MIN_BLOCK, ",", EPROTO, "empty netstring length", NULL},
    {"S01 leading zero", "017:", MIN_BLOCK, ",", EPROTO, "leading zero", NULL},
    {"S01 zero length", "0:", "", ",", EPROTO, "leading zero", NULL},
    {"S01 zero then block", "0:", MIN_BLOCK, ",", EPROTO, "leading zero", NULL},
    {"S01 plus sign", "+17:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 minus sign", "-17:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 leading space", " 17:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 space before colon", "17 :", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 tab", "\t17:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 letter", "1a:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 letters only", "abc:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 hex", "0x11:", MIN_BLOCK, ",", EPROTO, "leading zero", NULL},
    {"S01 exponent", "1e2:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 decimal point", "17.0:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 other separator", "17;", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 NUL in length", "1|7:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"S01 HTTP request", "GET / HTTP/1.1\r\n", "", "", EPROTO, "not a digit", NULL},
    {"S01 non-ASCII digit", "\xd9\xa1\xd9\xa7:", MIN_BLOCK, ",", EPROTO, "not a digit", NULL},
    {"too short for CONTENT_LENGTH", "16:", "CONTENT_LENGTH|0", "|,", EPROTO, "too short", NULL},
    {"one-byte block", "1:", "|", ",", EPROTO, "too short", NULL},
    /* S06: over the header cap, decided from the digits alone */
    {"S06 70000", "70000:", "", "", ETOOBIG, "longer than the limit", NULL},
    {"S06 65537", "65537:", MIN_BLOCK, ",", ETOOBIG, "longer than the limit", NULL},
    {"S06 8 digits", "99999999:", MIN_BLOCK, ",", ETOOBIG, "longer than the limit", NULL},
    {"S06 digits only", "1000000", "", "", ETOOBIG, "longer than the limit", NULL},
    {"S06 at the cap: waits", "65536:", MIN_BLOCK, ",", INCOMPLETE, NULL, "INCOMPLETE\n"},
    /* S08: the ',' */
    {"S08 no comma, body", NULL, MIN_BLOCK, "x", EPROTO, "not ending in ','", NULL},
    {"S08 semicolon", NULL, MIN_BLOCK, ";", EPROTO, "not ending in ','", NULL},
    {"S08 LF", NULL, MIN_BLOCK, "\n", EPROTO, "not ending in ','", NULL},
    {"S08 NUL", NULL, MIN_BLOCK, "|", EPROTO, "not ending in ','", NULL},
    {"S08 length one too long", "18:", MIN_BLOCK, ",h", EPROTO, "not ending in ','", NULL},
    {"S08 length one too short", "17:", "CONTENT_LENGTH|10|", ",0123456789", EPROTO,
     "not ending in ','", NULL},
    {"S08 comma missing, then silence", NULL, MIN_BLOCK, "", INCOMPLETE, NULL, "INCOMPLETE\n"},
    {"S08 length too long, silence", "18:", MIN_BLOCK, ",", INCOMPLETE, NULL, "INCOMPLETE\n"},
    /* S09: the header block */
    {"S09 not NUL-terminated", NULL, "CONTENT_LENGTH|0|REQUEST_METHOD|GET", ",", EPROTO,
     "not NUL-terminated", NULL},
    {"S09 no NUL at all", NULL, "CONTENT_LENGTH=0;REQUEST_METHOD=GET", ",", EPROTO,
     "not NUL-terminated", NULL},
    {"S09 odd number of strings", NULL, "CONTENT_LENGTH|0|REQUEST_METHOD|", ",", EPROTO,
     "odd number", NULL},
    {"S09 odd, one string", NULL, "CONTENT_LENGTH_IS_5|", ",", EPROTO, "odd number", NULL},
    {"S09 empty name", NULL, "CONTENT_LENGTH|0||x|", ",", EPROTO, "empty variable name", NULL},
    {"S09 empty name and value", NULL, "CONTENT_LENGTH|0|||", ",", EPROTO, "empty variable name",
     NULL},
    {"S09 empty name first", NULL, "||CONTENT_LENGTH|0|", ",", EPROTO, "empty variable name", NULL},
    {"S09 only NULs", NULL, "|||||||||||||||||", ",", EPROTO, "empty variable name", NULL},
    {"S09 trailing extra NUL", NULL, "CONTENT_LENGTH|0|SCGI|1||", ",", EPROTO,
     "empty variable name", NULL},
    /* S11: CONTENT_LENGTH first */
    {"S11 no CONTENT_LENGTH", NULL, "REQUEST_METHOD|GET|SCGI|1|", ",", EPROTO, "not first", NULL},
    {"S11 CONTENT_LENGTH second", NULL, "SCGI|1|CONTENT_LENGTH|0|", ",", EPROTO, "not first", NULL},
    {"S11 CONTENT_LENGTH last (nginx order reversed)", NULL,
     "REQUEST_METHOD|POST|REQUEST_URI|/|CONTENT_LENGTH|5|", ",hello", EPROTO, "not first", NULL},
    {"S11 lower-case name", NULL, "content_length|0|", ",", EPROTO, "not first", NULL},
    {"S11 name with trailing space", NULL, "CONTENT_LENGTH |0|", ",", EPROTO, "not first", NULL},
    {"S11 HTTP_CONTENT_LENGTH first", NULL, "HTTP_CONTENT_LENGTH|0|CONTENT_LENGTH|0|", ",", EPROTO,
     "not first", NULL},
    /* S13: CONTENT_LENGTH's value */
    {"S13 twice equal", NULL, "CONTENT_LENGTH|5|CONTENT_LENGTH|5|", ",hello", EPROTO, "given twice",
     NULL},
    {"S13 twice differ", NULL, "CONTENT_LENGTH|5|SCGI|1|CONTENT_LENGTH|0|", ",hello", EPROTO,
     "given twice", NULL},
    {"S13 twice, second empty", NULL, "CONTENT_LENGTH|0|CONTENT_LENGTH||", ",", EPROTO,
     "given twice", NULL},
    {"S13 -1", NULL, "CONTENT_LENGTH|-1|", ",", EPROTO, "not 1-18 digits", NULL},
    {"S13 +5", NULL, "CONTENT_LENGTH|+5|", ",hello", EPROTO, "not 1-18 digits", NULL},
    {"S13 20 digits", NULL, "CONTENT_LENGTH|18446744073709551621|", ",", EPROTO, "not 1-18 digits",
     NULL},
    {"S13 19 digits", NULL, "CONTENT_LENGTH|1000000000000000000|", ",", EPROTO, "not 1-18 digits",
     NULL},
    {"S13 empty", NULL, "CONTENT_LENGTH||SCGI|1|", ",", EPROTO, "not 1-18 digits", NULL},
    {"S13 leading space", NULL, "CONTENT_LENGTH| 5|", ",hello", EPROTO, "not 1-18 digits", NULL},
    {"S13 trailing space", NULL, "CONTENT_LENGTH|5 |", ",hello", EPROTO, "not 1-18 digits", NULL},
    {"S13 hex", NULL, "CONTENT_LENGTH|0x5|", ",hello", EPROTO, "not 1-18 digits", NULL},
    {"S13 decimal", NULL, "CONTENT_LENGTH|5.0|", ",hello", EPROTO, "not 1-18 digits", NULL},
    {"S13 underscore", NULL, "CONTENT_LENGTH|1_0|", ",", EPROTO, "not 1-18 digits", NULL},
    {"S13 list", NULL, "CONTENT_LENGTH|5, 5|", ",hello", EPROTO, "not 1-18 digits", NULL},
    {"S13 CRLF after digits", NULL, "CONTENT_LENGTH|5\r\n|", ",hello", EPROTO, "not 1-18 digits",
     NULL},
    /* S18: SCGI = 1 when present */
    {"S18 SCGI 2", NULL, "CONTENT_LENGTH|0|SCGI|2|", ",", EPROTO, "SCGI variable", NULL},
    {"S18 SCGI empty", NULL, "CONTENT_LENGTH|0|SCGI||", ",", EPROTO, "SCGI variable", NULL},
    {"S18 SCGI 01", NULL, "CONTENT_LENGTH|0|SCGI|01|", ",", EPROTO, "SCGI variable", NULL},
    {"S18 SCGI 1.0", NULL, "CONTENT_LENGTH|0|SCGI|1.0|", ",", EPROTO, "SCGI variable", NULL},
    {"S18 SCGI 1 + SP", NULL, "CONTENT_LENGTH|0|SCGI|1 |", ",", EPROTO, "SCGI variable", NULL},
    {"S18 SCGI 1 then 2", NULL, "CONTENT_LENGTH|0|SCGI|1|SCGI|2|", ",", EPROTO, "SCGI variable",
     NULL},
    /* S23 and other heads that stop early: the front-end's read timeout decides */
    {"S23 58: then silence", "58:", "", "", INCOMPLETE, NULL, "INCOMPLETE\n"},
    {"digits then silence", "5", "", "", INCOMPLETE, NULL, "INCOMPLETE\n"},
    {"nothing yet", "", "", "", INCOMPLETE, NULL, "INCOMPLETE\n"},
    {"half a block", "40:", "CONTENT_LENGTH|0|REQ", "", INCOMPLETE, NULL, "INCOMPLETE\n"},
};

/* Heads the parser must accept. expect NULL: the pairs of the block, REST the tail. */
static const struct scgi_case good_heads[] = {
    {"smallest head", "17:", MIN_BLOCK, ",", COMPLETE, NULL, "CL 0\nV CONTENT_LENGTH=0\nREST \n"},
    {"S17 body and more after it", NULL, "CONTENT_LENGTH|5|SCGI|1|", ",helloGET / HTTP/1.1\r\n\r\n",
     COMPLETE, NULL,
     "CL 5\nV CONTENT_LENGTH=5\nV SCGI=1\nREST helloGET / HTTP/1.1\\x0d\\x0a\\x0d\\x0a\n"},
    {"S17 a second netstring after the body", NULL, "CONTENT_LENGTH|2|", ",ok17:CONTENT_LENGTH|0|,",
     COMPLETE, NULL, NULL},
    {"S17 body with NUL and comma", NULL, "CONTENT_LENGTH|4|", ",|,|,", COMPLETE, NULL, NULL},
    {"S18 no SCGI variable", NULL, "CONTENT_LENGTH|0|REQUEST_METHOD|GET|REQUEST_URI|/|", ",",
     COMPLETE, NULL, NULL},
    {"S18 SCGI 1", NULL, "CONTENT_LENGTH|0|SCGI|1|", ",", COMPLETE, NULL, NULL},
    {"S18 SCGI 1 twice", NULL, "CONTENT_LENGTH|0|SCGI|1|SCGI|1|", ",", COMPLETE, NULL, NULL},
    {"S18 lower-case scgi is another variable", NULL, "CONTENT_LENGTH|0|scgi|2|", ",", COMPLETE,
     NULL, NULL},
    {"S21 CR/LF in a value is data", NULL,
     "CONTENT_LENGTH|0|HTTP_X_A|a\r\nX-Injected: 1\r\n\r\nGET / HTTP/1.1|SCGI|1|", ",", COMPLETE,
     NULL,
     "CL 0\nV CONTENT_LENGTH=0\nV HTTP_X_A=a\\x0d\\x0aX-Injected: "
     "1\\x0d\\x0a\\x0d\\x0aGET / HTTP/1.1\nV SCGI=1\nREST \n"},
    {"S21 CR/LF in a name is data", NULL, "CONTENT_LENGTH|0|HTTP_A\r\nB|x|", ",", COMPLETE, NULL,
     NULL},
    {"S21 bare LF and high bytes", NULL, "CONTENT_LENGTH|0|PATH_INFO|/\xc3\xa9\n\x7f\xff|", ",",
     COMPLETE, NULL, NULL},
    {"empty values", NULL, "CONTENT_LENGTH|0|QUERY_STRING||CONTENT_TYPE||", ",", COMPLETE, NULL,
     NULL},
    {"CONTENT_LENGTH 18 digits", NULL, "CONTENT_LENGTH|999999999999999999|", ",", COMPLETE, NULL,
     "CL 999999999999999999\nV CONTENT_LENGTH=999999999999999999\nREST \n"},
    {"CONTENT_LENGTH leading zeros", NULL, "CONTENT_LENGTH|007|", ",abcdefg", COMPLETE, NULL,
     "CL 7\nV CONTENT_LENGTH=007\nREST abcdefg\n"},
    {"value with '=' and ','", NULL, "CONTENT_LENGTH|0|HTTP_COOKIE|a=1, b=2|", ",", COMPLETE, NULL,
     NULL},
    {"repeated name (the normalizer picks)", NULL, "CONTENT_LENGTH|0|HTTP_X|1|HTTP_X|2|", ",",
     COMPLETE, NULL, NULL},

    /* nginx scgi_pass with the stock scgi_params: the module writes CONTENT_LENGTH
     * itself (the file has no CONTENT_LENGTH line), then the params in file order
     * (HTTPS only over TLS: "if_not_empty"), then every request header as HTTP_*. */
    {"nginx GET", NULL,
     "CONTENT_LENGTH|0|REQUEST_METHOD|GET|REQUEST_URI|/app/hello?x=1&y=%C3%A9|"
     "QUERY_STRING|x=1&y=%C3%A9|CONTENT_TYPE||DOCUMENT_URI|/app/hello|"
     "DOCUMENT_ROOT|/usr/share/nginx/html|SCGI|1|SERVER_PROTOCOL|HTTP/1.1|"
     "REQUEST_SCHEME|http|REMOTE_ADDR|127.0.0.1|REMOTE_PORT|53412|SERVER_PORT|8080|"
     "SERVER_NAME|localhost|HTTP_HOST|127.0.0.1:8080|HTTP_USER_AGENT|curl/8.5.0|"
     "HTTP_ACCEPT|*/*|",
     ",", COMPLETE, NULL, NULL},
    {"nginx POST over TLS", NULL,
     "CONTENT_LENGTH|11|REQUEST_METHOD|POST|REQUEST_URI|/app/form|QUERY_STRING||"
     "CONTENT_TYPE|application/x-www-form-urlencoded|DOCUMENT_URI|/app/form|"
     "DOCUMENT_ROOT|/etc/nginx/html|SCGI|1|SERVER_PROTOCOL|HTTP/1.1|REQUEST_SCHEME|https|"
     "HTTPS|on|REMOTE_ADDR|::1|REMOTE_PORT|40022|SERVER_PORT|8443|SERVER_NAME|example.org|"
     "HTTP_HOST|example.org:8443|HTTP_USER_AGENT|Mozilla/5.0 (X11; Linux x86_64)|"
     "HTTP_ACCEPT|text/html,application/xhtml+xml|"
     "HTTP_CONTENT_TYPE|application/x-www-form-urlencoded|HTTP_CONTENT_LENGTH|11|",
     ",hello=world", COMPLETE, NULL, NULL},

    /* lighttpd mod_scgi (http_cgi_headers: CONTENT_LENGTH first, "must be first for
     * SCGI"; the request headers; SCGI=1 appended by mod_scgi at the end). */
    {"lighttpd GET", NULL,
     "CONTENT_LENGTH|0|QUERY_STRING|x=1|REQUEST_URI|/app/hello?x=1|REDIRECT_STATUS|200|"
     "SCRIPT_NAME|/app/hello|SCRIPT_FILENAME|/srv/www/app/hello|DOCUMENT_ROOT|/srv/www|"
     "REQUEST_METHOD|GET|SERVER_PROTOCOL|HTTP/1.1|SERVER_SOFTWARE|lighttpd/1.4.73|"
     "GATEWAY_INTERFACE|CGI/1.1|REQUEST_SCHEME|http|SERVER_PORT|8081|SERVER_ADDR|127.0.0.1|"
     "SERVER_NAME|127.0.0.1|REMOTE_ADDR|127.0.0.1|REMOTE_PORT|40112|"
     "HTTP_HOST|127.0.0.1:8081|HTTP_USER_AGENT|curl/8.5.0|HTTP_ACCEPT|*/*|SCGI|1|",
     ",", COMPLETE, NULL, NULL},
    {"lighttpd POST with PATH_INFO", NULL,
     "CONTENT_LENGTH|3|QUERY_STRING||REQUEST_URI|/app/echo/a%20b|REDIRECT_STATUS|200|"
     "SCRIPT_NAME|/app|PATH_INFO|/echo/a b|PATH_TRANSLATED|/srv/www/echo/a b|"
     "SCRIPT_FILENAME|/srv/www/app|DOCUMENT_ROOT|/srv/www|REQUEST_METHOD|POST|"
     "SERVER_PROTOCOL|HTTP/1.0|SERVER_SOFTWARE|lighttpd/1.4.73|GATEWAY_INTERFACE|CGI/1.1|"
     "REQUEST_SCHEME|http|SERVER_PORT|8081|SERVER_ADDR|127.0.0.1|SERVER_NAME|localhost|"
     "REMOTE_ADDR|127.0.0.1|REMOTE_PORT|40114|HTTP_HOST|localhost:8081|"
     "CONTENT_TYPE|text/plain|HTTP_CONTENT_LENGTH|3|SCGI|1|",
     ",abc", COMPLETE, NULL, NULL},

    /* Apache mod_proxy_scgi (send_headers: CONTENT_LENGTH = r->remaining, SCGI=1, then
     * subprocess_env without GATEWAY_INTERFACE, CONTENT_LENGTH and SCGI). */
    {"Apache GET", NULL,
     "CONTENT_LENGTH|0|SCGI|1|HTTP_HOST|127.0.0.1:8082|HTTP_USER_AGENT|curl/8.5.0|"
     "HTTP_ACCEPT|*/*|PATH|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|"
     "SERVER_SIGNATURE|<address>Apache/2.4.58 (Ubuntu) Server at 127.0.0.1 Port "
     "8082</address>\n|SERVER_SOFTWARE|Apache/2.4.58 (Ubuntu)|SERVER_NAME|127.0.0.1|"
     "SERVER_ADDR|127.0.0.1|SERVER_PORT|8082|REMOTE_ADDR|127.0.0.1|"
     "DOCUMENT_ROOT|/var/www/html|REQUEST_SCHEME|http|CONTEXT_PREFIX||"
     "CONTEXT_DOCUMENT_ROOT|/var/www/html|SERVER_ADMIN|webmaster@localhost|"
     "SCRIPT_FILENAME|proxy:scgi://127.0.0.1:9000/hello|REMOTE_PORT|51234|"
     "SERVER_PROTOCOL|HTTP/1.1|REQUEST_METHOD|GET|QUERY_STRING|x=1|"
     "REQUEST_URI|/app/hello?x=1|SCRIPT_NAME|/app/hello|",
     ",", COMPLETE, NULL, NULL},
    {"Apache POST", NULL,
     "CONTENT_LENGTH|13|SCGI|1|HTTP_HOST|localhost:8082|HTTP_USER_AGENT|python-requests/2.31|"
     "HTTP_ACCEPT_ENCODING|gzip, deflate|HTTP_ACCEPT|*/*|HTTP_CONNECTION|keep-alive|"
     "CONTENT_TYPE|application/json|SERVER_SOFTWARE|Apache/2.4.58 (Unix)|"
     "SERVER_NAME|localhost|SERVER_ADDR|::1|SERVER_PORT|8082|REMOTE_ADDR|::1|"
     "DOCUMENT_ROOT|/tmp/t/htdocs|REQUEST_SCHEME|http|CONTEXT_PREFIX||"
     "CONTEXT_DOCUMENT_ROOT|/tmp/t/htdocs|SERVER_ADMIN|you@example.com|"
     "SCRIPT_FILENAME|proxy:scgi://127.0.0.1:9000/api|REMOTE_PORT|36790|"
     "SERVER_PROTOCOL|HTTP/1.1|REQUEST_METHOD|POST|QUERY_STRING||REQUEST_URI|/app/api|"
     "SCRIPT_NAME|/app/api|",
     ",{\"a\": [1,2]}", COMPLETE, NULL, NULL},
};

ParameterizedTestParameters(scgi_parse, refused)
{
    return index_params(NROWS(bad_heads));
}

ParameterizedTest(size_t *i, scgi_parse, refused)
{
    check_case(&bad_heads[*i], &default_limits, NVARS);
}

ParameterizedTestParameters(scgi_parse, accepted)
{
    return index_params(NROWS(good_heads));
}

ParameterizedTest(size_t *i, scgi_parse, accepted)
{
    check_case(&good_heads[*i], &default_limits, NVARS);
}

/* ------------------------------------------------------------ limits (S06, S07) */

static char *repeat(char ch, size_t n)
{
    char *p = malloc(n + 1);
    cr_assert(p != NULL);
    memset(p, ch, n);
    p[n] = '\0';
    return p;
}

/* Feeds s one byte at a time; returns the verdict and the count of bytes given when
 * it was reached. */
static int feed_bytewise(const char *s, size_t n, const struct gw_scgi_limits *lim, size_t *at)
{
    struct gw_scgi_parser p;
    struct gw_field vars[NVARS];
    struct gw_scgi_head h;
    int rc = 0;

    gw_scgi_parser_init(&p);
    for (size_t i = 1; i <= n; i++) {
        char *copy = exact_copy(s, i);
        rc = gw_scgi_parse(&p, copy, i, lim, vars, NVARS, &h);
        free(copy);
        if (rc != 0) {
            *at = i;
            return rc;
        }
    }
    *at = n;
    return rc;
}

/* S07: 4096 digits and no colon are refused at the digit cap, not at the end. */
Test(scgi_parse, s07_digit_cap)
{
    char *ones = repeat('1', 4096), *nines = repeat('9', 4096), *zeros = repeat('0', 4096);
    size_t at;
    struct case_ {
        const char *name;
        const char *s;
        int rc;
        size_t at;
    } cases[] = {
        {"4096 ones", ones, GW_ETOOBIG, 6},   /* 111111 > 65536 */
        {"4096 nines", nines, GW_ETOOBIG, 5}, /* 99999 > 65536 */
        {"4096 zeros", zeros, GW_EPROTO, 1},  /* a leading zero */
    };

    for (size_t i = 0; i < NROWS(cases); i++) {
        int rc = feed_bytewise(cases[i].s, 4096, NULL, &at);
        cr_expect_eq(rc, cases[i].rc, "%s: %d", cases[i].name, rc);
        cr_expect_eq(at, cases[i].at, "%s: refused after %zu bytes, expected %zu", cases[i].name,
                     at, cases[i].at);
    }
    /* whole, in random splits, with the verdict the same */
    {
        struct scgi_case c = {"S07 4096 digits", ones, "", "", GW_ETOOBIG, "longer than", NULL};
        check_case(&c, &default_limits, NVARS);
    }
    free(ones);
    free(nines);
    free(zeros);
}

/* S06: the cap follows max_head and is decided on the digit that crosses it;
 * max_head is clamped to GW_SCGI_MAX_HEAD_CAP (at most 7 digits). */
Test(scgi_parse, s06_length_cap)
{
    struct gw_scgi_limits small = {.max_head = 100};
    struct gw_scgi_limits huge = {.max_head = (size_t)-1};
    size_t at;

    cr_expect_eq(feed_bytewise("101:", 4, &small, &at), GW_ETOOBIG);
    cr_expect_eq(at, 3);
    cr_expect_eq(feed_bytewise("100:", 4, &small, &at), 0);
    cr_expect_eq(feed_bytewise("65536:", 6, NULL, &at), 0);
    cr_expect_eq(feed_bytewise("65537", 5, NULL, &at), GW_ETOOBIG);
    cr_expect_eq(at, 5);
    cr_expect_eq(feed_bytewise("9999999:", 8, &huge, &at), 0);
    cr_expect_eq(feed_bytewise("10000000:", 9, &huge, &at), GW_ETOOBIG);
    cr_expect_eq(at, GW_SCGI_MAX_LEN_DIGITS + 1);
    cr_expect_eq(feed_bytewise("99999999999999999999999:", 24, &huge, &at), GW_ETOOBIG);
    cr_expect_eq(at, GW_SCGI_MAX_LEN_DIGITS + 1);
}

/* A head exactly max_head long is accepted, one byte more is refused. */
Test(scgi_parse, max_head_boundary)
{
    struct gw_scgi_limits lim = {.max_head = 200};
    struct sb b = {0};
    char *desc;
    size_t pad = 200 - strlen("CONTENT_LENGTH|0|X||");

    sb_add(&b, "200:CONTENT_LENGTH|0|X|", 23);
    for (size_t i = 0; i < pad; i++)
        sb_add(&b, "v", 1);
    sb_add(&b, "|,", 2);
    for (size_t i = 0; i < b.len; i++)
        if (b.p[i] == '|')
            b.p[i] = '\0';
    cr_expect_eq(run_all_splits("200-byte block", b.p, b.len, &lim, NVARS, &desc), COMPLETE, "%s",
                 desc);
    free(desc);
    lim.max_head = 199;
    cr_expect_eq(run_all_splits("200-byte block, limit 199", b.p, b.len, &lim, NVARS, &desc),
                 GW_ETOOBIG, "%s", desc);
    free(desc);
    /* lim NULL: the default */
    cr_expect_eq(run_all_splits("lim NULL", b.p, b.len, NULL, NVARS, &desc), COMPLETE, "%s", desc);
    free(desc);
    free(b.p);
}

/* More variables than the caller's array holds: GW_ETOOBIG; exactly cap: fine. */
Test(scgi_parse, variable_cap)
{
    struct scgi_case c = {
        .name = "4 variables",
        .block = "CONTENT_LENGTH|0|A|1|B|2|C|3|",
        .tail = ",",
        .verdict = COMPLETE,
    };
    check_case(&c, &default_limits, 4);
    c.name = "4 variables, cap 3";
    c.verdict = GW_ETOOBIG;
    c.why = "too many variables";
    check_case(&c, &default_limits, 3);
    c.name = "cap 0";
    check_case(&c, &default_limits, 0);
}

/* vars NULL counts the variables without storing them, as the front-end does to
 * size its array: the same verdict and count as a parse into an array, and cap still
 * bounds them. */
Test(scgi_parse, counting_without_an_array)
{
    static const char raw[] = "29:CONTENT_LENGTH\0"
                              "0\0A\0"
                              "1\0B\0"
                              "2\0C\0"
                              "3\0,";
    struct gw_scgi_parser p, q;
    struct gw_field vars[8];
    struct gw_scgi_head h, counted;

    gw_scgi_parser_init(&p);
    gw_scgi_parser_init(&q);
    int rc = gw_scgi_parse(&p, raw, sizeof(raw) - 1, NULL, vars, 8, &h);
    cr_assert_eq(rc, (int)sizeof(raw) - 1);
    cr_expect_eq(gw_scgi_parse(&q, raw, sizeof(raw) - 1, NULL, NULL, 8, &counted), rc);
    cr_expect_eq(counted.nvars, 4);
    cr_expect_null(counted.vars);
    cr_expect_eq(gw_scgi_parse(&q, raw, sizeof(raw) - 1, NULL, vars, 4, &counted), rc);
    cr_expect_eq(counted.vars, vars);
    cr_expect(gw_slice_eq(counted.vars[3].value, "3"));
    gw_scgi_parser_init(&q);
    cr_expect_eq(gw_scgi_parse(&q, raw, sizeof(raw) - 1, NULL, NULL, 3, &counted), GW_ETOOBIG);
}

/* Byte-by-byte feeding is O(n): a 9.5 MB head given one byte per call (no copies)
 * finishes quickly; a parser rescanning from 0 would need ~10^13 steps. */
Test(scgi_parse, bytewise_is_linear, .timeout = 30)
{
    struct gw_scgi_limits lim = {.max_head = GW_SCGI_MAX_HEAD_CAP};
    size_t block = GW_SCGI_MAX_HEAD_CAP;
    char prefix[16];
    int pl = snprintf(prefix, sizeof(prefix), "%zu:", block);
    size_t n = (size_t)pl + block + 1;
    char *buf = malloc(n);
    struct gw_scgi_parser p;
    struct gw_field vars[4];
    struct gw_scgi_head h;
    int rc = 0;

    /* block: CONTENT_LENGTH NUL 0 NUL X NUL yyy...y NUL, then ',' */
    cr_assert(buf != NULL);
    memcpy(buf, prefix, (size_t)pl);
    memcpy(buf + pl,
           "CONTENT_LENGTH\0"
           "0\0"
           "X\0",
           19);
    memset(buf + pl + 19, 'y', block - 20);
    buf[n - 2] = '\0';
    buf[n - 1] = ',';
    gw_scgi_parser_init(&p);
    for (size_t i = 1; i <= n && rc == 0; i++)
        rc = gw_scgi_parse(&p, buf, i, &lim, vars, 4, &h);
    cr_expect_eq(rc, (int)n, "%d", rc);
    cr_expect_eq(h.nvars, 2);
    cr_expect_eq(h.vars[1].value.len, block - 20);
    free(buf);
}

/* After a complete head, calling again gives the same result (nothing moves). */
Test(scgi_parse, complete_is_idempotent)
{
    static const char raw[] = "24:CONTENT_LENGTH\0"
                              "2\0SCGI\0"
                              "1\0,ok";
    struct gw_scgi_parser p;
    struct gw_field vars[4];
    struct gw_scgi_head h, h2;

    gw_scgi_parser_init(&p);
    cr_assert_eq(gw_scgi_parse(&p, raw, sizeof(raw) - 1, NULL, vars, 4, &h), 28);
    cr_assert_eq(h.content_length, 2);
    cr_assert_eq(gw_scgi_parse(&p, raw, sizeof(raw) - 1, NULL, vars, 4, &h2), 28);
    cr_assert_eq(h2.nvars, 2);
    cr_assert_eq(h2.head_len, 28);
    cr_assert(gw_slice_eq(h2.vars[1].name, "SCGI"));
    cr_assert_eq(p.err.why, NULL);
    cr_assert_eq(p.err.code, 0);
}
