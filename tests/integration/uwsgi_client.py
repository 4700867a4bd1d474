"""A small uwsgi-protocol client for the integration tests (uWSGI's wire format as
nginx's uwsgi_pass sends it: a 4-byte header, modifier1, little-endian 16-bit
datasize, modifier2; the vars block of pairs, each key and value after its
little-endian 16-bit length; then the body. The answer is an HTTP status line and
headers, then the body until the server closes). Encoders that build any request,
well-formed or not (the hostile rows U01-U07 of docs/hostile-inputs.md), and
UwsgiConn: scgi_client's connection (every read against a deadline) with the
response parsed from its status line.

Nothing here depends on pytest.
"""
import re
import struct

from scgi_client import ScgiConn, ScgiResponse
from wsgate_util import as_bytes


def pair(key, value, key_len=None, value_len=None):
    """One pair; key_len/value_len override the true lengths."""
    k, v = as_bytes(key), as_bytes(value)
    return (struct.pack("<H", len(k) if key_len is None else key_len) + k
            + struct.pack("<H", len(v) if value_len is None else value_len) + v)


def vars_block(items):
    return b"".join(pair(k, v) for k, v in items)


def packet(block, modifier1=0, modifier2=0, size=None):
    """The 4-byte header and the block; size overrides the block's true length."""
    return (bytes([modifier1]) + struct.pack("<H", len(block) if size is None else size)
            + bytes([modifier2]) + block)


def encode(items, body=b"", **kw):
    return packet(vars_block(items), **kw) + body


def uwsgi_vars(method, uri, body=b"", content_type=None, headers=(), extra=(),
               content_length=None):
    """The variables nginx's stock uwsgi_params send, in their order, then HTTP_*:
    CONTENT_LENGTH is empty for a request without a body."""
    path, _, query = uri.partition("?")
    if content_length is None:
        content_length = str(len(body)) if body else ""
    items = [("QUERY_STRING", query), ("REQUEST_METHOD", method),
             ("CONTENT_TYPE", content_type or ""), ("CONTENT_LENGTH", content_length),
             ("REQUEST_URI", uri), ("PATH_INFO", path.replace("%20", " ")),
             ("DOCUMENT_ROOT", "/srv/www"), ("SERVER_PROTOCOL", "HTTP/1.1"),
             ("REQUEST_SCHEME", "http"), ("REMOTE_ADDR", "127.0.0.1"),
             ("REMOTE_PORT", "40000"), ("SERVER_PORT", "80"), ("SERVER_NAME", "localhost")]
    for k, v in headers:
        items.append(("HTTP_" + k.upper().replace("-", "_"), v))
    items += list(extra)
    return items


def request_bytes(method, uri, body=b"", **kw):
    return encode(uwsgi_vars(method, uri, body=body, **kw), body)


class UwsgiResponse(ScgiResponse):
    """The answer: "HTTP/1.1 <status> <reason>", header lines, a blank line, the body
    (until the server closes)."""

    def __init__(self, raw, eof, reset):
        self.status_line = None
        first, sep, rest = raw.partition(b"\r\n")
        if sep and re.match(rb"^HTTP/1\.1 [0-9]{3} ", first):
            self.status_line = first
            super().__init__(rest, eof, reset)
            self.raw = raw
            self.status = int(first[9:12])
            self.reason = first[13:].decode("latin-1")
        elif b"\r\n\r\n" not in raw:  # nothing complete (closed early, or refused)
            super().__init__(raw, eof, reset)
        else:
            raise AssertionError("not an HTTP/1.1 status line: %r" % raw[:200])


class UwsgiConn(ScgiConn):
    RESPONSE = UwsgiResponse


def open_uwsgi(srv, timeout=None):
    """A connection to the --uwsgi listener of a Server started with
    scgi_frontends.start_uwsgi_wsgate."""
    return UwsgiConn(srv.uwsgi_addr, timeout=timeout)


def uwsgi_exchange(srv, data, timeout=None):
    """Sends data on a fresh connection; the response, read until the server closes."""
    with open_uwsgi(srv) as c:
        c.try_send(data)
        return c.response(timeout)


def uwsgi_get(srv, uri="/probe/x", **kw):
    """One GET (uwsgi_vars keywords: headers, extra...) on a fresh connection."""
    return uwsgi_exchange(srv, request_bytes("GET", uri, **kw))
