/*
 * Command-line parsing (getopt_long). Runs once on the main thread before anything
 * else; every error is one line on stderr. Long options count only when spelled out
 * in full (next_option undoes getopt_long's prefix matching); a misspelt one is refused
 * with the closest option named. The strings in struct gw_config point into argv,
 * which lives for the whole process.
 */
#include "gateway/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/log.h"
#include "gateway/tls.h"
#include "gateway/util.h"

enum {
    OPT_HTTP = 256,
    OPT_FASTCGI,
    OPT_SCGI,
    OPT_THREADS,
    OPT_PYTHONPATH,
    OPT_CHDIR,
    OPT_VENV,
    OPT_SCRIPT_NAME,
    OPT_READ_TIMEOUT,
    OPT_KEEP_ALIVE,
    OPT_SEND_TIMEOUT,
    OPT_MAX_BODY,
    OPT_MAX_TARGET,
    OPT_MAX_HEADER_SIZE,
    OPT_MAX_HEADERS,
    OPT_QUEUE,
    OPT_BACKLOG,
    OPT_SOCKET_MODE,
    OPT_ACCESS_LOG,
    OPT_ERROR_LOG,
    OPT_LOG_LEVEL,
    OPT_CHECK,
    OPT_VERSION,
    OPT_PROCESSES,
    OPT_LAZY,
    OPT_GRACEFUL_TIMEOUT,
    OPT_MAX_REQUESTS,
    OPT_MAX_REQUESTS_JITTER,
    OPT_TIMEOUT,
    OPT_TIMEOUT_GRACE,
    OPT_STATS,
    OPT_ACCESS_LOG_FORMAT,
    OPT_PID_FILE,
    OPT_FASTCGI_STDERR,
    OPT_H2,
    OPT_H2C,
    OPT_SEND_BUFFER,
    OPT_SEND_MEMORY,
    OPT_SEND_SPILL,
    OPT_TEMP_DIR,
    OPT_BODY_BUFFER,
    OPT_BODY_MEMORY,
    OPT_HTTPS,
    OPT_CERTFILE,
    OPT_KEYFILE,
    OPT_CA_CERTS,
    OPT_VERIFY_CLIENT,
    OPT_TLS_MIN_VERSION,
    OPT_TLS_CIPHERS,
};

static const struct option long_opts[] = {
    {"http", required_argument, NULL, OPT_HTTP},
    {"https", required_argument, NULL, OPT_HTTPS},
    {"certfile", required_argument, NULL, OPT_CERTFILE},
    {"keyfile", required_argument, NULL, OPT_KEYFILE},
    {"ca-certs", required_argument, NULL, OPT_CA_CERTS},
    {"verify-client", required_argument, NULL, OPT_VERIFY_CLIENT},
    {"tls-min-version", required_argument, NULL, OPT_TLS_MIN_VERSION},
    {"tls-ciphers", required_argument, NULL, OPT_TLS_CIPHERS},
    {"fastcgi", required_argument, NULL, OPT_FASTCGI},
    {"fastcgi-stderr", no_argument, NULL, OPT_FASTCGI_STDERR},
    {"h2", no_argument, NULL, OPT_H2},
    {"h2c", no_argument, NULL, OPT_H2C},
    {"scgi", required_argument, NULL, OPT_SCGI},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"processes", required_argument, NULL, OPT_PROCESSES},
    {"workers", required_argument, NULL, OPT_PROCESSES},
    {"lazy", no_argument, NULL, OPT_LAZY},
    {"graceful-timeout", required_argument, NULL, OPT_GRACEFUL_TIMEOUT},
    {"max-requests", required_argument, NULL, OPT_MAX_REQUESTS},
    {"max-requests-jitter", required_argument, NULL, OPT_MAX_REQUESTS_JITTER},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"timeout-grace", required_argument, NULL, OPT_TIMEOUT_GRACE},
    {"stats", required_argument, NULL, OPT_STATS},
    {"pid-file", required_argument, NULL, OPT_PID_FILE},
    {"access-log-format", required_argument, NULL, OPT_ACCESS_LOG_FORMAT},
    {"pythonpath", required_argument, NULL, OPT_PYTHONPATH},
    {"chdir", required_argument, NULL, OPT_CHDIR},
    {"venv", required_argument, NULL, OPT_VENV},
    {"script-name", required_argument, NULL, OPT_SCRIPT_NAME},
    {"read-timeout", required_argument, NULL, OPT_READ_TIMEOUT},
    {"keep-alive", required_argument, NULL, OPT_KEEP_ALIVE},
    {"send-timeout", required_argument, NULL, OPT_SEND_TIMEOUT},
    {"send-buffer", required_argument, NULL, OPT_SEND_BUFFER},
    {"send-memory", required_argument, NULL, OPT_SEND_MEMORY},
    {"send-spill", required_argument, NULL, OPT_SEND_SPILL},
    {"temp-dir", required_argument, NULL, OPT_TEMP_DIR},
    {"body-buffer", required_argument, NULL, OPT_BODY_BUFFER},
    {"body-memory", required_argument, NULL, OPT_BODY_MEMORY},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-target", required_argument, NULL, OPT_MAX_TARGET},
    {"max-header-size", required_argument, NULL, OPT_MAX_HEADER_SIZE},
    {"max-headers", required_argument, NULL, OPT_MAX_HEADERS},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"backlog", required_argument, NULL, OPT_BACKLOG},
    {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"error-log", required_argument, NULL, OPT_ERROR_LOG},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"check", no_argument, NULL, OPT_CHECK},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "usage: wsgate [options] MODULE[:CALLABLE]\n"
    "\n"
    "Serve the WSGI application CALLABLE (default: application) of MODULE.\n"
    "\n"
    "Listeners (repeatable; none given = --http " GW_DEF_ADDRESS "):\n"
    "  (sockets passed by systemd, LISTEN_FDS/LISTEN_FDNAMES = http|https|fastcgi|scgi,\n"
    "  are used as well and replace that default; see \"systemd\" in\n"
    "  docs/operations.md and the example units in docs/systemd/)\n"
    "  --http ADDR              HTTP/1.1 on ADDR = HOST:PORT | :PORT | [V6]:PORT |\n"
    "                           unix:PATH | fd:N\n"
    "  --https ADDR             HTTP/1.1 over TLS on ADDR (needs --certfile)\n"
    "  --fastcgi ADDR           FastCGI (behind nginx, Apache, lighttpd, HAProxy) on ADDR\n"
    "  --scgi ADDR              SCGI (behind lighttpd, nginx, Apache) on ADDR\n"
    "  --socket-mode OCTAL      permissions of unix sockets (default: from the umask)\n"
    "  --backlog N              listen(2) backlog (default 1024)\n"
    "\n"
    "TLS (for --https; see docs/deploy-tls.md):\n"
    "  --certfile PATH          the certificate chain, PEM, leaf first\n"
    "  --keyfile PATH           its private key, PEM: PKCS#1, PKCS#8 or EC, not\n"
    "                           encrypted (default: read from --certfile)\n"
    "  --verify-client none|optional|require\n"
    "                           ask clients for a certificate signed by --ca-certs\n"
    "                           (mutual TLS; default none); optional: the app reads\n"
    "                           the verdict in SSL_CLIENT_VERIFY\n"
    "  --ca-certs PATH          the CAs of the client certificates, PEM\n"
    "  --tls-min-version 1.2|1.3\n"
    "                           the oldest TLS version accepted (default 1.2)\n"
    "  --tls-ciphers LIST       the TLS 1.2 ciphers, OpenSSL's syntax (default:\n"
    "                           Mozilla's \"intermediate\" list)\n"
    "  --h2                     experimental: offer HTTP/2 by ALPN (h2, then\n"
    "                           http/1.1) on the --https listeners (default: off)\n"
    "  --h2c                    experimental: HTTP/2 with prior knowledge (h2c) on\n"
    "                           the --http listeners (default: off)\n"
    "\n"
    "Workers:\n"
    "  --threads N              worker threads running the app (default 8)\n"
    "  --processes N, --workers N, -w N\n"
    "                           worker processes; N > 1 adds a master process that\n"
    "                           supervises them (default 1: no master)\n"
    "  --lazy                   each worker process imports the app after the fork\n"
    "                           (default: the master imports it once, before)\n"
    "  --queue N                requests waiting for a free thread before new ones\n"
    "                           get 503 (default 1024)\n"
    "  --max-requests N         a worker process retires gracefully after about N\n"
    "                           requests (default 0: never)\n"
    "  --max-requests-jitter J  add 0..J at random to N per process (default 0)\n"
    "  --graceful-timeout SECONDS\n"
    "                           how long a stop or reload waits for requests in\n"
    "                           flight (default 30)\n"
    "  --timeout SECONDS        a request still in the app after this long gets an\n"
    "                           exception raised in its thread and the client 504\n"
    "                           (default 0: no limit)\n"
    "  --timeout-grace SECONDS  then, a thread still busy after this long is stuck:\n"
    "                           its worker process is replaced (default 10)\n"
    "\n"
    "Python:\n"
    "  --pythonpath DIR         prepend DIR to sys.path (repeatable)\n"
    "  --chdir DIR              change to DIR before importing the app\n"
    "  --venv DIR               use the packages of the virtualenv DIR\n"
    "  --script-name PREFIX     mount point: SCRIPT_NAME=PREFIX, PATH_INFO=the rest\n"
    "  --check                  import the app, report, and exit\n"
    "  --pid-file PATH          write the pid of the main process (the master with\n"
    "                           --processes > 1) to PATH; a reload rewrites it\n"
    "\n"
    "Limits and timeouts:\n"
    "  --read-timeout SECONDS   deadline for a request head, idle limit while\n"
    "                           reading a body (default 60)\n"
    "  --keep-alive SECONDS     idle limit between requests (default 15; 0 = no\n"
    "                           keep-alive)\n"
    "  --send-timeout SECONDS   idle limit while sending a response (default 60)\n"
    "  --send-buffer BYTES      response bytes kept in memory for one slow reader;\n"
    "                           more go to a temp file (default 1048576)\n"
    "  --send-memory BYTES      the same, for all connections of a process\n"
    "                           (default 67108864)\n"
    "  --send-spill BYTES       temp file bytes of all connections of a process; past\n"
    "                           it the slowest reader is dropped (default 1073741824)\n"
    "  --temp-dir DIR           where those temp files go (default $TMPDIR or /tmp)\n"
    "  --max-body BYTES         larger request bodies get 413 (default 1073741824)\n"
    "  --body-buffer BYTES      request bodies up to this size (with a length) are\n"
    "                           read before the app runs; larger ones reach the\n"
    "                           app as they arrive (default 1048576)\n"
    "  --body-memory BYTES      of those, bytes past 64 KiB per body kept in memory\n"
    "                           for all connections of a process; past it, bodies\n"
    "                           go to temp files (default 67108864)\n"
    "  --max-target BYTES       longer request targets get 414 (default 8190)\n"
    "  --max-header-size BYTES  larger header blocks get 431 (default 65536)\n"
    "  --max-headers N          more header fields get 431 (default 100)\n"
    "\n"
    "Logging:\n"
    "  --access-log PATH|-      access log (default: none; - = stdout)\n"
    "  --error-log PATH|-       error log (default: - = stderr)\n"
    "  --access-log-format FMT  combined (default) or json\n"
    "  --log-level LEVEL        debug, info, warning, error, critical (default info)\n"
    "  --fastcgi-stderr         also send the wsgi.errors lines of FastCGI requests to\n"
    "                           the front server as FCGI_STDERR (default: off)\n"
    "  --stats ADDR             serve metrics on ADDR: Prometheus text at /metrics,\n"
    "                           JSON at /stats (default: off)\n"
    "\n"
    "  --version                print the version and exit\n"
    "  --help, -h               print this help and exit\n";

static int bad(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "wsgate: invalid value '%s' for --%s: %s\n", val, opt, why);
    return -1;
}

static int parse_long(const char *opt, const char *val, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0')
        return bad(opt, val, "not an integer");
    if (v < lo || v > hi) {
        fprintf(stderr, "wsgate: invalid value '%s' for --%s: must be %ld..%ld\n", val, opt, lo,
                hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *opt, const char *val, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno != 0 || end == val || *end != '\0' || !(v >= 0) || v > 86400.0 * 365)
        return bad(opt, val, "not a number of seconds (0 .. 31536000)");
    *out = v;
    return 0;
}

static int parse_size(const char *opt, const char *val, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v;
    if (gw_parse_u64(val, strlen(val), UINT64_MAX, &v) != 0)
        return bad(opt, val, "not a non-negative integer");
    if (v < lo || v > hi) {
        fprintf(stderr, "wsgate: invalid value '%s' for --%s: must be %llu..%llu\n", val, opt,
                (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

static void set_defaults(struct gw_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->script_name = "";
    cfg->threads = GW_DEF_THREADS;
    cfg->processes = 1;
    cfg->queue = GW_DEF_QUEUE;
    cfg->backlog = GW_DEF_BACKLOG;
    cfg->socket_mode = -1;
    cfg->read_timeout = GW_DEF_READ_TIMEOUT;
    cfg->keep_alive = GW_DEF_KEEP_ALIVE;
    cfg->send_timeout = GW_DEF_SEND_TIMEOUT;
    cfg->send_buffer = GW_DEF_SEND_BUFFER;
    cfg->body_buffer = GW_DEF_BODY_BUFFER;
    cfg->body_memory = GW_DEF_BODY_MEMORY;
    cfg->send_memory = GW_DEF_SEND_MEMORY;
    cfg->send_spill = GW_DEF_SEND_SPILL;
    cfg->max_body = GW_DEF_MAX_BODY;
    cfg->max_target = 8190;
    cfg->max_head = 64 * 1024;
    cfg->max_headers = 100;
    cfg->log_level = GW_LOG_INFO;
    cfg->graceful_timeout = GW_DEF_GRACEFUL_TIMEOUT;
    cfg->timeout_grace = GW_DEF_TIMEOUT_GRACE;
    cfg->access_format = GW_ACCESS_COMBINED;
}

static int check_script_name(const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return 0;
    if (strcmp(v, "/") == 0) {
        fprintf(stderr, "wsgate: invalid value '/' for --script-name: leave the option out to "
                        "mount at the root\n");
        return -1;
    }
    if (v[0] != '/' || v[n - 1] == '/') {
        fprintf(stderr,
                "wsgate: invalid value '%s' for --script-name: must start with '/' "
                "and not end with '/'\n",
                v);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x21 || c == 0x7f || c == '?' || c == '#' || c == '%') {
            fprintf(stderr,
                    "wsgate: invalid value '%s' for --script-name: characters must be "
                    "plain path characters\n",
                    v);
            return -1;
        }
    }
    return 0;
}

/* Optimal string alignment distance between a[0..n) and b: the fewest insertions,
 * deletions, substitutions and swaps of two neighbours that turn one into the other.
 * SIZE_MAX when either is longer than any option name could be mistyped into. */
static size_t edit_distance(const char *a, size_t n, const char *b)
{
    enum { MAXLEN = 64 };
    size_t rows[3][MAXLEN + 1];
    size_t m = strlen(b), *prev2 = rows[0], *prev = rows[1], *cur = rows[2], *tmp;

    if (n > MAXLEN || m > MAXLEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t v = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
        }
        tmp = prev2;
        prev2 = prev;
        prev = cur;
        cur = tmp;
    }
    return prev[m];
}

/* The long option closest to the unknown name[0..n): the smallest edit distance among
 * those within a third of its length (at least 1) or that it abbreviates (from 2
 * characters on), an abbreviated one before the others; the first in long_opts on a
 * tie; NULL when none is close. */
static const char *closest_option(const char *name, size_t n)
{
    size_t limit = n / 3 > 1 ? n / 3 : 1, best_d = SIZE_MAX;
    const char *best = NULL;

    for (const struct option *o = long_opts; o->name != NULL; o++) {
        size_t d = edit_distance(name, n, o->name);
        int abbrev = n >= 2 && strncmp(o->name, name, n) == 0;
        if (!abbrev && d > limit)
            continue;
        if (!abbrev)
            d += n; /* an abbreviation first: "--he" is --help, not --h2 */
        if (d < best_d) {
            best = o->name;
            best_d = d;
        }
    }
    return best;
}

/* The long option spelled exactly name[0..n), or NULL. */
static const struct option *find_option(const char *name, size_t n)
{
    for (const struct option *o = long_opts; o->name != NULL; o++)
        if (strlen(o->name) == n && memcmp(o->name, name, n) == 0)
            return o;
    return NULL;
}

static int is_long_val(int val)
{
    for (const struct option *o = long_opts; o->name != NULL; o++)
        if (o->val == val)
            return 1;
    return 0;
}

/*
 * getopt_long with whole long option names only: getopt_long itself also takes any
 * unique prefix ("--thr 3" as --threads 3), so a typo could pass for another option.
 * Returns the option (its val, or the short letter), -1 after the last option, or '?'
 * when one line was printed about an unknown, abbreviated or ambiguous name (with the
 * closest option as a suggestion), a missing value or a value given to a flag.
 */
static int next_option(int argc, char **argv)
{
    int idx = -1, c = getopt_long(argc, argv, ":hw:", long_opts, &idx);
    const struct option *o;
    const char *el, *name;
    size_t n;

    if (c == -1 || (idx < 0 && c != '?' && c != ':'))
        return c;
    if (idx >= 0) {
        /* Matched (maybe by a prefix) and taken: the element is the last one taken,
         * or the one before when its value was the next element ("--threads 3"). */
        el = argv[optind - 1];
        if (long_opts[idx].has_arg == required_argument && optarg == el)
            el = argv[optind - 2];
    } else if (optind > 0 && strncmp(argv[optind - 1], "--", 2) == 0 &&
               (optopt == 0 || is_long_val(optopt))) {
        /* A failed long option: getopt_long stepped past its element and set optopt
         * to 0 (no or several matches) or to the option's val. A failed short option
         * sets the letter, never a long option's val: -h, the one shared letter, has
         * no value that could be missing. */
        el = argv[optind - 1];
    } else {
        if (c == ':')
            fprintf(stderr, "wsgate: option -%c needs a value (see --help)\n", optopt);
        else if (optopt > 0x20 && optopt < 0x7f)
            fprintf(stderr, "wsgate: unknown option -%c (see --help)\n", optopt);
        else
            fprintf(stderr, "wsgate: unknown option -\\x%02x (see --help)\n",
                    (unsigned)optopt & 0xff);
        return '?';
    }
    name = el + 2;
    n = strcspn(name, "=");
    o = find_option(name, n);
    if (o == NULL) {
        const char *near = closest_option(name, n);
        size_t shown = n > 0 ? n : strlen(name); /* "--=x": show all of it */
        int len = shown > 200 ? 200 : (int)shown;
        if (near != NULL)
            fprintf(stderr, "wsgate: unknown option --%.*s (did you mean --%s?)\n", len, name,
                    near);
        else
            fprintf(stderr, "wsgate: unknown option --%.*s (see --help)\n", len, name);
        return '?';
    }
    if (c == ':') {
        fprintf(stderr, "wsgate: option --%s needs a value (see --help)\n", o->name);
        return '?';
    }
    if (c == '?') {
        fprintf(stderr, "wsgate: option --%s takes no value (see --help)\n", o->name);
        return '?';
    }
    return c;
}

int gw_config_parse(struct gw_config *cfg, int argc, char **argv)
{
    long l;
    uint64_t u;
    int c;

    set_defaults(cfg);
    opterr = 0;
    while ((c = next_option(argc, argv)) != -1) {
        switch (c) {
        case OPT_HTTP:
        case OPT_HTTPS:
        case OPT_FASTCGI:
        case OPT_SCGI:
            if (cfg->nlisten == GW_MAX_LISTENERS) {
                fprintf(stderr, "wsgate: too many listeners (at most %d)\n", GW_MAX_LISTENERS);
                return -1;
            }
            cfg->listen[cfg->nlisten].proto = c == OPT_HTTP      ? "http"
                                              : c == OPT_HTTPS   ? "https"
                                              : c == OPT_FASTCGI ? "fastcgi"
                                                                 : "scgi";
            cfg->listen[cfg->nlisten].addr = optarg;
            cfg->nlisten++;
            break;
        case OPT_THREADS:
            if (parse_long("threads", optarg, 1, 1024, &l) != 0)
                return -1;
            cfg->threads = (int)l;
            break;
        case 'w':
        case OPT_PROCESSES:
            if (parse_long("processes", optarg, 1, GW_MAX_PROCESSES, &l) != 0)
                return -1;
            cfg->processes = (int)l;
            break;
        case OPT_LAZY:
            cfg->lazy = 1;
            break;
        case OPT_FASTCGI_STDERR:
            cfg->fastcgi_stderr = 1;
            break;
        case OPT_H2:
            cfg->h2 = 1;
            break;
        case OPT_H2C:
            cfg->h2c = 1;
            break;
        case OPT_GRACEFUL_TIMEOUT:
            if (parse_seconds("graceful-timeout", optarg, &cfg->graceful_timeout) != 0)
                return -1;
            break;
        case OPT_MAX_REQUESTS:
            if (parse_size("max-requests", optarg, 0, UINT32_MAX, &cfg->max_requests) != 0)
                return -1;
            break;
        case OPT_MAX_REQUESTS_JITTER:
            if (parse_size("max-requests-jitter", optarg, 0, UINT32_MAX,
                           &cfg->max_requests_jitter) != 0)
                return -1;
            break;
        case OPT_TIMEOUT:
            if (parse_seconds("timeout", optarg, &cfg->timeout) != 0)
                return -1;
            break;
        case OPT_TIMEOUT_GRACE:
            if (parse_seconds("timeout-grace", optarg, &cfg->timeout_grace) != 0)
                return -1;
            break;
        case OPT_STATS:
            cfg->stats_addr = optarg;
            break;
        case OPT_PID_FILE:
            cfg->pid_file = optarg;
            break;
        case OPT_ACCESS_LOG_FORMAT:
            if (strcmp(optarg, "combined") == 0)
                cfg->access_format = GW_ACCESS_COMBINED;
            else if (strcmp(optarg, "json") == 0)
                cfg->access_format = GW_ACCESS_JSON;
            else
                return bad("access-log-format", optarg, "use combined or json");
            break;
        case OPT_QUEUE:
            if (parse_long("queue", optarg, 1, 1000000, &l) != 0)
                return -1;
            cfg->queue = (int)l;
            break;
        case OPT_BACKLOG:
            if (parse_long("backlog", optarg, 1, 65535, &l) != 0)
                return -1;
            cfg->backlog = (int)l;
            break;
        case OPT_PYTHONPATH:
            if (cfg->npythonpath == GW_MAX_PYTHONPATH) {
                fprintf(stderr, "wsgate: too many --pythonpath (at most %d)\n", GW_MAX_PYTHONPATH);
                return -1;
            }
            cfg->pythonpath[cfg->npythonpath++] = optarg;
            break;
        case OPT_CHDIR:
            cfg->chdir = optarg;
            break;
        case OPT_CERTFILE:
            cfg->certfile = optarg;
            break;
        case OPT_KEYFILE:
            cfg->keyfile = optarg;
            break;
        case OPT_CA_CERTS:
            cfg->ca_certs = optarg;
            break;
        case OPT_VERIFY_CLIENT:
            if (strcmp(optarg, "none") == 0)
                cfg->verify_client = GW_TLS_VERIFY_NONE;
            else if (strcmp(optarg, "optional") == 0)
                cfg->verify_client = GW_TLS_VERIFY_OPTIONAL;
            else if (strcmp(optarg, "require") == 0)
                cfg->verify_client = GW_TLS_VERIFY_REQUIRE;
            else
                return bad("verify-client", optarg, "use none, optional or require");
            break;
        case OPT_TLS_MIN_VERSION:
            if (strcmp(optarg, "1.2") == 0)
                cfg->tls_min_version = 12;
            else if (strcmp(optarg, "1.3") == 0)
                cfg->tls_min_version = 13;
            else
                return bad("tls-min-version", optarg, "use 1.2 or 1.3");
            break;
        case OPT_TLS_CIPHERS:
            cfg->tls_ciphers = optarg;
            break;
        case OPT_VENV:
            cfg->venv = optarg;
            break;
        case OPT_SCRIPT_NAME:
            if (check_script_name(optarg) != 0)
                return -1;
            cfg->script_name = optarg;
            break;
        case OPT_READ_TIMEOUT:
            if (parse_seconds("read-timeout", optarg, &cfg->read_timeout) != 0)
                return -1;
            if (cfg->read_timeout <= 0)
                return bad("read-timeout", optarg, "must be greater than 0");
            break;
        case OPT_KEEP_ALIVE:
            if (parse_seconds("keep-alive", optarg, &cfg->keep_alive) != 0)
                return -1;
            break;
        case OPT_SEND_TIMEOUT:
            if (parse_seconds("send-timeout", optarg, &cfg->send_timeout) != 0)
                return -1;
            if (cfg->send_timeout <= 0)
                return bad("send-timeout", optarg, "must be greater than 0");
            break;
        case OPT_SEND_BUFFER:
            if (parse_size("send-buffer", optarg, 0, (uint64_t)1 << 40, &cfg->send_buffer) != 0)
                return -1;
            break;
        case OPT_SEND_MEMORY:
            if (parse_size("send-memory", optarg, 0, (uint64_t)1 << 40, &cfg->send_memory) != 0)
                return -1;
            break;
        case OPT_SEND_SPILL:
            if (parse_size("send-spill", optarg, 0, (uint64_t)1 << 50, &cfg->send_spill) != 0)
                return -1;
            break;
        case OPT_BODY_BUFFER:
            if (parse_size("body-buffer", optarg, 0, (uint64_t)1 << 40, &cfg->body_buffer) != 0)
                return -1;
            break;
        case OPT_BODY_MEMORY:
            if (parse_size("body-memory", optarg, 0, (uint64_t)1 << 40, &cfg->body_memory) != 0)
                return -1;
            break;
        case OPT_TEMP_DIR:
            cfg->temp_dir = optarg;
            break;
        case OPT_MAX_BODY:
            if (parse_size("max-body", optarg, 0, (uint64_t)INT64_MAX, &cfg->max_body) != 0)
                return -1;
            break;
        case OPT_MAX_TARGET:
            if (parse_size("max-target", optarg, 16, 1024 * 1024, &u) != 0)
                return -1;
            cfg->max_target = (size_t)u;
            break;
        case OPT_MAX_HEADER_SIZE:
            if (parse_size("max-header-size", optarg, 256, 16 * 1024 * 1024, &u) != 0)
                return -1;
            cfg->max_head = (size_t)u;
            break;
        case OPT_MAX_HEADERS:
            if (parse_size("max-headers", optarg, 1, 10000, &u) != 0)
                return -1;
            cfg->max_headers = (size_t)u;
            break;
        case OPT_SOCKET_MODE: {
            char *end;
            errno = 0;
            long m = strtol(optarg, &end, 8);
            if (errno != 0 || end == optarg || *end != '\0' || m < 0 || m > 0777)
                return bad("socket-mode", optarg, "not an octal mode (e.g. 660)");
            cfg->socket_mode = (int)m;
            break;
        }
        case OPT_ACCESS_LOG:
            cfg->access_log = optarg;
            break;
        case OPT_ERROR_LOG:
            cfg->error_log = optarg;
            break;
        case OPT_LOG_LEVEL:
            cfg->log_level = gw_log_level_parse(optarg);
            if (cfg->log_level < 0)
                return bad("log-level", optarg, "use debug, info, warning, error or critical");
            break;
        case OPT_CHECK:
            cfg->check_only = 1;
            break;
        case OPT_VERSION:
            printf("wsgate %s\n", GW_VERSION);
            return 1;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        default: /* '?': next_option has said what is wrong */
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "wsgate: no application given: wsgate [options] MODULE[:CALLABLE] "
                        "(see --help)\n");
        return -1;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "wsgate: unexpected argument '%s' after the application\n",
                argv[optind + 1]);
        return -1;
    }
    cfg->app_spec = argv[optind];
    if (cfg->app_spec[0] == '\0' || cfg->app_spec[0] == ':') {
        fprintf(stderr, "wsgate: invalid application '%s': expected MODULE[:CALLABLE]\n",
                cfg->app_spec);
        return -1;
    }
    if (cfg->nlisten == 0) {
        cfg->listen[0].proto = "http";
        cfg->listen[0].addr = GW_DEF_ADDRESS;
        cfg->nlisten = 1;
        cfg->default_listen = 1; /* dropped again if sockets are handed over (activation.h) */
    }
    if (cfg->max_target + 32 > cfg->max_head) {
        fprintf(stderr, "wsgate: --max-header-size must exceed --max-target by 32 bytes\n");
        return -1;
    }
    return 0;
}
