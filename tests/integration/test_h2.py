"""HTTP/2, on by default: h2 by ALPN on --https, h2c with prior knowledge on --http
(docs/http.md, "HTTP/2"); --no-h2 and --no-h2c turn them off.

One server carries most checks (tests/apps/it_h2.py: environ probe, body echo, sleep,
wsgi.file_wrapper, Flask under /flask): --https and a plain --http beside it, with
the defaults. A second one like it writes the JSON access log (the protocol names and
the per-connection ordinals) and serves headless Chromium a page of 50 images.
Another has both switched off (--no-h2 on the command line, --no-h2c in
WSGATE_ARGS); a third (--h2c, the explicit on) is stopped while a stream runs
(GOAWAY), and two more are reloaded (SIGHUP, one process and -w 2). The clients are
curl, nghttp, h2load (nghttp2-client), Python's h2 over a raw socket where the frames
themselves matter, and Chromium. The attacks: test_h2_attacks.py.
"""
import json
import math
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest

from conftest import free_port
from wsgate_util import (Pki, RawConn, curl, metrics, t, tls_connect, wait_access, wait_for,
                         wait_mark)

SLEEP = 0.3  # the app-time of the concurrency check


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def srv(wsgate_module, pki):
    """--https (srv.port), --http (srv.plain_port), HTTP/2 on both by default; 8
    threads, --send-timeout 2, --timeout 3."""
    plain = free_port()
    s = wsgate_module("it_h2", "--http", "127.0.0.1:%d" % plain,
                      "--threads", "8", "--send-timeout", "2", "--timeout", "3",
                      tls=(pki.rsa_chain, pki.rsa_pkcs8), stats=True)
    s.plain_port = plain
    return s


@pytest.fixture(scope="module")
def jsrv(wsgate_module, pki):
    """As srv (4 threads) with the JSON access log: --https (jsrv.port) with --h2,
    --http (jsrv.plain_port) with --h2c."""
    plain = free_port()
    s = wsgate_module("it_h2", "--http", "127.0.0.1:%d" % plain, "--h2", "--h2c",
                      "--threads", "4", "--access-log-format", "json",
                      tls=(pki.rsa_chain, pki.rsa_pkcs8), stats=True)
    s.plain_port = plain
    return s


@pytest.fixture(scope="module")
def off(wsgate_module, pki):
    """The same listeners with HTTP/2 switched off: --no-h2 on the command line,
    --no-h2c in WSGATE_ARGS."""
    plain = free_port()
    s = wsgate_module("it_h2", "--http", "127.0.0.1:%d" % plain, "--no-h2",
                      tls=(pki.rsa_chain, pki.rsa_pkcs8), env={"WSGATE_ARGS": "--no-h2c"})
    s.plain_port = plain
    return s


def h2c_url(srv, path):
    return "http://127.0.0.1:%d%s" % (srv.plain_port, path)


def tls_args(srv, pki):
    return ["--cacert", pki.ca, "--resolve", "localhost:%d:127.0.0.1" % srv.port]


def h2_url(srv, path):
    return "https://localhost:%d%s" % (srv.port, path)


def upgrade_request(settings, target=b"/probe?up", extra=b""):
    """A GET that asks for Upgrade: h2c (RFC 7540 3.2) with `settings` as its
    HTTP2-Settings."""
    return (b"GET %s HTTP/1.1\r\nHost: t.example\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: %s\r\n%s\r\n" % (target, settings, extra))


class H2Client:
    """Python's h2 over a plain socket: h2c with prior knowledge, or with upgrade (a
    target) by Upgrade: h2c, its request then being stream 1 and the 101's head in
    self.upgrade_head."""

    def __init__(self, port, settings=None, upgrade=None, **config):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=t(10))
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8", **config)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.responses = {}  # stream id -> {"headers", "body", "ended", "reset"}
        self.events = []
        rest = b""
        if upgrade is None:
            self.conn.initiate_connection()
        else:
            value = self.conn.initiate_upgrade_connection()
            self.sock.sendall(upgrade_request(value, upgrade.encode()))
            got = b""
            while b"\r\n\r\n" not in got:
                data = self.sock.recv(65536)
                assert data, "closed before the answer to the upgrade: %r" % got
                got += data
            self.upgrade_head, _, rest = got.partition(b"\r\n\r\n")
            self.responses[1] = {"headers": None, "body": b"", "ended": False, "reset": None}
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        if rest:
            self.feed(rest, True)

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", headers=(), body=None, authority="t.example"):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"), (":authority", authority),
                (":path", path)] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=True)
        self.flush()
        self.responses[sid] = {"headers": None, "body": b"", "ended": False, "reset": None}
        return sid

    def pump(self, timeout, until, ack=True):
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("h2 client: condition not met; events %r" % self.events)
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("h2 client: connection closed; events %r" % self.events)
            self.feed(data, ack)

    def feed(self, data, ack):
        for ev in self.conn.receive_data(data):
            self.events.append(ev)
            r = self.responses.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                r["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                r["body"] += ev.data
                if ack:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length,
                                                        ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                r["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                r["reset"] = ev.error_code
        self.flush()

    def response(self, sid, timeout=None):
        r = self.responses[sid]
        self.pump(t(10) if timeout is None else timeout,
                  lambda: r["ended"] or r["reset"] is not None)
        return r

    def close(self):
        self.sock.close()


# ---- h2c (prior knowledge) and h2 (ALPN) -------------------------------------------


def test_h2c_prior_knowledge_and_environ(srv):
    version, code, body = curl("--http2-prior-knowledge", "-H", "Cookie: a=1",
                               "-H", "Cookie: b=2", h2c_url(srv, "/probe/x%20y?q=1&r"))
    assert (version, code) == ("2", 200)
    env = json.loads(body)["environ"]
    assert env["SERVER_PROTOCOL"] == "HTTP/2"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % srv.plain_port  # from :authority
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["PATH_INFO"] == "/probe/x y" and env["QUERY_STRING"] == "q=1&r"
    assert env["REQUEST_URI"] == "/probe/x%20y?q=1&r"
    assert env["wsgi.url_scheme"] == "http" and "HTTPS" not in env
    assert "CONTENT_LENGTH" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert json.loads(body)["wsgi.input_terminated"] is True
    wait_access(srv, '"GET /probe/x%20y?q=1&r HTTP/2"')


def test_h2_by_alpn(srv, pki):
    version, code, body = curl("--http2", *tls_args(srv, pki), h2_url(srv, "/probe"))
    assert (version, code) == ("2", 200)
    env = json.loads(body)["environ"]
    assert env["SERVER_PROTOCOL"] == "HTTP/2"
    assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on"
    assert env["HTTP_HOST"] == "localhost:%d" % srv.port
    # HTTP/1.1 still served on the same listener to a client that asks for it
    version, code, body = curl("--http1.1", *tls_args(srv, pki), h2_url(srv, "/probe"))
    assert (version, code) == ("1.1", 200)
    assert json.loads(body)["environ"]["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_h2c_environ_of_a_body_without_length(srv):
    """A body that ends with its stream: no CONTENT_LENGTH, read to its end; the
    connection-specific fields the app gave are not sent."""
    c = H2Client(srv.plain_port)
    try:
        sid = c.request("/echo", method="POST", body=b"abc" * 1000)
        r = c.response(sid)
        assert r["headers"][":status"] == "200" and r["body"] == b"abc" * 1000
        assert "connection" not in r["headers"] and "keep-alive" not in r["headers"]
        # Expect: 100-continue: the interim answer comes with the app's first read
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                                  (":authority", "t.example"), (":path", "/echo"),
                                  ("expect", "100-continue")])
        c.flush()
        c.responses[sid] = {"headers": None, "body": b"", "ended": False, "reset": None}
        c.pump(t(10), lambda: any(isinstance(e, h2.events.InformationalResponseReceived)
                                  for e in c.events))
        c.conn.send_data(sid, b"after 100", end_stream=True)
        c.flush()
        assert c.response(sid)["body"] == b"after 100"
        sid = c.request("/probe?read=1", method="POST", body=b"x" * 5000)
        r = c.response(sid)
        out = json.loads(r["body"])
        assert out["body_len"] == 5000
        assert "CONTENT_LENGTH" not in out["environ"]
        assert out["environ"]["HTTP_HOST"] == "t.example"
    finally:
        c.close()


def test_settings_and_refusals(srv):
    """Our SETTINGS; a header block past --max-header-size (default 65536) gets 431, an
    unknown method 501, a malformed Content-Length a reset, and the connection carries
    on."""
    c = H2Client(srv.plain_port)
    try:
        c.pump(t(10), lambda: any(isinstance(e, h2.events.RemoteSettingsChanged)
                                  for e in c.events))
        assert c.conn.remote_settings.max_concurrent_streams == 100
        assert c.conn.remote_settings.max_header_list_size == 65536
        big = [("x-big-%d" % i, "v" * 8000) for i in range(9)]
        sid = c.request("/probe", headers=big)
        assert c.response(sid)["headers"][":status"] == "431"
        sid = c.request("/probe", method="BREW")
        assert c.response(sid)["headers"][":status"] == "501"
        # a malformed Content-Length: nghttp2 resets the stream (RFC 9113 8.1.1)
        sid = c.request("/probe", method="POST", headers=[("content-length", "x1")], body=b"")
        assert c.response(sid)["reset"] == h2.errors.ErrorCodes.PROTOCOL_ERROR
        sid = c.request("/probe")
        r = c.response(sid)
        assert r["headers"][":status"] == "200"
        assert json.loads(r["body"])["environ"]["SERVER_PROTOCOL"] == "HTTP/2"
    finally:
        c.close()


def test_malformed_streams_never_reach_the_app(srv):
    """docs/hostile-inputs.md Q07-Q09 (nghttp2's checks): DATA past the declared
    Content-Length, a connection-specific field, an upper-case name, an empty :path:
    each stream is reset with PROTOCOL_ERROR, the connection goes on. No app sees the
    last three; the first one's app, if it ran, found its body read failing."""
    c = H2Client(srv.plain_port, validate_outbound_headers=False,
                 normalize_outbound_headers=False)
    proto_err = h2.errors.ErrorCodes.PROTOCOL_ERROR
    try:
        sid = c.request("/echo?q07", method="POST", headers=[("content-length", "3")],
                        body=b"abcdef")
        assert c.response(sid)["reset"] == proto_err
        for name, headers, path in (("q08", [("connection", "keep-alive")], "/probe?q08"),
                                    ("q09-upper", [("X-Upper", "1")], "/probe?q09"),
                                    ("q09-path", [], "")):
            sid = c.request(path, headers=headers)
            assert c.response(sid)["reset"] == proto_err, name
        sid = c.request("/probe?after")
        assert c.response(sid)["headers"][":status"] == "200"
        wait_access(srv, "/probe?after")
        log = srv.access_text()
        assert not re.search(r"\?q0[89]", log), log
        # Q07: never run, or run and its body read failed (no answer: status 0)
        assert not re.search(r"\?q07 HTTP/2\" [1-9]", log), log
    finally:
        c.close()


def test_post_larger_than_the_window(srv, pki, tmp_path):
    """1 MiB up (the stream's window is 65,535: it opens as the app reads) and back."""
    data = os.urandom(1 << 20)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    for args, url in ((["--http2-prior-knowledge"], h2c_url(srv, "/echo")),
                      (["--http2"] + tls_args(srv, pki), h2_url(srv, "/echo"))):
        version, code, body = curl(*args, "--data-binary", "@%s" % src, url)
        assert (version, code) == ("2", 200) and body == data


def test_file_wrapper_and_large_body(srv, pki, tmp_path):
    data = os.urandom(3 << 20)
    src = tmp_path / "f.bin"
    src.write_bytes(data)
    version, code, body = curl("--http2", *tls_args(srv, pki),
                               h2_url(srv, "/filewrap?cl=1&path=%s" % src))
    assert (version, code) == ("2", 200) and body == data
    version, code, body = curl("--http2-prior-knowledge",
                               h2c_url(srv, "/filewrap?path=%s" % src))
    assert (version, code) == ("2", 200) and body == data


def test_flask_over_h2(srv, pki):
    version, code, body = curl("--http2", *tls_args(srv, pki), h2_url(srv, "/flask/hello/h2"))
    assert (version, code, body) == ("2", 200, b"Hello, h2!")
    version, code, body = curl("--http2-prior-knowledge", "-d", "name=x&tag=a&tag=b",
                               h2c_url(srv, "/flask/form"))
    assert (version, code) == ("2", 200)
    assert json.loads(body) == {"name": "x", "tags": ["a", "b"]}
    version, code, _ = curl("--http2-prior-knowledge", h2c_url(srv, "/flask/status/404"))
    assert (version, code) == ("2", 404)


def test_100_streams_on_one_connection(srv):
    """h2load: 100 concurrent streams on one connection, 8 threads: about
    ceil(100/8) app-times, all answered; /metrics counts them under frontend="h2c"
    (cleartext)."""
    sample = 'wsgate_requests_total{frontend="h2c",status="2xx"}'
    before = metrics(srv).get(sample, 0)
    started = time.monotonic()
    p = subprocess.run(["h2load", "-n100", "-c1", "-m100",
                        h2c_url(srv, "/slow?t=%s" % SLEEP)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(60))
    took = time.monotonic() - started
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert "100 succeeded" in out and "status codes: 100 2xx" in out, out
    rounds = math.ceil(100 / 8)
    assert took >= (rounds - 1) * SLEEP, out
    assert took < rounds * SLEEP + t(2.5), out
    wait_for(lambda: metrics(srv)[sample] == before + 100, t(10), what="100 more h2 2xx")
    assert metrics(srv)["wsgate_h2_connections_total"] >= 1


def test_a_peer_that_has_closed_its_side_frees_the_waiting_workers(jsrv):
    """A worker waits for the peer's window to open (flow control); once the peer has
    closed its side of the connection no WINDOW_UPDATE can come, so the wait ends at
    once (the stream is given up, the worker free) instead of after --send-timeout (60 s
    here). Before, a graceful stop then waited for those workers (found by the h2
    bench rows: h2load -D1 ending mid-response)."""
    c = H2Client(jsrv.plain_port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    try:
        sid = c.request("/big?mode=bytes&size=%d&tag=halfclosed" % (2 << 20))
        c.pump(t(10), lambda: c.responses[sid]["headers"] is not None)
        c.sock.shutdown(socket.SHUT_WR)
        wait_access(jsrv, "tag=halfclosed", timeout=t(5))
    finally:
        c.close()


def test_a_finished_stream_frees_its_place_at_once(srv):
    """A stream whose response has ended no longer counts against the 100 streams, even
    while its worker has not yet handed it back: a client that keeps 100 streams open
    (a new one as soon as one ends, h2load -m100) never gets REFUSED_STREAM. Before,
    about one stream in five was refused."""
    p = subprocess.run(["h2load", "-n3000", "-c1", "-m100", h2c_url(srv, "/hello")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(60))
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert "3000 succeeded, 0 failed, 0 errored" in out, out


def test_a_complete_body_ends_its_stream_before_the_app_returns(srv):
    """The last byte a response's Content-Length promised leaves with END_STREAM on its
    DATA frame: the client has the whole response while the app still runs (2 s more
    here; the request gets its access log line only then), and no empty DATA frame
    follows it (one write per response, not a second one when the app returns)."""
    c = H2Client(srv.plain_port)
    try:
        sid = c.request("/linger?t=%s&tag=lingers" % t(2))
        r = c.response(sid, timeout=t(10))
        assert (r["body"], r["ended"]) == (b"hello", True)
        assert "tag=lingers" not in srv.access_text()  # its app has not returned yet
        data = [ev for ev in c.events
                if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid]
        assert [ev.data for ev in data] == [b"hello"]
        assert data[0].stream_ended is not None
        wait_access(srv, "tag=lingers")
    finally:
        c.close()


def test_window_closed_reader_is_bounded(srv):
    """A peer that never opens its window: the worker waits at most --send-timeout (2 s)
    for room, then the stream is reset; the connection and its other streams go on."""
    c = H2Client(srv.plain_port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    try:
        sid = c.request("/big?mode=bytes&size=%d" % (2 << 20))
        r = c.response(sid, timeout=t(15))
        assert r["reset"] is not None, r
        wait_access(srv, "size=%d" % (2 << 20))  # the worker is free
    finally:
        c.close()


def test_timeout_answers_504_on_the_stream(srv):
    """--timeout: the watchdog answers 504 on the stream while its app still runs; the
    connection's other streams are served meanwhile."""
    c = H2Client(srv.plain_port)
    try:
        slow = c.request("/slow?t=4")
        fast = c.request("/probe")
        assert c.response(fast)["headers"][":status"] == "200"
        r = c.response(slow, timeout=t(10))
        assert r["headers"][":status"] == "504" and r["ended"], r
        sid = c.request("/probe")
        assert c.response(sid)["headers"][":status"] == "200"
    finally:
        c.close()


# ---- logs and metrics: h2 and h2c, streams per connection ---------------------------


def access_records(srv, tag, count):
    """The JSON access records of the requests whose query holds tag, once there
    are count of them."""
    wait_access(srv, tag, count)
    return [json.loads(ln) for ln in srv.access_text().splitlines() if tag in ln]


def test_logs_and_metrics_name_h2_and_h2c(jsrv):
    """The JSON access log's protocol is h2 over TLS and h2c in cleartext (http for
    HTTP/1.1), and conn_requests is the request's ordinal on its connection, for
    every protocol. /metrics counts the streams under frontend="h2" / "h2c", and
    wsgate_h2_streams_per_connection observes each connection's streams when it
    closes."""
    def hist(m, fe):
        return (m.get('wsgate_h2_streams_per_connection_count{frontend="%s"}' % fe, 0),
                m.get('wsgate_h2_streams_per_connection_sum{frontend="%s"}' % fe, 0),
                m.get('wsgate_h2_streams_per_connection_bucket{frontend="%s",le="2"}' % fe, 0),
                m.get('wsgate_h2_streams_per_connection_bucket{frontend="%s",le="5"}' % fe, 0),
                m.get('wsgate_requests_total{frontend="%s",status="2xx"}' % fe, 0))
    before = metrics(jsrv)
    # h2c: three streams one after the other on one connection, then it closes
    c = H2Client(jsrv.plain_port)
    try:
        for i in range(3):
            assert c.response(c.request("/hello?lm=c%d" % i))["headers"][":status"] == "200"
    finally:
        c.close()
    # h2: three streams at once on one TLS connection (nghttp does not check the
    # certificate)
    p = subprocess.run(["nghttp", "-n"] + ["https://localhost:%d/hello?lm=s%d" % (jsrv.port, i)
                                           for i in range(3)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=t(30))
    assert p.returncode == 0, p.stdout
    # HTTP/1.1: two requests on one kept connection
    with socket.create_connection(("127.0.0.1", jsrv.plain_port), timeout=t(10)) as s:
        s.sendall(b"GET /hello?lm=h0 HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET /hello?lm=h1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    assert got.count(b"HTTP/1.1 200 ") == 2, got

    seen = {}
    for rec in access_records(jsrv, "lm=", 8):
        seen[rec["query"]] = (rec["protocol"], rec["version"], rec["conn_requests"])
    assert {q: v for q, v in seen.items() if q[3] == "c"} == {
        "lm=c%d" % i: ("h2c", "HTTP/2", i + 1) for i in range(3)}
    assert sorted(v for q, v in seen.items() if q[3] == "s") == [
        ("h2", "HTTP/2", i + 1) for i in range(3)]  # dispatched in any order
    assert {q: v for q, v in seen.items() if q[3] == "h"} == {
        "lm=h%d" % i: ("http", "HTTP/1.1", i + 1) for i in range(2)}

    # each closed connection: one observation of 3 streams, in the (2, 5] bucket
    want = {fe: tuple(a + d for a, d in zip(hist(before, fe), (1, 3, 0, 1, 3)))
            for fe in ("h2", "h2c")}
    wait_for(lambda: {fe: hist(metrics(jsrv), fe) for fe in want} == want, t(10),
             what="h2 and h2c streams per connection %r" % want)


def netlog_h2_streams(path, port):
    """From a Chromium net log (--log-net-log): {HTTP2_SESSION id: {stream id: [path,
    status, ended]}} for the sessions to 127.0.0.1:port, and the ids of the sockets to
    that port that carried a request (SOCKET_IN_USE)."""
    with open(path) as f:
        log = json.load(f)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    target = "127.0.0.1:%d" % port
    sessions, ours, in_use = {}, set(), set()
    for e in log["events"]:
        name, src, params = names.get(e["type"]), e["source"]["id"], e.get("params") or {}
        if name == "HTTP2_SESSION" and params.get("host") == target:
            sessions[src] = {}
        elif name == "TCP_CONNECT" and params.get("remote_address") == target:
            ours.add(src)
        elif name == "SOCKET_IN_USE" and src in ours:
            in_use.add(src)
        elif src in sessions and name in ("HTTP2_SESSION_SEND_HEADERS",
                                          "HTTP2_SESSION_RECV_HEADERS",
                                          "HTTP2_SESSION_RECV_DATA"):
            st = sessions[src].setdefault(params["stream_id"], [None, None, False])
            fields = dict(h.split(": ", 1) for h in params.get("headers", ()))
            if name == "HTTP2_SESSION_SEND_HEADERS":
                st[0] = fields[":path"]
            elif name == "HTTP2_SESSION_RECV_HEADERS":
                st[1] = fields[":status"]
            st[2] = st[2] or bool(params.get("fin"))
    return sessions, in_use


def test_chromium_page_of_50_images(jsrv, tmp_path):
    """A real browser: headless Chromium loads a page of 50 <img> (distinct PNGs made
    by the app) from --https with --h2. Its net log shows one HTTP/2 session to us,
    carrying the page and the 50 images, each answered 200 and ended, on one socket
    (Chromium may open a second one beside it and drop it unused); the access log
    shows the 51 requests served as HTTP/2 on one connection (ordinals 1..51), and
    /metrics one more HTTP/2 connection, of 51 streams."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (scripts/install-deps test installs it)")
    netlog = str(tmp_path / "net.json")
    before = metrics(jsrv)
    argv = [exe, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            # no name resolves: what it still tries (Google's update and account
            # hosts) fails at once, off the network
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--user-data-dir=%s" % (tmp_path / "profile"), "--log-net-log=%s" % netlog,
            "--ignore-certificate-errors", "--dump-dom",
            "https://127.0.0.1:%d/page?n=50" % jsrv.port]
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")  # Chromium refuses root otherwise
    env = dict(os.environ, HOME=str(tmp_path))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=t(60))
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # its helpers (zygote, crashpad) too
        except ProcessLookupError:
            pass
        p.wait()
    assert p.returncode == 0, err.decode(errors="replace")[-3000:]
    assert b"<title>50 images</title>" in out and out.count(b"<img ") == 50, out[:500]

    sessions, sockets = netlog_h2_streams(netlog, jsrv.port)
    assert len(sessions) == 1, sessions
    (streams,) = sessions.values()
    want = {"/page?n=50"} | {"/img/%d.png" % i for i in range(50)}
    assert sorted(path for path, _, _ in streams.values()) == sorted(want)
    assert all(status == "200" and ended for _, status, ended in streams.values()), streams
    assert len(sockets) == 1, sockets

    recs = [r for r in access_records(jsrv, "HeadlessChrome", 51)]
    assert len(recs) == 51
    assert {(r["version"], r["protocol"], r["status"]) for r in recs} == {("HTTP/2", "h2", 200)}
    assert sorted(r["conn_requests"] for r in recs) == list(range(1, 52))
    assert {r["path"] for r in recs if r["query"] == ""} == want - {"/page?n=50"}
    # and /metrics: one more HTTP/2 connection, closed with Chromium, of 51 streams
    keys = ("wsgate_h2_connections_total",
            'wsgate_h2_streams_per_connection_count{frontend="h2"}',
            'wsgate_h2_streams_per_connection_sum{frontend="h2"}',
            'wsgate_h2_streams_per_connection_bucket{frontend="h2",le="50"}')
    want_m = [before.get(k, 0) + d for k, d in zip(keys, (1, 1, 51, 0))]
    wait_for(lambda: [metrics(jsrv).get(k, 0) for k in keys] == want_m, t(10),
             what="one h2 connection of 51 streams in /metrics")


# ---- Upgrade: h2c ----------------------------------------------------------------------

SETTINGS = b"AAMAAABkAAQAAP__"  # MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 65535


def test_upgrade_h2c(srv):
    """Upgrade: h2c (Python's h2): 101 Switching Protocols, then HTTP/2 (our SETTINGS
    first) with the request's answer on stream 1; the connection goes on (stream 3).
    The app sees the request as HTTP/2, without the upgrade's hop-by-hop fields."""
    c = H2Client(srv.plain_port, upgrade="/probe?up")
    try:
        head = c.upgrade_head.decode("latin-1").split("\r\n")
        assert head[0] == "HTTP/1.1 101 Switching Protocols", head
        assert {"Connection: Upgrade", "Upgrade: h2c"} <= set(head[1:]), head
        r = c.response(1)
        assert r["headers"][":status"] == "200" and r["ended"], r
        env = json.loads(r["body"])["environ"]
        assert env["SERVER_PROTOCOL"] == "HTTP/2" and env["QUERY_STRING"] == "up"
        assert env["HTTP_HOST"] == "t.example"
        assert not {"HTTP_UPGRADE", "HTTP_CONNECTION", "HTTP_HTTP2_SETTINGS"} & set(env), env
        sid = c.request("/probe?next")
        assert sid == 3 and c.response(sid)["headers"][":status"] == "200"
    finally:
        c.close()
    wait_access(srv, '"GET /probe?up HTTP/2" 200')


def test_upgrade_then_no_preface(srv):
    """After the 101, HTTP/1.1 bytes where the client's HTTP/2 preface must be: GOAWAY
    PROTOCOL_ERROR and the close. The request, dispatched with the 101, still runs (its
    answer on stream 1 goes out if it is ready before the GOAWAY)."""
    with socket.create_connection(("127.0.0.1", srv.plain_port), timeout=t(10)) as s:
        s.sendall(upgrade_request(SETTINGS, b"/probe?no-preface"))
        got = b""
        while b"\r\n\r\n" not in got:
            data = s.recv(65536)
            assert data, got
            got += data
        s.sendall(b"GET /probe HTTP/1.1\r\nHost: t.example\r\n\r\n")
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += data
    head, _, rest = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    frames = []  # (type, stream id, payload)
    while len(rest) >= 9:
        n = int.from_bytes(rest[:3], "big")
        frames.append((rest[3], int.from_bytes(rest[5:9], "big") & 0x7FFFFFFF, rest[9:9 + n]))
        rest = rest[9 + n:]
    assert frames[0][0] == 4, frames  # our SETTINGS first
    goaway = [f[2] for f in frames if f[0] == 7]
    assert goaway and int.from_bytes(goaway[-1][4:8], "big") == 1, frames  # PROTOCOL_ERROR
    wait_access(srv, '"GET /probe?no-preface HTTP/2"')


def test_upgrade_h2c_by_curl(srv):
    """curl --http2 on an http:// URL asks for Upgrade: h2c: the answer comes over
    HTTP/2 and a second URL goes on the same connection; HEAD too; a POST with a body
    stays HTTP/1.1 (its body is not read before a switch)."""
    p = subprocess.run(["curl", "-sS", "--http2", "-o", "/dev/null", "-o", "/dev/null",
                        "-w", "%{http_version} %{http_code} %{num_connects}\n",
                        h2c_url(srv, "/probe?a"), h2c_url(srv, "/probe?b")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(60))
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().splitlines() == ["2 200 1", "2 200 0"]
    version, code, _ = curl("--http2", "-I", h2c_url(srv, "/probe?head"))
    assert (version, code) == ("2", 200)
    version, code, body = curl("--http2", "--data-binary", "abc", h2c_url(srv, "/echo"))
    assert (version, code, body) == ("1.1", 200, b"abc")


GET_UP = b"GET /probe?ignored HTTP/1.1\r\nHost: t.example\r\n"
IGNORED_UPGRADES = [
    # docs/hostile-inputs.md H52: each is served over HTTP/1.1, the Upgrade ignored
    ("settings-value-out-of-range", upgrade_request(b"AAIAAAAC")),  # ENABLE_PUSH 2
    ("settings-frame-size-too-small", upgrade_request(b"AAUAAAAA")),  # MAX_FRAME_SIZE 0
    ("settings-not-base64url", upgrade_request(b"AAMAAABk+AQAAP//")),
    ("settings-partial-entry", upgrade_request(b"AAMAAA")),  # 4 bytes, not 6
    ("settings-one-character", upgrade_request(b"A")),
    ("settings-empty", upgrade_request(b"")),
    ("settings-twice", upgrade_request(SETTINGS, extra=b"HTTP2-Settings: " + SETTINGS
                                       + b"\r\n")),
    ("settings-missing", GET_UP + b"Connection: Upgrade, HTTP2-Settings\r\n"
                                  b"Upgrade: h2c\r\n\r\n"),
    ("connection-without-settings-token", GET_UP + b"Connection: Upgrade\r\nUpgrade: h2c\r\n"
                                                   b"HTTP2-Settings: " + SETTINGS + b"\r\n\r\n"),
    ("no-connection-field", GET_UP + b"Upgrade: h2c\r\nHTTP2-Settings: " + SETTINGS
                            + b"\r\n\r\n"),
    ("with-a-body", upgrade_request(SETTINGS, extra=b"Content-Length: 3\r\n") + b"abc"),
    ("chunked-body", upgrade_request(SETTINGS, extra=b"Transfer-Encoding: chunked\r\n")
     + b"3\r\nabc\r\n0\r\n\r\n"),
    ("absolute-form", upgrade_request(SETTINGS, target=b"http://t.example/probe?up")),
    ("http-1.0", upgrade_request(SETTINGS).replace(b"HTTP/1.1", b"HTTP/1.0")),
]


def http11_answers(port, raw, n=1, sock=None):
    """The n HTTP/1.1 answers to raw, each 200 without an Upgrade field: the
    SERVER_PROTOCOL each app saw."""
    with RawConn(sock=sock or socket.create_connection(("127.0.0.1", port)),
                 timeout=t(10)) as c:
        c.send(raw)
        protocols = []
        for _ in range(n):
            r = c.read_response()
            assert r.status == 200 and r.header("Upgrade") is None, r
            protocols.append(json.loads(r.body)["environ"]["SERVER_PROTOCOL"])
    return protocols


@pytest.mark.parametrize("raw", [r for _, r in IGNORED_UPGRADES],
                         ids=[i for i, _ in IGNORED_UPGRADES])
def test_upgrade_ignored(srv, raw):
    assert http11_answers(srv.plain_port, raw)[0] in ("HTTP/1.1", "HTTP/1.0")


def test_upgrade_ignored_when_pipelined_or_later_or_tls(srv, pki):
    """A request pipelined behind the upgrade's (both answered over HTTP/1.1); an
    upgrade on a connection's second request; one over TLS (ALPN http/1.1)."""
    up = upgrade_request(SETTINGS)
    plain = b"GET /probe?2 HTTP/1.1\r\nHost: t.example\r\n\r\n"
    assert http11_answers(srv.plain_port, up + plain, 2) == ["HTTP/1.1"] * 2
    assert http11_answers(srv.plain_port, plain + up, 2) == ["HTTP/1.1"] * 2
    s = tls_connect(srv, pki.client_context(), alpn=["http/1.1"])
    assert http11_answers(srv.port, up, sock=s) == ["HTTP/1.1"]


# ---- switched off --------------------------------------------------------------------


def test_switched_off(off, pki):
    """--no-h2: ALPN offers http/1.1 alone (a client that offers only h2 is refused);
    --no-h2c: the preface is an HTTP/1.1 request, refused (docs/hostile-inputs.md
    H41)."""
    version, code, body = curl("--http2", *tls_args(off, pki), h2_url(off, "/probe"))
    assert (version, code) == ("1.1", 200)
    assert json.loads(body)["environ"]["SERVER_PROTOCOL"] == "HTTP/1.1"
    s = tls_connect(off, pki.client_context(), alpn=["h2", "http/1.1"])
    assert s.selected_alpn_protocol() == "http/1.1"
    s.close()
    with pytest.raises(ssl.SSLError, match="NO_APPLICATION_PROTOCOL|no application"):
        tls_connect(off, pki.client_context(), alpn=["h2"]).close()
    # Upgrade: h2c is ignored (curl then stays on HTTP/1.1)
    assert http11_answers(off.plain_port, upgrade_request(SETTINGS)) == ["HTTP/1.1"]
    version, code, _ = curl("--http2", h2c_url(off, "/probe"))
    assert (version, code) == ("1.1", 200)
    with socket.create_connection(("127.0.0.1", off.plain_port), timeout=t(10)) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        got = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    assert re.match(rb"HTTP/1\.1 (400|505) ", got), got


# ---- graceful stop -------------------------------------------------------------------


def test_goaway_on_stop(wsgate, tmp_path):
    s = wsgate("it_h2", "--h2c")
    mark = str(tmp_path / "running")
    p = subprocess.Popen(["nghttp", "-nv", "http://127.0.0.1:%d/slow?t=1&mark=%s"
                          % (s.port, mark)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_mark(mark)
        s.signal(signal.SIGTERM)
        out = p.communicate(timeout=t(20))[0].decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    m = re.search(r"recv \(stream_id=(\d+)\) :status: 200", out)
    assert m, out  # the stream in flight at the stop was answered, then GOAWAY
    assert re.search(r"recv GOAWAY frame .*\n.*last_stream_id=%s, error_code=NO_ERROR"
                     % m.group(1), out), out
    wait_for(lambda: s.proc.poll() is not None, t(10), what="the server's exit")


@pytest.mark.parametrize("procs", [[], ["-w", "2"]], ids=["single", "w2"])
def test_goaway_on_reload(wsgate, tmp_path, procs):
    """A graceful reload (SIGHUP), one process or a master's workers: the stream in
    flight is answered after a GOAWAY NO_ERROR naming it, then new connections are
    served by the new code."""
    s = wsgate("it_h2", "--h2c", *procs)
    mark, release = str(tmp_path / "running"), str(tmp_path / "release")
    # The app answers once the test has seen the GOAWAY (or after 30 s): with -w 2 the
    # old worker stops only when the new ones are up, which a sanitizer build makes slow.
    p = subprocess.Popen(["nghttp", "-nv", "http://127.0.0.1:%d/slow?t=30&mark=%s&until=%s"
                          % (s.port, mark, release)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_mark(mark)
        s.signal(signal.SIGHUP)
        seen = []
        for line in p.stdout:  # nghttp prints each frame as it arrives
            seen.append(line.decode())
            if "recv GOAWAY frame" in seen[-2 if len(seen) > 1 else -1]:
                break  # with the line after it, which names the last stream
        open(release, "w").close()
        out = "".join(seen) + p.communicate(timeout=t(20))[0].decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    m = re.search(r"recv \(stream_id=(\d+)\) :status: 200", out)
    assert m, out
    assert re.search(r"recv GOAWAY frame .*\n.*last_stream_id=%s, error_code=NO_ERROR"
                     % m.group(1), out), out
    version, code, _ = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/probe" % s.port)
    assert (version, code) == ("2", 200)
