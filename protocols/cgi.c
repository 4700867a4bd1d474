/*
 * CGI variables -> struct gw_request (contract in cgi.h), shared by the FastCGI, SCGI
 * and uwsgi front-ends.
 *
 * Invariants: no allocation, no I/O, no globals; the only bytes written are the
 * caller's scratch (the decoded path), the caller's vars[] (compacted in place) and
 * *r. Every slice of the result is either one of the caller's slices unchanged, a
 * sub-slice computed with bounds taken from that slice (never by subtracting one
 * variable's length from another's: that is how PHP-FPM's CVE-2019-11043 underflowed),
 * a slice of scratch, one of opt's strings or a literal. Values are never interpreted
 * beyond the rules in cgi.h: a CR or LF inside a value stays data (F24).
 *
 * Why the path is rebuilt from REQUEST_URI: front servers disagree on SCRIPT_NAME and
 * PATH_INFO (nginx's stock fastcgi_params send SCRIPT_NAME = the whole path and no
 * PATH_INFO, Apache mod_proxy_fcgi and HAProxy the same, lighttpd a split at its mount
 * point), but all of them send REQUEST_URI raw, which is what --http sees.
 */
#include "protocols/cgi.h"

#include <string.h>

#include "gateway/errors.h"
#include "protocols/lex.h"

/* The variables consumed into members of gw_request. */
enum {
    V_REQUEST_METHOD,
    V_REQUEST_URI,
    V_SCRIPT_NAME,
    V_PATH_INFO,
    V_QUERY_STRING,
    V_CONTENT_TYPE,
    V_CONTENT_LENGTH,
    V_SERVER_NAME,
    V_SERVER_PORT,
    V_SERVER_PROTOCOL,
    V_REMOTE_ADDR,
    V_REMOTE_PORT,
    V_COUNT,
    V_PASS = -1, /* passed through */
    V_DROP = -2, /* dropped */
};

static const char *const consumed_names[V_COUNT] = {
    [V_REQUEST_METHOD] = "REQUEST_METHOD", [V_REQUEST_URI] = "REQUEST_URI",
    [V_SCRIPT_NAME] = "SCRIPT_NAME",       [V_PATH_INFO] = "PATH_INFO",
    [V_QUERY_STRING] = "QUERY_STRING",     [V_CONTENT_TYPE] = "CONTENT_TYPE",
    [V_CONTENT_LENGTH] = "CONTENT_LENGTH", [V_SERVER_NAME] = "SERVER_NAME",
    [V_SERVER_PORT] = "SERVER_PORT",       [V_SERVER_PROTOCOL] = "SERVER_PROTOCOL",
    [V_REMOTE_ADDR] = "REMOTE_ADDR",       [V_REMOTE_PORT] = "REMOTE_PORT",
};

/* "HTTP/d" -> "HTTP/d.0", indexed by the digit. */
static const char *const major_only[10] = {
    "HTTP/0.0", "HTTP/1.0", "HTTP/2.0", "HTTP/3.0", "HTTP/4.0",
    "HTTP/5.0", "HTTP/6.0", "HTTP/7.0", "HTTP/8.0", "HTTP/9.0",
};

static int classify(struct gw_slice name)
{
    if (name.ptr == NULL || name.len == 0)
        return V_DROP;
    for (int k = 0; k < V_COUNT; k++)
        if (gw_slice_eq(name, consumed_names[k]))
            return k;
    if (name.len >= 5 && memcmp(name.ptr, "wsgi.", 5) == 0)
        return V_DROP;
    if (gw_slice_eq(name, "HTTP_CONTENT_TYPE") || gw_slice_eq(name, "HTTP_CONTENT_LENGTH"))
        return V_DROP;
    return V_PASS;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int same_name(struct gw_slice a, struct gw_slice b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static struct gw_slice lit(const char *s)
{
    return gw_slice_make(s, strlen(s));
}

static int nonempty(struct gw_slice s)
{
    return s.ptr != NULL && s.len > 0;
}

/* Position of the first of the bytes in set within s, or s.len. */
static size_t span_until(struct gw_slice s, const char *set)
{
    for (size_t i = 0; i < s.len; i++)
        if (strchr(set, s.ptr[i]) != NULL && s.ptr[i] != '\0')
            return i;
    return s.len;
}

/* The raw path of a request-target: origin form up to '?'/'#', the path of an
 * absolute form ("/" when it has none, as the HTTP parser does), "" for "*". */
static struct gw_slice target_path(struct gw_slice t)
{
    if (t.len == 1 && t.ptr[0] == '*')
        return GW_SLICE_LIT("");
    if (t.len > 0 && t.ptr[0] != '/') {
        size_t end = span_until(t, "/?#");
        if (end + 1 < t.len && t.ptr[end] == '/' && t.ptr[end + 1] == '/' && end > 0 &&
            t.ptr[end - 1] == ':') {
            /* scheme "://" authority: the path starts at the next '/' */
            struct gw_slice rest = gw_slice_make(t.ptr + end + 2, t.len - end - 2);
            size_t a = span_until(rest, "/?#");
            if (a == rest.len || rest.ptr[a] != '/')
                return GW_SLICE_LIT("/");
            t = gw_slice_make(rest.ptr + a, rest.len - a);
        }
    }
    return gw_slice_make(t.ptr, span_until(t, "?#"));
}

/* The query part of a request-target (after the first '?', before '#'), or "". */
static struct gw_slice target_query(struct gw_slice t)
{
    const char *q = t.ptr ? memchr(t.ptr, '?', t.len) : NULL;
    if (q == NULL)
        return GW_SLICE_LIT("");
    struct gw_slice s = gw_slice_make(q + 1, t.len - (size_t)(q + 1 - t.ptr));
    return gw_slice_make(s.ptr, span_until(s, "#"));
}

/* The host of a Host value: "[v6]" with brackets, else up to ':'. */
static struct gw_slice host_of(struct gw_slice h)
{
    if (h.len > 0 && h.ptr[0] == '[') {
        const char *e = memchr(h.ptr, ']', h.len);
        return gw_slice_make(h.ptr, e ? (size_t)(e - h.ptr) + 1 : h.len);
    }
    const char *colon = memchr(h.ptr, ':', h.len);
    return gw_slice_make(h.ptr, colon ? (size_t)(colon - h.ptr) : h.len);
}

static int valid_method(struct gw_slice m)
{
    if (!nonempty(m))
        return 0;
    for (size_t i = 0; i < m.len; i++)
        if (!gw_lex_is_tchar((unsigned char)m.ptr[i]))
            return 0;
    return 1;
}

static struct gw_slice protocol_of(struct gw_slice p)
{
    if (p.ptr != NULL && p.len >= 6 && memcmp(p.ptr, "HTTP/", 5) == 0 && is_digit(p.ptr[5])) {
        if (p.len == 6)
            return lit(major_only[p.ptr[5] - '0']);
        if (p.len == 8 && p.ptr[6] == '.' && is_digit(p.ptr[7]))
            return p;
    }
    return GW_SLICE_LIT("HTTP/1.0");
}

/* A malformed CGI variable: 400, as over --http. */
static int malformed(struct gw_parse_error *err, const char *why)
{
    return gw_parse_fail(err, GW_EPROTO, 400, why);
}

/* The scratch buffer is smaller than cgi.h promises is enough: a caller bug, 500. */
static int no_room(struct gw_parse_error *err)
{
    return gw_parse_fail(err, GW_ENOMEM, 500, "scratch smaller than the CGI values");
}

/*
 * Appends part to dst (at *n, cap bytes in all) with a '/' in front when it is not
 * empty and does not start with one. 0 or GW_ENOMEM (no room) recorded in *err.
 */
static int put_part(char *dst, size_t cap, size_t *n, struct gw_slice part,
                    struct gw_parse_error *err)
{
    size_t slash = part.len > 0 && part.ptr[0] != '/';
    if (part.len > cap - *n || slash > cap - *n - part.len)
        return no_room(err);
    if (slash)
        dst[(*n)++] = '/';
    if (part.len)
        memcpy(dst + *n, part.ptr, part.len);
    *n += part.len;
    return 0;
}

/*
 * SCRIPT_NAME and PATH_INFO as sent, in the form RFC 3875 (4.1.5, 4.1.13) and PEP
 * 3333 require (wsgiref.validate asserts it): each empty or starting with '/', and
 * SCRIPT_NAME not ending with '/'. "app" -> "/app", "foo" -> "/foo"; trailing '/'s
 * of SCRIPT_NAME move to PATH_INFO ("/app/" + "x" -> "/app" + "/x", "/" + "" ->
 * "" + "/"), so the two still name the request's path. Written one after the other
 * into scratch: *sn and *pi are slices of it and together the whole path.
 * 0 or GW_ENOMEM recorded in *err.
 */
static int normal_split(const struct gw_slice *v, char *scratch, size_t cap, struct gw_slice *sn,
                        struct gw_slice *pi, struct gw_parse_error *err)
{
    struct gw_slice s = v[V_SCRIPT_NAME], p = v[V_PATH_INFO];
    size_t n = 0;
    int rc;

    while (s.len > 0 && s.ptr[s.len - 1] == '/')
        s.len--;
    if (p.len == 0 && s.len < v[V_SCRIPT_NAME].len)
        p = GW_SLICE_LIT("/"); /* "/app/" with no PATH_INFO: "/app" + "/" */
    if ((rc = put_part(scratch, cap, &n, s, err)) < 0)
        return rc;
    *sn = gw_slice_make(scratch, n);
    if ((rc = put_part(scratch, cap, &n, p, err)) < 0)
        return rc;
    *pi = gw_slice_make(scratch + sn->len, n - sn->len);
    return 0;
}

/*
 * The decoded path into scratch: REQUEST_URI's path, or SCRIPT_NAME + PATH_INFO
 * (normalized as above). Either way empty or starting with '/': a relative
 * REQUEST_URI ("foo") gets one in front, as PATH_INFO must have it.
 * 0 or GW_ENOMEM (scratch too small) recorded in *err.
 */
static int decoded_path(const struct gw_slice *v, char *scratch, size_t cap, struct gw_slice *out,
                        struct gw_parse_error *err)
{
    if (v[V_REQUEST_URI].ptr != NULL) {
        struct gw_slice raw = target_path(v[V_REQUEST_URI]);
        size_t slash = raw.len > 0 && raw.ptr[0] != '/';
        if (raw.len > cap || slash > cap - raw.len)
            return no_room(err);
        if (slash)
            scratch[0] = '/';
        *out = gw_slice_make(scratch,
                             slash + gw_lex_percent_decode(raw.ptr, raw.len, scratch + slash));
        return 0;
    }
    struct gw_slice sn, pi;
    int rc = normal_split(v, scratch, cap, &sn, &pi, err);
    if (rc < 0)
        return rc;
    *out = gw_slice_make(scratch, sn.len + pi.len);
    return 0;
}

/* Sets script_name and path_info; 0, or GW_ENOTSUP (404) or GW_ENOMEM (500)
 * recorded in *err. */
static int split_path(const struct gw_slice *v, const struct gw_cgi_options *opt, char *scratch,
                      size_t cap, struct gw_request *r, struct gw_parse_error *err)
{
    size_t sl = strlen(opt->script_name);
    struct gw_slice path;
    int rc;

    if (sl == 0 && nonempty(v[V_PATH_INFO]))
        return normal_split(v, scratch, cap, &r->script_name, &r->path_info, err);
    rc = decoded_path(v, scratch, cap, &path, err);
    if (rc < 0)
        return rc;
    if (sl == 0) {
        r->script_name = GW_SLICE_LIT("");
        r->path_info = path;
        return 0;
    }
    /* The same test as the HTTP front-end's: PREFIX itself or PREFIX/... */
    if (path.len < sl || memcmp(path.ptr, opt->script_name, sl) != 0 ||
        (path.len > sl && path.ptr[sl] != '/'))
        return gw_parse_fail(err, GW_ENOTSUP, 404, "path outside --script-name");
    r->script_name = gw_slice_make(opt->script_name, sl);
    r->path_info = gw_slice_make(path.ptr + sl, path.len - sl);
    return 0;
}

int gw_cgi_build(struct gw_field *vars, size_t n, const struct gw_cgi_options *opt, char *scratch,
                 size_t scratch_cap, struct gw_request *r, struct gw_parse_error *err)
{
    struct gw_slice v[V_COUNT];
    struct gw_slice host = {NULL, 0};
    size_t cl_count = 0;
    int rc;

    memset(v, 0, sizeof(v));
    *err = (struct gw_parse_error){0, 0, NULL};
    /* First pass: the consumed ones (the last occurrence wins) and HTTP_HOST. */
    for (size_t i = 0; i < n; i++) {
        int k = classify(vars[i].name);
        if (k >= 0) {
            v[k] = vars[i].value.ptr ? vars[i].value : GW_SLICE_LIT("");
            if (k == V_CONTENT_LENGTH)
                cl_count++;
        } else if (k == V_PASS && gw_slice_eq(vars[i].name, "HTTP_HOST")) {
            host = vars[i].value;
        }
    }

    if (!valid_method(v[V_REQUEST_METHOD]))
        return malformed(err, "REQUEST_METHOD missing or not a token");
    r->method = v[V_REQUEST_METHOD];

    if (cl_count > 1)
        return malformed(err, "CONTENT_LENGTH given twice");
    r->content_length = (struct gw_slice){NULL, 0};
    if (nonempty(v[V_CONTENT_LENGTH])) {
        if (gw_lex_content_length(v[V_CONTENT_LENGTH], &r->body_length) < 0)
            return malformed(err, "CONTENT_LENGTH not 1-18 digits");
        r->content_length = v[V_CONTENT_LENGTH];
    } else if (opt->body_by_framing == 1) {
        r->body_length = -1;
    } else if (v[V_CONTENT_LENGTH].ptr != NULL && opt->body_by_framing == 0) {
        /* present but empty, and nothing else frames the body */
        return malformed(err, "CONTENT_LENGTH empty");
    } else {
        r->body_length = 0;
    }

    rc = split_path(v, opt, scratch, scratch_cap, r, err);
    if (rc < 0)
        return rc;

    r->request_uri = v[V_REQUEST_URI];
    r->query = v[V_QUERY_STRING].ptr ? v[V_QUERY_STRING] : target_query(v[V_REQUEST_URI]);
    r->protocol = protocol_of(v[V_SERVER_PROTOCOL]);
    r->content_type = nonempty(v[V_CONTENT_TYPE]) ? v[V_CONTENT_TYPE] : (struct gw_slice){NULL, 0};

    r->server_name = v[V_SERVER_NAME];
    /* nginx sends its server_name: "_" is the conventional catch-all, not a name. */
    if (gw_slice_eq(r->server_name, "_"))
        r->server_name = (struct gw_slice){NULL, 0};
    if (!nonempty(r->server_name) && host.ptr != NULL)
        r->server_name = host_of(host);
    if (!nonempty(r->server_name))
        r->server_name = lit(opt->server_name);
    r->server_port = nonempty(v[V_SERVER_PORT]) ? v[V_SERVER_PORT] : lit(opt->server_port);
    r->remote_addr = v[V_REMOTE_ADDR];
    r->remote_port = v[V_REMOTE_PORT];

    r->https = 0;
    for (size_t i = 0; i < n; i++)
        if (gw_slice_eq(vars[i].name, "HTTPS"))
            r->https = gw_slice_eq_lower(vars[i].value, "on");

    /* Second pass: compact the pass-through ones in place, each name at its last
     * occurrence. Writes go to vars[k] with k <= i, so the entries after i that the
     * duplicate search reads are still the caller's. The classification is redone
     * rather than stored, to stay allocation-free for any n. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (classify(vars[i].name) != V_PASS)
            continue;
        int later = 0;
        for (size_t j = i + 1; j < n && !later; j++)
            later = same_name(vars[j].name, vars[i].name);
        if (!later)
            vars[k++] = vars[i];
    }
    r->cgi = vars;
    r->ncgi = k;
    return 0;
}
