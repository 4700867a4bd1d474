/*
 * The C heap's settings for a server whose requests allocate large blocks (a 1 MiB
 * request body read through wsgi.input is one 1 MiB bytes object from malloc), and
 * giving freed memory back to the system when the process idles.
 *
 * With glibc's defaults such a block is mapped for each request and unmapped after it,
 * or, once glibc's adaptive thresholds have grown, taken from a thread's arena whose
 * free top is handed back (madvise) as soon as it passes twice the block: either way
 * the next request faults the pages in again, one fault per 4 KiB. Measured on the
 * bench's echo row (1 MiB POST read and sent back, 16 connections): about 160 page
 * faults and 350 µs of CPU per request, 40% of the request's cost. See
 * docs/operations.md, "Memory a request frees".
 */
#ifndef GW_HEAP_H
#define GW_HEAP_H

/* Blocks below 32 MiB come from the arenas and up to 64 MiB of free memory may stay
 * at an arena's top (mallopt M_MMAP_THRESHOLD, M_TRIM_THRESHOLD): what a request
 * freed serves the next one without faults. Does nothing when the environment sets
 * either itself (GLIBC_TUNABLES' glibc.malloc.mmap_threshold or trim_threshold,
 * MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_): the user's choice stands. Call
 * once, early in main, before any thread starts. Returns 1 when it changed the
 * settings, 0 when it left them. */
int gw_heap_tune(void);

/* Gives the arenas' free memory back to the system (malloc_trim). For a process that
 * has been idle for a while: it walks every arena under its lock. Any thread. Returns 1
 * when memory went back, 0 when there was none to give. */
int gw_heap_trim(void);

#endif
