/*
 * The CGI-style response head that FastCGI and SCGI both send: "Status: 200 OK",
 * the app's fields (hop-by-hop ones dropped), a blank line. Pure; used on workers.
 */
#ifndef GW_CGI_RESPONSE_H
#define GW_CGI_RESPONSE_H

#include <stdint.h>

#include "gateway/conn.h"
#include "gateway/slice.h"

/* Most bytes a response head may take: an app cannot make it grow past this. */
#define GW_CGI_MAX_RESPONSE_HEAD (1u << 20)

/*
 * Builds the head into out (emptied first). method is the request's; status is the
 * validated WSGI status ("200 OK"). The fields follow gw_content_rule
 * (gateway/status.h), as over --http: no Content-Length for 1xx and 204,
 * "Content-Length: 0" in place of the app's for 205, the app's as given otherwise.
 * Sets *code to the status number and *body_limit to the most body bytes the
 * front-end may send: the app's Content-Length, 0 when the response has no body
 * (HEAD, 1xx, 204, 205, 304: the app's bytes are dropped), -1 when unbounded.
 * Returns 0, GW_EPROTO (status without 3 digits, bad or conflicting Content-Length),
 * GW_ETOOBIG or GW_ENOMEM.
 */
int gw_cgi_response_head(struct gw_buf *out, struct gw_slice method, struct gw_slice status,
                         const struct gw_field *f, size_t n, int *code, int64_t *body_limit);

/*
 * Writes a complete short error response (status line, text/plain body with its
 * Content-Length, Retry-After for 503) into buf. Returns its length (< cap; cap of
 * 256 always suffices).
 */
size_t gw_cgi_error_response(char *buf, size_t cap, int status);

#endif
