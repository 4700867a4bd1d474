/*
 * libFuzzer harness for protocols/http_parse.c: the input is a byte stream from a
 * client. It goes through scan -> parse -> body (Content-Length or the chunked
 * decoder) -> next request, once whole and once split in two at data[0] % size,
 * and both runs must reach the same verdict. Every refusal must be recorded as
 * gateway/errors.h says (code, status of its class, reason). Every call gets an
 * exact-size heap copy of the bytes it may read, so ASan catches any over-read.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. protocols/http_parse.c
 *        protocols/lex.c tests/fuzz/fuzz_http_parse.c -o fuzz_http
 * Run:   ./fuzz_http tests/fuzz/corpus/http
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/http_parse.h"

#define NFIELDS 64

static const struct gw_http_limits limits = {
    .max_target = 1024,
    .max_head = 8192,
    .max_fields = 32,
};

static char *copy_of(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Hashes every byte of a slice into *h, in order (so ASan checks that it lies
 * inside the input, and body pieces hash the same however they were split). */
static void touch(unsigned *h, struct gw_slice s)
{
    *h = *h * 31 + (s.ptr == NULL ? 7 : 11);
    for (size_t i = 0; s.ptr != NULL && i < s.len; i++)
        *h = *h * 31 + (unsigned char)s.ptr[i];
}

/* Body bytes: no per-slice marker, as the decoder may cut data anywhere. */
static void touch_body(unsigned *h, struct gw_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        *h = *h * 31 + (unsigned char)s.ptr[i];
}

/* A refusal as the verdict -status, after checking it follows gateway/errors.h: the
 * code returned, a reason, and a status of the code's class. */
static int refusal(int rc, const struct gw_parse_error *e)
{
    int ok;

    switch (e->status) {
    case 400:
        ok = rc == GW_EPROTO;
        break;
    case 413:
    case 414:
    case 431:
        ok = rc == GW_ETOOBIG;
        break;
    case 417:
    case 501:
    case 505:
        ok = rc == GW_ENOTSUP;
        break;
    default:
        ok = 0;
    }
    if (!ok || e->code != rc || e->why == NULL)
        abort();
    return -e->status;
}

/* Runs the stream with bytes arriving up to cut, then the rest; returns a verdict
 * (0 all consumed, 1 incomplete, -status) mixed with a hash of what was parsed. */
static long run(const uint8_t *data, size_t n, size_t cut)
{
    enum { P_HEAD, P_BODY, P_CHUNKED } phase = P_HEAD;
    struct gw_http_scan scan;
    struct gw_http_chunked dec;
    struct gw_field fields[NFIELDS];
    size_t off = 0, avail = cut;
    uint64_t need = 0;
    unsigned hash = 0;
    int rc = 0;

    gw_http_scan_init(&scan);
    for (;;) {
        size_t len = avail - off;
        char *in = copy_of(data + off, len);
        int progressed = 0, done = 0;

        if (phase == P_HEAD) {
            rc = gw_http_scan_head(&scan, in, len, &limits);
            if (rc < 0)
                rc = refusal(rc, &scan.err);
            if (rc > 0) {
                struct gw_http_head h;
                size_t hl = (size_t)rc;
                char *hc = copy_of((const uint8_t *)in, hl);
                rc = gw_http_parse_head(hc, hl, &limits, fields, NFIELDS, &h);
                if (rc < 0)
                    rc = refusal(rc, &h.err);
                if (rc == 0) {
                    touch(&hash, h.method);
                    touch(&hash, h.target);
                    touch(&hash, h.path);
                    touch(&hash, h.query);
                    touch(&hash, h.authority);
                    touch(&hash, h.scheme);
                    for (size_t i = 0; i < h.nfields; i++) {
                        touch(&hash, h.fields[i].name);
                        touch(&hash, h.fields[i].value);
                    }
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
                    if (!h.keep_alive && done) {
                        free(hc);
                        free(in);
                        break;
                    }
                }
                free(hc);
            }
        } else if (phase == P_BODY) {
            size_t take = len < need ? len : (size_t)need;
            touch_body(&hash, gw_slice_make(in, take));
            off += take;
            need -= take;
            progressed = take > 0;
            done = need == 0;
            rc = 0;
        } else {
            size_t used = 0;
            struct gw_slice d;
            rc = gw_http_chunked_step(&dec, in, len, &used, &d);
            if (used > len)
                abort();
            if (rc == GW_CHUNK_DATA || rc == GW_CHUNK_TRAILER) {
                if (d.ptr < in || d.ptr + d.len > in + used)
                    abort();
                if (rc == GW_CHUNK_DATA)
                    touch_body(&hash, d);
                else
                    touch(&hash, d);
            }
            off += used;
            progressed = rc == GW_CHUNK_DATA || rc == GW_CHUNK_TRAILER;
            done = rc == GW_CHUNK_DONE;
            rc = rc >= 0 ? 0 : refusal(rc, &dec.err);
        }
        free(in);
        if (rc < 0)
            break;
        if (done) {
            if (off == n)
                break;
            phase = P_HEAD;
            gw_http_scan_init(&scan);
            continue;
        }
        if (progressed)
            continue;
        if (avail == n) {
            rc = 1;
            break;
        }
        avail = n;
    }
    return (long)rc * 0x100000000L + hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long whole, split;

    if (size == 0)
        return 0;
    whole = run(data, size, size);
    split = run(data, size, data[0] % size);
    if (whole != split)
        abort(); /* the verdict or the parsed bytes changed with the split */
    return 0;
}
