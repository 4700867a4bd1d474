/*
 * TLS (OpenSSL 3) as a connection transport (struct gw_transport, gateway/conn.h): a
 * server context made once at start-up from a certificate chain and its key, and per
 * connection a transport over the non-blocking socket whose handshake the loop runs.
 * This header is all the rest of the tree sees: OpenSSL's own headers are included by
 * gateway/tls.c alone (make check-includes).
 *
 * The context's settings: TLS 1.2 and 1.3 only; Mozilla's "intermediate" ciphers
 * (v5.7) with the client's preference; groups X25519, P-256, P-384; no compression;
 * no renegotiation; ALPN "http/1.1" (and "h2" first unless --no-h2; a client that offers ALPN
 * without it is refused, RFC 7301); session tickets on, with keys shared by every process of the
 * server and rotated (gateway/tls_tickets.h); no server-side session cache. Client certificates
 * (mutual TLS) as struct gw_tls_options asks.
 *
 * Threads: the context is read-only once made (OpenSSL locks what it changes inside).
 * A connection's transport is used by its owner, and by the watchdog for a 504 while
 * the owner reads: a lock of the connection's own makes each call whole.
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stddef.h>

struct gw_conn;
struct gw_tls_ctx;

/* The most CGI variables of a TLS connection (gw_transport.vars), with mod_ssl's
 * names and values: HTTPS, SSL_PROTOCOL, SSL_CIPHER, SSL_SESSION_RESUMED,
 * SSL_CLIENT_VERIFY (SUCCESS, NONE or FAILED:reason), and when the client presented a
 * certificate SSL_CLIENT_S_DN, SSL_CLIENT_I_DN (RFC 2253, as mod_ssl prints them) and
 * SSL_CLIENT_CERT (PEM). This is all the front-ends and python/ learn of TLS. */
#define GW_TLS_NVARS 8

/* --verify-client: whether a client certificate is asked for (mutual TLS). */
enum gw_tls_verify {
    GW_TLS_VERIFY_NONE = 0, /* never asked for */
    GW_TLS_VERIFY_OPTIONAL, /* asked for; the handshake goes on without one, or with one
                               that fails verification: the app reads SSL_CLIENT_VERIFY */
    GW_TLS_VERIFY_REQUIRE,  /* the handshake fails without a certificate that the CAs of
                               ca_certs verify */
};

/* How the context treats clients, beyond its certificate (zeroed: the defaults). */
struct gw_tls_options {
    const char *ca_certs;      /* PEM: the CAs that sign client certificates (and whose
                                  names the server sends); needed unless verify is NONE */
    enum gw_tls_verify verify; /* default NONE */
    int min_version;           /* 13: TLS 1.3 only; 12 or 0: TLS 1.2 and 1.3 */
    const char *ciphers;       /* the TLS 1.2 cipher list (OpenSSL's syntax), NULL:
                                  Mozilla's intermediate */
    const char *suites;        /* the TLS 1.3 suites (colon-separated), NULL: all three */
    int h2;                    /* 1: ALPN offers h2 before http/1.1 (cfg->h2, on unless --no-h2) */
};

/*
 * Main thread, at start-up: a server context from certfile (PEM: the certificate and
 * its chain, leaf first) and keyfile (PEM: a PKCS#1, PKCS#8 or EC private key, not
 * encrypted; NULL: the key is in certfile), with the options of opt (NULL: the
 * defaults; the strings are read here only). Returns NULL with one line in err when a
 * file cannot be read, holds no certificate or key, the key does not match the
 * certificate, ca_certs holds no CA certificate, verify is not NONE without ca_certs
 * (or ca_certs given with NONE), ciphers names no cipher OpenSSL has, or suites is
 * empty or names a suite OpenSSL does not have.
 */
struct gw_tls_ctx *gw_tls_ctx_new(const char *certfile, const char *keyfile,
                                  const struct gw_tls_options *opt, char *err, size_t errlen);

/* Frees t (NULL: nothing). No connection may use it any more. */
void gw_tls_ctx_free(struct gw_tls_ctx *t);

/*
 * Loop, right after accept: c (its fd set) becomes a TLS connection of t, the server
 * side: c->tr is the TLS transport, its state in c->tr_state. The loop then runs
 * c->tr->handshake until it answers 0; c->tr->close frees the state. 0 or GW_ENOMEM.
 */
int gw_tls_conn_open(struct gw_conn *c, struct gw_tls_ctx *t);

/* The connection's owner, after the handshake: 1 when c is a TLS connection whose
 * client chose h2 by ALPN (only offered with gw_tls_options.h2), else 0. */
int gw_tls_alpn_h2(struct gw_conn *c);

/* OpenSSL's version as the running library says it ("OpenSSL 3.0.19 27 Jan 2026"),
 * for wsgate --version. A static string; any thread, any time. */
const char *gw_tls_library_version(void);

#endif
