/*
 * wsgi.errors: a text stream into the error log (write, writelines, flush), a heap
 * type made once at start-up, one object per request.
 *
 * Lines: text is encoded as UTF-8 (backslashreplace, so nothing is lost or refused)
 * and written with gw_log_raw one or more complete lines at a time, so lines of
 * different threads never interleave. A partial line waits in the object until its
 * newline arrives, the request ends (gw_py_errors_expire adds the newline) or it grows
 * past GW_PY_ERRORS_MAXLINE. flush() writes nothing by itself for that reason.
 *
 * The front server: while its request runs, the same complete lines also go to
 * gw_request_send_stderr (FastCGI with --fastcgi-stderr: FCGI_STDERR records), with
 * the GIL released. gw_py_errors_expire ends that when the request ends: the pending
 * partial line goes out first, r is cleared, and a send in progress in another thread
 * (busy) is waited for, so nothing reaches the request after gw_request_finish.
 *
 * Scope: the object stays usable after the request ended (an app may keep it in a
 * logging handler): its lines then go to the error log only, and what it still holds
 * is written when it is freed.
 *
 * Threads: the pending bytes, r and busy are touched only with the GIL held; the
 * writes to the log and the front server happen with the GIL released, from a copy.
 */
#include "python/py_internal.h"

#include <string.h>

#include "gateway/log.h"

#define GW_PY_ERRORS_MAXLINE (16 * 1024)

struct py_errors {
    PyObject_HEAD
    char *pend; /* partial line, not NUL-terminated */
    size_t plen, pcap;
    struct gw_request *r; /* its request while it runs, NULL after (or none) */
    int busy;             /* sends to r in progress with the GIL released */
};

/* GIL released: the lines to the error log, and to the front server while the
 * request runs (r not NULL; e->busy keeps it alive meanwhile). */
static void out(struct py_errors *e, const char *p, size_t n)
{
    struct gw_request *r = e->r;

    if (r != NULL)
        e->busy++;
    Py_BEGIN_ALLOW_THREADS
    gw_log_raw(p, n);
    if (r != NULL)
        gw_request_send_stderr(r, p, n); /* a failure: the error log has the lines */
    Py_END_ALLOW_THREADS
    if (r != NULL)
        e->busy--;
}

/* Writes a then b (then "\n" if nl) in one piece (out()). 0, or -1 with MemoryError. */
static int emit(struct py_errors *e, const char *a, size_t alen, const char *b, size_t blen, int nl)
{
    size_t n = alen + blen + (nl ? 1 : 0);
    char *buf;

    if (n == 0)
        return 0;
    if (alen == 0 && !nl) { /* b is the caller's, alive across the call: no copy */
        out(e, b, blen);
        return 0;
    }
    buf = PyMem_Malloc(n);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (alen)
        memcpy(buf, a, alen);
    if (blen)
        memcpy(buf + alen, b, blen);
    if (nl)
        buf[n - 1] = '\n';
    out(e, buf, n);
    PyMem_Free(buf);
    return 0;
}

static int keep_partial(struct py_errors *e, const char *p, size_t n)
{
    if (e->plen + n > e->pcap) {
        size_t ncap = e->pcap ? e->pcap : 256;
        char *np;

        while (ncap < e->plen + n)
            ncap *= 2;
        np = PyMem_Realloc(e->pend, ncap);
        if (np == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        e->pend = np;
        e->pcap = ncap;
    }
    memcpy(e->pend + e->plen, p, n);
    e->plen += n;
    return 0;
}

/* Writes the pending partial line, if any, with a newline. 0 or -1 with an exception. */
static int flush_partial(struct py_errors *e)
{
    char *p = e->pend;
    size_t n = e->plen;
    int rc;

    if (n == 0)
        return 0;
    /* Detach first: emit() releases the GIL and another thread may write meanwhile. */
    e->pend = NULL;
    e->plen = e->pcap = 0;
    rc = emit(e, p, n, NULL, 0, 1);
    PyMem_Free(p);
    return rc;
}

static int write_bytes(struct py_errors *e, const char *p, size_t n)
{
    const char *last = NULL;

    for (const char *q = p + n; q > p; q--) {
        if (q[-1] == '\n') {
            last = q - 1;
            break;
        }
    }
    if (last == NULL) {
        if (keep_partial(e, p, n) < 0)
            return -1;
        return e->plen > GW_PY_ERRORS_MAXLINE ? flush_partial(e) : 0;
    }
    {
        size_t head = (size_t)(last - p) + 1;
        char *pend = e->pend;
        size_t plen = e->plen;
        int rc;

        e->pend = NULL;
        e->plen = e->pcap = 0;
        if (head < n && keep_partial(e, last + 1, n - head) < 0) {
            PyMem_Free(pend);
            return -1;
        }
        rc = emit(e, pend, plen, p, head, 0);
        PyMem_Free(pend);
        return rc;
    }
}

static PyObject *errors_write(PyObject *self, PyObject *s)
{
    struct py_errors *e = (struct py_errors *)self;
    PyObject *b;
    int rc;

    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.100s",
                     Py_TYPE(s)->tp_name);
        return NULL;
    }
    b = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
    if (b == NULL)
        return NULL;
    rc = write_bytes(e, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    if (rc < 0)
        return NULL;
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(s));
}

static PyObject *errors_writelines(PyObject *self, PyObject *seq)
{
    PyObject *it, *item, *res;

    it = PyObject_GetIter(seq);
    if (it == NULL)
        return NULL;
    while ((item = PyIter_Next(it)) != NULL) {
        res = errors_write(self, item);
        Py_DECREF(item);
        if (res == NULL) {
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(res);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *errors_flush(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    Py_RETURN_NONE;
}

static void errors_dealloc(PyObject *self)
{
    struct py_errors *e = (struct py_errors *)self;
    PyTypeObject *tp = Py_TYPE(self);

    if (e->plen) {
        PyObject *t, *v, *tb;

        PyErr_Fetch(&t, &v, &tb);
        if (flush_partial(e) < 0)
            PyErr_Clear();
        PyErr_Restore(t, v, tb);
    }
    PyMem_Free(e->pend);
    tp->tp_free(self);
    Py_DECREF(tp);
    gw_py_g.live--;
}

static PyMethodDef errors_methods[] = {
    {"write", errors_write, METH_O, "write(str): text to the error log."},
    {"writelines", errors_writelines, METH_O, "writelines(iterable of str)."},
    {"flush", errors_flush, METH_NOARGS, "flush(): lines are written as they complete."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot errors_slots[] = {
    {Py_tp_dealloc, errors_dealloc},
    {Py_tp_methods, errors_methods},
    {Py_tp_doc, "wsgi.errors: text lines to the server's error log."},
    {0, NULL},
};

static PyType_Spec errors_spec = {
    .name = "wsgate.Errors",
    .basicsize = sizeof(struct py_errors),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = errors_slots,
};

int gw_py_errors_init(void)
{
    gw_py_g.errors_type = (PyTypeObject *)PyType_FromSpec(&errors_spec);
    return gw_py_g.errors_type ? 0 : -1;
}

void gw_py_errors_fini(void)
{
    Py_CLEAR(gw_py_g.errors_type);
}

PyObject *gw_py_errors_new(struct gw_request *r)
{
    PyTypeObject *tp = gw_py_g.errors_type;
    PyObject *e = tp->tp_alloc(tp, 0);

    if (e != NULL) {
        ((struct py_errors *)e)->r = r;
        gw_py_g.live++;
    }
    return e;
}

void gw_py_errors_expire(PyObject *errors)
{
    struct py_errors *e = (struct py_errors *)errors;

    if (flush_partial(e) < 0)
        PyErr_Clear();
    e->r = NULL;
    gw_py_wait_idle(&e->busy);
}
