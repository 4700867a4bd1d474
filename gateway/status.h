/*
 * The one table of HTTP status codes and reason phrases (an X-macro, style.md rule
 * 10): every status line and error reply the server writes itself comes from here.
 */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#define GW_STATUS_TABLE(X)                                                                         \
    X(100, "Continue")                                                                             \
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

#endif
