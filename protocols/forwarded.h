/*
 * What a trusted proxy says about the client in its request fields: X-Forwarded-Proto,
 * X-Forwarded-Ssl, X-Forwarded-For, X-Forwarded-Host and RFC 7239 Forwarded. Pure:
 * fields in, slices of them out; the front-ends decide whether the peer is trusted
 * (--forwarded-allow-ips) before asking.
 */
#ifndef GW_FORWARDED_H
#define GW_FORWARDED_H

#include <stddef.h>

#include "gateway/cidr.h"
#include "gateway/slice.h"

struct gw_forwarded {
    int https;                /* 1: the client used https; 0: http; -1: not said */
    struct gw_slice for_addr; /* the client's address (numeric, no brackets or port), or
                                 ptr NULL: none usable */
    struct gw_slice host;     /* X-Forwarded-Host's last item, or ptr NULL */
};

/*
 * Reads the fields f[0..n) (names in any case). The scheme: https when the last item
 * of X-Forwarded-Proto, the proto= of Forwarded's last element, or X-Forwarded-Ssl
 * says so ("https", "https", "on"); http when one says "http" and none says https.
 * The client's address (only when want_for): the items of X-Forwarded-For (or, when
 * there is none, the for= of each Forwarded element), read from the right: the first
 * address not in trusted, or the leftmost one when all are; none when an item that is
 * reached is no address ("unknown", an obfuscated name). The host (only when
 * want_host): X-Forwarded-Host's last item, when it is made of host characters.
 * The slices point into the field values.
 */
void gw_forwarded_read(const struct gw_field *f, size_t n, const struct gw_cidrs *trusted,
                       int want_for, int want_host, struct gw_forwarded *out);

#endif
