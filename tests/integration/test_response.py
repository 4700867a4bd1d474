"""Response framing (Content-Length, chunked, HTTP/1.0 close-delimited, no body
for HEAD/204/304), Date/Server, write(), wsgi.file_wrapper, close(), exc_info,
and the response-side rows R1-R5 of docs/hostile-inputs.md."""
import email.utils
import hashlib
import os
import time

import pytest
import requests

from wsgate_util import NoResponse, expected_stream, req, t, wait_access, wait_for


SECRET = b"MUST-NOT-BE-SENT"


@pytest.fixture
def stream_srv(wsgate):
    return wsgate("it_stream")


@pytest.fixture
def bad_srv(wsgate):
    s = wsgate("it_bad")
    return s


# ---- framing ---------------------------------------------------------------

def test_content_length_from_app(wsgate):
    srv = wsgate("it_stream")
    r = srv.exchange(req("GET", "/?n=3&size=5&cl=1"))
    assert r.status == 200
    assert r.header("Content-Length") == "15"
    assert r.header("Transfer-Encoding") is None
    assert r.body == expected_stream(3, 5)


def test_chunked_when_no_content_length(stream_srv):
    r = stream_srv.exchange(req("GET", "/?n=4&size=1000"))
    assert r.status == 200
    assert r.chunked, r
    assert r.header("Content-Length") is None
    assert r.body == expected_stream(4, 1000)
    assert r.complete


def test_http10_close_delimited(stream_srv):
    c = stream_srv.conn()
    try:
        c.send(req("GET", "/?n=3&size=100", version="HTTP/1.0", host=None))
        r = c.read_response()  # reads to the close when there is no framing
        assert r.version in ("HTTP/1.1", "HTTP/1.0")
        assert r.header("Transfer-Encoding") is None, "chunked sent to an HTTP/1.0 client"
        assert r.header("Content-Length") is None
        assert r.body == expected_stream(3, 100)
        assert c.eof
    finally:
        c.close()


def test_http10_with_content_length(stream_srv):
    c = stream_srv.conn()
    try:
        c.send(req("GET", "/?n=2&size=10&cl=1", version="HTTP/1.0", host=None))
        r = c.read_response()
        assert r.header("Content-Length") == "20"
        assert r.body == expected_stream(2, 10)
        assert c.closed_within(t(5)), "HTTP/1.0 without keep-alive: must close"
    finally:
        c.close()


def test_streaming_is_not_buffered(stream_srv):
    delay = t(0.7)
    c = stream_srv.conn()
    try:
        t0 = time.monotonic()
        c.send(req("GET", "/?n=3&size=10&delay=%g" % delay))
        deadline = t0 + t(10)
        while b"aaaaaaaaaa" not in c.buf:
            assert c._fill(deadline), "closed before the first chunk"
        first = time.monotonic() - t0
        r = c.read_response()
        total = time.monotonic() - t0
    finally:
        c.close()
    assert r.body == expected_stream(3, 10)
    assert first < delay * 0.7, "first chunk only after %.2fs: the response is buffered" % first
    assert total >= 2 * delay * 0.9


def test_empty_chunks_are_not_terminators(wsgate, tmp_path):
    (tmp_path / "it_empty_chunks.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'', b'a', b'', b'', b'b', b'']\n")
    srv = wsgate("it_empty_chunks", "--pythonpath", str(tmp_path))
    c = srv.conn()
    try:
        c.send(req("GET", "/") + req("GET", "/"))
        r1 = c.read_response()
        r2 = c.read_response()
    finally:
        c.close()
    assert r1.body == b"ab" and r2.body == b"ab"


def test_date_and_server_headers(stream_srv):
    r = stream_srv.exchange(req("GET", "/?n=1&size=1&cl=1"))
    server = r.header_all("Server")
    assert len(server) == 1 and server[0].startswith("wsgate/"), r.headers
    dates = r.header_all("Date")
    assert len(dates) == 1, r.headers
    assert dates[0].endswith(" GMT"), dates
    when = email.utils.parsedate_to_datetime(dates[0]).timestamp()
    assert abs(when - time.time()) < 120, dates[0]


def test_app_headers_kept_in_order_and_repeated(wsgate):
    srv = wsgate("it_flask")
    r = srv.exchange(req("GET", "/cookie"))
    cookies = r.header_all("Set-Cookie")
    assert len(cookies) == 2, r.headers
    assert cookies[0].startswith("a=1") and cookies[1].startswith("b=2")


def test_head_has_no_body(stream_srv):
    c = stream_srv.conn()
    try:
        c.send(req("HEAD", "/?n=3&size=10") + req("GET", "/?n=1&size=3"))
        r1 = c.read_response(method="HEAD")
        r2 = c.read_response()
    finally:
        c.close()
    assert r1.status == 200 and r1.body == b""
    assert r2.status == 200 and r2.body == b"aaa", "stray bytes after the HEAD answer?"


# ---- write() ----------------------------------------------------------------

@pytest.mark.parametrize("path,body", [
    ("/write-only", b"one;two;three;"),
    ("/mixed", b"one;two;three;four;"),
    ("/cl", b"hello world!"),
    ("/empty", b"x"),
])
def test_write_callable(wsgate, path, body):
    srv = wsgate("it_write")
    c = srv.conn()
    try:
        c.send(req("GET", path) + req("GET", path))
        r1 = c.read_response()
        r2 = c.read_response()
    finally:
        c.close()
    assert r1.status == 200 and r1.body == body
    assert r2.body == body
    if path == "/cl":
        assert r1.header("Content-Length") == "12"


# ---- file_wrapper ------------------------------------------------------------

@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("fw") / "big.bin"
    data = os.urandom(5 * 1024 * 1024 + 12345)
    p.write_bytes(data)
    return str(p), hashlib.sha256(data).hexdigest(), len(data)


@pytest.mark.slow
@pytest.mark.parametrize("app", ["it_filewrap", "it_filewrap:validated"])
@pytest.mark.parametrize("cl", [True, False])
def test_file_wrapper_big_file(wsgate, big_file, app, cl):
    path, digest, size = big_file
    srv = wsgate(app)
    r = requests.get(srv.url("/"), params={"path": path, "cl": "1" if cl else "0"},
                     timeout=t(60))
    assert r.status_code == 200
    assert len(r.content) == size
    assert hashlib.sha256(r.content).hexdigest() == digest
    if cl:
        assert r.headers["Content-Length"] == str(size)
    else:
        assert r.headers.get("Transfer-Encoding") == "chunked"


@pytest.mark.slow
def test_file_wrapper_http10(wsgate, big_file):
    path, digest, size = big_file
    srv = wsgate("it_filewrap")
    c = srv.conn()
    try:
        c.send(req("GET", "/?path=%s" % path, version="HTTP/1.0", host=None))
        r = c.read_response(timeout=t(60))
    finally:
        c.close()
    assert r.header("Transfer-Encoding") is None
    assert hashlib.sha256(r.body).hexdigest() == digest


@pytest.mark.parametrize("cl", ["1", "0"])
def test_file_wrapper_from_current_position(wsgate, tmp_path, cl):
    p = tmp_path / "seek.bin"
    data = os.urandom(300000)
    p.write_bytes(data)
    srv = wsgate("it_filewrap")
    r = requests.get(srv.url("/"), params={"path": str(p), "seek": "12345", "cl": cl},
                     timeout=t(30))
    assert r.status_code == 200
    assert len(r.content) == len(data) - 12345
    assert r.content == data[12345:], "file_wrapper ignored the file position"


def test_file_wrapper_content_length_shorter_than_file(wsgate, tmp_path):
    p = tmp_path / "short.bin"
    data = os.urandom(200000)
    p.write_bytes(data)
    srv = wsgate("it_filewrap")
    c = srv.conn()
    try:
        c.send(req("GET", "/?path=%s&cl=1000" % p) + req("GET", "/?path=%s&cl=1" % p))
        r1 = c.read_response()
        assert r1.body == data[:1000]
        # what follows must be the next response (or a close), never file bytes
        try:
            r2 = c.read_response(timeout=t(10))
        except NoResponse:
            assert c.eof
        else:
            assert r2.status == 200 and r2.body == data
    finally:
        c.close()


def test_file_wrapper_bytesio(wsgate, tmp_path):
    p = tmp_path / "small.bin"
    data = os.urandom(200000)
    p.write_bytes(data)
    srv = wsgate("it_filewrap")
    r = requests.get(srv.url("/"), params={"path": str(p), "kind": "bytesio", "blk": "7000"},
                     timeout=t(30))
    assert r.status_code == 200
    assert r.content == data


def test_file_wrapper_head_and_keepalive(wsgate, big_file):
    path, digest, size = big_file
    srv = wsgate("it_filewrap")
    c = srv.conn()
    try:
        c.send(req("HEAD", "/?path=%s&cl=1" % path) + req("GET", "/?path=%s&cl=1" % path))
        r1 = c.read_response(method="HEAD")
        r2 = c.read_response(timeout=t(60))
    finally:
        c.close()
    assert r1.body == b"" and r1.header("Content-Length") == str(size)
    assert hashlib.sha256(r2.body).hexdigest() == digest


# ---- close() -----------------------------------------------------------------

def read_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def test_close_called_after_response(wsgate, tmp_path):
    rep = str(tmp_path / "close.txt")
    srv = wsgate("it_close")
    r = srv.exchange(req("GET", "/ok?file=" + rep))
    assert r.body == b"abc"
    # the access line comes once the request is over: a second close() would be in
    wait_access(srv, "/ok?file=")
    assert read_lines(rep) == ["closed /ok"]


def test_close_called_when_iterator_raises(wsgate, tmp_path):
    rep = str(tmp_path / "close.txt")
    srv = wsgate("it_close")
    c = srv.conn()
    try:
        c.send(req("GET", "/raise?file=" + rep))
        r = c.read_response(allow_partial=True)
        assert not r.complete, "an aborted response looked complete: %r" % r
        assert c.eof
    finally:
        c.close()
    wait_for(lambda: read_lines(rep), t(5), what="close() to be called")
    assert read_lines(rep) == ["closed /raise"]
    assert "deliberate failure" in srv.error_text()


@pytest.mark.slow
def test_close_called_when_client_leaves(wsgate, tmp_path):
    rep = str(tmp_path / "close.txt")
    srv = wsgate("it_close")
    c = srv.conn()
    c.send(req("GET", "/slow?n=2000&delay=0.005&file=" + rep))
    deadline = time.monotonic() + t(10)
    while len(c.buf) < 70000:
        assert c._fill(deadline)
    c.close()
    wait_for(lambda: read_lines(rep), t(15), what="close() after the client left")
    wait_access(srv, "/slow?n=")  # the request is over: a second close() would be in
    assert read_lines(rep) == ["closed /slow"]


# ---- exc_info ----------------------------------------------------------------

def test_exc_info_before_headers_sent(wsgate):
    srv = wsgate("it_excinfo")
    r = srv.exchange(req("GET", "/before"))
    assert r.status == 500
    assert r.body == b"handled error"


def test_exc_info_after_headers_sent_aborts(wsgate):
    srv = wsgate("it_excinfo")
    c = srv.conn()
    try:
        c.send(req("GET", "/after"))
        r = c.read_response(allow_partial=True)
        assert r.status == 200
        assert r.body.startswith(b"partial;")
        assert SECRET not in r.body
        assert not r.complete, "aborted response ended cleanly: %r" % r
    finally:
        c.close()


def test_start_response_twice_without_exc_info(wsgate):
    srv = wsgate("it_excinfo")
    c = srv.conn()
    try:
        c.send(req("GET", "/twice"))
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 500, r
    assert SECRET not in r.body


# ---- R1: header and status injection -------------------------------------------

@pytest.mark.parametrize("path", [
    "/crlf-value", "/lf-value", "/cr-value", "/nul-value", "/crlf-status", "/space-name",
    "/nul-name", "/colon-name", "/crlf-name", "/status-letters", "/status-4digits",
    "/status-nonascii", "/value-nonlatin1",
])
def test_r1_bad_headers_give_500(bad_srv, path):
    c = bad_srv.conn()
    try:
        c.send(req("GET", path))
        r = c.read_response(allow_partial=True)
        wire = r.raw_head + r.body + c.buf
        assert r.status == 500, r
        for bad in (b"injected", b"Injected", b"X-Test", b"X Test", b"\x00", b"fine\n",
                    b"2000 OK", b"abc"):
            assert bad not in wire, "%r on the wire: %r" % (bad, wire)
        if not c.eof:
            # the connection, if kept, must still be in sync
            c.send(req("GET", "/ok"))
            try:
                r2 = c.read_response()
            except NoResponse:
                return  # closed: fine
            assert r2.status == 200 and r2.body == b"fine\n"
    finally:
        c.close()


def test_latin1_header_value_and_custom_reason(bad_srv):
    c = bad_srv.conn()
    try:
        c.send(req("GET", "/latin1-value"))
        r = c.read_response()
    finally:
        c.close()
    assert r.raw_head.startswith(b"HTTP/1.1 299 Custom Reason Here\r\n"), r.raw_head
    assert b"\r\nX-Name: caf\xe9\r\n" in r.raw_head, r.raw_head
    assert r.body == b"fine\n"


# ---- R2: Content-Length disagreeing with the body ---------------------------------

def test_r2_short_body_closes(bad_srv):
    c = bad_srv.conn()
    try:
        c.send(req("GET", "/cl10-9"))
        r = c.read_response(allow_partial=True)
        assert r.status == 200
        assert r.header("Content-Length") == "10"
        assert r.body == b"123456789"
        assert not r.complete
        assert c.eof, "server kept a desynchronised connection open"
    finally:
        c.close()


def test_r2_long_body_truncated_then_close(bad_srv):
    c = bad_srv.conn()
    try:
        c.send(req("GET", "/cl10-20") + req("GET", "/ok"))
        r = c.read_response()
        assert r.body == b"0123456789"
        rest = c.read_until_close(t(10))
        assert b"ABCDEFGHIJ" not in rest, "bytes beyond Content-Length were sent"
        assert rest == b"", "after an over-long body the server must close: %r" % rest
    finally:
        c.close()


# ---- R3: no body on HEAD / 204 / 205 / 304 -------------------------------------------

@pytest.mark.parametrize("method,path,status", [
    ("HEAD", "/body", 200),
    ("HEAD", "/body-nocl", 200),
    ("GET", "/204", 204),
    ("GET", "/204-cl", 204),
    ("GET", "/304", 304),
    ("GET", "/304-cl", 304),
    ("HEAD", "/204", 204),
    ("GET", "/205", 205),
    ("GET", "/205-nocl", 205),
    ("HEAD", "/205", 205),
])
def test_r3_no_body(bad_srv, method, path, status):
    c = bad_srv.conn()
    try:
        c.send(req(method, path) + req("GET", "/ok"))
        r = c.read_response(method=method)
        assert r.status == status
        assert r.header("Transfer-Encoding") is None, r.headers
        if status == 204:
            assert r.header("Content-Length") in (None,), r.headers
        if status == 205:
            # RFC 9110 15.3.6: no content; unlike 204/304 a 205 is not ended by its
            # head (RFC 9112 6.3), so it is framed with Content-Length: 0
            assert r.header("Content-Length") == "0", r.headers
            assert r.body == b"", r
        if path == "/304-cl" or (method, path) == ("HEAD", "/body"):
            assert r.header("Content-Length") not in (None, "0"), r.headers  # as given
        r2 = c.read_response()
        assert SECRET not in r2.raw_head + r2.body
        assert r2.status == 200 and r2.body == b"fine\n", r2
    finally:
        c.close()


# ---- R4: raise after the headers were sent -------------------------------------------

@pytest.mark.parametrize("path", ["/raise-after-first", "/raise-after-first-cl"])
def test_r4_raise_after_headers_aborts(bad_srv, path):
    c = bad_srv.conn()
    try:
        c.send(req("GET", path) + req("GET", "/ok"))
        r = c.read_response(allow_partial=True)
        assert r.status == 200
        assert r.body == b"first-chunk;"
        assert not r.complete, "a failed response ended with a clean terminator"
        assert c.eof, "connection kept after an aborted response"
    finally:
        c.close()
    assert "raise after first chunk" in bad_srv.error_text()


# ---- R5 and friends: no usable start_response ----------------------------------------

@pytest.mark.parametrize("path", ["/no-start-response", "/no-start-response-empty",
                                  "/raise-before-start", "/returns-none", "/yields-str"])
def test_r5_500(bad_srv, path):
    c = bad_srv.conn()
    try:
        c.send(req("GET", path))
        r = c.read_response()
        assert r.status == 500, r
        assert SECRET not in r.raw_head + r.body
    finally:
        c.close()


def test_app_exception_logged(bad_srv):
    r = bad_srv.exchange(req("GET", "/raise-before-start"))
    assert r.status == 500
    wait_for(lambda: "raise before start_response" in bad_srv.error_text(), t(5),
             what="the traceback in the error log")
    assert "Traceback" in bad_srv.error_text()
