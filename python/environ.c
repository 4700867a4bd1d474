/*
 * The PEP 3333 environ, built from a struct gw_request on the worker thread, GIL
 * held. The fixed keys and the constant values (wsgi.version, the scheme strings)
 * are made once at start-up from the tables below and shared by every request
 * (NGINX Unit's nxt_python_strings); per request only the values are new objects.
 *
 * Invariants: every str value is decoded as latin-1 (PEP 3333 "native strings"), so
 * any byte reaches the app unchanged and decoding never fails. Header names holding
 * '_' never become HTTP_* keys (docs/hostile-inputs.md H36); Content-Type and
 * Content-Length appear only as CONTENT_TYPE / CONTENT_LENGTH. CGI variables from a
 * front server never replace a key already set, nor add wsgi.* keys.
 */
#include "python/py_internal.h"

#include <string.h>

static const char *const key_names[GW_PY_NKEYS] = {
#define GW_PY_KEY_NAME(id, s) [GW_PY_K_##id] = s,
    GW_PY_KEYS(GW_PY_KEY_NAME)
#undef GW_PY_KEY_NAME
};

/* Common request headers whose HTTP_* key is also made once. */
#define GW_PY_COMMON_HEADERS(X)                                                                    \
    X("host", "HTTP_HOST")                                                                         \
    X("user-agent", "HTTP_USER_AGENT")                                                             \
    X("accept", "HTTP_ACCEPT")                                                                     \
    X("accept-encoding", "HTTP_ACCEPT_ENCODING")                                                   \
    X("accept-language", "HTTP_ACCEPT_LANGUAGE")                                                   \
    X("connection", "HTTP_CONNECTION")                                                             \
    X("cookie", "HTTP_COOKIE")                                                                     \
    X("referer", "HTTP_REFERER")                                                                   \
    X("cache-control", "HTTP_CACHE_CONTROL")                                                       \
    X("x-forwarded-for", "HTTP_X_FORWARDED_FOR")                                                   \
    X("x-forwarded-proto", "HTTP_X_FORWARDED_PROTO")                                               \
    X("x-requested-with", "HTTP_X_REQUESTED_WITH")                                                 \
    X("authorization", "HTTP_AUTHORIZATION")                                                       \
    X("origin", "HTTP_ORIGIN")

static const struct {
    const char *lower;
    const char *key;
} common_headers[] = {
#define GW_PY_HDR_ENTRY(l, k) {l, k},
    GW_PY_COMMON_HEADERS(GW_PY_HDR_ENTRY)
#undef GW_PY_HDR_ENTRY
};

#define NCOMMON (sizeof(common_headers) / sizeof(common_headers[0]))

static PyObject *common_keys[NCOMMON];

int gw_py_environ_init(void)
{
    for (size_t i = 0; i < GW_PY_NKEYS; i++) {
        gw_py_g.keys[i] = PyUnicode_InternFromString(key_names[i]);
        if (gw_py_g.keys[i] == NULL)
            goto fail;
    }
    for (size_t i = 0; i < NCOMMON; i++) {
        common_keys[i] = PyUnicode_InternFromString(common_headers[i].key);
        if (common_keys[i] == NULL)
            goto fail;
    }
    gw_py_g.version = Py_BuildValue("(ii)", 1, 0);
    gw_py_g.scheme_http = PyUnicode_InternFromString("http");
    gw_py_g.scheme_https = PyUnicode_InternFromString("https");
    gw_py_g.empty = PyUnicode_FromStringAndSize("", 0);
    if (gw_py_g.version == NULL || gw_py_g.scheme_http == NULL || gw_py_g.scheme_https == NULL ||
        gw_py_g.empty == NULL)
        goto fail;
    return 0;

fail:
    gw_py_environ_fini();
    return -1;
}

void gw_py_environ_fini(void)
{
    for (size_t i = 0; i < GW_PY_NKEYS; i++)
        Py_CLEAR(gw_py_g.keys[i]);
    for (size_t i = 0; i < NCOMMON; i++)
        Py_CLEAR(common_keys[i]);
    Py_CLEAR(gw_py_g.version);
    Py_CLEAR(gw_py_g.scheme_http);
    Py_CLEAR(gw_py_g.scheme_https);
    Py_CLEAR(gw_py_g.empty);
}

/* environ[key] = s decoded as latin-1; a NULL slice gives "" when required, else is
 * skipped. Returns 0 or -1 with an exception. */
static int set_slice(PyObject *env, enum gw_py_key k, struct gw_slice s, int required)
{
    PyObject *v;
    int rc;

    if (s.ptr == NULL) {
        if (!required)
            return 0;
        return PyDict_SetItem(env, gw_py_g.keys[k], gw_py_g.empty);
    }
    v = PyUnicode_DecodeLatin1(s.ptr, (Py_ssize_t)s.len, NULL);
    if (v == NULL)
        return -1;
    rc = PyDict_SetItem(env, gw_py_g.keys[k], v);
    Py_DECREF(v);
    return rc;
}

static int set_obj(PyObject *env, enum gw_py_key k, PyObject *v)
{
    return PyDict_SetItem(env, gw_py_g.keys[k], v);
}

/* The HTTP_* key for a header name, or NULL with no exception when the name must be
 * dropped (holds '_', is empty, or is Content-Type/Content-Length). New reference. */
static PyObject *header_key(struct gw_slice name, int *drop)
{
    char stack[128];
    char *buf = stack;
    PyObject *key = NULL;
    size_t n = name.len + 5;

    *drop = 0;
    if (name.len == 0 || memchr(name.ptr, '_', name.len) != NULL ||
        gw_slice_eq_lower(name, "content-type") || gw_slice_eq_lower(name, "content-length")) {
        *drop = 1;
        return NULL;
    }
    for (size_t i = 0; i < NCOMMON; i++) {
        if (gw_slice_eq_lower(name, common_headers[i].lower))
            return Py_NewRef(common_keys[i]);
    }
    if (n > sizeof(stack)) {
        buf = PyMem_Malloc(n);
        if (buf == NULL)
            return PyErr_NoMemory();
    }
    memcpy(buf, "HTTP_", 5);
    for (size_t i = 0; i < name.len; i++) {
        unsigned char c = (unsigned char)name.ptr[i];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 32);
        else if (c == '-')
            c = '_';
        buf[5 + i] = (char)c;
    }
    key = PyUnicode_DecodeLatin1(buf, (Py_ssize_t)n, NULL);
    if (buf != stack)
        PyMem_Free(buf);
    return key;
}

/* environ[key] = old + ", " + value for a repeated field. */
static int join_value(PyObject *env, PyObject *key, PyObject *old, struct gw_slice value)
{
    Py_ssize_t olen = PyUnicode_GET_LENGTH(old);
    size_t n;
    char *buf;
    PyObject *v;
    int rc;

    /* Values come from PyUnicode_DecodeLatin1, so they are 1-byte kind. */
    if (PyUnicode_KIND(old) != PyUnicode_1BYTE_KIND) {
        PyErr_SetString(PyExc_SystemError, "environ header value is not latin-1");
        return -1;
    }
    n = (size_t)olen + 2 + value.len;
    buf = PyMem_Malloc(n ? n : 1);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(buf, PyUnicode_1BYTE_DATA(old), (size_t)olen);
    memcpy(buf + olen, ", ", 2);
    if (value.len)
        memcpy(buf + olen + 2, value.ptr, value.len);
    v = PyUnicode_DecodeLatin1(buf, (Py_ssize_t)n, NULL);
    PyMem_Free(buf);
    if (v == NULL)
        return -1;
    rc = PyDict_SetItem(env, key, v);
    Py_DECREF(v);
    return rc;
}

static int add_headers(PyObject *env, const struct gw_request *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct gw_field *f = &r->headers[i];
        PyObject *key, *old, *v;
        int drop, rc;

        key = header_key(f->name, &drop);
        if (key == NULL) {
            if (drop)
                continue;
            return -1;
        }
        old = PyDict_GetItemWithError(env, key); /* borrowed */
        if (old != NULL) {
            rc = join_value(env, key, old, f->value);
        } else if (PyErr_Occurred()) {
            rc = -1;
        } else {
            v = PyUnicode_DecodeLatin1(f->value.ptr ? f->value.ptr : "", (Py_ssize_t)f->value.len,
                                       NULL);
            rc = v ? PyDict_SetItem(env, key, v) : -1;
            Py_XDECREF(v);
        }
        Py_DECREF(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* CGI variables from the front server: added unless the key is already there (the
 * front-end's normalized fields win), starts with "wsgi." or is one that PEP 3333
 * forbids (HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH). */
static int add_cgi(PyObject *env, const struct gw_request *r)
{
    for (size_t i = 0; i < r->ncgi; i++) {
        const struct gw_field *f = &r->cgi[i];
        PyObject *key, *v, *got;

        if (f->name.ptr == NULL || f->name.len == 0)
            continue;
        if (f->name.len >= 5 && memcmp(f->name.ptr, "wsgi.", 5) == 0)
            continue;
        if (gw_slice_eq(f->name, "HTTP_CONTENT_TYPE") ||
            gw_slice_eq(f->name, "HTTP_CONTENT_LENGTH"))
            continue;
        key = PyUnicode_DecodeLatin1(f->name.ptr, (Py_ssize_t)f->name.len, NULL);
        if (key == NULL)
            return -1;
        v = PyUnicode_DecodeLatin1(f->value.ptr ? f->value.ptr : "", (Py_ssize_t)f->value.len,
                                   NULL);
        if (v == NULL) {
            Py_DECREF(key);
            return -1;
        }
        got = PyDict_SetDefault(env, key, v); /* borrowed */
        Py_DECREF(key);
        Py_DECREF(v);
        if (got == NULL)
            return -1;
    }
    return 0;
}

PyObject *gw_py_environ_build(const struct gw_request *r, PyObject *input, PyObject *errors)
{
    PyObject *env = PyDict_New();

    if (env == NULL)
        return NULL;
    if (set_slice(env, GW_PY_K_REQUEST_METHOD, r->method, 1) < 0 ||
        set_slice(env, GW_PY_K_SCRIPT_NAME, r->script_name, 1) < 0 ||
        set_slice(env, GW_PY_K_PATH_INFO, r->path_info, 1) < 0 ||
        set_slice(env, GW_PY_K_QUERY_STRING, r->query, 1) < 0 ||
        set_slice(env, GW_PY_K_CONTENT_TYPE, r->content_type, 0) < 0 ||
        set_slice(env, GW_PY_K_CONTENT_LENGTH, r->content_length, 0) < 0 ||
        set_slice(env, GW_PY_K_SERVER_NAME, r->server_name, 1) < 0 ||
        set_slice(env, GW_PY_K_SERVER_PORT, r->server_port, 1) < 0 ||
        set_slice(env, GW_PY_K_SERVER_PROTOCOL, r->protocol, 1) < 0 ||
        set_slice(env, GW_PY_K_REMOTE_ADDR, r->remote_addr, 0) < 0 ||
        set_slice(env, GW_PY_K_REMOTE_PORT, r->remote_port, 0) < 0 ||
        set_slice(env, GW_PY_K_REQUEST_URI, r->request_uri, 0) < 0)
        goto fail;

    if (set_obj(env, GW_PY_K_WSGI_VERSION, gw_py_g.version) < 0 ||
        set_obj(env, GW_PY_K_WSGI_URL_SCHEME,
                r->https ? gw_py_g.scheme_https : gw_py_g.scheme_http) < 0 ||
        set_obj(env, GW_PY_K_WSGI_INPUT, input) < 0 ||
        set_obj(env, GW_PY_K_WSGI_ERRORS, errors) < 0 ||
        set_obj(env, GW_PY_K_WSGI_MULTITHREAD, Py_True) < 0 ||
        set_obj(env, GW_PY_K_WSGI_MULTIPROCESS, gw_py_g.multiprocess ? Py_True : Py_False) < 0 ||
        set_obj(env, GW_PY_K_WSGI_RUN_ONCE, Py_False) < 0 ||
        set_obj(env, GW_PY_K_WSGI_INPUT_TERMINATED, Py_True) < 0 ||
        set_obj(env, GW_PY_K_WSGI_FILE_WRAPPER, (PyObject *)gw_py_g.file_wrapper_type) < 0)
        goto fail;

    if (add_headers(env, r) < 0 || add_cgi(env, r) < 0)
        goto fail;
    return env;

fail:
    Py_DECREF(env);
    return NULL;
}
