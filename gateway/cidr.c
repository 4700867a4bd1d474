/*
 * Trusted-network lists (see gateway/cidr.h): parsed on the main thread at start-up,
 * matched against a connection's peer or a forwarded address on any thread.
 */
#include "gateway/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int parse_one(struct gw_cidr *c, const char *p, size_t n)
{
    char tmp[64];
    const char *slash = memchr(p, '/', n);
    size_t alen = slash ? (size_t)(slash - p) : n;
    if (alen == 0 || alen >= sizeof(tmp))
        return -1;
    memcpy(tmp, p, alen);
    tmp[alen] = '\0';
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, tmp, c->addr) == 1)
        c->family = AF_INET;
    else if (inet_pton(AF_INET6, tmp, c->addr) == 1)
        c->family = AF_INET6;
    else
        return -1;
    unsigned max = c->family == AF_INET ? 32 : 128;
    c->bits = max;
    if (slash) {
        size_t dl = n - alen - 1;
        unsigned v = 0;
        if (dl == 0 || dl > 3)
            return -1;
        for (size_t i = 0; i < dl; i++) {
            if (slash[1 + i] < '0' || slash[1 + i] > '9')
                return -1;
            v = v * 10 + (unsigned)(slash[1 + i] - '0');
        }
        if (v > max)
            return -1;
        c->bits = v;
    }
    /* Keep only the network part, so that 10.1.2.3/8 means 10.0.0.0/8. */
    for (unsigned b = c->bits; b < max; b++)
        c->addr[b / 8] &= (unsigned char)~(0x80u >> (b % 8));
    return 0;
}

int gw_cidrs_parse(struct gw_cidrs *out, const char *s, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *p = s;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e != '\0' && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == 1 && p[0] == '*') {
            out->any = 1;
        } else if (n == 0) {
            snprintf(err, errlen, "an empty item in the list");
            return -1;
        } else if (out->n == GW_MAX_CIDRS) {
            snprintf(err, errlen, "more than %d networks", GW_MAX_CIDRS);
            return -1;
        } else if (parse_one(&out->v[out->n], p, n) != 0) {
            snprintf(err, errlen, "'%.*s' is not ADDR or ADDR/BITS", (int)(n > 60 ? 60 : n), p);
            return -1;
        } else {
            out->n++;
        }
        if (*e == '\0')
            return 0;
        p = e + 1;
    }
}

static int in_net(const struct gw_cidr *c, const unsigned char *a)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, a, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff00u >> rest);
    return (a[full] & mask) == c->addr[full];
}

int gw_cidrs_match(const struct gw_cidrs *l, const char *addr, size_t len)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char tmp[64];
    unsigned char a4[4], a6[16];
    int have4 = 0, have6 = 0;
    if (l->any)
        return 1;
    if (len == 0 || len >= sizeof(tmp))
        return 0;
    memcpy(tmp, addr, len);
    tmp[len] = '\0';
    if (inet_pton(AF_INET, tmp, a4) == 1) {
        have4 = 1;
    } else if (inet_pton(AF_INET6, tmp, a6) == 1) {
        have6 = 1;
        if (memcmp(a6, mapped, 12) == 0) {
            memcpy(a4, a6 + 12, 4);
            have4 = 1;
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct gw_cidr *c = &l->v[i];
        if ((c->family == AF_INET && have4 && in_net(c, a4)) ||
            (c->family == AF_INET6 && have6 && in_net(c, a6)))
            return 1;
    }
    return 0;
}
