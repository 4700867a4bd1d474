/*
 * The one table of HTTP status codes and reason phrases (an X-macro, as the house
 * style in docs/architecture.md asks): every status line and error reply the server
 * writes itself comes from here.
 */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#include "gateway/slice.h"

#define GW_STATUS_TABLE(X)                                                                         \
    X(100, "Continue")                                                                             \
    X(101, "Switching Protocols")                                                                  \
    X(200, "OK")                                                                                   \
    X(400, "Bad Request")                                                                          \
    X(404, "Not Found")                                                                            \
    X(405, "Method Not Allowed")                                                                   \
    X(408, "Request Timeout")                                                                      \
    X(411, "Length Required")                                                                      \
    X(413, "Content Too Large")                                                                    \
    X(414, "URI Too Long")                                                                         \
    X(417, "Expectation Failed")                                                                   \
    X(431, "Request Header Fields Too Large")                                                      \
    X(500, "Internal Server Error")                                                                \
    X(501, "Not Implemented")                                                                      \
    X(503, "Service Unavailable")                                                                  \
    X(504, "Gateway Timeout")                                                                      \
    X(505, "HTTP Version Not Supported")

/* The reason phrase of a status in the table; "Unknown" for any other code. */
const char *gw_status_reason(int status);

/*
 * What a response may carry, from the request's method and the response's status:
 * one rule for every front-end, so HEAD or a 205 looks the same over HTTP, FastCGI
 * and SCGI (RFC 9110 sections 6.4.1, 8.6, 9.3.2, 15.3.5, 15.3.6, 15.4.5; RFC 9112
 * section 6.3). The app's body bytes are dropped whenever the rule is not ANY.
 */
enum gw_content_rule {
    GW_CONTENT_ANY = 0,        /* the app's body, never more than its Content-Length */
    GW_CONTENT_NONE,           /* HEAD, 304: no body; the app's Content-Length is sent
                                  as given (the length a GET would have got) */
    GW_CONTENT_NONE_NO_LENGTH, /* 1xx, 204: no body and no Content-Length (RFC 9110
                                  8.6: a server must not send one) */
    GW_CONTENT_EMPTY,          /* 205: no body, "Content-Length: 0" in place of the
                                  app's: unlike 204 and 304 a 205 is not ended by its
                                  header section (RFC 9112 6.3), so it must be framed */
};

/* The rule for a response with this status to a request with this method. Pure. */
enum gw_content_rule gw_content_rule(struct gw_slice method, int status);

#endif
