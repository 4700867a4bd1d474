/*
 * Byte slices: a pointer and a length into a buffer somebody else owns. The parsers
 * return their results as slices into the connection's buffer (zero copy); a slice
 * is valid as long as that buffer is, which for a request means until the response
 * is finished. ptr == NULL means "absent", which is distinct from "present, empty".
 */
#ifndef GW_SLICE_H
#define GW_SLICE_H

#include <stddef.h>
#include <string.h>

struct gw_slice {
    const char *ptr;
    size_t len;
};

/* One header field or CGI variable: name and value as slices. */
struct gw_field {
    struct gw_slice name;
    struct gw_slice value;
};

#define GW_SLICE_LIT(s) ((struct gw_slice){(s), sizeof(s) - 1})

static inline struct gw_slice gw_slice_make(const char *p, size_t n)
{
    return (struct gw_slice){p, n};
}

/* 1 when s equals the NUL-terminated lit byte for byte. */
static inline int gw_slice_eq(struct gw_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* 1 when s equals lit ignoring ASCII case (lit must be lower-case). */
static inline int gw_slice_eq_lower(struct gw_slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.ptr == NULL || s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

#endif
