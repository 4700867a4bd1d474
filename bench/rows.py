"""What bench/ measures: the rows (an app of bench/apps, a connection count, the thread
count every threaded server gets, the wrk script, for the slow-clients row the
clients that ask for SLOW_PATH and never read, for the HTTPS rows TLS and the
load generator: wrk, or `openssl s_time` or ab for the handshake rows, and for the
HTTP/2 rows the streams per connection h2load keeps open), and check(), the one
request that proves a server answers a row's app correctly before it is timed (wrk
itself only counts statuses >= 400 and socket errors, never looks at bodies; in the
HTTP/2 rows the request is an HTTP/2 one, python3-h2, so that it also proves the
server speaks HTTP/2 where h2load will).
"""
import http.client
import os
import socket
import ssl

import h2.config
import h2.connection
import h2.events
import h2.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
PATTERN_1M = bytes(range(256)) * 4096  # what apps/big.py and apps/chunks.py send
FILE_SIZE = 16 << 20  # apps/filewrap.py's file
SLEEP = 0.05  # apps/sleep.py
SLOW_PATH = "/8mib"  # apps/hello_slow.py: one 8 MiB bytes object
SLOW_BODY = PATTERN_1M * 8
SLOW_CLIENTS = 64  # the slow-clients row's clients that never read (--slow-clients)


class Row:
    def __init__(self, key, title, app, conns, threads=8, script="report.lua", nginx=False,
                 slow=False, tls=False, s_time=None, ab=False, h2=None):
        self.key = key
        self.title = title
        self.app = app  # module in bench/apps, callable `app`
        self.conns = conns
        self.threads = threads
        self.script = os.path.join(HERE, script)
        self.nginx = nginx  # the servers are nginx backends (servers.NGINX_BACKENDS)
        # slow: during every timed run, other clients hold responses of SLOW_PATH they
        # never read (run.py); a peer that gives them its threads may serve wrk nothing
        self.slow = slow
        # tls: an HTTPS row (servers.HTTPS_SERVERS, https:// URLs)
        self.tls = tls
        # s_time: "-new" or "-reuse": the load is `openssl s_time` with that option
        # (load.s_time_argv), one connection at a time, instead of wrk
        self.s_time = s_time
        # ab: the load is ApacheBench (load.ab_argv): a new connection per request and,
        # over TLS, a full handshake each time (ab never offers a session again)
        self.ab = ab
        # h2: an HTTP/2 row (servers.H2_SERVERS): the load is h2load (load.h2load_argv)
        # with `conns` connections and h2 concurrent streams on each; https:// or
        # http:// (h2c, prior knowledge) as the server's spec says
        self.h2 = h2

    @property
    def scheme(self):
        return "https" if self.tls or self.h2 else "http"

    @property
    def ideal(self):
        """sleep rows: the most requests/s `threads` threads can serve."""
        return self.threads / SLEEP if self.app == "sleep" else None

    @property
    def method(self):
        return "POST" if self.app == "echo" else "GET"


ROWS = [
    Row("hello-1", "hello, 1 connection", "hello", 1),
    Row("hello-64", "hello, 64 connections", "hello", 64),
    Row("hello-256", "hello, 256 connections", "hello", 256),
    Row("big", "big: one 1 MiB bytes object, 16 connections", "big", 16),
    Row("chunks", "chunks: 1 MiB as 64 yielded chunks, no Content-Length, 16 connections",
        "chunks", 16),
    Row("file", "file: 16 MiB through wsgi.file_wrapper, 16 connections", "filewrap", 16),
    Row("echo", "echo: 1 MiB POST read through wsgi.input and sent back, 16 connections",
        "echo", 16, script="echo.lua"),
    Row("sleep-64", "sleep 50 ms, 64 connections, 16 threads", "sleep", 64, threads=16),
    Row("sleep-256", "sleep 50 ms, 256 connections, 256 threads", "sleep", 256, threads=256),
    Row("flask", "Flask hello route, 64 connections", "flask_hello", 64),
    Row("slow-clients", "hello, 64 connections, while other clients hold 8 MiB responses "
        "they never read", "hello_slow", 64, slow=True),
    Row("nginx", "nginx in front (hello, 64 connections to nginx)", "hello", 64, nginx=True),
    Row("https-hello-1", "HTTPS hello, 1 keep-alive connection", "hello", 1, tls=True),
    Row("https-hello-64", "HTTPS hello, 64 keep-alive connections", "hello", 64, tls=True),
    Row("https-big", "HTTPS big: one 1 MiB bytes object, 16 connections", "big", 16,
        tls=True),
    Row("https-newconn", "HTTPS hello, a new connection per request (Connection: close; "
        "wrk resumes the TLS session), 16 connections", "hello", 16, script="close.lua",
        tls=True),
    Row("https-newconn-full", "HTTPS hello, a new connection and a full handshake per "
        "request (ab, which never resumes), 16 connections", "hello", 16, tls=True, ab=True),
    Row("https-handshake", "HTTPS full handshakes: `openssl s_time -new`, a new connection "
        "and a full handshake per request, one at a time", "hello", 1, tls=True,
        s_time="-new"),
    Row("https-resume", "HTTPS resumed handshakes: `openssl s_time -reuse`, a new "
        "connection resuming the first one's session per request, one at a time", "hello", 1,
        tls=True, s_time="-reuse"),
    # HTTP/2 (issue 15): wsgate's own h2 and h2c against nginx terminating h2 in front
    # of it; the goal line compares h2-hello-1x100 with hello-64 (HTTP/1.1, wrk).
    Row("h2-hello-1x100", "HTTP/2 hello, 1 connection × 100 concurrent streams", "hello", 1,
        h2=100),
    Row("h2-hello-64x10", "HTTP/2 hello, 64 connections × 10 concurrent streams", "hello", 64,
        h2=10),
    Row("h2-big", "HTTP/2 big: one 1 MiB bytes object, 1 connection × 16 concurrent "
        "streams", "big", 1, h2=16),
    Row("h2-sleep-256", "HTTP/2 sleep 50 ms, 4 connections × 64 concurrent streams (256), "
        "256 threads", "sleep", 4, threads=256, h2=64),
]
ROW_KEYS = [r.key for r in ROWS]


# The connection-scaling rows (run.py, run_scaling; results.json's "scaling", not
# "rows"): the hello app at n keep-alive connections, the hello rows' thread count.
# A peer's errors there, and its connections left unserved, are its results, not
# failures (SCALE_EXCUSE); wsgate's errors fail the run.
SCALE_EXCUSE = ("a peer's figures at this many connections are the measurement (the "
                "connection-scaling rows)")


def scale_row(n):
    row = Row("scale-%d" % n, "hello, {:,} keep-alive connection{}".format(
        n, "" if n == 1 else "s"), "hello", n)
    row.peer_excuse = SCALE_EXCUSE
    return row

ECHO_BODY = b"0123456789abcdef" * 65536  # the same 1 MiB bench/echo.lua posts


def expected_body(row, file_path):
    if row.app in ("hello", "flask_hello", "hello_slow"):
        return b"Hello, World!\n"
    if row.app in ("big", "chunks"):
        return PATTERN_1M
    if row.app == "filewrap":
        with open(file_path, "rb") as f:
            return f.read()
    if row.app == "echo":
        return ECHO_BODY
    if row.app == "sleep":
        return b"slept 50 ms\n"
    raise ValueError(row.app)


def client_tls(certfile, alpn=None):
    """The client side of check() in the HTTPS rows: Python's ssl (the OpenSSL wrk and
    s_time use, with its default versions and suites), trusting the bench's
    self-signed certificate (made for IP 127.0.0.1); alpn: the protocols it offers
    (["h2"] for the HTTP/2 rows)."""
    ctx = ssl.create_default_context(cafile=certfile)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def _connect(port, timeout, tls):
    if tls is None:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)


def check(row, port, file_path, timeout=10.0, slow_path=False, tls=None):
    """One request of the row's kind to 127.0.0.1:port (over TLS with the client
    context `tls`, which HTTPS rows need); None when the answer is a 200 with the
    expected body, else what was wrong. slow_path (slow rows): first the response the
    slow clients ask for, read whole."""
    if slow_path and row.slow:
        err = _get(port, SLOW_PATH, SLOW_BODY, timeout, tls)
        if err:
            return err
    if row.h2:
        return check_h2(port, expected_body(row, file_path), timeout, tls)
    if row.method == "GET":
        return _get(port, "/", expected_body(row, file_path), timeout, tls)
    conn = _connect(port, timeout, tls)
    try:
        conn.request("POST", "/", body=ECHO_BODY,
                     headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as e:
        return "%s / failed: %s: %s" % (row.method, type(e).__name__, e)
    finally:
        conn.close()
    return _verdict("POST /", resp, data, ECHO_BODY)


def tls_session(port, tls, timeout=10.0):
    """The TLS version and suite a server at 127.0.0.1:port negotiates with the client
    context `tls` ("TLSv1.3 TLS_AES_256_GCM_SHA384"), or what went wrong."""
    conn = _connect(port, timeout, tls)
    try:
        conn.connect()
        return "%s %s" % (conn.sock.version(), conn.sock.cipher()[0])
    except (OSError, http.client.HTTPException) as e:
        return "unknown (%s: %s)" % (type(e).__name__, e)
    finally:
        conn.close()


def check_h2(port, want, timeout, tls):
    """GET / over HTTP/2 to 127.0.0.1:port with python3-h2: over TLS with `tls` (a
    context offering ALPN h2, which the server must choose), or with prior knowledge
    (h2c) when tls is None. None when the answer is a 200 with body `want`, else what
    was wrong."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as e:
        return "h2 connect failed: %s: %s" % (type(e).__name__, e)
    status, body, ended = None, bytearray(), None
    try:
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
            if sock.selected_alpn_protocol() != "h2":
                return "ALPN chose %r, not h2" % sock.selected_alpn_protocol()
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":path", "/"),
                                (":scheme", "https" if tls is not None else "http"),
                                (":authority", "127.0.0.1:%d" % port)], end_stream=True)
        sock.sendall(conn.data_to_send())
        while ended is None:
            data = sock.recv(65536)
            if not data:
                ended = "connection closed before the stream ended"
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    ended = ""
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    ended = "stream reset (error code %s)" % ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    ended = "GOAWAY (error code %s)" % ev.error_code
            sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.H2Error) as e:
        return "h2 GET / failed: %s: %s" % (type(e).__name__, e)
    finally:
        sock.close()
    if ended:
        return "h2 GET /: %s" % ended
    if status != 200:
        return "h2 GET / answered %s: %r" % (status, bytes(body[:200]))
    if body != want:
        return "h2 GET / answered %d bytes, not the %d expected (first bytes %r)" % (
            len(body), len(want), bytes(body[:40]))
    return None


def _get(port, path, want, timeout, tls):
    conn = _connect(port, timeout, tls)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as e:
        return "GET %s failed: %s: %s" % (path, type(e).__name__, e)
    finally:
        conn.close()
    return _verdict("GET " + path, resp, data, want)


def _verdict(what, resp, data, want):
    if resp.status != 200:
        return "%s answered %d %s: %r" % (what, resp.status, resp.reason, data[:200])
    if data != want:
        return "%s answered %d bytes, not the %d expected (first bytes %r)" % (
            what, len(data), len(want), data[:40])
    return None
