/*
 * Unit tests of protocols/forwarded.c and the trusted-network lists of gateway/cidr.c
 * it uses: the P05 rule of docs/hostile-inputs.md (REMOTE_ADDR is the rightmost
 * X-Forwarded-For address that is not trusted), Forwarded (RFC 7239) elements with
 * quoted, bracketed and ported addresses, the scheme fields, X-Forwarded-Host, and
 * lists that must not parse as networks.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "protocols/forwarded.h"
#include "tests/unit/support.h"

static struct gw_cidrs nets(const char *s)
{
    struct gw_cidrs l;
    char err[128];
    cr_assert_eq(gw_cidrs_parse(&l, s, err, sizeof(err)), 0, "%s: %s", s, err);
    return l;
}

static int match(const struct gw_cidrs *l, const char *a)
{
    return gw_cidrs_match(l, a, strlen(a));
}

Test(cidr, lists)
{
    struct gw_cidrs l = nets("127.0.0.0/8, ::1,10.1.2.3/8,2001:db8::/32, 192.168.1.7");
    cr_expect(match(&l, "127.9.9.9"));
    cr_expect(match(&l, "::1"));
    cr_expect(match(&l, "::ffff:127.0.0.1"));
    cr_expect(match(&l, "10.200.0.1"));
    cr_expect(match(&l, "2001:db8:ffff::1"));
    cr_expect(match(&l, "192.168.1.7"));
    cr_expect(!match(&l, "192.168.1.8"));
    cr_expect(!match(&l, "2001:db9::1"));
    cr_expect(!match(&l, "::2"));
    cr_expect(!match(&l, "unknown"));
    cr_expect(!match(&l, ""));
    struct gw_cidrs any = nets("*");
    cr_expect(match(&any, "203.0.113.5"));
    struct gw_cidrs odd = nets("10.0.0.0/12");
    cr_expect(match(&odd, "10.15.255.255"));
    cr_expect(!match(&odd, "10.16.0.0"));

    static const char *bad[] = {"",         "10.0.0.0/33", "::1/129", "10.0.0.0/", "host.example",
                                "1.2.3.4,", "1.2.3.4/8x",  "1.2.3"};
    for (size_t i = 0; i < NROWS(bad); i++) {
        struct gw_cidrs l2;
        char err[128];
        cr_expect_eq(gw_cidrs_parse(&l2, bad[i], err, sizeof(err)), -1, "%s", bad[i]);
    }
}

#define F(n, v)                                                                                    \
    {                                                                                              \
        GW_SLICE_LIT(n), GW_SLICE_LIT(v)                                                           \
    }

static void slice_is(struct gw_slice s, const char *want, const char *what)
{
    if (want == NULL) {
        cr_expect(s.ptr == NULL, "%s: got %.*s", what, (int)s.len, s.ptr ? s.ptr : "");
        return;
    }
    cr_expect(s.ptr != NULL && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0,
              "%s: got %.*s, want %s", what, (int)s.len, s.ptr ? s.ptr : "", want);
}

Test(forwarded, rightmost_untrusted)
{
    struct gw_cidrs t = nets("127.0.0.0/8,::1,10.0.0.0/8");
    struct gw_forwarded fw;
    /* a client that sends its own X-Forwarded-For: the proxies append */
    struct gw_field f1[] = {F("X-Forwarded-For", "1.1.1.1, 203.0.113.9"),
                            F("x-forwarded-for", "10.0.0.2")};
    gw_forwarded_read(f1, 2, &t, 1, 0, &fw);
    slice_is(fw.for_addr, "203.0.113.9", "two fields");
    cr_expect_eq(fw.https, -1);
    /* every hop trusted: the leftmost */
    struct gw_field f2[] = {F("X-Forwarded-For", "10.0.0.5,10.0.0.2")};
    gw_forwarded_read(f2, 1, &t, 1, 0, &fw);
    slice_is(fw.for_addr, "10.0.0.5", "all trusted");
    /* an item that is no address: none */
    struct gw_field f3[] = {F("X-Forwarded-For", "203.0.113.9, unknown, 10.0.0.2")};
    gw_forwarded_read(f3, 1, &t, 1, 0, &fw);
    slice_is(fw.for_addr, NULL, "unknown hop");
    /* not asked */
    gw_forwarded_read(f1, 2, &t, 0, 0, &fw);
    slice_is(fw.for_addr, NULL, "not asked");
    /* Forwarded, quoted v6 with a port, v4 with a port */
    struct gw_field f4[] = {
        F("Forwarded", "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\";proto=https"),
        F("Forwarded", "for=10.0.0.2:1234")};
    gw_forwarded_read(f4, 2, &t, 1, 0, &fw);
    slice_is(fw.for_addr, "2001:db8:cafe::17", "Forwarded for=");
    cr_expect_eq(fw.https, -1, "the last element says no proto");
    /* X-Forwarded-For wins over Forwarded */
    struct gw_field f5[] = {F("Forwarded", "for=192.0.2.60"), F("X-Forwarded-For", "198.51.100.1")};
    gw_forwarded_read(f5, 2, &t, 1, 0, &fw);
    slice_is(fw.for_addr, "198.51.100.1", "both");
}

Test(forwarded, scheme_and_host)
{
    struct gw_cidrs t = nets("127.0.0.1");
    struct gw_forwarded fw;
    struct gw_field a[] = {F("X-Forwarded-Proto", "HTTPS")};
    gw_forwarded_read(a, 1, &t, 0, 0, &fw);
    cr_expect_eq(fw.https, 1);
    struct gw_field b[] = {F("X-Forwarded-Proto", "https, http")};
    gw_forwarded_read(b, 1, &t, 0, 0, &fw);
    cr_expect_eq(fw.https, 0, "the last item counts");
    struct gw_field c[] = {F("X-Forwarded-Ssl", "on")};
    gw_forwarded_read(c, 1, &t, 0, 0, &fw);
    cr_expect_eq(fw.https, 1);
    struct gw_field d[] = {F("Forwarded", "for=1.2.3.4;Proto=\"https\";host=x")};
    gw_forwarded_read(d, 1, &t, 0, 0, &fw);
    cr_expect_eq(fw.https, 1);
    struct gw_field e[] = {F("X-Forwarded-Proto", "gopher"), F("X-Forwarded-Ssl", "off")};
    gw_forwarded_read(e, 2, &t, 0, 0, &fw);
    cr_expect_eq(fw.https, -1);
    struct gw_field h[] = {F("X-Forwarded-Host", "evil.example, shop.example:8443")};
    gw_forwarded_read(h, 1, &t, 0, 1, &fw);
    slice_is(fw.host, "shop.example:8443", "host");
    gw_forwarded_read(h, 1, &t, 0, 0, &fw);
    slice_is(fw.host, NULL, "host not asked");
    struct gw_field h2[] = {F("X-Forwarded-Host", "a b/c")};
    gw_forwarded_read(h2, 1, &t, 0, 1, &fw);
    slice_is(fw.host, NULL, "not host characters");
}
