"""Scale-out (docs/scale-out.md): --health-path, answered by wsgate itself on the
loop (200 while serving, 503 once draining), over HTTP, FastCGI and SCGI and while
every worker thread is busy; --drain-delay, which keeps a stopping process serving
with its health path at 503 so that load balancers take it out before its listeners
close (single process and prefork); and, as root, several wsgate "hosts" in network
namespaces of their own behind HAProxy, one drained with SIGTERM and one killed with
SIGKILL under load, without a failed request."""
import json
import os
import signal
import time

import pytest
import requests

import fcgi_client as fc
from scgi_client import ScgiConn, request_bytes as scgi_request
from wsgate_util import free_port, t, wait_for, wait_log


def http_health(srv, path="/healthz", method="GET"):
    """The raw status line and body of one health request on a new connection; the
    server must close the connection after it."""
    r = srv.exchange(("%s %s HTTP/1.1\r\nHost: t\r\n\r\n" % (method, path)).encode(),
                     method=method)
    return r


def test_health_path_answered_by_the_loop_on_every_front_end(wsgate, tmp_path):
    fport, sport = free_port(), free_port()
    srv = wsgate("it_slow", "--threads", "1", "--health-path", "/healthz",
                 "--fastcgi", "127.0.0.1:%d" % fport, "--scgi", "127.0.0.1:%d" % sport)
    # The only thread is busy in the app (and a request waits in the queue behind
    # it): the health check is answered all the same, at once.
    mark = str(tmp_path / "busy")
    busy = srv.conn()
    busy.send(("GET /busy?t=%s&mark=%s HTTP/1.1\r\nHost: t\r\n\r\n" % (t(3), mark)).encode())
    wait_for(lambda: os.path.exists(mark), t(10), what="the slow request to reach the app")
    queued = srv.conn()
    queued.send(b"GET /queued HTTP/1.1\r\nHost: t\r\n\r\n")
    t0 = time.monotonic()
    r = http_health(srv)
    assert r.status == 200 and r.body == b"200 OK\n", r
    assert r.header("connection") == "close"
    assert http_health(srv, "/healthz?from=haproxy").status == 200
    head = http_health(srv, method="HEAD")
    assert head.status == 200 and head.body == b""
    # HAProxy's `option httpchk /path` sends OPTIONS
    assert http_health(srv, method="OPTIONS").status == 200
    # FastCGI (HAProxy `use-fcgi-app` backends check through it): a whole response,
    # and a kept connection carries on.
    with fc.FcgiConn(("127.0.0.1", fport)) as c:
        for rid in (1, 2):
            res = c.request(fc.cgi_params(uri="/healthz"), rid=rid, keep_conn=True)
            assert res.status == 200 and res.body == b"200 OK\n", res
            assert res.protocol_status == fc.REQUEST_COMPLETE
    with ScgiConn(("127.0.0.1", sport)) as c:
        c.try_send(scgi_request("GET", "/healthz"))
        res = c.response()
    assert res.status == 200 and res.body == b"200 OK\n", res
    assert time.monotonic() - t0 < t(2), "a health answer waited for the busy thread"
    # Only the exact path: /healthz/x and /healthzz are the app's.
    busy.read_response()
    queued.read_response()
    r = srv.exchange(b"GET /healthzz?t=0 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert json.loads(r.body)["path"] == "/healthzz"
    busy.close()
    queued.close()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_drain_delay_serves_with_health_503_then_stops(wsgate, workers):
    delay = t(1.5)
    srv = wsgate("it_slow", "--health-path", "/healthz", "--drain-delay", str(delay),
                 "--processes", str(workers))
    if workers > 1:
        wait_log(srv, r"%d workers ready" % workers)
    assert http_health(srv).status == 200
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    wait_log(srv, r"draining")
    if workers > 1:  # each worker hears it from the master
        wait_log(srv, r"answers 503 until the stop", count=workers)
    # Still accepting and serving; only the health check says "going away".
    for _ in range(3):
        r = http_health(srv)
        assert r.status == 503 and r.header("retry-after") == "1", r
        assert requests.get(srv.url("/app?t=0"), timeout=t(5)).status_code == 200
    assert srv.wait_exit(t(15)) == 0
    assert time.monotonic() - t0 >= delay * 0.9, "stopped before --drain-delay had run"
    wait_log(srv, r"stopping gracefully")


def test_health_path_checks(wsgate):
    from conftest import run_cli
    r = run_cli("--health-path", "healthz", "hello")
    assert r.returncode == 2 and b"must start with '/'" in r.stderr
    r = run_cli("--health-path", "/up", "--script-name", "/app", "hello")
    assert r.returncode == 2 and b"--health-path /up must be under --script-name /app" \
        in r.stderr

