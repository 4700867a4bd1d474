/*
 * The PROXY protocol on the HTTP listeners: the listener preface (gateway/listener.h)
 * that process/main.c sets on the --http and --https listeners whose setting
 * (--proxy-protocol, or their own --proxy-protocol-at) is not off.
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

struct gw_conn;

/*
 * Loop thread. Reads the PROXY header c's peer sends first (v1, v2, or either or
 * none, as c->listener->proxy_protocol says), never a byte past it: it peeks at the
 * socket and takes only the header's bytes (and, with "auto", the start of a request
 * that could still have been a header, left in c->in). On a header: c->remote_addr
 * and remote_port become the client's, server_addr and server_port the address it
 * connected to, proxy_ssl its SSL TLV's client bit (a LOCAL or UNKNOWN header keeps
 * the socket's). A peer outside --proxy-allow-from (unix socket peers are allowed)
 * may not send one. Returns 0, GW_EAGAIN, or GW_E* (closed: a malformed or
 * oversized header, an untrusted sender, no header where one is required, the
 * peer's end of stream; logged at info level, except a silent close before any
 * byte).
 */
int gw_proxy_preface(struct gw_conn *c);

#endif
