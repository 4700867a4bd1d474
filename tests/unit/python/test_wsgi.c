/*
 * Unit tests of python/ (PEP 3333 server side) without the gateway: this file
 * provides its own gw_request_read/send_*, gw_log* and gw_strerror, which record into
 * memory what the handler sends, so it is linked WITHOUT gateway/request.c, log.c
 * and errors.c. Each test starts CPython with gw_py_start on an app of
 * tests/apps/pyunit_apps.py (criterion forks a process per test) and runs requests on
 * a worker thread the way gateway/pool.c does: thread_start, handle, thread_stop.
 *
 * Build and run (from the repository root):
 *   gcc -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -fno-common -D_GNU_SOURCE \
 *       -g -I. $(pkg-config --cflags python3-embed) python/\*.c tests/unit/python/test_wsgi.c \
 *       $(pkg-config --libs python3-embed) -lcriterion -lpthread -o /tmp/tw && /tmp/tw
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/app.h"
#include "gateway/errors.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "python/py_internal.h"
#include "python/wsgi.h"

/* Under LeakSanitizer: CPython does not free everything at Py_FinalizeEx; its own
 * allocations are not ours to report. Our objects are counted by gw_py_g.live. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpython3\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}

/* ---- the fake gateway ---------------------------------------------------------- */

struct fake {
    /* input side */
    const char *body;
    size_t body_len, body_pos;
    size_t chunk;        /* at most this many bytes per read (0: no limit) */
    int body_err;        /* returned once the body is consumed, instead of 0 */
    int reads;           /* gw_request_read calls */
    int reads_after_end; /* calls after it returned 0 or an error */
    int ended;
    /* output side */
    int head_calls, body_calls, file_calls, order_error;
    char status[256];
    char headers[4096]; /* "Name: value\n" each */
    char *out;
    size_t out_len, out_cap;
    int fail_body_at; /* send_body call index (1-based) that fails, 0: none */
    int keep_refs;    /* gw_request_send_ref keeps the reference (a slow peer) */
    int ref_calls;
    int read_delay_ms; /* each gw_request_read sleeps this long first */
    off_t file_off;
    /* gw_request_send_stderr, under log_lock (the app's threads may call it) */
    char err[4096];
    size_t err_len;
    int err_delay_ms; /* each call sleeps this long first */
    int err_late;     /* a call ended after handle() returned */
    int handled;      /* handle() has returned */
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[1 << 20];
static size_t loglen;
static int raw_writes;

static void log_append(const char *p, size_t n)
{
    pthread_mutex_lock(&log_lock);
    if (n > sizeof(logbuf) - 1 - loglen)
        n = sizeof(logbuf) - 1 - loglen;
    memcpy(logbuf + loglen, p, n);
    loglen += n;
    logbuf[loglen] = '\0';
    pthread_mutex_unlock(&log_lock);
}

void gw_log(enum gw_log_level level, const char *fmt, ...)
{
    char line[2048];
    int n = snprintf(line, sizeof(line), "[%d] ", (int)level);
    va_list ap;

    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    log_append(line, (size_t)n);
}

void gw_log_raw(const char *buf, size_t len)
{
    pthread_mutex_lock(&log_lock);
    raw_writes++;
    pthread_mutex_unlock(&log_lock);
    log_append(buf, len);
}

void gw_log_access(const struct gw_request *r)
{
    (void)r;
}

static void out_append(struct fake *f, const void *p, size_t n)
{
    if (f->out_len + n + 1 > f->out_cap) {
        size_t cap = f->out_cap ? f->out_cap : 1024;
        while (cap < f->out_len + n + 1)
            cap *= 2;
        f->out = realloc(f->out, cap);
        cr_assert_not_null(f->out);
        f->out_cap = cap;
    }
    memcpy(f->out + f->out_len, p, n);
    f->out_len += n;
    f->out[f->out_len] = '\0';
}

ssize_t gw_request_read(struct gw_request *r, char *buf, size_t len)
{
    struct fake *f = r->proto_data;
    size_t n = f->body_len - f->body_pos;

    f->reads++;
    if (f->read_delay_ms)
        usleep((useconds_t)f->read_delay_ms * 1000);
    if (f->ended) {
        f->reads_after_end++;
        return f->body_err ? f->body_err : 0;
    }
    if (n == 0) {
        f->ended = 1;
        return f->body_err ? f->body_err : 0;
    }
    if (n > len)
        n = len;
    if (f->chunk && n > f->chunk)
        n = f->chunk;
    memcpy(buf, f->body + f->body_pos, n);
    f->body_pos += n;
    return (ssize_t)n;
}

int gw_request_send_head(struct gw_request *r, struct gw_slice status,
                         const struct gw_field *fields, size_t n)
{
    struct fake *f = r->proto_data;
    size_t w = 0;

    f->head_calls++;
    if (f->body_calls || f->file_calls)
        f->order_error = 1;
    snprintf(f->status, sizeof(f->status), "%.*s", (int)status.len, status.ptr);
    r->status = atoi(f->status);
    for (size_t i = 0; i < n; i++)
        w += (size_t)snprintf(f->headers + w, sizeof(f->headers) - w, "%.*s: %.*s\n",
                              (int)fields[i].name.len, fields[i].name.ptr, (int)fields[i].value.len,
                              fields[i].value.ptr);
    return 0;
}

int gw_request_send_body(struct gw_request *r, const struct iovec *iov, int iovcnt)
{
    struct fake *f = r->proto_data;

    f->body_calls++;
    if (!f->head_calls)
        f->order_error = 1;
    if (f->fail_body_at && f->body_calls >= f->fail_body_at)
        return GW_ECLOSED;
    for (int i = 0; i < iovcnt; i++) {
        out_append(f, iov[i].iov_base, iov[i].iov_len);
        r->bytes_sent += iov[i].iov_len;
    }
    return 0;
}

/* The core's parked references (gateway/output.h), as this fake keeps them. */
static void *parked[64];
static size_t nparked;

int gw_request_send_ref(struct gw_request *r, const void *p, size_t n, void *ref, int *kept)
{
    struct fake *f = r->proto_data;
    struct iovec v = {(void *)(uintptr_t)p, n};
    int rc = gw_request_send_body(r, &v, 1);
    f->ref_calls++;
    *kept = rc == 0 && f->keep_refs;
    if (*kept) {
        cr_assert(nparked < 64);
        parked[nparked++] = ref;
    }
    return rc;
}

size_t gw_out_parked(void)
{
    return nparked;
}

size_t gw_out_take_parked(void **refs, size_t max)
{
    size_t n = nparked < max ? nparked : max;
    nparked -= n;
    memcpy(refs, parked + nparked, n * sizeof(*refs));
    return n;
}

int gw_request_send_file(struct gw_request *r, int fd, off_t offset, size_t len)
{
    struct fake *f = r->proto_data;
    char buf[4096];
    ssize_t n;

    f->file_calls++;
    f->file_off = offset;
    if (!f->head_calls)
        f->order_error = 1;
    cr_assert_eq(len, (size_t)-1);
    while ((n = pread(fd, buf, sizeof(buf), offset)) > 0) {
        out_append(f, buf, (size_t)n);
        offset += n;
    }
    return n < 0 ? GW_EIO : 0;
}

int gw_request_send_stderr(struct gw_request *r, const char *p, size_t n)
{
    struct fake *f = r->proto_data;

    if (f->err_delay_ms)
        usleep((useconds_t)f->err_delay_ms * 1000);
    pthread_mutex_lock(&log_lock);
    if (f->handled)
        f->err_late = 1;
    if (n > sizeof(f->err) - 1 - f->err_len)
        n = sizeof(f->err) - 1 - f->err_len;
    memcpy(f->err + f->err_len, p, n);
    f->err_len += n;
    f->err[f->err_len] = '\0';
    pthread_mutex_unlock(&log_lock);
    return 0;
}

int gw_request_client_gone(const struct gw_request *r)
{
    return ((struct fake *)r->proto_data)->fail_body_at != 0;
}

void gw_request_finish(struct gw_request *r, int ok)
{
    (void)r;
    (void)ok;
}

/* ---- helpers --------------------------------------------------------------------- */

static struct gw_app app;
static char err[1024];

static int start_opts(struct gw_py_options *o)
{
    memset(&app, 0, sizeof(app));
    err[0] = '\0';
    return gw_py_start(o, &app, err, sizeof(err));
}

static void start(const char *spec)
{
    static const char *const pp[] = {"tests/apps"};
    struct gw_py_options o = {.app_spec = spec, .pythonpath = pp, .npythonpath = 1};

    cr_assert_eq(start_opts(&o), 0, "gw_py_start(%s): %s", spec, err);
    cr_assert_not_null(app.handle);
}

static void stop(void)
{
    gw_py_stop();
}

struct req {
    struct gw_request r;
    struct fake f;
    char uri[1024];
    int ok;
};

static struct gw_slice sl(const char *s)
{
    return s ? gw_slice_make(s, strlen(s)) : gw_slice_make(NULL, 0);
}

static void req_init(struct req *q, const char *method, const char *uri, const char *body)
{
    char *qm;

    memset(q, 0, sizeof(*q));
    snprintf(q->uri, sizeof(q->uri), "%s", uri);
    q->r.proto_data = &q->f;
    q->r.method = sl(method);
    q->r.request_uri = sl(q->uri);
    qm = strchr(q->uri, '?');
    q->r.path_info = gw_slice_make(q->uri, qm ? (size_t)(qm - q->uri) : strlen(q->uri));
    q->r.query = qm ? sl(qm + 1) : sl("");
    q->r.script_name = sl("");
    q->r.protocol = sl("HTTP/1.1");
    q->r.server_name = sl("localhost");
    q->r.server_port = sl("8000");
    q->r.remote_addr = sl("127.0.0.1");
    q->r.remote_port = sl("54321");
    q->r.body_length = -1;
    if (body != NULL) {
        static char cl[32][32];
        static int next;
        char *c = cl[next++ % 32];

        q->f.body = body;
        q->f.body_len = strlen(body);
        snprintf(c, 32, "%zu", q->f.body_len);
        q->r.content_length = sl(c);
        q->r.body_length = (int64_t)q->f.body_len;
    }
}

static void *worker(void *arg)
{
    struct req **qs = arg;
    void *t = app.thread_start(app.ctx);

    cr_assert_not_null(t);
    for (; *qs != NULL; qs++) {
        (*qs)->ok = app.handle(t, &(*qs)->r);
        pthread_mutex_lock(&log_lock);
        (*qs)->f.handled = 1;
        pthread_mutex_unlock(&log_lock);
    }
    app.thread_stop(t);
    return NULL;
}

/* Runs the NULL-terminated requests one after the other on a new worker thread. */
static void run_many(struct req **qs)
{
    pthread_t th;

    cr_assert_eq(pthread_create(&th, NULL, worker, qs), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
}

static int run(struct req *q)
{
    struct req *qs[] = {q, NULL};

    run_many(qs);
    cr_assert_eq(q->f.order_error, 0, "head/body order");
    cr_assert_leq(q->f.head_calls, 1, "head sent twice");
    return q->ok;
}

/* One GET to the current app; returns a heap request the caller frees. */
static struct req *get(const char *uri)
{
    struct req *q = calloc(1, sizeof(*q));

    cr_assert_not_null(q);
    req_init(q, "GET", uri, NULL);
    run(q);
    return q;
}

static void req_free(struct req *q)
{
    free(q->f.out);
    free(q);
}

static const char *events(void)
{
    static char buf[4096];
    struct req *q = get("/events");

    snprintf(buf, sizeof(buf), "%s", q->f.out ? q->f.out : "");
    req_free(q);
    return buf;
}

/* The response must be a 500 from the pool: nothing at all sent, handler said 0. */
static void assert_500(struct req *q)
{
    cr_assert_eq(q->ok, 0);
    cr_assert_eq(q->f.head_calls, 0, "head was sent: %s / %s", q->f.status, q->f.headers);
    cr_assert_eq(q->f.body_calls, 0);
}

static int log_has(const char *s)
{
    int found;

    pthread_mutex_lock(&log_lock);
    found = strstr(logbuf, s) != NULL;
    pthread_mutex_unlock(&log_lock);
    return found;
}

/* ---- start-up ---------------------------------------------------------------------- */

Test(start, hello)
{
    struct req q;

    start("hello");
    req_init(&q, "GET", "/", NULL);
    cr_assert_eq(run(&q), 1);
    cr_assert_str_eq(q.f.status, "200 OK");
    cr_assert_str_eq(q.f.headers, "Content-Type: text/plain\nContent-Length: 14\n");
    cr_assert_str_eq(q.f.out, "Hello, World!\n");
    cr_assert_neq(q.r.t_app, 0);
    cr_assert_geq(q.r.t_app_done, q.r.t_app);
    free(q.f.out);
    cr_assert_eq(gw_py_g.live, 0);
    stop();
}

Test(start, validated_hello)
{
    struct req q;

    start("hello:validated");
    req_init(&q, "GET", "/x?y=1", NULL);
    cr_assert_eq(run(&q), 1);
    cr_assert_str_eq(q.f.out, "Hello, World!\n");
    cr_assert(!log_has("Traceback"), "%s", logbuf);
    free(q.f.out);
    stop();
}

Test(start, missing_module)
{
    struct gw_py_options o = {.app_spec = "no_such_module_xyz:app"};

    cr_assert_eq(start_opts(&o), -1);
    cr_assert_str_eq(err, "cannot import app 'no_such_module_xyz:app': ModuleNotFoundError: "
                          "No module named 'no_such_module_xyz'");
    cr_assert_null(strchr(err, '\n'));
}

Test(start, missing_attribute)
{
    static const char *const pp[] = {"tests/apps"};
    struct gw_py_options o = {.app_spec = "hello:nope", .pythonpath = pp, .npythonpath = 1};

    cr_assert_eq(start_opts(&o), -1);
    cr_assert_str_eq(err, "cannot import app 'hello:nope': AttributeError: module 'hello' has "
                          "no attribute 'nope'");
}

Test(start, default_callable_missing)
{
    static const char *const pp[] = {"tests/apps"};
    struct gw_py_options o = {.app_spec = "pyunit_apps", .pythonpath = pp, .npythonpath = 1};

    cr_assert_eq(start_opts(&o), -1);
    cr_assert_str_eq(err, "module 'pyunit_apps' has no attribute 'application' (name the "
                          "callable: MODULE:CALLABLE)");
}

Test(start, not_callable)
{
    static const char *const pp[] = {"tests/apps"};
    struct gw_py_options o = {
        .app_spec = "pyunit_apps:not_callable", .pythonpath = pp, .npythonpath = 1};

    cr_assert_eq(start_opts(&o), -1);
    cr_assert_str_eq(err, "app 'pyunit_apps:not_callable' is not callable (it is an int)");
}

Test(start, import_raises)
{
    static const char *const pp[] = {"tests/apps"};
    struct gw_py_options o = {.app_spec = "pyunit_broken", .pythonpath = pp, .npythonpath = 1};

    cr_assert_eq(start_opts(&o), -1);
    cr_assert_str_eq(err, "cannot import app 'pyunit_broken': ImportError: this module is "
                          "broken on purpose");
    cr_assert(log_has("Traceback (most recent call last)"), "%s", logbuf);
    cr_assert(log_has("pyunit_broken.py"), "%s", logbuf);
}

Test(start, bad_specs)
{
    const char *specs[] = {":app", "hello:", ""};

    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct gw_py_options o = {.app_spec = specs[i]};

        cr_assert_eq(start_opts(&o), -1, "%s", specs[i]);
        cr_assert(strstr(err, "MODULE[:CALLABLE]"), "%s", err);
    }
}

Test(start, dotted_attribute)
{
    struct req q;

    start("pyunit_apps:holder.app");
    req_init(&q, "GET", "/", NULL);
    cr_assert_eq(run(&q), 1);
    cr_assert(strstr(q.f.out, "\"PATH_INFO\": \"/\""), "%s", q.f.out);
    free(q.f.out);
    stop();
}

Test(start, chdir_puts_cwd_on_path)
{
    struct gw_py_options o = {.app_spec = "hello", .chdir = "tests/apps"};
    struct req q;
    char cwd[4096];

    cr_assert_eq(start_opts(&o), 0, "%s", err);
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert(strstr(cwd, "tests/apps") != NULL);
    req_init(&q, "GET", "/", NULL);
    cr_assert_eq(run(&q), 1);
    free(q.f.out);
    stop();
}

Test(start, bad_chdir)
{
    struct gw_py_options o = {.app_spec = "hello", .chdir = "/no/such/dir"};

    cr_assert_eq(start_opts(&o), -1);
    cr_assert_str_eq(err, "--chdir '/no/such/dir': No such file or directory");
}

Test(start, pythonpath_order)
{
    static const char *const pp[] = {"tests/apps", "/tmp"};
    struct gw_py_options o = {
        .app_spec = "pyunit_apps:syspath", .pythonpath = pp, .npythonpath = 2};
    struct req q;
    char cwd[4096], want[8400];

    cr_assert_eq(start_opts(&o), 0, "%s", err);
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    req_init(&q, "GET", "/", NULL);
    cr_assert_eq(run(&q), 1);
    snprintf(want, sizeof(want), "{\"path\": [\"%s/tests/apps\", \"/tmp\", \"%s\", ", cwd, cwd);
    cr_assert(strncmp(q.f.out, want, strlen(want)) == 0, "%s\nwant %s", q.f.out, want);
    free(q.f.out);
    stop();
}

Test(start, venv)
{
    char dir[] = "/tmp/gwvenvXXXXXX", sp[512], mod[600], spec[64];
    struct gw_py_options o = {0};
    struct req q;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(sp, sizeof(sp), "%s/lib", dir);
    cr_assert_eq(mkdir(sp, 0700), 0);
    snprintf(sp, sizeof(sp), "%s/lib/python%d.%d", dir, PY_MAJOR_VERSION, PY_MINOR_VERSION);
    cr_assert_eq(mkdir(sp, 0700), 0);
    strcat(sp, "/site-packages");
    cr_assert_eq(mkdir(sp, 0700), 0);
    snprintf(mod, sizeof(mod), "%s/venvapp.py", sp);
    f = fopen(mod, "w");
    cr_assert_not_null(f);
    fputs("import sys, json\n"
          "def application(environ, start_response):\n"
          "    start_response('200 OK', [])\n"
          "    return [json.dumps([sys.prefix, sys.path[1]]).encode()]\n",
          f);
    fclose(f);
    snprintf(spec, sizeof(spec), "venvapp");
    o.app_spec = spec;
    o.venv = dir;
    cr_assert_eq(start_opts(&o), 0, "%s", err);
    req_init(&q, "GET", "/", NULL);
    cr_assert_eq(run(&q), 1);
    snprintf(mod, sizeof(mod), "[\"%s\", \"%s\"]", dir, sp);
    cr_assert_str_eq(q.f.out, mod);
    free(q.f.out);
    stop();
}

Test(start, bad_venv)
{
    struct gw_py_options o = {.app_spec = "hello", .venv = "/no/such/venv"};

    cr_assert_eq(start_opts(&o), -1);
    cr_assert_str_eq(err, "--venv '/no/such/venv': No such file or directory");
    o.venv = "/tmp";
    cr_assert_eq(start_opts(&o), -1);
    cr_assert(strstr(err, "no lib/python3.") != NULL, "%s", err);
}

Test(start, flask_import)
{
    /* Debian's Flask and Django are found through site (dist-packages). */
    static const char *const pp[] = {"tests/apps"};
    struct gw_py_options o = {.app_spec = "flask:Flask", .pythonpath = pp, .npythonpath = 1};

    cr_assert_eq(start_opts(&o), 0, "%s", err);
    stop();
}

Test(start, django_import)
{
    struct gw_py_options o = {.app_spec = "django.core.wsgi:get_wsgi_application"};

    cr_assert_eq(start_opts(&o), 0, "%s", err);
    stop();
}

/* ---- environ --------------------------------------------------------------------- */

Test(environ, basic_and_validated)
{
    struct req q;
    struct gw_field hdrs[] = {
        {GW_SLICE_LIT("Host"), GW_SLICE_LIT("example.com")},
        {GW_SLICE_LIT("X-Multi"), GW_SLICE_LIT("a")},
        {GW_SLICE_LIT("x-multi"), GW_SLICE_LIT("b")},
        {GW_SLICE_LIT("X_Forwarded_For"), GW_SLICE_LIT("6.6.6.6")},
        {GW_SLICE_LIT("Content_Length"), GW_SLICE_LIT("99")},
        {GW_SLICE_LIT("Content-Type"), GW_SLICE_LIT("text/evil")},
        {GW_SLICE_LIT("Content-Length"), GW_SLICE_LIT("77")},
        {GW_SLICE_LIT("X-Latin"), GW_SLICE_LIT("caf\xc3\xa9")},
        {GW_SLICE_LIT("Accept"), GW_SLICE_LIT("*/*")},
        {GW_SLICE_LIT("Some.Odd!Name"), GW_SLICE_LIT("v")},
        {GW_SLICE_LIT("X-Empty"), GW_SLICE_LIT("")},
    };

    start("pyunit_apps:dump_v");
    req_init(&q, "POST", "/p/a%20b?x=1&y=%20", "hello");
    q.r.path_info = GW_SLICE_LIT("/p/a b");
    q.r.content_type = GW_SLICE_LIT("text/plain");
    q.r.headers = hdrs;
    q.r.nheaders = sizeof(hdrs) / sizeof(hdrs[0]);
    cr_assert_eq(run(&q), 1, "%s", logbuf);
    cr_assert_str_eq(
        q.f.out,
        "{\"CONTENT_LENGTH\": \"5\", \"CONTENT_TYPE\": \"text/plain\", \"HTTP_ACCEPT\": \"*/*\", "
        "\"HTTP_HOST\": \"example.com\", \"HTTP_SOME.ODD!NAME\": \"v\", \"HTTP_X_EMPTY\": \"\", "
        "\"HTTP_X_LATIN\": \"caf\\u00c3\\u00a9\", \"HTTP_X_MULTI\": \"a, b\", "
        "\"PATH_INFO\": \"/p/a b\", \"QUERY_STRING\": \"x=1&y=%20\", "
        "\"REMOTE_ADDR\": \"127.0.0.1\", \"REMOTE_PORT\": \"54321\", \"REQUEST_METHOD\": \"POST\", "
        "\"REQUEST_URI\": \"/p/a%20b?x=1&y=%20\", \"SCRIPT_NAME\": \"\", "
        "\"SERVER_NAME\": \"localhost\", \"SERVER_PORT\": \"8000\", "
        "\"SERVER_PROTOCOL\": \"HTTP/1.1\", \"wsgi.errors\": \"ErrorWrapper\", "
        "\"wsgi.file_wrapper\": "
        "\"type\", \"wsgi.input\": \"InputWrapper\", \"wsgi.input_terminated\": true, "
        "\"wsgi.multiprocess\": false, \"wsgi.multithread\": true, \"wsgi.run_once\": false, "
        "\"wsgi.url_scheme\": \"http\", \"wsgi.version\": [1, 0]}");
    free(q.f.out);
    stop();
}

Test(environ, wsgi_keys)
{
    struct gw_py_options o = {0};
    static const char *const pp[] = {"tests/apps"};
    struct req q1, q2;
    struct req *qs[] = {&q1, &q2, NULL};

    o.app_spec = "pyunit_apps:wsgi_keys";
    o.pythonpath = pp;
    o.npythonpath = 1;
    o.multiprocess = 1;
    cr_assert_eq(start_opts(&o), 0, "%s", err);
    req_init(&q1, "GET", "/", NULL);
    req_init(&q2, "GET", "/", NULL);
    q2.r.https = 1;
    run_many(qs);
    cr_assert_str_eq(q1.f.out,
                     "{\"errors\": \"Errors\", \"file_wrapper\": \"FileWrapper\", \"input\": "
                     "\"Input\", \"input_terminated\": true, \"multiprocess\": true, "
                     "\"multithread\": true, \"run_once\": false, \"scheme\": \"http\", "
                     "\"version\": [1, 0], \"version_shared\": true}");
    cr_assert(strstr(q2.f.out, "\"scheme\": \"https\"") != NULL);
    cr_assert(strstr(q2.f.out, "\"version_shared\": true") != NULL, "%s", q2.f.out);
    free(q1.f.out);
    free(q2.f.out);
    stop();
}

Test(environ, cgi_fields)
{
    struct req q;
    struct gw_field cgi[] = {
        {GW_SLICE_LIT("HTTPS"), GW_SLICE_LIT("on")},
        {GW_SLICE_LIT("HTTP_X_FOO"), GW_SLICE_LIT("a\r\nSet-Cookie: x")},
        {GW_SLICE_LIT("HTTP_CONTENT_TYPE"), GW_SLICE_LIT("bad")},
        {GW_SLICE_LIT("HTTP_CONTENT_LENGTH"), GW_SLICE_LIT("bad")},
        {GW_SLICE_LIT("wsgi.input"), GW_SLICE_LIT("evil")},
        {GW_SLICE_LIT("PATH_INFO"), GW_SLICE_LIT("/raw")},
        {GW_SLICE_LIT("DOCUMENT_ROOT"), GW_SLICE_LIT("/srv/\xff")},
    };

    start("pyunit_apps:dump_v");
    req_init(&q, "GET", "/norm", NULL);
    q.r.cgi = cgi;
    q.r.ncgi = sizeof(cgi) / sizeof(cgi[0]);
    cr_assert_eq(run(&q), 1, "%s", logbuf);
    cr_assert(strstr(q.f.out, "\"HTTPS\": \"on\"") != NULL, "%s", q.f.out);
    cr_assert(strstr(q.f.out, "\"HTTP_X_FOO\": \"a\\r\\nSet-Cookie: x\"") != NULL, "%s", q.f.out);
    cr_assert(strstr(q.f.out, "HTTP_CONTENT") == NULL, "%s", q.f.out);
    cr_assert(strstr(q.f.out, "\"wsgi.input\": \"InputWrapper\"") != NULL, "%s", q.f.out);
    cr_assert(strstr(q.f.out, "\"PATH_INFO\": \"/norm\"") != NULL, "%s", q.f.out);
    cr_assert(strstr(q.f.out, "\"DOCUMENT_ROOT\": \"/srv/\\u00ff\"") != NULL, "%s", q.f.out);
    free(q.f.out);
    stop();
}

/* ---- wsgi.input ------------------------------------------------------------------- */

static void echo_case(const char *mode, const char *body, size_t chunk, const char *want)
{
    struct req q;
    char uri[64];

    snprintf(uri, sizeof(uri), "/?%s", mode);
    req_init(&q, "POST", uri, body);
    q.f.chunk = chunk;
    cr_assert_eq(run(&q), 1, "%s: %s", mode, logbuf);
    cr_assert_str_eq(q.f.out ? q.f.out : "", want, "mode %s chunk %zu", mode, chunk);
    cr_assert_eq(q.f.reads_after_end, 0, "read past the end (%s)", mode);
    free(q.f.out);
}

Test(input, modes)
{
    const char *body = "line one\nline two\n\nlast without newline";
    size_t chunks[] = {0, 1, 3, 7};

    start("pyunit_apps:echo");
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        size_t c = chunks[i];

        echo_case("read", body, c, body);
        echo_case("readnone", body, c, body);
        echo_case("readn", body, c, body);
        echo_case("readcl", body, c, body);
        echo_case("readline", body, c, "line one\n|line two\n|\n|last without newline");
        echo_case("readline5", body, c, "line |one\n|line |two\n|\n|last |witho|ut ne|wline");
        echo_case("iter", body, c, "line one\n|line two\n|\n|last without newline");
        echo_case("readlines", body, c, "line one\n|line two\n|\n|last without newline");
        echo_case("readlines_hint", body, c, "line one\n");
        echo_case("read", "", c, "");
        echo_case("readline", "", c, "");
    }
    cr_assert_eq(gw_py_g.live, 0);
    stop();
}

Test(input, validated)
{
    start("pyunit_apps:echo_v");
    echo_case("readcl", "abc\ndef", 0, "abc\ndef");
    echo_case("readline", "abc\ndef", 2, "abc\n|def");
    echo_case("iter", "abc\ndef", 1, "abc\n|def");
    echo_case("readlines", "abc\ndef", 0, "abc\n|def");
    cr_assert(!log_has("Traceback"), "%s", logbuf);
    stop();
}

Test(input, big_body_streams)
{
    size_t n = 3 * 1024 * 1024 + 17;
    char *body = malloc(n + 1);
    struct req q;

    cr_assert_not_null(body);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    body[n] = '\0';
    start("pyunit_apps:echo");
    req_init(&q, "POST", "/?readn", body);
    q.f.chunk = 1000;
    cr_assert_eq(run(&q), 1);
    cr_assert_eq(q.f.out_len, n);
    cr_assert(memcmp(q.f.out, body, n) == 0);
    free(q.f.out);
    req_init(&q, "POST", "/?read", body);
    q.f.chunk = 65536;
    cr_assert_eq(run(&q), 1);
    cr_assert_eq(q.f.out_len, n);
    cr_assert(memcmp(q.f.out, body, n) == 0);
    free(q.f.out);
    /* Unknown length (chunked): read() still gets it all. */
    req_init(&q, "POST", "/?read", body);
    q.r.body_length = -1;
    q.r.content_length = gw_slice_make(NULL, 0);
    cr_assert_eq(run(&q), 1);
    cr_assert_eq(q.f.out_len, n);
    free(q.f.out);
    free(body);
    stop();
}

Test(input, no_read_no_body_access)
{
    struct req q;

    start("hello");
    req_init(&q, "POST", "/", "unread body");
    cr_assert_eq(run(&q), 1);
    cr_assert_eq(q.f.reads, 0, "the body was read although the app never asked (H51)");
    free(q.f.out);
    stop();
}

Test(input, body_ends_early_raises)
{
    struct req q;

    start("pyunit_apps:input_error");
    req_init(&q, "POST", "/", "partial");
    q.r.body_length = 100;
    q.f.body_err = GW_ECLOSED;
    q.f.chunk = 3;
    cr_assert_eq(run(&q), 1);
    cr_assert_str_eq(q.f.out, "ConnectionResetError: wsgi.input: connection closed by peer");
    cr_assert_eq(q.f.reads_after_end, 0);
    free(q.f.out);

    req_init(&q, "POST", "/", "x");
    q.f.body_err = GW_ETIMEDOUT;
    cr_assert_eq(run(&q), 1);
    cr_assert_str_eq(q.f.out, "TimeoutError: wsgi.input: timed out");
    free(q.f.out);

    req_init(&q, "POST", "/", "x");
    q.f.body_err = GW_EPROTO;
    cr_assert_eq(run(&q), 1);
    cr_assert_str_eq(q.f.out, "OSError: wsgi.input: malformed request body framing");
    free(q.f.out);
    stop();
}

Test(input, error_propagates_to_500)
{
    struct req q;

    start("pyunit_apps:input_error_raise");
    req_init(&q, "POST", "/", "partial");
    q.f.body_err = GW_EABORTED;
    run(&q);
    assert_500(&q);
    cr_assert(log_has("ConnectionAbortedError: wsgi.input: request aborted by the front server"),
              "%s", logbuf);
    stop();
}

/* ---- wsgi.errors -------------------------------------------------------------------- */

Test(errors, lines)
{
    struct req *q;
    int before;

    start("pyunit_apps:errors_app");
    before = raw_writes;
    q = get("/");
    cr_assert_str_eq(q->f.out, "logged");
    cr_assert(log_has("line one\npartial two\nthree\n"), "%s", logbuf);
    cr_assert(log_has("unterminatedcaf\xc3\xa9 \\udcff\n"), "%s", logbuf);
    cr_assert_leq(raw_writes - before, 4);
    /* the request's error stream (FCGI_STDERR) gets the same lines */
    cr_assert_str_eq(q->f.err, "line one\npartial two\nthree\nunterminatedcaf\xc3\xa9 \\udcff\n");
    req_free(q);
    stop();
}

/* A write of another thread still being sent when the request ends: the end waits for
 * it; a write after the end reaches the error log only. */
Test(errors, other_thread_and_after_the_end)
{
    struct req *q = calloc(1, sizeof(*q));

    cr_assert_not_null(q);
    start("pyunit_apps:errors_thread");
    req_init(q, "GET", "/", NULL);
    q->f.err_delay_ms = 200;
    run(q);
    cr_assert_str_eq(q->f.out, "ok");
    for (int i = 0; i < 500 && !log_has("after the end\n"); i++)
        usleep(10000);
    cr_assert(log_has("in request\nfrom thread\nafter the end\n"), "%s", logbuf);
    pthread_mutex_lock(&log_lock);
    cr_expect_str_eq(q->f.err, "in request\nfrom thread\n");
    cr_expect_eq(q->f.err_late, 0, "a send to the request ended after it");
    pthread_mutex_unlock(&log_lock);
    req_free(q);
    stop();
}

/* ---- start_response / response ------------------------------------------------------ */

static void expect_500(const char *spec, const char *uri, const char *logtext)
{
    struct req *q;

    start(spec);
    q = get(uri);
    assert_500(q);
    if (logtext)
        cr_assert(log_has(logtext), "%s: want '%s' in log:\n%s", uri, logtext, logbuf);
    req_free(q);
    stop();
}

Test(response, bad_status)
{
    const char *cases[] = {"crlf", "lf",  "nul", "short", "nospace", "letters",
                           "four", "int", "low", "info",  "wide"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char uri[64];

        snprintf(uri, sizeof(uri), "/?%s", cases[i]);
        expect_500("pyunit_apps:bad_status", uri, "exception in the application");
    }
}

Test(response, bad_headers_r1)
{
    const char *cases[] = {"crlf",      "lf",      "nul",    "namespace", "namecolon", "namenul",
                           "nameempty", "notuple", "triple", "bytes",     "notlist",   "wide"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char uri[64];

        snprintf(uri, sizeof(uri), "/?%s", cases[i]);
        expect_500("pyunit_apps:bad_header", uri, "exception in the application");
    }
}

Test(response, bad_header_caught_is_500)
{
    struct req *q;

    start("pyunit_apps:bad_header_caught");
    q = get("/");
    assert_500(q);
    cr_assert(log_has("did not call start_response"), "%s", logbuf);
    req_free(q);
    stop();
}

Test(response, raise_before)
{
    expect_500("pyunit_apps:raise_before", "/", "ValueError: boom before");
    cr_assert(log_has("Traceback (most recent call last)"));
    cr_assert(log_has("GET /: exception in the application"), "%s", logbuf);
}

Test(response, raise_after_start_response)
{
    expect_500("pyunit_apps:raise_after_start", "/", "ValueError: boom after start_response");
}

Test(response, raise_in_iteration_before_first_byte)
{
    struct req *q;

    start("pyunit_router");
    q = get("/raise_in_iter_first");
    assert_500(q);
    req_free(q);
    cr_assert_str_eq(events(), "raise,close");
    cr_assert(log_has("RuntimeError: boom in iteration"));
    cr_assert(log_has("exception before the response started"), "%s", logbuf);
    stop();
}

Test(response, raise_after_first_byte_aborts)
{
    struct req *q;

    start("pyunit_router");
    q = get("/raise_in_iter_later");
    cr_assert_eq(q->ok, 0);
    cr_assert_eq(q->f.head_calls, 1);
    cr_assert_str_eq(q->f.out, "first");
    req_free(q);
    cr_assert_str_eq(events(), "item0,raise,close");
    cr_assert(log_has("exception after the response started"), "%s", logbuf);
    stop();
}

Test(response, no_start_response_r5)
{
    expect_500("pyunit_apps:no_start_response", "/", "did not call start_response");
    expect_500("pyunit_apps:no_start_response_empty", "/", "did not call start_response");
}

Test(response, bad_return_values)
{
    expect_500("pyunit_apps:return_bytes", "/", "it must return an iterable of bytes");
    expect_500("pyunit_apps:return_int", "/", "'int' object is not iterable");
    expect_500("pyunit_apps:yield_str", "/", "response body items must be bytes, not str");
    expect_500("pyunit_apps:write_str", "/", "write() argument must be bytes, not str");
}

Test(response, items_and_close)
{
    struct req *q;

    start("pyunit_router");
    q = get("/body_items_v");
    cr_assert_eq(q->ok, 1);
    cr_assert_str_eq(q->f.status, "200 OK");
    cr_assert_str_eq(q->f.out, "onetwothreefourfive");
    cr_assert_eq(q->f.body_calls, 5);
    req_free(q);
    cr_assert_str_eq(events(), "item0,item1,item2,item3,item4,item5,close");
    cr_assert(!log_has("Traceback"), "%s", logbuf);
    stop();
}

Test(response, client_gone_stops_and_closes)
{
    struct req q;

    start("pyunit_router");
    req_init(&q, "GET", "/body_items", NULL);
    q.f.fail_body_at = 2;
    cr_assert_eq(run(&q), 0);
    cr_assert_eq(q.f.body_calls, 2);
    free(q.f.out);
    cr_assert_str_eq(events(), "item0,item1,item2,close");
    cr_assert(log_has("client gone"), "%s", logbuf);
    cr_assert(!log_has("Traceback"), "%s", logbuf);
    stop();
}

Test(response, write_client_gone)
{
    struct req q;

    start("pyunit_router");
    req_init(&q, "GET", "/write_gone", NULL);
    q.f.fail_body_at = 3;
    cr_assert_eq(run(&q), 0);
    free(q.f.out);
    cr_assert_str_eq(events(), "write:ConnectionError");
    cr_assert(log_has("client gone: connection closed by peer"), "%s", logbuf);
    stop();
}

Test(response, empty_body_sends_head_at_end)
{
    struct req *q;

    start("pyunit_apps:empty_body_v");
    q = get("/");
    cr_assert_eq(q->ok, 1);
    cr_assert_eq(q->f.head_calls, 1);
    cr_assert_eq(q->f.body_calls, 0);
    cr_assert_str_eq(q->f.status, "204 No Content");
    cr_assert_str_eq(q->f.headers, "X-Empty: yes\n");
    req_free(q);
    stop();
}

Test(response, close_raises)
{
    struct req *q;

    start("pyunit_apps:close_raises");
    q = get("/");
    assert_500(q);
    cr_assert(log_has("RuntimeError: close failed"), "%s", logbuf);
    req_free(q);
    stop();
}

Test(response, lazy_start_response)
{
    struct req *q;

    start("pyunit_apps:lazy_start");
    q = get("/");
    cr_assert_eq(q->ok, 1);
    cr_assert_str_eq(q->f.out, "lazy");
    req_free(q);
    stop();
}

Test(response, exc_info_replaces_before_sent)
{
    struct req *q;

    start("pyunit_apps:exc_info_replace");
    q = get("/");
    cr_assert_eq(q->ok, 1);
    cr_assert_str_eq(q->f.status, "500 Internal Server Error");
    cr_assert_str_eq(q->f.out, "error page");
    req_free(q);
    stop();
}

Test(response, exc_info_after_sent_reraises)
{
    struct req *q;

    start("pyunit_router");
    q = get("/exc_info_after_sent");
    cr_assert_eq(q->ok, 0);
    cr_assert_str_eq(q->f.status, "200 OK");
    cr_assert_str_eq(q->f.out, "partial");
    req_free(q);
    cr_assert_str_eq(events(), "reraised:'late'");
    cr_assert(log_has("KeyError: 'late'"), "%s", logbuf);
    stop();
}

Test(response, second_call_without_exc_info)
{
    struct req *q;

    start("pyunit_apps:second_call");
    q = get("/");
    cr_assert_eq(q->ok, 1);
    cr_assert_str_eq(q->f.status, "200 OK");
    cr_assert_str_eq(q->f.out, "start_response called a second time without exc_info");
    req_free(q);
    stop();
}

Test(response, write_callable)
{
    struct req *q;

    start("pyunit_apps:write_app_v");
    q = get("/");
    cr_assert_eq(q->ok, 1);
    cr_assert_str_eq(q->f.out, "onetwothree");
    cr_assert_eq(q->f.body_calls, 3);
    cr_assert(!log_has("Traceback"), "%s", logbuf);
    req_free(q);
    stop();
}

/* ---- file_wrapper ------------------------------------------------------------------- */

static void make_file(char *path, const char *content)
{
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
}

static struct req *fw_get(const char *name, const char *path, const char *script)
{
    struct req *q = calloc(1, sizeof(*q));
    char uri[512];

    snprintf(uri, sizeof(uri), "/%s?%s", name, path);
    req_init(q, "GET", uri, NULL);
    q->r.script_name = sl(script);
    run(q);
    return q;
}

Test(file_wrapper, sendfile)
{
    char path[] = "/tmp/gwfwXXXXXX";
    struct req *q;

    make_file(path, "0123456789abcdef");
    start("pyunit_router");
    q = fw_get("file_wrapper", path, "");
    cr_assert_eq(q->ok, 1, "%s", logbuf);
    cr_assert_eq(q->f.file_calls, 1);
    cr_assert_eq(q->f.file_off, 0);
    cr_assert_str_eq(q->f.out, "0123456789abcdef");
    req_free(q);

    q = fw_get("file_wrapper", path, "/skip3");
    cr_assert_eq(q->ok, 1);
    cr_assert_eq(q->f.file_calls, 1);
    cr_assert_eq(q->f.file_off, 3);
    cr_assert_str_eq(q->f.out, "3456789abcdef");
    req_free(q);

    q = fw_get("file_wrapper", path, "/bytesio");
    cr_assert_eq(q->ok, 1);
    cr_assert_eq(q->f.file_calls, 0);
    cr_assert_eq(q->f.body_calls, 4);
    cr_assert_str_eq(q->f.out, "0123456789abcdef");
    req_free(q);
    cr_assert_str_eq(events(), "fw,fclose,fw,fclose,fw,fclose");
    unlink(path);
    stop();
}

Test(file_wrapper, validated_iterates)
{
    char path[] = "/tmp/gwfwXXXXXX";
    struct req *q;

    make_file(path, "hello file");
    start("pyunit_router");
    q = fw_get("file_wrapper_v", path, "");
    cr_assert_eq(q->ok, 1, "%s", logbuf);
    cr_assert_eq(q->f.file_calls, 0);
    cr_assert_str_eq(q->f.out, "hello file");
    req_free(q);
    unlink(path);
    stop();
}

/* ---- threads and leaks --------------------------------------------------------------- */

#define NTHREADS   4
#define PER_THREAD 50

Test(threads, concurrent_requests)
{
    static struct req reqs[NTHREADS][PER_THREAD];
    static struct req *lists[NTHREADS][PER_THREAD + 1];
    static char bodies[NTHREADS][PER_THREAD][256];
    pthread_t th[NTHREADS];

    start("pyunit_apps:slow_echo");
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            char uri[64];

            snprintf(bodies[t][i], sizeof(bodies[t][i]), "thread %d\nrequest %d\nend", t, i);
            snprintf(uri, sizeof(uri), "/t%d/r%d", t, i);
            req_init(&reqs[t][i], "POST", uri, bodies[t][i]);
            reqs[t][i].f.chunk = 2;
            lists[t][i] = &reqs[t][i];
        }
        lists[t][PER_THREAD] = NULL;
        cr_assert_eq(pthread_create(&th[t], NULL, worker, lists[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            struct req *q = &reqs[t][i];
            char want[64];
            unsigned s = 0;
            size_t n = strlen(bodies[t][i]);

            for (size_t k = 0; k < n; k++)
                s = (s + (unsigned char)bodies[t][i][k]) % 65521;
            snprintf(want, sizeof(want), "%zu %u /t%d/r%d", n, s, t, i);
            cr_assert_eq(q->ok, 1);
            cr_assert_str_eq(q->f.out, want);
            free(q->f.out);
        }
    }
    cr_assert_eq(gw_py_g.live, 0);
    stop();
}

static long blocks_now(void)
{
    struct req *q = get("/blocks");
    long v = atol(q->f.out);

    req_free(q);
    return v;
}

Test(leaks, no_growth)
{
    /* A router app so one interpreter runs all kinds of requests. */
    static const char *const pp[] = {"tests/apps"};
    struct gw_py_options o = {
        .app_spec = "pyunit_router:application", .pythonpath = pp, .npythonpath = 1};
    /* Apps that record EVENTS grow that list on purpose: not here. */
    const char *uris[] = {"/hello",
                          "/dump",
                          "/echo?readline",
                          "/raise_before",
                          "/raise_after_start",
                          "/bad_header?crlf",
                          "/write_app",
                          "/exc_info_replace",
                          "/errors_app",
                          "/no_start_response",
                          "/lazy_start",
                          "/keep",
                          "/use_kept",
                          "/second_call",
                          "/return_int",
                          "/close_raises",
                          "/echo_v?iter"};
    long b0 = 0, b1;

    cr_assert_eq(start_opts(&o), 0, "%s", err);
    /* The count settles slowly (measured: +360, +160, +100, +80, +40... blocks per
     * round, flat after about ten; no object type grows): six rounds warm up. */
    for (int round = 0; round < 10; round++) {
        if (round == 6)
            b0 = blocks_now();
        for (int i = 0; i < 200; i++) {
            for (size_t k = 0; k < sizeof(uris) / sizeof(uris[0]); k++) {
                struct req q;

                req_init(&q, "POST", uris[k], "a\nbb\nccc\n");
                run(&q);
                free(q.f.out);
            }
        }
        if (getenv("GW_TEST_VERBOSE"))
            printf("round %d: %ld blocks\n", round, blocks_now());
    }
    b1 = blocks_now();
    /* 13600 requests in the measured rounds: a leak of even one block per request
     * would show; caches warming up and cyclic garbage timing stay well below. */
    cr_assert_lt(labs(b1 - b0), 400, "allocated blocks grew from %ld to %ld", b0, b1);
    cr_assert_eq(gw_py_g.live, 0, "%ld objects of our types alive", gw_py_g.live);
    stop();
}

Test(expire, kept_objects_raise)
{
    static const char *const pp[] = {"tests/apps"};
    struct gw_py_options o = {
        .app_spec = "pyunit_router:application", .pythonpath = pp, .npythonpath = 1};
    struct req a, b;
    struct req *qs[] = {&a, &b, NULL};

    cr_assert_eq(start_opts(&o), 0, "%s", err);
    req_init(&a, "POST", "/keep", "body");
    req_init(&b, "GET", "/use_kept", NULL);
    run_many(qs);
    cr_assert_eq(a.ok, 1);
    cr_assert_eq(b.ok, 1);
    cr_assert_str_eq(b.f.out,
                     "read:ValueError:wsgi.input used after the request ended\n"
                     "readline:ValueError:wsgi.input used after the request ended\n"
                     "iter:ValueError:wsgi.input used after the request ended\n"
                     "start_response:RuntimeError:start_response called after the request ended\n"
                     "write:RuntimeError:write() called after the request ended");
    cr_assert(log_has("still usable\n"));
    free(a.f.out);
    free(b.f.out);
    cr_assert_eq(gw_py_g.live, 0);
    stop();
}

Test(threads, input_busy_in_other_thread)
{
    struct req a, b, c;
    struct req *qs[] = {&a, &b, &c, NULL};

    start("pyunit_router");
    req_init(&a, "POST", "/input_two_threads", "0123456789");
    a.f.read_delay_ms = 200;
    req_init(&b, "GET", "/join_thread", NULL);
    req_init(&c, "GET", "/events", NULL);
    run_many(qs);
    cr_assert_eq(a.ok, 1, "%s", logbuf);
    cr_assert_str_eq(a.f.out, "wsgi.input is being read by another thread");
    cr_assert_str_eq(b.f.out, "joined");
    /* The thread's read finished before the request ended, so it got the body. */
    cr_assert_str_eq(c.f.out, "thread:10");
    free(a.f.out);
    free(b.f.out);
    free(c.f.out);
    stop();
}

Test(start, sigint_left_alone)
{
    struct sigaction sa;
    struct req *q;

    sigaction(SIGINT, NULL, &sa);
    cr_assert_eq(sa.sa_handler, SIG_DFL);
    start("pyunit_router");
    sigaction(SIGINT, NULL, &sa);
    cr_assert_eq(sa.sa_handler, SIG_DFL, "Python installed its SIGINT handler");
    q = get("/uses_signal");
    cr_assert_eq(q->ok, 1);
    req_free(q);
    sigaction(SIGINT, NULL, &sa);
    cr_assert_eq(sa.sa_handler, SIG_DFL, "Python installed its SIGINT handler");
    stop();
}
