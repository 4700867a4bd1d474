/*
 * Helpers shared by the criterion unit tests in tests/unit/protocols: a string
 * builder that turns parser results into comparable text, exact-size heap copies
 * (so ASan reports any over-read), row-index parameters for parameterized tests,
 * the loop that feeds an input whole, byte by byte and in random splits, and the check
 * of a parser's refusal against the error convention of gateway/errors.h.
 * Each test binary is one test file plus the code under test, so everything here
 * is static; what a file does not use is marked unused.
 */
#ifndef WSGATE_TESTS_UNIT_SUPPORT_H
#define WSGATE_TESTS_UNIT_SUPPORT_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/errors.h"
#include "gateway/slice.h"

#define TEST_UNUSED       __attribute__((unused))
#define TEST_PRINTF(f, a) __attribute__((format(printf, f, a)))

#define NROWS(t) (sizeof(t) / sizeof((t)[0]))

/* ------------------------------------------------------------ string builder */

/* A growing NUL-terminated string; start from {0}, free p when done. */
struct sb {
    char *p;
    size_t len, cap;
};

TEST_UNUSED static void sb_add(struct sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        cr_assert(b->p != NULL);
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

TEST_UNUSED static void sb_str(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

TEST_UNUSED TEST_PRINTF(2, 3) static void sb_fmt(struct sb *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Bytes with non-printables (and '\\') as \xHH, so results compare as strings;
 * ASCII letters upper-cased when upper (header names). */
TEST_UNUSED static void sb_esc_case(struct sb *b, const char *p, size_t n, int upper)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (upper && c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 32);
        if (c < 0x20 || c >= 0x7f || c == '\\')
            sb_fmt(b, "\\x%02x", c);
        else
            sb_add(b, (const char *)&c, 1);
    }
}

TEST_UNUSED static void sb_esc(struct sb *b, const char *p, size_t n)
{
    sb_esc_case(b, p, n, 0);
}

/* A slice escaped as by sb_esc; an absent slice (ptr NULL) as "-". */
TEST_UNUSED static void sb_esc_slice(struct sb *b, struct gw_slice s)
{
    if (s.ptr == NULL) {
        sb_add(b, "-", 1);
        return;
    }
    sb_esc(b, s.ptr, s.len);
}

/* --------------------------------------------------------------- heap copies */

/* Copies for the parser: exact size (so ASan sees over-reads) unless very large,
 * where a copy per step would make byte-by-byte feeding quadratic. */
#define EXACT_COPY_MAX 8192

/* n bytes of p in a block of exactly n bytes (1 when n is 0); caller frees. */
TEST_UNUSED static char *exact_copy(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    cr_assert(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* ------------------------------------------------- parameterized row indexes */

/*
 * Criterion may run each test in a re-executed process where the addresses of the
 * tables differ (PIE), so the parameters are row indexes, in cr_malloc'd memory.
 */
TEST_UNUSED static void cr_free_params(struct criterion_test_params *p)
{
    cr_free(p->params);
}

/* The indexes 0..n-1 as the parameters of a ParameterizedTest(size_t *i, ...). */
TEST_UNUSED static struct criterion_test_params index_params(size_t n)
{
    size_t *idx = cr_malloc(n * sizeof(*idx));
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, n, cr_free_params);
}

/* ------------------------------------------------------------------ splits */

#define SPLIT_MODES 9 /* mode 0: byte by byte; modes 1-8: random splits */

/* xorshift64: the same splits on every run for the same seed. */
TEST_UNUSED static uint64_t rng_next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

TEST_UNUSED static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Fills cuts[] (room for n + 1 entries, n > 1) with the ends of the steps in which
 * data[0..n) arrives: every byte for mode 0, else up to 12 random cuts drawn from
 * *rng, sorted; the last is n. Returns the number of cuts.
 */
TEST_UNUSED static size_t split_cuts(size_t *cuts, size_t n, int mode, uint64_t *rng)
{
    size_t nc = 0;

    if (mode == 0) {
        for (size_t i = 1; i <= n; i++)
            cuts[nc++] = i;
    } else {
        size_t k = 1 + rng_next(rng) % (n < 12 ? n - 1 : 12);
        for (size_t i = 0; i < k; i++)
            cuts[nc++] = 1 + rng_next(rng) % (n - 1);
        qsort(cuts, nc, sizeof(*cuts), cmp_size);
        cuts[nc++] = n;
    }
    return nc;
}

/* Feeds data[0..n) in steps ending at cuts[0..ncuts) (increasing, the last == n);
 * writes a description to *b and returns the verdict. ctx is the caller's. */
typedef int (*split_feed_fn)(const char *data, size_t n, const size_t *cuts, size_t ncuts,
                             const void *ctx, struct sb *b);

/*
 * Feeds data whole, byte by byte (unless bytewise is 0) and in 8 random splits
 * (fixed seed); asserts the same verdict and description each time. Returns the
 * verdict; *out gets the description (caller frees).
 */
TEST_UNUSED static int check_splits(const char *name, const char *data, size_t n, int bytewise,
                                    split_feed_fn feed, const void *ctx, char **out)
{
    struct sb whole = {0};
    size_t one = n;
    int v = feed(data, n, &one, 1, ctx, &whole);
    size_t *cuts = malloc((n + 1) * sizeof(*cuts));
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ n;

    cr_assert(cuts != NULL);
    for (int mode = bytewise ? 0 : 1; mode < SPLIT_MODES && n > 1; mode++) {
        struct sb other = {0};
        size_t nc = split_cuts(cuts, n, mode, &rng);
        int v2 = feed(data, n, cuts, nc, ctx, &other);
        cr_assert_eq(v2, v, "%s: verdict %d fed %s, %d whole", name, v2,
                     mode ? "in random splits" : "byte by byte", v);
        cr_assert_str_eq(other.p, whole.p, "%s: result differs when fed %s", name,
                         mode ? "in random splits" : "byte by byte");
        free(other.p);
    }
    free(cuts);
    *out = whole.p;
    return v;
}

/* -------------------------------------------------------------- refusals */

/* The GW_E* class that goes with a status (gateway/errors.h); 0 for an unknown one. */
TEST_UNUSED static int status_class(int status)
{
    switch (status) {
    case 400:
        return GW_EPROTO;
    case 413:
    case 414:
    case 431:
        return GW_ETOOBIG;
    case 404:
    case 417:
    case 501:
    case 505:
        return GW_ENOTSUP;
    case 500:
        return GW_ENOMEM;
    default:
        return 0;
    }
}

/*
 * Checks the record *e of a parser that returned rc < 0: the same code, a reason, and
 * a status of the code's class (status 0, close, only when close_ok). Returns
 * -status, the verdict the tables are written in.
 */
TEST_UNUSED static int check_refusal(int rc, const struct gw_parse_error *e, int close_ok)
{
    cr_assert(rc < 0, "not a refusal: %d", rc);
    cr_assert_eq(e->code, rc, "recorded code %d, returned %d", e->code, rc);
    cr_assert(e->why != NULL && e->why[0] != '\0', "refusal %d without a reason", rc);
    if (e->status == 0)
        cr_assert(close_ok, "refusal %d (%s) without a status", rc, e->why);
    else
        cr_assert_eq(status_class(e->status), rc, "status %d with code %d (%s)", e->status, rc,
                     e->why);
    return -e->status;
}

#endif
