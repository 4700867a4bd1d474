/*
 * What the files of python/ share, and nothing else includes: the process-wide
 * Python state (the imported app, the heap types, the interned environ keys) and the
 * per-request state that start_response, write() and the response loop work on.
 *
 * Threads and the GIL: every function declared here is called with the GIL held
 * unless its comment says otherwise. The gw_py_g state is written once on the main
 * thread by gw_py_start (before any worker exists) and cleared by gw_py_stop (after
 * every worker is gone); in between it is read-only, so workers read it freely.
 */
#ifndef GW_PY_INTERNAL_H
#define GW_PY_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#include "gateway/request.h"

/* The fixed environ keys, made once as interned str (NGINX Unit's nxt_python_strings). */
#define GW_PY_KEYS(X)                                                                              \
    X(REQUEST_METHOD, "REQUEST_METHOD")                                                            \
    X(SCRIPT_NAME, "SCRIPT_NAME")                                                                  \
    X(PATH_INFO, "PATH_INFO")                                                                      \
    X(QUERY_STRING, "QUERY_STRING")                                                                \
    X(CONTENT_TYPE, "CONTENT_TYPE")                                                                \
    X(CONTENT_LENGTH, "CONTENT_LENGTH")                                                            \
    X(SERVER_NAME, "SERVER_NAME")                                                                  \
    X(SERVER_PORT, "SERVER_PORT")                                                                  \
    X(SERVER_PROTOCOL, "SERVER_PROTOCOL")                                                          \
    X(REMOTE_ADDR, "REMOTE_ADDR")                                                                  \
    X(REMOTE_PORT, "REMOTE_PORT")                                                                  \
    X(REQUEST_URI, "REQUEST_URI")                                                                  \
    X(WSGI_VERSION, "wsgi.version")                                                                \
    X(WSGI_URL_SCHEME, "wsgi.url_scheme")                                                          \
    X(WSGI_INPUT, "wsgi.input")                                                                    \
    X(WSGI_ERRORS, "wsgi.errors")                                                                  \
    X(WSGI_MULTITHREAD, "wsgi.multithread")                                                        \
    X(WSGI_MULTIPROCESS, "wsgi.multiprocess")                                                      \
    X(WSGI_RUN_ONCE, "wsgi.run_once")                                                              \
    X(WSGI_INPUT_TERMINATED, "wsgi.input_terminated")                                              \
    X(WSGI_FILE_WRAPPER, "wsgi.file_wrapper")

enum gw_py_key {
#define GW_PY_KEY_ENUM(id, s) GW_PY_K_##id,
    GW_PY_KEYS(GW_PY_KEY_ENUM)
#undef GW_PY_KEY_ENUM
        GW_PY_NKEYS
};

/* Process-wide state; see the comment at the top for who writes it when. */
struct gw_py_global {
    PyObject *app;              /* the application callable */
    PyObject *format_exception; /* traceback.format_exception */
    PyObject *keys[GW_PY_NKEYS];
    PyObject *version;      /* (1, 0) */
    PyObject *scheme_http;  /* "http" */
    PyObject *scheme_https; /* "https" */
    PyObject *empty;        /* "" */
    PyTypeObject *input_type;
    PyTypeObject *errors_type;
    PyTypeObject *start_response_type;
    PyTypeObject *file_wrapper_type;
    int multiprocess;
    PyInterpreterState *interp;
    PyThreadState *main_ts; /* the main thread's state while the GIL is released */
    long live;              /* live objects of our types (tests check it drops to 0) */
};

extern struct gw_py_global gw_py_g;

/*
 * One request as the Python side sees it. Lives on the worker's stack in handle();
 * the start_response object points to it until the request ends. busy is set while
 * the GIL is released around a send, so another Python thread holding our objects
 * cannot free or replace what is being sent.
 */
struct gw_py_req {
    struct gw_request *r;
    PyObject *write;         /* the write callable, made on the first start_response */
    char *head;              /* malloc'd block holding the validated status and fields */
    struct gw_slice status;  /* into head */
    struct gw_field *fields; /* into head */
    size_t nfields;
    int started;   /* start_response succeeded at least once */
    int head_sent; /* send_head was attempted: no 500 possible any more */
    int busy;      /* a send is in progress with the GIL released */
    int send_err;  /* first GW_E* a send returned (sticky), 0 if none */
};

/* util.c: shared helpers. Writes "Type: message" of the current exception into buf and clears it;
 * with log_traceback, first writes its traceback to the error log with gw_log_raw. */
void gw_py_exception_text(char *buf, size_t len, int log_traceback);

/* Logs the current exception (which it clears) as one gw_log line, "context: Type:
 * message", then the traceback through gw_log_raw. */
void gw_py_log_exception(const char *context);

/* Waits, with the GIL released in between, until *flag is 0. For the end of a request
 * whose objects another Python thread is using for a blocking call. */
void gw_py_wait_idle(const int *flag);

/* environ.c: keys and constants (0 or -1 with an exception), the builder. */
int gw_py_environ_init(void);
void gw_py_environ_fini(void);
/* New environ dict for r, holding input and errors; NULL with an exception. */
PyObject *gw_py_environ_build(const struct gw_request *r, PyObject *input, PyObject *errors);

/* input.c: the wsgi.input type. */
int gw_py_input_init(void);
void gw_py_input_fini(void);
PyObject *gw_py_input_new(struct gw_request *r);
/* Ends the object's request: later reads raise ValueError. Waits for a read in
 * progress in another thread to come back first. */
void gw_py_input_expire(PyObject *input);

/* errors.c: the wsgi.errors type. new: r's lines also go to gw_request_send_stderr
 * until _expire (r may be NULL: the error log only). */
int gw_py_errors_init(void);
void gw_py_errors_fini(void);
PyObject *gw_py_errors_new(struct gw_request *r);
/* Ends the object's request: writes a pending partial line (with a newline added),
 * then nothing more goes to r; waits for a send of another thread to come back. */
void gw_py_errors_expire(PyObject *errors);

/* response.c: start_response, write() and the sending of the head and body. */
int gw_py_response_init(void);
void gw_py_response_fini(void);
PyObject *gw_py_start_response_new(struct gw_py_req *q);
/* Ends the request for the start_response object (later calls raise), waits for a
 * send of another thread to finish, and frees what q holds. */
void gw_py_response_end(PyObject *start_response, struct gw_py_req *q);
/*
 * Sends the head if not sent yet, then len bytes of buf (len may be 0: head only),
 * with the GIL released. owner, when not NULL, is the object whose memory buf is (a
 * bytes object): the core may keep a reference to it instead of copying what a slow
 * peer has not taken yet (released later by gw_py_release). q->started must be true
 * and q->busy false. Returns 0 or the GW_E* of the failed send (also stored in
 * q->send_err); no Python exception is set.
 */
int gw_py_send(struct gw_py_req *q, const char *buf, size_t len, PyObject *owner);

/* filewrapper.c: the wsgi.file_wrapper type and the sendfile path. */
int gw_py_filewrapper_init(void);
void gw_py_filewrapper_fini(void);
/*
 * When result is a file wrapper around a regular file with a descriptor, sends the
 * head and the file from its current position with gw_request_send_file, GIL
 * released. Returns 1 when sent, 0 when not applicable (iterate it instead), or a
 * GW_E* when the send failed. No Python exception is left set.
 */
int gw_py_filewrapper_sendfile(struct gw_py_req *q, PyObject *result);

/* timeout.c: wsgate.RequestTimeout and raising it in a worker (--timeout). init: 0
 * or -1 with an exception. gw_py_interrupt is the gw_app.interrupt callback (called
 * WITHOUT the GIL, see gateway/app.h). gw_py_is_request_timeout: the current
 * exception is a RequestTimeout. gw_py_drop_stale_interrupt: clears a timeout
 * exception still pending for ts (raised as its previous request ended). */
int gw_py_timeout_init(void);
void gw_py_timeout_fini(void);
void gw_py_interrupt(void *tctx, int (*confirm)(void *arg), void *arg);
int gw_py_is_request_timeout(void);
void gw_py_drop_stale_interrupt(PyThreadState *ts);

/* stack.c: gw_app.stack (--slow-log), called WITHOUT the GIL (gateway/app.h): the
 * Python stack of the worker whose thread state is tctx, as malloc'd text, or NULL. */
char *gw_py_stack(void *tctx, int (*confirm)(void *arg), void *arg);

/* handler.c: the gw_app callbacks. */
void *gw_py_thread_start(void *ctx);
void gw_py_thread_stop(void *tctx);
int gw_py_handle(void *tctx, struct gw_request *r);
/* struct gw_app's release: drops the parked references (gateway/output.h). */
void gw_py_release(void *tctx);

#endif
