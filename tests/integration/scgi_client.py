"""A small SCGI client for the integration tests (the SCGI protocol: netstring
encoding of the request's variables, then the body; a CGI-style response, then the
server closes). Encoders that build any request, well-formed or not (hostile rows
S01-S23 of docs/hostile-inputs.md are written byte by byte), and ScgiConn: a
connection whose every read has a deadline (wsgate_util.t scales them), so a silent
server fails a test, it never hangs the suite. SCGI answers once per connection and
closes, so "the response" is everything read until the server closes.

Nothing here depends on pytest.
"""
import json
import re
import socket
import time

from wsgate_util import NoResponse, t


def _b(x):
    return x if isinstance(x, bytes) else str(x).encode("latin-1")


def netstring(block, length=None, comma=b","):
    """<length>:<block><comma>; length (bytes) overrides the true length."""
    n = str(len(block)).encode() if length is None else _b(length)
    return n + b":" + block + comma


def header_block(items):
    """NUL-terminated name/value strings, in order, as given (no checks)."""
    return b"".join(_b(k) + b"\0" + _b(v) + b"\0" for k, v in items)


def encode(items, body=b""):
    return netstring(header_block(items)) + body


def cgi_vars(method, uri, body=b"", content_type=None, headers=(), extra=(), scgi=True,
             content_length=None):
    """The variables a front server sends (nginx's stock scgi_params order):
    CONTENT_LENGTH first, then SCGI=1, the request, the connection, HTTP_*."""
    path, _, query = uri.partition("?")
    items = [("CONTENT_LENGTH", str(len(body)) if content_length is None else content_length)]
    if scgi:
        items.append(("SCGI", "1"))
    items += [("REQUEST_METHOD", method), ("REQUEST_URI", uri), ("QUERY_STRING", query)]
    if content_type is not None:
        items.append(("CONTENT_TYPE", content_type))
    items += [("SERVER_PROTOCOL", "HTTP/1.1"), ("REMOTE_ADDR", "127.0.0.1"),
              ("REMOTE_PORT", "40000"), ("SERVER_PORT", "80"), ("SERVER_NAME", "localhost")]
    for k, v in headers:
        items.append(("HTTP_" + k.upper().replace("-", "_"), v))
    items += list(extra)
    return items


def request_bytes(method, uri, body=b"", **kw):
    return encode(cgi_vars(method, uri, body=body, **kw), body)


class ScgiResponse:
    def __init__(self, raw, eof, reset):
        self.raw = raw
        self.eof = eof        # the server closed (EOF or RST)
        self.reset = reset
        self.status = None
        self.reason = None
        self.headers = []
        self.head = b""
        self.body = b""
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            return
        self.head = head + sep
        self.body = body
        lines = head.split(b"\r\n")
        for line in lines:
            k, c, v = line.partition(b":")
            if not c:
                raise AssertionError("bad CGI response header line %r in %r" % (line, raw[:300]))
            self.headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        st = self.header("Status")
        if st is not None:
            m = re.match(r"^([0-9]{3})(?: (.*))?$", st)
            assert m, "bad Status header %r" % st
            self.status = int(m.group(1))
            self.reason = m.group(2)

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<ScgiResponse %s %r body=%d bytes eof=%s reset=%s raw=%r>" % (
            self.status, self.headers, len(self.body), self.eof, self.reset, self.raw[:200])


class ScgiConn:
    """One SCGI connection (TCP or unix socket), every read against a deadline."""

    def __init__(self, addr, timeout=None):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(t(5))
        self.sock.connect(addr)
        if fam == socket.AF_INET:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = t(10) if timeout is None else timeout
        self.buf = b""
        self.eof = False
        self.reset = False
        self.chunks = []  # (monotonic time, bytes) as they arrived

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """sendall that tolerates the server having closed already."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def send_pieces(self, data, size=1):
        sent = 0
        try:
            for i in range(0, len(data), size):
                self.sock.sendall(data[i:i + size])
                sent += len(data[i:i + size])
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sent

    def shut_wr(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def fill(self, deadline):
        """Reads once into buf. False on EOF/RST; NoResponse when the deadline passes."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoResponse("nothing more before the deadline; have %r" % self.buf[:300])
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise NoResponse("nothing more before the deadline; have %r" % self.buf[:300])
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.chunks.append((time.monotonic(), chunk))
        self.buf += chunk
        return True

    def response(self, timeout=None):
        """Everything until the server closes, parsed as a CGI response. Raises
        NoResponse if the server does not close in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self.fill(deadline):
            pass
        return ScgiResponse(self.buf, self.eof, self.reset)

    def closed_within(self, timeout):
        """(closed?, bytes received): whether the server closed within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while self.fill(deadline):
                pass
        except NoResponse:
            return False, self.buf
        return True, self.buf


# ---------------------------------------------------------------- a running server

def open_scgi(srv, timeout=None):
    """A connection to the --scgi listener of a Server started by
    scgi_frontends.start_scgi_wsgate."""
    return ScgiConn(srv.scgi_addr, timeout=timeout)


def scgi_exchange(srv, data, timeout=None):
    """Sends data on a fresh connection; the response, read until the server closes."""
    with open_scgi(srv) as c:
        c.try_send(data)
        return c.response(timeout)


def scgi_get(srv, uri="/probe/x", **kw):
    """One GET (cgi_vars keywords: headers, extra...) on a fresh connection."""
    return scgi_exchange(srv, request_bytes("GET", uri, **kw))
