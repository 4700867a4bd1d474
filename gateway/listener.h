/*
 * Listening sockets: TCP over IPv4/IPv6, unix sockets (stale socket files replaced,
 * optional mode) and inherited descriptors (fd:N). Opened on the main thread before
 * the loop starts; the loop only accepts from them.
 */
#ifndef GW_LISTENER_H
#define GW_LISTENER_H

#include <ev.h>
#include <stddef.h>
#include <sys/types.h>

struct gw_conn;
struct gw_protocol;
struct gw_server;
struct gw_tls_ctx;

struct gw_listener {
    int fd;
    const struct gw_protocol *proto;
    struct gw_tls_ctx *tls; /* set by the caller: connections are TLS (gateway/tls.h);
                               NULL: plain */
    const char *name;       /* set by the caller: the listener's kind as the command line
                               and a hand-over name it ("http", "https", ...); NULL:
                               proto->name */
    /* Set by the caller, optional (NULL: none), loop thread: reads what a connection
     * sends before the transport's handshake and the protocol (a PROXY protocol
     * header, protocols/proxy.h), straight from c->fd, never past it. Returns 0 once
     * done (bytes it read that belong to the protocol are left in c->in), GW_EAGAIN
     * (wait until readable), or GW_E* to close the connection (it logged why). */
    int (*preface)(struct gw_conn *c);
    int proxy_protocol; /* set by the caller with that preface: the PROXY header versions
                           it takes (protocols/proxy_parse.h's GW_PROXY_* bits) */
    const char *spec;   /* the address as given on the command line */
    char *unix_path;    /* owned; unlinked on close by path_owner; NULL for TCP / fd: */
    pid_t path_owner;   /* the process that removes unix_path (0: none) */
    int is_unix;
    int is_tcp;
    char server_name[64]; /* default SERVER_NAME (numeric host, or "localhost") */
    char server_port[8];  /* SERVER_PORT ("80" on unix sockets) */
    ev_io io;
    struct gw_server *srv;
};

/* Opens and listens on spec. Returns 0 or -1 with one line in err. */
int gw_listener_open(struct gw_listener *l, const char *spec, const struct gw_protocol *proto,
                     int backlog, int socket_mode, char *err, size_t errlen);

/* Adopts fd, a listening socket handed over by a predecessor process (a reload),
 * for spec. A unix socket's file becomes this process's to remove. 0 or -1 with
 * one line in err. */
int gw_listener_adopt(struct gw_listener *l, int fd, const char *spec,
                      const struct gw_protocol *proto, char *err, size_t errlen);

/* This process will not remove the socket file (a reload's bridge or a forked worker
 * process uses the socket after it). */
void gw_listener_disown(struct gw_listener *l);

/* Closes the socket and, in the process that owns it, removes its unix socket file.
 * Idempotent. */
void gw_listener_close(struct gw_listener *l);

#endif
