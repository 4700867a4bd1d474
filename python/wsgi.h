/*
 * The Python side of wsgate, as process/main.c sees it: start the interpreter, import the
 * application, and fill a struct gw_app whose handler runs PEP 3333 requests.
 */
#ifndef GW_PY_WSGI_H
#define GW_PY_WSGI_H

#include <stddef.h>

#include "gateway/app.h"

struct gw_py_options {
    const char *app_spec;          /* "MODULE[:CALLABLE]", CALLABLE defaults to application */
    const char *const *pythonpath; /* prepended to sys.path in order; may be NULL */
    size_t npythonpath;
    const char *chdir;       /* chdir before import (also prepended to sys.path);
                                NULL = stay (the cwd is on sys.path either way) */
    const char *venv;        /* virtualenv directory whose site-packages is added,
                                NULL = none */
    const char *python_home; /* NULL = default */
    int multiprocess;        /* wsgi.multiprocess */
};

/*
 * Called once on the main thread before any worker starts: initializes CPython
 * (without installing its own signal handlers), applies the options, imports the app
 * and checks it is callable. On success fills *app, RELEASES the GIL (the caller's
 * thread keeps its thread state for gw_py_shutdown) and returns 0. On failure
 * returns -1 with one line in err (e.g. "cannot import 'foo': No module named 'foo'"),
 * the traceback, if any, already written to the error log.
 */
int gw_py_start(const struct gw_py_options *o, struct gw_app *app, char *err, size_t errlen);

/* Called on the main thread after every worker thread has stopped: finalizes CPython. */
void gw_py_stop(void);

/* Around fork(2) on the main thread of a process where gw_py_start succeeded and no
 * worker thread runs (the prefork master): prepare takes the GIL and Python's fork
 * locks; parent and child release them on their side. */
void gw_py_fork_prepare(void);
void gw_py_fork_parent(void);
void gw_py_fork_child(void);

/* What wsgate --version prints of the embedded Python; callable at any time, without
 * the interpreter started. The strings are static (or the dynamic linker's). */
struct gw_py_build_info {
    const char *version;       /* Py_GetVersion(): "3.11.2 (main, ...) [GCC ...]" */
    const char *library;       /* the file libpython was loaded from; the program's own
                                  path when linked statically; "(unknown)" */
    const char *built_version; /* PY_VERSION of the headers wsgate was built with */
    const char *built_with;    /* the interpreter whose python3-config the build used */
};
void gw_py_build_info(struct gw_py_build_info *out);

#endif
