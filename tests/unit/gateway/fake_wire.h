/*
 * A connection whose transport (struct gw_transport, gateway/conn.h) records what it
 * is given instead of writing to a socket, shared by the unit tests of the response
 * encoders (tests/unit/protocols/test_http_response.c, test_cgi_response.c). Its
 * output queue (c->send) writes into got, the bytes a client would read.
 *
 * Reads go to the connection's socket (a test that reads gives it one). How the
 * "socket" takes bytes is a wire_mode: at most per_call bytes per call,
 * every odd or every even call refused (GW_EAGAIN), sendfile answered GW_ENOTSUP (the
 * queue then copies the file with pread). wire_modes lists the unlimited socket
 * first, then every combination of 1..WIRE_MAX_PER_CALL bytes per call, refusals
 * and sendfile; a test runs each case under all of them and, after draining the
 * queue as the loop would (wire_drain), expects the same bytes.
 *
 * The app's side, written as text in the test tables: its fields ("Name: value" lines,
 * app_fields) and its sends (app_send: buffers, references, ranges of app_file).
 */
#ifndef WSGATE_TESTS_UNIT_GATEWAY_FAKE_WIRE_H
#define WSGATE_TESTS_UNIT_GATEWAY_FAKE_WIRE_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/output.h"
#include "gateway/request.h"
#include "gateway/slice.h"
#include "tests/unit/support.h"

#define WIRE_UNUSED       __attribute__((unused))
#define WIRE_MAX_PER_CALL 7
#define WIRE_NMODES       (1 + WIRE_MAX_PER_CALL * 3 * 2)

/* How the peer's socket takes bytes. */
struct wire_mode {
    size_t per_call; /* most bytes taken per call (0: no limit) */
    int refuse;      /* 0: never; 1: every odd call (the first) answers GW_EAGAIN; 2: every
                        even call */
    int no_sendfile; /* sendfile answers GW_ENOTSUP */
};

struct fake_wire {
    struct gw_conn c; /* first: the transport gets &c */
    struct sb got;    /* every byte taken, in order (got.p NULL while none) */
    struct wire_mode mode;
    int calls;
    int shut; /* shut_write calls */
};

static int wire_take(struct fake_wire *w, size_t *n)
{
    w->calls++;
    if (w->mode.refuse != 0 && w->calls % 2 == w->mode.refuse % 2)
        return GW_EAGAIN;
    if (w->mode.per_call != 0 && *n > w->mode.per_call)
        *n = w->mode.per_call;
    return 0;
}

static ssize_t wire_writev(struct gw_conn *c, const struct iovec *iov, int n)
{
    struct fake_wire *w = (struct fake_wire *)c;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    cr_assert(total > 0, "writev of nothing");
    int rc = wire_take(w, &total);
    if (rc != 0)
        return rc;
    size_t left = total;
    for (int i = 0; i < n && left > 0; i++) {
        size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
        sb_add(&w->got, iov[i].iov_base, k);
        left -= k;
    }
    return (ssize_t)total;
}

static ssize_t wire_sendfile(struct gw_conn *c, int fd, off_t off, size_t len)
{
    struct fake_wire *w = (struct fake_wire *)c;
    char buf[65536];
    if (w->mode.no_sendfile)
        return GW_ENOTSUP;
    if (len > sizeof(buf))
        len = sizeof(buf);
    int rc = wire_take(w, &len);
    if (rc != 0)
        return rc;
    ssize_t k = pread(fd, buf, len, off);
    cr_assert(k >= 0, "pread of the app's file");
    sb_add(&w->got, buf, (size_t)k);
    return k;
}

/* Reads come from the socket, when the test gives the connection one. */
static ssize_t wire_read(struct gw_conn *c, void *buf, size_t len)
{
    return gw_plain_transport.read(c, buf, len);
}

static int wire_shut_write(struct gw_conn *c)
{
    ((struct fake_wire *)c)->shut++;
    return 0;
}

WIRE_UNUSED static const struct gw_transport fake_wire_transport = {
    .read = wire_read,
    .writev = wire_writev,
    .sendfile = wire_sendfile,
    .shut_write = wire_shut_write,
};

/* Fills m[0..WIRE_NMODES): the unlimited socket first, then the slow ones. */
WIRE_UNUSED static void wire_modes(struct wire_mode *m)
{
    size_t k = 0;
    m[k++] = (struct wire_mode){0, 0, 0};
    for (size_t per = 1; per <= WIRE_MAX_PER_CALL; per++)
        for (int refuse = 0; refuse <= 2; refuse++)
            for (int nosf = 0; nosf <= 1; nosf++)
                m[k++] = (struct wire_mode){per, refuse, nosf};
    cr_assert_eq(k, WIRE_NMODES);
}

/* An idle connection on no socket (fd -1) writing through the recording transport. */
WIRE_UNUSED static void wire_init(struct fake_wire *w, const struct wire_mode *m)
{
    memset(w, 0, sizeof(*w));
    w->c.fd = -1;
    gw_spool_init(&w->c.spool); /* fd -1: a zeroed spool would close stdin */
    w->c.state = GW_CONN_DISPATCHED;
    w->c.tr = &fake_wire_transport;
    w->mode = *m;
    gw_out_init(&w->c.send, &w->c);
}

/* Flushes c->send until it is empty, as the loop does on every writable event. */
WIRE_UNUSED static void wire_drain(struct fake_wire *w)
{
    for (int i = 0; i < 1000000 && !gw_out_empty(&w->c.send); i++) {
        int rc = gw_out_flush(&w->c.send, 0);
        cr_assert(rc >= 0, "flush: %d", rc);
    }
    cr_assert(gw_out_empty(&w->c.send), "the queue never drained");
}

/* The parked references the queue gave back (gateway/output.h), all taken. */
WIRE_UNUSED static size_t wire_take_parked(void)
{
    void *refs[64];
    size_t n = 0, k;
    while ((k = gw_out_take_parked(refs, 64)) > 0)
        n += k;
    return n;
}

/* Frees the connection's buffers and queue (not got). */
WIRE_UNUSED static void wire_free(struct fake_wire *w)
{
    gw_out_drop(&w->c.send);
    free(w->c.in.data);
    free(w->c.out.data);
    w->c.in = (struct gw_buf){0};
    w->c.out = (struct gw_buf){0};
}

/* ---- the app's side ------------------------------------------------------------- */

#define APP_MAX_STEPS 8

/* The app's file for "f:" sends. */
WIRE_UNUSED static const char app_file_text[] = "0123456789ABCDEFGHIJ";

/* The app's fields from "Name: value" lines joined by '\n' (NULL: none) into f[0..nf);
 * names and values point into buf. Returns their count. */
WIRE_UNUSED static size_t app_fields(const char *spec, char *buf, size_t cap, struct gw_field *f,
                                     size_t nf)
{
    size_t n = 0;
    if (spec == NULL)
        return 0;
    cr_assert(strlen(spec) < cap);
    strcpy(buf, spec);
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *colon = strstr(line, ": ");
        cr_assert(colon != NULL && n < nf, "bad field spec %s", spec);
        f[n].name = gw_slice_make(line, (size_t)(colon - line));
        f[n].value = gw_slice_make(colon + 2, strlen(colon + 2));
        n++;
        line = next;
    }
    return n;
}

/* An unlinked temp file holding app_file_text; the caller closes it. */
WIRE_UNUSED static int app_file(void)
{
    char path[] = "/tmp/wsgate-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    ssize_t n = (ssize_t)sizeof(app_file_text) - 1;
    cr_assert_eq(write(fd, app_file_text, (size_t)n), n);
    return fd;
}

/*
 * One send of the app, from its text: "b:x|y|" gw_request_send_body of the buffers
 * "x", "y", "" ('|' separates them); "r:x" gw_request_send_ref of "x" with a reference
 * made from idx (a kept one is counted in *kept); "f:OFF,LEN" gw_request_send_file of
 * the file fd (app_file), LEN "-" to its end. Returns the call's result.
 */
WIRE_UNUSED static int app_send(struct gw_request *r, const char *step, int fd, int idx,
                                size_t *kept)
{
    const char *arg = step + 2;
    cr_assert(step[0] != '\0' && step[1] == ':', "bad step %s", step);
    if (step[0] == 'b') {
        struct iovec v[32];
        int n = 0;
        for (const char *p = arg;; n++) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            cr_assert(n < 32);
            v[n] = (struct iovec){(void *)p, len};
            if (bar == NULL) {
                n++;
                break;
            }
            p = bar + 1;
        }
        return gw_request_send_body(r, v, n);
    }
    if (step[0] == 'r') {
        int k = -1;
        void *ref = (void *)(uintptr_t)(0x1000 + idx);
        int rc = gw_request_send_ref(r, arg, strlen(arg), ref, &k);
        cr_assert(k == 0 || k == 1, "send_ref left *kept at %d", k);
        *kept += (size_t)k;
        return rc;
    }
    cr_assert_eq(step[0], 'f', "bad step %s", step);
    long off = strtol(arg, NULL, 10);
    const char *comma = strchr(arg, ',');
    cr_assert(comma != NULL);
    size_t len = comma[1] == '-' ? (size_t)-1 : (size_t)strtoul(comma + 1, NULL, 10);
    return gw_request_send_file(r, fd, (off_t)off, len);
}

#endif
