/*
 * wsgi.file_wrapper(filelike, blksize=8192): the PEP 3333 optional platform-specific
 * file handling. The type itself is the environ value; an instance iterates
 * filelike.read(blksize) until it returns b"" and its close() calls filelike.close().
 *
 * The fast path: when the app returns such a wrapper untouched and the file-like
 * object has a fileno() of a regular file, the response loop does not iterate it but
 * calls gw_py_filewrapper_sendfile, which sends the file from its current position
 * (filelike.tell(), which accounts for Python-side buffering, else lseek) to its end
 * with gw_request_send_file, GIL released (sendfile(2) where the framing allows).
 * Anything unusual (no fileno, a pipe, a socket, a BytesIO) falls back to iteration.
 *
 * The object holds a reference to filelike, hence the GC slots.
 */
#include "python/py_internal.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

struct py_file_wrapper {
    PyObject_HEAD
    PyObject *filelike;
    Py_ssize_t blksize;
};

static PyObject *fw_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"filelike", "blksize", NULL};
    PyObject *filelike;
    Py_ssize_t blksize = 8192;
    struct py_file_wrapper *fw;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n:file_wrapper", kwlist, &filelike, &blksize))
        return NULL;
    fw = (struct py_file_wrapper *)tp->tp_alloc(tp, 0);
    if (fw == NULL)
        return NULL;
    gw_py_g.live++;
    fw->filelike = Py_NewRef(filelike);
    fw->blksize = blksize;
    return (PyObject *)fw;
}

static PyObject *fw_iter(PyObject *self)
{
    return Py_NewRef(self);
}

static PyObject *fw_iternext(PyObject *self)
{
    struct py_file_wrapper *fw = (struct py_file_wrapper *)self;
    PyObject *data;

    data = PyObject_CallMethod(fw->filelike, "read", "n", fw->blksize);
    if (data == NULL)
        return NULL;
    if (PyObject_IsTrue(data) != 1) { /* b"" (or an error testing it): the end */
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

static PyObject *fw_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    struct py_file_wrapper *fw = (struct py_file_wrapper *)self;
    PyObject *close, *res;

    close = PyObject_GetAttrString(fw->filelike, "close");
    if (close == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    res = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    return res;
}

static int fw_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((struct py_file_wrapper *)self)->filelike);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int fw_clear(PyObject *self)
{
    Py_CLEAR(((struct py_file_wrapper *)self)->filelike);
    return 0;
}

static void fw_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    fw_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
    gw_py_g.live--;
}

static PyMethodDef fw_methods[] = {
    {"close", fw_close, METH_NOARGS, "close(): closes the file-like object."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot fw_slots[] = {
    {Py_tp_new, fw_new},
    {Py_tp_dealloc, fw_dealloc},
    {Py_tp_traverse, fw_traverse},
    {Py_tp_clear, fw_clear},
    {Py_tp_iter, fw_iter},
    {Py_tp_iternext, fw_iternext},
    {Py_tp_methods, fw_methods},
    {Py_tp_doc, "file_wrapper(filelike, blksize=8192): iterates a file in blocks; "
                "wsgate sends regular files with sendfile(2)."},
    {0, NULL},
};

static PyType_Spec fw_spec = {
    .name = "wsgate.FileWrapper",
    .basicsize = sizeof(struct py_file_wrapper),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = fw_slots,
};

int gw_py_filewrapper_init(void)
{
    gw_py_g.file_wrapper_type = (PyTypeObject *)PyType_FromSpec(&fw_spec);
    return gw_py_g.file_wrapper_type ? 0 : -1;
}

void gw_py_filewrapper_fini(void)
{
    Py_CLEAR(gw_py_g.file_wrapper_type);
}

/* An int result of obj.name(), or -1 with no exception left when there is none. */
static long long call_int(PyObject *obj, const char *name)
{
    PyObject *res = PyObject_CallMethod(obj, name, NULL);
    long long v = -1;

    if (res != NULL && PyLong_Check(res))
        v = PyLong_AsLongLong(res);
    Py_XDECREF(res);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        v = -1;
    }
    return v;
}

int gw_py_filewrapper_sendfile(struct gw_py_req *q, PyObject *result)
{
    struct py_file_wrapper *fw = (struct py_file_wrapper *)result;
    struct gw_request *r = q->r;
    struct stat st;
    long long fd, off;
    int rc = 0;

    if (!Py_IS_TYPE(result, gw_py_g.file_wrapper_type) || fw->filelike == NULL)
        return 0;
    fd = call_int(fw->filelike, "fileno");
    if (fd < 0 || fd > INT32_MAX || fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    off = call_int(fw->filelike, "tell");
    if (off < 0) {
        off_t pos = lseek((int)fd, 0, SEEK_CUR);
        if (pos < 0)
            return 0;
        off = (long long)pos;
    }
    /* The head first (the lazy head of response.c, with no body bytes), then the
     * file. fw (and so the file) stays alive: the caller holds the result. */
    rc = gw_py_send(q, NULL, 0, NULL);
    if (rc < 0)
        return rc;
    q->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = gw_request_send_file(r, (int)fd, (off_t)off, (size_t)-1);
    Py_END_ALLOW_THREADS
    q->busy = 0;
    if (rc < 0) {
        q->send_err = rc;
        return rc;
    }
    return 1;
}
