/*
 * The settings: every option of gateway/options.c's table (README and --help list
 * them) with its default, from the --config file, WSGATE_ARGS and the command line,
 * read once at start-up into one struct gw_config that is read-only afterwards (shared
 * by all threads without locks).
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/cidr.h"

#define GW_MAX_LISTENERS  32
#define GW_MAX_PYTHONPATH 32

#define GW_DEF_ADDRESS   "127.0.0.1:8000"
#define GW_MAX_PROCESSES 256

enum gw_access_format { GW_ACCESS_COMBINED, GW_ACCESS_JSON };

struct gw_listen_spec {
    const char *proto; /* "http", "https", "fastcgi", "scgi" or "uwsgi" */
    const char *addr;  /* as given: HOST:PORT | :PORT | [V6]:PORT | unix:PATH | fd:N */
};

/* --proxy-protocol-at ADDR=MODE: one listener's own PROXY protocol setting. */
struct gw_proxy_at {
    const char *addr; /* the listener's ADDR as given (addr_len bytes, not NUL-terminated) */
    size_t addr_len;
    int mode; /* as proxy_protocol below */
};

struct gw_config {
    struct gw_listen_spec listen[GW_MAX_LISTENERS];
    size_t nlisten;
    int default_listen; /* listen[0] is GW_DEF_ADDRESS because no option was given */
    const char *app_spec;
    const char *pythonpath[GW_MAX_PYTHONPATH];
    size_t npythonpath;
    const char *chdir;
    const char *venv;
    const char *certfile;    /* --certfile: the TLS certificate chain (PEM), NULL = none */
    const char *keyfile;     /* --keyfile: its key (PEM), NULL = in certfile */
    const char *ca_certs;    /* --ca-certs: the CAs of client certificates, NULL = none */
    int verify_client;       /* --verify-client: an enum gw_tls_verify (gateway/tls.h) */
    int tls_min_version;     /* --tls-min-version: 12 or 13, 0 = not given (1.2) */
    const char *tls_ciphers; /* --tls-ciphers: TLS 1.2 ciphers, NULL = Mozilla intermediate */
    const char *tls_suites;  /* --tls-ciphersuites: TLS 1.3 suites, NULL = OpenSSL's three */
    const char *script_name; /* "" when not mounted */
    int threads;
    int processes;           /* > 1: a master supervises that many workers */
    int lazy;                /* each worker process imports the app itself */
    double graceful_timeout; /* seconds a graceful stop or reload waits for requests */
    double drain_delay;      /* seconds a stop signal keeps serving, health 503, first */
    const char *health_path; /* --health-path: answered by the loop, NULL = none */
    uint64_t max_requests;   /* a worker process retires after about this many; 0 = never */
    uint64_t max_requests_jitter;
    uint64_t max_rss;     /* MiB: a worker process over it retires; 0 = never */
    double timeout;       /* seconds a request may spend in the app; 0 = unlimited */
    double timeout_grace; /* after the timeout's exception, before the thread counts as stuck */
    double slow_log;      /* a request in the app this long has its Python stack logged; 0 = off */
    int reload;           /* --reload: reload gracefully when the app's sources change */
    const char *config_file;  /* the --config file read, NULL = none */
    const char *stats_addr;   /* --stats ADDR, NULL = none */
    const char *pid_file;     /* --pid-file PATH, NULL = none */
    int queue;                /* requests waiting for a worker; more -> 503 */
    int backlog;              /* listen(2) backlog */
    int socket_mode;          /* -1: leave the umask's mode */
    const char *socket_owner; /* --socket-owner USER[:GROUP] of unix sockets, NULL = as made */
    const char *user;         /* --user: run the app as this user (name or id), NULL = as started */
    const char *group;        /* --group: ... and group; NULL = the user's (or as started) */
    int allow_root;           /* --allow-root: --user/--group may leave the app running as root */
    int umask;                /* --umask: set at start-up; -1 = inherited */
    double read_timeout;      /* seconds */
    double keep_alive;
    double send_timeout;
    uint64_t send_buffer; /* response bytes a slow reader's connection keeps in memory */
    uint64_t send_memory; /* all connections' queued response bytes in memory */
    uint64_t send_spill;  /* all temp files of queued response bytes */
    const char *temp_dir; /* where temp files go; NULL: $TMPDIR or /tmp */
    uint64_t max_body;
    uint64_t body_buffer; /* request bodies up to this are collected before the app runs */
    uint64_t body_memory; /* all connections' collected bodies in memory (past 64 KiB each) */
    size_t max_target;
    size_t max_head;
    size_t max_headers;
    const char *access_log; /* NULL = none */
    enum gw_access_format access_format;
    const char *error_log; /* NULL or "-" = stderr */
    int log_level;
    int fastcgi_stderr; /* wsgi.errors lines also go to the front server as FCGI_STDERR */
    int h2;             /* HTTP/2 by ALPN on the https listeners (on; --no-h2) */
    int h2c;            /* HTTP/2 (h2c) on the http listeners (on; --no-h2c) */
    int proxy_protocol; /* --proxy-protocol: 0 off, else protocols/proxy_parse.h's
                           GW_PROXY_V1 | GW_PROXY_V2 | GW_PROXY_OPTIONAL bits */
    struct gw_proxy_at proxy_at[GW_MAX_LISTENERS]; /* --proxy-protocol-at, in order */
    size_t nproxy_at;
    const char *proxy_allow_from;    /* --proxy-allow-from, as given */
    struct gw_cidrs proxy_allow;     /* ... parsed by gw_config_parse */
    const char *forwarded_allow_ips; /* --forwarded-allow-ips, as given */
    struct gw_cidrs forwarded_allow; /* ... parsed by gw_config_parse */
    int forwarded_for;               /* --forwarded-for */
    int forwarded_host;              /* --forwarded-host */
    int check_only;
    int version_only; /* --version: the caller prints the report (process/version.h) */
};

/*
 * Fills *cfg: the defaults, then the --config file, then WSGATE_ARGS, then argv, each
 * overriding the one before. Returns 0 to run, 1 when --help or --print-config was
 * printed or --version given (version_only set: the caller prints the report, since it
 * names libraries gateway/ does not see; exit 0), -1 on an error with one line
 * already printed to stderr (exit 2). Once per process.
 */
int gw_config_parse(struct gw_config *cfg, int argc, char **argv);

/* The --proxy-protocol-at entry (the last one) whose ADDR is spec exactly, or NULL. */
const struct gw_proxy_at *gw_config_proxy_at(const struct gw_config *cfg, const char *spec);

/* The PROXY protocol setting of the --http/--https listener spec (its ADDR as given,
 * or fd:N): its --proxy-protocol-at entry's, else --proxy-protocol's. */
int gw_config_proxy_protocol(const struct gw_config *cfg, const char *spec);

#endif
