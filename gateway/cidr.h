/*
 * Lists of trusted networks ("127.0.0.0/8,::1", or "*" for every peer), as
 * --proxy-allow-from and --forwarded-allow-ips take them: parsed once at start-up,
 * then only read (any thread, no lock).
 */
#ifndef GW_CIDR_H
#define GW_CIDR_H

#include <stddef.h>

#define GW_MAX_CIDRS 32

struct gw_cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned bits;          /* prefix length */
    unsigned char addr[16]; /* network address (4 bytes used for AF_INET) */
};

struct gw_cidrs {
    int any; /* "*": every peer */
    size_t n;
    struct gw_cidr v[GW_MAX_CIDRS];
};

/* Parses s, a comma-separated list of ADDR or ADDR/BITS (spaces around items
 * allowed), or "*". Returns 0, or -1 with a short reason in err. */
int gw_cidrs_parse(struct gw_cidrs *out, const char *s, char *err, size_t errlen);

/* 1 when the numeric address addr[0..len) (IPv4, IPv6, or IPv4-mapped IPv6) lies in
 * one of the networks of l (or l->any), else 0 (also for text that is no address). */
int gw_cidrs_match(const struct gw_cidrs *l, const char *addr, size_t len);

#endif
