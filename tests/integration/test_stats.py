"""--stats ADDR (issue 5): Prometheus text at /metrics, JSON at /stats, served by the
loop without the GIL. The counters are checked against the exact requests each test
sends, over HTTP and FastCGI (tests/integration/fcgi_client.py), with Debian's
prometheus_client parser; the responder's own HTTP handling (404, 405, 400, 431, a
silent client) over raw sockets.

A request is counted right after its response is finished, so a client can read its
response a moment before the counter moves: the tests poll /metrics (with a deadline)
until the expected total shows up, then check every number exactly.
"""
import json
import os
import re
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import free_port, run_cli
from fcgi_client import fcgi_get
from frontends import start_fcgi_wsgate
from wsgate_util import RawConn, connect_to, t, wait_for

prom_parser = pytest.importorskip("prometheus_client.parser")

SLOTS = ("1xx", "2xx", "3xx", "4xx", "5xx")


def start(wsgate, *args, app="it_stats", fastcgi=False, **kw):
    """A server with a --stats listener (srv.stats_port), once both accept."""
    if fastcgi:
        return start_fcgi_wsgate(wsgate, app, *args, stats=True, **kw)
    return wsgate(app, *args, stats=True, **kw)


def stats_get(srv, path, timeout=None, method="GET"):
    return requests.request(method, "http://127.0.0.1:%d%s" % (srv.stats_port, path),
                            timeout=t(5) if timeout is None else timeout)


def metrics(srv, timeout=None):
    """/metrics parsed: {sample name: [(labels, value)]}, plus the families' types."""
    r = stats_get(srv, "/metrics", timeout=timeout)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples, types = {}, {}
    for fam in prom_parser.text_string_to_metric_families(r.text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples, types


def value(samples, name, **labels):
    """The one sample of name whose labels include labels."""
    found = [v for lab, v in samples.get(name, [])
             if all(lab.get(k) == str(x) for k, x in labels.items())]
    assert len(found) == 1, "%s%r: %r" % (name, labels, samples.get(name))
    return found[0]


def total_requests(samples):
    return sum(v for _, v in samples.get("wsgate_requests_total", []))


def wait_total(srv, n):
    """Polls /metrics until n requests are counted; returns the samples."""
    def ready():
        s, _ = metrics(srv)
        return s if total_requests(s) >= n else None
    s = wait_for(ready, t(10), what="%d requests counted in /metrics" % n)
    assert total_requests(s) == n, s["wsgate_requests_total"]
    return s


# ---------------------------------------------------------------- counters

def test_counts_by_frontend_and_class(wsgate):
    srv = start(wsgate, "--threads", "2", fastcgi=True)
    for i in range(7):
        r = requests.get(srv.url("/ok/%d?body=100" % i), timeout=t(10))
        assert r.status_code == 200 and len(r.content) == 100
    for i in range(3):
        r = requests.get(srv.url("/status/404?body=30"), timeout=t(10))
        assert r.status_code == 404
    a = fcgi_get(srv, "/via/fcgi?body=50")
    b = fcgi_get(srv, "/via/fcgi?body=50", body=b"y" * 1234)
    assert a.status == 200 and b.status == 200 and len(b.body) == 50

    s = wait_total(srv, 12)
    expect = {("http", "2xx"): 7, ("http", "4xx"): 3, ("fastcgi", "2xx"): 2}
    for fe in ("http", "fastcgi", "scgi"):
        for cls in SLOTS:
            assert value(s, "wsgate_requests_total", frontend=fe, status=cls) == \
                expect.get((fe, cls), 0), (fe, cls)
    assert value(s, "wsgate_bytes_out_total", frontend="http") == 7 * 100 + 3 * 30
    assert value(s, "wsgate_bytes_out_total", frontend="fastcgi") == 2 * 50
    assert value(s, "wsgate_bytes_in_total", frontend="fastcgi") == 1234
    assert value(s, "wsgate_bytes_in_total", frontend="http") == 0

    for h in ("wsgate_request_duration_seconds", "wsgate_gil_wait_seconds"):
        assert value(s, h + "_count") == 12
        buckets = sorted(((float(lab["le"]), v) for lab, v in s[h + "_bucket"]))
        assert buckets[-1] == (float("inf"), 12)
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), "buckets are cumulative"
        assert 0 <= value(s, h + "_sum") < t(10)

    pid = str(srv.pid)
    assert value(s, "wsgate_worker_threads", worker=0, pid=pid, state="idle") == 2
    assert value(s, "wsgate_worker_threads", worker=0, pid=pid, state="busy") == 0
    assert value(s, "wsgate_queue_depth", worker=0, pid=pid) == 0
    assert 1 << 20 < value(s, "wsgate_worker_rss_bytes", worker=0, pid=pid) < 1 << 34
    assert value(s, "wsgate_workers") == 1
    for cause in ("exit", "signal", "stuck", "max-requests", "reload"):
        assert value(s, "wsgate_worker_restarts_total", cause=cause) == 0


def test_in_flight_drops_before_the_total_counts(wsgate):
    """The gauge and the total move together: a request leaves wsgate_requests_in_flight
    before wsgate_requests_total counts it, and /metrics reads the totals first, so no
    sample holds more requests in flight and counted than the client has sent. The worker
    counts a request after its response is out, so a client reading /metrics at once
    races it; when the gauge dropped only as the loop took the hand-back, a sample
    could count a request twice (test_answers_while_every_thread_is_busy saw it)."""
    srv = start(wsgate, "--threads", "2")
    pid = str(srv.pid)
    bad, sent = [], 0
    deadline = time.monotonic() + t(1)
    with requests.Session() as http:
        while time.monotonic() < deadline:
            sent += 1
            assert http.get(srv.url("/k/%d" % sent), timeout=t(10)).status_code == 200
            s, _ = metrics(srv)
            busy = value(s, "wsgate_requests_in_flight", worker=0, pid=pid)
            if total_requests(s) + busy > sent:
                bad.append((sent, total_requests(s), busy))
    assert not bad, bad[:5]
    s = wait_total(srv, sent)
    assert value(s, "wsgate_requests_in_flight", worker=0, pid=pid) == 0


def test_types_and_json_agree(wsgate):
    srv = start(wsgate)
    for _ in range(4):
        requests.get(srv.url("/x?body=7"), timeout=t(10))
    requests.get(srv.url("/status/500?body=3"), timeout=t(10))
    s = wait_total(srv, 5)
    _, types = metrics(srv)
    assert types["wsgate_requests"] == "counter"
    assert types["wsgate_request_duration_seconds"] == "histogram"
    assert types["wsgate_gil_wait_seconds"] == "histogram"
    assert types["wsgate_worker_threads"] == "gauge"
    assert types["wsgate_requests_in_flight"] == "gauge"

    r = stats_get(srv, "/stats")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    j = r.json()
    for fe in ("http", "fastcgi", "scgi"):
        for cls in SLOTS:
            assert j["requests"][fe][cls] == \
                value(s, "wsgate_requests_total", frontend=fe, status=cls)
    assert j["requests"]["http"]["2xx"] == 4 and j["requests"]["http"]["5xx"] == 1
    assert j["bytes_out"]["http"] == 4 * 7 + 3
    assert j["request_duration_seconds"]["count"] == 5
    assert j["request_duration_seconds"]["buckets"]["+Inf"] == 5
    assert j["gil_wait_seconds"]["count"] == 5
    assert set(j["restarts"]) >= {"exit", "signal", "stuck", "max-requests", "reload"}
    (w,) = j["workers"]
    assert w["pid"] == srv.pid and w["worker"] == 0
    assert w["busy"] + w["idle"] == w["threads"] > 0
    assert w["rss_bytes"] > 1 << 20


@pytest.mark.slow
def test_answers_while_every_thread_is_busy(wsgate, tmp_path):
    srv = start(wsgate, "--threads", "2")
    marks = [str(tmp_path / ("m%d" % i)) for i in range(2)]
    results = []

    def slow(i, mark=None):
        url = "/sleep/%d?t=%s" % (i, t(2))
        if mark:
            url += "&mark=" + mark
        results.append(requests.get(srv.url(url), timeout=t(20)).status_code)

    threads = [threading.Thread(target=slow, args=(i, marks[i])) for i in range(2)]
    for th in threads:
        th.start()
    wait_for(lambda: all(os.path.exists(m) for m in marks), t(10), what="both apps running")
    queued = threading.Thread(target=slow, args=(2,))
    queued.start()
    threads.append(queued)

    def third_queued():
        s, _ = metrics(srv)
        return s if value(s, "wsgate_queue_depth", worker=0, pid=srv.pid) == 1 else None
    wait_for(third_queued, t(5), what="the third request queued")

    t0 = time.monotonic()
    s, _ = metrics(srv, timeout=t(1))
    assert time.monotonic() - t0 < t(1)
    pid = srv.pid
    assert value(s, "wsgate_worker_threads", worker=0, pid=pid, state="busy") == 2
    assert value(s, "wsgate_worker_threads", worker=0, pid=pid, state="idle") == 0
    assert value(s, "wsgate_requests_in_flight", worker=0, pid=pid) == 3
    assert value(s, "wsgate_queue_depth", worker=0, pid=pid) == 1
    assert total_requests(s) == 0
    assert stats_get(srv, "/stats", timeout=t(1)).json()["workers"][0]["busy"] == 2
    for th in threads:
        th.join(t(30))
    assert results == [200, 200, 200]
    s = wait_total(srv, 3)
    assert value(s, "wsgate_requests_in_flight", worker=0, pid=pid) == 0
    # the queued request waited for a thread, so at least one took >= 2 sleeps
    assert value(s, "wsgate_request_duration_seconds_sum") >= 3 * t(2)


def test_overload_503_counted(wsgate, tmp_path):
    srv = start(wsgate, "--threads", "1", "--queue", "1")
    mark = str(tmp_path / "busy")
    out = []
    th = threading.Thread(target=lambda: out.append(requests.get(
        srv.url("/a?t=%s&mark=%s" % (t(2), mark)), timeout=t(20)).status_code))
    th.start()
    wait_for(lambda: os.path.exists(mark), t(10), what="the app running")
    th2 = threading.Thread(target=lambda: out.append(requests.get(
        srv.url("/b"), timeout=t(20)).status_code))
    th2.start()
    wait_for(lambda: value(metrics(srv)[0], "wsgate_queue_depth", worker=0, pid=srv.pid) == 1,
             t(5), what="one request queued")
    r = requests.get(srv.url("/c"), timeout=t(10))
    assert r.status_code == 503
    th.join(t(30))
    th2.join(t(30))
    assert sorted(out) == [200, 200]
    s = wait_total(srv, 3)
    assert value(s, "wsgate_requests_total", frontend="http", status="5xx") == 1
    assert value(s, "wsgate_requests_total", frontend="http", status="2xx") == 2
    # the histograms count requests that reached a worker
    assert value(s, "wsgate_request_duration_seconds_count") == 2


def test_requests_refused_by_the_parsers_counted(wsgate):
    """Requests the front-end refuses before any app code runs count by their status
    class, like the app's answers (nginx counts its 400s too): HTTP on the loop
    (400, 501), HTTP refused by a worker carrying a keep-alive connection (400),
    and SCGI (400)."""
    from scgi_frontends import start_scgi_wsgate
    srv = start_scgi_wsgate(wsgate, "it_stats", stats=True)
    r = raw(srv.port, b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400 "), r
    r = raw(srv.port, b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 501 "), r
    # a good request, then at once a bad one on the same connection
    r = raw(srv.port, b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost t\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 400 " in r, r
    r = raw(srv.scgi_addr[1], b"12:CONTENT_LENGTH,")
    assert r.startswith(b"Status: 400"), r
    s = wait_total(srv, 5)
    expect = {("http", "2xx"): 1, ("http", "4xx"): 2, ("http", "5xx"): 1, ("scgi", "4xx"): 1}
    for fe in ("http", "fastcgi", "scgi"):
        for cls in SLOTS:
            assert value(s, "wsgate_requests_total", frontend=fe, status=cls) == \
                expect.get((fe, cls), 0), (fe, cls)
    # the histograms count requests that reached a worker
    assert value(s, "wsgate_request_duration_seconds_count") == 1


# ---------------------------------------------------------------- the responder

def raw(port, data, timeout=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=t(5))
    try:
        s.settimeout(t(5) if timeout is None else timeout)
        if data:
            s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def test_paths_and_methods(wsgate):
    srv = start(wsgate, app="it_count")
    r = stats_get(srv, "/nothing-here")
    assert r.status_code == 404
    assert r.headers["Connection"] == "close"
    assert stats_get(srv, "/metrics/extra").status_code == 404
    r = stats_get(srv, "/metrics", method="POST")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    assert stats_get(srv, "/stats", method="DELETE").status_code == 405
    assert stats_get(srv, "/metrics?name[]=x").status_code == 200
    h = stats_get(srv, "/metrics", method="HEAD")
    assert h.status_code == 200 and int(h.headers["Content-Length"]) > 100
    out = raw(srv.stats_port, b"HEAD /stats HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"\r\n\r\n")
    assert raw(srv.stats_port, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(srv.stats_port, b"GET /metrics\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    big = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 8000 + b"\r\n\r\n"
    assert raw(srv.stats_port, big).startswith(b"HTTP/1.1 431 ")
    # the app's listener never saw any of it
    assert requests.get(srv.url("/__log"), timeout=t(10)).json() == []


@pytest.mark.slow
def test_silent_clients_do_not_block(wsgate):
    srv = start(wsgate, app="it_count")
    idle = [socket.create_connection(("127.0.0.1", srv.stats_port), timeout=t(5))
            for _ in range(5)]
    half = socket.create_connection(("127.0.0.1", srv.stats_port), timeout=t(5))
    half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    try:
        t0 = time.monotonic()
        assert stats_get(srv, "/metrics", timeout=t(2)).status_code == 200
        assert time.monotonic() - t0 < t(2)
        assert requests.get(srv.url("/x"), timeout=t(10)).status_code == 200
        # the responder gives up on a head that does not arrive (5 s)
        half.settimeout(t(10))
        assert half.recv(100) == b""
    finally:
        for s in idle + [half]:
            s.close()


def test_stats_on_unix_socket(wsgate, unix_sock_dir):
    path = os.path.join(unix_sock_dir, "stats.sock")
    srv = wsgate("it_stats", "--stats", "unix:" + path)
    wait_for(lambda: os.path.exists(path), t(10), what="the stats socket")
    requests.get(srv.url("/one"), timeout=t(10))

    def counted():
        c = RawConn(sock=connect_to(path))
        try:
            c.send(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
            out = c.read_until_close()
        finally:
            c.close()
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        return json.loads(body)["requests"]["http"]["2xx"] == 1
    wait_for(counted, t(10), what="the request counted in /stats on the unix socket")
    rc, problem = srv.stop()
    assert rc == 0 and problem is None
    assert not os.path.exists(path), "the stats socket file is removed at exit"


@pytest.mark.parametrize("addr", ["nonsense", "127.0.0.1:99999", "unix:/nonexistent/d/s.sock"])
def test_bad_stats_address(addr):
    p = run_cli("--stats", addr, "--pythonpath", "tests/apps", "--http",
                "127.0.0.1:%d" % free_port(), "it_count")
    assert p.returncode != 0
    err = p.stderr.decode()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "stats" in lines[0] and addr in lines[0], err


def test_stats_address_in_use(wsgate):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        p = run_cli("--stats", "127.0.0.1:%d" % busy.getsockname()[1], "--pythonpath",
                    "tests/apps", "--http", "127.0.0.1:%d" % free_port(), "it_count")
    finally:
        busy.close()
    assert p.returncode != 0
    assert b"in use" in p.stderr.lower() and len(p.stderr.splitlines()) == 1, p.stderr


# ---------------------------------------------------------------- prefork

def worker_pids(samples):
    return {lab["worker"]: int(lab["pid"])
            for lab, _ in samples.get("wsgate_worker_rss_bytes", [])}


def test_prefork_master_serves_summed_counters_and_restarts(wsgate, tmp_path):
    """-w 2: the master answers /metrics (even with every worker thread asleep in the
    app), sums the workers' counters, labels each worker's gauges, and counts a
    kill -9 as a restart caused by a signal."""
    srv = start(wsgate, "-w", "2", "--threads", "1")
    s = wait_for(lambda: (lambda m: m if len(worker_pids(m)) == 2 else None)(metrics(srv)[0]),
                 t(10), what="two workers in /metrics")
    pids = worker_pids(s)
    assert srv.pid not in pids.values()
    for _ in range(10):
        assert requests.get(srv.url("/x"), timeout=t(5)).status_code == 200
    for _ in range(4):
        assert requests.get(srv.url("/status/404"), timeout=t(5)).status_code == 404
    s = wait_total(srv, 14)
    assert value(s, "wsgate_requests_total", frontend="http", status="2xx") == 10
    assert value(s, "wsgate_requests_total", frontend="http", status="4xx") == 4
    assert value(s, "wsgate_request_duration_seconds_count") == 14
    assert value(s, "wsgate_workers") == 2
    for w, pid in pids.items():
        assert value(s, "wsgate_worker_rss_bytes", worker=w, pid=pid) > 1 << 20

    # every worker thread busy in the app: the master still answers at once
    marks = [str(tmp_path / ("busy%d" % i)) for i in range(2)]
    busy = [threading.Thread(target=requests.get, daemon=True,
                             args=(srv.url("/slow?t=%g&mark=%s" % (t(3), m)),),
                             kwargs={"timeout": t(20)}) for m in marks]
    for th in busy:
        th.start()
    wait_for(lambda: all(os.path.exists(m) for m in marks), t(10),
             what="both workers in the app")
    t0 = time.monotonic()
    s, _ = metrics(srv, timeout=t(2))
    assert time.monotonic() - t0 < t(1)
    busy_threads = [(lab, v) for lab, v in s["wsgate_worker_threads"] if lab["state"] == "busy"]
    assert sum(v for _, v in busy_threads) == 2, s["wsgate_worker_threads"]
    for th in busy:
        th.join(t(20))
    # A request is counted just after its response went out: the client can have it
    # a moment before the worker counts it, and a kill -9 then would lose the count.
    s = wait_total(srv, 16)
    assert value(s, "wsgate_requests_total", frontend="http", status="2xx") == 12

    victim = pids["0"]
    os.kill(victim, 9)
    s = wait_for(lambda: (lambda m: m if worker_pids(m).get("0") not in (None, victim)
                          else None)(metrics(srv)[0]), t(10), what="worker 0 replaced")
    assert value(s, "wsgate_worker_restarts_total", cause="signal") == 1
    assert value(s, "wsgate_worker_restarts_total", cause="exit") == 0
    # the replacement keeps adding to slot 0's counters: nothing went backwards
    assert value(s, "wsgate_requests_total", frontend="http", status="2xx") >= 12
    # only the master listens for the metrics, so only it says so
    assert srv.error_text().count("metrics on ") == 1, srv.error_text()


@pytest.mark.slow
def test_max_rss_retires_a_worker_that_grows(wsgate):
    """--max-rss 100 -w 2: each hit holds 50 MiB more in its worker; a worker past
    100 MiB resident retires gracefully (no request fails), is replaced by a new pid,
    says so with its size in the log, and /metrics counts it under cause="max-rss"."""
    srv = start(wsgate, "-w", "2", "--threads", "2", "--max-rss", "100")
    first = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(worker_pids(metrics(srv)[0])),
                     t(10), what="two workers in /metrics")

    def retired():
        s, _ = metrics(srv)
        return s if value(s, "wsgate_worker_restarts_total", cause="max-rss") >= 1 else None

    statuses, s = [], None
    for _ in range(12):  # two or three hits per worker are enough
        statuses.append(requests.get(srv.url("/x?hold=50"), timeout=t(20)).status_code)
        s = retired()
        if s is not None:
            break
    else:
        s = wait_for(retired, t(10), what="a worker retired for --max-rss")
    assert statuses == [200] * len(statuses)
    assert value(s, "wsgate_worker_restarts_total", cause="max-requests") == 0
    assert value(s, "wsgate_worker_restarts_total", cause="exit") == 0
    now = wait_for(lambda: (lambda p: p if len(p) == 2 and p != first else None)(
        worker_pids(metrics(srv)[0])), t(10), what="the retired worker replaced")
    assert set(now.values()) - set(first.values())
    log = srv.error_text()
    assert re.search(r"resident memory \d+ MiB is over --max-rss 100 MiB: retiring", log), log
    assert "(retired: over --max-rss)" in log, log
    assert requests.get(srv.url("/x"), timeout=t(5)).status_code == 200


@pytest.mark.slow
def test_max_rss_reloads_a_single_process(wsgate):
    """Without a master, going over --max-rss reloads through a bridge (as
    --max-requests does): the same pid, re-executed, memory given back, no request
    failed, counted as a reload."""
    srv = start(wsgate, "--max-rss", "100")
    statuses = []

    def reloaded():
        s, _ = metrics(srv)
        return s if value(s, "wsgate_reloads_total", result="done") >= 1 else None

    for _ in range(8):
        statuses.append(requests.get(srv.url("/x?hold=50"), timeout=t(20)).status_code)
        if srv.error_text().count("over --max-rss"):
            break
    wait_for(reloaded, t(20), what="the reload done")
    assert statuses == [200] * len(statuses)
    assert srv.proc.poll() is None
    with open("/proc/%d/statm" % srv.pid) as f:  # the re-executed image: memory given back
        assert int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") < 100 << 20
    assert srv.error_text().count("over --max-rss 100 MiB: retiring") == 1, srv.error_text()
    assert requests.get(srv.url("/x"), timeout=t(5)).status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_metrics_never_reset_across_reloads(wsgate, processes):
    """A metrics request accepted just before a reload re-executes the process that
    serves them is answered, not reset by the exec (the socket's backlog waits for the
    next image): metrics polled without pause through three reloads all get 200."""
    srv = start(wsgate, "-w", str(processes))
    stop, errors, done = threading.Event(), [], [0]

    def poll():
        while not stop.is_set():
            try:
                r = stats_get(srv, "/stats", timeout=t(10))
                if r.status_code != 200:
                    errors.append(r.status_code)
                done[0] += 1
            except requests.RequestException as e:
                errors.append(repr(e))

    th = [threading.Thread(target=poll, daemon=True) for _ in range(2)]
    for x in th:
        x.start()
    try:
        for n in range(1, 4):
            srv.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: stats_get(srv, "/stats").json()["reloads"]["done"] >= n, t(30),
                     what="reload %d done" % n)
    finally:
        stop.set()
        for x in th:
            x.join(t(10))
    assert errors == [] and done[0] > 0, (errors[:5], done[0])
