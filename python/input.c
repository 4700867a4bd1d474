/*
 * wsgi.input: the request body as a read-only binary stream (read, readline,
 * readlines, iteration), a heap type made once at start-up.
 *
 * Streaming: bytes come from gw_request_read, called with the GIL released, into a
 * small per-object buffer (GW_PY_INPUT_BUF) allocated on the first read; read(n) and
 * read() copy straight into the result, so the whole body is held only when the app
 * asks for all of it. gw_request_read never reads past the body and returns 0 at its
 * end, which is sticky here (no further calls). A negative GW_E* is turned into an
 * OSError subclass after the GIL is back (errors cross from C to Python in one place:
 * the house style of docs/architecture.md) and is sticky too: a body that ended early
 * (docs/hostile-inputs.md H26) is never reported as complete, and bytes read before
 * the error are dropped rather than returned as if they were the whole body.
 *
 * Request scope: r points to the request until gw_py_input_expire clears it at the
 * end of the request; any later use raises ValueError. busy is set while the GIL is
 * released around a read, so another Python thread using the same object gets a
 * RuntimeError instead of racing on the buffer, and the end of the request waits.
 */
#include "python/py_internal.h"

#include <string.h>

#include "gateway/errors.h"

#define GW_PY_INPUT_BUF      (64 * 1024)   /* per-object read buffer */
#define GW_PY_INPUT_PREALLOC (1024 * 1024) /* read(): largest first guess from CONTENT_LENGTH */

struct py_input {
    PyObject_HEAD
    struct gw_request *r; /* NULL once the request ended */
    char *buf;            /* GW_PY_INPUT_BUF bytes, NULL until the first buffered read */
    size_t pos, end;      /* unread bytes are buf[pos, end) */
    uint64_t got;         /* bytes gw_request_read returned so far */
    int eof;              /* gw_request_read returned 0 */
    int err;              /* the GW_E* it returned, 0 if none */
    int busy;             /* a read is running with the GIL released */
};

static PyObject *raise_read_error(int err)
{
    PyObject *exc;
    const char *msg = gw_strerror(err);

    switch (err) {
    case GW_ECLOSED:
        exc = PyExc_ConnectionResetError;
        break;
    case GW_ETIMEDOUT:
        exc = PyExc_TimeoutError;
        break;
    case GW_EABORTED:
        exc = PyExc_ConnectionAbortedError;
        break;
    default:
        exc = PyExc_OSError;
        break;
    }
    PyErr_Format(exc, "wsgi.input: %s", msg ? msg : "read error");
    return NULL;
}

/* Is the object usable now? 0, or -1 with an exception. */
static int check_usable(struct py_input *in)
{
    if (in->r == NULL) {
        PyErr_SetString(PyExc_ValueError, "wsgi.input used after the request ended");
        return -1;
    }
    if (in->busy) {
        PyErr_SetString(PyExc_RuntimeError, "wsgi.input is being read by another thread");
        return -1;
    }
    return 0;
}

/* gw_request_read into dst with the GIL released: one call, or with full set as many
 * as it takes to fill len bytes or reach the end, so a large read() drops and retakes
 * the GIL once instead of once per socket read. Returns the count, 0 at the end of
 * the body, or -1 with an exception. An error after some bytes arrived returns those
 * and is raised by the next call (read_upto then drops the partial result). */
static Py_ssize_t raw_read(struct py_input *in, char *dst, size_t len, int full)
{
    struct gw_request *r = in->r;
    size_t have = 0;
    ssize_t n = 0;

    if (in->err != 0) {
        raise_read_error(in->err);
        return -1;
    }
    if (in->eof || len == 0)
        return 0;
    in->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    do {
        n = gw_request_read(r, dst + have, len - have);
        if (n > (ssize_t)(len - have))
            n = GW_EIO; /* a broken front-end; never trust it past our buffer */
        if (n > 0)
            have += (size_t)n;
    } while (full && n > 0 && have < len);
    Py_END_ALLOW_THREADS
    in->busy = 0;
    in->got += have;
    if (n < 0)
        in->err = (int)n;
    else if (n == 0)
        in->eof = 1;
    if (have > 0)
        return (Py_ssize_t)have;
    if (n < 0) {
        raise_read_error(in->err);
        return -1;
    }
    return 0;
}

/* Refills the (empty) buffer. Returns the count, 0 at the end, -1 with an exception. */
static Py_ssize_t fill(struct py_input *in)
{
    Py_ssize_t n;

    if (in->buf == NULL) {
        in->buf = PyMem_Malloc(GW_PY_INPUT_BUF);
        if (in->buf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    in->pos = in->end = 0;
    n = raw_read(in, in->buf, GW_PY_INPUT_BUF, 0);
    if (n > 0)
        in->end = (size_t)n;
    return n;
}

/* Grows *res to at least need bytes (doubling). 0, or -1 with an exception (*res
 * is then NULL). */
static int grow(PyObject **res, Py_ssize_t *cap, Py_ssize_t need, Py_ssize_t limit)
{
    Py_ssize_t ncap = *cap;

    while (ncap < need) {
        if (ncap > PY_SSIZE_T_MAX / 2) {
            ncap = PY_SSIZE_T_MAX;
            break;
        }
        ncap = ncap < GW_PY_INPUT_BUF ? GW_PY_INPUT_BUF : ncap * 2;
    }
    if (limit >= 0 && ncap > limit)
        ncap = limit;
    if (*res == NULL) {
        *res = PyBytes_FromStringAndSize(NULL, ncap);
        if (*res == NULL)
            return -1;
    } else if (_PyBytes_Resize(res, ncap) < 0) {
        return -1;
    }
    *cap = ncap;
    return 0;
}

/* Up to limit bytes (limit < 0: all of the body), blocking until limit bytes or the
 * end of the body, like a file's read(). */
static PyObject *read_upto(struct py_input *in, Py_ssize_t limit)
{
    size_t avail = in->end - in->pos;
    PyObject *res = NULL;
    Py_ssize_t have, cap = 0, want;
    int64_t blen = in->r->body_length;

    if (limit == 0 || (avail == 0 && in->eof))
        return PyBytes_FromStringAndSize(NULL, 0);
    if (limit > 0 && (size_t)limit <= avail) {
        res = PyBytes_FromStringAndSize(in->buf + in->pos, limit);
        if (res != NULL)
            in->pos += (size_t)limit;
        return res;
    }
    /* First guess at the size: what is buffered plus what CONTENT_LENGTH says is
     * left (bounded, it is the client's word), else one buffer's worth. */
    want = GW_PY_INPUT_BUF;
    if (blen >= 0 && (uint64_t)blen > in->got) {
        uint64_t left = (uint64_t)blen - in->got;
        want = left < GW_PY_INPUT_PREALLOC ? (Py_ssize_t)left : GW_PY_INPUT_PREALLOC;
    }
    if (grow(&res, &cap, (Py_ssize_t)avail + want, limit) < 0)
        return NULL;
    if (avail > 0)
        memcpy(PyBytes_AS_STRING(res), in->buf + in->pos, avail);
    in->pos = in->end = 0;
    have = (Py_ssize_t)avail;
    while (limit < 0 || have < limit) {
        Py_ssize_t n;

        if (have == cap && grow(&res, &cap, have + 1, limit) < 0)
            return NULL;
        n = raw_read(in, PyBytes_AS_STRING(res) + have, (size_t)(cap - have), 1);
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        have += n;
    }
    if (have != cap && _PyBytes_Resize(&res, have) < 0)
        return NULL;
    return res;

fail:
    Py_DECREF(res);
    return NULL;
}

/* One line (up to and including '\n'), at most limit bytes when limit >= 0. */
static PyObject *readline_upto(struct py_input *in, Py_ssize_t limit)
{
    PyObject *res = NULL;
    Py_ssize_t have = 0, cap = 0;

    if (limit == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    for (;;) {
        size_t avail = in->end - in->pos, take = avail;
        const char *p, *nl;
        int done = 0;

        if (avail == 0) {
            Py_ssize_t n = fill(in);
            if (n < 0)
                goto fail;
            if (n == 0)
                break;
            continue;
        }
        p = in->buf + in->pos;
        if (limit >= 0 && take > (size_t)(limit - have))
            take = (size_t)(limit - have);
        nl = memchr(p, '\n', take);
        if (nl != NULL) {
            take = (size_t)(nl - p) + 1;
            done = 1;
        } else if (limit >= 0 && have + (Py_ssize_t)take == limit) {
            done = 1;
        }
        if (res == NULL && done) { /* the whole line was buffered: one copy */
            res = PyBytes_FromStringAndSize(p, (Py_ssize_t)take);
            if (res != NULL)
                in->pos += take;
            return res;
        }
        if (have + (Py_ssize_t)take > cap && grow(&res, &cap, have + (Py_ssize_t)take, limit) < 0)
            return NULL;
        memcpy(PyBytes_AS_STRING(res) + have, p, take);
        have += (Py_ssize_t)take;
        in->pos += take;
        if (done)
            break;
    }
    if (res == NULL)
        return PyBytes_FromStringAndSize(NULL, 0);
    if (have != cap && _PyBytes_Resize(&res, have) < 0)
        return NULL;
    return res;

fail:
    Py_XDECREF(res);
    return NULL;
}

/* The optional size argument: absent or None gives -1. 0, or -1 with an exception. */
static int parse_size(const char *fname, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *size)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", fname, nargs);
        return -1;
    }
    if (nargs == 1 && args[0] != Py_None) {
        *size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
        if (*size == -1 && PyErr_Occurred())
            return -1;
        if (*size < 0)
            *size = -1;
    }
    return 0;
}

static PyObject *input_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct py_input *in = (struct py_input *)self;
    Py_ssize_t size;

    if (parse_size("read", args, nargs, &size) < 0 || check_usable(in) < 0)
        return NULL;
    return read_upto(in, size);
}

static PyObject *input_readline(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct py_input *in = (struct py_input *)self;
    Py_ssize_t size;

    if (parse_size("readline", args, nargs, &size) < 0 || check_usable(in) < 0)
        return NULL;
    return readline_upto(in, size);
}

static PyObject *input_readlines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct py_input *in = (struct py_input *)self;
    Py_ssize_t hint, total = 0;
    PyObject *list, *line;

    if (parse_size("readlines", args, nargs, &hint) < 0 || check_usable(in) < 0)
        return NULL;
    list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (;;) {
        Py_ssize_t n;

        line = readline_upto(in, -1);
        if (line == NULL)
            goto fail;
        n = PyBytes_GET_SIZE(line);
        if (n == 0) {
            Py_DECREF(line);
            break;
        }
        if (PyList_Append(list, line) < 0) {
            Py_DECREF(line);
            goto fail;
        }
        Py_DECREF(line);
        total += n;
        if (hint > 0 && total >= hint)
            break;
    }
    return list;

fail:
    Py_DECREF(list);
    return NULL;
}

static PyObject *input_iter(PyObject *self)
{
    return Py_NewRef(self);
}

static PyObject *input_iternext(PyObject *self)
{
    struct py_input *in = (struct py_input *)self;
    PyObject *line;

    if (check_usable(in) < 0)
        return NULL;
    line = readline_upto(in, -1);
    if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL; /* StopIteration */
    }
    return line;
}

static void input_dealloc(PyObject *self)
{
    struct py_input *in = (struct py_input *)self;
    PyTypeObject *tp = Py_TYPE(self);

    PyMem_Free(in->buf);
    tp->tp_free(self);
    Py_DECREF(tp);
    gw_py_g.live--;
}

static PyMethodDef input_methods[] = {
    {"read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL,
     "read(size=-1) -> bytes: up to size bytes of the body, all of it when size < 0."},
    {"readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL,
     "readline(size=-1) -> bytes: one line, including its newline."},
    {"readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL,
     "readlines(hint=-1) -> list of lines."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot input_slots[] = {
    {Py_tp_dealloc, input_dealloc},
    {Py_tp_iter, input_iter},
    {Py_tp_iternext, input_iternext},
    {Py_tp_methods, input_methods},
    {Py_tp_doc, "wsgi.input: the request body, valid until the request ends."},
    {0, NULL},
};

static PyType_Spec input_spec = {
    .name = "wsgate.Input",
    .basicsize = sizeof(struct py_input),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = input_slots,
};

int gw_py_input_init(void)
{
    gw_py_g.input_type = (PyTypeObject *)PyType_FromSpec(&input_spec);
    return gw_py_g.input_type ? 0 : -1;
}

void gw_py_input_fini(void)
{
    Py_CLEAR(gw_py_g.input_type);
}

PyObject *gw_py_input_new(struct gw_request *r)
{
    PyTypeObject *tp = gw_py_g.input_type;
    struct py_input *in = (struct py_input *)tp->tp_alloc(tp, 0);

    if (in == NULL)
        return NULL;
    gw_py_g.live++;
    in->r = r;
    return (PyObject *)in;
}

void gw_py_input_expire(PyObject *input)
{
    struct py_input *in = (struct py_input *)input;

    gw_py_wait_idle(&in->busy);
    in->r = NULL;
    PyMem_Free(in->buf);
    in->buf = NULL;
    in->pos = in->end = 0;
}
