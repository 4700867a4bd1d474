/*
 * wsgate --version. Every line is read from the libraries as they run (not only as
 * they were when wsgate was built), so a report from a machine whose libev or OpenSSL
 * was upgraded under the binary says so; the Python lines give both.
 *
 * The protocols line lists the front-ends this build serves, by the names of their
 * listener options (process/main.c's table) or, for HTTP/2 (on by default), with the
 * options that turn it off; nghttp2's version is a line of its own next to OpenSSL's.
 */
#include "process/version.h"

#include <ev.h>

#include "gateway/tls.h"
#include "gateway/util.h"
#include "protocols/h2.h"
#include "python/wsgi.h"

static const char *const protocols[] = {
    "http",
    "https (TLS)",
    "fastcgi",
    "scgi",
    "uwsgi",
    "h2 (ALPN on --https; off: --no-h2)",
    "h2c (on --http; off: --no-h2c)",
};

void gw_version_print(FILE *out)
{
    struct gw_py_build_info py;
    gw_py_build_info(&py);
    fprintf(out, "wsgate %s\n", GW_VERSION);
    fprintf(out, "python: %s\n", py.version);
    fprintf(out, "python library: %s\n", py.library);
    fprintf(out, "python built with: %s (%s)\n", py.built_version, py.built_with);
    fprintf(out, "libev: %d.%d\n", ev_version_major(), ev_version_minor());
    fprintf(out, "openssl: %s\n", gw_tls_library_version());
    fprintf(out, "nghttp2: %s\n", gw_h2_library_version());
    fputs("protocols:", out);
    for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
        fprintf(out, "%s %s", i == 0 ? "" : ",", protocols[i]);
    fputc('\n', out);
}
