/*
 * Unit tests of gateway/stats.c and gw_request_times (gateway/request.c): the time
 * split of a request, the counters and histograms as rendered in Prometheus text and
 * JSON, and the property the prefork master relies on: a forked child counting into
 * its slot is seen by the parent. Criterion runs each test in its own process, so
 * every test starts without a mapping.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/protocol.h"
#include "gateway/request.h"
#include "gateway/stats.h"
#include "process/stats_http.h"

#define MS 1000000ull

static const struct gw_protocol fake_scgi = {.name = "scgi"};
static const struct gw_protocol fake_http = {.name = "http"};

/* A finished request: head at 1 s, queue 2 ms, gil 3 ms, app 50 ms of which send 4 ms. */
static struct gw_request finished(const struct gw_protocol *p, int status)
{
    struct gw_request r;
    memset(&r, 0, sizeof(r));
    r.proto = p;
    r.status = status;
    r.bytes_sent = 10;
    r.bytes_in = 5;
    r.t_head = 1000 * MS;
    r.t_worker = r.t_head + 2 * MS;
    r.t_app = r.t_worker + 3 * MS;
    r.t_send = 4 * MS;
    r.t_end = r.t_app + 50 * MS;
    return r;
}

static char *render(int json)
{
    size_t len = 0;
    char *s = gw_stats_render(json, &len);
    cr_assert(s != NULL);
    cr_assert_eq(strlen(s), len, "no NUL inside, length right");
    return s;
}

static void init(int nslots)
{
    char err[256];
    cr_assert_eq(gw_stats_init(nslots, err, sizeof(err)), 0, "%s", err);
}

Test(request_times, split)
{
    struct gw_request r = finished(&fake_http, 200);
    struct gw_request_times t;
    gw_request_times(&r, &t);
    cr_assert_eq(t.queue, 2 * MS);
    cr_assert_eq(t.gil, 3 * MS);
    cr_assert_eq(t.send, 4 * MS);
    cr_assert_eq(t.app, 46 * MS);
    cr_assert_eq(t.total, 55 * MS);
}

Test(request_times, no_app_stamp)
{
    struct gw_request r = finished(&fake_http, 500);
    r.t_app = 0; /* the handler failed before taking the GIL */
    r.t_send = 1 * MS;
    r.t_end = r.t_worker + 7 * MS;
    struct gw_request_times t;
    gw_request_times(&r, &t);
    cr_assert_eq(t.gil, 0);
    cr_assert_eq(t.send, 1 * MS);
    cr_assert_eq(t.app, 6 * MS);
    cr_assert_eq(t.queue + t.gil + t.app + t.send, t.total);
}

Test(request_times, send_never_exceeds_app_phase)
{
    struct gw_request r = finished(&fake_http, 200);
    r.t_send = 500 * MS;
    struct gw_request_times t;
    gw_request_times(&r, &t);
    cr_assert_eq(t.send, 50 * MS);
    cr_assert_eq(t.app, 0);
    cr_assert(t.queue + t.gil + t.app + t.send <= t.total);
}

Test(stats, noop_before_init)
{
    struct gw_request r = finished(&fake_http, 200);
    size_t len;
    gw_stats_note_request(&r); /* must not crash */
    gw_stats_busy_add(1);
    gw_stats_note_restart("exit");
    gw_stats_note_handshake(GW_STATS_HS_OK, 0x0304, 1);
    cr_assert_null(gw_stats_render(0, &len));
}

Test(stats, bad_slot_count)
{
    char err[256];
    cr_assert_eq(gw_stats_init(0, err, sizeof(err)), -1);
    cr_assert(strstr(err, "slots") != NULL, "%s", err);
    cr_assert_eq(gw_stats_init(GW_STATS_MAX_SLOTS + 1, err, sizeof(err)), -1);
}

Test(stats, prometheus_counts_and_histograms)
{
    init(1);
    gw_stats_set_slot(0);
    for (int i = 0; i < 3; i++) {
        struct gw_request r = finished(&fake_scgi, 201);
        gw_stats_note_request(&r);
    }
    struct gw_request r = finished(&fake_http, 404);
    gw_stats_note_request(&r);
    gw_stats_note_reject("http", 503);
    gw_stats_note_restart("max-requests");
    gw_stats_note_restart("no-such-cause");
    gw_stats_threads_add(4);
    gw_stats_busy_add(1);
    gw_stats_queue_set(2);
    gw_stats_inflight_add(3);

    char *s = render(0);
    const char *want[] = {
        "wsgate_requests_total{frontend=\"scgi\",status=\"2xx\"} 3\n",
        "wsgate_requests_total{frontend=\"http\",status=\"4xx\"} 1\n",
        "wsgate_requests_total{frontend=\"http\",status=\"5xx\"} 1\n",
        "wsgate_requests_total{frontend=\"fastcgi\",status=\"2xx\"} 0\n",
        "wsgate_bytes_out_total{frontend=\"scgi\"} 30\n",
        "wsgate_bytes_in_total{frontend=\"http\"} 5\n",
        /* total 55 ms: not in 0.05, in 0.1 */
        "wsgate_request_duration_seconds_bucket{le=\"0.05\"} 0\n",
        "wsgate_request_duration_seconds_bucket{le=\"0.1\"} 4\n",
        "wsgate_request_duration_seconds_bucket{le=\"+Inf\"} 4\n",
        "wsgate_request_duration_seconds_sum 0.220000000\n",
        "wsgate_request_duration_seconds_count 4\n",
        /* gil 3 ms: in 0.005 */
        "wsgate_gil_wait_seconds_bucket{le=\"0.001\"} 0\n",
        "wsgate_gil_wait_seconds_bucket{le=\"0.005\"} 4\n",
        "wsgate_gil_wait_seconds_count 4\n",
        "wsgate_worker_restarts_total{cause=\"max-requests\"} 1\n",
        "wsgate_worker_restarts_total{cause=\"other\"} 1\n",
        "wsgate_worker_restarts_total{cause=\"exit\"} 0\n",
        "# TYPE wsgate_request_duration_seconds histogram\n",
        "# TYPE wsgate_requests_total counter\n",
        "wsgate_workers 1\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect(strstr(s, want[i]) != NULL, "missing %s in\n%s", want[i], s);
    char line[160];
    snprintf(line, sizeof(line),
             "wsgate_worker_threads{worker=\"0\",pid=\"%d\",state=\"busy\"} 1\n", (int)getpid());
    cr_expect(strstr(s, line) != NULL, "%s", s);
    snprintf(line, sizeof(line),
             "wsgate_worker_threads{worker=\"0\",pid=\"%d\",state=\"idle\"} 3\n", (int)getpid());
    cr_expect(strstr(s, line) != NULL, "%s", s);
    snprintf(line, sizeof(line), "wsgate_queue_depth{worker=\"0\",pid=\"%d\"} 2\n", (int)getpid());
    cr_expect(strstr(s, line) != NULL, "%s", s);
    snprintf(line, sizeof(line), "wsgate_requests_in_flight{worker=\"0\",pid=\"%d\"} 3\n",
             (int)getpid());
    cr_expect(strstr(s, line) != NULL, "%s", s);
    cr_expect(s[strlen(s) - 1] == '\n');
    free(s);

    s = render(1);
    cr_expect(strstr(s, "\"scgi\":{\"other\":0,\"1xx\":0,\"2xx\":3,") != NULL, "%s", s);
    cr_expect(strstr(s, "\"count\":4}") != NULL, "%s", s);
    cr_expect(strstr(s, "\"threads\":4,\"busy\":1,\"idle\":3,\"inflight\":3,\"queued\":2") != NULL,
              "%s", s);
    free(s);
}

/* A reload re-executes the process: the reload counts travel in the environment. */
Test(stats, reload_counts_survive_a_reexecution)
{
    setenv(GW_STATS_RELOADS_ENV, "2,5,0", 1);
    init(1);
    cr_expect_null(getenv(GW_STATS_RELOADS_ENV));
    gw_stats_note_reload(0);
    char *s = render(0);
    cr_expect(strstr(s, "wsgate_reloads_total{result=\"done\"} 5\n") != NULL, "%s", s);
    cr_expect(strstr(s, "wsgate_reloads_total{result=\"failed\"} 3\n") != NULL, "%s", s);
    cr_expect(strstr(s, "wsgate_last_reload_failed 1\n") != NULL, "%s", s);
    free(s);
    cr_expect_str_eq(gw_stats_reload_env(), GW_STATS_RELOADS_ENV "=3,5,1");
    gw_stats_note_reload(1);
    s = render(1);
    cr_expect(strstr(s, "\"reloads\":{\"done\":6,\"failed\":3,\"last_failed\":false}") != NULL,
              "%s", s);
    free(s);
}

Test(stats, forked_child_counts_into_its_slot)
{
    init(3);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        gw_stats_set_slot(2);
        gw_stats_threads_add(2);
        struct gw_request r = finished(&fake_http, 302);
        gw_stats_note_request(&r);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gw_stats_note_restart("exit");

    char *s = render(0);
    cr_expect(strstr(s, "wsgate_requests_total{frontend=\"http\",status=\"3xx\"} 1\n") != NULL,
              "%s", s);
    char line[160];
    snprintf(line, sizeof(line),
             "wsgate_worker_threads{worker=\"2\",pid=\"%d\",state=\"idle\"} 2\n", (int)pid);
    cr_expect(strstr(s, line) != NULL, "%s", s);
    cr_expect(strstr(s, "wsgate_worker_restarts_total{cause=\"exit\"} 1\n") != NULL, "%s", s);
    free(s);

    /* the master clears the dead worker's slot; its counters stay */
    gw_stats_slot_exited(2);
    s = render(0);
    cr_expect(strstr(s, "worker=\"2\"") == NULL, "%s", s);
    cr_expect(strstr(s, "wsgate_requests_total{frontend=\"http\",status=\"3xx\"} 1\n") != NULL,
              "%s", s);
    cr_expect(strstr(s, "wsgate_workers 0\n") != NULL, "%s", s);
    free(s);
}

/* TLS handshakes: by result, resumed, by version (1.2 and 1.3 always shown, the others
 * only once seen), summed over the slots (a forked child counts into its own). */
Test(stats, tls_handshakes)
{
    init(2);
    gw_stats_note_handshake(GW_STATS_HS_OK, 0x0304, 0);
    gw_stats_note_handshake(GW_STATS_HS_OK, 0x0303, 1);
    gw_stats_note_handshake(GW_STATS_HS_FAILED, 0x0304, 1); /* version, resumed ignored */
    gw_stats_note_handshake(GW_STATS_HS_TIMEOUT, 0, 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        gw_stats_set_slot(1);
        gw_stats_note_handshake(GW_STATS_HS_OK, 0x0304, 1);
        gw_stats_note_handshake(GW_STATS_HS_OK, 0x0302, 0); /* TLS 1.1 */
        gw_stats_note_handshake(GW_STATS_HS_OK, 0x7f1c, 0); /* no TLS version known */
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *s = render(0);
    const char *want[] = {
        "# TYPE wsgate_tls_handshakes_total counter\n",
        "wsgate_tls_handshakes_total{result=\"ok\"} 5\n",
        "wsgate_tls_handshakes_total{result=\"failed\"} 1\n",
        "wsgate_tls_handshakes_total{result=\"timeout\"} 1\n",
        "wsgate_tls_resumed_total 2\n",
        "wsgate_tls_versions_total{version=\"1.1\"} 1\n",
        "wsgate_tls_versions_total{version=\"1.2\"} 1\n",
        "wsgate_tls_versions_total{version=\"1.3\"} 2\n",
        "wsgate_tls_versions_total{version=\"other\"} 1\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect(strstr(s, want[i]) != NULL, "missing %s in\n%s", want[i], s);
    cr_expect(strstr(s, "version=\"1.0\"") == NULL, "%s", s);
    free(s);
    s = render(1);
    cr_expect(strstr(s, "\"tls\":{\"handshakes\":{\"ok\":5,\"failed\":1,\"timeout\":1},"
                        "\"resumed\":2,\"versions\":{\"1.1\":1,\"1.2\":1,\"1.3\":2,"
                        "\"other\":1}}") != NULL,
              "%s", s);
    free(s);
}

/* Streams per HTTP/2 connection: one observation per closed connection, by frontend
 * (h2, h2c), in cumulative buckets; other names are ignored. */
Test(stats, h2_streams_per_connection)
{
    static const struct gw_protocol fake_h2c = {.name = "h2c"};
    init(1);
    gw_stats_note_h2_conn_end("h2c", 3);
    gw_stats_note_h2_conn_end("h2c", 1);
    gw_stats_note_h2_conn_end("h2", 0);
    gw_stats_note_h2_conn_end("h2", 1001);
    gw_stats_note_h2_conn_end("http", 7); /* not HTTP/2: ignored */
    struct gw_request r = finished(&fake_h2c, 200);
    gw_stats_note_request(&r);
    char *s = render(0);
    const char *want[] = {
        "# TYPE wsgate_h2_streams_per_connection histogram\n",
        "wsgate_h2_streams_per_connection_bucket{frontend=\"h2\",le=\"1\"} 1\n",
        "wsgate_h2_streams_per_connection_bucket{frontend=\"h2\",le=\"1000\"} 1\n",
        "wsgate_h2_streams_per_connection_bucket{frontend=\"h2\",le=\"+Inf\"} 2\n",
        "wsgate_h2_streams_per_connection_sum{frontend=\"h2\"} 1001\n",
        "wsgate_h2_streams_per_connection_count{frontend=\"h2\"} 2\n",
        "wsgate_h2_streams_per_connection_bucket{frontend=\"h2c\",le=\"1\"} 1\n",
        "wsgate_h2_streams_per_connection_bucket{frontend=\"h2c\",le=\"2\"} 1\n",
        "wsgate_h2_streams_per_connection_bucket{frontend=\"h2c\",le=\"5\"} 2\n",
        "wsgate_h2_streams_per_connection_sum{frontend=\"h2c\"} 4\n",
        "wsgate_h2_streams_per_connection_count{frontend=\"h2c\"} 2\n",
        "wsgate_requests_total{frontend=\"h2c\",status=\"2xx\"} 1\n",
        "wsgate_requests_total{frontend=\"h2\",status=\"2xx\"} 0\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect(strstr(s, want[i]) != NULL, "missing %s in\n%s", want[i], s);
    free(s);
    s = render(1);
    cr_expect(strstr(s, "\"h2c\":{\"buckets\":{\"1\":1,\"2\":1,\"5\":2,\"10\":2,\"20\":2,"
                        "\"50\":2,\"100\":2,\"200\":2,\"500\":2,\"1000\":2,\"+Inf\":2},"
                        "\"sum\":4,\"count\":2}") != NULL,
              "%s", s);
    free(s);
}

/* A fresh area shows the two versions TLS serves by default at 0, and no others. */
Test(stats, tls_zero)
{
    init(1);
    char *s = render(0);
    cr_expect(strstr(s, "wsgate_tls_versions_total{version=\"1.2\"} 0\n") != NULL, "%s", s);
    cr_expect(strstr(s, "wsgate_tls_versions_total{version=\"1.3\"} 0\n") != NULL, "%s", s);
    cr_expect(strstr(s, "version=\"other\"") == NULL, "%s", s);
    free(s);
    s = render(1);
    cr_expect(strstr(s, "\"versions\":{\"1.2\":0,\"1.3\":0}") != NULL, "%s", s);
    free(s);
}

/* The responder inherited by a forked worker: the child drops it without removing
 * the parent's socket file; the parent still answers on it. */
Test(stats, forget_after_fork_keeps_parent_socket)
{
    char dir[] = "/tmp/wsgstatsXXXXXX", addr[64], err[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(addr, sizeof(addr), "unix:%s/s.sock", dir);
    init(1);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(loop);
    cr_assert_eq(gw_stats_listen(loop, addr, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(gw_stats_listen(loop, addr, err, sizeof(err)), -1, "only one responder");

    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        gw_stats_forget_after_fork(loop);
        gw_stats_close(); /* a no-op now: must not unlink the parent's socket */
        _exit(access(addr + 5, F_OK) == 0 ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child removed the socket file");
    cr_assert_eq(access(addr + 5, F_OK), 0);

    /* the parent still serves: one client, the loop run until the answer is written */
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)); /* never hang the suite */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", addr + 5);
    cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char req[] = "GET /stats HTTP/1.0\r\n\r\n";
    cr_assert_eq(write(c, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    for (int i = 0; i < 50; i++)
        ev_run(loop, EVRUN_NOWAIT);
    char buf[4096];
    ssize_t n = read(c, buf, sizeof(buf) - 1);
    cr_assert(n > 0);
    buf[n] = '\0';
    cr_expect(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", buf);
    close(c);

    gw_stats_close();
    cr_expect_neq(access(addr + 5, F_OK), 0, "the parent's close removes the socket file");
    ev_loop_destroy(loop);
    rmdir(dir);
}
