"""HTTP/2's defences (docs/hostile-inputs.md, Q01-Q10; docs/http.md, "HTTP/2"): raw
frames over plain sockets (h2c with prior knowledge), so that a test can send what no
well-behaved client sends, and Python's h2 where a client state machine helps.

One server carries every check (tests/apps/it_h2.py; --h2c, 8 threads, /metrics);
each attack gets its own connection, and after each one the server still serves.
"""
import os
import socket
import struct
import time

import h2.errors
import pytest

from test_h2 import H2Client
from wsgate_util import t, wait_for, wait_metric

# frame types and flags (RFC 9113 6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 2, 3, 4, 6, 7, 8, 9)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
CANCEL, ENHANCE_YOUR_CALM, REFUSED_STREAM = 0x8, 0xb, 0x7
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.fixture(scope="module")
def srv(wsgate_module):
    return wsgate_module("it_h2", "--h2c", "--threads", "8", stats=True)


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def hpack_int(value, prefix_bits, first=0):
    """RFC 7541 5.1: value with an N-bit prefix (first: the bits above it)."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value, index=False):
    """A literal field with a new name: incremental indexing (index) or without."""
    return (b"\x40" if index else b"\x00") + hpack_int(len(name), 7) + name + \
        hpack_int(len(value), 7) + value


def request_block(path):
    """GET (static 2), http (static 6), :path and :authority without indexing."""
    return b"\x82\x86" + b"\x04" + hpack_int(len(path), 7) + path + \
        b"\x01" + hpack_int(9, 7) + b"t.example"


class Raw:
    """A raw h2c connection: the preface and an empty SETTINGS already sent."""

    def __init__(self, srv):
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=t(10))
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def frames_until_close(self, timeout=None):
        """Every frame the server sends until it closes the connection (which must
        happen within timeout). The server's SETTINGS are acknowledged."""
        deadline = time.monotonic() + (t(15) if timeout is None else timeout)
        out = []
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the server kept the connection open; frames %r" % [
                f[:3] for f in out[-10:]]
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                continue
            if not data:
                return out
            self.buf += data
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                ftype, flags = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                out.append((ftype, flags, sid, self.buf[9:9 + n]))
                self.buf = self.buf[9 + n:]

    def close(self):
        self.sock.close()


def goaway_code(frames):
    """The error code of the (last) GOAWAY among frames, None without one."""
    codes = [struct.unpack(">II", f[3][:8])[1] for f in frames if f[0] == GOAWAY]
    return codes[-1] if codes else None


def still_serves(srv):
    c = H2Client(srv.port)
    try:
        sid = c.request("/probe")
        assert c.response(sid)["headers"][":status"] == "200"
    finally:
        c.close()


def access_count(srv, text):
    return srv.access_text().count(text)


# ---- Q01: Rapid Reset -----------------------------------------------------------------


def test_q01_rapid_reset_ends_in_enhance_your_calm(srv):
    """600 streams opened and reset at once (CVE-2023-44487): past 200 resets the
    connection gets GOAWAY ENHANCE_YOUR_CALM and is closed (nghttp2's own limit, 1000,
    would not have fired); streams reset before their dispatch never reach the app, so
    it runs at most a few of them."""
    c = Raw(srv)
    try:
        burst = b"".join(frame(HEADERS, END_STREAM | END_HEADERS, sid,
                               request_block(b"/probe?q01-rr")) +
                         frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))
                         for sid in range(1, 1200, 2))
        c.send(burst)
        frames = c.frames_until_close()
        assert goaway_code(frames) == ENHANCE_YOUR_CALM, frames[-3:]
    finally:
        c.close()
    still_serves(srv)
    wait_metric(srv, "wsgate_requests_in_flight", 0)
    assert access_count(srv, "q01-rr") <= 20, access_count(srv, "q01-rr")


def test_q06_streams_reset_while_their_app_runs_still_count(srv, tmp_path):
    """100 streams, all dispatched (8 apps sleeping 3 s on the 8 threads, 92 queued
    behind them), then all reset by the client: nghttp2 forgets them, but the 8 apps
    still run and the 92 still hold their place until a worker takes them, so a new
    stream is refused (REFUSED_STREAM) until they are done; then the connection
    carries on. The 92 reset while queued never reach the app (each would mark)."""
    wait_metric(srv, "wsgate_requests_in_flight", 0, timeout=t(20))  # earlier tests' done
    c = H2Client(srv.port)
    marks = [str(tmp_path / ("q06-%d" % i)) for i in range(100)]
    try:
        sids = [c.request("/slow?t=%s&q06z=%d&mark=%s" % (3 if i < 8 else 0, i, marks[i]))
                for i in range(100)]
        wait_metric(srv, "wsgate_requests_in_flight", 100)
        # the 8 apps run (a thread each) before the resets: else a thread still free
        # passes the queued, reset streams by at once, and they free their places
        wait_for(lambda: all(os.path.exists(m) for m in marks[:8]), t(10),
                 what="the first 8 apps running")
        for sid in sids:
            c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        c.flush()
        extra = c.request("/probe?q06-extra")
        r = c.response(extra)
        assert r["reset"] == h2.errors.ErrorCodes.REFUSED_STREAM, r
        wait_metric(srv, "wsgate_requests_in_flight", 0, timeout=t(20))
        sid = c.request("/probe?q06-after")
        assert c.response(sid)["headers"][":status"] == "200"
    finally:
        c.close()
    assert access_count(srv, "q06-extra") == 0
    ran = [i for i in range(100) if os.path.exists(marks[i])]
    assert ran == list(range(8)), ran


def test_q06_the_101st_open_stream(srv):
    """101 streams open at once, the client having acknowledged our
    SETTINGS_MAX_CONCURRENT_STREAMS of 100: nghttp2 treats the extra one as a
    connection error (RFC 9113 5.1.2 allows it): GOAWAY PROTOCOL_ERROR, closed, and
    none of the 100 read in the same breath reaches an app (they did before)."""
    c = Raw(srv)
    try:
        c.send(frame(SETTINGS, ACK, 0) +
               b"".join(frame(HEADERS, END_HEADERS, sid, request_block(b"/echo?q06-open"))
                        for sid in range(1, 203, 2)))
        frames = c.frames_until_close()
        assert goaway_code(frames) == h2.errors.ErrorCodes.PROTOCOL_ERROR, frames[-3:]
        last = [struct.unpack(">I", f[3][:4])[0] for f in frames if f[0] == GOAWAY][-1]
        assert last < 201, last
    finally:
        c.close()
    still_serves(srv)
    assert access_count(srv, "q06-open") == 0


# ---- Q02, Q03: CONTINUATION flood, HPACK bomb -------------------------------------------


def test_q02_continuation_flood(srv):
    """A header block that never ends (CVE-2024-27316): 100 CONTINUATION frames after
    a HEADERS frame. Cut after nghttp2's 8 with GOAWAY ENHANCE_YOUR_CALM: nothing is
    buffered beyond that; the same with tiny frames."""
    for size in (1000, 1):
        c = Raw(srv)
        try:
            cont = b"".join(frame(CONTINUATION, 0, 1, literal(b"x-c", b"v" * size))
                            for _ in range(100))
            c.send(frame(HEADERS, 0, 1, request_block(b"/probe?q02")) + cont)
            frames = c.frames_until_close()
            assert goaway_code(frames) == ENHANCE_YOUR_CALM, (size, frames[-3:])
        finally:
            c.close()
    still_serves(srv)
    assert access_count(srv, "q02") == 0


@pytest.mark.parametrize("where", ["head", "trailers"])
def test_q03_hpack_bomb(srv, where):
    """One 4,000-byte field put in the HPACK table, then referenced 12,000 times in
    one 16 KiB block (48 MB decoded), in the request's head or in its trailers: past
    twice --max-header-size (64 KiB) of decoded fields the connection gets GOAWAY
    ENHANCE_YOUR_CALM (before: the stream got 431, or the trailers were decoded to the
    end, all 12,000 fields). A head just past the limit still gets 431 on its stream
    (test_h2.py::test_settings_and_refusals)."""
    c = Raw(srv)
    try:
        bomb = literal(b"x-bomb", b"a" * 4000, index=True) + \
            b"\xbe" * 12000  # \xbe: dynamic table index 62, the x-bomb field
        if where == "head":
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1,
                         request_block(b"/probe?q03") + bomb))
        else:
            c.send(frame(HEADERS, END_HEADERS, 1, request_block(b"/echo?q03")) +
                   frame(DATA, 0, 1, b"body") +
                   frame(HEADERS, END_HEADERS | END_STREAM, 1, bomb))
        frames = c.frames_until_close()
        assert goaway_code(frames) == ENHANCE_YOUR_CALM, frames[-3:]
        if where == "head":
            assert not [f for f in frames if f[0] == HEADERS], frames
    finally:
        c.close()
    still_serves(srv)
    if where == "head":
        assert access_count(srv, "/probe?q03") == 0


# ---- Q04: control-frame floods ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["SETTINGS", "PING", "PRIORITY", "WINDOW_UPDATE",
                                  "empty DATA"])
def test_q04_control_frame_floods(srv, kind):
    """1,500 frames that bring no request, sent at once and never read by the client:
    past 1,000 (refilled at 100 a second) GOAWAY ENHANCE_YOUR_CALM and the connection
    closed; the acks we owe do not pile up (nghttp2 would have let them all through:
    its own limit counts only acks the socket did not take)."""
    if kind == "empty DATA":  # on an open stream whose body never comes
        head = frame(HEADERS, END_HEADERS, 1, request_block(b"/echo?q04"))
        one = lambda i: frame(DATA, 0, 1)  # noqa: E731
    else:
        head = b""
        one = {"SETTINGS": lambda i: frame(SETTINGS, 0, 0),
               "PING": lambda i: frame(PING, 0, 0, b"%08d" % i),
               "PRIORITY": lambda i: frame(PRIORITY, 0, 2 * i + 1, struct.pack(">IB", 0, 15)),
               "WINDOW_UPDATE": lambda i: frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)),
               }[kind]
    c = Raw(srv)
    try:
        c.send(frame(SETTINGS, ACK, 0) + head + b"".join(one(i) for i in range(1500)))
        frames = c.frames_until_close()
        assert goaway_code(frames) == ENHANCE_YOUR_CALM, frames[-3:]
        assert len(frames) < 1100, len(frames)
    finally:
        c.close()
    still_serves(srv)


def test_q04_too_many_settings_in_one_frame(srv):
    """33 entries in one SETTINGS frame (nghttp2 takes 32): nghttp2's own GOAWAY
    ENHANCE_YOUR_CALM, and the connection is closed at once (it stayed open until
    --keep-alive: a connection error nghttp2 answers itself was not noticed while no
    stream was ready)."""
    c = Raw(srv)
    try:
        c.send(frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", 4, 65535) for _ in range(33))))
        frames = c.frames_until_close(timeout=t(3))
        assert goaway_code(frames) == ENHANCE_YOUR_CALM, frames[-3:]
    finally:
        c.close()


# ---- stream-id exhaustion ---------------------------------------------------------------


def test_last_stream_id_gets_goaway_and_the_client_reconnects(srv):
    """A client at the last odd stream id (2**31-1) is served, and told by GOAWAY
    NO_ERROR naming that stream to go on elsewhere: the connection closes once the
    stream is done, a new one is served."""
    last = 2 ** 31 - 1
    c = Raw(srv)
    try:
        c.send(frame(SETTINGS, ACK, 0) +
               frame(HEADERS, END_HEADERS | END_STREAM, last, request_block(b"/probe?last")))
        frames = c.frames_until_close()
        assert goaway_code(frames) == h2.errors.ErrorCodes.NO_ERROR, frames[-3:]
        goaway = [f for f in frames if f[0] == GOAWAY][-1]
        assert struct.unpack(">I", goaway[3][:4])[0] == last
        assert [f for f in frames if f[0] == HEADERS and f[2] == last], frames
        assert [f for f in frames if f[0] == DATA and f[2] == last and f[1] & END_STREAM]
    finally:
        c.close()
    still_serves(srv)
