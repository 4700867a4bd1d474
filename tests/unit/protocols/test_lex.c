/*
 * Unit tests of protocols/lex.c: the tchar table, hex digits, percent-decoding (into
 * another buffer and in place) and the Content-Length digits rule the HTTP, CGI and
 * SCGI parsers share. Inputs are exact-size heap copies, so ASan reports any
 * over-read.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/errors.h"
#include "protocols/lex.h"
#include "tests/unit/support.h"

Test(lex, tchar)
{
    const char *yes = "!#$%&'*+-.^_`|~09azAZ";
    const char *no = " \t\"(),/:;<=>?@[\\]{}\x7f";
    for (const char *p = yes; *p; p++)
        cr_assert(gw_lex_is_tchar((unsigned char)*p), "%c", *p);
    for (const char *p = no; *p; p++)
        cr_assert(!gw_lex_is_tchar((unsigned char)*p), "%c", *p);
    for (int c = 0; c < 0x20; c++)
        cr_assert(!gw_lex_is_tchar((unsigned char)c));
    for (int c = 0x80; c < 0x100; c++)
        cr_assert(!gw_lex_is_tchar((unsigned char)c));
    int n = 0;
    for (int c = 0; c < 0x100; c++)
        n += gw_lex_is_tchar((unsigned char)c);
    cr_assert_eq(n, 15 + 10 + 52, "exactly the 77 tchars");
}

Test(lex, hex_value)
{
    for (int c = 0; c < 0x100; c++) {
        int want = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        cr_assert_eq(gw_lex_hex_value((unsigned char)c), want, "0x%02x", c);
    }
}

Test(lex, percent_decode)
{
    static const struct {
        const char *in, *out;
        size_t out_len;
    } cases[] = {
        {"/plain", "/plain", 6}, {"/a%20b", "/a b", 4},
        {"/%2F%2f", "///", 3},   {"/caf%C3%A9", "/caf\xc3\xa9", 6},
        {"/%00x", "/\0x", 3},    {"/bad%zz", "/bad%zz", 7},
        {"/end%4", "/end%4", 6}, {"/end%", "/end%", 5},
        {"%41%42", "AB", 2},     {"", "", 0},
        {"%%41", "%A", 2},       {"%4%41", "%4A", 3},
    };
    for (size_t i = 0; i < NROWS(cases); i++) {
        size_t n = strlen(cases[i].in);
        char *in = exact_copy(cases[i].in, n);
        char *out = malloc(n + 1);
        cr_assert(out != NULL);
        size_t got = gw_lex_percent_decode(in, n, out);
        cr_expect_eq(got, cases[i].out_len, "%s: length %zu", cases[i].in, got);
        cr_expect(memcmp(out, cases[i].out, cases[i].out_len) == 0, "%s", cases[i].in);
        /* in place */
        got = gw_lex_percent_decode(in, n, in);
        cr_expect_eq(got, cases[i].out_len);
        cr_expect(memcmp(in, cases[i].out, cases[i].out_len) == 0, "%s in place", cases[i].in);
        free(in);
        free(out);
    }
}

Test(lex, content_length)
{
    static const struct {
        const char *in;
        int rc;
        int64_t value;
    } cases[] = {
        {"0", 0, 0},
        {"5", 0, 5},
        {"007", 0, 7},
        {"999999999999999999", 0, 999999999999999999},
        {"1000000000000000000", GW_EPROTO, 0}, /* 19 digits */
        {"18446744073709551621", GW_EPROTO, 0},
        {"", GW_EPROTO, 0},
        {"+5", GW_EPROTO, 0},
        {"-1", GW_EPROTO, 0},
        {"0x5", GW_EPROTO, 0},
        {"1_0", GW_EPROTO, 0},
        {"1 0", GW_EPROTO, 0},
        {" 5", GW_EPROTO, 0},
        {"5 ", GW_EPROTO, 0},
        {"5, 5", GW_EPROTO, 0},
        {"5.0", GW_EPROTO, 0},
        {"\xd9\xa5", GW_EPROTO, 0}, /* a non-ASCII digit */
    };
    for (size_t i = 0; i < NROWS(cases); i++) {
        size_t n = strlen(cases[i].in);
        char *in = exact_copy(cases[i].in, n);
        int64_t v = -42;
        int rc = gw_lex_content_length(gw_slice_make(in, n), &v);
        cr_expect_eq(rc, cases[i].rc, "'%s': %d", cases[i].in, rc);
        cr_expect_eq(v, rc == 0 ? cases[i].value : -42, "'%s': value %lld", cases[i].in,
                     (long long)v);
        free(in);
    }
    int64_t v = -42;
    cr_expect_eq(gw_lex_content_length(gw_slice_make(NULL, 0), &v), GW_EPROTO);
    cr_expect_eq(v, -42);
}

/* ---- gw_lex_host_name ------------------------------------------------------------ */

Test(lex, host_name_of_an_authority)
{
    static const struct {
        const char *in, *want; /* want NULL: refused */
    } cases[] = {
        {"example.com", "example.com"},
        {"example.com:8080", "example.com"},
        {"[::1]:8000", "[::1]"},
        {"[::1]", "[::1]"},
        {"[::1", "[::1"}, /* no closing bracket: all of it, as before */
        {"", NULL},
        {":80", NULL},
    };
    char buf[16];
    for (size_t i = 0; i < NROWS(cases); i++) {
        size_t n = strlen(cases[i].in);
        char *in = exact_copy(cases[i].in, n);
        struct gw_slice s = gw_lex_host_name(gw_slice_make(in, n), buf, sizeof(buf));
        if (cases[i].want == NULL)
            cr_expect(s.ptr == NULL && s.len == 0, "'%s'", cases[i].in);
        else
            cr_expect(s.ptr == buf && s.len == strlen(cases[i].want) &&
                          memcmp(buf, cases[i].want, s.len) == 0,
                      "'%s' -> '%.*s'", cases[i].in, (int)s.len, s.ptr ? s.ptr : "");
        free(in);
    }
    /* a host that does not fit buf (with room for nothing more) is refused */
    const char *big = "a-very-long-hostname.example:1";
    struct gw_slice s = gw_lex_host_name(gw_slice_make(big, strlen(big)), buf, sizeof(buf));
    cr_expect(s.ptr == NULL && s.len == 0);
    s = gw_lex_host_name(gw_slice_make("abcdefghijklmno", 15), buf, sizeof(buf));
    cr_expect(s.len == 15, "15 bytes fit a 16-byte buffer");
}

Test(lex, base64url_decode)
{
    static const struct {
        const char *in, *want; /* want NULL: refused */
        long n;
    } cases[] = {
        {"AAMAAABkAAQAAP__", "\x00\x03\x00\x00\x00\x64\x00\x04\x00\x00\xff\xff", 12},
        {"YQ", "a", 1},
        {"YQ==", "a", 1},
        {"YWI", "ab", 2},
        {"YWI=", "ab", 2},
        {"YWJj", "abc", 3},
        {"-_-_", "\xfb\xff\xbf", 3},
        {"", NULL, -1},
        {"Y", NULL, -1},     /* 6 bits: no byte */
        {"YWJjZ", NULL, -1}, /* 5 characters: 30 bits */
        {"YQ=", NULL, -1},   /* padding that does not make a whole group */
        {"=", NULL, -1},
        {"====", NULL, -1},
        {"YW+j", NULL, -1}, /* plain base64's alphabet */
        {"YW/j", NULL, -1},
        {"YW j", NULL, -1},
        {"YQ==YQ==", NULL, -1},
    };
    uint8_t out[16];
    for (size_t i = 0; i < NROWS(cases); i++) {
        size_t n = strlen(cases[i].in);
        char *in = exact_copy(cases[i].in, n);
        long got = gw_lex_base64url_decode(gw_slice_make(in, n), out, sizeof(out));
        cr_expect(got == cases[i].n, "'%s': %ld", cases[i].in, got);
        if (cases[i].want != NULL && got == cases[i].n)
            cr_expect(memcmp(out, cases[i].want, (size_t)got) == 0, "'%s'", cases[i].in);
        free(in);
    }
    /* never past cap: 12 bytes do not fit 11 */
    cr_expect(gw_lex_base64url_decode(GW_SLICE_LIT("AAMAAABkAAQAAP__"), out, 11) == -1);
    cr_expect(gw_lex_base64url_decode(GW_SLICE_LIT("AAMAAABkAAQAAP__"), out, 12) == 12);
}
