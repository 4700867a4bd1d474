"""Persistent connections: HTTP/1.0 and 1.1 rules, pipelining, the keep-alive
idle timeout, and the pipelining rows H47, H48, H49 of docs/hostile-inputs.md."""
import json
import time

import pytest

from wsgate_util import NoResponse, app_log, chunked, req, server_closed_fully, t, wait_idle

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture
def count_srv(wsgate):
    return wsgate("it_count", stats=True)


def test_http11_keepalive_by_default(count_srv):
    c = count_srv.conn()
    try:
        for i in range(3):
            c.send(req("GET", "/k%d" % i))
            r = c.read_response()
            assert r.status == 200
            assert r.body == b"called GET /k%d\n" % i
            assert not r.has_token("Connection", "close"), r.headers
        assert c.still_open(0.3)
    finally:
        c.close()


def test_http11_connection_close(count_srv):
    c = count_srv.conn()
    try:
        c.send(req("GET", "/a", [("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200
        assert r.has_token("Connection", "close"), r.headers
        assert c.closed_within(t(5))
    finally:
        c.close()


def test_connection_close_with_nothing_unread_closes_without_lingering(count_srv):
    """The client said Connection: close and nothing it sent is unread: the server
    closes its socket at once (as nginx does) instead of lingering to drain input."""
    c = count_srv.conn()
    try:
        c.send(req("GET", "/a", [("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200
        assert c.closed_within(t(5))
        assert server_closed_fully(c.sock, t(1.5)), "the server lingered"
    finally:
        c.close()


def test_connection_close_with_bytes_behind_it_lingers(count_srv):
    """Bytes the client sent after its Connection: close request are unread when the
    response ends: the server lingers (reads and drops them) so the client gets the
    response and a clean end, not a reset; the extra request is never served."""
    c = count_srv.conn()
    try:
        c.send(req("GET", "/a", [("Connection", "close")]) + req("GET", "/behind") +
               b"x" * 65536)
        r = c.read_response()
        assert r.status == 200 and r.body == b"called GET /a\n"
        assert c.closed_within(t(5))
        assert not c.reset, "the connection was reset, not closed cleanly"
        assert not server_closed_fully(c.sock, 0.5), "no lingering with unread bytes"
    finally:
        c.close()
    assert "/behind" not in json.dumps(app_log(count_srv))


def test_http11_connection_close_token_in_list(count_srv):
    c = count_srv.conn()
    try:
        c.send(req("GET", "/a", [("Connection", "foo, Close")]))
        r = c.read_response()
        assert r.status == 200
        assert c.closed_within(t(5))
    finally:
        c.close()


def test_http10_closes_by_default(count_srv):
    c = count_srv.conn()
    try:
        c.send(req("GET", "/a", version="HTTP/1.0", host=None))
        r = c.read_response()
        assert r.status == 200 and r.body == b"called GET /a\n"
        assert not r.has_token("Connection", "keep-alive")
        assert c.closed_within(t(5))
    finally:
        c.close()


def test_http10_keepalive_requested(count_srv):
    c = count_srv.conn()
    try:
        c.send(req("GET", "/a", [("Connection", "keep-alive")], version="HTTP/1.0", host=None))
        r = c.read_response()
        assert r.status == 200 and r.body == b"called GET /a\n"
        if r.has_token("Connection", "keep-alive"):
            c.send(req("GET", "/b", [("Connection", "keep-alive")], version="HTTP/1.0",
                       host=None))
            r2 = c.read_response()
            assert r2.body == b"called GET /b\n"
        else:
            assert c.closed_within(t(5)), "no keep-alive announced, yet left open"
    finally:
        c.close()


def test_http10_keepalive_without_length_closes(wsgate):
    srv = wsgate("it_stream")
    c = srv.conn()
    try:
        c.send(req("GET", "/?n=2&size=5", [("Connection", "keep-alive")], version="HTTP/1.0",
                   host=None))
        r = c.read_response()
        assert r.header("Transfer-Encoding") is None
        assert not r.has_token("Connection", "keep-alive")
        assert r.body == b"aaaaabbbbb"
        assert c.eof
    finally:
        c.close()


def test_pipelining_in_order(wsgate):
    srv = wsgate("it_slow")
    c = srv.conn()
    try:
        c.send(req("GET", "/one?t=%g" % t(0.4)) + req("GET", "/two") +
               req("GET", "/three?t=0.1") + req("GET", "/four"))
        paths = [json.loads(c.read_response().body)["path"] for _ in range(4)]
        assert c.still_open(0.2)
    finally:
        c.close()
    assert paths == ["/one", "/two", "/three", "/four"]


def test_pipelining_with_bodies(wsgate):
    srv = wsgate("it_echo")
    c = srv.conn()
    try:
        c.send(req("POST", "/", [("Content-Length", "5")], b"first") +
               req("POST", "/", [("Transfer-Encoding", "chunked")], chunked(b"sec", b"ond")) +
               req("GET", "/") +
               req("POST", "/", [("Content-Length", "5")], b"fifth"))
        bodies = [json.loads(c.read_response().body)["body"] for _ in range(4)]
    finally:
        c.close()
    assert bodies == ["first", "second", "", "fifth"]


def test_many_pipelined_requests_one_send(count_srv):
    n = 50
    c = count_srv.conn()
    try:
        c.send(b"".join(req("GET", "/p%d" % i) for i in range(n)))
        bodies = [c.read_response().body for _ in range(n)]
    finally:
        c.close()
    assert bodies == [b"called GET /p%d\n" % i for i in range(n)]


def test_h47_valid_then_invalid(count_srv):
    c = count_srv.conn()
    try:
        c.send(req("GET", "/first") + b"GET /second HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n"
               + SMUGGLED)
        r1 = c.read_response()
        assert r1.status == 200 and r1.body == b"called GET /first\n"
        r2 = c.read_response()
        assert r2.status == 400, r2
        assert r2.has_token("Connection", "close"), r2.headers
        assert c.closed_within(t(5))
    finally:
        c.close()
    assert [x["path"] for x in app_log(count_srv)] == ["/first"]


def test_h48_connection_close_then_pipelined(count_srv):
    c = count_srv.conn()
    try:
        c.send(req("GET", "/first", [("Connection", "close")]) + req("GET", "/second"))
        r1 = c.read_response()
        assert r1.status == 200 and r1.body == b"called GET /first\n"
        assert c.closed_within(t(5)), "a second response followed Connection: close"
    finally:
        c.close()
    wait_idle(count_srv)  # a /second it had dispatched would have reached the app
    assert [x["path"] for x in app_log(count_srv)] == ["/first"]


@pytest.mark.parametrize("framing", ["cl", "chunked"])
def test_h49_unread_body_never_parsed(count_srv, framing):
    # The body looks like a request; the app does not read it.
    body = SMUGGLED * 3
    if framing == "cl":
        first = req("POST", "/first?noread=1", [("Content-Length", str(len(body)))], body)
    else:
        first = req("POST", "/first?noread=1", [("Transfer-Encoding", "chunked")],
                    chunked(body[:10], body[10:]))
    c = count_srv.conn()
    try:
        c.send(first + req("GET", "/second"))
        r1 = c.read_response()
        assert r1.status == 200 and r1.body == b"called POST /first\n"
        try:
            r2 = c.read_response()
        except NoResponse:
            r2 = None  # closed instead of draining: allowed
        if r2 is not None:
            assert r2.status == 200 and r2.body == b"called GET /second\n", r2
            assert c.still_open(0.2)
        else:
            assert c.eof
    finally:
        c.close()
    paths = [x["path"] for x in app_log(count_srv)]
    assert "/smuggled" not in paths
    assert paths in (["/first"], ["/first", "/second"])


def test_h49_big_unread_body_closed_or_drained(count_srv):
    # 50 MB announced, only 1 MB sent: the server must not wait for the rest of
    # the body before answering, and must not reuse the connection.
    c = count_srv.conn()
    try:
        c.send(req("POST", "/first?noread=1", [("Content-Length", str(50 * 1024 * 1024))],
                   b"G" * (1024 * 1024)))
        r1 = c.read_response(timeout=t(10))
        assert r1.status == 200
        assert c.closed_within(t(10)), "left open waiting for 49 MB of unread body"
    finally:
        c.close()


def test_unread_small_body_then_keepalive(count_srv):
    c = count_srv.conn()
    try:
        c.send(req("POST", "/first?noread=1", [("Content-Length", "5")], b"hello"))
        r1 = c.read_response()
        assert r1.status == 200
        c.send(req("GET", "/second"))
        try:
            r2 = c.read_response()
            assert r2.body == b"called GET /second\n"
        except NoResponse:
            assert c.eof
    finally:
        c.close()
    assert [x["path"] for x in app_log(count_srv)] in (["/first"], ["/first", "/second"])


@pytest.mark.slow
def test_keepalive_idle_timeout(wsgate):
    srv = wsgate("it_count", "--keep-alive", "1")
    c = srv.conn()
    try:
        c.send(req("GET", "/a"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.still_open(0.4), "closed long before --keep-alive 1"
        assert c.closed_within(t(5)), "idle connection not closed after --keep-alive 1"
        took = time.monotonic() - t0
        assert took < 1 + t(3), took
    finally:
        c.close()


def test_keepalive_survives_short_idle(wsgate):
    srv = wsgate("it_count", "--keep-alive", "3")
    c = srv.conn()
    try:
        c.send(req("GET", "/a"))
        assert c.read_response().status == 200
        assert c.still_open(1.0)
        c.send(req("GET", "/b"))
        assert c.read_response().body == b"called GET /b\n"
    finally:
        c.close()


def test_default_keepalive_longer_than_a_second(count_srv):
    c = count_srv.conn()
    try:
        c.send(req("GET", "/a"))
        assert c.read_response().status == 200
        assert c.still_open(1.5), "default --keep-alive (15 s) closed within 1.5 s"
    finally:
        c.close()


def test_connection_after_error_response_is_closed(count_srv):
    c = count_srv.conn()
    try:
        c.send(b"GET / HTTP/1.1\r\n\r\n")  # no Host
        r = c.read_response()
        assert r.status == 400
        assert c.closed_within(t(5))
    finally:
        c.close()


def test_keepalive_zero_disables_keepalive(wsgate):
    srv = wsgate("it_count", "--keep-alive", "0")
    c = srv.conn()
    try:
        c.send(req("GET", "/a") + req("GET", "/b"))
        r = c.read_response()
        assert r.body == b"called GET /a\n"
        assert r.has_token("Connection", "close"), r.headers
        assert c.closed_within(t(5))
    finally:
        c.close()
