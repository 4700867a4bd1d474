/*
 * The TLS transport of gateway/tls.h over OpenSSL 3, the only file of the tree that
 * includes OpenSSL's headers.
 *
 * Reads go through a socket BIO on the non-blocking socket (read-ahead on: a record
 * may be held decrypted or in part, which pending reports). Writes go into a memory
 * sink of our own (the "out" BIO below) and from there to the socket with send(2), so
 * OpenSSL never sees a blocked write and has no retry rules for us: the transport
 * decides what counts as written. writev encrypts a batch of up to GW_TLS_BATCH
 * plaintext bytes of the caller's stream (records of up to 16 KiB, small pieces
 * gathered into one record) and reports bytes written only once the records holding
 * them have left; until then it answers GW_EAGAIN, and the caller's next writev,
 * which carries on the same stream from the same byte (gateway/conn.h), is credited
 * from the batch without encrypting again. So the output queue's accounting stays
 * true (what it dropped has left), and a connection holds at most one batch of
 * ciphertext besides OpenSSL's own buffers (released when idle).
 *
 * The handshake runs on the loop thread (tls_handshake), non-blocking; it is done once
 * OpenSSL has finished it and everything it wrote has left. The session (the SSL
 * object) is made at the first readable event, so a client that sends nothing holds
 * none. A handshake that fails is
 * logged at info level (debug when the peer sent nothing at all) and the connection
 * closed. Every call that touches OpenSSL clears this thread's error queue first and
 * after a failure, and a connection whose session failed is never used again (no
 * close_notify after an error, as OpenSSL requires).
 *
 * Threads: the connection's owner calls the transport; the watchdog may write a 504
 * and shut the write side while the owner reads the body. t->lock makes each call
 * whole; it is a leaf and never held while waiting (every call here is
 * non-blocking). c->rd_wait is written by reads and the handshake, c->wr_wait by
 * writes, each under the lock and read afterwards by the thread that made the call.
 */
#include "gateway/tls.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/slice.h"
#include "gateway/stats.h"
#include "gateway/tls_tickets.h"

#define GW_TLS_RECORD  16384               /* plaintext bytes of a full record */
#define GW_TLS_BATCH   (4 * GW_TLS_RECORD) /* plaintext encrypted ahead by one writev */
#define GW_TLS_RECS    8                   /* records of a batch (at most 5 are made) */
#define GW_TLS_OUT_MAX (256 * 1024)        /* ciphertext held: a batch, a handshake flight */

/* Mozilla's "intermediate" configuration, v5.7: TLS 1.2 suites (TLS 1.3's are
 * OpenSSL's defaults, the same three), groups; the client's preference counts. */
static const char intermediate_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char intermediate_groups[] = "X25519:P-256:P-384";

struct gw_tls_ctx {
    SSL_CTX *ctx;
    BIO_METHOD *out_method; /* the write sink of every connection */
    int h2;                 /* ALPN offers h2 before http/1.1 (not --no-h2) */
};

/* A record of the batch in flight: where its ciphertext ends in out, and how many of
 * the caller's bytes it holds. */
struct tls_rec {
    size_t end;
    size_t plain;
};

struct tls_conn {
    SSL *ssl; /* made when the first bytes arrive (see make_session) */
    struct gw_tls_ctx *ctx;
    pthread_mutex_t lock;
    struct gw_buf out; /* ciphertext not sent yet: out.data[out.start..out.end) */
    struct tls_rec recs[GW_TLS_RECS];
    int nrecs;     /* records of the batch not wholly sent */
    size_t ahead;  /* the caller's bytes encrypted and not yet reported written */
    size_t ready;  /* of which the records have left: reported at the next writev */
    int hs_done;   /* the handshake finished (its last flight may still be in out) */
    int failed;    /* the session failed: no more OpenSSL calls but SSL_free */
    int shut_sent; /* close_notify is written (or given up) */
    struct gw_field vars[GW_TLS_NVARS];
    size_t nvars;      /* of vars, set when the handshake is done */
    char *client_text; /* the values of the SSL_CLIENT_* variables, NULL: none made */
};

/* ---- the write sink: a BIO that appends to t->out ------------------------------- */

static int out_write(BIO *b, const char *p, int n)
{
    struct tls_conn *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    if (gw_buf_append(&t->out, p, (size_t)n, GW_TLS_OUT_MAX) != 0)
        return -1; /* never with a batch at a time; fails the session */
    return n;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* sent by out_flush, not by OpenSSL */
}

/* ---- errors ------------------------------------------------------------------- */

/* After an OpenSSL call on t failed with ret: GW_EAGAIN with *want set, 0 for the
 * peer's close_notify (or its plain end of the stream: SSL_OP_IGNORE_UNEXPECTED_EOF),
 * or GW_E* with the session marked failed. */
static int ssl_result(struct tls_conn *t, int ret, unsigned char *want)
{
    int saved = errno;
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        *want = GW_WAIT_READ;
        return GW_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = GW_WAIT_WRITE;
        return GW_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        t->failed = 1;
        return saved == ECONNRESET || saved == EPIPE || saved == ENOTCONN || saved == 0 ? GW_ECLOSED
                                                                                        : GW_EIO;
    case SSL_ERROR_SSL:
        t->failed = 1;
        return GW_EPROTO;
    default:
        t->failed = 1;
        return GW_EIO;
    }
}

/* ---- sending the ciphertext ----------------------------------------------------- */

/* The records wholly sent become ready: their bytes may be reported written. */
static void credit(struct tls_conn *t)
{
    int i = 0;
    while (i < t->nrecs && t->recs[i].end <= t->out.start)
        t->ready += t->recs[i++].plain;
    if (i > 0) {
        memmove(t->recs, t->recs + i, (size_t)(t->nrecs - i) * sizeof(t->recs[0]));
        t->nrecs -= i;
    }
}

/* Sends what out holds as far as the socket takes it: 0 when it is empty (its memory
 * freed), GW_EAGAIN when bytes remain, GW_E* when the peer is gone. */
static int out_flush(struct gw_conn *c, struct tls_conn *t)
{
    while (t->out.start < t->out.end) {
        ssize_t k = send(c->fd, t->out.data + t->out.start, t->out.end - t->out.start,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            t->out.start += (size_t)k;
            credit(t);
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return GW_EAGAIN;
        return k < 0 && errno != ECONNRESET && errno != EPIPE && errno != ENOTCONN ? GW_EIO
                                                                                   : GW_ECLOSED;
    }
    free(t->out.data); /* an idle connection keeps no batch-sized buffer */
    memset(&t->out, 0, sizeof(t->out));
    return 0;
}

/* Encrypts p[0..n) into out as one record of the batch. 0 or GW_E*. */
static int seal(struct tls_conn *t, const void *p, size_t n)
{
    size_t w = 0;
    if (t->nrecs == GW_TLS_RECS)
        return GW_ESTATE; /* cannot happen: encrypt_batch makes at most 5 */
    ERR_clear_error();
    if (!SSL_write_ex(t->ssl, p, n, &w) || w != n) {
        unsigned char ignored;
        int rc = ssl_result(t, 0, &ignored);
        ERR_clear_error();
        t->failed = 1; /* a sink that takes everything: any failure is final */
        return rc < 0 && rc != GW_EAGAIN ? rc : GW_EIO;
    }
    t->recs[t->nrecs++] = (struct tls_rec){.end = t->out.end, .plain = n};
    return 0;
}

/* Encrypts the start of iov[0..n), up to GW_TLS_BATCH bytes: full records straight
 * from the caller's buffers, small pieces gathered into one record. Returns the bytes
 * encrypted or GW_E*. */
static ssize_t encrypt_batch(struct tls_conn *t, const struct iovec *iov, int n)
{
    char stage[GW_TLS_RECORD];
    size_t fill = 0, done = 0;
    int rc = 0;
    for (int i = 0; i < n && done + fill < GW_TLS_BATCH; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len > 0 && done + fill < GW_TLS_BATCH) {
            size_t room = GW_TLS_BATCH - done - fill, k;
            if (fill == 0 && len >= GW_TLS_RECORD) {
                k = room < GW_TLS_RECORD ? room : GW_TLS_RECORD;
                if ((rc = seal(t, p, k)) != 0)
                    return rc;
                done += k;
            } else {
                k = GW_TLS_RECORD - fill;
                k = k < len ? k : len;
                k = k < room ? k : room;
                memcpy(stage + fill, p, k);
                fill += k;
                if (fill == GW_TLS_RECORD) {
                    if ((rc = seal(t, stage, fill)) != 0)
                        return rc;
                    done += fill;
                    fill = 0;
                }
            }
            p += k;
            len -= k;
        }
    }
    if (fill > 0) {
        if ((rc = seal(t, stage, fill)) != 0)
            return rc;
        done += fill;
    }
    return (ssize_t)done;
}

/* ---- the transport ------------------------------------------------------------- */

static ssize_t tls_read(struct gw_conn *c, void *buf, size_t len)
{
    struct tls_conn *t = c->tr_state;
    size_t got = 0;
    ssize_t rc;
    pthread_mutex_lock(&t->lock);
    if (t->failed || !t->hs_done) {
        rc = t->failed ? GW_ECLOSED : GW_ESTATE;
        goto done;
    }
    ERR_clear_error();
    if (SSL_read_ex(t->ssl, buf, len, &got))
        rc = (ssize_t)got;
    else
        rc = ssl_result(t, 0, &c->rd_wait);
    ERR_clear_error();
    /* What reading made OpenSSL write (an alert, a key update) goes now if it can;
     * the rest goes with the next write. */
    if (!t->failed && t->out.start < t->out.end && out_flush(c, t) < 0 && rc == GW_EAGAIN)
        rc = GW_ECLOSED;
done:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static size_t iov_total(const struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    return total;
}

static ssize_t tls_writev(struct gw_conn *c, const struct iovec *iov, int n)
{
    struct tls_conn *t = c->tr_state;
    size_t total = iov_total(iov, n);
    ssize_t rc;
    if (total == 0)
        return 0;
    pthread_mutex_lock(&t->lock);
    if (t->failed || t->shut_sent || !t->hs_done) {
        rc = t->hs_done ? GW_ECLOSED : GW_ESTATE;
        goto done;
    }
    rc = out_flush(c, t);
    if (rc == 0 && t->ahead == 0) {
        /* Nothing of the stream is ahead: encrypt the next batch and send it. */
        rc = encrypt_batch(t, iov, n);
        if (rc < 0)
            goto done;
        t->ahead = (size_t)rc;
        rc = out_flush(c, t);
    }
    if (rc < 0 && rc != GW_EAGAIN) {
        t->failed = 1;
        goto done;
    }
    if (t->ready > 0) {
        size_t k = t->ready < total ? t->ready : total;
        t->ready -= k;
        t->ahead -= k;
        rc = (ssize_t)k;
    } else {
        c->wr_wait = GW_WAIT_WRITE;
        rc = GW_EAGAIN;
    }
done:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* No sendfile over TLS (kernel TLS is not offered here): the output queue copies the
 * file with pread and writes it through writev. */
static ssize_t tls_sendfile(struct gw_conn *c, int fd, off_t off, size_t len)
{
    (void)c;
    (void)fd;
    (void)off;
    (void)len;
    return GW_ENOTSUP;
}

/* Writes close_notify once, if the session is healthy, and sends it if the socket
 * takes it now. Under t->lock. */
static void say_goodbye(struct gw_conn *c, struct tls_conn *t)
{
    if (!t->hs_done || t->failed || t->shut_sent)
        return;
    t->shut_sent = 1;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* 0: sent, the peer's not seen; we never wait for it */
    ERR_clear_error();
    out_flush(c, t);
}

static int tls_shut_write(struct gw_conn *c)
{
    struct tls_conn *t = c->tr_state;
    pthread_mutex_lock(&t->lock);
    say_goodbye(c, t);
    pthread_mutex_unlock(&t->lock);
    return shutdown(c->fd, SHUT_WR) == 0 ? 0 : GW_ECLOSED;
}

static int tls_pending(struct gw_conn *c)
{
    struct tls_conn *t = c->tr_state;
    pthread_mutex_lock(&t->lock);
    int held = t->ssl != NULL && !t->failed && SSL_has_pending(t->ssl);
    pthread_mutex_unlock(&t->lock);
    return held;
}

/* mod_ssl's SSL_CLIENT_VERIFY: NONE without a client certificate, SUCCESS when the
 * CAs verified it, FAILED:reason (OpenSSL's words) when they did not (optional). With
 * a certificate also SSL_CLIENT_S_DN and SSL_CLIENT_I_DN, printed as mod_ssl prints
 * them (RFC 2253 order and escapes, but UTF-8 left as it is), and SSL_CLIENT_CERT,
 * PEM. Appended to t->vars, their text in t->client_text. 0 or GW_ENOMEM. */
static int fill_client_vars(struct tls_conn *t)
{
    static const char *const names[] = {"SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN",
                                        "SSL_CLIENT_CERT"};
    const unsigned long dn_flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    long verdict = SSL_get_verify_result(t->ssl);
    size_t end[4];
    char *data = NULL;
    int rc = GW_ENOMEM;
    BIO *b = NULL;
    if (peer == NULL) {
        t->vars[t->nvars++] =
            (struct gw_field){GW_SLICE_LIT("SSL_CLIENT_VERIFY"), GW_SLICE_LIT("NONE")};
        return 0;
    }
    if ((b = BIO_new(BIO_s_mem())) == NULL)
        goto done;
    if (verdict == X509_V_OK
            ? BIO_puts(b, "SUCCESS") <= 0
            : BIO_printf(b, "FAILED:%s", X509_verify_cert_error_string(verdict)) <= 0)
        goto done;
    end[0] = (size_t)BIO_get_mem_data(b, &data);
    if (X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, dn_flags) < 0)
        goto done;
    end[1] = (size_t)BIO_get_mem_data(b, &data);
    if (X509_NAME_print_ex(b, X509_get_issuer_name(peer), 0, dn_flags) < 0)
        goto done;
    end[2] = (size_t)BIO_get_mem_data(b, &data);
    if (!PEM_write_bio_X509(b, peer))
        goto done;
    end[3] = (size_t)BIO_get_mem_data(b, &data);
    if ((t->client_text = malloc(end[3])) == NULL)
        goto done;
    memcpy(t->client_text, data, end[3]);
    for (size_t i = 0, start = 0; i < 4; start = end[i++]) {
        t->vars[t->nvars++] =
            (struct gw_field){gw_slice_make(names[i], strlen(names[i])),
                              gw_slice_make(t->client_text + start, end[i] - start)};
    }
    rc = 0;
done:
    BIO_free(b);
    ERR_clear_error();
    return rc;
}

static int fill_vars(struct tls_conn *t)
{
    const SSL_CIPHER *ci = SSL_get_current_cipher(t->ssl);
    const char *version = SSL_get_version(t->ssl), *cipher = ci ? SSL_CIPHER_get_name(ci) : "";
    t->vars[0] = (struct gw_field){GW_SLICE_LIT("HTTPS"), GW_SLICE_LIT("on")};
    t->vars[1] =
        (struct gw_field){GW_SLICE_LIT("SSL_PROTOCOL"), gw_slice_make(version, strlen(version))};
    t->vars[2] =
        (struct gw_field){GW_SLICE_LIT("SSL_CIPHER"), gw_slice_make(cipher, strlen(cipher))};
    t->vars[3] = (struct gw_field){GW_SLICE_LIT("SSL_SESSION_RESUMED"),
                                   SSL_session_reused(t->ssl) ? GW_SLICE_LIT("Resumed")
                                                              : GW_SLICE_LIT("Initial")};
    t->nvars = 4;
    return fill_client_vars(t);
}

/* Logs why the handshake of c failed: info, or debug when the peer sent nothing (a
 * TCP health check, a preconnect given up; else it counts as a failed handshake).
 * Under t->lock, after the failure. */
static void log_failure(struct gw_conn *c, struct tls_conn *t, int rc)
{
    char peer[64];
    unsigned long e = ERR_peek_last_error();
    const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
    if (why == NULL)
        why = rc == GW_ECLOSED || rc == 0 ? "the client closed the connection" : gw_strerror(rc);
    int silent = t->ssl == NULL || BIO_number_read(SSL_get_rbio(t->ssl)) == 0;
    long verdict = t->ssl != NULL ? SSL_get_verify_result(t->ssl) : X509_V_OK;
    gw_log(silent ? GW_LOG_DEBUG : GW_LOG_INFO, "%s: %s: TLS handshake failed: %s%s%s%s",
           c->listener ? c->listener->spec : "-", gw_conn_peer(c, peer, sizeof(peer)), why,
           verdict != X509_V_OK ? " (client certificate: " : "",
           verdict != X509_V_OK ? X509_verify_cert_error_string(verdict) : "",
           verdict != X509_V_OK ? ")" : "");
    if (!silent)
        gw_stats_note_handshake(GW_STATS_HS_FAILED, 0, 0);
}

/* The session of c, server side, reading from the socket and writing into t->out.
 * 0 or GW_ENOMEM. */
static int make_session(struct gw_conn *c, struct tls_conn *t)
{
    BIO *rb = BIO_new_socket(c->fd, BIO_NOCLOSE), *wb = BIO_new(t->ctx->out_method);
    t->ssl = SSL_new(t->ctx->ctx);
    if (t->ssl == NULL || rb == NULL || wb == NULL) {
        BIO_free(rb);
        BIO_free(wb);
        SSL_free(t->ssl);
        t->ssl = NULL;
        ERR_clear_error();
        return GW_ENOMEM;
    }
    BIO_set_data(wb, t);
    BIO_set_init(wb, 1);
    SSL_set_bio(t->ssl, rb, wb); /* the session owns them from here */
    SSL_set_accept_state(t->ssl);
    return 0;
}

static int tls_handshake(struct gw_conn *c)
{
    struct tls_conn *t = c->tr_state;
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    if (t->failed) {
        rc = GW_ECLOSED;
        goto done;
    }
    /* Made on the first readable event: a client that connects and sends nothing
     * costs no session (a partial ClientHello then costs OpenSSL's buffers, some
     * 64 KiB, until --read-timeout). */
    if (t->ssl == NULL && (rc = make_session(c, t)) != 0) {
        log_failure(c, t, rc);
        t->failed = 1;
        goto done;
    }
    if (!t->hs_done) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        if (r == 1) {
            t->hs_done = 1;
            if ((rc = fill_vars(t)) != 0) {
                log_failure(c, t, rc);
                t->failed = 1;
                goto done;
            }
            gw_stats_note_handshake(GW_STATS_HS_OK, SSL_version(t->ssl),
                                    SSL_session_reused(t->ssl));
        } else {
            rc = ssl_result(t, r, &c->rd_wait);
            if (rc != GW_EAGAIN) {
                log_failure(c, t, rc);
                t->failed = 1;
                out_flush(c, t); /* the alert, if the socket takes it */
                rc = rc == 0 ? GW_ECLOSED : rc;
                ERR_clear_error();
                goto done;
            }
        }
        ERR_clear_error();
    }
    /* Done only once our last flight has left: the client may wait for it. */
    int f = out_flush(c, t);
    if (f == GW_EAGAIN) {
        c->rd_wait = GW_WAIT_WRITE;
        rc = GW_EAGAIN;
    } else if (f < 0) {
        t->failed = 1;
        rc = f;
        if (!t->hs_done) /* the peer went while our flight was sent */
            gw_stats_note_handshake(GW_STATS_HS_FAILED, 0, 0);
    } else if (!t->hs_done) {
        rc = GW_EAGAIN; /* c->rd_wait as OpenSSL asked */
    }
done:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static void tls_close(struct gw_conn *c)
{
    struct tls_conn *t = c->tr_state;
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    if (!gw_conn_broken(c))
        say_goodbye(c, t);
    pthread_mutex_unlock(&t->lock);
    SSL_free(t->ssl); /* and its two BIOs (NULL: no byte ever came) */
    free(t->out.data);
    free(t->client_text);
    pthread_mutex_destroy(&t->lock);
    free(t);
    c->tr_state = NULL;
}

static const struct gw_field *tls_vars(struct gw_conn *c, size_t *n)
{
    struct tls_conn *t = c->tr_state;
    *n = t->hs_done ? t->nvars : 0; /* set on the loop before any request */
    return t->vars;
}

static const struct gw_transport tls_transport = {
    .read = tls_read,
    .writev = tls_writev,
    .sendfile = tls_sendfile,
    .shut_write = tls_shut_write,
    .pending = tls_pending,
    .handshake = tls_handshake,
    .close = tls_close,
    .vars = tls_vars,
    .secure = 1,
};

int gw_tls_conn_open(struct gw_conn *c, struct gw_tls_ctx *x)
{
    struct tls_conn *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return GW_ENOMEM;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return GW_ENOMEM;
    }
    t->ctx = x;
    c->tr = &tls_transport;
    c->tr_state = t;
    return 0;
}

/* ---- session tickets: keys shared by every process (gateway/tls_tickets.h) -------- */

/* OpenSSL's ticket key callback: AES-256-CBC and HMAC-SHA256 with the shared keys.
 * enc: the current key, a fresh IV (returns 1, or 0: no ticket this time). Else the
 * key the ticket names: 1, 2 (an older key: OpenSSL issues a new ticket), or 0 (a
 * full handshake). */
static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
    struct gw_tls_ticket_key k;
    int rc = 0;
    (void)ssl;
    if (enc) {
        if (gw_tls_tickets_current(gw_tls_tickets_now(), &k) != 0)
            return 0;
        if (RAND_bytes(iv, 16) != 1)
            goto done;
        memcpy(name, k.name, sizeof(k.name));
        rc = 1;
    } else {
        rc = gw_tls_tickets_find(name, gw_tls_tickets_now(), &k);
        if (rc == 0)
            return 0;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!EVP_MAC_CTX_set_params(hctx, params) ||
        !(enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv)
              : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv)))
        rc = enc ? 0 : -1;
done:
    OPENSSL_cleanse(&k, sizeof(k));
    return enc && rc != 1 ? 0 : rc;
}

/* Every context made uses the shared keys (made or mapped by the first call, before
 * any fork), and tickets live as long as those keys promise. 0 or -1 with err. */
static int use_shared_tickets(SSL_CTX *ctx, char *err, size_t errlen)
{
    if (gw_tls_tickets_init(err, errlen) != 0)
        return -1;
    SSL_CTX_set_timeout(ctx, GW_TLS_TICKET_LIFETIME);
    if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb)) {
        snprintf(err, errlen, "cannot set up TLS session tickets");
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* ---- the server context ---------------------------------------------------------- */

/* ALPN (RFC 7301): h2 when the context offers it (not --no-h2) and the client does, else
 * http/1.1 when the client offers it; a client that offers only other protocols gets
 * the fatal no_application_protocol alert. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char h1[] = "\x08http/1.1";
    static const unsigned char h2[] = "\x02h2\x08http/1.1";
    const struct gw_tls_ctx *x = arg;
    unsigned char *sel = NULL, len = 0;
    (void)ssl;
    int rc = x->h2 ? SSL_select_next_proto(&sel, &len, h2, sizeof(h2) - 1, in, inlen)
                   : SSL_select_next_proto(&sel, &len, h1, sizeof(h1) - 1, in, inlen);
    if (rc != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    *outlen = len;
    return SSL_TLSEXT_ERR_OK;
}

int gw_tls_alpn_h2(struct gw_conn *c)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;
    struct tls_conn *t = c->tr_state;
    if (c->tr->handshake == NULL || t == NULL || t->ssl == NULL)
        return 0;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}

/* An encrypted key would make OpenSSL ask on the terminal: refuse it instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* --verify-client optional: a certificate that fails verification does not fail the
 * handshake; its verdict stays in the session for SSL_CLIENT_VERIFY. */
static int accept_any_client(int ok, X509_STORE_CTX *store)
{
    (void)ok;
    (void)store;
    return 1;
}

/* "what: the reason of OpenSSL's last error" into err; clears the error queue. */
static void ssl_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "%s: %s", what, why != NULL ? why : "unknown OpenSSL error");
    ERR_clear_error();
}

/* The session id context: a digest of the verify mode and the CA file, so that a
 * session (a ticket) made under other client-certificate rules is not resumed under
 * these (and OpenSSL refuses to resume without one when it verifies clients). 0 or
 * -1 with one line in err. */
static int set_session_context(SSL_CTX *ctx, const struct gw_tls_options *opt, char *err,
                               size_t errlen)
{
    unsigned char md[EVP_MAX_MD_SIZE], chunk[4096];
    unsigned int mdlen = 0;
    char mode[32];
    int rc = -1;
    FILE *f = NULL;
    EVP_MD_CTX *d = EVP_MD_CTX_new();
    int n = snprintf(mode, sizeof(mode), "wsgate verify=%d", (int)opt->verify);
    if (d == NULL || !EVP_DigestInit_ex(d, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(d, mode, (size_t)n)) {
        ssl_error(err, errlen, "cannot set up TLS");
        goto done;
    }
    if (opt->ca_certs != NULL) {
        size_t k;
        if ((f = fopen(opt->ca_certs, "rb")) == NULL) {
            snprintf(err, errlen, "--ca-certs %s: %s", opt->ca_certs, strerror(errno));
            goto done;
        }
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0) {
            if (!EVP_DigestUpdate(d, chunk, k)) {
                ssl_error(err, errlen, "cannot set up TLS");
                goto done;
            }
        }
    }
    if (!EVP_DigestFinal_ex(d, md, &mdlen) ||
        !SSL_CTX_set_session_id_context(
            ctx, md, mdlen < SSL_MAX_SID_CTX_LENGTH ? mdlen : SSL_MAX_SID_CTX_LENGTH)) {
        ssl_error(err, errlen, "cannot set up TLS");
        goto done;
    }
    rc = 0;
done:
    if (f != NULL)
        fclose(f);
    EVP_MD_CTX_free(d);
    return rc;
}

/* Client certificates as opt asks: the CAs of ca_certs verify them (and their names
 * go in the CertificateRequest, for the client to choose a certificate). 0 or -1 with
 * one line in err. */
static int set_client_verify(SSL_CTX *ctx, const struct gw_tls_options *opt, char *err,
                             size_t errlen)
{
    char what[600];
    const char *mode = opt->verify == GW_TLS_VERIFY_REQUIRE ? "require" : "optional";
    if (opt->verify == GW_TLS_VERIFY_NONE) {
        if (opt->ca_certs != NULL) {
            snprintf(err, errlen, "--ca-certs needs --verify-client optional or require");
            return -1;
        }
        return set_session_context(ctx, opt, err, errlen);
    }
    if (opt->ca_certs == NULL) {
        snprintf(err, errlen, "--verify-client %s needs --ca-certs", mode);
        return -1;
    }
    if (access(opt->ca_certs, R_OK) != 0) {
        snprintf(err, errlen, "--ca-certs %s: %s", opt->ca_certs, strerror(errno));
        return -1;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(opt->ca_certs);
    if (names == NULL || !SSL_CTX_load_verify_locations(ctx, opt->ca_certs, NULL)) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        snprintf(what, sizeof(what), "--ca-certs %s: no usable CA certificate", opt->ca_certs);
        ssl_error(err, errlen, what);
        return -1;
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* the context owns them */
    if (opt->verify == GW_TLS_VERIFY_REQUIRE)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_client);
    return set_session_context(ctx, opt, err, errlen);
}

/* 1 when every colon-separated name of list is a TLS 1.3 suite OpenSSL has (given a
 * list, it skips the names it does not know as long as one is known). Changes ctx's
 * suites: the caller sets the whole list after. */
static int known_suites(SSL_CTX *ctx, const char *list)
{
    char name[64];
    for (const char *p = list;;) {
        size_t n = strcspn(p, ":");
        if (n == 0 || n >= sizeof(name))
            return 0;
        memcpy(name, p, n);
        name[n] = '\0';
        if (!SSL_CTX_set_ciphersuites(ctx, name)) {
            ERR_clear_error();
            return 0;
        }
        if (p[n] == '\0')
            return 1;
        p += n + 1;
    }
}

/* --tls-min-version, --tls-ciphers and --tls-ciphersuites over the defaults set before.
 * 0 or -1 with one line in err. */
static int set_protocols(SSL_CTX *ctx, const struct gw_tls_options *opt, char *err, size_t errlen)
{
    char what[600];
    if (opt->min_version == 13 && !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
        ssl_error(err, errlen, "--tls-min-version 1.3");
        return -1;
    }
    if (opt->ciphers != NULL && !SSL_CTX_set_cipher_list(ctx, opt->ciphers)) {
        snprintf(what, sizeof(what), "--tls-ciphers %s", opt->ciphers); /* no cipher match */
        ssl_error(err, errlen, what);
        return -1;
    }
    /* OpenSSL takes an empty list (no TLS 1.3 at all) and skips names it does not
     * know; either is a typo here, so each name must be a suite it has. */
    if (opt->suites != NULL && !known_suites(ctx, opt->suites)) {
        snprintf(err, errlen,
                 "--tls-ciphersuites %s: not a colon-separated list of TLS 1.3 suites "
                 "(TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, "
                 "TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_CCM_SHA256)",
                 opt->suites);
        return -1;
    }
    if (opt->suites != NULL && !SSL_CTX_set_ciphersuites(ctx, opt->suites)) {
        snprintf(what, sizeof(what), "--tls-ciphersuites %s", opt->suites);
        ssl_error(err, errlen, what);
        return -1;
    }
    return 0;
}

struct gw_tls_ctx *gw_tls_ctx_new(const char *certfile, const char *keyfile,
                                  const struct gw_tls_options *opt, char *err, size_t errlen)
{
    static const struct gw_tls_options defaults = {0};
    char what[600];
    const char *keypath = keyfile != NULL ? keyfile : certfile;
    struct gw_tls_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    /* Unreadable files first, with the system's reason (OpenSSL's is vaguer). */
    const char *paths[2] = {certfile, keypath};
    for (int i = 0; i < 2; i++) {
        if (access(paths[i], R_OK) != 0) {
            snprintf(err, errlen, "%s %s: %s", i == 0 ? "--certfile" : "--keyfile", paths[i],
                     strerror(errno));
            goto fail;
        }
    }
    x->ctx = SSL_CTX_new(TLS_server_method());
    x->out_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsgate-out");
    if (x->ctx == NULL || x->out_method == NULL || !BIO_meth_set_write(x->out_method, out_write) ||
        !BIO_meth_set_ctrl(x->out_method, out_ctrl)) {
        ssl_error(err, errlen, "cannot set up TLS");
        goto fail;
    }
    SSL_CTX_set_options(x->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_clear_options(x->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(x->ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(x->ctx, 1);
    /* Tickets (stateless) resume sessions; no cache of sessions on our side. */
    SSL_CTX_set_session_cache_mode(x->ctx, SSL_SESS_CACHE_OFF);
    x->h2 = opt != NULL && opt->h2;
    SSL_CTX_set_alpn_select_cb(x->ctx, alpn_select, x);
    SSL_CTX_set_default_passwd_cb(x->ctx, no_passphrase);
    if (!SSL_CTX_set_min_proto_version(x->ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(x->ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_cipher_list(x->ctx, intermediate_ciphers) ||
        !SSL_CTX_set_ciphersuites(x->ctx, tls13_suites) ||
        !SSL_CTX_set1_groups_list(x->ctx, intermediate_groups) || !SSL_CTX_set_dh_auto(x->ctx, 1)) {
        ssl_error(err, errlen, "cannot configure TLS");
        goto fail;
    }
    if (!SSL_CTX_use_certificate_chain_file(x->ctx, certfile)) {
        snprintf(what, sizeof(what), "--certfile %s: no usable certificate chain", certfile);
        ssl_error(err, errlen, what);
        goto fail;
    }
    if (!SSL_CTX_use_PrivateKey_file(x->ctx, keypath, SSL_FILETYPE_PEM)) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(what, sizeof(what), "the key in %s does not match the certificate in %s",
                     keypath, certfile);
        else
            snprintf(what, sizeof(what), "%s %s: no usable private key (PEM, not encrypted)",
                     keyfile != NULL ? "--keyfile" : "--certfile (no --keyfile)", keypath);
        ssl_error(err, errlen, what);
        goto fail;
    }
    if (!SSL_CTX_check_private_key(x->ctx)) { /* a key of another type than the leaf's */
        snprintf(what, sizeof(what), "the key in %s does not match the certificate in %s", keypath,
                 certfile);
        ssl_error(err, errlen, what);
        goto fail;
    }
    if (opt == NULL)
        opt = &defaults;
    if (set_client_verify(x->ctx, opt, err, errlen) != 0 ||
        set_protocols(x->ctx, opt, err, errlen) != 0 ||
        use_shared_tickets(x->ctx, err, errlen) != 0)
        goto fail;
    return x;
fail:
    gw_tls_ctx_free(x);
    ERR_clear_error();
    return NULL;
}

void gw_tls_ctx_free(struct gw_tls_ctx *x)
{
    if (x == NULL)
        return;
    SSL_CTX_free(x->ctx);
    BIO_meth_free(x->out_method);
    free(x);
}

const char *gw_tls_library_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}
