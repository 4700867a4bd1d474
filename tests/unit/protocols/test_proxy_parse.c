/*
 * Unit tests of protocols/proxy_parse.c: a table of {raw bytes, versions accepted,
 * expected verdict and fields} for the PROXY protocol rows of docs/hostile-inputs.md
 * (P02, P03, P06) and for headers as HAProxy sends them (send-proxy, send-proxy-v2, with
 * the SSL TLV of send-proxy-v2-ssl, with the CRC32C TLV of proxy-v2-options crc32c). Every input is
 * also fed as each of its prefixes, an exact-size heap copy each (ASan reports a read past it): a
 * prefix of a header must answer MORE, and the whole input the same verdict every time, however it
 * was cut, since the caller calls again with the longer buffer.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/proxy_parse.h"
#include "tests/unit/support.h"

#define V12  (GW_PROXY_V1 | GW_PROXY_V2)
#define AUTO (GW_PROXY_V1 | GW_PROXY_V2 | GW_PROXY_OPTIONAL)
#define SIG2 "\r\n\r\n\0\r\nQUIT\n"

struct row {
    const char *name;
    const char *data;
    size_t len; /* 0: strlen(data) */
    int accept;
    const char *want; /* "DONE ...", "NONE", "MORE", "ERROR" */
};

/* The verdict on p[0..n) as text. */
static void describe(const char *p, size_t n, int accept, char *out, size_t cap)
{
    struct gw_proxy_info info;
    char *copy = exact_copy(p, n);
    enum gw_proxy_result rc = gw_proxy_parse(copy, n, accept, &info);
    free(copy);
    switch (rc) {
    case GW_PROXY_MORE:
        snprintf(out, cap, "MORE");
        break;
    case GW_PROXY_NONE:
        snprintf(out, cap, "NONE");
        break;
    case GW_PROXY_ERROR:
        cr_assert(info.why != NULL);
        snprintf(out, cap, "ERROR");
        break;
    case GW_PROXY_DONE:
        cr_assert(info.len > 0 && info.len <= n);
        if (info.local)
            snprintf(out, cap, "DONE %zu v%d local", info.len, info.version);
        else
            snprintf(out, cap, "DONE %zu v%d %s:%s -> %s:%s%s", info.len, info.version,
                     info.src_addr, info.src_port, info.dst_addr, info.dst_port,
                     info.ssl ? " ssl" : "");
        break;
    }
}

static const struct row rows[] = {
    /* v1 as HAProxy send-proxy writes it */
    {"v1 tcp4", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n", 0, V12,
     "DONE 47 v1 192.168.0.1:56324 -> 192.168.0.11:443"},
    {"v1 tcp6", "PROXY TCP6 2001:db8::1 2001:DB8::2 1 65535\r\n", 0, GW_PROXY_V1,
     "DONE 44 v1 2001:db8::1:1 -> 2001:db8::2:65535"},
    {"v1 unknown", "PROXY UNKNOWN ffff:f...f:ffff 1 2 3\r\nGET", 0, AUTO, "DONE 37 v1 local"},
    {"v1 bare unknown", "PROXY UNKNOWN\r\n", 0, V12, "DONE 15 v1 local"},
    /* P02: malformed v1 (the gunicorn corpus invalid/pp_01..03 among them) */
    {"v1 cut address", "PROXY TCP4 192.168.0.1 192.16...\r\n", 0, AUTO, "ERROR"},
    {"v1 bad ports", "PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n", 0, AUTO, "ERROR"},
    {"v1 not an ip", "PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n", 0, AUTO, "ERROR"},
    {"v1 v6 in tcp4", "PROXY TCP4 ::1 ::1 1 2\r\n", 0, AUTO, "ERROR"},
    {"v1 port over 65535", "PROXY TCP4 1.2.3.4 1.2.3.4 65536 80\r\n", 0, AUTO, "ERROR"},
    {"v1 leading zero port", "PROXY TCP4 1.2.3.4 1.2.3.4 080 80\r\n", 0, AUTO, "ERROR"},
    {"v1 double space", "PROXY TCP4  1.2.3.4 1.2.3.4 1 80\r\n", 0, AUTO, "ERROR"},
    {"v1 extra field", "PROXY TCP4 1.2.3.4 1.2.3.4 1 80 9\r\n", 0, AUTO, "ERROR"},
    {"v1 LF only", "PROXY TCP4 1.2.3.4 1.2.3.4 1 80\n", 0, AUTO, "ERROR"},
    {"v1 CR then X", "PROXY TCP4 1.2.3.4 1.2.3.4 1 80\rX", 0, AUTO, "ERROR"},
    {"v1 NUL", "PROXY TCP4 1.2.3.4\0", 19, AUTO, "ERROR"},
    {"v1 udp", "PROXY UDP4 1.2.3.4 1.2.3.4 1 80\r\n", 0, AUTO, "ERROR"},
    {"v1 too long",
     "PROXY UNKNOWN "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
     0, AUTO, "ERROR"},
    {"v1 not accepted", "PROXY TCP4 1.2.3.4 1.2.3.4 1 80\r\n", 0, GW_PROXY_V2, "ERROR"},
    /* P03 and auto */
    {"http, required", "GET / HTTP/1.1\r\n", 0, V12, "ERROR"},
    {"http, auto", "GET / HTTP/1.1\r\n", 0, AUTO, "NONE"},
    {"PROPFIND, auto", "PROPFIND / HTTP/1.1\r\n", 0, AUTO, "NONE"},
    {"h2 preface, auto", "PRI * HTTP/2.0\r\n", 0, AUTO, "NONE"},
    {"tls, auto", "\x16\x03\x01\x02\x00\x01", 0, AUTO, "NONE"},
    /* v2 as send-proxy-v2 writes it (the corpus valid/pp_04, pp_05) */
    {"v2 tcp4", SIG2 "\x21\x11\x00\x0c\xc0\xa8\x01\x0a\xc0\xa8\x01\x01\x30\x39\x01\xbbGET", 31,
     AUTO, "DONE 28 v2 192.168.1.10:12345 -> 192.168.1.1:443"},
    {"v2 tcp6",
     SIG2 "\x21\x21\x00\x24 \x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01 \x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0"
          "\0\x02\xd4\x31\x00\x50",
     52, V12, "DONE 52 v2 2001:db8::1:54321 -> 2001:db8::2:80"},
    {"v2 local", SIG2 "\x20\x00\x00\x00", 16, V12, "DONE 16 v2 local"},
    {"v2 local with a block", SIG2 "\x20\x11\x00\x03\x01\x02\x03", 19, V12, "DONE 19 v2 local"},
    {"v2 unspec", SIG2 "\x21\x00\x00\x00", 16, V12, "DONE 16 v2 local"},
    {"v2 ssl tlv, client bit",
     SIG2 "\x21\x11\x00\x1e\x7f\0\0\x01\x7f\0\0\x01\x00\x01\x00\x02"
          "\x20\x00\x0c\x01\x00\x00\x00\x00\x21\x00\x04TLS1"
          "\x04\x00\x00",
     46, V12, "DONE 46 v2 127.0.0.1:1 -> 127.0.0.1:2 ssl"},
    {"v2 ssl tlv, no client bit",
     SIG2 "\x21\x11\x00\x14\x7f\0\0\x01\x7f\0\0\x01\x00\x01\x00\x02"
          "\x20\x00\x05\x00\x00\x00\x00\x00",
     36, V12, "DONE 36 v2 127.0.0.1:1 -> 127.0.0.1:2"},
    /* v2 with the CRC32C TLV, as HAProxy 2.6 writes it with `send-proxy-v2
     * proxy-v2-options crc32c` (and `,unique-id`: an empty unique-id TLV after it) */
    {"v2 crc32c",
     SIG2 "\x21\x11\x00\x13\x7f\0\0\x01\x7f\0\0\x01\x98\xb0\xd2\xe3"
          "\x03\x00\x04\x58\x93\x9f\x6cGET",
     38, V12, "DONE 35 v2 127.0.0.1:39088 -> 127.0.0.1:53987"},
    {"v2 crc32c then unique-id",
     SIG2 "\x21\x11\x00\x16\x7f\0\0\x01\x7f\0\0\x01\xbb\x92\xe4\xf7"
          "\x03\x00\x04\x66\xa1\x64\x2d\x05\x00\x00",
     38, AUTO, "DONE 38 v2 127.0.0.1:48018 -> 127.0.0.1:58615"},
    /* P02: the CRC32C TLV does not match (a bit flipped in the source address, in the
     * checksum, in a TLV after it), is not 4 bytes long, or comes twice */
    {"v2 crc32c, address bit flipped",
     SIG2 "\x21\x11\x00\x13\x7e\0\0\x01\x7f\0\0\x01\x98\xb0\xd2\xe3"
          "\x03\x00\x04\x58\x93\x9f\x6c",
     35, V12, "ERROR"},
    {"v2 crc32c, checksum bit flipped",
     SIG2 "\x21\x11\x00\x13\x7f\0\0\x01\x7f\0\0\x01\x98\xb0\xd2\xe3"
          "\x03\x00\x04\x58\x93\x9f\x6d",
     35, AUTO, "ERROR"},
    {"v2 crc32c, later tlv bit flipped",
     SIG2 "\x21\x11\x00\x16\x7f\0\0\x01\x7f\0\0\x01\xbb\x92\xe4\xf7"
          "\x03\x00\x04\x66\xa1\x64\x2d\x04\x00\x00",
     38, AUTO, "ERROR"},
    {"v2 crc32c, 3 bytes",
     SIG2 "\x21\x11\x00\x12\x7f\0\0\x01\x7f\0\0\x01\x98\xb0\xd2\xe3"
          "\x03\x00\x03\x58\x93\x9f",
     34, V12, "ERROR"},
    {"v2 crc32c, 5 bytes",
     SIG2 "\x21\x11\x00\x14\x7f\0\0\x01\x7f\0\0\x01\x98\xb0\xd2\xe3"
          "\x03\x00\x05\x58\x93\x9f\x6c\x00",
     36, V12, "ERROR"},
    {"v2 crc32c twice",
     SIG2 "\x21\x11\x00\x1a\x7f\0\0\x01\x7f\0\0\x01\x98\xb0\xd2\xe3"
          "\x03\x00\x04\x58\x93\x9f\x6c\x03\x00\x04\x58\x93\x9f\x6c",
     42, V12, "ERROR"},
    /* P02: v2 with lying lengths */
    {"v2 tlv past the end",
     SIG2 "\x21\x11\x00\x10\x7f\0\0\x01\x7f\0\0\x01\x00\x01\x00\x02\x04\x00\x09X", 32, V12,
     "ERROR"},
    {"v2 tlv head cut", SIG2 "\x21\x11\x00\x0e\x7f\0\0\x01\x7f\0\0\x01\x00\x01\x00\x02\x04\x00", 30,
     V12, "ERROR"},
    {"v2 ssl tlv too short",
     SIG2 "\x21\x11\x00\x10\x7f\0\0\x01\x7f\0\0\x01\x00\x01\x00\x02\x20\x00\x01\x01", 32, V12,
     "ERROR"},
    {"v2 ssl sub-tlv past the end",
     SIG2 "\x21\x11\x00\x14\x7f\0\0\x01\x7f\0\0\x01\x00\x01\x00\x02"
          "\x20\x00\x08\x01\x00\x00\x00\x00\x21\x00\x09",
     36, V12, "ERROR"},
    {"v2 length under the address block", SIG2 "\x21\x11\x00\x04\x7f\0\0\x01", 20, V12, "ERROR"},
    {"v2 oversized", SIG2 "\x21\x11\xff\xff", 16, V12, "ERROR"},
    {"v2 version 1", SIG2 "\x11\x11\x00\x0c", 16, V12, "ERROR"},
    {"v2 command 2", SIG2 "\x22\x11\x00\x0c", 16, V12, "ERROR"},
    {"v2 udp", SIG2 "\x21\x12\x00\x0c\x7f\0\0\x01\x7f\0\0\x01\x00\x01\x00\x02", 28, V12, "ERROR"},
    {"v2 not accepted", SIG2 "\x21\x00\x00\x00", 16, GW_PROXY_V1, "ERROR"},
    {"v2 bad signature", "\r\n\r\n\0\r\nQUIX\n\x21\x00\x00\x00", 16, AUTO, "NONE"},
};

Test(proxy_parse, table)
{
    for (size_t i = 0; i < NROWS(rows); i++) {
        const struct row *r = &rows[i];
        size_t n = r->len ? r->len : strlen(r->data);
        char got[200], part[200];
        describe(r->data, n, r->accept, got, sizeof(got));
        cr_expect_str_eq(got, r->want, "%s: got %s", r->name, got);
        /* Every prefix: MORE while it is still a header's start, else the same verdict
         * (garbage may be refused earlier). A prefix of a header that is DONE is MORE. */
        size_t hl = 0;
        if (strncmp(r->want, "DONE ", 5) == 0)
            hl = strtoul(r->want + 5, NULL, 10);
        for (size_t k = 0; k < n; k++) {
            describe(r->data, k, r->accept, part, sizeof(part));
            if (hl > 0 && k < hl)
                cr_expect_str_eq(part, "MORE", "%s: prefix %zu: %s", r->name, k, part);
            else if (hl > 0)
                cr_expect_str_eq(part, got, "%s: prefix %zu: %s", r->name, k, part);
            else
                cr_expect(strcmp(part, "MORE") == 0 || strcmp(part, got) == 0,
                          "%s: prefix %zu: %s, whole %s", r->name, k, part, got);
        }
    }
}
