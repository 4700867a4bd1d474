/*
 * The slow log, Python side: gw_app.stack (gateway/app.h), the Python stack of a
 * worker thread that is still in a request after --slow-log, as text for the error
 * log, for gateway/watchdog.c.
 *
 * Threads and the GIL: gw_py_stack runs on the watchdog's helper thread without the
 * GIL and takes it only to read the frames: sys._current_frames() is CPython's
 * supported way to see another thread's frames (PyThreadState_GetFrame is only safe
 * for the calling thread), and with the GIL held the worker runs no Python, so its
 * frames stand still while they are read. Everything is copied into C memory before
 * the GIL is released; the log line is written without it.
 */
#include "python/py_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define STACK_MAX_FRAMES 128
#define STACK_MAX_TEXT   (64 * 1024)

struct text {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    if (t->failed)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) {
        t->failed = 1; /* no room: the text ends with the last whole line */
        t->p[t->len] = '\0';
    } else
        t->len += (size_t)n;
}

/* A str attribute of a code object as UTF-8 ("?" when it is not one). */
static const char *utf8_or(PyObject *s)
{
    const char *u = s != NULL && PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : NULL;
    if (u == NULL)
        PyErr_Clear();
    return u != NULL ? u : "?";
}

/* With the GIL: the frames of the thread with that id, outermost first, into t. */
static void format_frames(unsigned long thread_id, struct text *t)
{
    PyFrameObject *frames[STACK_MAX_FRAMES];
    int n = 0, more = 0;
    PyObject *all = NULL, *key = NULL;
    PyObject *fn = PySys_GetObject("_current_frames"); /* borrowed */

    all = fn != NULL ? PyObject_CallNoArgs(fn) : NULL;
    key = all != NULL ? PyLong_FromUnsignedLong(thread_id) : NULL;
    PyObject *top = key != NULL ? PyDict_GetItemWithError(all, key) : NULL; /* borrowed */
    if (top == NULL || !PyFrame_Check(top)) {
        put(t, "  (its Python stack could not be read)\n");
        goto done;
    }
    /* Innermost first as the frames link; kept as new references, printed reversed. */
    PyFrameObject *f = (PyFrameObject *)top;
    Py_INCREF(f);
    while (f != NULL) {
        if (n == STACK_MAX_FRAMES) {
            more++;
            PyFrameObject *back = PyFrame_GetBack(f);
            Py_DECREF(f);
            f = back;
            continue;
        }
        frames[n++] = f;
        f = PyFrame_GetBack(f);
    }
    if (more > 0)
        put(t, "  ... %d outer frames left out\n", more);
    for (int i = n - 1; i >= 0; i--) {
        PyCodeObject *code = PyFrame_GetCode(frames[i]);
        put(t, "  File \"%s\", line %d, in %s\n", utf8_or(code->co_filename),
            PyFrame_GetLineNumber(frames[i]), utf8_or(code->co_name));
        Py_DECREF(code);
    }
    for (int i = 0; i < n; i++)
        Py_DECREF(frames[i]);
done:
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_XDECREF(key);
    Py_XDECREF(all);
}

char *gw_py_stack(void *tctx, int (*confirm)(void *arg), void *arg)
{
    PyThreadState *ts = tctx;
    struct text t = {.cap = STACK_MAX_TEXT};
    t.p = malloc(t.cap);
    if (t.p == NULL)
        return NULL;
    t.p[0] = '\0';
    PyGILState_STATE g = PyGILState_Ensure();
    int same = confirm(arg);
    if (same)
        format_frames(ts->thread_id, &t);
    PyGILState_Release(g);
    if (!same) {
        free(t.p);
        return NULL;
    }
    if (t.failed && t.len + 8 < t.cap)
        memcpy(t.p + t.len, "  ...\n", 7);
    return t.p;
}
