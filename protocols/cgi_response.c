/*
 * The CGI response head shared by the FastCGI, SCGI and uwsgi front-ends (see
 * cgi_response.h). Pure function over a caller's buffer; any thread.
 *
 * What the response may carry (gw_content_rule), its Content-Length and which fields
 * are hop-by-hop are the core's (gateway/request.c, parsed once for every
 * front-end); this file only writes the CGI form of the head.
 */
#include "protocols/cgi_response.h"

#include <stdio.h>
#include <string.h>

#include "gateway/errors.h"
#include "gateway/status.h"
#include "gateway/util.h"

static int add(struct gw_buf *out, const char *p, size_t n)
{
    return gw_buf_append(out, p, n, GW_CGI_MAX_RESPONSE_HEAD);
}

/* The head with its first line starting with first[0..nfirst): "Status: " (CGI) or
 * "HTTP/1.1 " (uwsgi). */
static int build_head(struct gw_buf *out, const char *first, size_t nfirst,
                      const struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                      size_t n)
{
    int rc;
    out->start = out->end = 0;
    if ((rc = add(out, first, nfirst)) || (rc = add(out, status.ptr, status.len)) ||
        (rc = add(out, "\r\n", 2)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (!gw_response_keeps(r, f, i))
            continue;
        if ((rc = add(out, f[i].name.ptr, f[i].name.len)) || (rc = add(out, ": ", 2)) ||
            (rc = add(out, f[i].value.ptr, f[i].value.len)) || (rc = add(out, "\r\n", 2)))
            return rc;
    }
    if (r->resp.rule == GW_CONTENT_EMPTY && (rc = add(out, "Content-Length: 0\r\n", 19)))
        return rc;
    return add(out, "\r\n", 2);
}

int gw_cgi_response_head(struct gw_buf *out, const struct gw_request *r, struct gw_slice status,
                         const struct gw_field *f, size_t n)
{
    return build_head(out, "Status: ", 8, r, status, f, n);
}

int gw_cgi_response_head_line(struct gw_buf *out, const struct gw_request *r,
                              struct gw_slice status, const struct gw_field *f, size_t n)
{
    return build_head(out, "HTTP/1.1 ", 9, r, status, f, n);
}

static size_t error_response(char *buf, size_t cap, const char *first, int status)
{
    const char *reason = gw_status_reason(status);
    int n = snprintf(buf, cap,
                     "%s%d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n%s\r\n%d %s\n",
                     first, status, reason, strlen(reason) + 5,
                     status == 503 ? "Retry-After: 1\r\n" : "", status, reason);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t gw_cgi_error_response(char *buf, size_t cap, int status)
{
    return error_response(buf, cap, "Status: ", status);
}

size_t gw_cgi_error_response_line(char *buf, size_t cap, int status)
{
    return error_response(buf, cap, "HTTP/1.1 ", status);
}
