"""Read timeouts: slowloris (H43), slow body (H44), a body that ends early (H26),
and output that the client never reads (H45)."""
import json
import os
import socket
import time

import pytest

from wsgate_util import (NoResponse, app_log, req, t, tcp_ports, wait_idle, wait_mark, wait_read,
                         wait_server_closed)


def app_outcome(srv, started, rep):
    """After a cut or timed-out upload, once the server has closed the connection:
    "not-called" if the app never started (the server dropped the request while
    buffering the body: fine), else the app's report, which must come (no hang). The
    server (stats=True) has no request in flight first: one it had handed to the app
    has started, and ended."""
    wait_idle(srv)
    if not os.path.exists(started):
        return "not-called"
    wait_mark(rep, what="the app to report after it started")
    with open(rep) as f:
        return json.load(f)


def closed_at(c, deadline_s, trickle=None, interval=0.5):
    """Keeps trickling bytes (if given) every `interval` s until the server
    closes; returns the elapsed time, or None if still open after deadline_s."""
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < deadline_s:
        if trickle is not None:
            piece = trickle[i:i + 1]
            i += 1
            if piece and not c.try_send(piece):
                return time.monotonic() - t0
        try:
            if not c._fill(time.monotonic() + interval):
                return time.monotonic() - t0
        except NoResponse:
            continue
        # got bytes (a 408 or similar): keep reading until the close
    return None


@pytest.mark.slow
def test_h43_slowloris_absolute_head_deadline(wsgate):
    srv = wsgate("it_count", "--read-timeout", "2")
    c = srv.conn()
    try:
        c.send(b"GET / HTTP/1.1\r\n")
        # one header byte every 0.3 s: never idle for long, but the head never ends
        trickle = b"X-Slow: " + b"a" * 200
        took = closed_at(c, t(10), trickle=trickle, interval=0.3)
        assert took is not None, "still open after 10 s of trickling: the head deadline " \
                                 "is reset per byte"
        assert took < 2 + t(2), took
        assert took > 1.0, "closed after %.2fs, before --read-timeout 2" % took
        if c.buf:
            assert c.buf.startswith(b"HTTP/1.1 408"), c.buf[:200]
    finally:
        c.close()
    assert app_log(srv) == []


@pytest.mark.slow
def test_h43_idle_before_first_byte(wsgate):
    srv = wsgate("it_count", "--read-timeout", "2")
    c = srv.conn()
    try:
        took = closed_at(c, t(10))
        assert took is not None, "a silent connection was never closed"
        assert took < 2 + t(3), took
    finally:
        c.close()


@pytest.mark.slow
def test_h44_slow_body_closed_at_read_timeout(wsgate, tmp_path):
    srv = wsgate("it_echo", "--read-timeout", "2", stats=True)
    rep = str(tmp_path / "report.json")
    started = str(tmp_path / "started")
    c = srv.conn()
    try:
        c.send(req("POST", "/?mode=readn&n=1&report=%s&started=%s" % (rep, started),
                   [("Content-Length", "100")], b"x"))
        # one byte every 3 s: each gap is longer than the idle limit
        took = closed_at(c, t(12), trickle=b"y" * 10, interval=3.0)
        assert took is not None, "slow body never timed out"
        assert took < 3 + 2 + t(3), took
    finally:
        c.close()
    d = app_outcome(srv, started, rep)
    assert d == "not-called" or "error" in d, \
        "the app got a complete body from a timed-out upload: %r" % d


@pytest.mark.slow
def test_body_trickle_within_idle_limit_succeeds(wsgate):
    # --read-timeout is an idle limit for bodies: steady progress must not be cut.
    srv = wsgate("it_echo", "--read-timeout", "2")
    c = srv.conn()
    try:
        c.send(req("POST", "/?mode=readn&n=1", [("Content-Length", "6")]))
        for b in b"abcdef":
            time.sleep(0.6)
            c.send(bytes([b]))
        r = c.read_response(timeout=t(10))
    finally:
        c.close()
    assert r.status == 200
    assert json.loads(r.body)["body"] == "abcdef"


@pytest.mark.parametrize("size", ["small", "big"])
@pytest.mark.parametrize("framing", ["cl", "chunked"])
def test_h26_body_ends_early(wsgate, tmp_path, framing, size):
    srv = wsgate("it_echo", stats=True)
    rep = str(tmp_path / "report.json")
    started = str(tmp_path / "started")
    target = "/?mode=readn&n=4096&report=%s&started=%s" % (rep, started)
    # small: 10 of 100 bytes; big: 2 MiB of 20 MiB (more than any pre-read buffer)
    sent = b"0123456789" if size == "small" else b"z" * (2 * 1024 * 1024)
    declared = 100 if size == "small" else 20 * 1024 * 1024
    if framing == "cl":
        data = req("POST", target, [("Content-Length", str(declared))], sent)
    else:
        data = req("POST", target, [("Transfer-Encoding", "chunked")],
                   b"%x\r\n" % len(sent) + sent + b"\r\n%x\r\nab" % (declared - len(sent)))
    c = srv.conn()
    c.send(data)
    if size == "big":
        # the app must be running (reading) before we leave
        wait_mark(started, what="the app to start")
    wait_read(c.sock)  # the server has what was sent: the end comes as a separate event
    ports = tcp_ports(c.sock)
    c.sock.shutdown(socket.SHUT_WR)
    c.close()
    wait_server_closed(ports)  # the server saw the end and judged the request
    d = app_outcome(srv, started, rep)
    assert d == "not-called" or "error" in d, \
        "wsgi.input reported a complete body for a cut upload: %r" % d
    if size == "big":
        assert d != "not-called"
    # and the server is fine afterwards
    assert srv.exchange(req("POST", "/?mode=readn", [("Content-Length", "2")], b"ok")).status \
        == 200


def test_h26_body_ends_early_read_all(wsgate, tmp_path):
    srv = wsgate("it_echo:raw", stats=True)
    rep = str(tmp_path / "report.json")
    started = str(tmp_path / "started")
    c = srv.conn()
    c.send(req("POST", "/?mode=read&report=%s&started=%s" % (rep, started),
               [("Content-Length", str(20 * 1024 * 1024))], b"s" * (2 * 1024 * 1024)))
    wait_mark(started, what="the app to start")
    wait_read(c.sock)
    ports = tcp_ports(c.sock)
    c.close()
    wait_server_closed(ports)
    d = app_outcome(srv, started, rep)
    assert "error" in d, "read() returned a short body as complete: %r" % d


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_h45_unread_pipelined_output_bounded(wsgate):
    srv = wsgate("it_slow", "--send-timeout", "2")
    base = rss_kb(srv.pid)
    c = srv.conn()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        # 200 requests for 1 MiB each, never read: 200 MiB of output
        ports = tcp_ports(c.sock)
        c.try_send(b"".join(req("GET", "/r%d?body=1048576" % i) for i in range(200)))
        # Nothing is read: the server gives up at the send timeout and closes its end
        # (whatever it kept for the client by then shows in its RSS).
        wait_server_closed(ports, t(20))
        grown = rss_kb(srv.pid) - base
        assert grown < 100 * 1024, "RSS grew by %d KiB for unread output" % grown
        # the connection must have been closed at the send timeout
        got = 0
        deadline = time.monotonic() + t(20)
        closed = False
        while time.monotonic() < deadline:
            try:
                if not c._fill(deadline):
                    closed = True
                    break
            except NoResponse:
                break
            got += len(c.buf)
            c.buf = b""
        assert closed, "connection still open long after --send-timeout 2"
        assert got < 150 * 1024 * 1024, "all the output was kept for the client (%d)" % got
    finally:
        c.close()
    # and the server is fine afterwards
    assert srv.exchange(req("GET", "/after")).status == 200
