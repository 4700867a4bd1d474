/*
 * Runs the 137 requests of the gunicorn corpus (tests/corpus/http, see its README)
 * through protocols/http_parse.c: valid cases must parse to the listed method,
 * target, version, headers, body and trailers (pipelined requests in sequence);
 * invalid cases must be refused. Each case is fed whole, byte by byte and in random
 * splits (fixed seed), and must give the same result every time.
 *
 * The corpus is read at run time from $WSGATE_CORPUS_DIR/cases.json, by default
 * tests/corpus/http/cases.json relative to the current directory (the repo root),
 * with the small JSON reader below. Where docs/hostile-inputs.md and the corpus
 * disagree, docs/hostile-inputs.md wins: such cases are listed in `overrides` with the
 * row that decides them and are checked for wsgate's answer. Cases that need a
 * gunicorn-only setting are mapped to our limits or skipped with the reason.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocols/http_parse.h"
#include "tests/unit/support.h"

#define INCOMPLETE 1
#define NFIELDS    256

/* -------------------------------------------------------------- JSON reader */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    enum jtype t;
    double num; /* J_NUM, J_BOOL */
    char *str;  /* J_STR: bytes (\u00XX decoded to one byte), NUL-terminated */
    size_t slen;
    struct jv *items; /* J_ARR, J_OBJ values */
    char **keys;      /* J_OBJ keys */
    size_t n;
};

struct jparser {
    const char *p, *end;
    int err;
};

static void j_ws(struct jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int j_value(struct jparser *j, struct jv *v);

static int j_string(struct jparser *j, char **out, size_t *outlen)
{
    struct sb b = {0};

    if (j->p >= j->end || *j->p != '"')
        return -1;
    j->p++;
    sb_add(&b, "", 0);
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c != '\\') {
            sb_add(&b, &c, 1);
            continue;
        }
        if (j->p >= j->end)
            return -1;
        c = *j->p++;
        switch (c) {
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'u': {
            unsigned cp = 0;
            if (j->end - j->p < 4)
                return -1;
            for (int i = 0; i < 4; i++) {
                char h = *j->p++;
                cp = cp * 16 + (unsigned)(h >= '0' && h <= '9'   ? h - '0'
                                          : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                          : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                 : 0);
            }
            if (cp > 0xff)
                return -1; /* the corpus is latin-1: bytes as code points */
            c = (char)cp;
            break;
        }
        default:
            break; /* \" \\ \/ */
        }
        sb_add(&b, &c, 1);
    }
    if (j->p >= j->end)
        return -1;
    j->p++;
    *out = b.p;
    *outlen = b.len;
    return 0;
}

static int j_list(struct jparser *j, struct jv *v, int obj)
{
    size_t cap = 0;

    j->p++;
    v->t = obj ? J_OBJ : J_ARR;
    j_ws(j);
    if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
        j->p++;
        return 0;
    }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? cap * 2 : 8;
            v->items = realloc(v->items, cap * sizeof(*v->items));
            v->keys = realloc(v->keys, cap * sizeof(*v->keys));
        }
        j_ws(j);
        v->keys[v->n] = NULL;
        if (obj) {
            size_t kl;
            if (j_string(j, &v->keys[v->n], &kl) < 0)
                return -1;
            j_ws(j);
            if (j->p >= j->end || *j->p++ != ':')
                return -1;
        }
        if (j_value(j, &v->items[v->n]) < 0)
            return -1;
        v->n++;
        j_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            return 0;
        }
        return -1;
    }
}

static int j_value(struct jparser *j, struct jv *v)
{
    memset(v, 0, sizeof(*v));
    j_ws(j);
    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '{':
        return j_list(j, v, 1);
    case '[':
        return j_list(j, v, 0);
    case '"':
        v->t = J_STR;
        return j_string(j, &v->str, &v->slen);
    case 't':
        v->t = J_BOOL;
        v->num = 1;
        j->p += 4;
        return 0;
    case 'f':
        v->t = J_BOOL;
        j->p += 5;
        return 0;
    case 'n':
        v->t = J_NULL;
        j->p += 4;
        return 0;
    default: {
        char *e;
        v->t = J_NUM;
        v->num = strtod(j->p, &e);
        if (e == j->p)
            return -1;
        j->p = e;
        return 0;
    }
    }
}

static const struct jv *jget(const struct jv *o, const char *key)
{
    if (o == NULL || o->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    }
    return NULL;
}

static const char *corpus_dir(void)
{
    const char *d = getenv("WSGATE_CORPUS_DIR");
    return d && *d ? d : "tests/corpus/http";
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void j_free(struct jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        j_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

static struct jv *loaded; /* freed at exit, so LeakSanitizer stays quiet */

static void free_loaded(void)
{
    if (loaded) {
        j_free(loaded);
        free(loaded);
        loaded = NULL;
    }
}

/* The parsed cases.json (an array), or NULL. */
static struct jv *load_cases(void)
{
    size_t n;
    char *text = read_file(corpus_dir(), "cases.json", &n);
    struct jv *v = calloc(1, sizeof(*v));
    struct jparser j = {text, text + n, 0};

    int ok = text != NULL && v != NULL && j_value(&j, v) == 0 && v->t == J_ARR;

    free(text);
    if (!ok) {
        if (v)
            j_free(v);
        free(v);
        return NULL;
    }
    free_loaded();
    loaded = v;
    atexit(free_loaded);
    return v;
}

/* ------------------------------------------------------------------ driver */

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
    return rc < 0 ? check_refusal(rc, &out->err, 0) : rc;
}

/* A request as the corpus lists it: names upper-cased, '_' names left out (H36:
 * dropped by the environ builder, as gunicorn's default header_map=drop does). */
static void describe_head(struct sb *b, const struct gw_http_head *h)
{
    sb_str(b, "REQ ");
    sb_esc(b, h->method.ptr, h->method.len);
    sb_str(b, " ");
    sb_esc(b, h->target.ptr, h->target.len);
    sb_fmt(b, " HTTP/1.%d\n", h->minor);
    for (size_t i = 0; i < h->nfields; i++) {
        const struct gw_field *f = &h->fields[i];
        if (memchr(f->name.ptr, '_', f->name.len) != NULL)
            continue;
        sb_str(b, "H ");
        sb_esc_case(b, f->name.ptr, f->name.len, 1);
        sb_str(b, ": ");
        sb_esc(b, f->value.ptr, f->value.len);
        sb_str(b, "\n");
    }
}

static void describe_trailer(struct sb *b, struct gw_slice line)
{
    const char *colon = memchr(line.ptr, ':', line.len);
    const char *v, *e = line.ptr + line.len;

    cr_assert(colon != NULL);
    v = colon + 1;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    sb_str(b, "T ");
    sb_esc_case(b, line.ptr, (size_t)(colon - line.ptr), 1);
    sb_str(b, ": ");
    sb_esc(b, v, (size_t)(e - v));
    sb_str(b, "\n");
}

static void flush_body(struct sb *b, struct sb *body)
{
    if (body->len) {
        sb_str(b, "B ");
        sb_add(b, body->p, body->len);
        sb_str(b, "\n");
        body->len = 0;
    }
}

/*
 * Parses up to maxreq requests of data[0..n) as a server would (head, body by
 * Content-Length or chunked, next request while keep-alive), bytes arriving in
 * steps ending at cuts[] (the last is n). Describes them into *b; *end_off gets the
 * offset after the last complete request. Returns 0, INCOMPLETE or -status.
 */
static int drive(const char *data, size_t n, const size_t *cuts, size_t maxreq,
                 const struct gw_http_limits *lim, struct sb *b, size_t *end_off)
{
    enum { P_HEAD, P_BODY, P_CHUNKED } phase = P_HEAD;
    struct gw_http_scan scan;
    struct gw_http_chunked dec;
    struct gw_field fields[NFIELDS];
    struct sb body = {0};
    size_t off = 0, ci = 0, avail = cuts[0], nreq = 0;
    uint64_t need = 0;
    int ka = 1, rc = 0;

    *end_off = 0;
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
            sb_esc(&body, in, take);
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
                sb_esc(&body, d.ptr, d.len);
            } else if (rc == GW_CHUNK_TRAILER) {
                flush_body(b, &body);
                describe_trailer(b, d);
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
            sb_str(b, "END\n");
            *end_off = off;
            if (!ka) {
                sb_str(b, "CLOSE\n");
                break;
            }
            if (++nreq == maxreq || off == n)
                break;
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
        sb_str(b, "INCOMPLETE\n");
    else if (rc < 0)
        sb_fmt(b, "ERR %d\n", rc);
    return rc;
}

/* What drive() needs besides the bytes, for check_splits. */
struct drive_ctx {
    size_t maxreq;
    const struct gw_http_limits *lim;
};

static int feed_drive(const char *data, size_t n, const size_t *cuts, size_t ncuts, const void *ctx,
                      struct sb *b)
{
    const struct drive_ctx *d = ctx;
    size_t end;

    (void)ncuts;
    return drive(data, n, cuts, d->maxreq, d->lim, b, &end);
}

/* Whole, byte by byte, 8 random splits: same verdict and description each time. */
static int run_all_splits(const char *name, const char *data, size_t n, size_t maxreq,
                          const struct gw_http_limits *lim, char **out)
{
    struct drive_ctx d = {maxreq, lim};

    return check_splits(name, data, n, 1, feed_drive, &d, out);
}

/* ------------------------------------------------- settings, skips, overrides */

/* gunicorn's defaults, mapped: limit_request_line -> max_target, limit_request_fields
 * -> max_fields. gunicorn counts the whole request line, we count the target. */
static const struct gw_http_limits gunicorn_default_limits = {
    .max_target = 4094,
    .max_head = GW_HTTP_DEF_MAX_HEAD,
    .max_fields = 100,
};

static const struct {
    const char *name, *reason;
} skips[] = {
    {"invalid/003c", "gunicorn refuses lower-case methods unless "
                     "permit_unconventional_http_method; RFC 9110 method = token and wsgate "
                     "accepts '-bl' like gunicorn with that option (valid/031compat2)"},
    {"invalid/007", "depends on gunicorn's default per-field cap (limit_request_field_size="
                    "8190); wsgate caps the whole head (max_head), H42 in test_http_parse.c"},
    {"invalid/008", "depends on gunicorn's default per-field cap (limit_request_field_size="
                    "8190); wsgate caps the whole head (max_head), H42 in test_http_parse.c"},
    {"invalid/017", "depends on gunicorn's default per-field cap (limit_request_field_size="
                    "8190); wsgate caps the whole head (max_head), H42 in test_http_parse.c"},
};

/* Corpus says valid, docs/hostile-inputs.md says refuse: docs/hostile-inputs.md wins. */
static const struct {
    const char *name;
    int verdict;
    const char *why;
} overrides[] = {
    {"valid/009", -400, "H01: Content-Length with Transfer-Encoding (identity)"},
    {"valid/025", -400, "H12: Transfer-Encoding given twice"},
    {"valid/025_line", -501, "H09: gzip,chunked is an unsupported coding"},
    {"valid/029", -400, "H12: Transfer-Encoding given twice"},
    {"valid/030", -400, "H12: Transfer-Encoding given twice"},
    {"valid/rfc9112_smuggle_gzip_chunked_01", -501, "H09: gzip, chunked"},
    {"valid/rfc9112_smuggle_te_identity_chunked_01", -501, "H09: identity, chunked"},
    {"valid/rfc9112_target_absolute_userinfo_01", -400,
     "H40: userinfo in an absolute-form target is refused, as nginx does (RFC 9110 4.2.4)"},
    {"valid/rfc9112_target_authority_connect_01", -501, "H41: CONNECT"},
    {"valid/rfc9112_target_authority_ipv6_01", -501, "H41: CONNECT"},
    {"valid/099", INCOMPLETE,
     "H26: body shorter than its Content-Length (17914 "
     "declared, 8599 sent) is never a complete body"},
};

/* Applies the case's gunicorn_settings to *lim; returns a skip reason or NULL. */
static const char *map_settings(const struct jv *c, int valid, struct gw_http_limits *lim)
{
    const struct jv *s = jget(c, "gunicorn_settings");

    for (size_t i = 0; s != NULL && s->t == J_OBJ && i < s->n; i++) {
        const char *k = s->keys[i];
        const struct jv *v = &s->items[i];
        if (strcmp(k, "limit_request_line") == 0)
            lim->max_target = (size_t)v->num;
        else if (strcmp(k, "limit_request_fields") == 0)
            lim->max_fields = (size_t)v->num;
        else if (strcmp(k, "limit_request_field_size") == 0) {
            /* a valid case needs the cap raised; we have no per-field cap at all */
            if (!valid)
                return "needs gunicorn's per-field cap limit_request_field_size; wsgate "
                       "caps the whole head only (max_head)";
        } else if (strcmp(k, "permit_unconventional_http_method") == 0) {
            /* wsgate accepts any token method: the same as this option */
        } else if (strcmp(k, "casefold_http_method") == 0)
            return "casefold_http_method: wsgate never changes the method's case "
                   "(RFC 9110: methods are case-sensitive)";
        else if (strcmp(k, "strip_header_spaces") == 0)
            return "strip_header_spaces: H08 says 'Content-Length : 3' is 400 "
                   "(invalid/020 checks it)";
        else if (strcmp(k, "permit_obsolete_folding") == 0)
            return "permit_obsolete_folding: H31 says obs-fold is always 400 "
                   "(invalid/obs_fold_01 checks it)";
        else if (strcmp(k, "header_map") == 0)
            return "header_map: wsgate's parser keeps '_' names and the environ builder "
                   "drops them (H36); neither 'dangerous' nor 'refuse' is offered";
        else if (strcmp(k, "proxy_protocol") == 0)
            return "proxy_protocol: the PROXY protocol is not part of the HTTP parser";
        else if (strcmp(k, "forwarded_allow_ips") == 0)
            return "forwarded_allow_ips: X-Forwarded-* checks belong to the environ "
                   "builder, not the parser";
        else
            return "unknown gunicorn setting";
    }
    return NULL;
}

/* Expected description of request r, with an injected Host first when inject. */
static void expect_request(struct sb *b, const struct jv *r, int inject)
{
    const struct jv *m = jget(r, "method"), *t = jget(r, "target"), *v = jget(r, "version");
    const struct jv *hs = jget(r, "headers"), *ts = jget(r, "trailers");
    const struct jv *b64 = jget(r, "body_b64");
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct sb body = {0};

    sb_str(b, "REQ ");
    sb_esc(b, m->str, m->slen);
    sb_str(b, " ");
    sb_esc(b, t->str, t->slen);
    sb_fmt(b, " HTTP/%d.%d\n", (int)v->items[0].num, (int)v->items[1].num);
    if (inject)
        sb_str(b, "H HOST: h\n");
    for (size_t i = 0; i < hs->n; i++) {
        sb_str(b, "H ");
        sb_esc_case(b, hs->items[i].items[0].str, hs->items[i].items[0].slen, 1);
        sb_str(b, ": ");
        sb_esc(b, hs->items[i].items[1].str, hs->items[i].items[1].slen);
        sb_str(b, "\n");
    }
    /* base64 body */
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < b64->slen && b64->str[i] != '='; i++) {
        const char *q = strchr(tab, b64->str[i]);
        cr_assert(q != NULL && *q);
        acc = (acc << 6) | (unsigned)(q - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xff);
            sb_esc(&body, &c, 1);
        }
    }
    flush_body(b, &body);
    free(body.p);
    for (size_t i = 0; ts != NULL && i < ts->n; i++) {
        sb_str(b, "T ");
        sb_esc_case(b, ts->items[i].items[0].str, ts->items[i].items[0].slen, 1);
        sb_str(b, ": ");
        sb_esc(b, ts->items[i].items[1].str, ts->items[i].items[1].slen);
        sb_str(b, "\n");
    }
    sb_str(b, "END\n");
}

/* 1 when request r is HTTP/1.1 without a Host field (H37 refuses it). */
static int lacks_host(const struct jv *r)
{
    const struct jv *v = jget(r, "version"), *hs = jget(r, "headers");
    if (v->items[0].num != 1 || v->items[1].num != 1)
        return 0;
    for (size_t i = 0; i < hs->n; i++) {
        if (strcasecmp(hs->items[i].items[0].str, "host") == 0)
            return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- the test */

ParameterizedTestParameters(http_corpus, gunicorn)
{
    struct jv *cases = load_cases();
    size_t n = cases ? cases->n : 1;
    size_t *idx = cr_malloc(n * sizeof(*idx));

    for (size_t i = 0; i < n; i++)
        idx[i] = cases ? i : SIZE_MAX;
    free_loaded();
    return cr_make_param_array(size_t, idx, n, cr_free_params);
}

ParameterizedTest(size_t *ip, http_corpus, gunicorn)
{
    struct jv *cases = load_cases();
    cr_assert(cases != NULL && *ip != SIZE_MAX,
              "cannot read %s/cases.json (set "
              "WSGATE_CORPUS_DIR or run from the repo root)",
              corpus_dir());
    cr_assert(*ip < cases->n);

    const struct jv *c = &cases->items[*ip];
    const char *name = jget(c, "name")->str, *file = jget(c, "file")->str;
    int valid = strcmp(jget(c, "kind")->str, "valid") == 0;
    struct gw_http_limits lim = gunicorn_default_limits;
    const char *skip = map_settings(c, valid, &lim);
    size_t n;
    char *raw = read_file(corpus_dir(), file, &n), *desc = NULL;

    cr_assert(raw != NULL, "%s: cannot read %s", name, file);
    for (size_t i = 0; i < NROWS(skips) && skip == NULL; i++) {
        if (strcmp(skips[i].name, name) == 0)
            skip = skips[i].reason;
    }
    if (skip != NULL) {
        free(raw);
        cr_skip("%s: %s", name, skip);
    }

    if (!valid) {
        const struct jv *ge = jget(c, "gunicorn_error");
        int v = run_all_splits(name, raw, n, SIZE_MAX, &lim, &desc);
        int eof_ok =
            ge && ge->t == J_STR &&
            (strcmp(ge->str, "NoMoreData") == 0 || strcmp(ge->str, "ChunkMissingTerminator") == 0);
        cr_expect(v < 0 || (v == INCOMPLETE && eof_ok), "%s: not refused (%s):\n%s", name,
                  ge && ge->t == J_STR ? ge->str : "?", desc);
        free(desc);
        free(raw);
        return;
    }

    const struct jv *reqs = jget(c, "requests");
    for (size_t i = 0; i < NROWS(overrides); i++) {
        if (strcmp(overrides[i].name, name) == 0) {
            int v = run_all_splits(name, raw, n, reqs->n, &lim, &desc);
            cr_expect_eq(v, overrides[i].verdict, "%s: %d, expected %d by %s\n%s", name, v,
                         overrides[i].verdict, overrides[i].why, desc);
            free(desc);
            free(raw);
            return;
        }
    }

    /* HTTP/1.1 requests without Host: refused (H37); with "Host: h" added after
     * their request line, everything else in them must parse as listed. */
    int missing = 0;
    for (size_t i = 0; i < reqs->n; i++)
        missing |= lacks_host(&reqs->items[i]);
    if (missing) {
        int v = run_all_splits(name, raw, n, reqs->n, &lim, &desc);
        cr_expect_eq(v, -400, "%s: HTTP/1.1 without Host gave %d, H37 wants -400\n%s", name, v,
                     desc);
        free(desc);

        struct sb mod = {0};
        size_t off = 0;
        sb_add(&mod, raw, n);
        for (size_t i = 0; i < reqs->n; i++) {
            struct sb ignore = {0};
            size_t end, whole;
            if (lacks_host(&reqs->items[i])) {
                char *crlf = strstr(mod.p + off, "\r\n");
                cr_assert(crlf != NULL);
                size_t at = (size_t)(crlf - mod.p) + 2;
                struct sb nm = {0};
                sb_add(&nm, mod.p, at);
                sb_str(&nm, "Host: h\r\n");
                sb_add(&nm, mod.p + at, mod.len - at);
                free(mod.p);
                mod = nm;
            }
            whole = mod.len;
            drive(mod.p, mod.len, &whole, i + 1, &lim, &ignore, &end);
            free(ignore.p);
            off = end;
        }
        free(raw);
        raw = mod.p;
        n = mod.len;
    }

    struct sb want = {0};
    for (size_t i = 0; i < reqs->n; i++)
        expect_request(&want, &reqs->items[i], missing && lacks_host(&reqs->items[i]));
    int v = run_all_splits(name, raw, n, reqs->n, &lim, &desc);
    /* the last listed request may close the connection (1.0, Connection: close) */
    size_t dl = strlen(desc);
    if (dl >= 6 && strcmp(desc + dl - 6, "CLOSE\n") == 0)
        desc[dl - 6] = '\0';
    cr_expect_eq(v, 0, "%s%s: verdict %d\n%s", name, missing ? " (Host added)" : "", v, desc);
    cr_expect_str_eq(desc, want.p, "%s%s: got\n%s\nexpected\n%s", name,
                     missing ? " (Host added)" : "", desc, want.p);
    free(want.p);
    free(desc);
    free(raw);
}
