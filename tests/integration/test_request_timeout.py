"""--timeout / --timeout-grace (issue 5): a request still in the app after --timeout
seconds gets a 504 from the server at once (HTTP, FastCGI, SCGI) and a
wsgate.RequestTimeout raised in its thread, so the app unwinds and close() runs;
other requests are served meanwhile; a thread that ignores the exception is logged
as stuck after the grace period. The app is tests/apps/it_timeout.py; its close()
writes the ?mark= file, and it writes ?started= when a request reaches it.

(The prefork half, a stuck worker process replaced by the master through
gw_server_abandon / exit status 75, is tested with the prefork master.)
"""
import os
import re
import time

import pytest

from fcgi_client import cgi_params, open_fcgi
from frontends import require_fastcgi, start_fcgi_wsgate
from scgi_frontends import require_scgi, start_scgi_wsgate
from scgi_client import open_scgi, request_bytes
from wsgate_util import http_get, in_background, logs, t, wait_for, wait_mark


# ---------------------------------------------------------------- HTTP

@pytest.mark.slow
def test_504_in_about_the_timeout_while_others_are_served(wsgate, tmp_path):
    srv = wsgate("it_timeout", "--threads", "4", "--timeout", "1")
    mark, started = str(tmp_path / "closed"), str(tmp_path / "started")
    slow = in_background(http_get, srv, "/sleep?s=5&mark=%s&started=%s" % (mark, started))
    wait_mark(started)  # the slow one is in the app first
    quick = [in_background(http_get, srv, "/quick") for _ in range(20)]
    results = [j() for j in quick]
    assert all(st == 200 and body == b"ok" for st, body, _ in results), results
    status, body, took = slow()
    assert status == 504, (status, body, logs(srv))
    assert b"504 Gateway Timeout" in body
    assert 0.9 < took < 3.0, took  # not after the app's 5 s sleep
    assert not os.path.exists(mark)  # the thread is still sleeping
    # The sleep returns, the exception is raised there, the app unwinds, close() runs.
    wait_mark(mark, t(8))
    # Then every thread serves again.
    again = [in_background(http_get, srv, "/sleep?s=0.3") for _ in range(4)]
    assert all(j()[0] == 200 for j in again)
    text = logs(srv)
    assert re.search(r"\[warning\] GET /sleep\?s=5\S*: still in the app after --timeout 1\.0s: "
                     r"answered 504", text), text
    assert "RequestTimeout" in text
    assert "Traceback" not in text  # a timeout is one line, not an app error dump
    assert re.search(r'"GET /sleep\?s=5\S* HTTP/1\.1" 504 ', srv.access_text()), \
        srv.access_text()


def test_busy_loop_is_interrupted_and_its_thread_freed(wsgate, tmp_path):
    srv = wsgate("it_timeout", "--threads", "2", "--timeout", "1")
    mark = str(tmp_path / "closed")
    status, _, took = http_get(srv, "/busy?mark=" + mark)
    assert status == 504 and took < 3.0, (status, took)
    # A pure-Python loop sees the async exception at once: close() runs right away.
    wait_mark(mark, t(2))
    # Both threads are free: two 0.5 s requests run side by side.
    start = time.monotonic()
    both = [in_background(http_get, srv, "/sleep?s=0.5") for _ in range(2)]
    assert [j()[0] for j in both] == [200, 200]
    assert time.monotonic() - start < t(0.95), "a thread is still busy"


@pytest.mark.slow
def test_ignored_exception_is_logged_as_stuck_after_the_grace(wsgate, tmp_path):
    srv = wsgate("it_timeout", "--threads", "2", "--timeout", "1", "--timeout-grace", "1")
    mark = str(tmp_path / "closed")
    status, _, took = http_get(srv, "/ignore?s=3&mark=" + mark)
    assert status == 504 and took < 2.5, (status, took)
    line = wait_for(lambda: re.search(
        r"\[error\] request GET /ignore\S* stuck in the app for \d+\.\d s after its "
        r"timeout; thread \d+", logs(srv)), t(5), what="the stuck error line")
    assert line
    wait_mark(mark, t(5))  # the app carried on and returned: close() ran
    assert http_get(srv, "/quick")[0] == 200
    wait_for(lambda: "is back after" in logs(srv), t(3), what="the thread back")


@pytest.mark.slow
def test_streaming_response_is_aborted(wsgate, tmp_path):
    """The head went out before the timeout: no 504 is possible; the exception still
    unwinds the app and the response ends without its last chunk."""
    srv = wsgate("it_timeout", "--timeout", "1")
    mark = str(tmp_path / "closed")
    c = srv.conn()
    try:
        c.send(b"GET /stream?s=2&mark=%s HTTP/1.1\r\nHost: x\r\n\r\n" % mark.encode())
        data = c.read_until_close(t(10))
    finally:
        c.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
    assert b"first" in data and b"second" not in data
    assert not data.endswith(b"0\r\n\r\n"), data  # aborted, not complete
    wait_mark(mark, t(3))
    assert "the response has started, interrupting it" in logs(srv)
    assert re.search(r"GET /stream\S*: exception after the response started: "
                     r"wsgate.RequestTimeout", logs(srv)), logs(srv)


def test_504_while_the_worker_waits_for_the_body(wsgate, tmp_path):
    """The worker is blocked reading a body that never comes; the 504 goes out on the
    same socket meanwhile, and the read fails once the client leaves."""
    # --body-buffer 65536: a 100000-byte body reaches the app as it arrives
    srv = wsgate("it_timeout", "--timeout", "1", "--body-buffer", "65536")
    mark = str(tmp_path / "closed")
    c = srv.conn()
    try:
        start = time.monotonic()
        c.send(b"POST /read?mark=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
               % mark.encode() + b"x" * 70000)  # more than the loop reads before dispatch
        resp = c.read_response(timeout=t(5))
        took = time.monotonic() - start
    finally:
        c.close()
    assert resp.status == 504 and resp.has_token("Connection", "close"), resp
    assert took < 3.0, took
    try:
        wait_mark(mark, t(5))
    except AssertionError as e:  # seen once under TSan in CI: keep what the server said
        raise AssertionError("%s\nserver log:\n%s" % (e, logs(srv))) from None
    assert http_get(srv, "/quick")[0] == 200


@pytest.mark.slow
def test_no_timeout_without_the_option(wsgate):
    srv = wsgate("it_timeout")
    status, body, took = http_get(srv, "/sleep?s=1.5")
    assert (status, body) == (200, b"slept") and took >= 1.5


def test_exception_class_is_visible_to_apps(wsgate):
    srv = wsgate("it_timeout")
    assert http_get(srv, "/exc")[:2] == (200, b"wsgate.RequestTimeout")


def test_bad_timeout_option():
    from conftest import run_cli
    r = run_cli("--timeout", "-1", "it_timeout")
    assert r.returncode != 0
    assert len(r.stderr.decode().strip().splitlines()) == 1, r.stderr


# ---------------------------------------------------------------- FastCGI

@pytest.mark.slow
def test_fastcgi_504_and_the_connection_carries_on(wsgate, tmp_path):
    require_fastcgi()
    srv = start_fcgi_wsgate(wsgate, "it_timeout", "--threads", "4", "--timeout", "1")
    mark = str(tmp_path / "closed")
    with open_fcgi(srv, timeout=t(10)) as c:
        from fcgi_client import request_bytes as fcgi_request
        start = time.monotonic()
        c.send(fcgi_request(1, cgi_params("GET", "/sleep?s=3&mark=" + mark), keep_conn=True))
        c.send(fcgi_request(2, cgi_params("GET", "/quick"), keep_conn=True))
        quick = c.read_until_end(2)
        assert quick.complete and quick.status == 200 and quick.body == b"ok", quick
        slow = c.read_until_end(1)
        took = time.monotonic() - start
        assert slow.complete and slow.status == 504, slow
        assert b"504 Gateway Timeout" in slow.body
        assert took < 3.0, took  # the app sleeps 3 s
        # When the thread comes back nothing more is sent for id 1 (the client
        # raises on any record after END_REQUEST), and the connection still works.
        wait_mark(mark, t(8))
        c.send(fcgi_request(3, cgi_params("GET", "/quick"), keep_conn=True))
        again = c.read_until_end(3)
        assert again.complete and again.status == 200, again
        assert slow.records[-1].type == 3 and len([r for r in slow.records
                                                    if r.type == 3]) == 1


# ---------------------------------------------------------------- SCGI

@pytest.mark.slow
def test_scgi_504_then_close(wsgate, tmp_path):
    require_scgi()
    srv = start_scgi_wsgate(wsgate, "it_timeout", "--timeout", "1")
    mark = str(tmp_path / "closed")
    with open_scgi(srv) as c:
        start = time.monotonic()
        c.send(request_bytes("GET", "/sleep?s=3&mark=" + mark))
        resp = c.response(timeout=t(10))
        took = time.monotonic() - start
    assert resp.status == 504 and resp.eof and not resp.reset, resp
    assert resp.body == b"504 Gateway Timeout\n"
    assert took < 2.5, took
    wait_mark(mark, t(8))
    with open_scgi(srv) as c:
        c.send(request_bytes("GET", "/quick"))
        assert c.response().status == 200


@pytest.mark.slow
def test_uwsgi_504_then_close(wsgate, tmp_path):
    """The same over --uwsgi: the 504 as an HTTP status line, then close."""
    from scgi_frontends import require_uwsgi, start_uwsgi_wsgate
    from uwsgi_client import open_uwsgi, request_bytes as uwsgi_request
    require_uwsgi()
    srv = start_uwsgi_wsgate(wsgate, "it_timeout", "--timeout", "1")
    mark = str(tmp_path / "closed")
    with open_uwsgi(srv) as c:
        start = time.monotonic()
        c.send(uwsgi_request("GET", "/sleep?s=3&mark=" + mark))
        resp = c.response(timeout=t(10))
        took = time.monotonic() - start
    assert resp.status == 504 and resp.eof and not resp.reset, resp
    assert resp.raw.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n"), resp
    assert resp.body == b"504 Gateway Timeout\n"
    assert took < 2.5, took
    wait_mark(mark, t(8))
    with open_uwsgi(srv) as c:
        c.send(uwsgi_request("GET", "/quick"))
        assert c.response().status == 200


# ---------------------------------------------------------------- prefork


@pytest.mark.slow
def test_prefork_worker_stuck_in_a_c_call_is_replaced(wsgate, tmp_path):
    """time.sleep(30) is one C call: the exception cannot land until it returns.
    The client gets its 504 at the timeout; after the grace the worker process
    leaves (exit status 75) and the master replaces it; the server keeps serving."""
    srv = wsgate("it_timeout", "-w", "2", "--threads", "2", "--timeout", "1",
                 "--timeout-grace", "1", "--graceful-timeout", "2")
    assert http_get(srv, "/quick")[0] == 200
    status, _, took = http_get(srv, "/sleep?s=30")
    assert status == 504 and took < t(2.5), (status, took)
    line = wait_for(lambda: re.search(r"worker \d \(pid (\d+)\) exited with status 75 \(a "
                                      r"request was stuck past --timeout\); replacing it",
                                      logs(srv)), t(15), what="the stuck worker replaced")
    stuck_pid = int(line.group(1))
    wait_for(lambda: len(re.findall(r"worker \d started", logs(srv))) >= 3, t(10),
             what="the replacement worker")
    for _ in range(20):
        assert http_get(srv, "/quick")[0] == 200
    assert not os.path.exists("/proc/%d/status" % stuck_pid) or \
        "zombie" in open("/proc/%d/status" % stuck_pid).read()
