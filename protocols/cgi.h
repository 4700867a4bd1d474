/*
 * CGI variables -> the normalized request: the part the FastCGI, SCGI and uwsgi
 * front-ends share. A front server (nginx, Apache mod_proxy_fcgi/scgi/uwsgi, lighttpd,
 * HAProxy) sends CGI variables; this module checks the ones that frame the request, repairs the
 * ones servers are known to leave out or split differently, and fills a struct
 * gw_request so the app sees the environ it would see over --http. Pure: no I/O, no
 * allocation, no globals; any thread. A refusal follows the parsers' convention of
 * gateway/errors.h: a GW_E* returned and recorded, with the status the front-end
 * answers (as a CGI-style "Status:") and a reason, in the caller's struct
 * gw_parse_error.
 */
#ifndef GW_CGI_H
#define GW_CGI_H

#include <stddef.h>

#include "gateway/errors.h"
#include "gateway/request.h"
#include "gateway/slice.h"

/* Bytes of scratch beyond the values' total length: the '/'s normalization adds. */
#define GW_CGI_SCRATCH_EXTRA 2

struct gw_cgi_options {
    const char *script_name; /* --script-name PREFIX (no trailing '/'), "" when not
                                mounted; NUL-terminated, outlives the request */
    const char *server_name; /* the listener's default SERVER_NAME, likewise */
    const char *server_port; /* the listener's default SERVER_PORT, likewise */
    int body_by_framing;     /* 1 (FastCGI): an empty or absent CONTENT_LENGTH means the
                                body ends with its framing (nginx streaming a chunked
                                upload: the empty STDIN record) -> body_length -1;
                                0 (SCGI): absent means no body, empty is refused;
                                GW_CGI_EMPTY_LENGTH_NO_BODY (uwsgi: nginx's stock
                                uwsgi_params send CONTENT_LENGTH empty for a request
                                without a body): absent or empty means no body */
};

/* body_by_framing's third value (see above). */
#define GW_CGI_EMPTY_LENGTH_NO_BODY 2

/*
 * Fills the CGI view of *r from the n variables vars[] (name/value slices into the
 * caller's buffer, e.g. the FastCGI params arena). Writes exactly these members:
 * method, request_uri, script_name, path_info, query, protocol, content_type,
 * content_length, server_name, server_port, remote_addr, remote_port, https, cgi,
 * ncgi, body_length; leaves every other member as it was. On success every slice
 * points into vars' buffer, into scratch, into opt's strings or at a string literal,
 * so *r is valid as long as those are.
 *
 * Rules (the same environ as --http for the same request):
 *  - REQUEST_METHOD required, a non-empty token; else 400.
 *  - CONTENT_LENGTH: 1-18 ASCII digits (no sign, space, hex), else 400; given twice
 *    (even equal, even empty) 400 (F19). Empty or absent: see body_by_framing.
 *    content_length is the digits as sent, NULL when empty/absent.
 *  - REQUEST_URI (raw, kept as sent; NULL when absent) gives the path: the part before
 *    '?' or '#', after "scheme://authority" in the absolute form, "" for "*",
 *    percent-decoded into scratch (gw_lex_percent_decode), with a '/' put in front
 *    of a relative one ("foo" -> "/foo"). Without REQUEST_URI the path is SCRIPT_NAME
 *    followed by PATH_INFO as sent (already decoded), normalized as below.
 *  - With opt->script_name PREFIX: SCRIPT_NAME = PREFIX, PATH_INFO = the path after it,
 *    whatever the front server sent; a path that is not PREFIX or under PREFIX/ is
 *    404. Without it: a non-empty PATH_INFO is taken as sent with SCRIPT_NAME as sent
 *    ("" when absent: lighttpd's /app mount, nginx's fastcgi_split_path_info, Apache
 *    with proxy-fcgi-pathinfo), normalized as RFC 3875 4.1.5/4.1.13 and PEP 3333 want
 *    them (each "" or starting with '/', SCRIPT_NAME not ending with '/'): a missing
 *    leading '/' is added ("app" -> "/app", "foo" -> "/foo") and trailing '/'s of
 *    SCRIPT_NAME move to PATH_INFO ("/" + "/x" -> "" + "/x", "/app/" + "x" -> "/app" +
 *    "/x"); an absent or empty PATH_INFO means the server did not split (nginx stock
 *    params and Apache/HAProxy/lighttpd-at-/ put the whole path in SCRIPT_NAME; nginx's
 *    unmatched $fastcgi_path_info is empty), so SCRIPT_NAME = "" and PATH_INFO = the
 *    decoded path, as over --http. Either way PATH_INFO is "" or starts with '/'.
 *  - QUERY_STRING as sent; absent -> the part of REQUEST_URI after '?' (before '#'),
 *    else "".
 *  - SERVER_NAME empty or absent -> the host of HTTP_HOST (an IPv6 literal keeps its
 *    brackets, the port is dropped), else opt->server_name. SERVER_PORT empty or
 *    absent -> opt->server_port.
 *  - SERVER_PROTOCOL "HTTP/d.d" as sent; "HTTP/d" -> "HTTP/d.0"; absent, empty or any
 *    other form -> "HTTP/1.0".
 *  - CONTENT_TYPE empty -> absent (NULL), as over --http without the header.
 *  - HTTPS "on" (any case) -> r->https = 1; HTTPS itself is also passed through.
 *  - REMOTE_ADDR, REMOTE_PORT as sent, NULL when absent.
 *  - A variable that repeats: the last one counts (as PHP-FPM and flup do, so an
 *    fastcgi_param after an include overrides it), except CONTENT_LENGTH (400).
 *  - Values are data: CR, LF, NUL in them are never interpreted (F24).
 *
 * Pass-through: vars[] is compacted in place: r->cgi = vars, r->ncgi = k, vars[0..k)
 * the variables not consumed above, in their order, each name once (its last
 * occurrence), without empty names, names starting with "wsgi.", HTTP_CONTENT_TYPE
 * and HTTP_CONTENT_LENGTH. Consumed: REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME,
 * PATH_INFO, QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH, SERVER_NAME, SERVER_PORT,
 * SERVER_PROTOCOL, REMOTE_ADDR, REMOTE_PORT. The order of vars[k..n) is unspecified
 * afterwards. Cost O(n^2) in the worst case (duplicate search): the caller bounds n
 * (GW_FCGI_DEF_MAX_PARAMS).
 *
 * scratch: the caller's buffer for the decoded path or the normalized SCRIPT_NAME and
 * PATH_INFO, scratch_cap bytes; the total length of all values plus
 * GW_CGI_SCRATCH_EXTRA always suffices (for FastCGI: the params arena's used bytes).
 *
 * Returns 0 (*err zeroed), or a GW_E* recorded in *err with its status and reason,
 * nothing of *r to be trusted (vars[] may be reordered): GW_EPROTO 400 (method,
 * CONTENT_LENGTH), GW_ENOTSUP 404 (path outside --script-name), GW_ENOMEM 500
 * (scratch too small: a caller bug).
 */
int gw_cgi_build(struct gw_field *vars, size_t n, const struct gw_cgi_options *opt, char *scratch,
                 size_t scratch_cap, struct gw_request *r, struct gw_parse_error *err);

#endif
