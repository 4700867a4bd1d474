/*
 * Unit tests of gateway/tls.c, the TLS transport, on a non-blocking socketpair whose
 * other end is an OpenSSL client driven step by step by the test: the handshake run
 * as the loop runs it (and the connection's CGI variables after it), writev's rule
 * that bytes count as written only once their records have left (checked at every
 * step of a large write through tiny socket buffers, with the caller carrying on the
 * same stream with pieces of other sizes, as the output queue does), reads with
 * pending() telling that OpenSSL holds more, the end of the stream, shut_write's
 * close_notify, sendfile's GW_ENOTSUP, bytes that are not TLS, a connection that
 * never sent a byte, and the context's refusals at start-up. Then the shared session
 * ticket keys (gateway/tls_tickets.h) on a clock the test passes in: rotation,
 * expiry, and a forked process seeing (and rotating) the same keys.
 *
 * The certificate is made here, in memory, and written to temp files.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/tls.h"
#include "gateway/tls_tickets.h"
#include "tests/unit/support.h"

static char cert_path[64], key_path[64], other_key_path[64];

static void write_pem(char *path, int (*write)(FILE *, void *), void *obj)
{
    strcpy(path, "/tmp/wsgate-tls-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    cr_assert(f != NULL);
    cr_assert(write(f, obj) == 1);
    fclose(f);
}

static int write_cert(FILE *f, void *x)
{
    return PEM_write_X509(f, x);
}

static int write_key(FILE *f, void *k)
{
    return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

/* A self-signed P-256 certificate for localhost and its key, and another key. */
static void make_certificate(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    cr_assert(key != NULL && other != NULL && x != NULL);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
    write_pem(cert_path, write_cert, x);
    write_pem(key_path, write_key, key);
    write_pem(other_key_path, write_key, other);
    X509_free(x);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

struct pair {
    struct gw_conn c; /* the server side: the transport under test */
    struct gw_config cfg;
    struct gw_tls_ctx *ctx;
    SSL_CTX *cctx;
    SSL *cl; /* the client, on the other end */
    int peer;
};

static void set_buffers(int fd, int bytes)
{
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)), 0);
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)), 0);
}

/* Server and client on a non-blocking socketpair; buffers > 0: both sockets' buffer
 * sizes. Nothing is exchanged yet. */
static void pair_open(struct pair *p, int buffers)
{
    int sv[2];
    char err[256];
    memset(p, 0, sizeof(*p));
    make_certificate();
    p->ctx = gw_tls_ctx_new(cert_path, key_path, NULL, err, sizeof(err));
    cr_assert(p->ctx != NULL, "%s", err);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    if (buffers > 0) {
        set_buffers(sv[0], buffers);
        set_buffers(sv[1], buffers);
    }
    p->c.fd = sv[0];
    p->peer = sv[1];
    p->c.cfg = &p->cfg;
    p->c.tr = &gw_plain_transport;
    p->cfg.read_timeout = p->cfg.send_timeout = 5;
    cr_assert_eq(gw_tls_conn_open(&p->c, p->ctx), 0);
    p->cctx = SSL_CTX_new(TLS_client_method());
    p->cl = SSL_new(p->cctx);
    cr_assert(p->cl != NULL);
    SSL_set_fd(p->cl, p->peer);
    SSL_set_connect_state(p->cl);
}

static void pair_close(struct pair *p)
{
    p->c.tr->close(&p->c);
    cr_assert(p->c.tr_state == NULL);
    close(p->c.fd);
    SSL_free(p->cl);
    SSL_CTX_free(p->cctx);
    close(p->peer);
    gw_tls_ctx_free(p->ctx);
    unlink(cert_path);
    unlink(key_path);
    unlink(other_key_path);
}

/* Runs both handshakes, a step at a time, as the loop and a client would. */
static void handshake(struct pair *p)
{
    int server = GW_EAGAIN, client = 0;
    for (int i = 0; i < 1000 && (server != 0 || client != 1); i++) {
        if (server != 0) {
            server = p->c.tr->handshake(&p->c);
            cr_assert(server == 0 || server == GW_EAGAIN, "server handshake: %d", server);
            if (server == GW_EAGAIN)
                cr_assert(p->c.rd_wait == GW_WAIT_READ || p->c.rd_wait == GW_WAIT_WRITE);
        }
        if (client != 1) {
            client = SSL_do_handshake(p->cl);
            int e = SSL_get_error(p->cl, client);
            cr_assert(client == 1 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE,
                      "client handshake: %d", e);
        }
    }
    cr_assert(server == 0 && client == 1, "the handshake did not finish");
}

/* Everything the client can read now, appended to got. Returns the bytes read, or -1
 * at the end of the stream. */
static long client_drain(struct pair *p, struct sb *got)
{
    char buf[16384];
    long total = 0;
    for (;;) {
        size_t n = 0;
        if (SSL_read_ex(p->cl, buf, sizeof(buf), &n)) {
            sb_add(got, buf, n);
            total += (long)n;
            continue;
        }
        int e = SSL_get_error(p->cl, 0);
        ERR_clear_error();
        if (e == SSL_ERROR_ZERO_RETURN)
            return -1;
        cr_assert_eq(e, SSL_ERROR_WANT_READ, "client read: %d", e);
        return total;
    }
}

Test(tls, handshake_and_connection_variables)
{
    struct pair p;
    size_t n = 7;
    pair_open(&p, 0);
    cr_assert(p.c.tr->secure);
    p.c.tr->vars(&p.c, &n);
    cr_assert_eq(n, 0, "no variables before the handshake");
    handshake(&p);
    const struct gw_field *v = p.c.tr->vars(&p.c, &n);
    cr_assert_eq(n, 5, "no client certificate: no SSL_CLIENT_S_DN...");
    const char *want[][2] = {{"HTTPS", "on"},
                             {"SSL_PROTOCOL", "TLSv1.3"},
                             {"SSL_CIPHER", SSL_get_cipher_name(p.cl)},
                             {"SSL_SESSION_RESUMED", "Initial"},
                             {"SSL_CLIENT_VERIFY", "NONE"}};
    for (size_t i = 0; i < n; i++) {
        cr_assert(gw_slice_eq(v[i].name, want[i][0]), "name %zu", i);
        cr_assert(gw_slice_eq(v[i].value, want[i][1]), "%s is %.*s", want[i][0],
                  (int)v[i].value.len, v[i].value.ptr);
    }
    pair_close(&p);
}

/* The pattern byte at stream offset i. */
static char pattern(size_t i)
{
    return (char)('a' + (i * 7 + i / 5000) % 26);
}

/*
 * 1 MiB through 4 KiB socket buffers. The caller carries on from where it stopped,
 * offering each time the next bytes cut differently (a few small pieces, a large one,
 * and sometimes fewer bytes than before, as a file piece read back would be). Every
 * count reported must already be readable by the client; GW_EAGAIN asks to wait for
 * writability; the client gets the stream exactly.
 */
Test(tls, writev_counts_bytes_only_once_they_have_left)
{
    struct pair p;
    size_t total = 1 << 20, pos = 0;
    char *data = malloc(total);
    struct sb got = {0};
    cr_assert(data != NULL);
    for (size_t i = 0; i < total; i++)
        data[i] = pattern(i);
    pair_open(&p, 4096);
    handshake(&p);
    for (unsigned step = 0; pos < total; step++) {
        size_t left = total - pos, cut[3] = {1 + step % 300, 7000 + step % 9000, left};
        struct iovec v[3];
        int nv = 0;
        size_t at = pos;
        for (int i = 0; i < 3 && at < total; i++) {
            size_t k = cut[i] < total - at ? cut[i] : total - at;
            if (step % 5 == 4 && i == 1)
                break; /* a short offer: only the first piece */
            v[nv++] = (struct iovec){data + at, k};
            at += k;
        }
        ssize_t k = p.c.tr->writev(&p.c, v, nv);
        if (k == GW_EAGAIN) {
            cr_assert_eq(p.c.wr_wait, GW_WAIT_WRITE);
            cr_assert(client_drain(&p, &got) >= 0);
            continue;
        }
        cr_assert(k > 0 && (size_t)k <= at - pos, "writev: %zd of %zu", k, at - pos);
        pos += (size_t)k;
        while (got.len < pos) /* what was reported has left: the client can read it */
            cr_assert(client_drain(&p, &got) > 0, "reported %zu, readable %zu", pos, got.len);
    }
    cr_assert_eq(got.len, total);
    cr_assert(memcmp(got.p, data, total) == 0, "the client got other bytes");
    free(got.p);
    free(data);
    pair_close(&p);
}

Test(tls, reads_pending_and_the_end_of_the_stream)
{
    struct pair p;
    char buf[1000], msg[10000];
    size_t w, got = 0;
    pair_open(&p, 0);
    handshake(&p);
    cr_assert_eq(p.c.tr->read(&p.c, buf, sizeof(buf)), GW_EAGAIN, "nothing sent yet");
    cr_assert_eq(p.c.rd_wait, GW_WAIT_READ);
    memset(msg, 'm', sizeof(msg));
    for (int i = 0; i < 3; i++)
        cr_assert(SSL_write_ex(p.cl, msg, sizeof(msg), &w) && w == sizeof(msg));
    int held = 0;
    while (got < 3 * sizeof(msg)) {
        ssize_t n = p.c.tr->read(&p.c, buf, sizeof(buf));
        cr_assert(n > 0 && n <= (ssize_t)sizeof(buf), "read: %zd", n);
        got += (size_t)n;
        held |= p.c.tr->pending(&p.c);
    }
    cr_assert(held, "pending() never said OpenSSL held more than one read took");
    cr_assert_not(p.c.tr->pending(&p.c));
    cr_assert_eq(p.c.tr->read(&p.c, buf, sizeof(buf)), GW_EAGAIN);
    cr_assert_eq(SSL_shutdown(p.cl), 0); /* close_notify */
    cr_assert_eq(p.c.tr->read(&p.c, buf, sizeof(buf)), 0, "the end of the stream");
    pair_close(&p);
}

Test(tls, shut_write_says_close_notify)
{
    struct pair p;
    struct sb got = {0};
    struct iovec v = {"last", 4};
    pair_open(&p, 0);
    handshake(&p);
    cr_assert_eq(p.c.tr->writev(&p.c, &v, 1), 4);
    cr_assert_eq(p.c.tr->shut_write(&p.c), 0);
    cr_assert_eq(client_drain(&p, &got), -1, "close_notify after the bytes");
    cr_assert_str_eq(got.p, "last");
    cr_assert_eq(p.c.tr->writev(&p.c, &v, 1), GW_ECLOSED, "nothing after close_notify");
    free(got.p);
    pair_close(&p);
}

Test(tls, no_sendfile)
{
    struct pair p;
    pair_open(&p, 0);
    handshake(&p);
    cr_assert_eq(p.c.tr->sendfile(&p.c, 0, 0, 10), GW_ENOTSUP);
    pair_close(&p);
}

/* T01: bytes that are no ClientHello end the handshake with an error, not GW_EAGAIN. */
Test(tls, plain_http_fails_the_handshake)
{
    struct pair p;
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    pair_open(&p, 0);
    cr_assert_eq(write(p.peer, get, sizeof(get) - 1), (ssize_t)sizeof(get) - 1);
    int rc = p.c.tr->handshake(&p.c);
    cr_assert(rc < 0 && rc != GW_EAGAIN, "handshake: %d", rc);
    cr_assert_eq(p.c.tr->handshake(&p.c), GW_ECLOSED, "the session stays failed");
    pair_close(&p);
}

/* A client that never sends a byte: no session is made, closing frees the rest. */
Test(tls, silent_client)
{
    struct pair p;
    size_t n = 1;
    pair_open(&p, 0);
    cr_assert_not(p.c.tr->pending(&p.c));
    p.c.tr->vars(&p.c, &n);
    cr_assert_eq(n, 0);
    pair_close(&p);
}

Test(tls, context_refusals)
{
    char err[256];
    make_certificate();
    cr_assert_null(gw_tls_ctx_new("/nonexistent/cert.pem", NULL, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "No such file") != NULL, "%s", err);
    cr_assert_null(gw_tls_ctx_new(cert_path, NULL, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "no usable private key") != NULL, "%s", err);
    cr_assert_null(gw_tls_ctx_new(cert_path, other_key_path, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "does not match") != NULL, "%s", err);
    cr_assert_null(gw_tls_ctx_new(key_path, key_path, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "no usable certificate chain") != NULL, "%s", err);
    struct gw_tls_options opt = {.verify = GW_TLS_VERIFY_REQUIRE};
    cr_assert_null(gw_tls_ctx_new(cert_path, key_path, &opt, err, sizeof(err)));
    cr_assert_str_eq(err, "--verify-client require needs --ca-certs");
    opt = (struct gw_tls_options){.ca_certs = cert_path};
    cr_assert_null(gw_tls_ctx_new(cert_path, key_path, &opt, err, sizeof(err)));
    cr_assert_str_eq(err, "--ca-certs needs --verify-client optional or require");
    opt.verify = GW_TLS_VERIFY_OPTIONAL;
    opt.ca_certs = key_path;
    cr_assert_null(gw_tls_ctx_new(cert_path, key_path, &opt, err, sizeof(err)));
    cr_assert(strstr(err, "no usable CA certificate") != NULL, "%s", err);
    opt = (struct gw_tls_options){.ciphers = "NOPE", .min_version = 13};
    cr_assert_null(gw_tls_ctx_new(cert_path, key_path, &opt, err, sizeof(err)));
    cr_assert_str_eq(err, "--tls-ciphers NOPE: no cipher match");
    /* TLS 1.3 suites: every name known (OpenSSL alone would skip an unknown one, and
     * take an empty list as no TLS 1.3) */
    static const char *const bad_suites[] = {
        "",
        ":",
        "NOPE",
        "TLS_AES_256_GCM_SHA384:NOPE",
        "TLS_AES_256_GCM_SHA384:",
        "TLS_AES_256_GCM_SHA384::TLS_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_AES_256_GCM_SHA384_AND_A_NAME_FAR_LONGER_THAN_ANY_SUITE_OPENSSL_HAS_EVER_HAD",
    };
    for (size_t i = 0; i < sizeof(bad_suites) / sizeof(bad_suites[0]); i++) {
        opt = (struct gw_tls_options){.suites = bad_suites[i]};
        cr_assert_null(gw_tls_ctx_new(cert_path, key_path, &opt, err, sizeof(err)), "'%s'",
                       bad_suites[i]);
        cr_assert(strstr(err, ": not a colon-separated list of TLS 1.3 suites") != NULL, "%s", err);
        cr_assert_eq(ERR_peek_error(), 0, "'%s' left errors queued", bad_suites[i]);
    }
    opt = (struct gw_tls_options){.suites = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"};
    struct gw_tls_ctx *s13 = gw_tls_ctx_new(cert_path, key_path, &opt, err, sizeof(err));
    cr_assert(s13 != NULL, "%s", err);
    gw_tls_ctx_free(s13);
    opt = (struct gw_tls_options){.verify = GW_TLS_VERIFY_OPTIONAL};
    opt.ca_certs = cert_path; /* the self-signed certificate as its own CA */
    struct gw_tls_ctx *x = gw_tls_ctx_new(cert_path, key_path, &opt, err, sizeof(err));
    cr_assert(x != NULL, "%s", err);
    gw_tls_ctx_free(x);
    x = gw_tls_ctx_new(cert_path, key_path, NULL, err, sizeof(err));
    cr_assert(x != NULL, "%s", err);
    gw_tls_ctx_free(x);
    cr_assert_eq(ERR_peek_error(), 0, "the error queue is left empty");
    unlink(cert_path);
    unlink(key_path);
    unlink(other_key_path);
}

/* ---- the shared ticket keys (gateway/tls_tickets.h), on a clock of the test's ---- */

#define T0     1000000ull
#define ROTATE GW_TLS_TICKET_ROTATE

Test(tls, ticket_keys_rotate_and_expire)
{
    char err[256];
    struct gw_tls_ticket_key a, b, c, k;
    cr_assert_eq(gw_tls_tickets_current(T0, &a), GW_ESTATE, "no area yet");
    cr_assert_eq(gw_tls_tickets_init(err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(gw_tls_tickets_init(err, sizeof(err)), 0, "a second call does nothing");
    cr_assert(strncmp(gw_tls_tickets_env(), GW_TLS_TICKETS_ENV "=", 22) == 0);
    cr_assert_eq(gw_tls_tickets_current(T0, &a), 0);
    cr_assert_eq(gw_tls_tickets_current(T0 + ROTATE - 1, &k), 0);
    cr_assert(memcmp(&a, &k, sizeof(a)) == 0, "the same key within its hour");
    cr_assert_eq(gw_tls_tickets_find(a.name, T0 + ROTATE - 1, &k), 1, "current");
    cr_assert(memcmp(&a, &k, sizeof(a)) == 0);
    /* An hour on: a new key encrypts; the old one still decrypts, asking for renewal. */
    cr_assert_eq(gw_tls_tickets_current(T0 + ROTATE, &b), 0);
    cr_assert(memcmp(a.name, b.name, sizeof(a.name)) != 0 && memcmp(a.aes, b.aes, 32) != 0 &&
              memcmp(a.hmac, b.hmac, 32) != 0);
    cr_assert_eq(gw_tls_tickets_find(b.name, T0 + ROTATE, &k), 1);
    cr_assert_eq(gw_tls_tickets_find(a.name, T0 + ROTATE, &k), 2);
    cr_assert(memcmp(&a, &k, sizeof(a)) == 0);
    /* a's tickets (issued before T0 + ROTATE) live until LIFETIME after that. */
    uint64_t a_end = T0 + ROTATE + GW_TLS_TICKET_LIFETIME;
    cr_assert_eq(gw_tls_tickets_find(a.name, a_end - 1, &k), 2);
    cr_assert_eq(gw_tls_tickets_current(a_end - 1, &c), 0, "rotated lazily, by use");
    cr_assert_eq(gw_tls_tickets_find(c.name, a_end - 1, &k), 1);
    cr_assert_eq(gw_tls_tickets_find(b.name, a_end - 1, &k), 2);
    cr_assert_eq(gw_tls_tickets_find(a.name, a_end - 1, &k), 2, "three keys in the ring");
    cr_assert_eq(gw_tls_tickets_find(a.name, a_end, &k), 0, "a's time is over");
    /* A long idle time: the next ticket gets a new key; b and c are over too. */
    uint64_t later = a_end + 10 * ROTATE;
    cr_assert_eq(gw_tls_tickets_find(c.name, later, &k), 0);
    cr_assert_eq(gw_tls_tickets_current(later, &k), 0);
    cr_assert(memcmp(k.name, c.name, sizeof(k.name)) != 0);
    unsigned char unknown[16] = {0};
    cr_assert_eq(gw_tls_tickets_find(unknown, later, &k), 0);
}

Test(tls, ticket_keys_are_shared_by_forked_processes)
{
    char err[256];
    struct gw_tls_ticket_key a, b;
    cr_assert_eq(gw_tls_tickets_init(err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(gw_tls_tickets_current(T0, &a), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) { /* a worker process: sees a, and is the one to rotate */
        struct gw_tls_ticket_key k, n;
        int ok = gw_tls_tickets_find(a.name, T0 + 1, &k) == 1 && memcmp(&a, &k, sizeof(k)) == 0 &&
                 gw_tls_tickets_current(T0 + ROTATE, &n) == 0 &&
                 memcmp(n.name, a.name, sizeof(n.name)) != 0;
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child saw the parent's key");
    /* The child's rotation is the parent's too. */
    cr_assert_eq(gw_tls_tickets_current(T0 + ROTATE, &b), 0);
    cr_assert(memcmp(a.name, b.name, sizeof(a.name)) != 0);
    cr_assert_eq(gw_tls_tickets_find(a.name, T0 + ROTATE, &b), 2);
}
