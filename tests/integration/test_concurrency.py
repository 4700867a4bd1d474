"""The worker pool: --threads N runs N requests at once, and no more."""
import json
import os
import re
import socket
import threading
import time

import pytest
import requests

from wsgate_util import app_log, req, t, wait_log, wait_mark, wait_metric, wait_read


def parallel_get(urls, timeout):
    results = [None] * len(urls)

    def one(i, u):
        try:
            results[i] = requests.get(u, timeout=timeout)
        except Exception as e:  # reported below
            results[i] = e
    ths = [threading.Thread(target=one, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout + 5)
    return results, time.monotonic() - t0


def test_eight_threads_eight_sleepers(wsgate):
    srv = wsgate("it_slow", "--threads", "8")
    results, took = parallel_get([srv.url("/s%d?t=1" % i) for i in range(8)], t(20))
    for r in results:
        assert isinstance(r, requests.Response), r
        assert r.status_code == 200
    assert took < t(2.5), "8 x 1 s requests on 8 threads took %.2fs" % took
    assert len({r.json()["thread"] for r in results}) == 8


@pytest.mark.slow
def test_two_threads_bound_concurrency(wsgate):
    srv = wsgate("it_slow", "--threads", "2")
    results, took = parallel_get([srv.url("/s%d?t=1" % i) for i in range(4)], t(20))
    for r in results:
        assert isinstance(r, requests.Response) and r.status_code == 200, r
    assert took >= 1.9, "4 x 1 s requests on 2 threads took only %.2fs" % took
    assert took < t(3.5), took
    assert len({r.json()["thread"] for r in results}) == 2


@pytest.mark.slow
def test_slow_request_does_not_block_fast_one(wsgate, tmp_path):
    srv = wsgate("it_slow", "--threads", "4")
    th_results = {}
    mark = str(tmp_path / "slow")

    def slow():
        th_results["slow"] = requests.get(srv.url("/slow?t=%g&mark=%s" % (t(2), mark)),
                                          timeout=t(20))
    th = threading.Thread(target=slow, daemon=True)
    th.start()
    wait_mark(mark)  # the slow one holds a worker thread
    t0 = time.monotonic()
    r = requests.get(srv.url("/fast"), timeout=t(20))
    fast = time.monotonic() - t0
    th.join(t(20))
    assert r.status_code == 200
    assert fast < t(1), "a fast request waited %.2fs behind a slow one" % fast
    assert th_results["slow"].status_code == 200


def test_many_connections_many_requests(wsgate):
    srv = wsgate("it_count", "--threads", "4")
    errors = []

    def client(k):
        try:
            s = requests.Session()
            for i in range(20):
                r = s.get(srv.url("/c%d-%d" % (k, i)), timeout=t(20))
                if r.text != "called GET /c%d-%d\n" % (k, i):
                    errors.append(r.text)
        except Exception as e:
            errors.append(repr(e))
    ths = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(16)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(t(60))
    assert errors == []
    assert len(app_log(srv)) == 16 * 20


def test_idle_connections_do_not_pin_workers(wsgate):
    # Connections that never send a full request must not occupy worker threads.
    srv = wsgate("it_count", "--threads", "2")
    idle = [srv.conn() for _ in range(10)]
    try:
        for c in idle[:5]:
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # head never completed
        t0 = time.monotonic()
        r = requests.get(srv.url("/through"), timeout=t(10))
        assert r.text == "called GET /through\n"
        assert time.monotonic() - t0 < t(2)
    finally:
        for c in idle:
            c.close()


@pytest.mark.parametrize("framing", ["cl", "chunked"])
def test_slow_small_uploads_do_not_pin_workers(wsgate, framing):
    # A small body that fits the buffer is read before dispatch, so a slow uploader
    # does not pin a worker (docs/hostile-inputs.md C03). Three stalled small uploads,
    # two threads.
    srv = wsgate("it_count", "--threads", "2")
    stalled = [srv.conn() for _ in range(3)]
    try:
        for i, c in enumerate(stalled):
            if framing == "cl":
                c.send(req("POST", "/stalled%d" % i, [("Content-Length", "100")], b"x" * 10))
            else:
                c.send(req("POST", "/stalled%d" % i, [("Transfer-Encoding", "chunked")],
                           b"64\r\n" + b"x" * 10))
        for c in stalled:  # the server has read (and judged) every stalled head
            wait_read(c.sock)
        t0 = time.monotonic()
        r = requests.get(srv.url("/through"), timeout=t(10))
        took = time.monotonic() - t0
        assert r.text == "called GET /through\n"
        assert took < t(2), "a request waited %.2fs behind stalled small uploads" % took
    finally:
        for c in stalled:
            c.close()


@pytest.mark.slow
def test_full_queue_answers_503(wsgate, tmp_path):
    # A full queue is answered at once (503 with Retry-After), never left to pile
    # up (docs/architecture.md, worker threads). One thread busy, one request
    # queued, the next refused.
    srv = wsgate("it_slow", "--threads", "1", "--queue", "1", stats=True)
    mark = str(tmp_path / "busy")
    busy = [srv.conn() for _ in range(2)]
    try:
        busy[0].send(req("GET", "/busy?t=%g&mark=%s" % (t(4), mark)))
        wait_mark(mark)
        busy[1].send(req("GET", "/queued"))
        wait_metric(srv, "wsgate_queue_depth", 1)
        t0 = time.monotonic()
        c = srv.conn()
        try:
            c.send(req("GET", "/refused"))
            r = c.read_response(timeout=t(10))
        finally:
            c.close()
        assert r.status == 503, r
        assert r.header("Retry-After") is not None, r.headers
        assert time.monotonic() - t0 < t(1), "503 was not immediate"
        # A flood of refusals is one warning a second, the others counted into the next
        for i in range(20):
            assert srv.exchange(req("GET", "/refused%d" % i)).status == 503
        flood = time.monotonic() - t0
        time.sleep(1.1)  # the rule is time-based: a second after the flood, the next logs
        assert srv.exchange(req("GET", "/refused-later")).status == 503
        wait_log(srv, r"request queue full, refusing a request \(and \d+ more since the last")
        lines = [ln for ln in srv.error_text().splitlines() if "request queue full" in ln]
        more = sum(int(n) for n in re.findall(r"\(and (\d+) more since", "\n".join(lines)))
        assert len(lines) + more == 22, lines
        assert len(lines) <= 2 + flood, lines
        assert json.loads(busy[0].read_response(timeout=t(10)).body)["path"] == "/busy"
        assert json.loads(busy[1].read_response(timeout=t(10)).body)["path"] == "/queued"
    finally:
        for b in busy:
            b.close()


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


BROWSER_FIELDS = [
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101"),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.5"), ("Accept-Encoding", "gzip, deflate"),
    ("Referer", "http://localhost/index.html"), ("Cookie", "session=" + "a" * 40),
    ("Upgrade-Insecure-Requests", "1"), ("Sec-Fetch-Dest", "document"),
    ("Sec-Fetch-Mode", "navigate")]


def test_a_queued_request_costs_a_few_kib(wsgate, tmp_path):
    """While its request waits for a thread, a connection holds its own state and the
    bytes of its head, not room sized by the limits (--max-headers fields, a whole
    read): 500 keep-alive clients with a browser-sized head (ten fields, some 400
    bytes) queued behind one busy thread cost under 6 KiB each. Before the field array
    and the input buffer were sized to the head, each cost 10 KiB; docs/benchmarks.md
    measures it at 10,000 connections."""
    n = 500
    srv = wsgate("it_slow", "--threads", "1", "--queue", str(2 * n), stats=True)
    mark, until = str(tmp_path / "busy"), str(tmp_path / "free")
    fields = BROWSER_FIELDS
    busy = srv.conn()
    clients = []
    try:
        busy.send(req("GET", "/busy?t=%g&mark=%s&until=%s" % (t(30), mark, until)))
        wait_mark(mark)
        before = _rss_kib(srv.pid)
        for i in range(n):
            c = srv.conn()
            clients.append(c)
            c.send(req("GET", "/queued/%d" % i, fields))
        wait_metric(srv, "wsgate_queue_depth", n)
        per_conn = (_rss_kib(srv.pid) - before) * 1024 / n
        open(until, "w").close()
        assert json.loads(busy.read_response(timeout=t(10)).body)["path"] == "/busy"
        for i, c in enumerate(clients[:3]):
            assert json.loads(c.read_response(timeout=t(10)).body)["path"] == "/queued/%d" % i
    finally:
        for c in [busy] + clients:
            c.close()
    if "ASAN_OPTIONS" not in os.environ and "TSAN_OPTIONS" not in os.environ:
        # a sanitizer's allocator pads every block
        assert per_conn < 6 * 1024, "%.0f bytes per queued connection" % per_conn


def _cgi_request(proto, target):
    """A GET for target as nginx's stock params send it over proto, with the
    browser's fields as HTTP_* variables."""
    if proto == "fastcgi":
        import fcgi_client
        return fcgi_client.request_bytes(1, fcgi_client.cgi_params("GET", target,
                                                                   headers=BROWSER_FIELDS))
    import scgi_client
    import uwsgi_client
    client = scgi_client if proto == "scgi" else uwsgi_client
    return client.request_bytes("GET", target, headers=BROWSER_FIELDS)


@pytest.mark.parametrize("proto", ["fastcgi", "scgi", "uwsgi"])
def test_a_queued_cgi_request_costs_a_few_kib(wsgate, tmp_path, proto):
    """The same behind a front server: 300 connections of FastCGI, SCGI or uwsgi, each
    with a bodiless request of some 30 variables, queued behind one busy thread, cost
    under 8 KiB each. Before, each held room sized by the limits, not by its request:
    a 64 KiB read buffer and a 64 KiB PARAMS arena with room for 512 pairs (FastCGI,
    32 KiB measured), or an array of 512 variables and 4 KiB of body room behind a
    head without a body (SCGI and uwsgi, 26 KiB)."""
    from frontends import start_fcgi_wsgate
    from scgi_frontends import start_scgi_wsgate, start_uwsgi_wsgate
    n = 300
    start = {"fastcgi": start_fcgi_wsgate, "scgi": start_scgi_wsgate,
             "uwsgi": start_uwsgi_wsgate}[proto]
    srv = start(wsgate, "it_slow", "--threads", "1", "--queue", str(2 * n), stats=True)
    addr = srv.backend.addr
    mark, until = str(tmp_path / "busy"), str(tmp_path / "free")
    busy = socket.create_connection(addr, t(5))
    clients = []
    try:
        busy.sendall(_cgi_request(proto, "/busy?t=%g&mark=%s&until=%s" % (t(30), mark, until)))
        wait_mark(mark)
        before = _rss_kib(srv.pid)
        for i in range(n):
            c = socket.create_connection(addr, t(5))
            clients.append(c)
            c.sendall(_cgi_request(proto, "/queued/%d" % i))
        wait_metric(srv, "wsgate_queue_depth", n)
        per_conn = (_rss_kib(srv.pid) - before) * 1024 / n
        open(until, "w").close()
        busy.settimeout(t(10))
        answer = b""
        while b"/busy" not in answer:
            piece = busy.recv(65536)
            assert piece, answer
            answer += piece
        wait_metric(srv, "wsgate_queue_depth", 0)  # every queued request ran
    finally:
        for c in [busy] + clients:
            c.close()
    if "ASAN_OPTIONS" not in os.environ and "TSAN_OPTIONS" not in os.environ:
        assert per_conn < 8 * 1024, "%.0f bytes per queued connection" % per_conn
