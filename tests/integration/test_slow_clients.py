"""Slow readers never hold a worker (docs/hostile-inputs.md C01, C02; C04 for FastCGI,
SCGI and uwsgi front servers): clients that ask
for large responses and read nothing leave the workers free at once; what their
sockets do not take is finished by the loop (the app's bytes held by reference, or
the spill file past the memory limits, or the app's file sent with sendfile), and a
slow reader that finally reads gets its whole body, byte for byte.

The app is tests/apps/it_big.py: every byte of a body is checkable."""
import socket
import sys
import time

import pytest

from wsgate_util import RawConn, metrics, t, wait_for

sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..",
                                              "apps"))
import it_big  # noqa: E402

SIZE = 8 << 20
SLOW = 6  # more than the 2 threads


def slow_connection(srv):
    """A client whose receive window stays tiny: it reads nothing."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
    s.settimeout(t(30))
    s.connect((srv.host, srv.port))
    return s


def answered(srv, n):
    return srv.access_text().count('" 200 ') >= n


@pytest.mark.parametrize("mode", ["bytes", "chunks", "file"])
def test_slow_readers_do_not_hold_the_workers(wsgate, mode):
    # --send-timeout 60: a worker blocked on a slow reader would hold on that long
    srv = wsgate("it_big", "--threads", "2", "--send-timeout", "60")
    slow = [slow_connection(srv) for _ in range(SLOW)]
    try:
        for s in slow:
            s.sendall(b"GET /big?mode=%s&size=%d HTTP/1.1\r\nHost: t\r\n\r\n"
                      % (mode.encode(), SIZE))
        # Every slow request ran in the app and its worker moved on (the access line
        # is written when the worker is done), though no byte was read.
        wait_for(lambda: answered(srv, SLOW), t(20), what="the workers to be done")
        fast = RawConn(srv)
        t0 = time.monotonic()
        fast.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        r = fast.read_response(timeout=t(5))
        assert (r.status, r.body) == (200, b"hello\n")
        assert time.monotonic() - t0 < t(5)
        fast.close()
        # A slow reader that finally reads gets everything, in order.
        c = RawConn(sock=slow[0], timeout=t(60))
        r = c.read_response(timeout=t(60))
        assert r.status == 200
        assert len(r.body) == SIZE
        assert r.body == it_big.body(SIZE)
    finally:
        for s in slow:
            s.close()


def queued(srv, where):
    return sum(v for k, v in metrics(srv).items()
               if k.startswith("wsgate_send_queued_bytes{") and 'where="%s"' % where in k)


def test_held_bytes_are_bounded_and_shown_in_metrics(wsgate):
    """What slow readers leave is in memory up to --send-buffer per connection and
    in temp files past it; past --send-spill the reader stuck the longest is dropped
    (and counted), the others keep their bytes; /metrics shows all of it."""
    big = 2 * SIZE  # 16 MiB: well over what the kernel's socket buffers take
    srv = wsgate("it_big", "--threads", "2", "--send-buffer", "65536",
                 "--send-spill", str(5 * SIZE), stats=True)
    slow = []
    try:
        for i in range(2):
            slow.append(slow_connection(srv))
            slow[-1].sendall(b"GET /big?mode=bytes&size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % big)
        wait_for(lambda: answered(srv, 2), t(20), what="two slow responses queued")
        assert queued(srv, "file") > big  # most of two 16 MiB bodies
        assert queued(srv, "memory") <= 2 * 65536
        assert metrics(srv)["wsgate_send_dropped_total"] == 0
        # Two more do not fit under --send-spill: the oldest are dropped for them.
        for i in range(2):
            slow.append(slow_connection(srv))
            slow[-1].sendall(b"GET /big?mode=bytes&size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % big)
        wait_for(lambda: answered(srv, 4), t(20), what="four slow responses")
        wait_for(lambda: metrics(srv)["wsgate_send_dropped_total"] >= 1, t(10),
                 what="a slow reader dropped: %r %s" % (metrics(srv), srv.error_text()[-2000:]))
        assert queued(srv, "file") <= 5 * SIZE + big
        assert "dropping the connection that read nothing" in srv.error_text()
        # The last one still gets its whole body.
        c = RawConn(sock=slow[-1], timeout=t(60))
        r = c.read_response(timeout=t(60))
        assert r.body == it_big.body(big)
    finally:
        for s in slow:
            s.close()
    wait_for(lambda: queued(srv, "file") == 0 and queued(srv, "memory") == 0, t(10),
             what="nothing held once the readers are gone")


# ---------------------------------------------------------------- FastCGI (C04)

def fcgi_slow_connection(srv):
    import fcgi_client
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(t(30))
    s.connect(srv.fcgi_addr)
    return fcgi_client.FcgiConn(sock=s, timeout=t(60))


def test_fastcgi_front_server_that_stops_reading_holds_no_worker(wsgate):
    """A front server that stops reading its FastCGI connections (C04): the workers
    are free at once, another connection is served, and a connection that reads
    again gets its whole response."""
    import fcgi_client
    from frontends import require_fastcgi, start_fcgi_wsgate
    require_fastcgi()
    srv = start_fcgi_wsgate(wsgate, "it_big", "--threads", "2", "--send-timeout", "60")
    items = fcgi_client.cgi_params(uri="/big?mode=bytes&size=%d" % SIZE)
    slow = [fcgi_slow_connection(srv) for _ in range(SLOW)]
    try:
        for c in slow:
            c.send(fcgi_client.request_bytes(1, items, keep_conn=True))
        wait_for(lambda: answered(srv, SLOW), t(20), what="the workers to be done")
        with fcgi_client.FcgiConn(srv.fcgi_addr, timeout=t(5)) as c:
            r = c.request(fcgi_client.cgi_params(uri="/hello"), timeout=t(5))
            assert (r.status, r.body) == (200, b"hello\n")
        r = slow[0].read_until_end(1, timeout=t(60))
        assert r.status == 200 and r.body == it_big.body(SIZE)
    finally:
        for c in slow:
            c.close()


def test_fastcgi_requests_of_one_connection_take_turns(wsgate):
    """Two requests multiplexed on one connection whose reader is slow: the small
    one's records are not stuck behind all of the big one's (records take turns)."""
    import fcgi_client
    from frontends import require_fastcgi, start_fcgi_wsgate
    require_fastcgi()
    srv = start_fcgi_wsgate(wsgate, "it_big", "--threads", "2")
    c = fcgi_slow_connection(srv)
    try:
        c.send(fcgi_client.request_bytes(
            1, fcgi_client.cgi_params(uri="/big?mode=bytes&size=%d" % SIZE), keep_conn=True))
        wait_for(lambda: answered(srv, 1), t(20), what="the big response queued")
        c.send(fcgi_client.request_bytes(2, fcgi_client.cgi_params(uri="/hello"),
                                         keep_conn=True))
        wait_for(lambda: answered(srv, 2), t(20), what="the small response queued")
        r2 = c.read_until_end(2, timeout=t(30))
        assert (r2.status, r2.body) == (200, b"hello\n")
        big_so_far = len(c.result(1).stdout)
        assert big_so_far < SIZE // 2, "the small response waited for most of the big one"
        r1 = c.read_until_end(1, timeout=t(60))
        assert r1.status == 200 and r1.body == it_big.body(SIZE)
    finally:
        c.close()


@pytest.mark.parametrize("then", ["idle", "half-close"])
def test_fastcgi_queued_records_outlive_keep_alive_and_half_close(wsgate, then):
    """A kept FastCGI connection with nothing in flight but records still queued for
    a slow front server: --keep-alive does not end it (--send-timeout is its limit),
    and neither does the front server shutting its write side; the whole response
    goes out."""
    import fcgi_client
    from frontends import require_fastcgi, start_fcgi_wsgate
    require_fastcgi()
    srv = start_fcgi_wsgate(wsgate, "it_big", "--keep-alive", "1", "--send-timeout", "30")
    c = fcgi_slow_connection(srv)
    try:
        c.send(fcgi_client.request_bytes(
            1, fcgi_client.cgi_params(uri="/big?mode=bytes&size=%d" % SIZE), keep_conn=True))
        wait_for(lambda: answered(srv, 1), t(20), what="the response queued")
        if then == "idle":
            time.sleep(2.5)  # past --keep-alive 1 with nothing in flight
        else:
            c.sock.shutdown(socket.SHUT_WR)
        r = c.read_until_end(1, timeout=t(60))
        assert r.status == 200 and r.body == it_big.body(SIZE)
    finally:
        c.close()


# ---------------------------------------------------------------- SCGI, uwsgi (C04)

@pytest.mark.parametrize("proto", ["scgi", "uwsgi"])
def test_scgi_and_uwsgi_front_server_that_stops_reading_holds_no_worker(wsgate, proto):
    """SCGI and uwsgi connections whose front server reads nothing (C04; these take
    the HTTP path, one queue per connection): the two workers are free once the apps
    have returned, another request is served, and a connection that reads again gets
    its whole response before wsgate closes it."""
    import scgi_client
    import uwsgi_client
    from scgi_frontends import start_scgi_wsgate, start_uwsgi_wsgate
    start = start_scgi_wsgate if proto == "scgi" else start_uwsgi_wsgate
    client = scgi_client if proto == "scgi" else uwsgi_client
    parse = scgi_client.ScgiResponse if proto == "scgi" else uwsgi_client.UwsgiResponse
    srv = start(wsgate, "it_big", "--threads", "2", "--send-timeout", "60")
    addr = getattr(srv, "%s_addr" % proto)
    slow = []
    try:
        for _ in range(SLOW):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
            s.settimeout(t(30))
            s.connect(addr)
            s.sendall(client.request_bytes("GET", "/big?mode=bytes&size=%d" % SIZE))
            slow.append(s)
        wait_for(lambda: answered(srv, SLOW), t(20), what="the workers to be done")
        exchange = scgi_client.scgi_get if proto == "scgi" else uwsgi_client.uwsgi_get
        r = exchange(srv, "/hello")
        assert (r.status, r.body) == (200, b"hello\n"), r
        raw = bytearray()
        slow[0].settimeout(t(60))
        while True:
            chunk = slow[0].recv(1 << 20)
            if not chunk:
                break
            raw += chunk
        r = parse(bytes(raw), True, False)
        assert r.status == 200 and r.body == it_big.body(SIZE), r
    finally:
        for s in slow:
            s.close()
