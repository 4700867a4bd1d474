/*
 * Unit tests of protocols/fastcgi_parse.c: tables of {raw record bytes, expected
 * events and pairs, verdict} for the FastCGI rows of docs/hostile-inputs.md the
 * record layer decides (F01, F02, F04-F09, F12, F14, F16-F18 and F21 as far as the
 * parser exposes them, F23, F27, F28) and for valid streams, plus the writers. Every
 * stream is fed whole, one byte at a time and in several random splits (fixed seed)
 * through a tiny front-end (the driver below); the description and verdict must not
 * change. Each call gets an exact-size heap copy of the bytes it may read, so ASan
 * reports any over-read.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/fastcgi_parse.h"
#include "tests/unit/support.h"

#define INCOMPLETE 1 /* verdict: the input ended inside a record */
#define NSLOTS     4

/* ------------------------------------------------------------------ driver */

/* One request of the tiny front-end: its PARAMS decoder and storage. */
struct slot {
    int used;
    uint16_t id;
    int params_done;
    struct gw_fcgi_params d;
    char *arena;
    struct gw_field *fields;
};

struct limits {
    size_t budget, max_params;
};

static const struct limits test_limits = {1024, 64};

static struct slot *find_slot(struct slot *s, uint16_t id)
{
    for (int i = 0; i < NSLOTS; i++)
        if (s[i].used && s[i].id == id)
            return &s[i];
    return NULL;
}

static void free_slots(struct slot *s)
{
    for (int i = 0; i < NSLOTS; i++) {
        free(s[i].arena);
        free(s[i].fields);
    }
}

static const struct gw_fcgi_values test_values = {
    .max_conns = 100, .max_reqs = 50, .mpxs_conns = 1};

/* The record is over: acts on it as a front-end would; 0 or a negative error. */
static int on_end(struct gw_fcgi_parser *p, struct slot *slots, const struct limits *lim,
                  struct sb *content, struct sb *b)
{
    const struct gw_fcgi_header *h = &p->rec;
    struct slot *s = find_slot(slots, h->request_id);
    int rc = 0;

    if (h->type == FCGI_BEGIN_REQUEST) {
        struct gw_fcgi_begin bg;
        rc = gw_fcgi_begin_read(h, gw_slice_make(content->p, content->len), &bg);
        cr_assert_eq(rc, 0); /* the parser already refused what the reader would */
        sb_fmt(b, "BEGIN role=%u flags=%u\n", bg.role, bg.flags);
        if (s == NULL) {
            for (int i = 0; i < NSLOTS && s == NULL; i++)
                if (!slots[i].used)
                    s = &slots[i];
            cr_assert(s != NULL);
            s->used = 1;
            s->id = h->request_id;
            s->arena = malloc(lim->budget ? lim->budget : 1);
            s->fields = malloc(lim->max_params * sizeof(*s->fields) + 1);
            cr_assert(s->arena != NULL && s->fields != NULL);
            gw_fcgi_params_init(&s->d, s->arena, lim->budget, s->fields, lim->max_params, NULL);
        }
    } else if (h->type == FCGI_GET_VALUES) {
        unsigned char out[GW_FCGI_GET_VALUES_RESULT_MAX];
        rc = gw_fcgi_get_values_result(content->p, content->len, &test_values, out, sizeof(out));
        if (rc < 0) {
            sb_fmt(b, "ERR values %d\n", rc);
            return rc;
        }
        sb_add(b, "RESULT ", 7);
        sb_esc(b, (const char *)out, (size_t)rc);
        sb_add(b, "\n", 1);
        rc = 0;
    } else if (h->type == FCGI_PARAMS && h->content_length == 0 && s != NULL) {
        rc = gw_fcgi_params_end(&s->d);
        if (rc < 0) {
            cr_assert_eq(check_refusal(rc, &s->d.err, 1), 0, "FastCGI answers by closing");
            sb_fmt(b, "ERR params %d %s\n", rc, s->d.err.why);
            return rc;
        }
        s->params_done = 1;
        for (size_t i = 0; i < s->d.nfields; i++) {
            struct gw_field *f = &s->d.fields[i];
            cr_assert(f->name.ptr >= s->arena &&
                      f->value.ptr + f->value.len <= s->arena + s->d.cap);
            sb_add(b, "P ", 2);
            sb_esc(b, f->name.ptr, f->name.len);
            sb_add(b, "=", 1);
            sb_esc(b, f->value.ptr, f->value.len);
            sb_add(b, "\n", 1);
        }
    } else if (content->len > 0 && h->type != FCGI_PARAMS) {
        sb_add(b, "C ", 2);
        sb_esc(b, content->p, content->len);
        sb_add(b, "\n", 1);
    }
    sb_add(b, "E\n", 2);
    return rc;
}

/*
 * Runs the record stream data[0..n), bytes arriving in steps ending at cuts[] (the
 * last == n). Writes a description to *b; returns 0, INCOMPLETE or the first error.
 */
static int drive(const char *data, size_t n, const size_t *cuts, const struct limits *lim,
                 struct sb *b)
{
    struct gw_fcgi_parser p;
    struct slot slots[NSLOTS];
    struct sb content = {0};
    size_t off = 0, ci = 0, avail = cuts[0];
    int pieces = 0, in_record = 0, rc;

    memset(slots, 0, sizeof(slots));
    sb_add(b, "", 0);
    gw_fcgi_parser_init(&p);
    for (;;) {
        size_t len = avail - off, used = 0;
        char *copy = len <= EXACT_COPY_MAX ? exact_copy(data + off, len) : NULL;
        const char *in = copy ? copy : data + off;
        struct gw_slice d = {NULL, 0};

        rc = gw_fcgi_parse(&p, in, len, &used, &d);
        cr_assert(used <= len);
        if (rc == GW_FCGI_HEADER) {
            cr_assert_eq(used, FCGI_HEADER_LEN);
            sb_fmt(b, "H t=%u id=%u cl=%u pad=%u\n", p.rec.type, p.rec.request_id,
                   p.rec.content_length, p.rec.padding_length);
            content.len = 0;
            pieces = 0;
            in_record = 1;
            struct slot *s = find_slot(slots, p.rec.request_id);
            if (p.rec.type == FCGI_STDIN && s != NULL && !s->params_done)
                sb_add(b, "ORDER stdin before the end of params\n", 37);
        } else if (rc == GW_FCGI_CONTENT) {
            cr_assert(d.ptr == in && d.len == used && d.len > 0);
            pieces++;
            if (p.rec.type == FCGI_BEGIN_REQUEST || p.rec.type == FCGI_GET_VALUES ||
                p.rec.type == FCGI_ABORT_REQUEST)
                cr_assert(pieces == 1 && d.len == p.rec.content_length, "not delivered whole");
            sb_add(&content, d.ptr, d.len);
            struct slot *s = find_slot(slots, p.rec.request_id);
            if (p.rec.type == FCGI_PARAMS && s != NULL) {
                int err = gw_fcgi_params_feed(&s->d, d.ptr, d.len);
                if (err < 0) {
                    cr_assert_eq(check_refusal(err, &s->d.err, 1), 0, "FastCGI answers by closing");
                    sb_fmt(b, "ERR params %d %s\n", err, s->d.err.why);
                    rc = err;
                }
            }
        } else if (rc == GW_FCGI_END) {
            in_record = 0;
            int err = on_end(&p, slots, lim, &content, b);
            if (err < 0)
                rc = err;
        } else if (rc < 0) {
            cr_assert_eq(used, 0);
            cr_assert_eq(check_refusal(rc, &p.err, 1), 0, "FastCGI answers by closing");
            sb_fmt(b, "ERR parse %d %s\n", rc, p.err.why);
        }
        free(copy);
        off += used;
        if (rc < 0)
            break;
        if (rc != GW_FCGI_MORE)
            continue;
        if (avail == n) {
            rc = in_record || off < n ? INCOMPLETE : 0;
            if (rc)
                sb_add(b, "INCOMPLETE\n", 11);
            break;
        }
        avail = cuts[++ci];
    }
    free(content.p);
    free_slots(slots);
    return rc;
}

/* drive() as check_splits calls it; ctx is the limits. */
static int feed_drive(const char *data, size_t n, const size_t *cuts, size_t ncuts, const void *lim,
                      struct sb *b)
{
    (void)ncuts;
    return drive(data, n, cuts, lim, b);
}

/* ------------------------------------------------------------ record tables */

struct rec_case {
    const char *name; /* hostile-inputs row or what the case checks */
    const char *raw;
    size_t len;
    int verdict;        /* 0, INCOMPLETE or a negative error */
    const char *expect; /* full description */
};

#define R(s) (s), sizeof(s) - 1

/* BEGIN_REQUEST id 1 RESPONDER with KEEP_CONN, and the empty stream ends of id 1. */
#define BEGIN1                                                                                     \
    "\x01\x01\x00\x01\x00\x08\x00\x00"                                                             \
    "\x00\x01\x01\x00\x00\x00\x00\x00"
#define BEGIN1_H    "H t=1 id=1 cl=8 pad=0\nBEGIN role=1 flags=1\nE\n"
#define PARAMS_END1 "\x01\x04\x00\x01\x00\x00\x00\x00"
#define STDIN_END1  "\x01\x05\x00\x01\x00\x00\x00\x00"

/* clang-format off: the byte strings are laid out by record, not by the formatter */
// clang-format off
static struct rec_case cases[] = {
    {"F01 version 2",
     R("\x02\x01\x00\x01\x00\x08\x00\x00" "\x00\x01\x01\x00\x00\x00\x00\x00"),
     GW_EPROTO, "ERR parse -3 record version is not 1\n"},
    {"F01 version 0 after a good record", R(BEGIN1 "\x00\x04\x00\x01\x00\x00\x00\x00"), GW_EPROTO,
     BEGIN1_H "ERR parse -3 record version is not 1\n"},
    {"F01 bad version on a lone first byte", R("\x09"), GW_EPROTO,
     "ERR parse -3 record version is not 1\n"},
    {"F02 unknown management type",
     R("\x01\x63\x00\x00\x00\x03\x00\x00" "abc" PARAMS_END1),
     0, "H t=99 id=0 cl=3 pad=0\nC abc\nE\nH t=4 id=1 cl=0 pad=0\nE\n"},
    {"F02 type 0 and 255",
     R("\x01\x00\x00\x00\x00\x00\x00\x00" "\x01\xff\x00\x00\x00\x00\x00\x00"),
     0, "H t=0 id=0 cl=0 pad=0\nE\nH t=255 id=0 cl=0 pad=0\nE\n"},
    {"F04 GET_VALUES",
     R("\x01\x09\x00\x00\x00\x30\x03\x00" "\x0e\x00" "FCGI_MAX_CONNS" "\x0d\x00" "FCGI_MAX_REQS"
       "\x0f\x00" "FCGI_MPXS_CONNS" "\x00\x00\x00"),
     0,
     "H t=9 id=0 cl=48 pad=3\nRESULT "
     "\\x01\\x0a\\x00\\x00\\x006\\x00\\x00\\x0e\\x03FCGI_MAX_CONNS100"
     "\\x0d\\x02FCGI_MAX_REQS50\\x0f\\x01FCGI_MPXS_CONNS1\nE\n"},
    {"F04 GET_VALUES unknown name ignored",
     R("\x01\x09\x00\x00\x00\x0f\x00\x00" "\x03\x00" "FOO" "\x08\x00" "FCGI_MAX"),
     0, "H t=9 id=0 cl=15 pad=0\nRESULT \\x01\\x0a\\x00\\x00\\x00\\x00\\x00\\x00\nE\n"},
    {"F05 GET_VALUES one name three times with values",
     R("\x01\x09\x00\x00\x00\x31\x00\x00" "\x0d\x01" "FCGI_MAX_REQSx" "\x0d\x01" "FCGI_MAX_REQSy"
       "\x0d\x00" "FCGI_MAX_REQS" "\x00\x00"),
     0,
     "H t=9 id=0 cl=49 pad=0\nRESULT \\x01\\x0a\\x00\\x00\\x00\\x11\\x00\\x00\\x0d\\x02"
     "FCGI_MAX_REQS50\nE\n"},
    {"F07 GET_VALUES pair past the record",
     R("\x01\x09\x00\x00\x00\x05\x00\x00" "\x0e\x00" "FCG"),
     GW_EPROTO, "H t=9 id=0 cl=5 pad=0\nERR values -3\n"},
    {"F06 length 2^31-1 in a short PARAMS record",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x0a\x00\x00" "\xff\xff\xff\xff\x01" "abcde" PARAMS_END1),
     GW_ETOOBIG, BEGIN1_H "H t=4 id=1 cl=10 pad=0\nERR params -4 params over the budget\n"},
    {"F06 value length 2^31-1",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x07\x00\x00" "\x01\xff\xff\xff\xff" "ab" PARAMS_END1),
     GW_ETOOBIG, BEGIN1_H "H t=4 id=1 cl=7 pad=0\nERR params -4 params over the budget\n"},
    {"F07 pair longer than the PARAMS stream",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x06\x00\x00" "\x03\x05" "FOOb" PARAMS_END1 STDIN_END1),
     GW_EPROTO,
     BEGIN1_H "H t=4 id=1 cl=6 pad=0\nE\nH t=4 id=1 cl=0 pad=0\n"
              "ERR params -3 PARAMS stream ends inside a pair\n"},
    {"F07 stream ends inside a 4-byte length",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x02\x00\x00" "\x80\x00" PARAMS_END1),
     GW_EPROTO,
     BEGIN1_H "H t=4 id=1 cl=2 pad=0\nE\nH t=4 id=1 cl=0 pad=0\n"
              "ERR params -3 PARAMS stream ends inside a pair\n"},
    {"F08 pair split across two PARAMS records, 4-byte lengths split too",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x06\x02\x00" "\x80\x00\x00\x03\x80\x00" "\x00\x00"
              "\x01\x04\x00\x01\x00\x08\x00\x00" "\x00\x03" "ABCxyz"
              "\x01\x04\x00\x01\x00\x03\x00\x00" "\x01\x00" "Z" PARAMS_END1),
     0,
     BEGIN1_H "H t=4 id=1 cl=6 pad=2\nE\nH t=4 id=1 cl=8 pad=0\nE\nH t=4 id=1 cl=3 pad=0\nE\n"
              "H t=4 id=1 cl=0 pad=0\nP ABC=xyz\nP Z=\nE\n"},
    {"F08 nginx-like params over three records",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x0b\x04\x00" "\x0e\x03REQUEST_M" "\x00\x00\x00\x00"
              "\x01\x04\x00\x01\x00\x08\x00\x00" "ETHODGET" "\x01\x04\x00\x01\x00\x08\x00\x00"
              "\x0c\x00QUERY_" "\x01\x04\x00\x01\x00\x06\x00\x00" "STRING" PARAMS_END1 STDIN_END1),
     0,
     BEGIN1_H "H t=4 id=1 cl=11 pad=4\nE\nH t=4 id=1 cl=8 pad=0\nE\nH t=4 id=1 cl=8 pad=0\nE\n"
              "H t=4 id=1 cl=6 pad=0\nE\nH t=4 id=1 cl=0 pad=0\nP REQUEST_METHOD=GET\n"
              "P QUERY_STRING=\nE\nH t=5 id=1 cl=0 pad=0\nE\n"},
    {"F09 padding 7 then 255 bytes skipped exactly",
     R("\x01\x05\x00\x01\x00\x01\x07\x00" "x" "PPPPPPP" "\x01\x05\x00\x01\x00\x00\xff\x00"
       "................................................................"
       "................................................................"
       "................................................................"
       "..............................................................." STDIN_END1),
     0, "H t=5 id=1 cl=1 pad=7\nC x\nE\nH t=5 id=1 cl=0 pad=255\nE\nH t=5 id=1 cl=0 pad=0\nE\n"},
    {"F09 input ends inside padding",
     R("\x01\x05\x00\x01\x00\x01\x07\x00" "xPP"),
     INCOMPLETE, "H t=5 id=1 cl=1 pad=7\nINCOMPLETE\n"},
    {"F12 BEGIN_REQUEST id 0",
     R("\x01\x01\x00\x00\x00\x08\x00\x00" "\x00\x01\x01\x00\x00\x00\x00\x00"),
     GW_EPROTO, "ERR parse -3 BEGIN_REQUEST with request id 0\n"},
    {"F12 BEGIN_REQUEST length 9",
     R("\x01\x01\x00\x01\x00\x09\x00\x00" "\x00\x01\x01\x00\x00\x00\x00\x00\x00"),
     GW_EPROTO, "ERR parse -3 BEGIN_REQUEST content length is not 8\n"},
    {"F12 BEGIN_REQUEST length 65535 refused without waiting",
     R("\x01\x01\x00\x01\xff\xff\x00\x00"), GW_EPROTO,
     "ERR parse -3 BEGIN_REQUEST content length is not 8\n"},
    {"F12 BEGIN_REQUEST length 0", R("\x01\x01\x00\x01\x00\x00\x00\x00"), GW_EPROTO,
     "ERR parse -3 BEGIN_REQUEST content length is not 8\n"},
    {"F14 roles as data",
     R("\x01\x01\x00\x01\x00\x08\x00\x00" "\x00\x02\x00\x00\x00\x00\x00\x00"
       "\x01\x01\x00\x02\x00\x08\x00\x00" "\x00\x03\x01\x00\x00\x00\x00\x00"
       "\x01\x01\x00\x03\x00\x08\x00\x00" "\x00\x63\xfe\xff\xff\xff\xff\xff"
       "\x01\x01\xff\xff\x00\x08\x00\x00" "\xff\xff\x00\x00\x00\x00\x00\x00"),
     0,
     "H t=1 id=1 cl=8 pad=0\nBEGIN role=2 flags=0\nE\nH t=1 id=2 cl=8 pad=0\n"
     "BEGIN role=3 flags=1\nE\nH t=1 id=3 cl=8 pad=0\nBEGIN role=99 flags=254\nE\n"
     "H t=1 id=65535 cl=8 pad=0\nBEGIN role=65535 flags=0\nE\n"},
    {"F16 STDIN is delivered as sent (the front-end clamps to CONTENT_LENGTH)",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x11\x00\x00" "\x0e\x01" "CONTENT_LENGTH"
              "2" PARAMS_END1 "\x01\x05\x00\x01\x00\x05\x03\x00" "hello\0\0\0" STDIN_END1),
     0,
     BEGIN1_H "H t=4 id=1 cl=17 pad=0\nE\nH t=4 id=1 cl=0 pad=0\nP CONTENT_LENGTH=2\nE\n"
              "H t=5 id=1 cl=5 pad=3\nC hello\nE\nH t=5 id=1 cl=0 pad=0\nE\n"},
    {"F17 short STDIN then the empty record",
     R(BEGIN1 PARAMS_END1 "\x01\x05\x00\x01\x00\x02\x00\x00" "hi" STDIN_END1),
     0,
     BEGIN1_H
     "H t=4 id=1 cl=0 pad=0\nE\nH t=5 id=1 cl=2 pad=0\nC hi\nE\nH t=5 id=1 cl=0 pad=0\nE\n"},
    {"F18 STDIN stream of unknown length ends at the empty record",
     R(BEGIN1 PARAMS_END1 "\x01\x05\x00\x01\x00\x03\x00\x00" "abc"
                          "\x01\x05\x00\x01\x00\x03\x00\x00" "def" STDIN_END1),
     0,
     BEGIN1_H "H t=4 id=1 cl=0 pad=0\nE\nH t=5 id=1 cl=3 pad=0\nC abc\nE\n"
              "H t=5 id=1 cl=3 pad=0\nC def\nE\nH t=5 id=1 cl=0 pad=0\nE\n"},
    {"F21 STDIN before the PARAMS stream ended is visible",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x04\x00\x00" "\x01\x01" "AB" "\x01\x05\x00\x01\x00\x01\x00\x00"
              "x"),
     0,
     BEGIN1_H "H t=4 id=1 cl=4 pad=0\nE\nH t=5 id=1 cl=1 pad=0\n"
              "ORDER stdin before the end of params\nC x\nE\n"},
    {"F11 records for an inactive id still parse",
     R("\x01\x04\x00\x07\x00\x02\x00\x00" "\x00\x00" "\x01\x05\x00\x07\x00\x00\x00\x00"),
     0, "H t=4 id=7 cl=2 pad=0\nE\nH t=5 id=7 cl=0 pad=0\nE\n"},
    {"multiplexed ids 1 and 2 interleaved",
     R(BEGIN1 "\x01\x01\x00\x02\x00\x08\x00\x00" "\x00\x01\x01\x00\x00\x00\x00\x00"
              "\x01\x04\x00\x02\x00\x04\x00\x00" "\x01\x02" "Ab" "\x01\x04\x00\x01\x00\x04\x00\x00"
              "\x01\x01" "Bc" "\x01\x04\x00\x02\x00\x01\x00\x00"
              "c" PARAMS_END1 "\x01\x04\x00\x02\x00\x00\x00\x00"),
     0,
     BEGIN1_H "H t=1 id=2 cl=8 pad=0\nBEGIN role=1 flags=1\nE\nH t=4 id=2 cl=4 pad=0\nE\n"
              "H t=4 id=1 cl=4 pad=0\nE\nH t=4 id=2 cl=1 pad=0\nE\nH t=4 id=1 cl=0 pad=0\n"
              "P B=c\nE\nH t=4 id=2 cl=0 pad=0\nP A=bc\nE\n"},
    {"ABORT_REQUEST delivered whole", R("\x01\x02\x00\x01\x00\x00\x00\x00"), 0,
     "H t=2 id=1 cl=0 pad=0\nE\n"},
    {"empty pairs and an empty name",
     R(BEGIN1 "\x01\x04\x00\x01\x00\x08\x01\x00" "\x00\x00\x01\x00X\x00\x01" "v" "\0" PARAMS_END1),
     0, BEGIN1_H "H t=4 id=1 cl=8 pad=1\nE\nH t=4 id=1 cl=0 pad=0\nP =\nP X=\nP =v\nE\n"},
    {"params after the end of the stream",
     R(BEGIN1 PARAMS_END1 "\x01\x04\x00\x01\x00\x02\x00\x00" "\x00\x00"),
     GW_EPROTO,
     BEGIN1_H "H t=4 id=1 cl=0 pad=0\nE\nH t=4 id=1 cl=2 pad=0\n"
              "ERR params -3 PARAMS after the end of the stream\n"},
    {"incomplete header", R("\x01\x05\x00"), INCOMPLETE, "INCOMPLETE\n"},
    {"incomplete whole record",
     R("\x01\x09\x00\x00\x00\x04\x00\x00" "\x00\x00"),
     INCOMPLETE, "INCOMPLETE\n"},
    {"empty input", "", 0, 0, ""},
};
// clang-format on

static void check_case(const struct rec_case *c, const struct limits *lim, int bytewise)
{
    char *desc = NULL;
    int v = check_splits(c->name, c->raw, c->len, bytewise, feed_drive, lim, &desc);

    cr_expect_eq(v, c->verdict, "%s: verdict %d, expected %d\n%s", c->name, v, c->verdict, desc);
    if (c->expect != NULL)
        cr_expect_str_eq(desc, c->expect, "%s: got\n%s\nexpected\n%s", c->name, desc, c->expect);
    free(desc);
}

ParameterizedTestParameters(fcgi_parse, table)
{
    return index_params(NROWS(cases));
}

ParameterizedTest(size_t *i, fcgi_parse, table)
{
    check_case(&cases[*i], &test_limits, 1);
}

/* ------------------------------------------------------------ generated streams */

/* Appends a record header to buf at *n. */
static void put_header(char *buf, size_t *n, uint8_t type, uint16_t id, uint16_t cl, uint8_t pad)
{
    gw_fcgi_header_write((unsigned char *)buf + *n, type, id, cl, pad);
    *n += FCGI_HEADER_LEN;
}

/* F09: every padding length 0-255 is skipped exactly. */
Test(fcgi_parse, f09_every_padding)
{
    for (unsigned pad = 0; pad < 256; pad++) {
        char raw[3 * FCGI_HEADER_LEN + 2 + 256];
        size_t n = 0;
        put_header(raw, &n, FCGI_STDIN, 1, 2, (uint8_t)pad);
        memcpy(raw + n, "ok", 2);
        n += 2;
        memset(raw + n, 0x01, pad); /* padding that looks like record headers */
        n += pad;
        put_header(raw, &n, FCGI_STDIN, 1, 0, 0);
        char name[32], expect[128];
        snprintf(name, sizeof(name), "F09 padding %u", pad);
        snprintf(expect, sizeof(expect),
                 "H t=5 id=1 cl=2 pad=%u\nC ok\nE\nH t=5 id=1 cl=0 pad=0\nE\n", pad);
        struct rec_case c = {name, raw, n, 0, expect};
        check_case(&c, &test_limits, pad % 32 == 0);
    }
}

/* F23: 100,000 one-byte STDIN records: constant state, linear time, every byte once. */
Test(fcgi_parse, f23_many_tiny_records)
{
    const size_t count = 100000, rec = FCGI_HEADER_LEN + 1 + 1;
    size_t n = 0;
    char *raw = malloc(count * rec);
    cr_assert(raw != NULL);
    for (size_t i = 0; i < count; i++) {
        put_header(raw, &n, FCGI_STDIN, 1, 1, 1);
        raw[n++] = (char)('a' + i % 26);
        raw[n++] = 0;
    }
    for (int split = 0; split < 2; split++) {
        struct gw_fcgi_parser p;
        size_t off = 0, events = 0, body = 0, step = split ? 7 : n;
        size_t avail = step < n ? step : n;
        gw_fcgi_parser_init(&p);
        for (;;) {
            size_t used;
            struct gw_slice d;
            int rc = gw_fcgi_parse(&p, raw + off, avail - off, &used, &d);
            cr_assert(rc >= 0);
            off += used;
            if (rc == GW_FCGI_CONTENT)
                body += d.len;
            if (rc != GW_FCGI_MORE) {
                events++;
                continue;
            }
            if (avail == n)
                break;
            avail = avail + step < n ? avail + step : n;
        }
        cr_assert_eq(off, n);
        cr_assert_eq(body, count);
        cr_assert_eq(events, 3 * count); /* HEADER, CONTENT, END each */
    }
    free(raw);
}

/* Between records only after a record's END (the loop's keep-alive depends on it):
 * never while a header's content or padding is due, never after an error. */
Test(fcgi_parse, between_records)
{
    char raw[2 * FCGI_HEADER_LEN + 3 + 2];
    size_t n = 0;
    put_header(raw, &n, FCGI_STDIN, 1, 3, 2);
    memcpy(raw + n, "abc\0\0", 5);
    n += 5;
    put_header(raw, &n, FCGI_STDIN, 1, 0, 0);
    struct gw_fcgi_parser p;
    gw_fcgi_parser_init(&p);
    cr_assert(gw_fcgi_parser_between_records(&p));
    /* fed one byte at a time */
    size_t off = 0, avail = 0, ends = 0;
    int between = 1; /* what the events say: 0 from HEADER to END */
    for (;;) {
        size_t used;
        struct gw_slice d;
        int rc = gw_fcgi_parse(&p, raw + off, avail - off, &used, &d);
        cr_assert(rc >= 0);
        off += used;
        if (rc == GW_FCGI_HEADER)
            between = 0;
        if (rc == GW_FCGI_END) {
            between = 1;
            ends++;
        }
        cr_expect_eq(gw_fcgi_parser_between_records(&p), between, "event %d at %zu", rc, off);
        if (rc == GW_FCGI_MORE && used == 0) {
            if (avail == n)
                break;
            avail++;
        }
    }
    cr_assert_eq(ends, 2);
    cr_assert(gw_fcgi_parser_between_records(&p));
    /* a sticky error is never "between records" */
    char bad[FCGI_HEADER_LEN] = {2};
    size_t used;
    struct gw_slice d;
    cr_assert(gw_fcgi_parse(&p, bad, sizeof(bad), &used, &d) < 0);
    cr_assert_not(gw_fcgi_parser_between_records(&p));
}

/* F28: 1 MiB of PARAMS is refused at the budget, nothing stored past it. */
Test(fcgi_params, f28_one_mib_refused_at_the_cap)
{
    const size_t total = 1024 * 1024;
    char *stream = malloc(total);
    char *arena = malloc(GW_FCGI_DEF_PARAMS_BUDGET);
    struct gw_field *fields = malloc(GW_FCGI_DEF_MAX_PARAMS * sizeof(*fields));
    struct gw_fcgi_params d;
    size_t n = 0;
    int rc = 0;

    cr_assert(stream && arena && fields);
    /* pairs of a 4-byte name length 1000, 4-byte value length 3000, filler */
    while (n + 8 + 4000 <= total) {
        memcpy(stream + n, "\x80\x00\x03\xe8\x80\x00\x0b\xb8", 8);
        memset(stream + n + 8, 'x', 4000);
        n += 8 + 4000;
    }
    gw_fcgi_params_init(&d, arena, GW_FCGI_DEF_PARAMS_BUDGET, fields, GW_FCGI_DEF_MAX_PARAMS, NULL);
    size_t fed = 0;
    while (fed < n && rc == 0) {
        size_t piece = n - fed < GW_FCGI_MAX_CONTENT ? n - fed : GW_FCGI_MAX_CONTENT;
        rc = gw_fcgi_params_feed(&d, stream + fed, piece);
        fed += piece;
    }
    cr_assert_eq(rc, GW_ETOOBIG);
    cr_assert_str_eq(d.err.why, "params over the budget");
    cr_assert(d.used <= GW_FCGI_DEF_PARAMS_BUDGET);
    cr_assert_eq(d.nfields, GW_FCGI_DEF_PARAMS_BUDGET / 4000);
    cr_assert(fed <= 2 * GW_FCGI_MAX_CONTENT, "refused late: after %zu bytes", fed);
    cr_assert_eq(gw_fcgi_params_feed(&d, "\0\0", 2), GW_ETOOBIG); /* sticky */
    cr_assert_eq(gw_fcgi_params_end(&d), GW_ETOOBIG);
    free(stream);
    free(arena);
    free(fields);
}

/* F06: a 0x7fffffff length is refused on its first byte, before any byte is stored. */
Test(fcgi_params, f06_refused_on_the_first_length_byte)
{
    char arena[64];
    struct gw_field fields[4];
    struct gw_fcgi_params d;

    gw_fcgi_params_init(&d, arena, sizeof(arena), fields, 4, NULL);
    cr_assert_eq(gw_fcgi_params_feed(&d, "\xff", 1), GW_ETOOBIG);
    cr_assert_eq(d.used, 0);
    cr_assert_eq(d.nfields, 0);

    /* a 4-byte length that fits is fine; one byte over the budget is not */
    gw_fcgi_params_init(&d, arena, sizeof(arena), fields, 4, NULL);
    cr_assert_eq(gw_fcgi_params_feed(&d, "\x80\x00\x00\x3f", 4), 0); /* name: 63 */
    cr_assert_eq(gw_fcgi_params_feed(&d, "\x80\x00\x00", 3), 0);
    cr_assert_eq(gw_fcgi_params_feed(&d, "\x02", 1), GW_ETOOBIG); /* 63 + 2 > 64 */
    cr_assert_eq(d.used, 0);

    gw_fcgi_params_init(&d, arena, sizeof(arena), fields, 4, NULL);
    char pair[2 + 64];
    pair[0] = 62;
    pair[1] = 2;
    memset(pair + 2, 'n', 64);
    cr_assert_eq(gw_fcgi_params_feed(&d, pair, sizeof(pair)), 0); /* exactly the budget */
    cr_assert_eq(gw_fcgi_params_end(&d), 0);
    cr_assert_eq(d.nfields, 1);
    cr_assert_eq(d.used, 64);
}

/* The pair cap: max_fields pairs are accepted, one more is refused. */
Test(fcgi_params, max_fields)
{
    char arena[64];
    struct gw_field fields[3];
    struct gw_fcgi_params d;

    gw_fcgi_params_init(&d, arena, sizeof(arena), fields, 3, NULL);
    cr_assert_eq(gw_fcgi_params_feed(&d,
                                     "\x01\x00"
                                     "a\x01\x00"
                                     "b\x01\x00"
                                     "c",
                                     9),
                 0);
    cr_assert_eq(d.nfields, 3);
    cr_assert_eq(gw_fcgi_params_feed(&d, "\x00", 1), GW_ETOOBIG);
    cr_assert_str_eq(d.err.why, "too many params");

    gw_fcgi_params_init(&d, arena, sizeof(arena), fields, 3, NULL);
    cr_assert_eq(gw_fcgi_params_feed(&d,
                                     "\x01\x00"
                                     "a\x01\x00"
                                     "b\x01\x00"
                                     "c",
                                     9),
                 0);
    cr_assert_eq(gw_fcgi_params_end(&d), 0);
    cr_assert_eq(gw_fcgi_params_end(&d), 0); /* idempotent */
}

/* A grow hook that always moves the storage (a new block, the old one copied and
 * freed): every pair moves the arena, and the slices must follow. */
static int moving_grow(struct gw_fcgi_params *d, size_t bytes, size_t nfields)
{
    char *a = malloc(bytes ? bytes : 1);
    struct gw_field *f = malloc(nfields * sizeof(*f));
    cr_assert(a != NULL && f != NULL);
    cr_assert(bytes <= d->cap && nfields <= d->max_fields);
    if (d->arena != NULL)
        memcpy(a, d->arena, d->used);
    if (d->nfields > 0)
        memcpy(f, d->fields, d->nfields * sizeof(*f));
    free(d->arena);
    free(d->fields);
    d->arena = a;
    d->alloc = bytes ? bytes : 1;
    d->fields = f;
    d->fields_cap = nfields;
    return 0;
}

static int failing_grow(struct gw_fcgi_params *d, size_t bytes, size_t nfields)
{
    (void)d;
    (void)bytes;
    (void)nfields;
    return -1;
}

/* Storage from the caller's grow hook, asked for as pairs come (not the budget up
 * front), and the slices of pairs already decoded follow the arena when it moves:
 * 300 pairs fed a few bytes at a time read back intact. A hook that cannot make room
 * is a sticky GW_ENOMEM. */
Test(fcgi_params, grown_storage_and_moving_slices)
{
    struct gw_fcgi_params d;
    char stream[300 * 24];
    size_t n = 0;

    for (int i = 0; i < 300; i++) {
        char name[16], value[16];
        int nl = snprintf(name, sizeof(name), "N%d", i);
        int vl = snprintf(value, sizeof(value), "v%d", i * 7);
        stream[n++] = (char)nl;
        stream[n++] = (char)vl;
        memcpy(stream + n, name, (size_t)nl);
        memcpy(stream + n + nl, value, (size_t)vl);
        n += (size_t)(nl + vl);
    }
    gw_fcgi_params_init(&d, NULL, GW_FCGI_DEF_PARAMS_BUDGET, NULL, GW_FCGI_DEF_MAX_PARAMS,
                        moving_grow);
    for (size_t off = 0; off < n; off += 5)
        cr_assert_eq(gw_fcgi_params_feed(&d, stream + off, n - off < 5 ? n - off : 5), 0);
    cr_assert_eq(gw_fcgi_params_end(&d), 0);
    cr_assert_eq(d.nfields, 300);
    cr_assert_eq(d.alloc, d.used); /* asked for exactly what the pairs took */
    for (int i = 0; i < 300; i++) {
        char name[16], value[16];
        snprintf(name, sizeof(name), "N%d", i);
        snprintf(value, sizeof(value), "v%d", i * 7);
        cr_assert(gw_slice_eq(d.fields[i].name, name), "pair %d", i);
        cr_assert(gw_slice_eq(d.fields[i].value, value), "pair %d", i);
    }
    free(d.arena);
    free(d.fields);

    gw_fcgi_params_init(&d, NULL, 64, NULL, 4, failing_grow);
    cr_assert_eq(gw_fcgi_params_feed(&d,
                                     "\x01\x01"
                                     "ab",
                                     4),
                 GW_ENOMEM);
    cr_assert_eq(d.nfields, 0);
    cr_assert_eq(gw_fcgi_params_feed(&d, "", 0), GW_ENOMEM); /* sticky */
    cr_assert_eq(gw_fcgi_params_end(&d), GW_ENOMEM);
}

/* F05: GET_VALUES naming one variable 10,000 times: one answer, bounded output. */
Test(fcgi_values, f05_many_repeats_bounded)
{
    static char query[GW_FCGI_MAX_CONTENT];
    unsigned char out[GW_FCGI_GET_VALUES_RESULT_MAX + 16];
    size_t n = 0;
    struct gw_fcgi_values v = {.max_conns = 4294967295u, .max_reqs = 4294967295u, .mpxs_conns = 1};

    while (n + 17 <= sizeof(query)) {
        size_t w = gw_fcgi_pair_write(query + n, sizeof(query) - n, GW_SLICE_LIT("FCGI_MPXS_CONNS"),
                                      GW_SLICE_LIT(""));
        cr_assert_eq(w, 17);
        n += w;
    }
    memset(out, 0xee, sizeof(out));
    int rc = gw_fcgi_get_values_result(query, n, &v, out, GW_FCGI_GET_VALUES_RESULT_MAX);
    cr_assert_eq(rc, 8 + 2 + 15 + 1);
    cr_assert(memcmp(out,
                     "\x01\x0a\x00\x00\x00\x12\x00\x00\x0f\x01"
                     "FCGI_MPXS_CONNS1",
                     26) == 0);
    cr_assert_eq(out[GW_FCGI_GET_VALUES_RESULT_MAX], 0xee);

    /* all three with the largest values still fit the bound */
    n = 0;
    n += gw_fcgi_pair_write(query + n, 100, GW_SLICE_LIT("FCGI_MAX_CONNS"), GW_SLICE_LIT(""));
    n += gw_fcgi_pair_write(query + n, 100, GW_SLICE_LIT("FCGI_MAX_REQS"), GW_SLICE_LIT(""));
    n += gw_fcgi_pair_write(query + n, 100, GW_SLICE_LIT("FCGI_MPXS_CONNS"), GW_SLICE_LIT(""));
    n += gw_fcgi_pair_write(query + n, 100, GW_SLICE_LIT("FCGI_MAX_CONNS"), GW_SLICE_LIT(""));
    rc = gw_fcgi_get_values_result(query, n, &v, out, GW_FCGI_GET_VALUES_RESULT_MAX);
    cr_assert_eq(rc, 8 + (2 + 14 + 10) + (2 + 13 + 10) + (2 + 15 + 1));
    cr_assert(rc <= GW_FCGI_GET_VALUES_RESULT_MAX);
    cr_assert_eq(gw_fcgi_get_values_result(query, n, &v, out, 64), GW_ETOOBIG);
    /* empty query: an empty result record */
    cr_assert_eq(gw_fcgi_get_values_result("", 0, &v, out, sizeof(out)), 8);
}

/* ------------------------------------------------------------ writers */

Test(fcgi_write, header_and_bodies)
{
    unsigned char h[8], b[8];

    gw_fcgi_header_write(h, FCGI_STDOUT, 0x1234, 0xfffe, 7);
    cr_assert(memcmp(h, "\x01\x06\x12\x34\xff\xfe\x07\x00", 8) == 0);
    gw_fcgi_end_request_write(b, 0x01020304, FCGI_UNKNOWN_ROLE);
    cr_assert(memcmp(b, "\x01\x02\x03\x04\x03\x00\x00\x00", 8) == 0);
    gw_fcgi_end_request_write(b, 0, FCGI_OVERLOADED);
    cr_assert(memcmp(b, "\x00\x00\x00\x00\x02\x00\x00\x00", 8) == 0);
    gw_fcgi_unknown_type_write(b, 99);
    cr_assert(memcmp(b, "\x63\x00\x00\x00\x00\x00\x00\x00", 8) == 0);
}

/* F27: a 100 KB chunk becomes records of at most 65535 bytes, lengths exact. */
Test(fcgi_write, f27_stream_records_never_over_65535)
{
    static const size_t sizes[] = {0, 1, 65534, 65535, 65536, 100000, 131070, 131071, 1000000};
    for (size_t i = 0; i < NROWS(sizes); i++) {
        size_t left = sizes[i], sent = 0, records = 0;
        unsigned char h[8];
        do {
            size_t k = gw_fcgi_stream_header(h, FCGI_STDOUT, 3, left);
            cr_assert(k <= 65535 && k <= left);
            cr_assert_eq(((size_t)h[4] << 8 | h[5]), k, "length truncated");
            cr_assert(h[0] == 1 && h[1] == FCGI_STDOUT && h[2] == 0 && h[3] == 3 && h[6] == 0);
            left -= k;
            sent += k;
            records++;
            if (k == 0)
                break;
        } while (left > 0);
        cr_assert_eq(sent, sizes[i]);
        cr_assert_eq(records, sizes[i] == 0 ? 1 : (sizes[i] + 65534) / 65535);
    }
    unsigned char h[8];
    cr_assert_eq(gw_fcgi_stream_header(h, FCGI_STDOUT, 1, 100000), 65535);
    cr_assert(memcmp(h, "\x01\x06\x00\x01\xff\xff\x00\x00", 8) == 0);
}

/* F12 and F14 at the reader: only a well-formed BEGIN_REQUEST is read; roles are data. */
Test(fcgi_write, begin_read)
{
    struct gw_fcgi_header h = {FCGI_BEGIN_REQUEST, 1, 8, 0};
    struct gw_fcgi_begin bg;
    const char body[8] = {0, 2, 1, 0, 0, 0, 0, 0};

    cr_assert_eq(gw_fcgi_begin_read(&h, gw_slice_make(body, 8), &bg), 0);
    cr_assert(bg.role == FCGI_AUTHORIZER && bg.flags == FCGI_KEEP_CONN);
    cr_assert_eq(gw_fcgi_begin_read(&h, gw_slice_make(body, 7), &bg), GW_EPROTO);
    h.request_id = 0;
    cr_assert_eq(gw_fcgi_begin_read(&h, gw_slice_make(body, 8), &bg), GW_EPROTO);
    h.request_id = 1;
    h.content_length = 9;
    cr_assert_eq(gw_fcgi_begin_read(&h, gw_slice_make(body, 8), &bg), GW_EPROTO);
    h.content_length = 8;
    h.type = FCGI_PARAMS;
    cr_assert_eq(gw_fcgi_begin_read(&h, gw_slice_make(body, 8), &bg), GW_EPROTO);
}

/* Pair encoding round trip, at the 1-byte/4-byte boundary and the 31-bit limit. */
Test(fcgi_write, pair_round_trip)
{
    static char big[300];
    char out[700];
    size_t off = 0;
    struct gw_field f;

    memset(big, 'v', sizeof(big));
    size_t n = gw_fcgi_pair_write(out, sizeof(out), gw_slice_make(big, 127), GW_SLICE_LIT(""));
    cr_assert_eq(n, 1 + 1 + 127);
    n += gw_fcgi_pair_write(out + n, sizeof(out) - n, GW_SLICE_LIT("N"), gw_slice_make(big, 128));
    cr_assert_eq(n, 129 + 1 + 4 + 1 + 128);
    cr_assert(memcmp(out + 129, "\x01\x80\x00\x00\x80N", 6) == 0);
    cr_assert_eq(gw_fcgi_pair_write(out, 10, GW_SLICE_LIT("N"), gw_slice_make(big, 128)), 0);
    cr_assert_eq(gw_fcgi_pair_write(out, 10, gw_slice_make(big, 0x80000000u), GW_SLICE_LIT("")), 0);

    cr_assert_eq(gw_fcgi_pair_next(out, n, &off, &f), 1);
    cr_assert(f.name.len == 127 && f.value.len == 0 && f.name.ptr == out + 2);
    cr_assert_eq(gw_fcgi_pair_next(out, n, &off, &f), 1);
    cr_assert(gw_slice_eq(f.name, "N") && f.value.len == 128);
    cr_assert_eq(gw_fcgi_pair_next(out, n, &off, &f), 0);
    /* truncated: every strict prefix that is not at a pair boundary is refused */
    for (size_t cut = 1; cut < n; cut++) {
        char *c = exact_copy(out, cut);
        int rc;
        off = 0;
        while ((rc = gw_fcgi_pair_next(c, cut, &off, &f)) == 1)
            ;
        cr_assert_eq(rc, cut == 129 ? 0 : GW_EPROTO, "cut %zu", cut);
        free(c);
    }
}
