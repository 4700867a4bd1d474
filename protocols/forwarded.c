/*
 * Forwarded-by-a-proxy fields (see protocols/forwarded.h). Lists are split at commas
 * outside quoted strings; the items of every field of a name count as one list, in
 * order. Only the rightmost MAX_ITEMS items of a list are looked at: the rule reads
 * from the right and a trusted chain is never that long.
 */
#include "protocols/forwarded.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_ITEMS 64

struct items {
    struct gw_slice v[MAX_ITEMS];
    size_t n;
};

static struct gw_slice trim(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return gw_slice_make(p, n);
}

static void push(struct items *it, struct gw_slice s)
{
    if (it->n == MAX_ITEMS) {
        memmove(it->v, it->v + 1, (MAX_ITEMS - 1) * sizeof(it->v[0]));
        it->n--;
    }
    it->v[it->n++] = s;
}

/* Appends the comma-separated items of v (commas inside quotes do not split). */
static void split(struct items *it, struct gw_slice v)
{
    size_t start = 0;
    int quoted = 0;
    for (size_t i = 0; i <= v.len; i++) {
        if (i < v.len && v.ptr[i] == '"')
            quoted = !quoted;
        if (i == v.len || (v.ptr[i] == ',' && !quoted)) {
            push(it, trim(v.ptr + start, i - start));
            start = i + 1;
        }
    }
}

static void collect(const struct gw_field *f, size_t n, const char *name, struct items *it)
{
    it->n = 0;
    for (size_t i = 0; i < n; i++)
        if (gw_slice_eq_lower(f[i].name, name))
            split(it, f[i].value);
}

/* The value of key in one Forwarded element ("for=1.2.3.4;proto=https"), unquoted. */
static struct gw_slice param(struct gw_slice el, const char *key)
{
    size_t kl = strlen(key), start = 0;
    for (size_t i = 0; i <= el.len; i++) {
        if (i < el.len && el.ptr[i] != ';')
            continue;
        struct gw_slice pair = trim(el.ptr + start, i - start);
        start = i + 1;
        if (pair.len > kl && pair.ptr[kl] == '=' &&
            gw_slice_eq_lower(gw_slice_make(pair.ptr, kl), key)) {
            struct gw_slice v = gw_slice_make(pair.ptr + kl + 1, pair.len - kl - 1);
            if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
                v = gw_slice_make(v.ptr + 1, v.len - 2);
            return v;
        }
    }
    return gw_slice_make(NULL, 0);
}

/* The address in a for= value or an X-Forwarded-For item: "1.2.3.4", "1.2.3.4:80",
 * "[v6]", "[v6]:80", or a bare v6. ptr NULL when it is none. */
static struct gw_slice address(struct gw_slice s)
{
    char tmp[64];
    unsigned char bin[16];
    if (s.ptr == NULL || s.len == 0)
        return gw_slice_make(NULL, 0);
    if (s.ptr[0] == '[') {
        const char *close = memchr(s.ptr, ']', s.len);
        if (close == NULL)
            return gw_slice_make(NULL, 0);
        s = gw_slice_make(s.ptr + 1, (size_t)(close - s.ptr - 1));
    } else {
        const char *colon = memchr(s.ptr, ':', s.len);
        if (colon != NULL && memchr(colon + 1, ':', s.len - (size_t)(colon - s.ptr) - 1) == NULL)
            s = gw_slice_make(s.ptr, (size_t)(colon - s.ptr)); /* v4:port */
    }
    if (s.len == 0 || s.len >= sizeof(tmp))
        return gw_slice_make(NULL, 0);
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    if (inet_pton(AF_INET, tmp, bin) != 1 && inet_pton(AF_INET6, tmp, bin) != 1)
        return gw_slice_make(NULL, 0);
    return s;
}

static int scheme_of(struct gw_slice v)
{
    if (gw_slice_eq_lower(v, "https"))
        return 1;
    if (gw_slice_eq_lower(v, "http"))
        return 0;
    return -1;
}

static void note(int *https, int said)
{
    if (said == 1 || (said == 0 && *https == -1))
        *https = said;
}

static int host_chars(struct gw_slice h)
{
    if (h.len == 0 || h.len > 255)
        return 0;
    for (size_t i = 0; i < h.len; i++) {
        unsigned char c = (unsigned char)h.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
            return 0;
    }
    return 1;
}

void gw_forwarded_read(const struct gw_field *f, size_t n, const struct gw_cidrs *trusted,
                       int want_for, int want_host, struct gw_forwarded *out)
{
    struct items it, fwd;
    out->https = -1;
    out->for_addr = gw_slice_make(NULL, 0);
    out->host = gw_slice_make(NULL, 0);

    collect(f, n, "forwarded", &fwd);
    if (fwd.n > 0)
        note(&out->https, scheme_of(param(fwd.v[fwd.n - 1], "proto")));
    collect(f, n, "x-forwarded-proto", &it);
    if (it.n > 0)
        note(&out->https, scheme_of(it.v[it.n - 1]));
    collect(f, n, "x-forwarded-ssl", &it);
    if (it.n > 0 && gw_slice_eq_lower(it.v[it.n - 1], "on"))
        note(&out->https, 1);

    if (want_for) {
        int xff = 1;
        collect(f, n, "x-forwarded-for", &it);
        if (it.n == 0) {
            xff = 0;
            it = fwd;
        }
        for (size_t i = it.n; i-- > 0;) {
            struct gw_slice a = address(xff ? it.v[i] : param(it.v[i], "for"));
            out->for_addr = a;
            if (a.ptr == NULL)
                break;
            if (!gw_cidrs_match(trusted, a.ptr, a.len))
                break;
        }
    }
    if (want_host) {
        collect(f, n, "x-forwarded-host", &it);
        if (it.n > 0 && host_chars(it.v[it.n - 1]))
            out->host = it.v[it.n - 1];
    }
}
