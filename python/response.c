/*
 * start_response and write(): the PEP 3333 callables of one request, and the sending
 * of the head and of body bytes through gw_request_send_head / _send_body.
 *
 * start_response(status, headers, exc_info=None) validates everything before it
 * stores anything (docs/hostile-inputs.md R1): the status is "DDD reason" with a code
 * of 200-599 and a reason free of control characters; every header is a (str, str)
 * 2-tuple whose name is an RFC 9110 token and whose value is latin-1 without control
 * characters other than HTAB. Anything else raises TypeError/ValueError into the app
 * and nothing of it is kept, so if the app lets it propagate the pool answers 500 and
 * not a byte of the bad header reaches the wire. The valid head is copied into one
 * malloc'd block (q->head) whose slices gw_request_send_head reads later: headers are
 * sent lazily, with the first non-empty body bytes or at the end, which is what lets
 * an error before the first byte still become a 500.
 *
 * Request scope: the start_response object points to the stack struct gw_py_req of
 * its request; gw_py_response_end clears that pointer, after which start_response
 * and write raise RuntimeError. Sends run with the GIL released and q->busy set;
 * calls from another thread meanwhile raise instead of freeing what is being sent.
 */
#include "python/py_internal.h"

#include <string.h>

#include "gateway/errors.h"

struct py_start_response {
    PyObject_HEAD
    struct gw_py_req *q; /* NULL once the request ended */
};

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values and reason phrases: HTAB, SP, VCHAR, obs-text. */
static int is_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* The latin-1 bytes of a str, or NULL with an exception naming what when it holds a
 * character above U+00FF. */
static const unsigned char *latin1_data(PyObject *s, const char *what, Py_ssize_t *len)
{
#if PY_VERSION_HEX < 0x030C0000 /* legacy not-ready strings exist only before 3.12 */
    if (PyUnicode_READY(s) < 0)
        return NULL;
#endif
    if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError, "%s must be latin-1 (PEP 3333), got %R", what, s);
        return NULL;
    }
    *len = PyUnicode_GET_LENGTH(s);
    return PyUnicode_1BYTE_DATA(s);
}

static int check_status(PyObject *status, const unsigned char **data, Py_ssize_t *len)
{
    const unsigned char *p;
    Py_ssize_t n;

    if (!PyUnicode_Check(status)) {
        PyErr_Format(PyExc_TypeError, "status must be str, not %.100s", Py_TYPE(status)->tp_name);
        return -1;
    }
    p = latin1_data(status, "status", &n);
    if (p == NULL)
        return -1;
    if (n < 4 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' ||
        p[3] != ' ') {
        PyErr_Format(PyExc_ValueError,
                     "status must be a code 200-599, a space and a reason, got %R", status);
        return -1;
    }
    for (Py_ssize_t i = 4; i < n; i++) {
        if (!is_text(p[i])) {
            PyErr_Format(PyExc_ValueError, "status holds a control character: %R", status);
            return -1;
        }
    }
    *data = p;
    *len = n;
    return 0;
}

/* Checks one header; returns the name and value bytes through the out parameters. */
static int check_header(PyObject *item, const unsigned char **name, Py_ssize_t *nlen,
                        const unsigned char **value, Py_ssize_t *vlen)
{
    PyObject *n, *v;

    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
        PyErr_Format(PyExc_TypeError, "headers must be (name, value) tuples, got %R", item);
        return -1;
    }
    n = PyTuple_GET_ITEM(item, 0);
    v = PyTuple_GET_ITEM(item, 1);
    if (!PyUnicode_Check(n) || !PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "header name and value must be str, got %R", item);
        return -1;
    }
    *name = latin1_data(n, "header name", nlen);
    if (*name == NULL)
        return -1;
    if (*nlen == 0) {
        PyErr_SetString(PyExc_ValueError, "empty header name");
        return -1;
    }
    for (Py_ssize_t i = 0; i < *nlen; i++) {
        if (!is_tchar((*name)[i])) {
            PyErr_Format(PyExc_ValueError, "invalid header name %R", n);
            return -1;
        }
    }
    *value = latin1_data(v, "header value", vlen);
    if (*value == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < *vlen; i++) {
        if (!is_text((*value)[i])) {
            PyErr_Format(PyExc_ValueError, "header %R: value holds a control character: %R", n, v);
            return -1;
        }
    }
    return 0;
}

/*
 * Validates status and headers and, only when all is valid, replaces the head stored
 * in q by a copy. 0, or -1 with an exception (q unchanged).
 */
static int store_head(struct gw_py_req *q, PyObject *status, PyObject *headers)
{
    const unsigned char *sp, *np, *vp;
    Py_ssize_t slen, nlen, vlen, nh;
    size_t total;
    char *mem = NULL, *w;
    struct gw_field *fields;

    if (check_status(status, &sp, &slen) < 0)
        return -1;
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    /* Pass 1: validate and size. The list cannot change meanwhile: no Python code
     * runs between the passes and the GIL is held. */
    nh = PyList_GET_SIZE(headers);
    total = (size_t)nh * sizeof(struct gw_field) + (size_t)slen;
    for (Py_ssize_t i = 0; i < nh; i++) {
        if (check_header(PyList_GET_ITEM(headers, i), &np, &nlen, &vp, &vlen) < 0)
            return -1;
        total += (size_t)nlen + (size_t)vlen;
    }
    mem = PyMem_RawMalloc(total ? total : 1);
    if (mem == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* Pass 2: copy. fields first (aligned: malloc's alignment), then the bytes. */
    fields = (struct gw_field *)(void *)mem;
    w = mem + (size_t)nh * sizeof(struct gw_field);
    memcpy(w, sp, (size_t)slen);
    PyMem_RawFree(q->head);
    q->head = mem;
    q->status = gw_slice_make(w, (size_t)slen);
    w += slen;
    for (Py_ssize_t i = 0; i < nh; i++) {
        PyObject *item = PyList_GET_ITEM(headers, i);

        np = PyUnicode_1BYTE_DATA(PyTuple_GET_ITEM(item, 0));
        nlen = PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(item, 0));
        vp = PyUnicode_1BYTE_DATA(PyTuple_GET_ITEM(item, 1));
        vlen = PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(item, 1));
        memcpy(w, np, (size_t)nlen);
        fields[i].name = gw_slice_make(w, (size_t)nlen);
        w += nlen;
        memcpy(w, vp, (size_t)vlen);
        fields[i].value = gw_slice_make(w, (size_t)vlen);
        w += vlen;
    }
    q->fields = fields;
    q->nfields = (size_t)nh;
    return 0;
}

/* Raises exc_info = (type, value, traceback) again. Always returns NULL. */
static PyObject *reraise(PyObject *exc_info)
{
    PyObject *t, *v, *tb;

    if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
        PyErr_SetString(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple");
        return NULL;
    }
    t = PyTuple_GET_ITEM(exc_info, 0);
    v = PyTuple_GET_ITEM(exc_info, 1);
    tb = PyTuple_GET_ITEM(exc_info, 2);
    if (!PyExceptionClass_Check(t)) {
        PyErr_SetString(PyExc_TypeError, "exc_info[0] must be an exception class");
        return NULL;
    }
    PyErr_Restore(Py_NewRef(t), Py_NewRef(v), PyTraceBack_Check(tb) ? Py_NewRef(tb) : NULL);
    return NULL;
}

static PyObject *sr_write(PyObject *self, PyObject *data);

static PyMethodDef write_def = {"write", sr_write, METH_O,
                                "write(bytes): sends body bytes at once (PEP 3333)."};

static PyObject *sr_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"status", "headers", "exc_info", NULL};
    struct gw_py_req *q = ((struct py_start_response *)self)->q;
    PyObject *status, *headers, *exc_info = Py_None;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response", kwlist, &status, &headers,
                                     &exc_info))
        return NULL;
    if (q == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response called after the request ended");
        return NULL;
    }
    if (q->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "start_response called while another thread sends the response");
        return NULL;
    }
    /* sys.exc_info() outside an except block is (None, None, None): same as none. */
    if (PyTuple_Check(exc_info) && PyTuple_GET_SIZE(exc_info) == 3 &&
        PyTuple_GET_ITEM(exc_info, 0) == Py_None)
        exc_info = Py_None;
    if (exc_info != Py_None) {
        if (q->head_sent)
            return reraise(exc_info);
    } else if (q->started) {
        PyErr_SetString(PyExc_RuntimeError, "start_response called a second time without exc_info");
        return NULL;
    }
    if (store_head(q, status, headers) < 0)
        return NULL;
    q->started = 1;
    if (q->write == NULL) {
        q->write = PyCFunction_New(&write_def, self);
        if (q->write == NULL)
            return NULL;
    }
    return Py_NewRef(q->write);
}

int gw_py_send(struct gw_py_req *q, const char *buf, size_t len, PyObject *owner)
{
    struct gw_request *r = q->r;
    int send_head, rc = 0, kept = 0;

    gw_py_wait_idle(&q->busy); /* a write() of another thread (write() itself raises) */
    if (q->send_err)
        return q->send_err;
    send_head = !q->head_sent;
    q->busy = 1;
    q->head_sent = 1;
    if (owner != NULL)
        Py_INCREF(owner); /* the core may keep it until a slow peer has the bytes */
    Py_BEGIN_ALLOW_THREADS
    if (send_head)
        rc = gw_request_send_head(r, q->status, q->fields, q->nfields);
    if (rc == 0 && len > 0) {
        if (owner != NULL) {
            rc = gw_request_send_ref(r, buf, len, owner, &kept);
        } else {
            struct iovec iov = {(void *)(uintptr_t)buf, len};
            rc = gw_request_send_body(r, &iov, 1);
        }
    }
    Py_END_ALLOW_THREADS
    if (owner != NULL && !kept)
        Py_DECREF(owner);
    q->busy = 0;
    if (rc < 0)
        q->send_err = rc;
    return rc < 0 ? rc : 0;
}

static PyObject *sr_write(PyObject *self, PyObject *data)
{
    struct gw_py_req *q = ((struct py_start_response *)self)->q;
    int rc;

    if (q == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after the request ended");
        return NULL;
    }
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() argument must be bytes, not %.100s",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (q->busy) {
        PyErr_SetString(PyExc_RuntimeError, "write() called while another thread sends");
        return NULL;
    }
    if (PyBytes_GET_SIZE(data) == 0 && q->send_err == 0)
        Py_RETURN_NONE; /* the head waits for real bytes (PEP 3333) */
    /* data stays alive while the GIL is released: the caller holds it. */
    rc = gw_py_send(q, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), data);
    if (rc < 0) {
        const char *msg = gw_strerror(rc);
        PyErr_Format(rc == GW_ETIMEDOUT ? PyExc_TimeoutError : PyExc_ConnectionError,
                     "write(): client gone: %s", msg ? msg : "send failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static void sr_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    tp->tp_free(self);
    Py_DECREF(tp);
    gw_py_g.live--;
}

static PyType_Slot sr_slots[] = {
    {Py_tp_dealloc, sr_dealloc},
    {Py_tp_call, sr_call},
    {Py_tp_doc, "start_response(status, headers, exc_info=None) -> write (PEP 3333)."},
    {0, NULL},
};

static PyType_Spec sr_spec = {
    .name = "wsgate.StartResponse",
    .basicsize = sizeof(struct py_start_response),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = sr_slots,
};

int gw_py_response_init(void)
{
    gw_py_g.start_response_type = (PyTypeObject *)PyType_FromSpec(&sr_spec);
    return gw_py_g.start_response_type ? 0 : -1;
}

void gw_py_response_fini(void)
{
    Py_CLEAR(gw_py_g.start_response_type);
}

PyObject *gw_py_start_response_new(struct gw_py_req *q)
{
    PyTypeObject *tp = gw_py_g.start_response_type;
    struct py_start_response *sr = (struct py_start_response *)tp->tp_alloc(tp, 0);

    if (sr == NULL)
        return NULL;
    gw_py_g.live++;
    sr->q = q;
    return (PyObject *)sr;
}

void gw_py_response_end(PyObject *start_response, struct gw_py_req *q)
{
    gw_py_wait_idle(&q->busy);
    if (start_response != NULL)
        ((struct py_start_response *)start_response)->q = NULL;
    Py_CLEAR(q->write);
    PyMem_RawFree(q->head);
    q->head = NULL;
    q->fields = NULL;
    q->nfields = 0;
}
