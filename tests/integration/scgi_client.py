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

from wsgate_util import NoResponse, StreamConn, as_bytes, connect_to


def netstring(block, length=None, comma=b","):
    """<length>:<block><comma>; length (bytes) overrides the true length."""
    n = str(len(block)).encode() if length is None else as_bytes(length)
    return n + b":" + block + comma


def header_block(items):
    """NUL-terminated name/value strings, in order, as given (no checks)."""
    return b"".join(as_bytes(k) + b"\0" + as_bytes(v) + b"\0" for k, v in items)


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


class ScgiConn(StreamConn):
    """One SCGI connection (TCP or unix socket), every read against a deadline."""

    RECV_SIZE = 1 << 20
    RESPONSE = ScgiResponse  # what response() parses into (uwsgi_client's differs)

    def __init__(self, addr, timeout=None):
        super().__init__(connect_to(addr), timeout)
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.chunks = []  # (monotonic time, bytes) as they arrived

    def _got(self, chunk):
        self.chunks.append((time.monotonic(), chunk))

    def response(self, timeout=None):
        """Everything until the server closes, parsed as a CGI response. Raises
        NoResponse if the server does not close in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._fill(deadline):
            pass
        return self.RESPONSE(self.buf, self.eof, self.reset)

    def closed_within(self, timeout):
        """(closed?, bytes received): whether the server closed within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
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
