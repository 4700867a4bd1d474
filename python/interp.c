/*
 * Interpreter start-up and shutdown: gw_py_start initializes CPython on the main
 * thread, prepares sys.path (--venv, --chdir, --pythonpath), makes the shared
 * objects and types of the other python/ files, imports "MODULE[:CALLABLE]" and
 * releases the GIL; gw_py_stop takes it back and finalizes.
 *
 * Configuration: PyConfig from the "Python" preset (the PYTHON* environment
 * variables apply, site runs so Debian's dist-packages are found) without argv
 * parsing, C stdio changes or signal handlers: the gateway owns signals.
 *
 * sys.path, front to back: the --pythonpath dirs in order, the current directory
 * (after --chdir, as an absolute path, like gunicorn), the venv's site-packages and
 * what site added for it, then the interpreter's own entries.
 *
 * Signals: install_signal_handlers = 0 is not enough in CPython 3.11: the first
 * import of the signal module installs Python's SIGINT handler whenever SIGINT is
 * SIG_DFL. So start-up imports signal itself and then puts back the SIGINT action the
 * gateway had; later imports of signal do not run that code again.
 *
 * Errors: one line into err for main to print (control characters, such as the
 * newlines of an exception's message, become spaces); a traceback, if any, goes to
 * the error log first. On failure the interpreter is finalized again: nothing is left
 * half up.
 */
#include "python/py_internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "python/wsgi.h"

struct gw_py_global gw_py_g;

static int started;

static int set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        for (char *p = err; *p != '\0'; p++) /* one line, even for "a\nb" messages */
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    }
    return -1;
}

/* Python error during start-up: "what: Type: message" into err, traceback logged. */
static int py_err(char *err, size_t errlen, const char *what, int traceback)
{
    char text[512];

    gw_py_exception_text(text, sizeof(text), traceback);
    return set_err(err, errlen, "%s: %s", what, text);
}

/* Inserts the file-system path p into sys.path at index i. 0 or -1 with exception. */
static int path_insert(Py_ssize_t i, const char *p)
{
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    PyObject *s;
    int rc;

    if (path == NULL || !PyList_Check(path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
        return -1;
    }
    s = PyUnicode_DecodeFSDefault(p);
    if (s == NULL)
        return -1;
    rc = PyList_Insert(path, i, s);
    Py_DECREF(s);
    return rc;
}

/*
 * Adds the venv's site-packages the way virtualenv's activate_this.py does: through
 * site.addsitedir (so its .pth files run), then moves what that added to the front,
 * and points sys.prefix / sys.exec_prefix at the venv (sys.base_prefix stays).
 */
static int add_venv(const char *venv, const char *site_dir)
{
    PyObject *site = NULL, *res = NULL, *path, *added = NULL, *dir = NULL, *pfx = NULL;
    Py_ssize_t before;
    int rc = -1;

    path = PySys_GetObject("path");
    if (path == NULL || !PyList_Check(path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
        return -1;
    }
    before = PyList_GET_SIZE(path);
    site = PyImport_ImportModule("site");
    dir = site ? PyUnicode_DecodeFSDefault(site_dir) : NULL;
    res = dir ? PyObject_CallMethod(site, "addsitedir", "O", dir) : NULL;
    if (res == NULL)
        goto done;
    path = PySys_GetObject("path"); /* addsitedir may have replaced it: look again */
    if (path == NULL || !PyList_Check(path) || PyList_GET_SIZE(path) < before) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path changed unexpectedly");
        goto done;
    }
    added = PyList_GetSlice(path, before, PyList_GET_SIZE(path));
    if (added == NULL || PyList_SetSlice(path, before, PyList_GET_SIZE(path), NULL) < 0 ||
        PyList_SetSlice(path, 0, 0, added) < 0)
        goto done;
    pfx = PyUnicode_DecodeFSDefault(venv);
    if (pfx == NULL || PySys_SetObject("prefix", pfx) < 0 ||
        PySys_SetObject("exec_prefix", pfx) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(pfx);
    Py_XDECREF(added);
    Py_XDECREF(res);
    Py_XDECREF(dir);
    Py_XDECREF(site);
    return rc;
}

/* Embedded, sys.executable comes out empty (our argv[0] is not a Python); point it
 * at the interpreter of sys.exec_prefix (the venv's when there is one) when that
 * exists, for subprocess and multiprocessing. */
static int set_executable(void)
{
    PyObject *cur = PySys_GetObject("executable"); /* borrowed */
    PyObject *pfx = PySys_GetObject("exec_prefix");
    PyObject *bytes = NULL, *exe = NULL;
    char path[PATH_MAX];
    int rc = 0;

    if (cur != NULL && PyUnicode_Check(cur) && PyUnicode_GET_LENGTH(cur) > 0)
        return 0;
    if (pfx == NULL || !PyUnicode_Check(pfx) || !PyUnicode_FSConverter(pfx, &bytes))
        goto done;
    snprintf(path, sizeof(path), "%s/bin/python%d.%d", PyBytes_AS_STRING(bytes), PY_MAJOR_VERSION,
             PY_MINOR_VERSION);
    if (access(path, X_OK) != 0)
        goto done;
    exe = PyUnicode_DecodeFSDefault(path);
    if (exe == NULL || PySys_SetObject("executable", exe) < 0)
        rc = -1;
done:
    if (rc == 0)
        PyErr_Clear();
    Py_XDECREF(exe);
    Py_XDECREF(bytes);
    return rc;
}

static int setup_path(const struct gw_py_options *o, const char *cwd, const char *venv,
                      const char *site_dir, char *err, size_t errlen)
{
    char abs[PATH_MAX];

    if (venv != NULL && add_venv(venv, site_dir) < 0)
        return py_err(err, errlen, "cannot use venv", 1);
    if (set_executable() < 0)
        return py_err(err, errlen, "cannot set sys.executable", 0);
    if (path_insert(0, cwd) < 0)
        return py_err(err, errlen, "cannot set sys.path", 0);
    for (size_t i = o->npythonpath; i-- > 0;) {
        const char *p = o->pythonpath[i];

        if (p == NULL || p[0] == '\0')
            continue;
        if (p[0] != '/') {
            if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, p) >= sizeof(abs))
                return set_err(err, errlen, "--pythonpath '%s': path too long", p);
            p = abs;
        }
        if (path_insert(0, p) < 0)
            return py_err(err, errlen, "cannot set sys.path", 0);
    }
    return 0;
}

/* "a" or "an" before the English word w: "an" before a, e, i, o ("an int", "an
 * object"); "u" mostly sounds like "you" in type names ("a UUID"). */
static const char *article(const char *w)
{
    return w[0] != '\0' && strchr("aeioAEIO", w[0]) != NULL ? "an" : "a";
}

/* Imports "MODULE[:ATTR[.ATTR...]]" into gw_py_g.app. */
static int import_app(const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    const char *attrs = colon ? colon + 1 : "application";
    char *modname = NULL, *names = NULL, *save = NULL, *name;
    PyObject *obj = NULL, *next;
    char what[600];
    int rc = -1;

    snprintf(what, sizeof(what), "cannot import app '%s'", spec);
    if (colon == spec || spec[0] == '\0' || *attrs == '\0') {
        set_err(err, errlen, "invalid app '%s': expected MODULE[:CALLABLE]", spec);
        goto done;
    }
    modname = strndup(spec, colon ? (size_t)(colon - spec) : strlen(spec));
    names = strdup(attrs);
    if (modname == NULL || names == NULL) {
        set_err(err, errlen, "%s: out of memory", what);
        goto done;
    }
    obj = PyImport_ImportModule(modname);
    if (obj == NULL) {
        py_err(err, errlen, what, 1);
        goto done;
    }
    for (name = strtok_r(names, ".", &save); name != NULL; name = strtok_r(NULL, ".", &save)) {
        next = PyObject_GetAttrString(obj, name);
        Py_DECREF(obj);
        obj = next;
        if (obj == NULL) {
            if (colon == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
                /* No CALLABLE given and no "application": say how to name it. */
                PyErr_Clear();
                set_err(err, errlen,
                        "module '%s' has no attribute 'application' (name the callable: "
                        "MODULE:CALLABLE)",
                        modname);
            } else {
                py_err(err, errlen, what, 0);
            }
            goto done;
        }
    }
    if (!PyCallable_Check(obj)) {
        set_err(err, errlen, "app '%s' is not callable (it is %s %.100s)", spec,
                article(Py_TYPE(obj)->tp_name), Py_TYPE(obj)->tp_name);
        goto done;
    }
    gw_py_g.app = obj;
    obj = NULL;
    rc = 0;
done:
    Py_XDECREF(obj);
    free(names);
    free(modname);
    return rc;
}

/* The shared objects of the other files. Safe to call on a partial set-up. */
static void teardown(void)
{
    Py_CLEAR(gw_py_g.app);
    Py_CLEAR(gw_py_g.format_exception);
    gw_py_timeout_fini();
    gw_py_filewrapper_fini();
    gw_py_response_fini();
    gw_py_errors_fini();
    gw_py_input_fini();
    gw_py_environ_fini();
}

static int init_shared(void)
{
    PyObject *tb;

    if (gw_py_environ_init() < 0 || gw_py_input_init() < 0 || gw_py_errors_init() < 0 ||
        gw_py_response_init() < 0 || gw_py_filewrapper_init() < 0 || gw_py_timeout_init() < 0)
        return -1;
    tb = PyImport_ImportModule("traceback");
    if (tb == NULL)
        return -1;
    gw_py_g.format_exception = PyObject_GetAttrString(tb, "format_exception");
    Py_DECREF(tb);
    return gw_py_g.format_exception ? 0 : -1;
}

static int init_python(const struct gw_py_options *o, char *err, size_t errlen)
{
    char *const argv[] = {"wsgate", NULL};
    PyConfig cfg;
    PyStatus st;

    PyConfig_InitPythonConfig(&cfg);
    cfg.install_signal_handlers = 0;
    cfg.parse_argv = 0;
    cfg.configure_c_stdio = 0;
    st = PyConfig_SetBytesArgv(&cfg, 1, argv);
    if (!PyStatus_Exception(st) && o->python_home != NULL)
        st = PyConfig_SetBytesString(&cfg, &cfg.home, o->python_home);
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&cfg);
    PyConfig_Clear(&cfg);
    if (PyStatus_IsExit(st))
        return set_err(err, errlen, "cannot initialize Python: exit status %d", st.exitcode);
    if (PyStatus_Exception(st))
        return set_err(err, errlen, "cannot initialize Python: %s%s%s", st.func ? st.func : "",
                       st.func ? ": " : "", st.err_msg ? st.err_msg : "error");
    return 0;
}

int gw_py_start(const struct gw_py_options *o, struct gw_app *app, char *err, size_t errlen)
{
    char venv[PATH_MAX], site_dir[PATH_MAX + 64] = "", cwd[PATH_MAX];
    const char *spec = o->app_spec;
    struct sigaction sigint_saved;
    PyObject *sigmod;
    struct stat st;
    int rc = -1;

    if (started)
        return set_err(err, errlen, "Python is already started");
    if (spec == NULL || spec[0] == '\0')
        return set_err(err, errlen, "no app given: expected MODULE[:CALLABLE]");
    /* Checks that need no interpreter first, so mistakes cost no start-up. */
    if (o->venv != NULL) {
        if (realpath(o->venv, venv) == NULL)
            return set_err(err, errlen, "--venv '%s': %s", o->venv, strerror(errno));
        snprintf(site_dir, sizeof(site_dir), "%s/lib/python%d.%d/site-packages", venv,
                 PY_MAJOR_VERSION, PY_MINOR_VERSION);
        if (stat(site_dir, &st) < 0 || !S_ISDIR(st.st_mode))
            return set_err(err, errlen,
                           "--venv '%s': no lib/python%d.%d/site-packages in it "
                           "(not a virtualenv for this Python %d.%d?)",
                           o->venv, PY_MAJOR_VERSION, PY_MINOR_VERSION, PY_MAJOR_VERSION,
                           PY_MINOR_VERSION);
    }
    if (o->chdir != NULL && chdir(o->chdir) < 0)
        return set_err(err, errlen, "--chdir '%s': %s", o->chdir, strerror(errno));
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return set_err(err, errlen, "cannot get the current directory: %s", strerror(errno));

    sigaction(SIGINT, NULL, &sigint_saved);
    if (init_python(o, err, errlen) < 0)
        return -1;
    memset(&gw_py_g, 0, sizeof(gw_py_g));
    gw_py_g.multiprocess = o->multiprocess != 0;
    if (init_shared() < 0) {
        py_err(err, errlen, "cannot set up the Python side", 1);
        goto done;
    }
    if (setup_path(o, cwd, o->venv ? venv : NULL, site_dir, err, errlen) < 0)
        goto done;
    if (import_app(spec, err, errlen) < 0)
        goto done;
    sigmod = PyImport_ImportModule("signal");
    if (sigmod == NULL) {
        py_err(err, errlen, "cannot import signal", 1);
        goto done;
    }
    Py_DECREF(sigmod);

    gw_py_g.interp = PyInterpreterState_Get();
    app->thread_start = gw_py_thread_start;
    app->thread_stop = gw_py_thread_stop;
    app->handle = gw_py_handle;
    app->interrupt = gw_py_interrupt;
    app->stack = gw_py_stack;
    app->release = gw_py_release;
    app->ctx = NULL;
    started = 1;
    rc = 0;
done:
    if (rc < 0) {
        teardown();
        Py_FinalizeEx();
    }
    sigaction(SIGINT, &sigint_saved, NULL);
    if (rc < 0)
        return -1;
    gw_py_g.main_ts = PyEval_SaveThread();
    return 0;
}

void gw_py_stop(void)
{
    if (!started)
        return;
    PyEval_RestoreThread(gw_py_g.main_ts);
    teardown();
    Py_FinalizeEx();
    memset(&gw_py_g, 0, sizeof(gw_py_g));
    started = 0;
}

void gw_py_fork_prepare(void)
{
    PyEval_RestoreThread(gw_py_g.main_ts);
    PyOS_BeforeFork();
}

void gw_py_fork_parent(void)
{
    PyOS_AfterFork_Parent();
    gw_py_g.main_ts = PyEval_SaveThread();
}

void gw_py_fork_child(void)
{
    PyOS_AfterFork_Child();
    gw_py_g.main_ts = PyEval_SaveThread();
}
