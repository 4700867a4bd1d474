/*
 * The struct gw_app callbacks: one PyThreadState per worker thread, and the run of
 * one request: environ, the app call, the response loop, close().
 *
 * Threads and the GIL (docs/architecture.md): thread_start creates the worker's thread
 * state once, without the GIL; gw_py_handle restores it on entry and saves it at its
 * single exit, so between requests a worker holds no GIL. Every gw_request_* call is
 * made with the GIL released (in response.c, input.c, filewrapper.c).
 *
 * Outcome: gw_py_handle returns 1 when the response went out completely, 0 when the
 * pool must end it otherwise. It never sends an error response itself: with nothing
 * sent yet (the app raised before its first body byte, never called start_response,
 * returned a non-iterable...) gw_request_finish(r, 0) answers 500; after the head it
 * aborts the connection (docs/hostile-inputs.md R4, R5). close() of the app's
 * iterable is called on every path once the app returned one, including when the
 * client is gone.
 * At the end every request-scoped object (start_response, write, wsgi.input) is
 * expired before the references are dropped, whatever the app kept.
 */
#include "python/py_internal.h"

#include <stdio.h>

#include "gateway/errors.h"
#include "gateway/log.h"
#include "gateway/output.h"
#include "gateway/util.h"

static void describe(const struct gw_request *r, char *buf, size_t len)
{
    size_t w = 0;
    struct gw_slice parts[2] = {r->method, r->request_uri.ptr ? r->request_uri : r->path_info};

    for (int k = 0; k < 2 && w + 1 < len; k++) {
        if (k == 1)
            buf[w++] = ' ';
        for (size_t i = 0; parts[k].ptr && i < parts[k].len && w + 1 < len && i < 200; i++) {
            unsigned char c = (unsigned char)parts[k].ptr[i];
            buf[w++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
    }
    buf[w < len ? w : len - 1] = '\0';
}

/* Logs the pending exception about r, or a one-liner when it comes from a send that
 * already failed (the client went away: not the app's fault). */
static void log_app_error(struct gw_py_req *q, const char *what)
{
    char desc[512], ctx[600];

    describe(q->r, desc, sizeof(desc));
    if (q->send_err) {
        const char *m = gw_strerror(q->send_err);
        PyErr_Clear();
        gw_log(GW_LOG_INFO, "%s: client gone: %s", desc, m ? m : "send failed");
        return;
    }
    if (gw_py_is_request_timeout()) { /* the watchdog has logged the timeout */
        PyErr_Clear();
        gw_log(GW_LOG_WARNING, "%s: %s: wsgate.RequestTimeout (past --timeout)", desc,
               what[0] ? what : "interrupted");
        return;
    }
    snprintf(ctx, sizeof(ctx), "%s: %s", desc, what);
    gw_py_log_exception(ctx);
}

static void log_no_start_response(struct gw_py_req *q)
{
    char desc[512];

    describe(q->r, desc, sizeof(desc));
    gw_log(GW_LOG_ERROR, "%s: the application did not call start_response", desc);
}

/* Sends the body of result. Returns 1 when complete, 0 when the response failed (the
 * reason is logged). The head is sent with the first non-empty item, or by the caller
 * at the end when there was none. */
static int run_body(struct gw_py_req *q, PyObject *result)
{
    PyObject *it, *item;
    int rc;

    if (PyBytes_Check(result) || PyUnicode_Check(result)) {
        PyErr_Format(PyExc_TypeError,
                     "the application returned %.50s; it must return an iterable of bytes, "
                     "e.g. [body]",
                     Py_TYPE(result)->tp_name);
        log_app_error(q, "bad response");
        return 0;
    }
    if (q->send_err) {
        log_app_error(q, "");
        return 0;
    }
    if (q->started && Py_IS_TYPE(result, gw_py_g.file_wrapper_type)) {
        rc = gw_py_filewrapper_sendfile(q, result);
        if (rc != 0) {
            if (rc < 0)
                log_app_error(q, "");
            return rc > 0;
        }
    }
    it = PyObject_GetIter(result);
    if (it == NULL) {
        log_app_error(q, "bad response");
        return 0;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "response body items must be bytes, not %.100s",
                         Py_TYPE(item)->tp_name);
            Py_DECREF(item);
            break;
        }
        if (PyBytes_GET_SIZE(item) > 0) {
            if (!q->started) {
                Py_DECREF(item);
                Py_DECREF(it);
                log_no_start_response(q);
                return 0;
            }
            rc = gw_py_send(q, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item), item);
            if (rc < 0) {
                Py_DECREF(item);
                Py_DECREF(it);
                log_app_error(q, "");
                return 0;
            }
        }
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        log_app_error(q, q->head_sent ? "exception after the response started"
                                      : "exception before the response started");
        return 0;
    }
    return 1;
}

/* Calls result.close() if it has one. Returns ok, or 0 when close() raised before the
 * head went out (the error can still be a 500). */
static int close_result(struct gw_py_req *q, PyObject *result, int ok)
{
    PyObject *close, *res;

    close = PyObject_GetAttrString(result, "close");
    if (close == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            return ok;
        }
        log_app_error(q, "getting close() of the response");
        return q->head_sent ? ok : 0;
    }
    res = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (res == NULL) {
        int gone = q->send_err;
        q->send_err = 0; /* log this one with its traceback: it is the app's */
        log_app_error(q, "exception in close() of the response");
        q->send_err = gone;
        return q->head_sent ? ok : 0;
    }
    Py_DECREF(res);
    return ok;
}

void *gw_py_thread_start(void *ctx)
{
    (void)ctx;
    /* No GIL needed to create a thread state; it becomes this OS thread's. */
    return PyThreadState_New(gw_py_g.interp);
}

void gw_py_thread_stop(void *tctx)
{
    PyThreadState *ts = tctx;

    if (ts == NULL)
        return;
    PyEval_RestoreThread(ts);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent(); /* releases the GIL */
}

/* GIL held: drops the references to response bytes the core has finished writing
 * (gateway/output.h), all of them in one go. */
static void release_parked(void)
{
    void *refs[64];
    size_t n;
    while ((n = gw_out_take_parked(refs, 64)) > 0)
        for (size_t i = 0; i < n; i++)
            Py_DECREF((PyObject *)refs[i]);
}

void gw_py_release(void *tctx)
{
    PyEval_RestoreThread((PyThreadState *)tctx);
    release_parked();
    if (PyErr_Occurred()) /* from a __del__ */
        PyErr_Clear();
    PyEval_SaveThread();
}

int gw_py_handle(void *tctx, struct gw_request *r)
{
    struct gw_py_req q = {.r = r};
    PyObject *input = NULL, *errors = NULL, *env = NULL, *sr = NULL, *result = NULL;
    int ok = 0;

    PyEval_RestoreThread((PyThreadState *)tctx);
    gw_py_drop_stale_interrupt((PyThreadState *)tctx);
    if (gw_out_parked() > 0)
        release_parked();
    r->t_app = gw_now_ns();

    input = gw_py_input_new(r);
    errors = input ? gw_py_errors_new(r) : NULL;
    env = errors ? gw_py_environ_build(r, input, errors) : NULL;
    sr = env ? gw_py_start_response_new(&q) : NULL;
    if (sr == NULL) {
        r->t_app_done = gw_now_ns();
        log_app_error(&q, "cannot set up the request");
        goto done;
    }

    result = PyObject_CallFunctionObjArgs(gw_py_g.app, env, sr, NULL);
    r->t_app_done = gw_now_ns();
    if (result == NULL) {
        log_app_error(&q, "exception in the application");
        goto done;
    }

    ok = run_body(&q, result);
    ok = close_result(&q, result, ok);
    if (ok && !q.head_sent) { /* empty body: the head goes out now */
        if (!q.started) {
            log_no_start_response(&q);
            ok = 0;
        } else if (gw_py_send(&q, NULL, 0, NULL) < 0) {
            log_app_error(&q, "");
            ok = 0;
        }
    }

done:
    /* Expire first, then drop references: the app may have kept any of these. */
    gw_py_response_end(sr, &q);
    if (input != NULL)
        gw_py_input_expire(input);
    if (errors != NULL)
        gw_py_errors_expire(errors);
    Py_XDECREF(result);
    Py_XDECREF(sr);
    Py_XDECREF(env);
    Py_XDECREF(errors);
    Py_XDECREF(input);
    if (PyErr_Occurred()) /* from a __del__ run by the DECREFs: not this request's */
        PyErr_Clear();
    PyEval_SaveThread();
    return ok;
}
