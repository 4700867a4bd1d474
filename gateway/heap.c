/*
 * The C heap's settings (see gateway/heap.h): glibc's mallopt, unless the user set
 * the same thresholds through the environment, and malloc_trim for an idle process.
 */
#include "gateway/heap.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define MMAP_THRESHOLD (32 << 20) /* glibc's own largest adaptive value on 64-bit */
#define TRIM_THRESHOLD (64 << 20) /* twice it, as glibc's adaptive rule would set */

static int user_set(void)
{
    const char *t = getenv("GLIBC_TUNABLES");
    if (t != NULL && (strstr(t, "glibc.malloc.mmap_threshold") != NULL ||
                      strstr(t, "glibc.malloc.trim_threshold") != NULL))
        return 1;
    return getenv("MALLOC_MMAP_THRESHOLD_") != NULL || getenv("MALLOC_TRIM_THRESHOLD_") != NULL;
}

int gw_heap_tune(void)
{
    if (user_set())
        return 0;
    /* mallopt returns 1 on success; either setting alone still helps. */
    int ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    ok |= mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    return ok ? 1 : 0;
}

int gw_heap_trim(void)
{
    return malloc_trim(0);
}
