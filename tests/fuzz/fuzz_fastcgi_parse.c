/*
 * libFuzzer harness for protocols/fastcgi_parse.c: the input is the byte stream a
 * front server sends on one connection. It goes through the record parser, as a
 * front-end would route it: BEGIN_REQUEST bodies to the reader, PARAMS content to a
 * per-request pair decoder (a small budget, so the limits are reached), GET_VALUES
 * to the result builder; run once whole and once split in two at data[0] % size, and
 * both runs must give the same verdict and the same bytes. Every call gets an
 * exact-size heap copy of the bytes it may read, so ASan catches any over-read.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. protocols/fastcgi_parse.c
 *        tests/fuzz/fuzz_fastcgi_parse.c -o fuzz_fastcgi
 * Run:   ./fuzz_fastcgi CORPUS_COPY   (seeds in tests/fuzz/corpus/fastcgi; give the fuzzer
 *        a copy, never the committed directory)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/fastcgi_parse.h"

#define NSLOTS     4
#define BUDGET     512
#define MAX_PARAMS 16

struct slot {
    int used;
    uint16_t id;
    struct gw_fcgi_params d;
    char arena[BUDGET];
    struct gw_field fields[MAX_PARAMS];
};

/* The odd slots' storage grows from one byte and one pair, doubling (realloc), so
 * nearly every pair moves the arena and the decoder must move its slices. */
static int grow(struct gw_fcgi_params *d, size_t bytes, size_t nfields)
{
    size_t n = d->alloc ? d->alloc : 1;
    while (n < bytes)
        n = n > d->cap / 2 ? d->cap : n * 2;
    size_t f = d->fields_cap ? d->fields_cap : 1;
    while (f < nfields)
        f = f > d->max_fields / 2 ? d->max_fields : f * 2;
    char *a = realloc(d->arena, n);
    if (a == NULL)
        abort();
    d->arena = a;
    d->alloc = n;
    struct gw_field *v = realloc(d->fields, f * sizeof(*v));
    if (v == NULL)
        abort();
    d->fields = v;
    d->fields_cap = f;
    return 0;
}

/* Frees what grow gave a slot (nothing for the fixed ones). */
static void drop_storage(struct slot *s)
{
    if (s->d.grow != NULL) {
        free(s->d.arena);
        free(s->d.fields);
    }
    s->d.grow = NULL;
}

static char *copy_of(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

static void touch(unsigned *h, const char *p, size_t n)
{
    *h = *h * 31 + 7;
    for (size_t i = 0; i < n; i++)
        *h = *h * 31 + (unsigned char)p[i];
}

/* A refusal follows gateway/errors.h: the code returned, a reason, status 0 (close). */
static void check_refusal(int rc, const struct gw_parse_error *e)
{
    if (e->code != rc || e->why == NULL || e->status != 0)
        abort();
}

static struct slot *slot_for(struct slot *s, uint16_t id, int create)
{
    for (int i = 0; i < NSLOTS; i++)
        if (s[i].used && s[i].id == id)
            return &s[i];
    for (int i = 0; create && i < NSLOTS; i++) {
        if (!s[i].used) {
            s[i].used = 1;
            s[i].id = id;
            if (i % 2 == 0)
                gw_fcgi_params_init(&s[i].d, s[i].arena, BUDGET, s[i].fields, MAX_PARAMS, NULL);
            else
                gw_fcgi_params_init(&s[i].d, NULL, BUDGET, NULL, MAX_PARAMS, grow);
            return &s[i];
        }
    }
    return NULL;
}

/* Runs the stream with bytes arriving up to cut, then the rest; returns the verdict
 * mixed with a hash of everything decoded. */
static long run(const uint8_t *data, size_t n, size_t cut)
{
    static struct slot slots[NSLOTS];
    struct gw_fcgi_parser p;
    char whole[GW_FCGI_MAX_CONTENT]; /* content of the whole-delivered records */
    size_t off = 0, avail = cut, wlen = 0;
    unsigned hash = 0;
    int rc;

    memset(slots, 0, sizeof(slots));
    gw_fcgi_parser_init(&p);
    for (;;) {
        size_t len = avail - off, used = 0;
        char *in = copy_of(data + off, len);
        struct gw_slice d = {NULL, 0};

        rc = gw_fcgi_parse(&p, in, len, &used, &d);
        if (used > len)
            abort();
        if (rc == GW_FCGI_HEADER) {
            touch(&hash, (const char *)&p.rec.type, 1);
            wlen = 0;
        } else if (rc == GW_FCGI_CONTENT) {
            if (d.ptr != in || d.len != used || d.len == 0 || d.len > GW_FCGI_MAX_CONTENT)
                abort();
            if (wlen + d.len > sizeof(whole))
                abort(); /* more content than the header announced */
            memcpy(whole + wlen, d.ptr, d.len);
            wlen += d.len;
            struct slot *s = slot_for(slots, p.rec.request_id, 0);
            if (p.rec.type == FCGI_PARAMS && s != NULL) {
                int err = gw_fcgi_params_feed(&s->d, d.ptr, d.len);
                if (err < 0) {
                    check_refusal(err, &s->d.err);
                    free(in);
                    rc = err;
                    break;
                }
            }
        } else if (rc == GW_FCGI_END) {
            if (wlen != p.rec.content_length)
                abort();
            touch(&hash, whole, wlen);
            if (p.rec.type == FCGI_BEGIN_REQUEST) {
                struct gw_fcgi_begin bg;
                if (gw_fcgi_begin_read(&p.rec, gw_slice_make(whole, wlen), &bg) != 0)
                    abort(); /* the parser let through what the reader refuses */
                hash = hash * 31 + bg.role + bg.flags;
                slot_for(slots, p.rec.request_id, 1);
            } else if (p.rec.type == FCGI_GET_VALUES) {
                unsigned char out[GW_FCGI_GET_VALUES_RESULT_MAX];
                struct gw_fcgi_values v = {1000, 100, 1};
                int k = gw_fcgi_get_values_result(whole, wlen, &v, out, sizeof(out));
                if (k > GW_FCGI_GET_VALUES_RESULT_MAX)
                    abort();
                if (k > 0)
                    touch(&hash, (const char *)out, (size_t)k);
            } else if (p.rec.type == FCGI_PARAMS && wlen == 0) {
                struct slot *s = slot_for(slots, p.rec.request_id, 0);
                if (s != NULL) {
                    int err = gw_fcgi_params_end(&s->d);
                    if (err < 0) {
                        check_refusal(err, &s->d.err);
                        free(in);
                        rc = err;
                        break;
                    }
                    if (s->d.used > BUDGET || s->d.nfields > MAX_PARAMS)
                        abort();
                    for (size_t i = 0; i < s->d.nfields; i++) {
                        touch(&hash, s->d.fields[i].name.ptr, s->d.fields[i].name.len);
                        touch(&hash, s->d.fields[i].value.ptr, s->d.fields[i].value.len);
                    }
                    drop_storage(s);
                    s->used = 0; /* the request is done with its params */
                }
            }
        }
        free(in);
        off += used;
        if (rc < 0) {
            check_refusal(rc, &p.err);
            break;
        }
        if (rc != GW_FCGI_MORE)
            continue;
        if (avail == n) {
            rc = off == n ? 0 : 1;
            break;
        }
        avail = n;
    }
    for (int i = 0; i < NSLOTS; i++)
        drop_storage(&slots[i]);
    return (long)rc * 0x100000000L + hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    long whole = run(data, size, size);
    long split = run(data, size, data[0] % size);
    if (whole != split)
        abort(); /* the verdict or the decoded bytes changed with the split */

    /* The pair walker over the raw input as one GET_VALUES body. */
    char *c = copy_of(data, size);
    size_t off = 0;
    struct gw_field f;
    unsigned h = 0;
    while (gw_fcgi_pair_next(c, size, &off, &f) == 1)
        touch(&h, f.name.ptr, f.name.len);
    free(c);
    return 0;
}
