/*
 * Per-connection state of the HTTP/1.1 front-end, shared by its two files:
 * protocols/http.c (head parsing on the loop, request body on the worker) and
 * protocols/http_response.c (response framing on the worker). Internal to protocols/.
 */
#ifndef GW_HTTP_CONN_H
#define GW_HTTP_CONN_H

#include <stdint.h>

#include "gateway/conn.h"
#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/tls.h"
#include "protocols/http_parse.h"

struct gw_conn;

/* Body bytes kept free behind a dispatched head for chunked-body reads. */
#define GW_HTTP_BODY_TAIL (32 * 1024)
/* Bodies up to this size (Content-Length, or chunked framing bytes) are read by the
 * loop before dispatch. */
#define GW_HTTP_PREREAD_MAX (64 * 1024)
/* An unread request body up to this size is read and dropped to keep the connection. */
#define GW_HTTP_DRAIN_MAX (256 * 1024)

struct gw_http_conn {
    struct gw_http_scan scan;
    int h2_checked;             /* the connection is not HTTP/2 (protocols/h2.h) */
    int first_head;             /* the head parsed next is the first: Upgrade: h2c may
                                   be taken (protocols/h2_upgrade.c) */
    size_t pending_head;        /* length of a scanned head whose small body is awaited */
    size_t pending_fields;      /* its field lines: all the field array needs to hold */
    struct gw_http_chunked pre; /* the loop's look at a small chunked body */
    size_t pre_pos;             /* body bytes it has examined */
    uint64_t pre_data;          /* data bytes among them */
    struct gw_http_head head;
    struct gw_field *fields; /* nfields_cap entries, sized to the head being parsed */
    size_t nfields_cap;
    struct gw_request req;
    char *path; /* decoded path of the current request */
    size_t path_cap;
    char server_name[256]; /* SERVER_NAME from Host / the absolute-form authority */
    /* r->cgi: HTTP_HOST of an absolute-form request without Host (or from a trusted
     * X-Forwarded-Host), then the variables of the connection's transport (TLS:
     * HTTPS, SSL_PROTOCOL, ...), then SERVER_ADDR and HTTPS from a PROXY header or a
     * trusted proxy's fields */
    struct gw_field vars[3 + GW_TLS_NVARS];

    /* request body */
    int chunked;
    uint64_t body_left; /* Content-Length bytes not yet read */
    uint64_t body_read; /* total body bytes handed to the app */
    struct gw_http_chunked dechunk;
    int body_done;       /* the whole body was read */
    int body_error;      /* GW_E* of a failed body read: the connection is not reused */
    int expect_continue; /* the client waits for 100 Continue */
    int continue_sent;

    /* response (the core's view of it is r->resp) */
    struct gw_buf out; /* the response head, built by send_head */
    int head_sent;     /* the head went to the output queue */
    int resp_chunked;  /* the body goes out chunked */
    int keep;          /* connection may be kept after this response */
    int client_close;  /* the client asked to close (Connection: close, HTTP/1.0) */
};

/* protocols/http.c: 1 when m is a method of the IANA HTTP Method Registry; anything
 * else gets 501 (H39), over HTTP/1.1 and HTTP/2 alike. */
int gw_http_known_method(struct gw_slice m);

/* protocols/http_response.c */
int gw_http_send_head(struct gw_request *r, struct gw_slice status, const struct gw_field *f,
                      size_t n);
int gw_http_send_body(struct gw_request *r, const struct gw_chunk *c, int n, int *kept);
int gw_http_finish_response(struct gw_request *r, int ok);
/* Appends a complete short error response with Connection: close to c->out. */
void gw_http_error_reply(struct gw_conn *c, int status);
/* Watchdog thread: the 504 of a request past --timeout, then the write side is shut
 * (see the timeout slot of gateway/protocol.h). */
int gw_http_timeout(struct gw_request *r);

/* protocols/http_body.c */
ssize_t gw_http_read_body(struct gw_request *r, char *buf, size_t len);

#endif
