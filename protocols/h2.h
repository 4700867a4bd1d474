/*
 * The HTTP/2 front-end (protocols/h2.c; on unless --no-h2 / --no-h2c). No
 * listener speaks it from the first byte: the HTTP/1.1 front-end hands a connection
 * over before its first request.
 */
#ifndef GW_H2_H
#define GW_H2_H

#include "gateway/protocol.h"

struct gw_conn;
struct gw_request;

extern const struct gw_protocol gw_h2_protocol;

/* Loop, before an HTTP/1.1 connection's first request: 1 when it speaks HTTP/2 (TLS
 * chose h2 by ALPN (cfg->h2); or, with cfg->h2c on a plain connection, its buffered
 * bytes open with the 24-byte preface), 0 when not, -1 when the bytes so far are a
 * beginning of the preface (wait for more). */
int gw_h2_detect(struct gw_conn *c);

/* Loop: c becomes an HTTP/2 connection (the HTTP/1.1 state is freed, the session
 * made) and its buffered bytes are parsed as such. As gw_protocol.parse. */
enum gw_parse_result gw_h2_take_over(struct gw_conn *c, struct gw_request **req);

/* nghttp2's version as the running library reports it (wsgate --version). */
const char *gw_h2_library_version(void);

#endif
