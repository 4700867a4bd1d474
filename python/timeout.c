/*
 * The request timeout, Python side: the exception class apps see,
 * wsgate.RequestTimeout (an Exception subclass, importable as `from wsgate import
 * RequestTimeout`), and the gw_app.interrupt callback that raises it asynchronously
 * in a worker thread (PyThreadState_SetAsyncExc), for gateway/watchdog.c.
 *
 * Threads and the GIL: gw_py_timeout_init/_fini run on the main thread with the GIL;
 * gw_py_interrupt runs on the watchdog's interrupter thread without it and takes it;
 * gw_py_drop_stale_interrupt runs on a worker with the GIL. The class is created
 * before any worker starts and cleared after they are gone, so workers read it
 * without a lock.
 */
#include "python/py_internal.h"

static PyObject *request_timeout; /* wsgate.RequestTimeout */

int gw_py_timeout_init(void)
{
    PyObject *mod = PyImport_AddModule("wsgate"); /* borrowed; made if missing */
    if (mod == NULL)
        return -1;
    request_timeout = PyErr_NewExceptionWithDoc(
        "wsgate.RequestTimeout",
        "Raised by wsgate inside a request's thread when the request has been in the "
        "application longer than --timeout. The client has already been answered 504 "
        "Gateway Timeout if the response had not started. Let it propagate so that "
        "the application unwinds and close() runs.",
        PyExc_Exception, NULL);
    if (request_timeout == NULL)
        return -1;
    if (PyModule_AddObjectRef(mod, "RequestTimeout", request_timeout) < 0) {
        Py_CLEAR(request_timeout);
        return -1;
    }
    return 0;
}

void gw_py_timeout_fini(void)
{
    Py_CLEAR(request_timeout);
}

int gw_py_is_request_timeout(void)
{
    return request_timeout != NULL && PyErr_ExceptionMatches(request_timeout);
}

void gw_py_interrupt(void *tctx, int (*confirm)(void *arg), void *arg)
{
    PyThreadState *ts = tctx;
    PyGILState_STATE g = PyGILState_Ensure();

    /* With the GIL held the worker runs no Python: if it is still in the request now,
     * the exception is raised there at its next bytecode (or, if it leaves first, is
     * dropped by gw_py_drop_stale_interrupt when its next request starts). */
    if (request_timeout != NULL && confirm(arg))
        PyThreadState_SetAsyncExc(ts->thread_id, request_timeout);
    PyGILState_Release(g);
}

void gw_py_drop_stale_interrupt(PyThreadState *ts)
{
    if (ts->async_exc != NULL) /* a timeout that fired as the last request ended */
        PyThreadState_SetAsyncExc(ts->thread_id, NULL);
}
