/*
 * The HTTP/2 front-end (protocols/h2.c; on unless --no-h2 / --no-h2c). No
 * listener speaks it from the first byte: the HTTP/1.1 front-end hands a connection
 * over before its first request (ALPN h2, the h2c preface), or with it (Upgrade: h2c,
 * protocols/h2_upgrade.c).
 */
#ifndef GW_H2_H
#define GW_H2_H

#include "gateway/protocol.h"

struct gw_conn;
struct gw_request;
struct gw_http_head;

/* The same front-end by two names: h2 over TLS, h2c in cleartext. */
extern const struct gw_protocol gw_h2_protocol;
extern const struct gw_protocol gw_h2c_protocol;

/* Loop, before an HTTP/1.1 connection's first request: 1 when it speaks HTTP/2 (TLS
 * chose h2 by ALPN (cfg->h2); or, with cfg->h2c on a plain connection, its buffered
 * bytes open with the 24-byte preface), 0 when not, -1 when the bytes so far are a
 * beginning of the preface (wait for more). */
int gw_h2_detect(struct gw_conn *c);

/* Loop: c becomes an HTTP/2 connection (the HTTP/1.1 state is freed, the session
 * made) and its buffered bytes are parsed as such. As gw_protocol.parse. */
enum gw_parse_result gw_h2_take_over(struct gw_conn *c, struct gw_request **req);

/*
 * Loop, on the head of an HTTP/1.1 connection's first request, parsed (hd, head_len
 * bytes at c->in.start; nothing of it consumed yet): takes `Upgrade: h2c` (RFC 7540
 * section 3.2) when the request may have it: h2c on, a plain connection, HTTP/1.1,
 * no body, an origin-form target, no byte buffered behind the head, a Connection
 * field naming Upgrade and HTTP2-Settings, exactly one HTTP2-Settings field holding
 * valid SETTINGS in base64url. Then the answer is 101 Switching Protocols and c is
 * HTTP/2 with the request as stream 1 (the HTTP/1.1 state, hd with it, is freed);
 * returns 1 with *res what gw_protocol.parse answers. Else returns 0 and nothing has
 * changed: the request is served over HTTP/1.1, its Upgrade ignored.
 */
int gw_h2_upgrade(struct gw_conn *c, const struct gw_http_head *hd, size_t head_len,
                  struct gw_request **req, enum gw_parse_result *res);

/* nghttp2's version as the running library reports it (wsgate --version). */
const char *gw_h2_library_version(void);

#endif
