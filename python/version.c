/*
 * What wsgate --version says of the embedded Python (process/version.c prints it):
 * the version of the library that is running, the file it was loaded from, and the
 * version and interpreter of the build. Read before, and without, starting the
 * interpreter: Py_GetVersion needs no initialization; the library's path comes from
 * the dynamic linker (dladdr on one of its symbols).
 */
#include "python/py_internal.h"

#include <dlfcn.h>
#include <string.h>

#include "python/wsgi.h"

/* The interpreter whose python3-config the Makefile used (its -DGW_PYTHON_EXE). */
#ifndef GW_PYTHON_EXE
#define GW_PYTHON_EXE "python3"
#endif

void gw_py_build_info(struct gw_py_build_info *out)
{
    Dl_info dl;
    memset(out, 0, sizeof(*out));
    out->version = Py_GetVersion();
    out->library = "(unknown)";
    if (dladdr((void *)Py_GetVersion, &dl) != 0 && dl.dli_fname != NULL)
        out->library = dl.dli_fname;
    out->built_version = PY_VERSION;
    out->built_with = GW_PYTHON_EXE;
}
