/*
 * The option table (see gateway/options.h) and what every surface needs from it:
 * finding an option by name, setting a value of any type with one clear error line,
 * the defaults, and the --help text. Adding an option is one entry below (and, when
 * it is a new setting, its field in struct gw_config).
 */
#include "gateway/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/cidr.h"
#include "gateway/log.h"
#include "gateway/tls.h"
#include "gateway/util.h"

enum {
    S_LISTEN,
    S_TLS,
    S_PROXIES,
    S_WORKERS,
    S_PYTHON,
    S_LIMITS,
    S_LOGGING,
    S_PRIVILEGES,
    S_CONFIG,
    S_OTHER
};

const struct gw_option_section gw_option_sections[] = {
    [S_LISTEN] =
        {"Listeners (repeatable; none given = --http " GW_DEF_ADDRESS "):",
         "(sockets passed by systemd, LISTEN_FDS/LISTEN_FDNAMES = http|https|fastcgi|scgi|\n"
         "uwsgi, are used as well and replace that default; see \"systemd\" in\n"
         "docs/operations.md and the example units in docs/systemd/)"},
    [S_TLS] = {"TLS (for --https; see docs/deploy-tls.md):", NULL},
    [S_PROXIES] = {"Behind a proxy or load balancer (see docs/proxies.md):", NULL},
    [S_WORKERS] = {"Workers:", NULL},
    [S_PYTHON] = {"Python:", NULL},
    [S_LIMITS] = {"Limits and timeouts:", NULL},
    [S_LOGGING] = {"Logging:", NULL},
    [S_PRIVILEGES] = {"Privileges (see \"Privileges\" in docs/operations.md):", NULL},
    [S_CONFIG] = {"Configuration (see \"Configuration\" in docs/operations.md):",
                  "(sources, each overriding the one before: defaults, the --config file,\n"
                  "the WSGATE_ARGS environment variable, the command line; an on/off\n"
                  "option --NAME is turned off by --no-NAME, or NAME = false in a file)"},
    [S_OTHER] = {NULL, NULL},
};
const size_t gw_noption_sections = sizeof(gw_option_sections) / sizeof(gw_option_sections[0]);

static const struct gw_choice verify_choices[] = {
    {"none", GW_TLS_VERIFY_NONE},
    {"optional", GW_TLS_VERIFY_OPTIONAL},
    {"require", GW_TLS_VERIFY_REQUIRE},
    {NULL, 0},
};
/* The values are protocols/proxy_parse.h's version bits (1 v1, 2 v2, 4 optional). */
static const struct gw_choice proxy_choices[] = {
    {"off", 0}, {"v1", 1}, {"v2", 2}, {"auto", 7}, {NULL, 0},
};
static const struct gw_choice tls_version_choices[] = {{"1.2", 12}, {"1.3", 13}, {NULL, 0}};
static const struct gw_choice format_choices[] = {
    {"combined", GW_ACCESS_COMBINED},
    {"json", GW_ACCESS_JSON},
    {NULL, 0},
};
static const struct gw_choice level_choices[] = {
    {"debug", GW_LOG_DEBUG}, {"info", GW_LOG_INFO},         {"warning", GW_LOG_WARNING},
    {"error", GW_LOG_ERROR}, {"critical", GW_LOG_CRITICAL}, {NULL, 0},
};

static int check_script_name(const char *shown, const char *v, const char *where);
static int check_health_path(const char *shown, const char *v, const char *where);
static int check_cidrs(const char *shown, const char *v, const char *where);

#define AT(field) offsetof(struct gw_config, field)
/* Each expands to the fields of one entry; the entry adds .doc_def and .doc (README). */
#define LISTEN(n, a, s, p, sec, h)                                                                 \
    .name = n, .alias = a, .short_name = s, .metavar = "ADDR", .type = GW_OPT_LISTEN,              \
    .flags = GW_OPTF_REPEAT, .proto = p, .section = sec, .help = h
#define STR(n, m, f, d, sec, h)                                                                    \
    .name = n, .metavar = m, .type = GW_OPT_STRING, .offset = AT(f), .def = d, .section = sec,     \
    .help = h
#define NUM(n, m, t, f, l, u, d, sec, h)                                                           \
    .name = n, .metavar = m, .type = t, .offset = AT(f), .lo = l, .hi = u, .def = d,               \
    .section = sec, .help = h
#define SECS(n, fl, f, d, sec, h)                                                                  \
    .name = n, .metavar = "SECONDS", .type = GW_OPT_SECONDS, .flags = fl, .offset = AT(f),         \
    .def = d, .section = sec, .help = h
#define CHOICE(n, m, f, c, d, sec, h)                                                              \
    .name = n, .metavar = m, .type = GW_OPT_CHOICE, .offset = AT(f), .choices = c, .def = d,       \
    .section = sec, .help = h
/* A flag, off by default (FLAG) or on (FLAG_ON); --no-NAME turns either off. */
#define FLAG_DEF(n, f, d, sec, h)                                                                  \
    .name = n, .negation = "no-" n, .type = GW_OPT_FLAG, .offset = AT(f), .def = d,                \
    .section = sec, .help = h
#define FLAG(n, f, sec, h)    FLAG_DEF(n, f, "false", sec, h)
#define FLAG_ON(n, f, sec, h) FLAG_DEF(n, f, "true", sec, h)

const struct gw_option gw_options[] = {
    /* Listeners */
    {LISTEN("http", "bind", 'b', "http", S_LISTEN,
            "HTTP/1.1 on ADDR = HOST:PORT | :PORT | [V6]:PORT |\nunix:PATH | fd:N"),
     .doc_def = "`127.0.0.1:8000`",
     .doc = "listen for HTTP/1.1; repeatable. ADDR = `HOST:PORT`, `:PORT`, `[V6]:PORT`, "
            "`unix:PATH` (a stale socket file is replaced), `fd:N` (an inherited listening "
            "socket)"},
    {LISTEN("https", NULL, 0, "https", S_LISTEN, "HTTP/1.1 over TLS on ADDR (needs --certfile)"),
     .doc = "listen for HTTP/1.1 over TLS (same ADDR forms); repeatable, any mix with the "
            "others; needs `--certfile` ([deploy-tls.md](docs/deploy-tls.md))"},
    {LISTEN("fastcgi", NULL, 0, "fastcgi", S_LISTEN,
            "FastCGI (behind nginx, Apache, lighttpd, HAProxy) on ADDR"),
     .doc = "listen for FastCGI (same ADDR forms); repeatable; any mix with the others"},
    {LISTEN("scgi", NULL, 0, "scgi", S_LISTEN, "SCGI (behind lighttpd, nginx, Apache) on ADDR"),
     .doc = "listen for SCGI (same ADDR forms); repeatable"},
    {LISTEN("uwsgi", NULL, 0, "uwsgi", S_LISTEN,
            "the uwsgi protocol (behind nginx uwsgi_pass, Apache\nmod_proxy_uwsgi) on ADDR"),
     .doc = "listen for the uwsgi protocol (same ADDR forms), behind nginx `uwsgi_pass` or "
            "Apache `mod_proxy_uwsgi`; repeatable. Only WSGI requests (modifiers 0/0); "
            "`UWSGI_*` variables are dropped, never acted on "
            "([deploy-uwsgi.md](docs/deploy-uwsgi.md), with a table of uWSGI's ini options)"},
    {.name = "socket-mode",
     .metavar = "OCTAL",
     .type = GW_OPT_OCTAL,
     .offset = AT(socket_mode),
     .section = S_LISTEN,
     .help = "permissions of unix sockets (default: from the umask)",
     .doc_def = "umask",
     .doc = "permissions of unix sockets"},
    {STR("socket-owner", "USER[:GROUP]", socket_owner, NULL, S_LISTEN,
         "owner of the listeners' and --stats' unix sockets\n(wsgate started as root)"),
     .doc_def = "the process's",
     .doc = "owner of the unix sockets wsgate creates for its listeners and `--stats` (started "
            "as root); "
            "GROUP defaults to USER's primary group"},
    {NUM("backlog", "N", GW_OPT_INT, backlog, 1, 65535, "1024", S_LISTEN,
         "listen(2) backlog (default 1024)"),
     .doc_def = "1024", .doc = "listen(2) backlog"},
    {FLAG_ON("h2c", h2c, S_LISTEN,
             "HTTP/2 on the --http listeners (h2c): with prior\nknowledge, or by Upgrade: h2c "
             "(default: on;\n--no-h2c: HTTP/1.1 only)"),
     .doc_def = "on",
     .doc = "HTTP/2 on the `--http` listeners (`h2c`): with prior knowledge (the connection "
            "opens with the HTTP/2 preface) or by `Upgrade: h2c` on a first request without a "
            "body; HTTP/1.1 clients are served as before. `--no-h2c` (`h2c = false`) turns "
            "it off ([HTTP/2](docs/http.md#http2))"},
    /* TLS */
    {STR("certfile", "PATH", certfile, NULL, S_TLS, "the certificate chain, PEM, leaf first"),
     .doc = "the certificate chain of the `--https` listeners: PEM, the server's certificate "
            "first, then the intermediates"},
    {STR("keyfile", "PATH", keyfile, NULL, S_TLS,
         "its private key, PEM: PKCS#1, PKCS#8 or EC, not\nencrypted (default: read from "
         "--certfile)"),
     .doc_def = "the `--certfile` file",
     .doc = "its private key: PEM, PKCS#1, PKCS#8 or EC, not encrypted"},
    {CHOICE("verify-client", "none|optional|require", verify_client, verify_choices, "none", S_TLS,
            "ask clients for a certificate signed by --ca-certs\n(mutual TLS; default none); "
            "optional: the app reads\nthe verdict in SSL_CLIENT_VERIFY"),
     .doc_def = "`none`",
     .doc = "mutual TLS: `require` refuses the handshake of a client without a certificate "
            "signed by `--ca-certs`; `optional` lets every client through and the app reads "
            "the verdict in `SSL_CLIENT_VERIFY` "
            "([deploy-tls.md](docs/deploy-tls.md#client-certificates-mutual-tls))"},
    {STR("ca-certs", "PATH", ca_certs, NULL, S_TLS, "the CAs of the client certificates, PEM"),
     .doc = "the CAs (PEM) that sign the client certificates; needed by, and only with, "
            "`--verify-client optional\\|require`"},
    {CHOICE("tls-min-version", "1.2|1.3", tls_min_version, tls_version_choices, NULL, S_TLS,
            "the oldest TLS version accepted (default 1.2)"),
     .doc_def = "`1.2`", .doc = "`1.2` (TLS 1.2 and 1.3) or `1.3` (TLS 1.3 only)"},
    {STR("tls-ciphers", "LIST", tls_ciphers, NULL, S_TLS,
         "the TLS 1.2 ciphers, OpenSSL's syntax (default:\nMozilla's \"intermediate\" list)"),
     .doc_def = "Mozilla \"intermediate\"",
     .doc = "the TLS 1.2 cipher list, OpenSSL's syntax (TLS 1.3's: `--tls-ciphersuites`)"},
    {STR("tls-ciphersuites", "LIST", tls_suites, NULL, S_TLS,
         "the TLS 1.3 cipher suites, colon-separated, in\nOpenSSL's names (default: all "
         "three: AES-128-GCM,\nAES-256-GCM, CHACHA20-POLY1305)"),
     .doc_def = "OpenSSL's three",
     .doc = "the TLS 1.3 cipher suites, colon-separated, each a suite OpenSSL has "
            "(`TLS_AES_128_GCM_SHA256`, `TLS_AES_256_GCM_SHA384`, "
            "`TLS_CHACHA20_POLY1305_SHA256`, and the CCM ones it offers only when asked)"},
    {FLAG_ON("h2", h2, S_TLS,
             "offer HTTP/2 by ALPN (h2, then http/1.1) on the\n--https listeners (default: on;\n"
             "--no-h2: HTTP/1.1 only)"),
     .doc_def = "on",
     .doc = "offer HTTP/2 by ALPN (`h2`, then `http/1.1`) on the `--https` listeners; "
            "`--no-h2` (`h2 = false`) offers `http/1.1` only "
            "([HTTP/2](docs/http.md#http2))"},
    /* Workers */
    /* Behind a proxy */
    {CHOICE("proxy-protocol", "off|v1|v2|auto", proxy_protocol, proxy_choices, "off", S_PROXIES,
            "the --http/--https listeners expect a PROXY protocol\nheader (HAProxy send-proxy, "
            "send-proxy-v2) from\n--proxy-allow-from peers; auto: v1 or v2 or none\n"
            "(default off)"),
     .doc_def = "`off`",
     .doc = "the `--http` and `--https` listeners read a PROXY protocol header (HAProxy "
            "`send-proxy`, `send-proxy-v2`; before the TLS handshake on `--https`): "
            "`REMOTE_ADDR`, `SERVER_PORT` and, from the SSL TLV, `HTTPS` come from it. `v1`, "
            "`v2`: required; `auto`: either, or none. A header from a peer outside "
            "`--proxy-allow-from`, a malformed one, or none where one is required closes the "
            "connection ([proxies.md](docs/proxies.md))"},
    {.name = "proxy-protocol-at",
     .metavar = "ADDR=MODE",
     .type = GW_OPT_PROXY_AT,
     .flags = GW_OPTF_REPEAT,
     .choices = proxy_choices,
     .section = S_PROXIES,
     .help = "the same for one --http/--https listener, named by\nits ADDR as given there "
             "(or fd:N), over\n--proxy-protocol: e.g. :8080=v2 127.0.0.1:8081=off",
     .doc = "the same for one `--http`/`--https` listener, named by its ADDR exactly as given "
            "there (`fd:N` for a socket systemd passes), overriding `--proxy-protocol` for "
            "it: `--proxy-protocol-at :8080=v2` (behind HAProxy `send-proxy-v2`) next to "
            "`--http 127.0.0.1:8081` without; repeatable; MODE after the last `=` "
            "([proxies.md](docs/proxies.md#one-setting-per-listener))"},
    {STR("proxy-allow-from", "CIDR,...", proxy_allow_from, "127.0.0.0/8,::1", S_PROXIES,
         "the balancers allowed to send a PROXY header\n(default 127.0.0.0/8,::1; * = any)"),
     .check = check_cidrs, .doc_def = "`127.0.0.0/8,::1`",
     .doc = "the peers (`ADDR`, `ADDR/BITS`, or `*`) that may send a PROXY header; unix "
            "socket peers always may"},
    {STR("forwarded-allow-ips", "CIDR,...", forwarded_allow_ips, "127.0.0.0/8,::1", S_PROXIES,
         "the proxies whose X-Forwarded-Proto, X-Forwarded-Ssl\nand Forwarded: proto= set "
         "wsgi.url_scheme\n(default 127.0.0.0/8,::1; * = any)"),
     .check = check_cidrs, .doc_def = "`127.0.0.0/8,::1`",
     .doc = "the peers (`ADDR`, `ADDR/BITS`, or `*`; unix socket peers always) trusted for "
            "`X-Forwarded-Proto`, `X-Forwarded-Ssl: on` and `Forwarded: proto=`, which then "
            "set `wsgi.url_scheme` and `HTTPS` (HTTP front-ends; after a PROXY header the "
            "peer is the address it gives). From other peers these fields are plain "
            "`HTTP_*` data"},
    {FLAG("forwarded-for", forwarded_for, S_PROXIES,
          "from those proxies, X-Forwarded-For / Forwarded: for=\nset REMOTE_ADDR (the "
          "rightmost untrusted hop;\ndefault off)"),
     .doc_def = "off",
     .doc = "from a `--forwarded-allow-ips` peer, `X-Forwarded-For` (or `Forwarded: for=`) "
            "sets `REMOTE_ADDR`: the rightmost address that is not itself trusted "
            "(`REMOTE_PORT` is then empty)"},
    {FLAG("forwarded-host", forwarded_host, S_PROXIES,
          "from those proxies, X-Forwarded-Host sets HTTP_HOST\nand SERVER_NAME (default "
          "off)"),
     .doc_def = "off",
     .doc = "from a `--forwarded-allow-ips` peer, `X-Forwarded-Host` (its last item) "
            "replaces `HTTP_HOST` and `SERVER_NAME`"},
    {NUM("threads", "N", GW_OPT_INT, threads, 1, 1024, "8", S_WORKERS,
         "worker threads running the app (default 8)"),
     .doc_def = "8", .doc = "worker threads running the app"},
    {.name = "processes",
     .alias = "workers",
     .short_name = 'w',
     .metavar = "N",
     .type = GW_OPT_INT,
     .offset = AT(processes),
     .lo = 1,
     .hi = GW_MAX_PROCESSES,
     .def = "1",
     .section = S_WORKERS,
     .help = "worker processes; N > 1 adds a master process that\nsupervises them (default 1: "
             "no master)",
     .doc_def = "1",
     .doc = "worker processes; N > 1 adds a supervising master "
            "([operations](docs/operations.md))"},
    {FLAG("lazy", lazy, S_WORKERS,
          "each worker process imports the app after the fork\n(default: the master imports it "
          "once, before)"),
     .doc_def = "off", .doc = "each worker process imports the app after the fork"},
    {NUM("queue", "N", GW_OPT_INT, queue, 1, 1000000, "1024", S_WORKERS,
         "requests waiting for a free thread before new ones\nget 503 (default 1024)"),
     .doc_def = "1024",
     .doc = "requests waiting for a free thread; beyond it new requests get `503` with "
            "`Retry-After` at once"},
    {NUM("max-requests", "N", GW_OPT_U64, max_requests, 0, UINT32_MAX, "0", S_WORKERS,
         "a worker process retires gracefully after about N\nrequests (default 0: never)"),
     .doc_def = "0 (never)", .doc = "a worker process retires gracefully after about N requests"},
    {NUM("max-requests-jitter", "J", GW_OPT_U64, max_requests_jitter, 0, UINT32_MAX, "0", S_WORKERS,
         "add 0..J at random to N per process (default 0)"),
     .doc_def = "0", .doc = "add a random 0..J to N per process"},
    {SECS("graceful-timeout", 0, graceful_timeout, "30", S_WORKERS,
          "how long a stop or reload waits for requests in\nflight (default 30)"),
     .doc_def = "30", .doc = "how long a stop or reload waits for requests in flight"},
    {SECS("timeout", 0, timeout, "0", S_WORKERS,
          "a request still in the app after this long gets an\nexception raised in its thread "
          "and the client 504\n(default 0: no limit)"),
     .doc_def = "0 (none)",
     .doc = "a request still in the app after SECONDS: the client gets 504 at once and "
            "`wsgate.RequestTimeout` is raised in its thread"},
    {SECS("timeout-grace", 0, timeout_grace, "10", S_WORKERS,
          "then, a thread still busy after this long is stuck:\nits worker process is replaced "
          "(default 10)"),
     .doc_def = "10",
     .doc = "then a thread still in the app is stuck: logged, and in prefork mode its worker "
            "process is replaced"},
    {SECS("slow-log", 0, slow_log, "0", S_WORKERS,
          "a request still in the app after this long has its\nthread's Python stack written to "
          "the error log,\nonce (default 0: off)"),
     .doc_def = "0 (off)",
     .doc = "a request still in the app after SECONDS has its thread's Python stack (file, "
            "line and function of every frame) written to the error log once, with the "
            "request line ([slow log](docs/operations.md#slow-log---slow-log))"},
    {NUM("max-rss", "MiB", GW_OPT_U64, max_rss, 0, (uint64_t)1 << 30, "0", S_WORKERS,
         "a worker process whose resident memory exceeds MiB\nretires gracefully (default 0: "
         "never)"),
     .doc_def = "0 (never)",
     .doc = "a worker process whose resident memory exceeds MiB retires gracefully, like "
            "`--max-requests` ([recycling](docs/operations.md#recycling))"},
    /* Python */
    {.name = "app",
     .metavar = "MODULE[:CALLABLE]",
     .type = GW_OPT_STRING,
     .flags = GW_OPTF_NO_CLI,
     .offset = AT(app_spec),
     .section = S_PYTHON,
     .help = "the application (a config file key; on the\ncommand line it is the argument)"},
    {.name = "pythonpath",
     .metavar = "DIR",
     .type = GW_OPT_PATHS,
     .flags = GW_OPTF_REPEAT,
     .section = S_PYTHON,
     .help = "prepend DIR to sys.path (repeatable)",
     .doc = "prepend DIR to `sys.path` (repeatable)"},
    {STR("chdir", "DIR", chdir, NULL, S_PYTHON, "change to DIR before importing the app"),
     .doc = "change directory before importing the app"},
    {STR("venv", "DIR", venv, NULL, S_PYTHON, "use the packages of the virtualenv DIR"),
     .doc = "use the packages of a virtualenv"},
    {.name = "script-name",
     .metavar = "PREFIX",
     .type = GW_OPT_STRING,
     .offset = AT(script_name),
     .check = check_script_name,
     .def = "",
     .section = S_PYTHON,
     .help = "mount point: SCRIPT_NAME=PREFIX, PATH_INFO=the rest",
     .doc = "mount point: `SCRIPT_NAME` = PREFIX, `PATH_INFO` = the rest; requests outside it "
            "get 404"},
    {FLAG("reload", reload, S_PYTHON,
          "for development: reload gracefully when a source\nfile of the app or the --config "
          "file changes"),
     .doc_def = "off",
     .doc = "for development: watch the app's own source files (not the standard library's or "
            "installed packages') and the `--config` file, and reload gracefully (as `SIGHUP`) "
            "when one changes; a file that does not import leaves the old code serving "
            "([development reload](docs/operations.md#development-reload---reload))"},
    {FLAG("check", check_only, S_PYTHON, "import the app, report, and exit"),
     .doc = "import the app and exit"},
    {STR("pid-file", "PATH", pid_file, NULL, S_PYTHON,
         "write the pid of the main process (the master with\n--processes > 1) to PATH; a "
         "reload rewrites it"),
     .doc = "the pid to signal (the master with `-w` > 1)"},
    {SECS("drain-delay", 0, drain_delay, "0", S_WORKERS,
          "on SIGTERM/SIGINT, keep accepting and serving this\nlong with --health-path "
          "answering 503, so load\nbalancers take the host out first (default 0)"),
     .doc_def = "0",
     .doc = "on SIGTERM/SIGINT, go on accepting and serving for SECONDS while `--health-path` "
            "answers `503`, so that load balancers take the host out before its listeners "
            "close; then the graceful stop ([scale-out](docs/scale-out.md))"},
    {.name = "health-path",
     .metavar = "PATH",
     .type = GW_OPT_STRING,
     .offset = AT(health_path),
     .check = check_health_path,
     .section = S_WORKERS,
     .help = "answer requests for PATH without the app: 200 while\nserving, 503 once "
             "draining (default: off)",
     .doc_def = "off",
     .doc = "a health check for load balancers: a request for PATH (any method, any query) is "
            "answered by wsgate itself, never the app, even while every thread is busy: `200` "
            "while serving, `503` from the moment the process drains (`--drain-delay`, a stop, "
            "a retirement); over HTTP, FastCGI and SCGI ([scale-out](docs/scale-out.md))"},
    /* Limits and timeouts */
    {SECS("read-timeout", GW_OPTF_POSITIVE, read_timeout, "60", S_LIMITS,
          "deadline for a request head, idle limit while\nreading a body (default 60)"),
     .doc_def = "60",
     .doc = "absolute deadline for a request head (slowloris), idle limit while reading a body"},
    {SECS("keep-alive", 0, keep_alive, "15", S_LIMITS,
          "idle limit between requests (default 15; 0 = no\nkeep-alive)"),
     .doc_def = "15",
     .doc = "idle limit between requests on a connection: HTTP keep-alive, FastCGI "
            "`FCGI_KEEP_CONN` (0 disables keep-alive)"},
    {SECS("send-timeout", GW_OPTF_POSITIVE, send_timeout, "60", S_LIMITS,
          "idle limit while sending a response (default 60)"),
     .doc_def = "60", .doc = "idle limit while sending a response"},
    {NUM("send-buffer", "BYTES", GW_OPT_U64, send_buffer, 0, (uint64_t)1 << 40, "1048576", S_LIMITS,
         "response bytes kept in memory for one slow reader;\nmore go to a temp file (default "
         "1048576)"),
     .doc_def = "1048576",
     .doc = "response bytes kept in memory for one slow reader; more go to a temp file ([slow "
            "readers](docs/operations.md#slow-readers))"},
    {NUM("send-memory", "BYTES", GW_OPT_U64, send_memory, 0, (uint64_t)1 << 40, "67108864",
         S_LIMITS, "the same, for all connections of a process\n(default 67108864)"),
     .doc_def = "67108864", .doc = "the same for all connections of a process together"},
    {NUM("send-spill", "BYTES", GW_OPT_U64, send_spill, 0, (uint64_t)1 << 50, "1073741824",
         S_LIMITS,
         "temp file bytes of all connections of a process; past\nit the slowest reader is "
         "dropped (default 1073741824)"),
     .doc_def = "1073741824",
     .doc = "temp-file bytes of all connections of a process; past it the slowest reader is "
            "dropped"},
    {STR("temp-dir", "DIR", temp_dir, NULL, S_LIMITS,
         "where those temp files go (default $TMPDIR or /tmp)"),
     .doc_def = "`$TMPDIR` or `/tmp`", .doc = "where those temp files go"},
    {NUM("max-body", "BYTES", GW_OPT_U64, max_body, 0, (uint64_t)INT64_MAX, "1073741824", S_LIMITS,
         "larger request bodies get 413 (default 1073741824)"),
     .doc_def = "1073741824", .doc = "larger request bodies get `413` before they are read"},
    {NUM("body-buffer", "BYTES", GW_OPT_U64, body_buffer, 0, (uint64_t)1 << 40, "1048576", S_LIMITS,
         "request bodies up to this size (with a length) are\nread before the app runs; larger "
         "ones reach the\napp as they arrive (default 1048576)"),
     .doc_def = "1048576",
     .doc = "request bodies with a length up to this are read before the app runs (in memory, "
            "or past 64 KiB into a temp file once `--body-memory` is used up), so a slow "
            "uploader holds no thread; larger ones reach the app as they arrive ([slow "
            "clients](docs/operations.md#slow-uploads))"},
    {NUM("body-memory", "BYTES", GW_OPT_U64, body_memory, 0, (uint64_t)1 << 40, "67108864",
         S_LIMITS,
         "of those, bytes past 64 KiB per body kept in memory\nfor all connections of a "
         "process; past it, bodies\ngo to temp files (default 67108864)"),
     .doc_def = "67108864",
     .doc = "memory for those bodies, all connections of a process (the part of each past 64 "
            "KiB); a body that does not fit goes to a temp file in `--temp-dir`"},
    {NUM("max-target", "BYTES", GW_OPT_SIZE, max_target, 16, 1024 * 1024, "8190", S_LIMITS,
         "longer request targets get 414 (default 8190)"),
     .doc_def = "8190", .doc = "longer request targets get `414`"},
    {NUM("max-header-size", "BYTES", GW_OPT_SIZE, max_head, 256, 16 * 1024 * 1024, "65536",
         S_LIMITS, "larger header blocks get 431 (default 65536)"),
     .doc_def = "65536", .doc = "larger header blocks get `431`"},
    {NUM("max-headers", "N", GW_OPT_SIZE, max_headers, 1, 10000, "100", S_LIMITS,
         "more header fields get 431 (default 100)"),
     .doc_def = "100", .doc = "more header fields get `431`"},
    /* Logging */
    {STR("access-log", "PATH|-", access_log, NULL, S_LOGGING,
         "access log (default: none; - = stdout)"),
     .doc_def = "none",
     .doc = "one line per request; combined log format followed by the time split `rt= q= gil= "
            "app= send=` (seconds)"},
    {STR("error-log", "PATH|-", error_log, NULL, S_LOGGING, "error log (default: - = stderr)"),
     .doc_def = "`-` (stderr)", .doc = "errors, app tracebacks and `wsgi.errors`"},
    {CHOICE("access-log-format", "FMT", access_format, format_choices, "combined", S_LOGGING,
            "combined (default) or json"),
     .doc_def = "combined",
     .doc = "`combined` or `json` (one JSON object per line); fields in "
            "[docs/operations.md](docs/operations.md)"},
    {CHOICE("log-level", "LEVEL", log_level, level_choices, "info", S_LOGGING,
            "debug, info, warning, error, critical (default info)"),
     .doc_def = "info", .doc = "debug, info, warning, error, critical"},
    {FLAG("fastcgi-stderr", fastcgi_stderr, S_LOGGING,
          "also send the wsgi.errors lines of FastCGI requests to\nthe front server as "
          "FCGI_STDERR (default: off)"),
     .doc_def = "off",
     .doc = "the `wsgi.errors` lines of a FastCGI request also go to the front server, as "
            "`FCGI_STDERR` records of that request, which it logs (`docs/deploy-*.md`)"},
    {STR("stats", "ADDR", stats_addr, NULL, S_LOGGING,
         "serve metrics on ADDR: Prometheus text at /metrics,\nJSON at /stats (default: off)"),
     .doc_def = "off",
     .doc = "serve metrics on ADDR (`HOST:PORT` or `unix:PATH`): Prometheus text at "
            "`/metrics`, JSON at `/stats`; answers even while every worker thread is busy"},
    /* Privileges */
    {STR("user", "USER", user, NULL, S_PRIVILEGES,
         "after opening the listeners and logs, run as USER\n(a name or a number) with its "
         "groups"),
     .doc = "started as root: open the listeners, logs, metrics socket, pid file and TLS key, "
            "then run as USER (a name or an id, with its groups) before the app is imported "
            "([privileges](docs/operations.md#privileges))"},
    {STR("group", "GROUP", group, NULL, S_PRIVILEGES,
         "... and as GROUP (default: USER's primary group)"),
     .doc_def = "USER's primary group", .doc = "... and as GROUP"},
    {FLAG("allow-root", allow_root, S_PRIVILEGES,
          "run the app as root: started as root without --user,\nor with a --user/--group "
          "that is root (refused otherwise)"),
     .doc_def = "off",
     .doc = "run the app as root: started as root without `--user`, or with a "
            "`--user`/`--group` that is root (both refused otherwise)"},
    {.name = "umask",
     .metavar = "OCTAL",
     .type = GW_OPT_OCTAL,
     .offset = AT(umask),
     .section = S_PRIVILEGES,
     .help = "set the umask at start-up (default: inherited)",
     .doc_def = "inherited",
     .doc = "the umask, set at start-up (log files, unix sockets, the app's files)"},
    /* Configuration */
    {.name = "config",
     .short_name = 'c',
     .metavar = "PATH",
     .type = GW_OPT_ACTION,
     .flags = GW_OPTF_NO_FILE,
     .section = S_CONFIG,
     .help = "read settings from the INI file PATH (keys: the long\noption names, in a "
             "[wsgate] section)",
     .doc = "read settings from an INI file: `key = value` lines in a `[wsgate]` section, the "
            "keys being the long option names (`app = MODULE[:CALLABLE]` for the argument); "
            "see [Configuration](docs/operations.md#configuration)"},
    {.name = "print-config",
     .type = GW_OPT_ACTION,
     .flags = GW_OPTF_NO_FILE,
     .section = S_CONFIG,
     .help = "print the settings in effect, and where each came\nfrom, as a config file; "
             "then exit",
     .doc = "print the settings in effect, grouped by where each came from, as a config file, "
            "and exit"},
    /* The rest */
    {.name = "version",
     .type = GW_OPT_ACTION,
     .flags = GW_OPTF_NO_FILE,
     .section = S_OTHER,
     .help = "print the version and exit",
     .doc = "the version, the embedded Python (version, library file, the build's "
            "interpreter), libev's and OpenSSL's versions and the protocols compiled in: put "
            "it in bug reports"},
    {.name = "help",
     .short_name = 'h',
     .type = GW_OPT_ACTION,
     .flags = GW_OPTF_NO_FILE,
     .section = S_OTHER,
     .help = "print this help and exit",
     .doc = "the options and their defaults; `man wsgate` (after `make install`) adds the "
            "signals, exit codes and files"},
};
const size_t gw_noptions = sizeof(gw_options) / sizeof(gw_options[0]);

const struct gw_option *gw_option_find(const char *name, size_t n)
{
    for (size_t i = 0; i < gw_noptions; i++) {
        const struct gw_option *o = &gw_options[i];
        if ((strlen(o->name) == n && memcmp(o->name, name, n) == 0) ||
            (o->alias != NULL && strlen(o->alias) == n && memcmp(o->alias, name, n) == 0))
            return o;
    }
    return NULL;
}

const struct gw_option *gw_option_negated(const char *name, size_t n)
{
    for (size_t i = 0; i < gw_noptions; i++) {
        const char *neg = gw_options[i].negation;
        if (neg != NULL && strlen(neg) == n && memcmp(neg, name, n) == 0)
            return &gw_options[i];
    }
    return NULL;
}

const struct gw_option *gw_option_short(int letter)
{
    for (size_t i = 0; i < gw_noptions; i++)
        if (gw_options[i].short_name != 0 && gw_options[i].short_name == letter)
            return &gw_options[i];
    return NULL;
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

const char *gw_option_closest(const char *name, size_t n, int negations)
{
    size_t limit = n / 3 > 1 ? n / 3 : 1, best_d = SIZE_MAX;
    const char *best = NULL;

    for (size_t i = 0; i < 3 * gw_noptions; i++) {
        const struct gw_option *o = &gw_options[i / 3];
        const char *cand = i % 3 == 0 ? o->name : i % 3 == 1 ? o->alias : o->negation;
        if (cand == NULL || (i % 3 == 2 && !negations))
            continue;
        size_t d = edit_distance(name, n, cand);
        int abbrev = n >= 2 && strncmp(cand, name, n) == 0;
        if (!abbrev && d > limit)
            continue;
        if (!abbrev)
            d += n; /* an abbreviation first: "--he" is --help, not --h2 */
        if (d < best_d) {
            best = cand;
            best_d = d;
        }
    }
    return best;
}

/* ---- values ------------------------------------------------------------------------ */

/* The option as the error line names it: "--threads" on the command line, "threads"
 * in a file or WSGATE_ARGS' own words. */
static int bad(const struct gw_option *o, const char *where, const char *val, const char *why)
{
    if (where == NULL)
        fprintf(stderr, "wsgate: invalid value '%s' for --%s: %s\n", val, o->name, why);
    else
        fprintf(stderr, "wsgate: %s: invalid value '%s' for %s: %s\n", where, val, o->name, why);
    return -1;
}

static int out_of_range(const struct gw_option *o, const char *where, const char *val)
{
    char why[96];
    if (o->type == GW_OPT_INT)
        snprintf(why, sizeof(why), "must be %ld..%ld", (long)o->lo, (long)o->hi);
    else
        snprintf(why, sizeof(why), "must be %llu..%llu", (unsigned long long)o->lo,
                 (unsigned long long)o->hi);
    return bad(o, where, val, why);
}

/* The value of the choice named val[0..n) of o, or -1 when there is none. */
static int choice_value(const struct gw_option *o, const char *val, size_t n)
{
    for (const struct gw_choice *c = o->choices; c->name != NULL; c++)
        if (strlen(c->name) == n && memcmp(c->name, val, n) == 0)
            return c->value;
    return -1;
}

/* "use a, b or c" */
static void choice_names(const struct gw_option *o, char *why, size_t cap)
{
    size_t n = 0, len;
    while (o->choices[n].name != NULL)
        n++;
    len = (size_t)snprintf(why, cap, "use");
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(why + len, cap - len, "%s %s",
                                i == 0       ? ""
                                : i + 1 == n ? " or"
                                             : ",",
                                o->choices[i].name);
}

static int set_choice(struct gw_config *cfg, const struct gw_option *o, const char *val,
                      const char *where)
{
    char why[128];
    int v = choice_value(o, val, strlen(val));

    if (v >= 0) { /* every table's values are >= 0 */
        *(int *)((char *)cfg + o->offset) = v;
        return 0;
    }
    choice_names(o, why, sizeof(why));
    return bad(o, where, val, why);
}

/* ADDR=MODE, split at the last '=' (MODE never holds one; a unix:PATH may). */
static int add_proxy_at(struct gw_config *cfg, const struct gw_option *o, const char *val,
                        const char *where)
{
    char why[160];
    const char *eq = strrchr(val, '=');
    int mode = eq != NULL ? choice_value(o, eq + 1, strlen(eq + 1)) : -1;

    if (eq == NULL || eq == val) {
        snprintf(why, sizeof(why),
                 "expected ADDR=MODE, the ADDR of an --http or --https "
                 "listener as given there");
        return bad(o, where, val, why);
    }
    if (mode < 0) {
        snprintf(why, sizeof(why), "MODE after the last '=': ");
        choice_names(o, why + strlen(why), sizeof(why) - strlen(why));
        return bad(o, where, val, why);
    }
    if (cfg->nproxy_at == GW_MAX_LISTENERS)
        return bad(o, where, val, "more of them than listeners");
    cfg->proxy_at[cfg->nproxy_at].addr = val;
    cfg->proxy_at[cfg->nproxy_at].addr_len = (size_t)(eq - val);
    cfg->proxy_at[cfg->nproxy_at].mode = mode;
    cfg->nproxy_at++;
    return 0;
}

static int set_flag(struct gw_config *cfg, const struct gw_option *o, const char *val,
                    const char *where)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                                "off"};
    for (size_t i = 0; i < 4; i++) {
        if (val == NULL || strcmp(val, yes[i]) == 0) {
            *(int *)((char *)cfg + o->offset) = 1;
            return 0;
        }
        if (strcmp(val, no[i]) == 0) {
            *(int *)((char *)cfg + o->offset) = 0;
            return 0;
        }
    }
    return bad(o, where, val, "use true or false");
}

static int set_number(struct gw_config *cfg, const struct gw_option *o, const char *val,
                      const char *where)
{
    char *p = (char *)cfg + o->offset, *end;
    uint64_t u;

    if (o->type == GW_OPT_INT) {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno != 0 || end == val || *end != '\0')
            return bad(o, where, val, "not an integer");
        if (v < (long)o->lo || v > (long)o->hi)
            return out_of_range(o, where, val);
        *(int *)p = (int)v;
        return 0;
    }
    if (gw_parse_u64(val, strlen(val), UINT64_MAX, &u) != 0)
        return bad(o, where, val, "not a non-negative integer");
    if (u < o->lo || u > o->hi)
        return out_of_range(o, where, val);
    if (o->type == GW_OPT_SIZE)
        *(size_t *)p = (size_t)u;
    else
        *(uint64_t *)p = u;
    return 0;
}

static int set_seconds(struct gw_config *cfg, const struct gw_option *o, const char *val,
                       const char *where)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno != 0 || end == val || *end != '\0' || !(v >= 0) || v > 86400.0 * 365)
        return bad(o, where, val, "not a number of seconds (0 .. 31536000)");
    if ((o->flags & GW_OPTF_POSITIVE) && v <= 0)
        return bad(o, where, val, "must be greater than 0");
    *(double *)((char *)cfg + o->offset) = v;
    return 0;
}

static int set_octal(struct gw_config *cfg, const struct gw_option *o, const char *val,
                     const char *where)
{
    char *end;
    errno = 0;
    long m = strtol(val, &end, 8);
    if (errno != 0 || end == val || *end != '\0' || m < 0 || m > 0777)
        return bad(o, where, val, "not an octal mode (e.g. 660)");
    *(int *)((char *)cfg + o->offset) = (int)m;
    return 0;
}

static int add_listener(struct gw_config *cfg, const struct gw_option *o, const char *val,
                        const char *where)
{
    if (cfg->nlisten == GW_MAX_LISTENERS) {
        if (where != NULL)
            fprintf(stderr, "wsgate: %s: too many listeners (at most %d)\n", where,
                    GW_MAX_LISTENERS);
        else
            fprintf(stderr, "wsgate: too many listeners (at most %d)\n", GW_MAX_LISTENERS);
        return -1;
    }
    cfg->listen[cfg->nlisten].proto = o->proto;
    cfg->listen[cfg->nlisten].addr = val;
    cfg->nlisten++;
    return 0;
}

static int add_path(struct gw_config *cfg, const struct gw_option *o, const char *val,
                    const char *where)
{
    if (cfg->npythonpath == GW_MAX_PYTHONPATH) {
        if (where != NULL)
            fprintf(stderr, "wsgate: %s: too many %s (at most %d)\n", where, o->name,
                    GW_MAX_PYTHONPATH);
        else
            fprintf(stderr, "wsgate: too many --%s (at most %d)\n", o->name, GW_MAX_PYTHONPATH);
        return -1;
    }
    cfg->pythonpath[cfg->npythonpath++] = val;
    return 0;
}

int gw_option_set(struct gw_config *cfg, const struct gw_option *o, const char *value,
                  const char *where)
{
    switch (o->type) {
    case GW_OPT_FLAG:
        return set_flag(cfg, o, value, where);
    case GW_OPT_STRING:
        if (o->check != NULL && o->check(o->name, value, where) != 0)
            return -1;
        *(const char **)((char *)cfg + o->offset) = value;
        return 0;
    case GW_OPT_INT:
    case GW_OPT_U64:
    case GW_OPT_SIZE:
        return set_number(cfg, o, value, where);
    case GW_OPT_SECONDS:
        return set_seconds(cfg, o, value, where);
    case GW_OPT_CHOICE:
        return set_choice(cfg, o, value, where);
    case GW_OPT_OCTAL:
        return set_octal(cfg, o, value, where);
    case GW_OPT_LISTEN:
        return add_listener(cfg, o, value, where);
    case GW_OPT_PROXY_AT:
        return add_proxy_at(cfg, o, value, where);
    case GW_OPT_PATHS:
        return add_path(cfg, o, value, where);
    case GW_OPT_ACTION:
        break;
    }
    return -1;
}

void gw_option_clear(struct gw_config *cfg, const struct gw_option *o)
{
    size_t kept = 0;
    if (o->type == GW_OPT_PATHS) {
        cfg->npythonpath = 0;
        return;
    }
    if (o->type == GW_OPT_PROXY_AT) {
        cfg->nproxy_at = 0;
        return;
    }
    if (o->type != GW_OPT_LISTEN)
        return;
    for (size_t i = 0; i < cfg->nlisten; i++)
        if (strcmp(cfg->listen[i].proto, o->proto) != 0)
            cfg->listen[kept++] = cfg->listen[i];
    cfg->nlisten = kept;
}

void gw_options_defaults(struct gw_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->socket_mode = -1;
    cfg->umask = -1;
    for (size_t i = 0; i < gw_noptions; i++)
        if (gw_options[i].def != NULL &&
            gw_option_set(cfg, &gw_options[i], gw_options[i].def, "the default") != 0)
            abort(); /* a bad default in the table: caught by every test run */
}

/* ---- checks -------------------------------------------------------------------------- */

static int check_cidrs(const char *shown, const char *v, const char *where)
{
    struct gw_cidrs l;
    char err[128];
    if (gw_cidrs_parse(&l, v, err, sizeof(err)) == 0)
        return 0;
    return bad(gw_option_find(shown, strlen(shown)), where, v, err);
}

static int check_script_name(const char *shown, const char *v, const char *where)
{
    const struct gw_option *o = gw_option_find(shown, strlen(shown));
    size_t n = strlen(v);
    if (n == 0)
        return 0;
    if (strcmp(v, "/") == 0)
        return bad(o, where, v, "leave the option out to mount at the root");
    if (v[0] != '/' || v[n - 1] == '/')
        return bad(o, where, v, "must start with '/' and not end with '/'");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x21 || c == 0x7f || c == '?' || c == '#' || c == '%')
            return bad(o, where, v, "characters must be plain path characters");
    }
    return 0;
}

/* An absolute path without query, fragment, escapes or spaces: compared as it is with
 * the request's path. */
static int check_health_path(const char *shown, const char *v, const char *where)
{
    const struct gw_option *o = gw_option_find(shown, strlen(shown));
    if (v[0] != '/')
        return bad(o, where, v, "must start with '/'");
    for (size_t i = 0; v[i] != '\0'; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x21 || c == 0x7f || c == '?' || c == '#' || c == '%')
            return bad(o, where, v, "characters must be plain path characters");
    }
    return 0;
}

/* ---- --help ---------------------------------------------------------------------------- */

enum { HELP_COLUMN = 27 };

/* --help and README name a flag's --no-NAME when it is on by default: that is the
 * form its readers need. */
static int shows_negation(const struct gw_option *o)
{
    return o->negation != NULL && o->def != NULL && strcmp(o->def, "true") == 0;
}

/* "--name M, --alias M, -x M" (M: the metavar, when the option takes a value; then
 * --no-NAME for a flag that is on by default). */
static void option_names(const struct gw_option *o, char *buf, size_t len)
{
    const char *sep = o->metavar != NULL ? " " : "", *m = o->metavar != NULL ? o->metavar : "";
    size_t n = (size_t)snprintf(buf, len, "--%s%s%s", o->name, sep, m);
    if (o->alias != NULL && n < len)
        n += (size_t)snprintf(buf + n, len - n, ", --%s%s%s", o->alias, sep, m);
    if (o->short_name != 0 && n < len)
        n += (size_t)snprintf(buf + n, len - n, ", -%c%s%s", o->short_name, sep, m);
    if (shows_negation(o) && n < len)
        snprintf(buf + n, len - n, ", --%s", o->negation);
}

/* text's lines, the first after `first` characters already written, the others
 * indented to `indent`. */
static void print_lines(FILE *f, const char *text, int indent)
{
    for (const char *p = text;;) {
        const char *nl = strchr(p, '\n');
        int n = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        fprintf(f, "%.*s\n", n, p);
        if (nl == NULL)
            break;
        p = nl + 1;
        fprintf(f, "%*s", indent, "");
    }
}

void gw_options_usage(FILE *f)
{
    char names[128];

    fputs("usage: wsgate [options] MODULE[:CALLABLE]\n"
          "\n"
          "Serve the WSGI application CALLABLE (default: application) of MODULE.\n",
          f);
    for (size_t s = 0; s < gw_noption_sections; s++) {
        const struct gw_option_section *sec = &gw_option_sections[s];
        fputs("\n", f);
        if (sec->title != NULL)
            fprintf(f, "%s\n", sec->title);
        if (sec->note != NULL) {
            fputs("  ", f);
            print_lines(f, sec->note, 2);
        }
        for (size_t i = 0; i < gw_noptions; i++) {
            const struct gw_option *o = &gw_options[i];
            if (o->section != (int)s || (o->flags & GW_OPTF_NO_CLI))
                continue;
            option_names(o, names, sizeof(names));
            int w = fprintf(f, "  %s", names);
            if (w > HELP_COLUMN - 2)
                fprintf(f, "\n%*s", HELP_COLUMN, "");
            else
                fprintf(f, "%*s", HELP_COLUMN - w, "");
            print_lines(f, o->help, HELP_COLUMN);
        }
    }
}

/* ---- README ---------------------------------------------------------------------------- */

/* s with every '|' escaped for a markdown table cell. */
static void put_cell(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* "`--name M`, `--alias M`, `-x M`", then "`--no-NAME`" as option_names */
static void markdown_names(FILE *f, const struct gw_option *o)
{
    const char *sep = o->metavar != NULL ? " " : "", *m = o->metavar != NULL ? o->metavar : "";
    fprintf(f, "`--%s%s", o->name, sep);
    put_cell(f, m);
    if (o->alias != NULL) {
        fprintf(f, "`, `--%s%s", o->alias, sep);
        put_cell(f, m);
    }
    if (o->short_name != 0) {
        fprintf(f, "`, `-%c%s", o->short_name, sep);
        put_cell(f, m);
    }
    if (shows_negation(o))
        fprintf(f, "`, `--%s", o->negation);
    fputc('`', f);
}

void gw_options_markdown(FILE *f)
{
    fputs("| option | default | meaning |\n|---|---|---|\n", f);
    for (size_t s = 0; s < gw_noption_sections; s++)
        for (size_t i = 0; i < gw_noptions; i++) {
            const struct gw_option *o = &gw_options[i];
            if (o->section != (int)s || (o->flags & GW_OPTF_NO_CLI))
                continue;
            fputs("| ", f);
            markdown_names(f, o);
            if (o->doc_def != NULL)
                fprintf(f, " | %s", o->doc_def);
            else
                fputs(" |", f);
            fprintf(f, " | %s |\n", o->doc != NULL ? o->doc : "");
        }
}
