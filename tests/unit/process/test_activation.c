/*
 * Unit tests of gw_activation_parse (process/activation.c), the pure reading of
 * systemd's LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES: a table of {environment, our
 * pid, expected verdict, expected front-end per descriptor or expected error}. The
 * glue that checks real descriptors is covered by
 * tests/integration/test_socket_activation.py.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "process/activation.h"

#define NOPE NULL /* variable unset */
#define MAX  8

struct row {
    const char *pid, *fds, *names;
    pid_t me;
    int rc;
    const char *want; /* rc 0: protocols joined by ',' ("" = none); rc -1: text in err */
};

static const struct row rows[] = {
    /* absent or meant for someone else: nothing, no error */
    {NOPE, NOPE, NOPE, 42, 0, ""},
    {"42", NOPE, NOPE, 42, 0, ""},
    {NOPE, "2", NOPE, 42, 0, ""},
    {"41", "2", "http:fastcgi", 42, 0, ""},
    {"41", "junk", "junk", 42, 0, ""}, /* not ours: not even checked */
    {"42", "0", NOPE, 42, 0, ""},
    {"42", "0", "", 42, 0, ""},
    /* ours */
    {"42", "1", NOPE, 42, 0, "http@3"},
    {"42", "3", NOPE, 42, 0, "http@3,http@4,http@5"},
    {"42", "1", "http", 42, 0, "http@3"},
    {"42", "1", "unknown", 42, 0, "http@3"},
    {"42", "3", "fastcgi:scgi:http", 42, 0, "fastcgi@3,scgi@4,http@5"},
    {"42", "2", "unknown:fastcgi", 42, 0, "http@3,fastcgi@4"},
    {"42", "2", "https:http", 42, 0, "https@3,http@4"},
    {"42", "2", "uwsgi:scgi", 42, 0, "uwsgi@3,scgi@4"},
    {"42", "8", "http:http:http:http:http:http:http:scgi", 42, 0,
     "http@3,http@4,http@5,http@6,http@7,http@8,http@9,scgi@10"},
    /* malformed */
    {"x42", "1", NOPE, 42, -1, "invalid LISTEN_PID"},
    {"", "1", NOPE, 42, -1, "invalid LISTEN_PID"},
    {"0", "1", NOPE, 42, -1, "invalid LISTEN_PID"},
    {"-42", "1", NOPE, 42, -1, "invalid LISTEN_PID"},
    {"99999999999", "1", NOPE, 42, -1, "invalid LISTEN_PID"},
    {"42", "", NOPE, 42, -1, "invalid LISTEN_FDS"},
    {"42", "-1", NOPE, 42, -1, "invalid LISTEN_FDS"},
    {"42", "1x", NOPE, 42, -1, "invalid LISTEN_FDS"},
    {"42", "9", NOPE, 42, -1, "at most 8 sockets"},
    {"42", "99999999999999999999", NOPE, 42, -1, "invalid LISTEN_FDS"},
    /* names */
    {"42", "1", "ajp", 42, -1, "unknown name 'ajp' for fd 3"},
    {"42", "2", "http:HTTP", 42, -1, "unknown name 'HTTP' for fd 4"},
    {"42", "1", "", 42, -1, "unknown name '' for fd 3"},
    {"42", "2", "http:", 42, -1, "unknown name '' for fd 4"},
    {"42", "1", "http:fastcgi", 42, -1, "names 2 sockets but LISTEN_FDS is 1"},
    {"42", "3", "http:fastcgi", 42, -1, "names 2 sockets but LISTEN_FDS is 3"},
    {"42", "1", "httpx", 42, -1, "unknown name 'httpx'"},
    {"42", "1", "htt", 42, -1, "unknown name 'htt'"},
};

ParameterizedTestParameters(activation, table)
{
    static size_t idx[sizeof(rows) / sizeof(rows[0])];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof(rows) / sizeof(rows[0]));
}

ParameterizedTest(size_t *i, activation, table)
{
    const struct row *r = &rows[*i];
    struct gw_activated out[MAX];
    char err[256] = "";
    char got[512] = "";
    size_t n = 99;
    memset(out, 0xa5, sizeof(out));
    int rc = gw_activation_parse(r->pid, r->fds, r->names, r->me, out, MAX, &n, err, sizeof(err));
    cr_assert_eq(rc, r->rc, "row %zu: rc %d, want %d (err '%s')", *i, rc, r->rc, err);
    if (rc != 0) {
        cr_assert_eq(n, 0, "row %zu: n %zu on error", *i, n);
        cr_assert(strstr(err, r->want) != NULL, "row %zu: err '%s' lacks '%s'", *i, err, r->want);
        cr_assert(strchr(err, '\n') == NULL, "row %zu: err is more than one line", *i);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        size_t used = strlen(got);
        snprintf(got + used, sizeof(got) - used, "%s%s@%d", k ? "," : "", out[k].proto, out[k].fd);
    }
    cr_assert_str_eq(got, r->want, "row %zu", *i);
}

/* The protocol strings outlive the environment (which the glue unsets). */
Test(activation, names_are_static)
{
    char names[] = "scgi:fastcgi";
    struct gw_activated out[2];
    char err[128];
    size_t n;
    cr_assert_eq(gw_activation_parse("7", "2", names, 7, out, 2, &n, err, sizeof(err)), 0);
    memset(names, 'x', sizeof(names) - 1);
    cr_assert_str_eq(out[0].proto, "scgi");
    cr_assert_str_eq(out[1].proto, "fastcgi");
}

/* A long unknown name is cut in the message, never overflows it. */
Test(activation, long_name_cut)
{
    char names[600];
    memset(names, 'a', sizeof(names) - 1);
    names[sizeof(names) - 1] = '\0';
    struct gw_activated out[1];
    char err[200];
    size_t n;
    cr_assert_eq(gw_activation_parse("7", "1", names, 7, out, 1, &n, err, sizeof(err)), -1);
    cr_assert(strlen(err) < sizeof(err));
    cr_assert(strstr(err, "unknown name 'aaaa") != NULL, "%s", err);
}
