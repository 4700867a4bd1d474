/*
 * The FastCGI record layer: pure functions over a caller's bytes, no I/O, no
 * allocation, no globals. Wire constants come from libfcgi's <fastcgi.h>; integers
 * are read and written byte by byte in network order (never through its packed
 * structs). What it refuses and why is the FastCGI table (F01-F28) of
 * docs/hostile-inputs.md.
 *
 * Pieces, for the I/O front-end (protocols/fastcgi.c) to combine:
 *   1. gw_fcgi_parse: one connection's record stream -> one event at a time
 *      (record header, content pieces as slices of the input, record end). Records of
 *      different request ids may interleave (FCGI_MPXS_CONNS): the parser does not care,
 *      the front-end routes each event by p->rec.request_id.
 *   2. struct gw_fcgi_params: one request's PARAMS stream -> name/value pairs, copied
 *      into a caller-owned arena and listed as gw_field slices into it (so they can
 *      become the request's CGI variables), with a byte budget and a pair cap.
 *   3. Readers and writers of the fixed bodies (BEGIN_REQUEST, END_REQUEST,
 *      UNKNOWN_TYPE), the record header writer, and the GET_VALUES_RESULT builder.
 *
 * Errors follow the parsers' convention of gateway/errors.h: a negative GW_E*
 * (GW_EPROTO for malformed framing, GW_ETOOBIG for a configured limit), recorded with
 * a static reason for the error log in the state struct's err. Its status is always 0:
 * a FastCGI framing or PARAMS error has no answer but closing the connection.
 * (FCGI_UNKNOWN_ROLE, FCGI_OVERLOADED and the other END_REQUEST protocol statuses
 * answer well-framed records; the front-end decides them.) The stateless helpers
 * (pair reader, BEGIN_REQUEST reader, GET_VALUES_RESULT builder) return a GW_E* only.
 */
#ifndef GW_FASTCGI_PARSE_H
#define GW_FASTCGI_PARSE_H

#include <fastcgi.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/errors.h"
#include "gateway/slice.h"

#define GW_FCGI_MAX_CONTENT FCGI_MAX_LENGTH /* 65535: most content bytes in a record */
/* Bytes the caller's read buffer must be able to hold at once: a whole-delivered
 * record's header and content (see gw_fcgi_parse). */
#define GW_FCGI_WHOLE_MAX (FCGI_HEADER_LEN + FCGI_MAX_LENGTH)

/* Defaults of the named limits (overridable by the front-end's configuration). */
#define GW_FCGI_DEF_PARAMS_BUDGET (64 * 1024) /* name+value bytes of one request */
#define GW_FCGI_DEF_MAX_PARAMS    512         /* pairs of one request */

/* One record header, decoded. */
struct gw_fcgi_header {
    uint8_t type;            /* FCGI_BEGIN_REQUEST ... or any other value (unknown) */
    uint16_t request_id;     /* FCGI_NULL_REQUEST_ID (0) for management records */
    uint16_t content_length; /* 0 .. 65535 */
    uint8_t padding_length;  /* 0 .. 255 */
};

/* Record parser state, one per connection; gw_fcgi_parser_init before the first byte. */
struct gw_fcgi_parser {
    int state;
    struct gw_fcgi_header rec; /* the current record, valid from GW_FCGI_HEADER to
                                  GW_FCGI_END (inclusive) */
    uint16_t content_left;     /* content bytes not yet delivered */
    uint8_t padding_left;      /* padding bytes not yet skipped */
    struct gw_parse_error err; /* the sticky error (code, why; status 0: close) */
};

void gw_fcgi_parser_init(struct gw_fcgi_parser *p);

enum {
    GW_FCGI_MORE = 0,    /* need more bytes (see *consumed below) */
    GW_FCGI_HEADER = 1,  /* a record header was read: p->rec holds it */
    GW_FCGI_CONTENT = 2, /* *data holds content bytes of p->rec (a non-empty slice of
                            the input); a record's content may come in several pieces */
    GW_FCGI_END = 3,     /* the current record is over (content delivered, padding
                            skipped exactly); p->rec still describes it */
};

/*
 * Consumes bytes from in[0..len) and returns the next event, one per call, or a
 * negative error. *consumed gets the bytes used by this call (always set); the
 * caller drops them and calls again with the rest (followed by whatever arrives
 * later). Per record the events are HEADER, zero or more CONTENT, END; END is
 * returned as soon as the content and padding are through, even with len == 0.
 *
 * Bytes of an incomplete header are not consumed (GW_FCGI_MORE, *consumed == 0):
 * present them again, followed by more. The same holds for the records delivered
 * whole: FCGI_BEGIN_REQUEST, FCGI_ABORT_REQUEST and FCGI_GET_VALUES are reported
 * (HEADER) only once header and all content are in in[], and their content then
 * comes as exactly one CONTENT event (none when empty), so the caller can read them
 * in place. The caller's buffer must therefore hold GW_FCGI_WHOLE_MAX bytes.
 * Every other type (PARAMS, STDIN, DATA, unknown ones...) is streamed: CONTENT
 * gives whatever part of the content is available.
 *
 * Errors (sticky: every later call returns the same, *consumed == 0; p->err.why says
 * which rule):
 *   GW_EPROTO  version other than FCGI_VERSION_1 (F01; decided on the first byte),
 *              FCGI_BEGIN_REQUEST with request id 0 or content length != 8 (F12).
 * Types, ids, roles and lengths are otherwise data: the front-end decides what an
 * unknown type or an inactive id means (F02, F11). Never reads outside in[0..len);
 * O(1) state, so any number of tiny records costs constant memory (F23).
 */
int gw_fcgi_parse(struct gw_fcgi_parser *p, const char *in, size_t len, size_t *consumed,
                  struct gw_slice *data);

/* 1 when p is between records: no record header consumed whose content or padding is
 * still to come, and no sticky error. Bytes of a header that gw_fcgi_parse left
 * unconsumed are the caller's to check (they are still in its buffer). */
int gw_fcgi_parser_between_records(const struct gw_fcgi_parser *p);

/* Between records, with in[0..len) the bytes gw_fcgi_parse left unconsumed: the size
 * in[] must grow to when they begin a whole-delivered record whose content is not all
 * in (its header and content, at most GW_FCGI_WHOLE_MAX); else 0, and any read lets
 * the parser go on. A caller's buffer thus grows to a whole record only for one. */
size_t gw_fcgi_whole_need(const char *in, size_t len);

/* ------------------------------------------------------------ name-value pairs */

/*
 * Incremental decoder of one request's FCGI_PARAMS stream (FastCGI spec 3.4: 1-byte
 * lengths, or 4 bytes with the high bit set, 31-bit). Feed it the CONTENT pieces of
 * that request's PARAMS records in order, whatever their split across records and
 * reads (F08); call gw_fcgi_params_end at the empty PARAMS record.
 *
 * Storage: the caller's. Each pair's name and value bytes are copied into the arena
 * back to back as they arrive (pairs may span records, so zero copy is impossible in
 * general); when a pair is complete, fields[nfields++] gets its name and value as
 * slices into the arena. The caller gives either all of it at once (`arena` of cap
 * bytes, `fields` of max_fields entries), or nothing and a `grow` hook that is asked
 * for room as pairs need it, so a request holds what its pairs take, not the budget.
 * The decoder never allocates, frees or moves storage itself; when grow moves the
 * arena, the decoder moves the slices already made with it. Once
 * gw_fcgi_params_end has returned 0 nothing moves: the slices stay valid as long as
 * the caller keeps the storage (the request's lifetime). A slice is never NULL (an
 * empty value is {arena + offset, 0}).
 * Limits are checked when each length byte is read, before any byte of the pair is
 * stored or room asked for: a pair that cannot fit the remaining budget is refused at
 * once (F06: a 0x7fffffff length in a short record; F28: 1 MiB of params).
 */
struct gw_fcgi_params {
    char *arena; /* the caller's buffer, alloc bytes */
    size_t alloc;
    size_t cap;              /* the byte budget for names + values (alloc <= cap) */
    size_t used;             /* bytes stored so far (complete pairs + the pending one) */
    struct gw_field *fields; /* the caller's array, fields_cap entries */
    size_t fields_cap;
    size_t max_fields; /* pairs allowed (fields_cap <= max_fields) */
    size_t nfields;    /* complete pairs in fields[] */
    /* The caller's, or NULL (the storage given at init is all there is): makes arena
     * hold at least `bytes` (<= cap; never NULL after it) and fields at least
     * `nfields` entries (<= max_fields), updating arena, alloc, fields, fields_cap
     * (realloc is fine); 0, or nonzero when it cannot. */
    int (*grow)(struct gw_fcgi_params *d, size_t bytes, size_t nfields);

    /* decoding progress (private) */
    int state;
    uint32_t len_acc; /* the length being read */
    int len_bytes;    /* its bytes still to read */
    uint32_t name_len, value_len;
    size_t pair_start;         /* arena offset of the pending pair */
    size_t pair_left;          /* its bytes still to copy */
    struct gw_parse_error err; /* the sticky error (code, why; status 0: close) */
};

/* arena (cap bytes) and fields (max_fields entries) are all the storage; or both
 * NULL with grow set: room comes from grow, up to cap bytes and max_fields pairs. */
void gw_fcgi_params_init(struct gw_fcgi_params *d, char *arena, size_t cap, struct gw_field *fields,
                         size_t max_fields,
                         int (*grow)(struct gw_fcgi_params *d, size_t bytes, size_t nfields));

/*
 * Decodes in[0..len) (all of it is consumed). Returns 0, or (sticky, d->err.why says
 * which rule):
 *   GW_ETOOBIG  a pair does not fit the remaining budget, or more than max_fields pairs;
 *   GW_EPROTO   bytes after gw_fcgi_params_end;
 *   GW_ENOMEM   grow could not make room.
 */
int gw_fcgi_params_feed(struct gw_fcgi_params *d, const char *in, size_t len);

/*
 * The stream has ended (empty PARAMS record). Returns 0 when it ended between
 * pairs (fields[0..nfields) are the request's variables), else GW_EPROTO (F07: a
 * pair longer than the stream) or the earlier sticky error.
 */
int gw_fcgi_params_end(struct gw_fcgi_params *d);

/*
 * One pair of a contiguous buffer (a GET_VALUES body): reads at buf[*off], sets
 * f's slices into buf and advances *off. Returns 1 (a pair), 0 (*off == len: no more)
 * or GW_EPROTO (a length or a pair running past len, F07). Never reads past len.
 */
int gw_fcgi_pair_next(const char *buf, size_t len, size_t *off, struct gw_field *f);

/*
 * Encodes one pair into out[0..cap). Returns the bytes written, or 0 when it does
 * not fit or a length exceeds 0x7fffffff (nothing written then).
 */
size_t gw_fcgi_pair_write(char *out, size_t cap, struct gw_slice name, struct gw_slice value);

/* ------------------------------------------------------------ fixed bodies */

/* Writes a record header: FCGI_VERSION_1, type, id, content length, padding, 0.
 * The lengths' types make a record over 65535 content bytes unrepresentable (F27). */
void gw_fcgi_header_write(unsigned char out[FCGI_HEADER_LEN], uint8_t type, uint16_t request_id,
                          uint16_t content_length, uint8_t padding_length);

/*
 * Frames the next piece of a stream (STDOUT, STDERR) of which len bytes remain:
 * writes the header of a record carrying min(len, 65535) bytes, no padding, and
 * returns that count (0 for len == 0: the empty end-of-stream record). A caller
 * with a 100 KB chunk loops: 65535, then 34465 (F27).
 */
size_t gw_fcgi_stream_header(unsigned char out[FCGI_HEADER_LEN], uint8_t type, uint16_t request_id,
                             size_t len);

struct gw_fcgi_begin {
    uint16_t role; /* FCGI_RESPONDER, FCGI_AUTHORIZER, FCGI_FILTER or any value (F14) */
    uint8_t flags; /* FCGI_KEEP_CONN ... (other bits as sent) */
};

/*
 * Reads a BEGIN_REQUEST body: h is the record's header, body its content. Returns 0,
 * or GW_EPROTO when h is not a BEGIN_REQUEST, has request id 0, or content length
 * != 8 (F12). The role is data: the caller answers FCGI_UNKNOWN_ROLE to what it does
 * not serve.
 */
int gw_fcgi_begin_read(const struct gw_fcgi_header *h, struct gw_slice body,
                       struct gw_fcgi_begin *out);

/* Writes an END_REQUEST body (8 bytes): appStatus (big-endian), protocolStatus. */
void gw_fcgi_end_request_write(unsigned char out[8], uint32_t app_status, uint8_t protocol_status);

/* Writes an UNKNOWN_TYPE body (8 bytes) naming the type (F02). */
void gw_fcgi_unknown_type_write(unsigned char out[8], uint8_t type);

/* The values GET_VALUES is answered with (F04). */
struct gw_fcgi_values {
    uint32_t max_conns; /* FCGI_MAX_CONNS */
    uint32_t max_reqs;  /* FCGI_MAX_REQS */
    uint8_t mpxs_conns; /* FCGI_MPXS_CONNS: 0 or 1 */
};

/* Room always enough for the whole GET_VALUES_RESULT record. */
#define GW_FCGI_GET_VALUES_RESULT_MAX 128

/*
 * Builds the whole GET_VALUES_RESULT record (header included, id 0) answering the
 * GET_VALUES body query[0..len): one answer per known name asked for, at most once
 * per name however often it is asked (F05), in the order first asked; unknown names
 * and the query's values are ignored. Writes at most GW_FCGI_GET_VALUES_RESULT_MAX
 * bytes to out. Returns the record length (> 0), GW_EPROTO for a malformed query (a
 * pair running past len; nothing written), or GW_ETOOBIG when cap is below
 * GW_FCGI_GET_VALUES_RESULT_MAX.
 */
int gw_fcgi_get_values_result(const char *query, size_t len, const struct gw_fcgi_values *v,
                              unsigned char *out, size_t cap);

#endif
