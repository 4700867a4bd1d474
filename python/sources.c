/*
 * --reload, Python side: the source files of the imported app that a change should
 * reload (process/watch.c watches them).
 *
 * The rule: every module in sys.modules with a __file__ that is a file on disk,
 * except those of the standard library (sysconfig's stdlib and platstdlib) and of
 * installed packages (any path with a site-packages or dist-packages directory, which
 * covers Debian's /usr/lib/python3/dist-packages, pip's and a venv's). What is left
 * is the app's own code: its package, the --pythonpath and --chdir directories.
 * Written in Python (a few lines run once at start-up) rather than in C.
 *
 * Threads and the GIL: gw_py_source_files runs on the main thread after gw_py_start,
 * without the GIL, and takes it.
 */
#include "python/py_internal.h"
#include "python/wsgi.h"

#include <stdlib.h>
#include <string.h>

static const char sources_py[] =
    "def sources():\n"
    "    import os, sys, sysconfig\n"
    "    paths = sysconfig.get_paths()\n"
    "    skip = set()\n"
    "    for k in ('stdlib', 'platstdlib'):\n"
    "        if paths.get(k):\n"
    "            skip |= {paths[k] + os.sep, os.path.realpath(paths[k]) + os.sep}\n"
    "    found = set()\n"
    "    for m in list(sys.modules.values()):\n"
    "        f = getattr(m, '__file__', None)\n"
    "        if not isinstance(f, str):\n"
    "            continue\n"
    "        f = os.path.abspath(f)\n"
    "        parts = f.split(os.sep)\n"
    "        if 'site-packages' in parts or 'dist-packages' in parts:\n"
    "            continue\n"
    "        if any(f.startswith(s) for s in skip):\n"
    "            continue\n"
    "        if os.path.isfile(f):\n"
    "            found.add(f)\n"
    "    return sorted(found)\n";

/* With the GIL: the list sources() returns, or NULL with an exception. */
static PyObject *call_sources(void)
{
    PyObject *code = NULL, *ns = NULL, *fn, *list = NULL;
    code = Py_CompileString(sources_py, "<wsgate --reload>", Py_file_input);
    ns = code != NULL ? PyDict_New() : NULL;
    if (ns == NULL || PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) < 0)
        goto done;
    PyObject *r = PyEval_EvalCode(code, ns, ns);
    if (r == NULL)
        goto done;
    Py_DECREF(r);
    fn = PyDict_GetItemString(ns, "sources"); /* borrowed */
    list = fn != NULL ? PyObject_CallNoArgs(fn) : NULL;
done:
    Py_XDECREF(ns);
    Py_XDECREF(code);
    return list;
}

int gw_py_source_files(char ***files, size_t *n)
{
    int rc = -1;
    char **out = NULL;
    size_t k = 0;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *list = call_sources();
    if (list == NULL || !PyList_Check(list))
        goto done;
    size_t len = (size_t)PyList_GET_SIZE(list);
    out = calloc(len + 1, sizeof(*out));
    if (out == NULL)
        goto done;
    for (; k < len; k++) {
        const char *s = PyUnicode_AsUTF8(PyList_GET_ITEM(list, (Py_ssize_t)k));
        out[k] = s != NULL ? strdup(s) : NULL;
        if (out[k] == NULL)
            goto done;
    }
    *files = out;
    *n = len;
    out = NULL;
    rc = 0;
done:
    if (PyErr_Occurred()) /* the caller logs that it watches nothing */
        PyErr_Clear();
    for (size_t i = 0; out != NULL && i < k; i++)
        free(out[i]);
    free(out);
    Py_XDECREF(list);
    PyGILState_Release(g);
    return rc;
}
