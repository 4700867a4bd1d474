/*
 * libFuzzer harness for protocols/uwsgi_parse.c: the input is the byte stream a front
 * server (or anyone) sends to a uwsgi listener. It is parsed whole, then presented as
 * a growing buffer in two steps (cut at data[0] % size), and, when short, one byte at
 * a time; every run must reach the same verdict with the same variables, content
 * length and head length, and no kept variable may start with "UWSGI_". Every call
 * gets an exact-size heap copy of the bytes received so far, so ASan catches any
 * over-read (and a parser keeping pointers across calls would read freed memory).
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. protocols/uwsgi_parse.c
 *        protocols/lex.c tests/fuzz/fuzz_uwsgi_parse.c -o fuzz_uwsgi
 * Run:   mkdir -p /tmp/fuw && cp -r tests/fuzz/corpus/uwsgi/. /tmp/fuw/ && ./fuzz_uwsgi /tmp/fuw
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/uwsgi_parse.h"

#define NVARS        32
#define BYTEWISE_MAX 512 /* byte-by-byte runs copy O(n^2) bytes: only for short inputs */

/* A small max_head so that the limit is within the fuzzer's reach. */
static const struct gw_uwsgi_limits limits = {.max_head = 4096};

static char *copy_of(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Hashes every byte of a slice into *h (so ASan checks it lies inside the buffer). */
static void touch(uint64_t *h, struct gw_slice s)
{
    *h = *h * 31 + s.len;
    for (size_t i = 0; i < s.len; i++)
        *h = *h * 31 + (unsigned char)s.ptr[i];
}

/* Presents data in steps ending at cut, then every step more bytes (step 0: all the
 * rest). Returns the verdict (head length, 0 incomplete, GW_E*) mixed with a hash of
 * what was parsed. */
static uint64_t run(const uint8_t *data, size_t n, size_t cut, size_t step)
{
    struct gw_uwsgi_parser p;
    struct gw_field vars[NVARS];
    struct gw_uwsgi_head h;
    size_t avail = cut;
    uint64_t hash = 0;
    int rc;

    gw_uwsgi_parser_init(&p);
    for (;;) {
        char *buf = copy_of(data, avail);
        rc = gw_uwsgi_parse(&p, buf, avail, &limits, vars, NVARS, &h);
        if (p.pos > avail)
            abort();
        if (rc > 0) {
            if ((size_t)rc != h.head_len || h.head_len > avail ||
                h.head_len > GW_UWSGI_HEADER_LEN + limits.max_head || h.nvars > NVARS ||
                h.content_length < 0)
                abort();
            hash = hash * 31 + (uint64_t)h.content_length + h.ndropped;
            for (size_t i = 0; i < h.nvars; i++) {
                const struct gw_field *f = &h.vars[i];
                if (f->name.len == 0 || f->name.ptr < buf + GW_UWSGI_HEADER_LEN ||
                    f->value.ptr + f->value.len > buf + h.head_len)
                    abort();
                if (f->name.len >= 6 && memcmp(f->name.ptr, "UWSGI_", 6) == 0)
                    abort(); /* a magic variable kept */
                touch(&hash, f->name);
                touch(&hash, f->value);
            }
            struct gw_uwsgi_parser q;
            struct gw_uwsgi_head counted;
            gw_uwsgi_parser_init(&q);
            if (gw_uwsgi_parse(&q, buf, avail, &limits, NULL, NVARS, &counted) != rc ||
                counted.nvars != h.nvars || counted.vars != NULL)
                abort(); /* counting (vars NULL) agrees with the parse into vars */
        }
        free(buf);
        if (rc != 0 || avail == n)
            break;
        avail = step == 0 || n - avail < step ? n : avail + step;
    }
    if (rc < 0) {
        int want = rc == GW_ETOOBIG ? 431 : rc == GW_ENOTSUP ? 501 : 400;
        if (p.err.why == NULL || p.err.code != rc || p.err.status != want ||
            gw_uwsgi_parse(&p, NULL, 0, &limits, vars, NVARS, &h) != rc)
            abort(); /* an error names its cause and status, and is sticky */
        hash = hash * 31 + (uint64_t)p.err.status;
    }
    return (uint64_t)(int64_t)rc * 0x100000000ull + (hash & 0xffffffffu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t whole;

    if (size == 0)
        return 0;
    whole = run(data, size, size, 0);
    if (run(data, size, data[0] % size, 0) != whole)
        abort(); /* the verdict or the parsed bytes changed with the split */
    if (size <= BYTEWISE_MAX && run(data, size, 1, 1) != whole)
        abort(); /* ... or with byte-by-byte feeding */
    return 0;
}
