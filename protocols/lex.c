/*
 * Lexical rules shared by the request parsers (contract in lex.h): the tchar table,
 * percent-decoding, the Content-Length digits and the host of an authority.
 *
 * Invariants: no allocation, no I/O, no mutable globals; nothing is read outside the
 * caller's [in, in + n) nor written outside its out[0..n).
 */
#include "protocols/lex.h"

#include <string.h>

#include "gateway/errors.h"

/* RFC 9110 tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA. */
const unsigned char gw_lex_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

size_t gw_lex_percent_decode(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '%' && i + 2 < n) {
            int hi = gw_lex_hex_value((unsigned char)in[i + 1]);
            int lo = gw_lex_hex_value((unsigned char)in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out[o++] = (char)(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out[o++] = in[i];
    }
    return o;
}

int gw_lex_content_length(struct gw_slice v, int64_t *out)
{
    int64_t n = 0;

    if (v.ptr == NULL || v.len == 0 || v.len > GW_LEX_MAX_LENGTH_DIGITS)
        return GW_EPROTO;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c < '0' || c > '9')
            return GW_EPROTO;
        n = n * 10 + (c - '0');
    }
    *out = n;
    return 0;
}

struct gw_slice gw_lex_host_name(struct gw_slice authority, char *buf, size_t cap)
{
    size_t n = authority.len;
    const char *p = authority.ptr;
    if (n > 0 && p[0] == '[') {
        const char *e = memchr(p, ']', n);
        n = e ? (size_t)(e - p) + 1 : n;
    } else {
        const char *colon = memchr(p, ':', n);
        if (colon)
            n = (size_t)(colon - p);
    }
    if (n == 0 || n >= cap)
        return (struct gw_slice){NULL, 0};
    memcpy(buf, p, n);
    return gw_slice_make(buf, n);
}

/* The 6-bit value of a base64url character, -1 for any other byte. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long gw_lex_base64url_decode(struct gw_slice v, uint8_t *out, size_t cap)
{
    size_t n = v.len, len = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (v.ptr == NULL)
        return -1;
    if (n > 0 && v.ptr[n - 1] == '=') { /* padding: the encoded length is then whole */
        if (n % 4 != 0)
            return -1;
        n -= n >= 2 && v.ptr[n - 2] == '=' ? 2 : 1;
    }
    if (n == 0 || n % 4 == 1)
        return -1; /* one character carries 6 bits: no byte ends there */
    for (size_t i = 0; i < n; i++) {
        int d = b64url_value((unsigned char)v.ptr[i]);
        if (d < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len == cap)
                return -1;
            out[len++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)len;
}
