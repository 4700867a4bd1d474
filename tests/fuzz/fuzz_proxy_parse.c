/*
 * libFuzzer harness for protocols/proxy_parse.c: the input is what a peer sends first
 * to an --http/--https listener under --proxy-protocol. The verdict on the whole
 * input, for each accepted-versions setting, must be reached again from every shorter
 * prefix (MORE until a header is complete, then the same answer), the header length
 * must lie inside the input, and the address texts must be NUL-terminated. Every call
 * gets an exact-size heap copy, so ASan catches any over-read.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. protocols/proxy_parse.c
 *        tests/fuzz/fuzz_proxy_parse.c -o fuzz_proxy
 * Run:   mkdir -p /tmp/fpp && cp -r tests/fuzz/corpus/proxy/. /tmp/fpp/ && ./fuzz_proxy /tmp/fpp
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/proxy_parse.h"

static enum gw_proxy_result parse_copy(const uint8_t *data, size_t n, int accept,
                                       struct gw_proxy_info *info)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, data, n);
    enum gw_proxy_result rc = gw_proxy_parse(c, n, accept, info);
    free(c);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int modes[] = {GW_PROXY_V1, GW_PROXY_V2, GW_PROXY_V1 | GW_PROXY_V2,
                                GW_PROXY_V1 | GW_PROXY_V2 | GW_PROXY_OPTIONAL};
    if (size > GW_PROXY_MAX + 64)
        return 0;
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        struct gw_proxy_info info, part;
        enum gw_proxy_result rc = parse_copy(data, size, modes[m], &info);
        if (rc == GW_PROXY_DONE) {
            if (info.len == 0 || info.len > size || info.len > GW_PROXY_MAX)
                abort();
            if (memchr(info.src_addr, 0, sizeof(info.src_addr)) == NULL ||
                memchr(info.dst_addr, 0, sizeof(info.dst_addr)) == NULL ||
                memchr(info.src_port, 0, sizeof(info.src_port)) == NULL)
                abort();
        }
        if (rc == GW_PROXY_ERROR && info.why == NULL)
            abort();
        /* A few prefixes (all of them for short inputs): never a different answer
         * than MORE or the whole one, and MORE before a header's end. */
        size_t step = size > 256 ? size / 64 : 1;
        for (size_t k = 0; k < size; k += step) {
            enum gw_proxy_result p = parse_copy(data, k, modes[m], &part);
            if (rc == GW_PROXY_DONE && k < info.len && p != GW_PROXY_MORE)
                abort();
            if (rc == GW_PROXY_DONE && k >= info.len && (p != rc || part.len != info.len))
                abort();
            if (rc != GW_PROXY_DONE && p != GW_PROXY_MORE && p != rc)
                abort();
        }
    }
    return 0;
}
