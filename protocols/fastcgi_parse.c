/*
 * The FastCGI record layer (contract in fastcgi_parse.h): a resumable record parser,
 * an incremental name-value pair decoder, and the writers of the few bodies the
 * application side sends, all pure functions over the caller's bytes.
 *
 * Invariants: no allocation, no I/O, no mutable globals; nothing is read outside
 * [in, in + len) nor written outside the caller's output or arena; every content
 * result is a slice of the caller's input. The parser and the decoder keep all their
 * progress in the caller's state struct (a few integers), so feeding a stream one
 * byte at a time costs O(n) in total and gives the same events and verdict as feeding
 * it whole; the parser re-examines at most one header (8 bytes) or one whole-delivered
 * record per call. Wire integers are assembled byte by byte, big-endian; libfcgi's
 * packed structs are only used for their sizes. Any thread may call these functions; a
 * state struct belongs to one connection (parser) or one request (decoder).
 */
#include "protocols/fastcgi_parse.h"

#include <stdint.h>
#include <string.h>

enum { S_HEADER, S_CONTENT, S_PADDING };
enum { P_LEN_NAME, P_LEN_VALUE, P_BYTES, P_DONE };

static uint16_t get_u16be(const unsigned char *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static void put_u16be(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put_u32be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* ------------------------------------------------------------ record parser */

void gw_fcgi_parser_init(struct gw_fcgi_parser *p)
{
    memset(p, 0, sizeof(*p));
    p->state = S_HEADER;
}

/* Records whose content the front-end must read in one piece. */
static int delivered_whole(uint8_t type)
{
    return type == FCGI_BEGIN_REQUEST || type == FCGI_ABORT_REQUEST || type == FCGI_GET_VALUES;
}

/* A framing error: no answer but closing the connection (status 0). */
static int parser_fail(struct gw_fcgi_parser *p, int code, const char *why)
{
    return gw_parse_fail(&p->err, code, 0, why);
}

int gw_fcgi_parse(struct gw_fcgi_parser *p, const char *in, size_t len, size_t *consumed,
                  struct gw_slice *data)
{
    const unsigned char *u = (const unsigned char *)in;

    *consumed = 0;
    if (p->err.code)
        return p->err.code;

    switch (p->state) {
    case S_HEADER: {
        if (len == 0)
            return GW_FCGI_MORE;
        /* Decided on the first byte: after a bad version nothing is a record (F01). */
        if (u[0] != FCGI_VERSION_1)
            return parser_fail(p, GW_EPROTO, "record version is not 1");
        if (len < FCGI_HEADER_LEN)
            return GW_FCGI_MORE;
        struct gw_fcgi_header h = {
            .type = u[1],
            .request_id = get_u16be(u + 2),
            .content_length = get_u16be(u + 4),
            .padding_length = u[6],
        };
        if (h.type == FCGI_BEGIN_REQUEST) {
            /* Checked here, before waiting for a whole record that may be 64 KiB. */
            if (h.content_length != sizeof(FCGI_BeginRequestBody))
                return parser_fail(p, GW_EPROTO, "BEGIN_REQUEST content length is not 8");
            if (h.request_id == FCGI_NULL_REQUEST_ID)
                return parser_fail(p, GW_EPROTO, "BEGIN_REQUEST with request id 0");
        }
        if (delivered_whole(h.type) && len - FCGI_HEADER_LEN < h.content_length)
            return GW_FCGI_MORE; /* header left unconsumed until the content is in */
        p->rec = h;
        p->content_left = h.content_length;
        p->padding_left = h.padding_length;
        p->state = S_CONTENT;
        *consumed = FCGI_HEADER_LEN;
        return GW_FCGI_HEADER;
    }
    case S_CONTENT:
        if (p->content_left > 0) {
            if (len == 0)
                return GW_FCGI_MORE;
            size_t take = len < p->content_left ? len : p->content_left;
            p->content_left = (uint16_t)(p->content_left - take);
            if (p->content_left == 0)
                p->state = S_PADDING;
            *data = gw_slice_make(in, take);
            *consumed = take;
            return GW_FCGI_CONTENT;
        }
        p->state = S_PADDING;
        /* fall through */
    case S_PADDING:
    default: {
        size_t take = len < p->padding_left ? len : p->padding_left;
        p->padding_left = (uint8_t)(p->padding_left - take);
        *consumed = take;
        if (p->padding_left > 0)
            return GW_FCGI_MORE;
        p->state = S_HEADER;
        return GW_FCGI_END;
    }
    }
}

int gw_fcgi_parser_between_records(const struct gw_fcgi_parser *p)
{
    return p->state == S_HEADER && p->err.code == 0;
}

size_t gw_fcgi_whole_need(const char *in, size_t len)
{
    const unsigned char *u = (const unsigned char *)in;
    if (len < FCGI_HEADER_LEN || !delivered_whole(u[1]))
        return 0;
    size_t need = FCGI_HEADER_LEN + (size_t)get_u16be(u + 4);
    return need > len ? need : 0;
}

/* ------------------------------------------------------------ pair decoder */

void gw_fcgi_params_init(struct gw_fcgi_params *d, char *arena, size_t cap, struct gw_field *fields,
                         size_t max_fields,
                         int (*grow)(struct gw_fcgi_params *d, size_t bytes, size_t nfields))
{
    memset(d, 0, sizeof(*d));
    d->arena = arena;
    d->alloc = arena != NULL ? cap : 0;
    d->cap = cap;
    d->fields = fields;
    d->fields_cap = fields != NULL ? max_fields : 0;
    d->max_fields = max_fields;
    d->grow = grow;
    d->state = P_LEN_NAME;
}

/* Room for the pair whose lengths were just read (the arena up to `bytes`) and for its
 * field, asked of the caller's grow when short; the slices made so far follow the
 * arena if it moved. 0 or GW_ENOMEM. */
static int room_for_pair(struct gw_fcgi_params *d, size_t bytes)
{
    if (d->arena != NULL && bytes <= d->alloc && d->nfields < d->fields_cap)
        return 0;
    uintptr_t old = (uintptr_t)d->arena;
    if (d->grow == NULL)
        return GW_ENOMEM;
    int rc = d->grow(d, bytes, d->nfields + 1);
    for (size_t i = 0; i < d->nfields && old != 0 && (uintptr_t)d->arena != old; i++) {
        d->fields[i].name.ptr = d->arena + ((uintptr_t)d->fields[i].name.ptr - old);
        d->fields[i].value.ptr = d->arena + ((uintptr_t)d->fields[i].value.ptr - old);
    }
    if (rc != 0 || d->arena == NULL || d->alloc < bytes || d->fields_cap <= d->nfields)
        return GW_ENOMEM;
    return 0;
}

/* A PARAMS error: no answer but closing the connection (status 0). */
static int params_fail(struct gw_fcgi_params *d, int code, const char *why)
{
    return gw_parse_fail(&d->err, code, 0, why);
}

/*
 * Consumes length bytes from in[*i..len); returns 1 when the length is complete (in
 * d->len_acc), 0 when more bytes are needed. d->len_bytes == 0 means a length starts.
 */
static int read_length(struct gw_fcgi_params *d, const unsigned char *in, size_t len, size_t *i)
{
    while (*i < len) {
        unsigned char c = in[(*i)++];
        if (d->len_bytes == 0) {
            if (!(c & 0x80)) {
                d->len_acc = c;
                return 1;
            }
            d->len_acc = c & 0x7fu;
            d->len_bytes = 3;
        } else {
            d->len_acc = d->len_acc << 8 | c;
            if (--d->len_bytes == 0)
                return 1;
        }
    }
    return 0;
}

/*
 * The smallest value the length being read can still have: what is known shifted
 * over the bytes to come. Lets a 4-byte length that cannot fit be refused on its
 * first byte (F06).
 */
static uint64_t length_floor(const struct gw_fcgi_params *d)
{
    return (uint64_t)d->len_acc << (8 * d->len_bytes);
}

int gw_fcgi_params_feed(struct gw_fcgi_params *d, const char *in, size_t len)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t i = 0;

    if (d->err.code)
        return d->err.code;
    if (d->state == P_DONE)
        return len ? params_fail(d, GW_EPROTO, "PARAMS after the end of the stream") : 0;

    while (i < len) {
        switch (d->state) {
        case P_LEN_NAME:
            if (d->len_bytes == 0 && d->nfields >= d->max_fields)
                return params_fail(d, GW_ETOOBIG, "too many params");
            if (!read_length(d, u, len, &i)) {
                if (length_floor(d) > d->cap - d->used)
                    return params_fail(d, GW_ETOOBIG, "params over the budget");
                break;
            }
            if (d->len_acc > d->cap - d->used)
                return params_fail(d, GW_ETOOBIG, "params over the budget");
            d->name_len = d->len_acc;
            d->len_bytes = 0;
            d->state = P_LEN_VALUE;
            break;
        case P_LEN_VALUE: {
            size_t room = d->cap - d->used - d->name_len;
            if (!read_length(d, u, len, &i)) {
                if (length_floor(d) > room)
                    return params_fail(d, GW_ETOOBIG, "params over the budget");
                break;
            }
            if (d->len_acc > room)
                return params_fail(d, GW_ETOOBIG, "params over the budget");
            d->value_len = d->len_acc;
            d->len_bytes = 0;
            d->pair_start = d->used;
            d->pair_left = (size_t)d->name_len + d->value_len;
            /* both lengths fit the budget, checked above */
            if (room_for_pair(d, d->used + d->pair_left) != 0)
                return params_fail(d, GW_ENOMEM, "no room for the params");
            d->used += d->pair_left;
            d->state = P_BYTES;
            break;
        }
        case P_BYTES:
        default: {
            size_t take = len - i < d->pair_left ? len - i : d->pair_left;
            memcpy(d->arena + (d->used - d->pair_left), in + i, take);
            i += take;
            d->pair_left -= take;
            break;
        }
        }
        /* A pair is complete as soon as its bytes are (also for empty names/values,
         * which need no further input). */
        if (d->state == P_BYTES && d->pair_left == 0) {
            const char *p = d->arena + d->pair_start;
            d->fields[d->nfields].name = gw_slice_make(p, d->name_len);
            d->fields[d->nfields].value = gw_slice_make(p + d->name_len, d->value_len);
            d->nfields++;
            d->state = P_LEN_NAME;
        }
    }
    return 0;
}

int gw_fcgi_params_end(struct gw_fcgi_params *d)
{
    if (d->err.code)
        return d->err.code;
    if (d->state == P_DONE)
        return 0;
    if (d->state != P_LEN_NAME || d->len_bytes != 0)
        return params_fail(d, GW_EPROTO, "PARAMS stream ends inside a pair");
    d->state = P_DONE;
    return 0;
}

/* Reads one length at buf[*off]; 0 or GW_EPROTO when it runs past len. */
static int pair_length(const unsigned char *buf, size_t len, size_t *off, uint32_t *out)
{
    if (*off >= len)
        return GW_EPROTO;
    if (!(buf[*off] & 0x80)) {
        *out = buf[(*off)++];
        return 0;
    }
    if (len - *off < 4)
        return GW_EPROTO;
    const unsigned char *b = buf + *off;
    *out = (uint32_t)(b[0] & 0x7f) << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    *off += 4;
    return 0;
}

int gw_fcgi_pair_next(const char *buf, size_t len, size_t *off, struct gw_field *f)
{
    const unsigned char *u = (const unsigned char *)buf;
    size_t o = *off;
    uint32_t nl, vl;

    if (o >= len)
        return 0;
    if (pair_length(u, len, &o, &nl) < 0 || pair_length(u, len, &o, &vl) < 0)
        return GW_EPROTO;
    if (nl > len - o || vl > len - o - nl)
        return GW_EPROTO;
    f->name = gw_slice_make(buf + o, nl);
    f->value = gw_slice_make(buf + o + nl, vl);
    *off = o + nl + vl;
    return 1;
}

/* Writes one length (1 or 4 bytes) at out; returns its size. */
static size_t put_length(unsigned char *out, uint32_t n)
{
    if (n < 0x80) {
        out[0] = (unsigned char)n;
        return 1;
    }
    put_u32be(out, n | 0x80000000u);
    return 4;
}

size_t gw_fcgi_pair_write(char *out, size_t cap, struct gw_slice name, struct gw_slice value)
{
    unsigned char lens[8];
    size_t hl;

    if (name.len > 0x7fffffffu || value.len > 0x7fffffffu)
        return 0;
    hl = put_length(lens, (uint32_t)name.len);
    hl += put_length(lens + hl, (uint32_t)value.len);
    if (cap < hl || cap - hl < name.len || cap - hl - name.len < value.len)
        return 0;
    memcpy(out, lens, hl);
    if (name.len)
        memcpy(out + hl, name.ptr, name.len);
    if (value.len)
        memcpy(out + hl + name.len, value.ptr, value.len);
    return hl + name.len + value.len;
}

/* ------------------------------------------------------------ writers */

void gw_fcgi_header_write(unsigned char out[FCGI_HEADER_LEN], uint8_t type, uint16_t request_id,
                          uint16_t content_length, uint8_t padding_length)
{
    out[0] = FCGI_VERSION_1;
    out[1] = type;
    put_u16be(out + 2, request_id);
    put_u16be(out + 4, content_length);
    out[6] = padding_length;
    out[7] = 0;
}

size_t gw_fcgi_stream_header(unsigned char out[FCGI_HEADER_LEN], uint8_t type, uint16_t request_id,
                             size_t len)
{
    size_t n = len < GW_FCGI_MAX_CONTENT ? len : GW_FCGI_MAX_CONTENT;
    gw_fcgi_header_write(out, type, request_id, (uint16_t)n, 0);
    return n;
}

int gw_fcgi_begin_read(const struct gw_fcgi_header *h, struct gw_slice body,
                       struct gw_fcgi_begin *out)
{
    const unsigned char *b = (const unsigned char *)body.ptr;

    if (h->type != FCGI_BEGIN_REQUEST || h->request_id == FCGI_NULL_REQUEST_ID ||
        h->content_length != sizeof(FCGI_BeginRequestBody) ||
        body.len != sizeof(FCGI_BeginRequestBody) || b == NULL)
        return GW_EPROTO;
    out->role = get_u16be(b);
    out->flags = b[2];
    return 0;
}

void gw_fcgi_end_request_write(unsigned char out[8], uint32_t app_status, uint8_t protocol_status)
{
    put_u32be(out, app_status);
    out[4] = protocol_status;
    out[5] = out[6] = out[7] = 0;
}

void gw_fcgi_unknown_type_write(unsigned char out[8], uint8_t type)
{
    out[0] = type;
    memset(out + 1, 0, 7);
}

/* Decimal digits of v into buf (room for 10); returns the count. */
static size_t format_u32(char *buf, uint32_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

int gw_fcgi_get_values_result(const char *query, size_t len, const struct gw_fcgi_values *v,
                              unsigned char *out, size_t cap)
{
    static const char *const names[] = {FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS};
    int answered[3] = {0, 0, 0};
    size_t off = 0, n = FCGI_HEADER_LEN;
    struct gw_field f;
    int rc;

    if (cap < GW_FCGI_GET_VALUES_RESULT_MAX)
        return GW_ETOOBIG;
    /* The whole query is checked first: a malformed one gets no partial answer. */
    while ((rc = gw_fcgi_pair_next(query, len, &off, &f)) == 1)
        ;
    if (rc < 0)
        return rc;
    off = 0;
    while (gw_fcgi_pair_next(query, len, &off, &f) == 1) {
        for (size_t k = 0; k < 3; k++) {
            if (answered[k] || !gw_slice_eq(f.name, names[k]))
                continue;
            char digits[10];
            uint32_t val = k == 0 ? v->max_conns : k == 1 ? v->max_reqs : v->mpxs_conns;
            size_t dl = format_u32(digits, val);
            /* Bounded: each name is answered once, 3 * (2 + 15 + 10) bytes at most. */
            n += gw_fcgi_pair_write((char *)out + n, cap - n,
                                    gw_slice_make(names[k], strlen(names[k])),
                                    gw_slice_make(digits, dl));
            answered[k] = 1;
        }
    }
    gw_fcgi_header_write(out, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID,
                         (uint16_t)(n - FCGI_HEADER_LEN), 0);
    return (int)n;
}
