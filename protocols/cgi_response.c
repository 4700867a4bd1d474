/*
 * The CGI response head shared by the FastCGI and SCGI front-ends (see
 * cgi_response.h). Pure function over a caller's buffer; any thread.
 *
 * Which responses have no body is decided here, once for both front-ends, by the
 * rule the HTTP front-end follows too (gw_content_rule): a response without one gets
 * a body limit of 0, and both front-ends already never send more than the limit, so
 * the app's bytes are dropped while the head, the framing (STDOUT end and
 * END_REQUEST, or the close) and the access log stay as for any response.
 */
#include "protocols/cgi_response.h"

#include <stdio.h>
#include <string.h>

#include "gateway/errors.h"
#include "gateway/status.h"
#include "gateway/util.h"

/* Hop-by-hop fields belong to the front server's connection, not the app. */
static int hop_by_hop(struct gw_slice n)
{
    return gw_slice_eq_lower(n, "connection") || gw_slice_eq_lower(n, "keep-alive") ||
           gw_slice_eq_lower(n, "transfer-encoding") || gw_slice_eq_lower(n, "te") ||
           gw_slice_eq_lower(n, "trailer") || gw_slice_eq_lower(n, "upgrade") ||
           gw_slice_eq_lower(n, "proxy-connection");
}

static int add(struct gw_buf *out, const char *p, size_t n)
{
    return gw_buf_append(out, p, n, GW_CGI_MAX_RESPONSE_HEAD);
}

int gw_cgi_response_head(struct gw_buf *out, struct gw_slice method, struct gw_slice status,
                         const struct gw_field *f, size_t n, int *code, int64_t *body_limit)
{
    int c = 0, rc;
    int64_t length = -1;
    if (status.len < 3)
        return GW_EPROTO;
    for (int i = 0; i < 3; i++) {
        if (status.ptr[i] < '0' || status.ptr[i] > '9')
            return GW_EPROTO;
        c = c * 10 + (status.ptr[i] - '0');
    }
    enum gw_content_rule rule = gw_content_rule(method, c);
    *code = c;
    out->start = out->end = 0;
    if ((rc = add(out, "Status: ", 8)) || (rc = add(out, status.ptr, status.len)) ||
        (rc = add(out, "\r\n", 2)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (hop_by_hop(f[i].name))
            continue;
        if (gw_slice_eq_lower(f[i].name, "content-length")) {
            uint64_t v;
            if (gw_parse_u64(f[i].value.ptr, f[i].value.len, (uint64_t)INT64_MAX, &v) != 0)
                return GW_EPROTO;
            if (length >= 0 && (uint64_t)length != v)
                return GW_EPROTO;
            if (length >= 0)
                continue;
            length = (int64_t)v;
            if (rule == GW_CONTENT_NONE_NO_LENGTH || rule == GW_CONTENT_EMPTY)
                continue; /* none at all, or "Content-Length: 0" below */
        }
        if ((rc = add(out, f[i].name.ptr, f[i].name.len)) || (rc = add(out, ": ", 2)) ||
            (rc = add(out, f[i].value.ptr, f[i].value.len)) || (rc = add(out, "\r\n", 2)))
            return rc;
    }
    if (rule == GW_CONTENT_EMPTY && (rc = add(out, "Content-Length: 0\r\n", 19)))
        return rc;
    /* The front-ends send at most this many body bytes: none when there is no body. */
    *body_limit = rule == GW_CONTENT_ANY ? length : 0;
    return add(out, "\r\n", 2);
}

size_t gw_cgi_error_response(char *buf, size_t cap, int status)
{
    const char *reason = gw_status_reason(status);
    int n = snprintf(buf, cap,
                     "Status: %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n%s\r\n%d %s\n",
                     status, reason, strlen(reason) + 5, status == 503 ? "Retry-After: 1\r\n" : "",
                     status, reason);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
