"""The --scgi front-end over raw sockets (issue 4): the SCGI rows S01-S23 of
docs/hostile-inputs.md with the answers written there, plus plain requests through
the environ probe, the same environ as --http for the same request, a streamed
response, 5 MB responses (generator and wsgi.file_wrapper), the response-side R rows,
the limits (--max-body 413, --max-header-size 431) and --script-name.

The SCGI client is tests/integration/scgi_client.py (netstring encoding, a CGI-style
response reader); every read has a deadline, so a silent server fails a test, it
never hangs the suite. SCGI answers once per connection and closes, so "the
response" is everything read until the server closes.

"The app was not called" is checked with it_slow's ?mark= file (scgi_mux /slow/);
"the app was called once" with scgi_mux's /count/?file=; what the app saw of a body
that ended early with it_echo's ?report= file.
"""
import hashlib
import json
import os
import threading
import time

import pytest

from scgi_client import (ScgiResponse, cgi_vars, encode, header_block, netstring,
                         open_scgi, request_bytes, scgi_exchange, scgi_get)
from scgi_frontends import require_scgi, start_scgi_wsgate
from wsgate_util import (NoResponse, assert_app_not_called, json_over_http, logs,
                         server_closed_fully, t, wait_for, wait_idle, wait_mark, wait_metric)


# ---------------------------------------------------------------- fixtures & helpers

BASELINE = (b"58:CONTENT_LENGTH\x005\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00"
            b"REQUEST_URI\x00/\x00,hello")


@pytest.fixture(scope="module")
def ssrv(wsgate_module):
    """One wsgate (scgi_mux) with --scgi on TCP, shared by the tests that need no
    special options. --read-timeout 30: a test that sees a close within a few seconds
    knows it was not the read timeout. --stats: for wsgate_util.wait_idle."""
    require_scgi()
    return start_scgi_wsgate(wsgate_module, "scgi_mux", "--read-timeout", "30", stats=True)


@pytest.fixture
def ssrv_factory(wsgate):
    """Factory for a wsgate with options: ssrv_factory(*args, app=, unix=); each has
    --stats too."""
    require_scgi()

    def start(*args, app="scgi_mux", unix=False, **kw):
        return start_scgi_wsgate(wsgate, app, *args, unix=unix, stats=True, **kw)
    return start


def assert_serving(srv):
    """A fresh connection still gets a complete 200 (the bad input hurt only its own
    connection)."""
    r = scgi_get(srv, "/probe/alive")
    assert r.status == 200 and r.eof, (r, logs(srv, 3000))
    assert r.json()["environ"]["PATH_INFO"] == "/probe/alive"


def assert_refused(srv, data, status=400, mark=None, timeout=None):
    """data is refused: a CGI-style `Status: <status>` answer (nothing else), then
    close, well before the read timeout; the app is not called."""
    with open_scgi(srv) as c:
        c.try_send(data)
        try:
            r = c.response(t(5) if timeout is None else timeout)
        except NoResponse as e:
            raise AssertionError("not refused: the server waited for more (%s)" % e)
    assert r.status == status, (data[:200], r, logs(srv, 3000))
    assert r.header("Content-Length") == str(len(r.body)), r
    assert b"Status: 200" not in r.raw, r
    if mark:
        assert_app_not_called(srv, mark)
    return r


def mark_uri(tmp_path, name="mark"):
    p = str(tmp_path / name)
    return p, "/slow/?mark=" + p




# ---------------------------------------------------------------- plain requests

def test_get_probe(ssrv):
    r = scgi_get(ssrv, "/probe/a%20b/c?x=1&y=%20", headers=[("Host", "example.org"),
                                                        ("X-Foo", "bar")])
    assert r.eof, r
    assert r.raw.startswith(b"Status: 200 OK\r\n"), r.raw[:200]
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    assert r.header("Content-Length") == str(len(r.body))
    out = r.json()
    env = out["environ"]
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/probe/a b/c"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["REQUEST_URI"] == "/probe/a%20b/c?x=1&y=%20"
    assert env["HTTP_X_FOO"] == "bar"
    assert env["HTTP_HOST"] == "example.org"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == "40000"
    assert env["SERVER_NAME"] == "localhost"
    assert env["SERVER_PORT"] == "80"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["wsgi.url_scheme"] == "http"
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0")
    assert "CONTENT_TYPE" not in env
    assert out["wsgi.version"] == [1, 0]
    assert out["input_methods"] == ["__iter__", "read", "readline", "readlines"]
    assert out["file_wrapper_callable"] is True


@pytest.mark.parametrize("size", [5, 65536, 150000])
def test_post_probe(ssrv, size):
    """Small bodies are read before dispatch, bigger ones streamed to wsgi.input: the
    app sees exactly CONTENT_LENGTH bytes either way."""
    body = os.urandom(size)
    r = scgi_exchange(ssrv, request_bytes("POST", "/probe/p?read=1", body=body,
                                     content_type="application/octet-stream"))
    assert r.status == 200, (r, logs(ssrv, 3000))
    out = r.json()
    assert out["body_len"] == len(body)
    assert out["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert out["environ"]["CONTENT_LENGTH"] == str(len(body))
    assert out["environ"]["CONTENT_TYPE"] == "application/octet-stream"
    assert out["environ"]["REQUEST_METHOD"] == "POST"
    assert out.get("wsgi.input_terminated") in (None, True)


def test_baseline_exact_bytes(ssrv_factory):
    """The baseline of docs/hostile-inputs.md's SCGI table, byte for byte, to it_echo."""
    srv = ssrv_factory(app="it_echo")
    r = scgi_exchange(srv, BASELINE)
    assert r.status == 200, (r, logs(srv, 3000))
    out = r.json()
    assert (out["len"], out["body"], out["content_length"]) == (5, "hello", "5"), out


@pytest.mark.parametrize("size", [1, 7])
def test_head_and_body_fed_in_small_pieces(ssrv, size):
    """The parser is resumable: the head and body arriving a few bytes per write."""
    body = b"a=1&b=" + b"z" * 300
    data = request_bytes("POST", "/probe/pieces?read=1", body=body,
                         headers=[("X-Foo", "split")])
    with open_scgi(ssrv) as c:
        assert c.send_pieces(data, size) == len(data)
        r = c.response()
    assert r.status == 200, (r, logs(ssrv, 3000))
    out = r.json()
    assert out["body_len"] == len(body)
    assert out["environ"]["HTTP_X_FOO"] == "split"


def test_post_3mib_readers(ssrv):
    body = os.urandom(3 << 20)
    data = request_bytes("POST", "/echo/?mode=readn&n=8192", body=body)
    with open_scgi(ssrv) as c:
        sender = threading.Thread(target=c.try_send, args=(data,))
        sender.start()
        try:
            r = c.response(t(30))
        finally:
            sender.join(t(10))
    assert r.status == 200, (r, logs(ssrv, 3000))
    o = r.json()
    assert (o["len"], o["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())


@pytest.mark.parametrize("mode", ["readline", "iter", "mixed", "readlines"])
def test_post_other_read_modes(ssrv, mode):
    body = b"".join(b"line %d\n" % i for i in range(20000))
    r = scgi_exchange(ssrv, request_bytes("POST", "/echo/?mode=%s&n=1000" % mode, body=body))
    assert r.status == 200, (r, logs(ssrv, 3000))
    o = r.json()
    assert (o["len"], o["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())


def test_get_over_unix_socket(ssrv_factory):
    srv = ssrv_factory(unix=True)
    r = scgi_get(srv, "/probe/u?k=v")
    assert r.status == 200, (r, logs(srv, 3000))
    env = r.json()["environ"]
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/probe/u", "k=v")


def test_connection_closed_after_each_response(ssrv):
    """SCGI has no keep-alive: a second request on the same connection is never
    answered (the server closed after the first answer)."""
    with open_scgi(ssrv) as c:
        c.send(request_bytes("GET", "/probe/one"))
        r = c.response()
        assert r.eof and r.status == 200
        c.try_send(request_bytes("GET", "/probe/two"))
        closed, rest = c.closed_within(t(2))
    assert rest.count(b"Status:") == 1, rest[:300]


def test_closed_at_once_after_a_whole_request(ssrv):
    """Head and body were read whole and nothing else came: the server closes its
    socket at once (as nginx does) instead of lingering for input that has no reason
    to come."""
    with open_scgi(ssrv) as c:
        c.send(request_bytes("POST", "/echo/?mode=readn", body=b"abc"))
        r = c.response()
        assert r.eof and not r.reset and r.status == 200
        assert server_closed_fully(c.sock, t(1.5)), "the server lingered"


def test_unread_bytes_behind_the_request_make_the_server_linger(ssrv):
    """Bytes behind the body stay unread: closing at once would reset the connection
    and could destroy the response before the client reads it, so the server shuts
    its side and drains instead (a byte sent meanwhile draws no reset)."""
    with open_scgi(ssrv) as c:
        c.send(request_bytes("POST", "/echo/?mode=readn", body=b"abc") + b"x" * 20000)
        r = c.response()
        assert r.eof and not r.reset and r.status == 200
        assert r.body.startswith(b"{") and json.loads(r.body)["len"] == 3, r.body[:200]
        assert not server_closed_fully(c.sock, 0.5), "closed at once with input unread"


def test_https_and_passthrough_variables(ssrv):
    extra = [("HTTPS", "on"), ("DOCUMENT_ROOT", "/srv/www"), ("REMOTE_USER", "alice"),
             ("GATEWAY_INTERFACE", "CGI/1.1"), ("DOCUMENT_URI", "/probe/s")]
    r = scgi_get(ssrv, "/probe/s", extra=extra)
    env = r.json()["environ"]
    assert env["wsgi.url_scheme"] == "https", env
    for k, v in extra:
        assert env[k] == v, (k, env)


def test_query_string_derived_from_request_uri(ssrv):
    """Some front servers send no QUERY_STRING: it comes from REQUEST_URI, raw."""
    items = [kv for kv in cgi_vars("GET", "/probe/q?a=%20b&c") if kv[0] != "QUERY_STRING"]
    r = scgi_exchange(ssrv, encode(items))
    env = r.json()["environ"]
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/probe/q", "a=%20b&c"), env


# ---------------------------------------------------------------- --script-name

def test_script_name_option_overrides_front_server_split(ssrv_factory):
    srv = ssrv_factory("--script-name", "/app")
    # whatever SCRIPT_NAME/PATH_INFO the front server sent, REQUEST_URI decides
    for sent in ([("SCRIPT_NAME", "/app/probe/x y")],
                 [("SCRIPT_NAME", "/app"), ("PATH_INFO", "/bogus")],
                 [("SCRIPT_NAME", ""), ("PATH_INFO", "/app/probe/x y")],
                 []):
        r = scgi_get(srv, "/app/probe/x%20y%2Fz?z=1", extra=sent)
        assert r.status == 200, (sent, r, logs(srv, 3000))
        env = r.json()["environ"]
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/probe/x y/z"), (sent, env)
        assert env["QUERY_STRING"] == "z=1"


def test_script_name_prefix_boundaries(ssrv_factory, tmp_path):
    """--script-name /app: /app itself gives PATH_INFO ""; a path outside the prefix
    (/other, /application) gets 404 from wsgate without calling the app."""
    srv = ssrv_factory("--script-name", "/app")
    r = scgi_get(srv, "/app?x=1", extra=[("SCRIPT_NAME", "/app")])
    assert r.status == 404 and r.body == b"no route for ''\n", r  # the app's 404
    r = scgi_get(srv, "/app/probe?x=1")
    env = r.json()["environ"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == (
        "/app", "/probe", "x=1"), env
    for outside in ("/other/slow/", "/application/slow/", "/ap/slow/"):
        mark = str(tmp_path / "mark")
        r = scgi_get(srv, outside + "?mark=" + mark)
        assert r.status == 404, (outside, r)
        assert_app_not_called(srv, mark)


# ---------------------------------------------------------------- same environ as --http

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_same_environ_as_http(method, ssrv):
    """The same request over --http and over --scgi (with the variables nginx's stock
    scgi_params sends for it) gives the same environ; only REMOTE_PORT and the SCGI
    variables a front server adds (SCGI, DOCUMENT_URI, DOCUMENT_ROOT, REQUEST_SCHEME)
    may differ (and CONTENT_LENGTH "0" for a GET, see below)."""
    body = b"a=1&b=2" if method == "POST" else b""
    target = "/probe/some%20where/x?read=1&q=%41"
    hdrs = [("X-Foo", "bar"), ("User-Agent", "scgi-test"), ("Accept", "*/*")]
    if method == "POST":
        hdrs += [("Content-Type", "application/x-www-form-urlencoded"),
                 ("Content-Length", str(len(body)))]
    host = "127.0.0.1:%d" % ssrv.port
    http_out = json_over_http(ssrv, method, target, hdrs, body, host)
    henv = http_out["environ"]

    items = [("CONTENT_LENGTH", str(len(body))), ("SCGI", "1"),
             ("REQUEST_METHOD", method), ("REQUEST_URI", target),
             ("QUERY_STRING", target.split("?", 1)[1]),
             ("CONTENT_TYPE", henv.get("CONTENT_TYPE", "")),
             ("DOCUMENT_URI", "/probe/some where/x"), ("DOCUMENT_ROOT", "/srv/www"),
             ("SERVER_PROTOCOL", "HTTP/1.1"), ("REQUEST_SCHEME", "http"),
             ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "40000"),
             ("SERVER_PORT", henv["SERVER_PORT"]), ("SERVER_NAME", henv["SERVER_NAME"]),
             ("HTTP_HOST", host)]
    items += [("HTTP_" + k.upper().replace("-", "_"), v) for k, v in hdrs
              if k not in ("Content-Type", "Content-Length")]
    r = scgi_exchange(ssrv, encode(items, body))
    assert r.status == 200, r
    s_out = r.json()
    senv = s_out["environ"]
    front_only = {"SCGI", "DOCUMENT_URI", "DOCUMENT_ROOT", "REQUEST_SCHEME"}
    for k in front_only:
        assert k not in henv, k
        senv.pop(k, None)
    if method == "GET":
        # SCGI always carries CONTENT_LENGTH (nginx sends "0" for a GET without a
        # body): "0" where --http has none is the protocol's, PEP 3333 allows both
        assert senv.get("CONTENT_LENGTH") in (None, "", "0"), senv
        if "CONTENT_LENGTH" not in henv:
            senv.pop("CONTENT_LENGTH", None)
    diff = {k: (henv.get(k), senv.get(k)) for k in set(henv) | set(senv)
            if henv.get(k) != senv.get(k) and k != "REMOTE_PORT"}
    assert not diff, diff
    for k in ("types", "wsgi.version", "wsgi.multithread", "wsgi.multiprocess",
              "wsgi.run_once", "wsgi.input_terminated", "input_methods", "errors_methods",
              "file_wrapper_callable", "body_len", "body_sha256"):
        assert http_out.get(k) == s_out.get(k), (k, http_out.get(k), s_out.get(k))


# ---------------------------------------------------------------- responses

def test_streamed_response_written_as_produced(ssrv):
    """it_stream yields 5 chunks 0.4 s apart: the first reaches the client long before
    the last is produced (not buffered until the end), and all arrive intact."""
    from wsgate_util import expected_stream
    delay = 0.4
    with open_scgi(ssrv) as c:
        t0 = time.monotonic()
        c.send(request_bytes("GET", "/stream/?n=5&size=1000&delay=%s" % delay))
        r = c.response(t(15))
    assert r.status == 200, r
    assert r.header("Content-Length") is None
    assert r.body == expected_stream(5, 1000)
    # when did the first body byte arrive?
    got = b""
    first_body_at = None
    for when, chunk in c.chunks:
        got += chunk
        if b"\r\n\r\n" in got and len(got.partition(b"\r\n\r\n")[2]) > 0:
            first_body_at = when - t0
            break
    total = c.chunks[-1][0] - t0
    assert first_body_at is not None
    assert total >= 4 * delay * 0.9, total
    assert first_body_at < total - 2 * delay, (first_body_at, total)


def test_5mb_generator_response(ssrv):
    size = 5 * 1000 * 1000
    r = scgi_exchange(ssrv, request_bytes("GET", "/big/?size=%d" % size), timeout=t(30))
    assert r.status == 200, r
    assert r.header("Content-Length") == str(size)
    pattern = bytes(range(256)) * 256
    reps, rest = divmod(size, len(pattern))
    assert len(r.body) == size
    assert r.body == pattern * reps + pattern[:rest]


@pytest.fixture(scope="module")
def five_mb_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("fw") / "five.bin"
    data = os.urandom(5 * 1000 * 1000 + 17)
    p.write_bytes(data)
    return str(p), hashlib.sha256(data).hexdigest(), len(data)


@pytest.mark.parametrize("app,query", [
    ("it_filewrap", "cl=1"),            # the server's own wrapper: sendfile, declared length
    ("it_filewrap", "cl=0"),            # sendfile, no Content-Length: until close
    ("it_filewrap:validated", "cl=1"),  # hidden by wsgiref.validate: iterated
    ("it_filewrap", "cl=1&kind=bytesio"),
])
def test_5mb_file_wrapper(ssrv_factory, five_mb_file, app, query):
    path, digest, size = five_mb_file
    srv = ssrv_factory(app=app)
    r = scgi_exchange(srv, request_bytes("GET", "/f?path=%s&%s" % (path, query)), timeout=t(30))
    assert r.status == 200, (r, logs(srv, 3000))
    if "cl=1" in query:
        assert r.header("Content-Length") == str(size)
    assert len(r.body) == size, (len(r.body), size)
    assert hashlib.sha256(r.body).hexdigest() == digest


def test_file_wrapper_seek_and_short_cl(ssrv_factory, five_mb_file):
    path, digest, size = five_mb_file
    srv = ssrv_factory(app="it_filewrap")
    r = scgi_exchange(srv, request_bytes("GET", "/f?path=%s&seek=1000&cl=5000" % path))
    with open(path, "rb") as f:
        f.seek(1000)
        want = f.read(5000)
    assert r.status == 200, r
    assert r.body == want


# ---------------------------------------------------------------- R rows (app misbehaves)

@pytest.fixture(scope="module")
def bad_srv(wsgate_module):
    require_scgi()
    srv = start_scgi_wsgate(wsgate_module, "it_bad")
    srv.validator_errors_ok = True
    return srv


@pytest.mark.parametrize("path", ["/raise-before-start", "/no-start-response",
                                  "/no-start-response-empty", "/returns-none", "/yields-str"])
def test_r5_app_failure_is_500(bad_srv, path):
    r = scgi_get(bad_srv, path)
    assert r.status == 500, r
    assert b"MUST-NOT-BE-SENT" not in r.raw
    assert r.eof


def test_app_exception_500_and_logged(ssrv):
    r = scgi_get(ssrv, "/raise/x")
    assert r.raw.startswith(b"Status: 500 "), r
    assert b"deliberate failure" not in r.raw  # no traceback to the client
    wait_for(lambda: "scgi_mux: deliberate failure" in ssrv.error_text(), t(5),
             what="the traceback in the error log")
    assert_serving(ssrv)


@pytest.mark.parametrize("path", [
    "/crlf-value", "/lf-value", "/cr-value", "/nul-value", "/crlf-status", "/space-name",
    "/nul-name", "/colon-name", "/crlf-name", "/status-letters", "/status-4digits",
    "/status-nonascii", "/value-nonlatin1",
])
def test_r1_bad_headers_give_500(bad_srv, path):
    r = scgi_get(bad_srv, path)
    assert r.status == 500, r
    for bad in (b"injected", b"Injected", b"X-Test", b"X Test", b"\x00", b"fine\n",
                b"2000 OK", b"abc"):
        assert bad not in r.raw, "%r on the wire: %r" % (bad, r.raw)


def test_latin1_header_value_and_custom_reason(bad_srv):
    r = scgi_get(bad_srv, "/latin1-value")
    assert r.raw.startswith(b"Status: 299 Custom Reason Here\r\n"), r.raw[:200]
    assert b"\r\nX-Name: caf\xe9\r\n" in r.head, r.head
    assert r.body == b"fine\n"


def test_r2_long_body_truncated(bad_srv):
    r = scgi_get(bad_srv, "/cl10-20")
    assert r.status == 200
    assert r.body == b"0123456789", r


def test_r2_short_body_then_close(bad_srv):
    r = scgi_get(bad_srv, "/cl10-9")
    assert r.status == 200 and r.header("Content-Length") == "10"
    assert r.body == b"123456789" and r.eof


@pytest.mark.parametrize("method,path,status,cl", [
    ("HEAD", "/body", 200, str(len(b"body-for-head-MUST-NOT-BE-SENT"))),
    ("HEAD", "/body-nocl", 200, None),
    ("GET", "/204", 204, None),
    ("GET", "/204-cl", 204, None),
    ("GET", "/304", 304, None),
    ("GET", "/304-cl", 304, "42"),
    ("GET", "/205", 205, "0"),
    ("GET", "/205-nocl", 205, "0"),
    ("HEAD", "/205", 205, "0"),
])
def test_r3_no_body(bad_srv, method, path, status, cl):
    """R3 over SCGI, the same rule as over --http: the status and the app's
    Content-Length (none for 204, 0 for 205) reach the front server, no body bytes,
    then the close. Never chunked framing here."""
    r = scgi_exchange(bad_srv, request_bytes(method, path))
    assert r.status == status, r
    assert r.header("Transfer-Encoding") is None, r
    assert r.header("Content-Length") == cl, r.head
    assert r.body == b"", r
    assert r.eof


@pytest.mark.parametrize("path", ["/raise-after-first", "/raise-after-first-cl"])
def test_r4_raise_after_headers_aborts(bad_srv, path):
    r = scgi_get(bad_srv, path)
    assert r.status == 200
    assert r.body == b"first-chunk;", r  # nothing appended (no 500 after the body)
    assert r.eof
    wait_for(lambda: "raise after first chunk" in bad_srv.error_text(), t(5),
             what="the traceback in the error log")


# ---------------------------------------------------------------- limits

def test_max_body_413(ssrv_factory, tmp_path):
    srv = ssrv_factory("--max-body", "1000")
    mark, uri = mark_uri(tmp_path)
    # the head alone: refused at once, before any body byte
    head = encode(cgi_vars("POST", uri, content_length="1001"))
    assert_refused(srv, head, status=413, mark=mark)
    r = scgi_exchange(srv, request_bytes("POST", "/echo/", body=b"x" * 1000))
    assert r.status == 200 and r.json()["len"] == 1000, r
    assert_serving(srv)


def test_header_block_over_limit_431(ssrv_factory, tmp_path):
    srv = ssrv_factory("--max-header-size", "1024", "--max-target", "512")
    mark, uri = mark_uri(tmp_path)
    items = cgi_vars("GET", uri, headers=[("X-Big", "v" * 1200)])
    data = encode(items)
    # the length says it all: refused without the block being sent
    assert_refused(srv, data.partition(b":")[0] + b":", status=431, mark=mark)
    assert_refused(srv, data, status=431, mark=mark)
    r = scgi_get(srv, "/probe/small", headers=[("X-Big", "v" * 500)])
    assert r.status == 200, r
    assert_serving(srv)


# ---------------------------------------------------------------- S01-S23

def with_length(length_bytes, uri):
    """The request for uri with its netstring length replaced by length_bytes."""
    data = request_bytes("GET", uri)
    return length_bytes + data[data.index(b":"):]


@pytest.mark.parametrize("length", [
    b"0", b"00", b"+", b"-", b" ", b"a", b"x1",          # refused on the first byte
    b"0%d", b"+%d", b"-%d", b" %d", b"%d ", b"%da", b"a%d", b"%d.0", b"0x%d", b"",
], ids=lambda v: repr(v))
def test_s01_bad_netstring_length(ssrv, tmp_path, length):
    mark, uri = mark_uri(tmp_path)
    true_len = len(header_block(cgi_vars("GET", uri)))
    lb = length % true_len if b"%d" in length else length
    assert_refused(ssrv, with_length(lb, uri), mark=mark)
    assert_serving(ssrv)


@pytest.mark.parametrize("length", [b"1", b"16"], ids=["1", "16"])
def test_s01_length_below_smallest_block(ssrv, length):
    """A block shorter than CONTENT_LENGTH NUL <digit> NUL cannot be valid."""
    assert_refused(ssrv, length + b":" + b"A" * int(length) + b",")
    assert_serving(ssrv)


@pytest.mark.parametrize("length", [b"99999999", b"12345678", b"100000000000"])
def test_s06_more_digits_than_the_cap_refused_without_colon(ssrv, length):
    """8 digits: over the 7-digit cap, refused as soon as the 8th digit arrives (no
    ':' sent, nothing else), not at the read timeout."""
    r = assert_refused(ssrv, length, status=431)
    assert r.eof
    assert_serving(ssrv)


@pytest.mark.parametrize("length", [b"9999999", b"65537", b"70000"])
def test_s06_length_over_the_header_cap_refused_before_the_block(ssrv, length):
    """Over the default 64 KiB header cap: refused as soon as the length is known,
    without waiting for (or allocating) the block."""
    r = assert_refused(ssrv, length + b":", status=431)
    assert r.eof
    assert_serving(ssrv)


def test_s06_length_at_the_cap_waits_for_the_block(ssrv):
    """65536 is allowed (the cap itself): the server waits for the block."""
    with open_scgi(ssrv) as c:
        c.send(b"65536:")
        closed, data = c.closed_within(t(0.5))
    assert not closed and data == b"", data


def test_s07_4096_digits_no_colon(ssrv):
    with open_scgi(ssrv) as c:
        t0 = time.monotonic()
        c.try_send(b"1" * 4096)
        closed, data = c.closed_within(t(5))
        elapsed = time.monotonic() - t0
    assert closed, "not closed at the digit cap (still open after %.1f s)" % elapsed
    r = ScgiResponse(data, True, False)
    assert data == b"" or r.status == 431, data[:300]
    assert_serving(ssrv)


@pytest.mark.parametrize("end", [b";", b"\x00", b"h", b" ,", b"\r\n"],
                         ids=["semicolon", "nul", "body-byte", "space-comma", "crlf"])
def test_s08_netstring_not_ending_in_comma(ssrv, tmp_path, end):
    mark, uri = mark_uri(tmp_path)
    block = header_block(cgi_vars("POST", uri, body=b"hello"))
    assert_refused(ssrv, netstring(block, comma=end) + b"hello", mark=mark)
    assert_serving(ssrv)


def test_s08_missing_comma_body_follows(ssrv, tmp_path):
    mark, uri = mark_uri(tmp_path)
    block = header_block(cgi_vars("POST", uri, body=b"hello"))
    assert_refused(ssrv, netstring(block, comma=b"") + b"hello", mark=mark)


def test_s08_length_one_short_and_one_long(ssrv, tmp_path):
    mark, uri = mark_uri(tmp_path)
    block = header_block(cgi_vars("GET", uri))
    # one short: the block's last NUL lands where ',' should be
    assert_refused(ssrv, netstring(block, length=len(block) - 1), mark=mark)
    # one long: ',' is taken into the block, the next byte is not ','
    assert_refused(ssrv, netstring(block, length=len(block) + 1) + b"X", mark=mark)
    assert_serving(ssrv)


def test_s09_block_not_nul_terminated(ssrv, tmp_path):
    mark, uri = mark_uri(tmp_path)
    block = header_block(cgi_vars("GET", uri))[:-1] + b"X"
    assert_refused(ssrv, netstring(block), mark=mark)
    block = header_block(cgi_vars("GET", uri))[:-1]
    assert_refused(ssrv, netstring(block), mark=mark)
    assert_serving(ssrv)


def test_s09_odd_number_of_strings(ssrv, tmp_path):
    mark, uri = mark_uri(tmp_path)
    block = header_block(cgi_vars("GET", uri)) + b"LONELY\x00"
    assert_refused(ssrv, netstring(block), mark=mark)
    assert_serving(ssrv)


@pytest.mark.parametrize("where", ["middle", "last"])
def test_s09_empty_name(ssrv, tmp_path, where):
    mark, uri = mark_uri(tmp_path)
    items = cgi_vars("GET", uri)
    if where == "middle":
        items.insert(2, ("", "value"))
    else:
        items.append(("", "value"))
    assert_refused(ssrv, encode(items), mark=mark)
    assert_serving(ssrv)


def test_s09_double_nul_in_block(ssrv, tmp_path):
    """Two NULs after a value: an empty name (with an empty value)."""
    mark, uri = mark_uri(tmp_path)
    block = header_block(cgi_vars("GET", uri))
    cut = len(b"CONTENT_LENGTH\x000\x00")
    block = block[:cut] + b"\x00\x00" + block[cut:]
    assert_refused(ssrv, netstring(block), mark=mark)


def test_s11_no_content_length(ssrv, tmp_path):
    mark, uri = mark_uri(tmp_path)
    items = [kv for kv in cgi_vars("GET", uri) if kv[0] != "CONTENT_LENGTH"]
    assert_refused(ssrv, encode(items), mark=mark)
    assert_serving(ssrv)


def test_s11_content_length_not_first(ssrv, tmp_path):
    mark, uri = mark_uri(tmp_path)
    items = cgi_vars("GET", uri)
    items = items[1:3] + [items[0]] + items[3:]
    assert items[0][0] != "CONTENT_LENGTH"
    assert_refused(ssrv, encode(items), mark=mark)
    assert_serving(ssrv)


@pytest.mark.parametrize("name", ["content_length", "Content_Length", "CONTENT-LENGTH",
                                  "CONTENT_LENGTH ", "HTTP_CONTENT_LENGTH"])
def test_s11_first_variable_not_exactly_content_length(ssrv, tmp_path, name):
    mark, uri = mark_uri(tmp_path)
    items = cgi_vars("GET", uri)
    items[0] = (name, "0")
    assert_refused(ssrv, encode(items), mark=mark)


@pytest.mark.parametrize("value", ["-1", "+5", "1" * 20, "", " 5", "5 ", "0x5", "1_0",
                                   "5.0", "\u0665".encode("utf-8"), "5\r\n", "1" * 19],
                         ids=lambda v: repr(v))
def test_s13_bad_content_length(ssrv, tmp_path, value):
    mark, uri = mark_uri(tmp_path)
    items = cgi_vars("POST", uri, content_length=value)
    assert_refused(ssrv, encode(items, b"hello"), mark=mark)
    assert_serving(ssrv)


@pytest.mark.parametrize("second", ["5", "6", "0"])
def test_s13_content_length_twice(ssrv, tmp_path, second):
    mark, uri = mark_uri(tmp_path)
    items = cgi_vars("POST", uri, body=b"hello")
    items.append(("CONTENT_LENGTH", second))
    assert_refused(ssrv, encode(items, b"hello"), mark=mark)
    assert_serving(ssrv)


def test_s13_eighteen_digits_is_a_413_not_a_400(ssrv, tmp_path):
    """18 digits is a valid CONTENT_LENGTH, over --max-body: 413 at once."""
    mark, uri = mark_uri(tmp_path)
    assert_refused(ssrv, encode(cgi_vars("POST", uri, content_length="9" * 18)),
                   status=413, mark=mark)


def test_s13_leading_zeros_in_content_length(ssrv):
    """`005`: digits only, so the value is 5 (not an error row); the body is 5 bytes."""
    r = scgi_exchange(ssrv, encode(cgi_vars("POST", "/echo/", content_length="005"), b"hello"))
    assert r.status in (200, 400), r
    if r.status == 200:
        assert r.json()["len"] == 5, r


def _short_body(ssrv_factory, tmp_path, cl, sent, then, read_timeout="30"):
    # --body-buffer 65536: a "big" body is one the app reads as it arrives
    srv = ssrv_factory("--read-timeout", read_timeout, "--body-buffer", "65536")
    report = str(tmp_path / "report.json")
    started = str(tmp_path / "started")
    uri = "/echo/?mode=readn&n=4096&report=%s&started=%s" % (report, started)
    body = os.urandom(sent)
    with open_scgi(srv) as c:
        c.send(encode(cgi_vars("POST", uri, content_length=str(cl)), body))
        t0 = time.monotonic()
        if then == "close":
            c.shut_wr()
        closed, data = c.closed_within(t(float(read_timeout) + 5))
        elapsed = time.monotonic() - t0
    return srv, report, started, closed, data, elapsed


def test_s16_big_body_short_then_close_raises(ssrv_factory, tmp_path):
    """CONTENT_LENGTH 200000, 100000 bytes, then the peer closes its side: the app's
    read raises (it never sees a silently short body), the connection is closed."""
    srv, report, started, closed, data, elapsed = _short_body(
        ssrv_factory, tmp_path, 200000, 100000, "close")
    assert closed, (data[:300], logs(srv, 3000))
    assert elapsed < t(5), "closed only at the read timeout (%.1f s)" % elapsed
    wait_for(lambda: os.path.exists(report), t(5), what="the app's report")
    with open(report) as f:
        rep = json.load(f)
    assert "error" in rep, ("the app saw a complete body", rep)
    r = ScgiResponse(data, True, False)
    assert b"Status: 200" not in data, data[:300]
    assert data == b"" or r.status in (400, 500), data[:300]
    assert_serving(srv)


def test_s16_small_body_short_then_close(ssrv_factory, tmp_path):
    """CONTENT_LENGTH 100, 10 bytes, then close: the app never sees a silently short
    body (it is not called, or its read raises)."""
    srv, report, started, closed, data, elapsed = _short_body(
        ssrv_factory, tmp_path, 100, 10, "close")
    assert closed, (data[:300], logs(srv, 3000))
    assert elapsed < t(5), "closed only at the read timeout (%.1f s)" % elapsed
    wait_idle(srv)  # had the request been handed to the app, it would have started
    if os.path.exists(started):
        wait_for(lambda: os.path.exists(report), t(5), what="the app's report")
    if os.path.exists(report):
        with open(report) as f:
            assert "error" in json.load(f)
    assert b"Status: 200" not in data, data[:300]
    assert_serving(srv)


@pytest.mark.slow
@pytest.mark.parametrize("cl,sent", [(200000, 100000), (100, 10)], ids=["big", "small"])
def test_s16_short_body_then_silence_closed_at_read_timeout(ssrv_factory, tmp_path, cl, sent):
    srv, report, started, closed, data, elapsed = _short_body(
        ssrv_factory, tmp_path, cl, sent, "silence", read_timeout="1")
    assert closed, ("not closed at --read-timeout 1", data[:300], logs(srv, 3000))
    assert elapsed >= 0.8, "closed after %.2f s, before the read timeout" % elapsed
    assert b"Status: 200" not in data, data[:300]
    r = ScgiResponse(data, True, False)
    assert data == b"" or r.status in (408, 500), data[:300]
    if os.path.exists(started):
        wait_for(lambda: os.path.exists(report), t(5), what="the app's report")
        with open(report) as f:
            assert "error" in json.load(f)
    assert_serving(srv)


def test_s17_bytes_after_the_body_never_parsed(ssrv, tmp_path):
    """A second complete request after the body: the app is called once, with exactly
    CONTENT_LENGTH bytes; one answer."""
    count = str(tmp_path / "count")
    first = request_bytes("POST", "/count/first?file=" + count, body=b"hello")
    second = request_bytes("GET", "/count/second?file=" + count)
    with open_scgi(ssrv) as c:
        c.try_send(first + second)
        r = c.response()
    assert r.status == 200 and r.body == b"counted", r
    assert r.raw.count(b"Status:") == 1, r.raw
    wait_idle(ssrv)  # a second request it had parsed would have reached the app
    with open(count) as f:
        assert f.read() == "POST /count/first\n"


def test_s17_app_reads_exactly_content_length(ssrv):
    tail = b"EXTRA" + request_bytes("GET", "/probe/smuggled")
    r = scgi_exchange(ssrv, encode(cgi_vars("POST", "/echo/?mode=readneg", content_length="5"),
                              b"hello" + tail))
    assert r.status == 200, r
    o = r.json()
    assert (o["len"], o["body"]) == (5, "hello"), o
    assert b"smuggled" not in r.raw


def test_s17_big_body_then_extra(ssrv, tmp_path):
    count = str(tmp_path / "count")
    body = os.urandom(300000)
    r = scgi_exchange(ssrv, request_bytes("POST", "/echo/?mode=readn&n=65536", body=body)
                 + request_bytes("GET", "/count/x?file=" + count) * 3)
    assert r.status == 200, r
    o = r.json()
    assert (o["len"], o["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    wait_idle(ssrv)  # a request it had parsed from the extra bytes would have run
    assert not os.path.exists(count)


def test_s18_no_scgi_variable_accepted(ssrv):
    r = scgi_exchange(ssrv, request_bytes("POST", "/echo/", body=b"hello", scgi=False))
    assert r.status == 200, r
    assert r.json()["body"] == "hello"


@pytest.mark.parametrize("value", ["0", "2", "", "11", "1 ", " 1", "1.0", "01"],
                         ids=lambda v: repr(v))
def test_s18_scgi_other_than_1_refused(ssrv, tmp_path, value):
    mark, uri = mark_uri(tmp_path)
    items = cgi_vars("GET", uri, scgi=False)
    items.insert(1, ("SCGI", value))
    assert_refused(ssrv, encode(items), mark=mark)
    assert_serving(ssrv)


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: injected=1", "a\nX-Injected: 1",
                                   "a\rb", "x\r\n\r\nStatus: 302 Found\r\nLocation: /evil"],
                         ids=["crlf", "lf", "cr", "blank-line"])
def test_s21_cr_lf_in_values_are_environ_data_only(ssrv, value):
    r = scgi_get(ssrv, "/probe/crlf", extra=[("HTTP_X_FOO", value), ("REMOTE_USER", value)])
    assert r.status == 200, r
    env = r.json()["environ"]
    assert env["HTTP_X_FOO"] == value, env
    assert env["REMOTE_USER"] == value, env
    for bad in (b"Set-Cookie", b"X-Injected", b"Location", b"302"):
        assert bad not in r.head, r.head
    assert r.header_all("Status") == ["200 OK"]


@pytest.mark.slow
def test_s23_length_then_silence_closed_at_read_timeout(ssrv_factory):
    srv = ssrv_factory("--read-timeout", "1")
    with open_scgi(srv) as c:
        c.send(b"58:")
        t0 = time.monotonic()
        closed, data = c.closed_within(t(6))
        elapsed = time.monotonic() - t0
    assert closed, "not closed at --read-timeout 1"
    assert elapsed >= 0.8, "closed after %.2f s, before the read timeout" % elapsed
    assert b"Status: 200" not in data
    r = ScgiResponse(data, True, False)
    assert data == b"" or r.status in (400, 408), data[:300]
    assert_serving(srv)


@pytest.mark.slow
def test_s23_slow_head_closed_at_read_timeout(ssrv_factory):
    """A head trickling one byte every 0.3 s: --read-timeout is a deadline for the
    whole head, not an idle limit."""
    srv = ssrv_factory("--read-timeout", "1")
    data = request_bytes("GET", "/probe/slow")
    with open_scgi(srv) as c:
        t0 = time.monotonic()
        for i in range(len(data)):
            if not c.try_send(data[i:i + 1]):
                break
            closed, got = c.closed_within(0.3)
            if closed:
                break
        elapsed = time.monotonic() - t0
    assert closed, "a trickling head was not closed"
    assert elapsed < t(1) + 2, "closed only after %.1f s" % elapsed
    assert b"Status: 200" not in got


@pytest.mark.slow
def test_s23_silent_connection_closed_at_read_timeout(ssrv_factory):
    srv = ssrv_factory("--read-timeout", "1")
    with open_scgi(srv) as c:
        t0 = time.monotonic()
        closed, data = c.closed_within(t(6))
        elapsed = time.monotonic() - t0
    assert closed and data == b"", data
    assert elapsed >= 0.8, elapsed


def test_refusal_closes_only_its_own_connection(ssrv, tmp_path):
    """A bad head on one connection while a slow request is in flight on another: the
    slow one completes."""
    mark = str(tmp_path / "in-app")
    with open_scgi(ssrv) as slow:
        slow.send(request_bytes("GET", "/slow/inflight?t=0.5&mark=" + mark))
        wait_mark(mark)
        assert_refused(ssrv, b"-1:")
        r = slow.response()
    assert r.status == 200 and r.json()["path"] == "/slow/inflight"


def test_full_queue_answers_503_at_once(ssrv_factory, tmp_path):
    """Overload (issue 5): one thread busy, one request queued, the next one gets
    Status: 503 with Retry-After at once, not a place in an unbounded queue."""
    srv = ssrv_factory("--threads", "1", "--queue", "1", app="it_slow")
    mark = str(tmp_path / "busy")
    busy = [open_scgi(srv) for _ in range(2)]
    try:
        busy[0].send(request_bytes("GET", "/busy?t=%g&mark=%s" % (t(2), mark)))
        wait_mark(mark)
        busy[1].send(request_bytes("GET", "/queued"))
        wait_metric(srv, "wsgate_queue_depth", 1)
        t0 = time.monotonic()
        with open_scgi(srv) as c:
            c.send(request_bytes("GET", "/refused"))
            r = c.response(timeout=t(10))
        assert r.status == 503, r
        assert r.header("Retry-After") is not None, r
        assert time.monotonic() - t0 < t(1), "503 was not immediate"
        assert busy[0].response().json()["path"] == "/busy"
        assert busy[1].response().json()["path"] == "/queued"
    finally:
        for c in busy:
            c.close()
