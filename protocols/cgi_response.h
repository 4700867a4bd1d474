/*
 * The CGI-style response head that FastCGI and SCGI both send: "Status: 200 OK",
 * the app's fields (hop-by-hop ones dropped), a blank line; and the uwsgi front-end's
 * variant, which starts with an HTTP status line ("HTTP/1.1 200 OK") instead, as
 * uWSGI answers nginx's uwsgi_pass and Apache's mod_proxy_uwsgi. Pure; used on
 * workers.
 */
#ifndef GW_CGI_RESPONSE_H
#define GW_CGI_RESPONSE_H

#include <stdint.h>

#include "gateway/conn.h"
#include "gateway/request.h"
#include "gateway/slice.h"

/* Most bytes a response head may take: an app cannot make it grow past this. */
#define GW_CGI_MAX_RESPONSE_HEAD (1u << 20)

/*
 * Builds the head of r's response into out (emptied first), from r->resp (parsed by
 * the core, gateway/request.h) and the app's fields f[0..n): "Status: " + status,
 * the fields gw_response_keeps says, "Content-Length: 0" for a 205 (the rule of
 * gateway/status.h, as over --http), a blank line. Returns 0, GW_ETOOBIG or
 * GW_ENOMEM.
 */
int gw_cgi_response_head(struct gw_buf *out, const struct gw_request *r, struct gw_slice status,
                         const struct gw_field *f, size_t n);

/* As gw_cgi_response_head, with "HTTP/1.1 " + status + CRLF as the first line. */
int gw_cgi_response_head_line(struct gw_buf *out, const struct gw_request *r,
                              struct gw_slice status, const struct gw_field *f, size_t n);

/*
 * Writes a complete short error response (status line, text/plain body with its
 * Content-Length, Retry-After for 503) into buf. Returns its length (< cap; cap of
 * 256 always suffices).
 */
size_t gw_cgi_error_response(char *buf, size_t cap, int status);

/* As gw_cgi_error_response, with "HTTP/1.1 <status> <reason>" as the first line. */
size_t gw_cgi_error_response_line(char *buf, size_t cap, int status);

#endif
