/*
 * Helpers the other files of python/ share: the text and log line of the current
 * Python exception, and waiting (GIL released) for another Python thread's blocking
 * call on a request's objects to end. Every function here needs the GIL.
 */
#include "python/py_internal.h"

#include <stdio.h>
#include <unistd.h>

#include "gateway/log.h"

void gw_py_wait_idle(const int *flag)
{
    /* The flag is cleared by another thread with the GIL held; that thread is in a
     * blocking call bounded by the gateway's timeouts. */
    while (*flag) {
        Py_BEGIN_ALLOW_THREADS
        usleep(1000);
        Py_END_ALLOW_THREADS
    }
}

/* Writes what PyObject_Str gives for o, UTF-8, into buf. */
static void str_into(PyObject *o, char *buf, size_t len)
{
    PyObject *s = o ? PyObject_Str(o) : NULL;
    const char *u = s ? PyUnicode_AsUTF8(s) : NULL;

    snprintf(buf, len, "%s", u ? u : "?");
    Py_XDECREF(s);
    PyErr_Clear();
}

/* Fetches and clears the current exception: "Type: message" into buf; when context is
 * not NULL one error line "context: Type: message"; with tb, its traceback (gw_log_raw). */
static void report(const char *context, char *buf, size_t len, int tb_wanted)
{
    PyObject *t, *v, *tb, *lines = NULL, *sep = NULL, *text = NULL, *bytes = NULL;
    char msg[512];

    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL) {
        snprintf(buf, len, "unknown error");
        return;
    }
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL && v != NULL)
        PyException_SetTraceback(v, tb);
    str_into(v, msg, sizeof(msg));
    if (msg[0] != '\0')
        snprintf(buf, len, "%s: %s", ((PyTypeObject *)t)->tp_name, msg);
    else
        snprintf(buf, len, "%s", ((PyTypeObject *)t)->tp_name);
    if (context != NULL)
        gw_log(GW_LOG_ERROR, "%s: %s", context, buf);
    if (tb_wanted && gw_py_g.format_exception != NULL) {
        lines = PyObject_CallFunctionObjArgs(gw_py_g.format_exception, t, v ? v : Py_None,
                                             tb ? tb : Py_None, NULL);
        sep = lines ? PyUnicode_FromStringAndSize("", 0) : NULL;
        text = sep ? PyUnicode_Join(sep, lines) : NULL;
        bytes = text ? PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace") : NULL;
        if (bytes != NULL)
            gw_log_raw(PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
        PyErr_Clear();
    }
    Py_XDECREF(bytes);
    Py_XDECREF(text);
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
}

void gw_py_exception_text(char *buf, size_t len, int log_traceback)
{
    report(NULL, buf, len, log_traceback);
}

void gw_py_log_exception(const char *context)
{
    char text[600];

    report(context, text, sizeof(text), 1);
}

/* "METHOD URI" of r for log lines, with anything unprintable as '?', truncated. */
