/*
 * The PROXY protocol header parser (see protocols/proxy_parse.h): version 1, a text
 * line ("PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n"), and version 2, a 16-byte binary
 * head with an address block and TLVs. Pure: the verdict depends only on the bytes
 * given, so the caller simply calls again with more of them; a header is at most
 * GW_PROXY_MAX bytes, which bounds the work of doing so.
 *
 * Strict where the spec is: single spaces, CRLF, ports without leading zeros, numeric
 * addresses of the named family, a v2 version nibble of 2, a known command, every TLV
 * (and the SSL TLV's sub-TLVs) inside the length the head declares. A v2 CRC32C TLV
 * (HAProxy `proxy-v2-options crc32c`) is verified: CRC32C (Castagnoli) of the whole
 * header with the checksum's four bytes zeroed, bit by bit (a header is at most
 * GW_PROXY_MAX bytes and is checked once, when whole). A LOCAL header's block is
 * discarded unread, its TLVs with it.
 */
#include "protocols/proxy_parse.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const char v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const char v2_sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

#define PP2_TYPE_CRC32C 0x03
#define PP2_TYPE_SSL    0x20
#define PP2_CLIENT_SSL  0x01
#define V2_HEAD         16

static enum gw_proxy_result fail(struct gw_proxy_info *info, const char *why)
{
    info->why = why;
    return GW_PROXY_ERROR;
}

static int prefix_of(const char *p, size_t n, const char *sig, size_t siglen)
{
    return memcmp(p, sig, n < siglen ? n : siglen) == 0;
}

/* A decimal port, 0..65535, without leading zeros: 0 and its text in out, or -1. */
static int v1_port(const char *p, size_t n, char out[6])
{
    unsigned long v = 0;
    if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > 65535)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* A numeric address of family af: 0 and its canonical text in out, or -1. */
static int v1_addr(const char *p, size_t n, int af, char out[46])
{
    char tmp[46];
    unsigned char bin[16];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (inet_pton(af, tmp, bin) != 1 || inet_ntop(af, bin, out, 46) == NULL)
        return -1;
    return 0;
}

static enum gw_proxy_result parse_v1(const char *p, size_t n, struct gw_proxy_info *info)
{
    size_t lim = n < GW_PROXY_V1_MAX ? n : GW_PROXY_V1_MAX, lf = 0;
    for (size_t i = 0; i < lim; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\r') {
            if (i + 1 == n)
                return GW_PROXY_MORE;
            if (p[i + 1] != '\n')
                return fail(info, "v1: CR without LF");
            lf = i + 1;
            break;
        }
        if (ch < 0x20 || ch > 0x7e)
            return fail(info, "v1: a control byte in the line");
    }
    if (lf == 0)
        return n >= GW_PROXY_V1_MAX ? fail(info, "v1: line longer than 107 bytes") : GW_PROXY_MORE;
    /* Tokens of the line between "PROXY " and CRLF, split at single spaces. */
    const char *tok[6];
    size_t tlen[6], nt = 0, end = lf - 1, start = sizeof(v1_sig);
    for (size_t i = start; i <= end; i++) {
        if (i == end || p[i] == ' ') {
            if (nt == 6)
                return fail(info, "v1: too many fields");
            tok[nt] = p + start;
            tlen[nt] = i - start;
            nt++;
            start = i + 1;
            if (nt == 1 && tlen[0] == 7 && memcmp(tok[0], "UNKNOWN", 7) == 0)
                break; /* the rest of the line is ignored */
        }
    }
    info->len = lf + 1;
    info->version = 1;
    if (nt >= 1 && tlen[0] == 7 && memcmp(tok[0], "UNKNOWN", 7) == 0) {
        info->local = 1;
        return GW_PROXY_DONE;
    }
    if (nt != 5)
        return fail(info, "v1: wrong number of fields");
    int af;
    if (tlen[0] == 4 && memcmp(tok[0], "TCP4", 4) == 0)
        af = AF_INET;
    else if (tlen[0] == 4 && memcmp(tok[0], "TCP6", 4) == 0)
        af = AF_INET6;
    else
        return fail(info, "v1: unknown protocol");
    if (v1_addr(tok[1], tlen[1], af, info->src_addr) != 0 ||
        v1_addr(tok[2], tlen[2], af, info->dst_addr) != 0)
        return fail(info, "v1: bad address");
    if (v1_port(tok[3], tlen[3], info->src_port) != 0 ||
        v1_port(tok[4], tlen[4], info->dst_port) != 0)
        return fail(info, "v1: bad port");
    return GW_PROXY_DONE;
}

static unsigned be16(const unsigned char *b)
{
    return (unsigned)b[0] << 8 | b[1];
}

/* CRC32C (Castagnoli, reflected polynomial 0x82f63b78) of p[0..n) continued from crc
 * (start with 0xffffffff; the final value is the complement). */
static uint32_t crc32c_update(uint32_t crc, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return crc;
}

/* 1 when the CRC32C TLV whose value is at h[at..at + 4) matches h[0..n). */
static int crc32c_matches(const unsigned char *h, size_t n, size_t at)
{
    static const unsigned char zero[4];
    uint32_t want =
        (uint32_t)h[at] << 24 | (uint32_t)h[at + 1] << 16 | (uint32_t)h[at + 2] << 8 | h[at + 3];
    uint32_t crc = crc32c_update(0xffffffffu, h, at);
    crc = crc32c_update(crc, zero, sizeof(zero));
    crc = crc32c_update(crc, h + at + 4, n - at - 4);
    return ~crc == want;
}

/* TLVs in b[0..n): each type(1) length(2) value. top: the header's own list (not an
 * SSL TLV's sub-TLVs), where the SSL TLV sets info->ssl and a CRC32C TLV's value
 * offset in b goes to *crc_at (left alone when there is none). Returns NULL, or why
 * the list is malformed: a TLV past n, an SSL TLV under its 5 fixed bytes, a CRC32C
 * TLV not 4 bytes long or a second one. */
static const char *walk_tlvs(const unsigned char *b, size_t n, int top, size_t *crc_at,
                             struct gw_proxy_info *info)
{
    size_t pos = 0;
    const char *why;
    while (pos < n) {
        if (n - pos < 3)
            return "v2: a TLV runs past the header's end";
        size_t len = be16(b + pos + 1);
        if (len > n - pos - 3)
            return "v2: a TLV runs past the header's end";
        const unsigned char *v = b + pos + 3;
        if (top && b[pos] == PP2_TYPE_SSL) {
            /* client(1) verify(4) then sub-TLVs */
            if (len < 5)
                return "v2: an SSL TLV shorter than 5 bytes";
            if ((why = walk_tlvs(v + 5, len - 5, 0, crc_at, info)) != NULL)
                return why;
            info->ssl = (v[0] & PP2_CLIENT_SSL) != 0;
        } else if (top && b[pos] == PP2_TYPE_CRC32C) {
            if (len != 4)
                return "v2: a CRC32C TLV not 4 bytes long";
            if (*crc_at != 0)
                return "v2: two CRC32C TLVs";
            *crc_at = pos + 3;
        }
        pos += 3 + len;
    }
    return NULL;
}

static enum gw_proxy_result parse_v2(const char *p, size_t n, struct gw_proxy_info *info)
{
    const unsigned char *b = (const unsigned char *)p;
    if (n < V2_HEAD)
        return GW_PROXY_MORE;
    if ((b[12] >> 4) != 2)
        return fail(info, "v2: version is not 2");
    unsigned cmd = b[12] & 0x0f;
    if (cmd > 1)
        return fail(info, "v2: unknown command");
    size_t len = be16(b + 14);
    if (V2_HEAD + len > GW_PROXY_MAX)
        return fail(info, "v2: header longer than 4096 bytes");
    if (n < V2_HEAD + len)
        return GW_PROXY_MORE;
    info->len = V2_HEAD + len;
    info->version = 2;
    if (cmd == 0) { /* LOCAL: the balancer's own connection (a health check) */
        info->local = 1;
        return GW_PROXY_DONE;
    }
    size_t alen;
    switch (b[13]) {
    case 0x00: /* UNSPEC */
        alen = 0;
        break;
    case 0x11: /* TCP over IPv4 */
        alen = 12;
        break;
    case 0x21: /* TCP over IPv6 */
        alen = 36;
        break;
    case 0x31: /* a unix stream socket: no address to report */
        alen = 216;
        break;
    default:
        return fail(info, "v2: not a stream of a known family");
    }
    if (len < alen)
        return fail(info, "v2: address block past the declared length");
    const unsigned char *a = b + V2_HEAD;
    if (b[13] == 0x11 || b[13] == 0x21) {
        int af = b[13] == 0x11 ? AF_INET : AF_INET6;
        size_t w = b[13] == 0x11 ? 4 : 16;
        if (inet_ntop(af, a, info->src_addr, sizeof(info->src_addr)) == NULL ||
            inet_ntop(af, a + w, info->dst_addr, sizeof(info->dst_addr)) == NULL)
            return fail(info, "v2: bad address");
        unsigned sp = be16(a + 2 * w), dp = be16(a + 2 * w + 2);
        snprintf(info->src_port, sizeof(info->src_port), "%u", sp);
        snprintf(info->dst_port, sizeof(info->dst_port), "%u", dp);
    } else {
        info->local = 1;
    }
    size_t crc_at = 0; /* the CRC32C value's offset in the TLVs; 0: none (never 0 if any) */
    const char *why = walk_tlvs(a + alen, len - alen, 1, &crc_at, info);
    if (why != NULL)
        return fail(info, why);
    if (crc_at != 0 && !crc32c_matches(b, info->len, V2_HEAD + alen + crc_at))
        return fail(info, "v2: CRC32C mismatch");
    return GW_PROXY_DONE;
}

enum gw_proxy_result gw_proxy_parse(const char *p, size_t n, int accept, struct gw_proxy_info *info)
{
    memset(info, 0, sizeof(*info));
    if (n == 0)
        return GW_PROXY_MORE;
    int v1 = (accept & GW_PROXY_V1) && prefix_of(p, n, v1_sig, sizeof(v1_sig));
    int v2 = (accept & GW_PROXY_V2) && prefix_of(p, n, v2_sig, sizeof(v2_sig));
    if (!v1 && !v2)
        return (accept & GW_PROXY_OPTIONAL) ? GW_PROXY_NONE : fail(info, "no PROXY header");
    if (v1)
        return n < sizeof(v1_sig) ? GW_PROXY_MORE : parse_v1(p, n, info);
    return n < sizeof(v2_sig) ? GW_PROXY_MORE : parse_v2(p, n, info);
}
