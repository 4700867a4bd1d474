/*
 * Unit tests of protocols/cgi.c: tables of {CGI variables as a front server sends
 * them, options, expected request and pass-through list, or the refusal}. The
 * variable sets are the ones nginx (stock fastcgi_params and scgi_params), Apache
 * mod_proxy_fcgi, lighttpd mod_fastcgi (mounted at /app and at /) and HAProxy
 * fcgi-app send for the same request, so the tables show that the app sees one
 * environ whatever the front server. Also the F19 Content-Length rows, F24, and the
 * PHP-FPM CVE-2019-11043 shapes (PATH_INFO longer than or unrelated to REQUEST_URI,
 * empty values, %0a). Every value is an exact-size heap copy and the scratch buffer
 * is exactly the size the contract promises is enough, so ASan sees any over-read or
 * overflow.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/cgi.h"
#include "tests/unit/support.h"

#define MAXVARS 64

/* ------------------------------------------------------------------ driver */

enum { NO_PREFIX, PREFIX_APP, NO_PREFIX_SCGI, PREFIX_APP_SCGI, NO_PREFIX_UWSGI };

static const struct gw_cgi_options options[] = {
    [NO_PREFIX] = {"", "127.0.0.1", "9000", 1},
    [PREFIX_APP] = {"/app", "127.0.0.1", "9000", 1},
    [NO_PREFIX_SCGI] = {"", "127.0.0.1", "4000", 0},
    [PREFIX_APP_SCGI] = {"/app", "127.0.0.1", "4000", 0},
    [NO_PREFIX_UWSGI] = {"", "127.0.0.1", "3031", GW_CGI_EMPTY_LENGTH_NO_BODY},
};

struct cgi_case {
    const char *name;
    const char *const *vars; /* "NAME=value" (split at the first '='), NULL-terminated */
    int opt;
    int verdict;        /* 0 or -status (the refusal's record is checked too) */
    const char *expect; /* description, or NULL to check the verdict only */
};

static void describe(struct sb *b, const struct gw_request *r)
{
    sb_add(b, "M=", 2);
    sb_esc_slice(b, r->method);
    sb_add(b, " U=", 3);
    sb_esc_slice(b, r->request_uri);
    sb_add(b, " SN=", 4);
    sb_esc_slice(b, r->script_name);
    sb_add(b, " PI=", 4);
    sb_esc_slice(b, r->path_info);
    sb_add(b, " Q=", 3);
    sb_esc_slice(b, r->query);
    sb_add(b, " P=", 3);
    sb_esc_slice(b, r->protocol);
    sb_add(b, "\nCT=", 4);
    sb_esc_slice(b, r->content_type);
    sb_add(b, " CL=", 4);
    sb_esc_slice(b, r->content_length);
    sb_fmt(b, " BL=%" PRId64 " HOST=", r->body_length);
    sb_esc_slice(b, r->server_name);
    sb_add(b, ":", 1);
    sb_esc_slice(b, r->server_port);
    sb_add(b, " REMOTE=", 8);
    sb_esc_slice(b, r->remote_addr);
    sb_add(b, ":", 1);
    sb_esc_slice(b, r->remote_port);
    sb_fmt(b, " HTTPS=%d\n", r->https);
    for (size_t i = 0; i < r->ncgi; i++) {
        sb_esc_slice(b, r->cgi[i].name);
        sb_add(b, "=", 1);
        sb_esc_slice(b, r->cgi[i].value);
        sb_add(b, "\n", 1);
    }
}

/* Runs one case; returns the verdict, *out the description (caller frees). */
static int run_case(const char *const *vars, const struct gw_cgi_options *opt, size_t scratch_cap,
                    char **out)
{
    struct gw_field f[MAXVARS];
    char *copies[2 * MAXVARS];
    size_t n = 0, total = 0;
    struct gw_request r;
    struct sb b = {0};

    for (; vars[n] != NULL; n++) {
        cr_assert(n < MAXVARS);
        const char *eq = strchr(vars[n], '=');
        cr_assert(eq != NULL, "%s", vars[n]);
        size_t nl = (size_t)(eq - vars[n]), vl = strlen(eq + 1);
        copies[2 * n] = exact_copy(vars[n], nl);
        copies[2 * n + 1] = exact_copy(eq + 1, vl);
        f[n].name = gw_slice_make(copies[2 * n], nl);
        f[n].value = gw_slice_make(copies[2 * n + 1], vl);
        total += vl;
    }
    if (scratch_cap == (size_t)-1)
        scratch_cap = total + GW_CGI_SCRATCH_EXTRA; /* what the contract promises suffices */
    char *scratch = malloc(scratch_cap ? scratch_cap : 1);
    cr_assert(scratch != NULL);
    memset(&r, 0x5a, sizeof(r)); /* the members gw_cgi_build does not own stay as they were */
    r.headers = NULL;
    r.nheaders = 0;
    struct gw_parse_error err = {GW_EIO, 1, "stale"}; /* cleared on success */
    int rc = gw_cgi_build(f, n, opt, scratch, scratch_cap, &r, &err);
    sb_add(&b, "", 0);
    if (rc < 0)
        rc = check_refusal(rc, &err, 0); /* the tables' verdict: -status */
    else
        cr_assert(err.code == 0 && err.status == 0 && err.why == NULL);
    if (rc == 0) {
        describe(&b, &r);
        cr_assert(r.cgi == f && r.ncgi <= n);
        cr_assert(r.headers == NULL && r.status == 0x5a5a5a5a);
    } else {
        sb_fmt(&b, "ERR %d\n", rc);
    }
    for (size_t i = 0; i < 2 * n; i++)
        free(copies[i]);
    free(scratch);
    *out = b.p;
    return rc;
}

static void check_case(const struct cgi_case *c)
{
    char *desc;
    int v = run_case(c->vars, &options[c->opt], (size_t)-1, &desc);
    cr_expect_eq(v, c->verdict, "%s: verdict %d, expected %d\n%s", c->name, v, c->verdict, desc);
    if (c->expect != NULL)
        cr_expect_str_eq(desc, c->expect, "%s: got\n%s\nexpected\n%s", c->name, desc, c->expect);
    free(desc);
}

#define V(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- what the front servers send for GET /app/hello%20world/x?a=1&b=%20 ---------- */

/* nginx 1.22, Debian's stock fastcgi_params, `server_name` not set. */
#define NGINX_FCGI                                                                                 \
    V("QUERY_STRING=a=1&b=%20", "REQUEST_METHOD=GET",                                              \
      "CONTENT_TYPE=", "CONTENT_LENGTH=", "SCRIPT_NAME=/app/hello world/x",                        \
      "REQUEST_URI=/app/hello%20world/x?a=1&b=%20", "DOCUMENT_URI=/app/hello world/x",             \
      "DOCUMENT_ROOT=/usr/share/nginx/html", "SERVER_PROTOCOL=HTTP/1.1", "REQUEST_SCHEME=http",    \
      "GATEWAY_INTERFACE=CGI/1.1", "SERVER_SOFTWARE=nginx/1.22.1", "REMOTE_ADDR=127.0.0.1",        \
      "REMOTE_PORT=51234", "REMOTE_USER=", "SERVER_ADDR=127.0.0.1", "SERVER_PORT=8080",            \
      "SERVER_NAME=", "REDIRECT_STATUS=200", "HTTP_HOST=example.com:8080",                         \
      "HTTP_USER_AGENT=curl/7.88.1", "HTTP_ACCEPT=*/*")

#define NGINX_PASS                                                                                 \
    "DOCUMENT_URI=/app/hello world/x\nDOCUMENT_ROOT=/usr/share/nginx/html\n"                       \
    "REQUEST_SCHEME=http\nGATEWAY_INTERFACE=CGI/1.1\nSERVER_SOFTWARE=nginx/1.22.1\n"               \
    "REMOTE_USER=\nSERVER_ADDR=127.0.0.1\nREDIRECT_STATUS=200\nHTTP_HOST=example.com:8080\n"       \
    "HTTP_USER_AGENT=curl/7.88.1\nHTTP_ACCEPT=*/*\n"

/* Apache 2.4.57 mod_proxy_fcgi, `ProxyPass /app/ fcgi://127.0.0.1:9000/app/`. */
#define APACHE_FCGI                                                                                \
    V("HTTP_HOST=localhost:8080", "HTTP_USER_AGENT=curl/7.88.1", "HTTP_ACCEPT=*/*",                \
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",                         \
      "SERVER_SIGNATURE=<address>Apache/2.4.57 (Debian) Server at localhost Port "                 \
      "8080</address>\n",                                                                          \
      "SERVER_SOFTWARE=Apache/2.4.57 (Debian)", "SERVER_NAME=localhost", "SERVER_ADDR=127.0.0.1",  \
      "SERVER_PORT=8080", "REMOTE_ADDR=127.0.0.1", "DOCUMENT_ROOT=/var/www/html",                  \
      "REQUEST_SCHEME=http", "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/var/www/html",             \
      "SERVER_ADMIN=webmaster@localhost",                                                          \
      "SCRIPT_FILENAME=proxy:fcgi://127.0.0.1:9000/app/hello%20world/x", "REMOTE_PORT=51234",      \
      "GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1", "REQUEST_METHOD=GET",               \
      "QUERY_STRING=a=1&b=%20", "REQUEST_URI=/app/hello%20world/x?a=1&b=%20",                      \
      "SCRIPT_NAME=/app/hello world/x")

#define APACHE_HEAD "M=GET U=/app/hello%20world/x?a=1&b=%20 "
#define APACHE_TAIL                                                                                \
    " Q=a=1&b=%20 P=HTTP/1.1\nCT=- CL=- BL=-1 HOST=localhost:8080 "                                \
    "REMOTE=127.0.0.1:51234 HTTPS=0\n"                                                             \
    "HTTP_HOST=localhost:8080\nHTTP_USER_AGENT=curl/7.88.1\nHTTP_ACCEPT=*/*\n"                     \
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"                          \
    "SERVER_SIGNATURE=<address>Apache/2.4.57 (Debian) Server at localhost Port "                   \
    "8080</address>\\x0a\n"                                                                        \
    "SERVER_SOFTWARE=Apache/2.4.57 (Debian)\nSERVER_ADDR=127.0.0.1\n"                              \
    "DOCUMENT_ROOT=/var/www/html\nREQUEST_SCHEME=http\nCONTEXT_PREFIX=\n"                          \
    "CONTEXT_DOCUMENT_ROOT=/var/www/html\nSERVER_ADMIN=webmaster@localhost\n"                      \
    "SCRIPT_FILENAME=proxy:fcgi://127.0.0.1:9000/app/hello%20world/x\n"                            \
    "GATEWAY_INTERFACE=CGI/1.1\n"

/* lighttpd 1.4.69 mod_fastcgi, "/app" => (... "check-local" => "disable"). */
#define LIGHTTPD_APP                                                                               \
    V("CONTENT_LENGTH=0", "QUERY_STRING=a=1&b=%20", "REQUEST_URI=/app/hello%20world/x?a=1&b=%20",  \
      "REDIRECT_STATUS=200", "SCRIPT_NAME=/app", "SCRIPT_FILENAME=/var/www/app",                   \
      "PATH_INFO=/hello world/x", "PATH_TRANSLATED=/var/www/hello world/x",                        \
      "DOCUMENT_ROOT=/var/www", "REQUEST_METHOD=GET", "SERVER_PROTOCOL=HTTP/1.1",                  \
      "SERVER_SOFTWARE=lighttpd/1.4.69", "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_SCHEME=http",       \
      "SERVER_PORT=8080", "SERVER_ADDR=127.0.0.1", "SERVER_NAME=localhost",                        \
      "REMOTE_ADDR=127.0.0.1", "REMOTE_PORT=51234", "HTTP_HOST=localhost:8080",                    \
      "HTTP_USER_AGENT=curl/7.88.1", "HTTP_ACCEPT=*/*")

#define LIGHTTPD_PASS                                                                              \
    "REDIRECT_STATUS=200\nSCRIPT_FILENAME=/var/www/app\n"                                          \
    "PATH_TRANSLATED=/var/www/hello world/x\nDOCUMENT_ROOT=/var/www\n"                             \
    "SERVER_SOFTWARE=lighttpd/1.4.69\nGATEWAY_INTERFACE=CGI/1.1\nREQUEST_SCHEME=http\n"            \
    "SERVER_ADDR=127.0.0.1\nHTTP_HOST=localhost:8080\nHTTP_USER_AGENT=curl/7.88.1\n"               \
    "HTTP_ACCEPT=*/*\n"

/* lighttpd mounted at "/" (no fix-root-scriptname): the whole path in SCRIPT_NAME. */
#define LIGHTTPD_ROOT                                                                              \
    V("CONTENT_LENGTH=0", "QUERY_STRING=a=1&b=%20", "REQUEST_URI=/app/hello%20world/x?a=1&b=%20",  \
      "REDIRECT_STATUS=200", "SCRIPT_NAME=/app/hello world/x",                                     \
      "SCRIPT_FILENAME=/var/www/app/hello world/x", "DOCUMENT_ROOT=/var/www",                      \
      "REQUEST_METHOD=GET", "SERVER_PROTOCOL=HTTP/1.1", "SERVER_PORT=8080",                        \
      "SERVER_NAME=localhost", "REMOTE_ADDR=127.0.0.1", "REMOTE_PORT=51234",                       \
      "HTTP_HOST=localhost:8080")

/* HAProxy 2.6 fcgi-app, TLS on the front (`bind ... ssl`), HTTP/2 client. */
#define HAPROXY_FCGI                                                                               \
    V("CONTENT_TYPE=", "DOCUMENT_ROOT=/var/www", "DOCUMENT_URI=/app/hello world/x",                \
      "GATEWAY_INTERFACE=CGI/1.1", "QUERY_STRING=a=1&b=%20", "REQUEST_METHOD=GET",                 \
      "REQUEST_URI=/app/hello%20world/x?a=1&b=%20", "REMOTE_ADDR=::1", "REMOTE_PORT=51234",        \
      "SCRIPT_FILENAME=/var/www/app/hello world/x", "SCRIPT_NAME=/app/hello world/x",              \
      "SERVER_NAME=localhost", "SERVER_PORT=8443", "SERVER_ADDR=::1", "SERVER_PROTOCOL=HTTP/2.0",  \
      "SERVER_SOFTWARE=HAProxy", "HTTPS=on", "HTTP_HOST=localhost:8443",                           \
      "HTTP_USER_AGENT=curl/7.88.1", "HTTP_ACCEPT=*/*")

#define HAPROXY_PASS                                                                               \
    "DOCUMENT_ROOT=/var/www\nDOCUMENT_URI=/app/hello world/x\nGATEWAY_INTERFACE=CGI/1.1\n"         \
    "SCRIPT_FILENAME=/var/www/app/hello world/x\nSERVER_ADDR=::1\nSERVER_SOFTWARE=HAProxy\n"       \
    "HTTPS=on\nHTTP_HOST=localhost:8443\nHTTP_USER_AGENT=curl/7.88.1\nHTTP_ACCEPT=*/*\n"

/* nginx stock scgi_params: CONTENT_LENGTH first (the module adds it), no SCRIPT_NAME. */
#define NGINX_SCGI                                                                                 \
    V("CONTENT_LENGTH=5", "REQUEST_METHOD=POST", "REQUEST_URI=/app/hello%20world/x?a=1&b=%20",     \
      "QUERY_STRING=a=1&b=%20", "CONTENT_TYPE=text/plain", "DOCUMENT_URI=/app/hello world/x",      \
      "DOCUMENT_ROOT=/usr/share/nginx/html", "SCGI=1", "SERVER_PROTOCOL=HTTP/1.1",                 \
      "REQUEST_SCHEME=http", "REMOTE_ADDR=127.0.0.1", "REMOTE_PORT=51234", "SERVER_PORT=8080",     \
      "SERVER_NAME=", "HTTP_HOST=[::1]:8080", "HTTP_CONTENT_TYPE=text/plain",                      \
      "HTTP_CONTENT_LENGTH=5")

static const struct cgi_case servers[] = {
    {"nginx stock fastcgi_params", NGINX_FCGI, NO_PREFIX, 0,
     "M=GET U=/app/hello%20world/x?a=1&b=%20 SN= PI=/app/hello world/x Q=a=1&b=%20 P=HTTP/1.1\n"
     "CT=- CL=- BL=-1 HOST=example.com:8080 REMOTE=127.0.0.1:51234 HTTPS=0\n" NGINX_PASS},
    {"nginx stock fastcgi_params, --script-name /app", NGINX_FCGI, PREFIX_APP, 0,
     "M=GET U=/app/hello%20world/x?a=1&b=%20 SN=/app PI=/hello world/x Q=a=1&b=%20 P=HTTP/1.1\n"
     "CT=- CL=- BL=-1 HOST=example.com:8080 REMOTE=127.0.0.1:51234 HTTPS=0\n" NGINX_PASS},
    {"Apache mod_proxy_fcgi", APACHE_FCGI, NO_PREFIX, 0,
     APACHE_HEAD "SN= PI=/app/hello world/x" APACHE_TAIL},
    {"Apache mod_proxy_fcgi, --script-name /app", APACHE_FCGI, PREFIX_APP, 0,
     APACHE_HEAD "SN=/app PI=/hello world/x" APACHE_TAIL},
    {"lighttpd at /app: its split is kept", LIGHTTPD_APP, NO_PREFIX, 0,
     "M=GET U=/app/hello%20world/x?a=1&b=%20 SN=/app PI=/hello world/x Q=a=1&b=%20 P=HTTP/1.1\n"
     "CT=- CL=0 BL=0 HOST=localhost:8080 REMOTE=127.0.0.1:51234 HTTPS=0\n" LIGHTTPD_PASS},
    {"lighttpd at /app, --script-name /app", LIGHTTPD_APP, PREFIX_APP, 0,
     "M=GET U=/app/hello%20world/x?a=1&b=%20 SN=/app PI=/hello world/x Q=a=1&b=%20 P=HTTP/1.1\n"
     "CT=- CL=0 BL=0 HOST=localhost:8080 REMOTE=127.0.0.1:51234 HTTPS=0\n" LIGHTTPD_PASS},
    {"lighttpd at /", LIGHTTPD_ROOT, NO_PREFIX, 0,
     "M=GET U=/app/hello%20world/x?a=1&b=%20 SN= PI=/app/hello world/x Q=a=1&b=%20 P=HTTP/1.1\n"
     "CT=- CL=0 BL=0 HOST=localhost:8080 REMOTE=127.0.0.1:51234 HTTPS=0\n"
     "REDIRECT_STATUS=200\nSCRIPT_FILENAME=/var/www/app/hello world/x\nDOCUMENT_ROOT=/var/www\n"
     "HTTP_HOST=localhost:8080\n"},
    {"lighttpd at /, --script-name /app", LIGHTTPD_ROOT, PREFIX_APP, 0,
     "M=GET U=/app/hello%20world/x?a=1&b=%20 SN=/app PI=/hello world/x Q=a=1&b=%20 P=HTTP/1.1\n"
     "CT=- CL=0 BL=0 HOST=localhost:8080 REMOTE=127.0.0.1:51234 HTTPS=0\n"
     "REDIRECT_STATUS=200\nSCRIPT_FILENAME=/var/www/app/hello world/x\nDOCUMENT_ROOT=/var/www\n"
     "HTTP_HOST=localhost:8080\n"},
    {"HAProxy fcgi-app over TLS and HTTP/2", HAPROXY_FCGI, NO_PREFIX, 0,
     "M=GET U=/app/hello%20world/x?a=1&b=%20 SN= PI=/app/hello world/x Q=a=1&b=%20 P=HTTP/2.0\n"
     "CT=- CL=- BL=-1 HOST=localhost:8443 REMOTE=::1:51234 HTTPS=1\n" HAPROXY_PASS},
    {"HAProxy fcgi-app, --script-name /app", HAPROXY_FCGI, PREFIX_APP, 0,
     "M=GET U=/app/hello%20world/x?a=1&b=%20 SN=/app PI=/hello world/x Q=a=1&b=%20 P=HTTP/2.0\n"
     "CT=- CL=- BL=-1 HOST=localhost:8443 REMOTE=::1:51234 HTTPS=1\n" HAPROXY_PASS},
    {"nginx scgi_params", NGINX_SCGI, NO_PREFIX_SCGI, 0,
     "M=POST U=/app/hello%20world/x?a=1&b=%20 SN= PI=/app/hello world/x Q=a=1&b=%20 "
     "P=HTTP/1.1\nCT=text/plain CL=5 BL=5 HOST=[::1]:8080 REMOTE=127.0.0.1:51234 HTTPS=0\n"
     "DOCUMENT_URI=/app/hello world/x\nDOCUMENT_ROOT=/usr/share/nginx/html\nSCGI=1\n"
     "REQUEST_SCHEME=http\nHTTP_HOST=[::1]:8080\n"},
    {"nginx scgi_params, --script-name /app", NGINX_SCGI, PREFIX_APP_SCGI, 0, NULL},
    {"nginx, path outside --script-name", V("REQUEST_METHOD=GET", "REQUEST_URI=/other/x"),
     PREFIX_APP, -404, NULL},
    {"--script-name /app does not match /apple", V("REQUEST_METHOD=GET", "REQUEST_URI=/apple"),
     PREFIX_APP, -404, NULL},
    {"--script-name /app, exactly /app?q",
     V("REQUEST_METHOD=GET", "REQUEST_URI=/app?q", "SCRIPT_NAME=/app", "PATH_INFO="), PREFIX_APP, 0,
     "M=GET U=/app?q SN=/app PI= Q=q P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 "
     "REMOTE=-:- HTTPS=0\n"},
};

/* ---- rules one by one ------------------------------------------------------------- */

#define BASE "REQUEST_METHOD=POST", "REQUEST_URI=/p"

static const struct cgi_case rules[] = {
    /* F19 and the CONTENT_LENGTH grammar */
    {"F19 CL -1", V(BASE, "CONTENT_LENGTH=-1"), NO_PREFIX, -400, NULL},
    {"F19 CL +5", V(BASE, "CONTENT_LENGTH=+5"), NO_PREFIX, -400, NULL},
    {"F19 CL 0x10", V(BASE, "CONTENT_LENGTH=0x10"), NO_PREFIX, -400, NULL},
    {"F19 CL leading space", V(BASE, "CONTENT_LENGTH= 5"), NO_PREFIX, -400, NULL},
    {"F19 CL trailing space", V(BASE, "CONTENT_LENGTH=5 "), NO_PREFIX, -400, NULL},
    {"F19 CL 20 digits", V(BASE, "CONTENT_LENGTH=18446744073709551621"), NO_PREFIX, -400, NULL},
    {"F19 CL 19 digits", V(BASE, "CONTENT_LENGTH=1000000000000000000"), NO_PREFIX, -400, NULL},
    {"F19 CL twice equal", V(BASE, "CONTENT_LENGTH=5", "CONTENT_LENGTH=5"), NO_PREFIX, -400, NULL},
    {"F19 CL twice, one empty", V(BASE, "CONTENT_LENGTH=", "CONTENT_LENGTH=5"), NO_PREFIX, -400,
     NULL},
    {"F19 CL 5.0", V(BASE, "CONTENT_LENGTH=5.0"), NO_PREFIX, -400, NULL},
    {"CL 18 digits", V(BASE, "CONTENT_LENGTH=999999999999999999"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=999999999999999999 BL=999999999999999999 "
     "HOST=127.0.0.1:9000 REMOTE=-:- HTTPS=0\n"},
    {"CL leading zeros", V(BASE, "CONTENT_LENGTH=007"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=007 BL=7 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\n"},
    {"F18 CL empty, body by framing", V(BASE, "CONTENT_LENGTH="), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\n"},
    {"CL empty, SCGI", V(BASE, "CONTENT_LENGTH="), NO_PREFIX_SCGI, -400, NULL},
    {"CL absent, SCGI: no body", V(BASE), NO_PREFIX_SCGI, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=0 HOST=127.0.0.1:4000 REMOTE=-:- "
     "HTTPS=0\n"},
    {"CL empty, uwsgi: no body", V(BASE, "CONTENT_LENGTH="), NO_PREFIX_UWSGI, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=0 HOST=127.0.0.1:3031 REMOTE=-:- "
     "HTTPS=0\n"},
    {"CL absent, uwsgi: no body", V(BASE), NO_PREFIX_UWSGI, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=0 HOST=127.0.0.1:3031 REMOTE=-:- "
     "HTTPS=0\n"},
    {"CL 5, uwsgi", V(BASE, "CONTENT_LENGTH=5"), NO_PREFIX_UWSGI, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=5 BL=5 HOST=127.0.0.1:3031 REMOTE=-:- "
     "HTTPS=0\n"},
    {"CL twice, uwsgi", V(BASE, "CONTENT_LENGTH=", "CONTENT_LENGTH=5"), NO_PREFIX_UWSGI, -400,
     NULL},
    {"CL -1, uwsgi", V(BASE, "CONTENT_LENGTH=-1"), NO_PREFIX_UWSGI, -400, NULL},
    /* REQUEST_METHOD */
    {"method missing", V("REQUEST_URI=/"), NO_PREFIX, -400, NULL},
    {"method empty", V("REQUEST_METHOD=", "REQUEST_URI=/"), NO_PREFIX, -400, NULL},
    {"method with space", V("REQUEST_METHOD=GE T", "REQUEST_URI=/"), NO_PREFIX, -400, NULL},
    {"method with CRLF", V("REQUEST_METHOD=GET\r\nX", "REQUEST_URI=/"), NO_PREFIX, -400, NULL},
    {"method extension token", V("REQUEST_METHOD=PROPFIND", "REQUEST_URI=/"), NO_PREFIX, 0, NULL},
    {"method: the last one counts",
     V("REQUEST_METHOD=GET", "REQUEST_METHOD=DELETE", "REQUEST_URI=/"), NO_PREFIX, 0,
     "M=DELETE U=/ SN= PI=/ Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\n"},
    /* SERVER_NAME / SERVER_PORT / SERVER_PROTOCOL */
    {"SERVER_NAME empty, Host v6", V(BASE, "SERVER_NAME=", "HTTP_HOST=[::1]:8080"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=[::1]:9000 REMOTE=-:- HTTPS=0\n"
     "HTTP_HOST=[::1]:8080\n"},
    {"SERVER_NAME empty, Host :80, port empty",
     V(BASE, "SERVER_NAME=", "SERVER_PORT=", "HTTP_HOST=:80"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\nHTTP_HOST=:80\n"},
    {"SERVER_NAME empty, Host without port", V(BASE, "HTTP_HOST=example.org", "SERVER_PORT=80"),
     NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=example.org:80 REMOTE=-:- "
     "HTTPS=0\nHTTP_HOST=example.org\n"},
    {"SERVER_PROTOCOL HTTP/2 -> HTTP/2.0", V(BASE, "SERVER_PROTOCOL=HTTP/2"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/2.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\n"},
    {"SERVER_PROTOCOL INCLUDED -> HTTP/1.0", V(BASE, "SERVER_PROTOCOL=INCLUDED"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\n"},
    {"SERVER_PROTOCOL lower case -> HTTP/1.0", V(BASE, "SERVER_PROTOCOL=http/1.1"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\n"},
    {"SERVER_PROTOCOL HTTP/1.1x -> HTTP/1.0", V(BASE, "SERVER_PROTOCOL=HTTP/1.1x"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\n"},
    /* HTTPS, CONTENT_TYPE, QUERY_STRING */
    {"HTTPS ON", V(BASE, "HTTPS=ON"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=1\nHTTPS=ON\n"},
    {"HTTPS off, then 1", V(BASE, "HTTPS=off", "HTTPS=1"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\nHTTPS=1\n"},
    {"QUERY_STRING absent: from REQUEST_URI",
     V("REQUEST_METHOD=GET", "REQUEST_URI=/p?x=%41&y#frag", "CONTENT_TYPE=a/b"), NO_PREFIX, 0,
     "M=GET U=/p?x=%41&y#frag SN= PI=/p Q=x=%41&y P=HTTP/1.0\nCT=a/b CL=- BL=-1 "
     "HOST=127.0.0.1:9000 REMOTE=-:- HTTPS=0\n"},
    /* pass-through list */
    {"pass-through: order, last duplicate, drops",
     V("HTTP_X_A=1", BASE, "HTTP_CONTENT_TYPE=x/y", "wsgi.input=evil", "=noname", "HTTP_X_B=2",
       "HTTP_X_A=3", "HTTP_CONTENT_LENGTH=9", "REMOTE_USER=bob", "SSL_CLIENT_S_DN=CN=bob"),
     NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q= P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 REMOTE=-:- "
     "HTTPS=0\nHTTP_X_B=2\nHTTP_X_A=3\nREMOTE_USER=bob\nSSL_CLIENT_S_DN=CN=bob\n"},
    {"F24 CR/LF in a value is data",
     V(BASE, "HTTP_X_FOO=a\r\nSet-Cookie: x", "QUERY_STRING=a\r\nb"), NO_PREFIX, 0,
     "M=POST U=/p SN= PI=/p Q=a\\x0d\\x0ab P=HTTP/1.0\nCT=- CL=- BL=-1 HOST=127.0.0.1:9000 "
     "REMOTE=-:- HTTPS=0\nHTTP_X_FOO=a\\x0d\\x0aSet-Cookie: x\n"},
};

/* ---- path splitting: PHP-FPM CVE-2019-11043 shapes and odd targets ------------------ */

#define PATH_ROW(name, opt, verdict, sn, pi, ...)                                                  \
    {                                                                                              \
        name, V("REQUEST_METHOD=GET", __VA_ARGS__), opt, verdict,                                  \
            verdict ? NULL : "SN=" sn " PI=" pi                                                    \
    }

struct path_case {
    const char *name;
    const char *const *vars;
    int opt;
    int verdict;
    const char *expect; /* "SN=... PI=..." */
};

static const struct path_case paths[] = {
    PATH_ROW("CVE-2019-11043 %0a breaks nginx's split", NO_PREFIX, 0, "", "/index.php/\\x0a",
             "REQUEST_URI=/index.php/%0a?a=1", "SCRIPT_NAME=/index.php/\n", "PATH_INFO="),
    PATH_ROW("PATH_INFO longer than REQUEST_URI, taken as sent", NO_PREFIX, 0, "",
             "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "REQUEST_URI=/x",
             "PATH_INFO=/"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    PATH_ROW("PATH_INFO longer than REQUEST_URI, --script-name", PREFIX_APP, 0, "/app", "/x",
             "REQUEST_URI=/app/x", "SCRIPT_NAME=/app/x/y/z/w",
             "PATH_INFO=/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    PATH_ROW("SCRIPT_NAME longer than REQUEST_URI, no PATH_INFO", NO_PREFIX, 0, "", "/x",
             "REQUEST_URI=/x", "SCRIPT_NAME=/a/very/long/script/name/that/is/not/in/the/uri"),
    PATH_ROW("unrelated SCRIPT_NAME and PATH_INFO", NO_PREFIX, 0, "/zzz", "/yyy", "REQUEST_URI=/x",
             "SCRIPT_NAME=/zzz", "PATH_INFO=/yyy"),
    PATH_ROW("PATH_INFO without SCRIPT_NAME", NO_PREFIX, 0, "", "/p", "REQUEST_URI=/x",
             "PATH_INFO=/p"),
    PATH_ROW("everything empty", NO_PREFIX, 0, "", "",
             "REQUEST_URI=", "SCRIPT_NAME=", "PATH_INFO=", "QUERY_STRING="),
    PATH_ROW("everything empty, --script-name", PREFIX_APP, -404, "", "",
             "REQUEST_URI=", "SCRIPT_NAME=", "PATH_INFO="),
    PATH_ROW("no REQUEST_URI: SCRIPT_NAME + PATH_INFO", PREFIX_APP, 0, "/app", "/b c",
             "SCRIPT_NAME=/app", "PATH_INFO=/b c"),
    PATH_ROW("no REQUEST_URI, nothing at all", NO_PREFIX, 0, "", "", "GATEWAY_INTERFACE=CGI/1.1"),
    PATH_ROW("absolute-form REQUEST_URI", NO_PREFIX, 0, "", "/a/b",
             "REQUEST_URI=http://example.com/a%2Fb?x"),
    PATH_ROW("absolute-form without a path", NO_PREFIX, 0, "", "/",
             "REQUEST_URI=https://example.com?x"),
    PATH_ROW("OPTIONS *", NO_PREFIX, 0, "", "", "REQUEST_URI=*"),
    PATH_ROW("bad escapes kept", NO_PREFIX, 0, "", "/a%zz%4", "REQUEST_URI=/a%zz%4"),
    PATH_ROW("%00 decoded", NO_PREFIX, 0, "", "/a\\x00b", "REQUEST_URI=/a%00b"),
    PATH_ROW("--script-name and an encoded prefix", PREFIX_APP, 0, "/app", "/x",
             "REQUEST_URI=/%61pp/x"),
    PATH_ROW("--script-name, %2F after the prefix", PREFIX_APP, 0, "/app", "//x",
             "REQUEST_URI=/app%2F/x"),
    PATH_ROW("--script-name, the prefix is only in SCRIPT_NAME", PREFIX_APP, -404, "", "",
             "REQUEST_URI=/x", "SCRIPT_NAME=/app", "PATH_INFO=/x"),
    /* RFC 3875 4.1.5 / PEP 3333: PATH_INFO is "" or starts with '/' (wsgiref.validate) */
    PATH_ROW("a relative REQUEST_URI gets a leading /", NO_PREFIX, 0, "", "/foo",
             "REQUEST_URI=foo"),
    PATH_ROW("a relative REQUEST_URI, --script-name", PREFIX_APP, 0, "/app", "/x",
             "REQUEST_URI=app/x"),
    PATH_ROW("a lone scheme", NO_PREFIX, 0, "", "/http:", "REQUEST_URI=http:"),
    PATH_ROW("PATH_INFO without a leading /", NO_PREFIX, 0, "", "/foo", "REQUEST_URI=/x",
             "PATH_INFO=foo"),
    PATH_ROW("SCRIPT_NAME without a leading /", NO_PREFIX, 0, "/app", "/x", "REQUEST_URI=/app/x",
             "SCRIPT_NAME=app", "PATH_INFO=/x"),
    PATH_ROW("neither with a leading /", NO_PREFIX, 0, "/app", "/x", "REQUEST_URI=/app/x",
             "SCRIPT_NAME=app", "PATH_INFO=x"),
    PATH_ROW("SCRIPT_NAME / with PATH_INFO", NO_PREFIX, 0, "", "/x", "REQUEST_URI=/x",
             "SCRIPT_NAME=/", "PATH_INFO=/x"),
    PATH_ROW("SCRIPT_NAME with a trailing /: it moves to PATH_INFO", NO_PREFIX, 0, "/app", "/x",
             "REQUEST_URI=/app/x", "SCRIPT_NAME=/app/", "PATH_INFO=x"),
    PATH_ROW("SCRIPT_NAME with trailing //, PATH_INFO with its /", NO_PREFIX, 0, "/app", "/x",
             "REQUEST_URI=/app//x", "SCRIPT_NAME=/app//", "PATH_INFO=/x"),
    PATH_ROW("no REQUEST_URI: SCRIPT_NAME without a leading /", NO_PREFIX, 0, "", "/app",
             "SCRIPT_NAME=app", "PATH_INFO="),
    PATH_ROW("no REQUEST_URI: SCRIPT_NAME / alone", NO_PREFIX, 0, "", "/", "SCRIPT_NAME=/"),
    PATH_ROW("no REQUEST_URI: SCRIPT_NAME /app/ alone", NO_PREFIX, 0, "", "/app/",
             "SCRIPT_NAME=/app/"),
    PATH_ROW("no REQUEST_URI, --script-name: parts without a leading /", PREFIX_APP, 0, "/app",
             "/x", "SCRIPT_NAME=app", "PATH_INFO=x"),
    PATH_ROW("no REQUEST_URI, --script-name: PATH_INFO only", PREFIX_APP, 0, "/app", "/x",
             "PATH_INFO=app/x"),
    PATH_ROW("scheme and slashes only", NO_PREFIX, 0, "", "/", "REQUEST_URI=http://"),
};

static void check_path(const struct path_case *c)
{
    char *desc;
    int v = run_case(c->vars, &options[c->opt], (size_t)-1, &desc);
    cr_expect_eq(v, c->verdict, "%s: verdict %d\n%s", c->name, v, desc);
    if (c->expect != NULL) {
        const char *sn = strstr(desc, " SN=");
        const char *q = strstr(desc, " Q=");
        cr_assert(sn != NULL && q != NULL);
        size_t n = (size_t)(q - sn - 1);
        cr_expect(strlen(c->expect) == n && memcmp(sn + 1, c->expect, n) == 0,
                  "%s: got %.*s, expected %s", c->name, (int)n, sn + 1, c->expect);
    }
    free(desc);
}

ParameterizedTestParameters(cgi, servers)
{
    return index_params(NROWS(servers));
}

ParameterizedTest(size_t *i, cgi, servers)
{
    check_case(&servers[*i]);
}

ParameterizedTestParameters(cgi, rules)
{
    return index_params(NROWS(rules));
}

ParameterizedTest(size_t *i, cgi, rules)
{
    check_case(&rules[*i]);
}

ParameterizedTestParameters(cgi, paths)
{
    return index_params(NROWS(paths));
}

ParameterizedTest(size_t *i, cgi, paths)
{
    check_path(&paths[*i]);
}

/* Every server's variables give the same app-visible path with --script-name. */
Test(cgi, same_path_behind_every_server)
{
    const char *const *sets[] = {NGINX_FCGI, APACHE_FCGI, LIGHTTPD_APP, LIGHTTPD_ROOT,
                                 HAPROXY_FCGI};
    for (size_t i = 0; i < NROWS(sets); i++) {
        char *desc;
        cr_assert_eq(run_case(sets[i], &options[PREFIX_APP], (size_t)-1, &desc), 0);
        cr_expect(strstr(desc, " SN=/app PI=/hello world/x Q=a=1&b=%20 ") != NULL, "%zu: %s", i,
                  desc);
        free(desc);
    }
}

/* The scratch contract: the path's length is enough, one byte less is -500. */
Test(cgi, scratch_bounds)
{
    const char *const *vars = V("REQUEST_METHOD=GET", "REQUEST_URI=/a%20b/cd?q=1");
    char *desc;
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 8, &desc), -500); /* "/a%20b/cd": 9 raw */
    free(desc);
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 9, &desc), 0);
    free(desc);
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 0, &desc), -500);
    free(desc);
    vars = V("REQUEST_METHOD=GET", "SCRIPT_NAME=/ab", "PATH_INFO=");
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 3, &desc), 0);
    free(desc);
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 2, &desc), -500);
    free(desc);
    /* normalization adds at most GW_CGI_SCRATCH_EXTRA bytes: "a" + "b" -> "/a" + "/b" */
    vars = V("REQUEST_METHOD=G", "SCRIPT_NAME=a", "PATH_INFO=b");
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 3 + GW_CGI_SCRATCH_EXTRA, &desc), 0);
    free(desc);
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 4, &desc), 0);
    free(desc);
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 3, &desc), -500);
    free(desc);
    vars = V("REQUEST_METHOD=G", "REQUEST_URI=ab");
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 3, &desc), 0);
    free(desc);
    cr_assert_eq(run_case(vars, &options[NO_PREFIX], 2, &desc), -500);
    free(desc);
}

/* No variables at all, and a NULL value slice, are handled. */
Test(cgi, degenerate)
{
    struct gw_request r;
    struct gw_field f[2] = {
        {GW_SLICE_LIT("REQUEST_METHOD"), GW_SLICE_LIT("GET")},
        {GW_SLICE_LIT("HTTP_X"), {NULL, 0}},
    };
    char scratch[1];
    struct gw_parse_error err;
    cr_assert_eq(gw_cgi_build(f, 0, &options[NO_PREFIX], scratch, 0, &r, &err), GW_EPROTO);
    cr_assert_eq(err.status, 400);
    cr_assert_eq(gw_cgi_build(f, 2, &options[NO_PREFIX], scratch, 0, &r, &err), 0);
    cr_assert_eq(r.ncgi, 1);
    cr_assert(gw_slice_eq(r.cgi[0].name, "HTTP_X") && r.cgi[0].value.ptr == NULL);
    cr_assert(gw_slice_eq(r.path_info, "") && gw_slice_eq(r.query, ""));
}

/* nginx's catch-all server_name "_" is not a host name: Host wins, else the listener. */
Test(cgi, nginx_catch_all_server_name)
{
    struct gw_request r;
    char scratch[64];
    struct gw_field with_host[] = {
        {GW_SLICE_LIT("REQUEST_METHOD"), GW_SLICE_LIT("GET")},
        {GW_SLICE_LIT("REQUEST_URI"), GW_SLICE_LIT("/")},
        {GW_SLICE_LIT("SERVER_NAME"), GW_SLICE_LIT("_")},
        {GW_SLICE_LIT("HTTP_HOST"), GW_SLICE_LIT("example.org:8080")},
    };
    struct gw_parse_error err;
    cr_assert_eq(
        gw_cgi_build(with_host, 4, &options[NO_PREFIX], scratch, sizeof(scratch), &r, &err), 0);
    cr_assert(gw_slice_eq(r.server_name, "example.org"));
    struct gw_field no_host[] = {
        {GW_SLICE_LIT("REQUEST_METHOD"), GW_SLICE_LIT("GET")},
        {GW_SLICE_LIT("REQUEST_URI"), GW_SLICE_LIT("/")},
        {GW_SLICE_LIT("SERVER_NAME"), GW_SLICE_LIT("_")},
    };
    cr_assert_eq(gw_cgi_build(no_host, 3, &options[NO_PREFIX], scratch, sizeof(scratch), &r, &err),
                 0);
    cr_assert(gw_slice_eq(r.server_name, options[NO_PREFIX].server_name));
}
