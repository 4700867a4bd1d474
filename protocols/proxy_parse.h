/*
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a
 * load balancer sends before the client's bytes: a pure parser over a buffer, no
 * sockets, no allocation. See protocols/proxy.c for the connection side.
 */
#ifndef GW_PROXY_PARSE_H
#define GW_PROXY_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* The longest header accepted: a v1 line is at most 107 bytes (the spec's own
 * limit); a v2 header is 16 bytes and up to 65,535 more, but what a balancer sends
 * (addresses, the SSL TLV with its sub-TLVs, a unique id, an authority) fits well in
 * 4 KiB. A longer one is refused. */
#define GW_PROXY_V1_MAX 107
#define GW_PROXY_MAX    4096

/* Which versions are accepted (--proxy-protocol). */
enum {
    GW_PROXY_V1 = 1,
    GW_PROXY_V2 = 2,
    GW_PROXY_OPTIONAL = 4, /* "auto": a connection may also start without a header */
};

enum gw_proxy_result {
    GW_PROXY_MORE = 0,  /* the bytes so far start a header (or might): read more */
    GW_PROXY_DONE = 1,  /* a whole header of info->len bytes */
    GW_PROXY_NONE = 2,  /* GW_PROXY_OPTIONAL: the bytes are not a header; none consumed */
    GW_PROXY_ERROR = 3, /* malformed, over the limit, or not a header where one is due */
};

struct gw_proxy_info {
    size_t len;        /* DONE: the header's length in bytes */
    int version;       /* 1 or 2 */
    int local;         /* 1: keep the socket's addresses (v2 LOCAL, v1 UNKNOWN, v2
                          UNSPEC or unix family) */
    char src_addr[46]; /* numeric, NUL-terminated; "" when local */
    char dst_addr[46];
    char src_port[6]; /* decimal */
    char dst_port[6];
    int ssl;         /* v2: PP2_TYPE_SSL with its PP2_CLIENT_SSL bit: the client spoke
                        TLS to the balancer */
    const char *why; /* ERROR: a short static text for the log */
};

/*
 * Parses the header at the start of p[0..n). Pure and restartable: call it again
 * with the same bytes and more behind them (the caller keeps them; no state is kept
 * between calls), so a header split anywhere parses the same. Never reads past
 * p[n - 1] nor past the header's end. accept is GW_PROXY_V1 | GW_PROXY_V2, with
 * GW_PROXY_OPTIONAL or not. Fills *info on DONE (and info->why on ERROR).
 */
enum gw_proxy_result gw_proxy_parse(const char *p, size_t n, int accept,
                                    struct gw_proxy_info *info);

#endif
