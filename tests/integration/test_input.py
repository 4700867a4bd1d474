"""wsgi.input: Content-Length and chunked bodies, every read style, big uploads,
and Expect: 100-continue (H51)."""
import hashlib
import json
import os
import time

import pytest
import requests

from wsgate_util import app_log, chunked, req, t, wait_log

LINES = b"first line\nsecond\n\nfourth line is longer than the others\nno newline at end"


def echo(srv, body, mode="readn", n=None, te_chunked=False, parts=None, app_path="/"):
    q = "?mode=%s" % mode + ("&n=%d" % n if n else "")
    if te_chunked:
        data = req("POST", app_path + q, [("Transfer-Encoding", "chunked")],
                   chunked(*(parts or [body])))
    else:
        data = req("POST", app_path + q, [("Content-Length", str(len(body)))], body)
    r = srv.exchange(data)
    assert r.status == 200, (r, r.body[:1000])
    return json.loads(r.body)


@pytest.fixture
def echo_srv(wsgate):
    return wsgate("it_echo")


@pytest.fixture
def echo_raw_srv(wsgate):
    return wsgate("it_echo:raw")


@pytest.mark.parametrize("mode", ["readn", "readline", "readline_n", "readlines", "iter",
                                  "mixed"])
@pytest.mark.parametrize("te", ["cl", "chunked"])
def test_read_styles(echo_srv, mode, te):
    d = echo(echo_srv, LINES, mode=mode, n=7, te_chunked=(te == "chunked"),
             parts=[LINES[:5], LINES[5:30], LINES[30:]])
    assert d["body"].encode("latin-1") == LINES
    if mode in ("readline", "readlines", "iter"):
        assert d["pieces"] == [len(x) for x in LINES.splitlines(True)]
    if mode == "readn":
        assert all(p <= 7 for p in d["pieces"])
    if mode == "readline_n":
        assert all(p <= 7 for p in d["pieces"])
        # a piece shorter than 7 ends a line (or the body)
        pos = 0
        for p in d["pieces"]:
            pos += p
            if p < 7:
                assert LINES[pos - 1:pos] == b"\n" or pos == len(LINES)


@pytest.mark.parametrize("te", ["cl", "chunked"])
def test_read_without_size(echo_raw_srv, te):
    d = echo(echo_raw_srv, LINES, mode="read", te_chunked=(te == "chunked"),
             parts=[LINES[:1], LINES[1:]])
    assert d["body"].encode("latin-1") == LINES
    assert d["npieces"] == 1


@pytest.mark.parametrize("te", ["cl", "chunked"])
def test_read_zero_and_minus_one(echo_raw_srv, te):
    d = echo(echo_raw_srv, LINES, mode="readneg", te_chunked=(te == "chunked"),
             parts=[LINES[:9], LINES[9:]])
    assert d["body"].encode("latin-1") == LINES


def test_read_one_byte_at_a_time(echo_srv):
    body = os.urandom(3000)
    d = echo(echo_srv, body, mode="readn", n=1)
    assert d["sha256"] == hashlib.sha256(body).hexdigest()
    assert d["npieces"] == 3000


def test_empty_body(echo_srv):
    d = echo(echo_srv, b"", mode="readn")
    assert d["len"] == 0
    assert d["content_length"] in ("0", None, "")


def test_no_body_get(echo_srv):
    r = echo_srv.exchange(req("GET", "/?mode=readn"))
    assert r.status == 200
    assert json.loads(r.body)["len"] == 0


def test_chunked_body_with_trailers_and_extensions(echo_srv):
    raw = (b"5;ext=1\r\nhello\r\n"
           b"1;a=b;c=\"quoted\"\r\n \r\n"
           b"5\r\nworld\r\n"
           b"0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n")
    r = echo_srv.exchange(req("POST", "/?mode=readn", [("Transfer-Encoding", "chunked")],
                              raw))
    assert r.status == 200, r
    d = json.loads(r.body)
    assert d["body"] == "hello world"
    assert d["content_length"] in (None, "")


def test_chunked_uppercase_hex_and_leading_zeros(echo_srv):
    body = b"x" * 0x1A
    raw = b"001A\r\n" + body + b"\r\n0000\r\n\r\n"
    r = echo_srv.exchange(req("POST", "/", [("Transfer-Encoding", "chunked")], raw))
    assert r.status == 200, r
    assert json.loads(r.body)["len"] == 0x1A


def test_transfer_encoding_case_insensitive(echo_srv):
    r = echo_srv.exchange(req("POST", "/", [("transfer-encoding", "Chunked")],
                              chunked(b"abc")))
    assert r.status == 200, r
    assert json.loads(r.body)["body"] == "abc"


def test_body_sent_in_tiny_pieces(echo_srv):
    body = os.urandom(2000)
    data = req("POST", "/?mode=readn&n=100", [("Content-Length", str(len(body)))], body)
    c = echo_srv.conn()
    try:
        c.send_pieces(data, size=97)
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200
    assert json.loads(r.body)["sha256"] == hashlib.sha256(body).hexdigest()


def test_chunked_body_in_tiny_pieces(echo_srv):
    parts = [os.urandom(n) for n in (1, 17, 300, 4096, 2)]
    data = req("POST", "/?mode=readn&n=333", [("Transfer-Encoding", "chunked")],
               chunked(*parts))
    c = echo_srv.conn()
    try:
        c.send_pieces(data, size=3)
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200
    assert json.loads(r.body)["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["readn", "readline"])
def test_big_upload_content_length(echo_srv, mode):
    body = os.urandom(3 * 1024 * 1024)
    r = requests.post(echo_srv.url("/?mode=%s&n=65536" % mode), data=body,
                      headers={"Content-Type": "application/octet-stream"}, timeout=t(60))
    assert r.status_code == 200
    d = r.json()
    assert d["len"] == len(body)
    assert d["sha256"] == hashlib.sha256(body).hexdigest()
    assert d["content_length"] == str(len(body))


@pytest.mark.slow
def test_big_upload_chunked(echo_srv):
    body = os.urandom(3 * 1024 * 1024)

    def gen():
        for i in range(0, len(body), 100000):
            yield body[i:i + 100000]
    r = requests.post(echo_srv.url("/?mode=readn&n=50000"), data=gen(), timeout=t(60))
    assert r.status_code == 200
    d = r.json()
    assert d["len"] == len(body)
    assert d["sha256"] == hashlib.sha256(body).hexdigest()


def test_read_never_passes_content_length(echo_srv):
    # The body is 5 bytes; a second request follows at once. The app reads until
    # b"" and must get exactly the 5 bytes, and the next request is served.
    c = echo_srv.conn()
    try:
        c.send(req("POST", "/?mode=readn&n=1000", [("Content-Length", "5")], b"hello")
               + req("POST", "/?mode=readn", [("Content-Length", "3")], b"bye"))
        r1 = c.read_response()
        r2 = c.read_response()
    finally:
        c.close()
    assert json.loads(r1.body)["body"] == "hello"
    assert json.loads(r2.body)["body"] == "bye"


# ---- Expect: 100-continue (H51) -------------------------------------------

@pytest.fixture
def expect_srv(wsgate):
    return wsgate("it_expect")


def test_expect_100_sent_only_when_app_reads(expect_srv):
    delay = t(1.0)
    c = expect_srv.conn()
    try:
        t0 = time.monotonic()
        c.send(req("POST", "/?delay=%g" % delay,
                   [("Content-Length", "5"), ("Expect", "100-continue")]))
        # The app sleeps before reading: nothing may arrive in the meantime.
        assert c.still_open(delay * 0.6), "server closed while the app was sleeping"
        r100 = c.read_response(timeout=t(10))
        elapsed = time.monotonic() - t0
        assert r100.status == 100, r100
        assert r100.version == "HTTP/1.1"
        assert elapsed >= delay * 0.9, "100 Continue came before the app read (%.2fs)" % elapsed
        c.send(b"hello")
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200
    assert r.body == b"read 5"


def test_expect_100_chunked(expect_srv):
    c = expect_srv.conn()
    try:
        c.send(req("POST", "/", [("Transfer-Encoding", "chunked"),
                                 ("Expect", "100-Continue")]))
        r100 = c.read_response(timeout=t(10))
        assert r100.status == 100
        c.send(chunked(b"abc", b"de"))
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200
    assert r.body == b"read 5"


def test_expect_100_body_sent_anyway(expect_srv):
    # A client that does not wait for 100 Continue: body follows the head at once.
    c = expect_srv.conn()
    try:
        c.send(req("POST", "/", [("Content-Length", "5"), ("Expect", "100-continue")],
                   b"hello"))
        r = c.read_response()
        if r.status == 100:
            r = c.read_response()
    finally:
        c.close()
    assert r.status == 200
    assert r.body == b"read 5"


def test_expect_without_read_closes_after_response(expect_srv):
    c = expect_srv.conn()
    try:
        c.send(req("POST", "/?noread=1", [("Content-Length", "100000"),
                                          ("Expect", "100-continue")]))
        r = c.read_response(timeout=t(10))
        assert r.status == 200, "got %r before the final answer" % r
        assert r.body == b"answered without reading"
        # the body was never requested: the connection cannot be reused
        assert c.closed_within(t(5)), "connection left open after an unread Expect body"
    finally:
        c.close()


def test_expect_unknown_is_417(wsgate):
    srv = wsgate("it_count")
    c = srv.conn()
    try:
        c.send(req("POST", "/x", [("Content-Length", "5"), ("Expect", "foo")]))
        r = c.read_response(timeout=t(10))
        assert r.status == 417, r
        assert c.closed_within(t(5))
    finally:
        c.close()
    log = app_log(srv)
    assert log == [], "the app ran for a request answered 417: %r" % log


def test_expect_on_get_without_body(expect_srv):
    # Expect with no body at all: the app reads b"" at once; no 100 is needed, and
    # a 100 then 200 is tolerated, but the final answer must come.
    c = expect_srv.conn()
    try:
        c.send(req("GET", "/", [("Expect", "100-continue")]))
        r = c.read_response(timeout=t(10))
        if r.status == 100:
            r = c.read_response(timeout=t(10))
    finally:
        c.close()
    assert r.status == 200
    assert r.body == b"read 0"


SANITIZED = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ


def _minflt(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])  # field 10: minor faults


def test_large_bodies_reuse_heap_memory(wsgate):
    """A 1 MiB body read whole is one 1 MiB block of the C heap per request. Under
    concurrent load those blocks are served from memory the previous requests freed,
    not faulted in again page by page (glibc's defaults: 130-220 faults of the
    block's 256 pages per request here), and once the process idles its free memory
    is given back (gateway/heap.h)."""
    from concurrent.futures import ThreadPoolExecutor
    srv = wsgate("it_echo", "--log-level", "debug")
    body = os.urandom(1 << 20)
    want = hashlib.sha256(body).hexdigest()

    def run(k):
        for _ in range(k):
            d = echo(srv, body, n=len(body))
            assert d["sha256"] == want and d["pieces"] == [len(body)]

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(run, [8] * 8))  # warm: the arenas grow to their working size
        before = _minflt(srv.pid)
        list(ex.map(run, [6] * 8))
        faults = (_minflt(srv.pid) - before) / 48
    if not SANITIZED:  # a sanitizer's allocator replaces glibc's and its settings
        assert faults < 64, "%.0f page faults per 1 MiB request" % faults
    wait_log(srv, r"idle: heap trimmed", timeout=t(5))
