"""The --uwsgi front-end over raw sockets (issue 19): the uwsgi rows U01-U07 of
docs/hostile-inputs.md with the answers written there, plus plain requests through
the environ probe, the same environ as --http for the same request (the variables
nginx's stock uwsgi_params send), the response's HTTP status line, one request per
connection and a cheap close, the metrics and the access log naming the protocol.

The client is tests/integration/uwsgi_client.py (the 4-byte header, the vars block,
the body; the answer read until the server closes, every read against a deadline).
"The app was not called" is checked with it_slow's ?mark= file (scgi_mux /slow/);
"the app was called once" with scgi_mux's /count/?file=; what the app saw of a body
that ended early with it_echo's ?report= file.
"""
import hashlib
import json
import os
import struct
import time

import pytest

from scgi_frontends import require_uwsgi, start_uwsgi_wsgate
from uwsgi_client import (UwsgiResponse, encode, open_uwsgi, packet, pair, request_bytes,
                          uwsgi_exchange, uwsgi_get, uwsgi_vars, vars_block)
from wsgate_util import (assert_app_not_called, json_over_http, logs, metrics,
                         server_closed_fully, t, wait_for, wait_idle, wait_mark, wait_metric)


@pytest.fixture(scope="module")
def usrv(wsgate_module):
    """One wsgate (scgi_mux) with --uwsgi on TCP, shared by the tests that need no
    special options. --read-timeout 30: a close within a few seconds is not the read
    timeout. --stats: for wait_idle and the metrics; a JSON access log."""
    require_uwsgi()
    return start_uwsgi_wsgate(wsgate_module, "scgi_mux", "--read-timeout", "30",
                              "--access-log-format", "json", stats=True)


@pytest.fixture
def usrv_factory(wsgate):
    require_uwsgi()

    def start(*args, app="scgi_mux", unix=False, **kw):
        return start_uwsgi_wsgate(wsgate, app, *args, unix=unix, stats=True, **kw)
    return start


def assert_serving(srv):
    r = uwsgi_get(srv, "/probe/alive")
    assert r.status == 200 and r.eof, (r, logs(srv, 3000))
    assert r.json()["environ"]["PATH_INFO"] == "/probe/alive"


def assert_refused(srv, data, status=400, mark=None):
    """data is refused: an HTTP status line answer with that status (nothing else),
    then close, well before the read timeout; the app is not called."""
    with open_uwsgi(srv) as c:
        c.try_send(data)
        r = c.response(t(5))
    assert r.status == status, (data[:200], r, logs(srv, 3000))
    assert r.eof
    assert r.header("Content-Length") == str(len(r.body)), r
    assert r.raw.count(b"HTTP/1.1 ") == 1, r
    if mark:
        assert_app_not_called(srv, mark)
    return r


def mark_uri(tmp_path, name="mark"):
    p = str(tmp_path / name)
    return p, "/slow/?mark=" + p


# ---------------------------------------------------------------- plain requests

def test_get_probe(usrv):
    r = uwsgi_get(usrv, "/probe/a%20b/c?x=1&y=%20", headers=[("Host", "example.org"),
                                                         ("X-Foo", "bar")])
    assert r.eof, r
    assert r.raw.startswith(b"HTTP/1.1 200 OK\r\n"), r.raw[:200]
    assert r.header("Content-Type") == "application/json"
    assert r.header("Content-Length") == str(len(r.body))
    assert r.header("Status") is None
    env = r.json()["environ"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/probe/a b/c"), env
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["REQUEST_URI"] == "/probe/a%20b/c?x=1&y=%20"
    assert (env["HTTP_X_FOO"], env["HTTP_HOST"]) == ("bar", "example.org")
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", "40000")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "80")
    assert env["wsgi.url_scheme"] == "http"
    # nginx's uwsgi_params send CONTENT_LENGTH and CONTENT_TYPE empty for a GET
    assert env.get("CONTENT_LENGTH", "") in ("", "0") and env.get("CONTENT_TYPE", "") == ""


@pytest.mark.parametrize("size", [5, 150000])
def test_post_probe(usrv, size):
    """A small body is read before dispatch, a bigger one streamed to wsgi.input: the
    app sees exactly CONTENT_LENGTH bytes either way."""
    body = os.urandom(size)
    r = uwsgi_exchange(usrv, request_bytes("POST", "/probe/p?read=1", body=body,
                                           content_type="application/octet-stream"))
    assert r.status == 200, (r, logs(usrv, 3000))
    out = r.json()
    assert (out["body_len"], out["body_sha256"]) == (size, hashlib.sha256(body).hexdigest())
    assert out["environ"]["CONTENT_LENGTH"] == str(size)
    assert out["environ"]["CONTENT_TYPE"] == "application/octet-stream"


def test_head_and_body_fed_byte_by_byte(usrv):
    body = b"a=1&b=" + b"z" * 300
    data = request_bytes("POST", "/probe/pieces?read=1", body=body, headers=[("X-Foo", "s")])
    with open_uwsgi(usrv) as c:
        assert c.send_pieces(data, 1) == len(data)
        r = c.response()
    assert r.status == 200, (r, logs(usrv, 3000))
    assert r.json()["body_len"] == len(body)


def test_get_over_unix_socket(usrv_factory):
    srv = usrv_factory(unix=True)
    r = uwsgi_get(srv, "/probe/u?k=v")
    assert r.status == 200, (r, logs(srv, 3000))
    env = r.json()["environ"]
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/probe/u", "k=v")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_same_environ_as_http(method, usrv):
    """The same request over --http and over --uwsgi (with the variables nginx's
    stock uwsgi_params send for it) gives the same environ; only REMOTE_PORT and the
    variables the front server adds (DOCUMENT_ROOT, REQUEST_SCHEME) differ."""
    body = b"a=1&b=2" if method == "POST" else b""
    target = "/probe/some%20where/x?read=1&q=%41"
    hdrs = [("X-Foo", "bar"), ("User-Agent", "uwsgi-test"), ("Accept", "*/*")]
    if method == "POST":
        hdrs += [("Content-Type", "application/x-www-form-urlencoded"),
                 ("Content-Length", str(len(body)))]
    host = "127.0.0.1:%d" % usrv.port
    http_out = json_over_http(usrv, method, target, hdrs, body, host)
    henv = http_out["environ"]
    items = uwsgi_vars(method, target, body=body, content_type=henv.get("CONTENT_TYPE", ""),
                       headers=[h for h in hdrs if h[0] not in ("Content-Type",
                                                                "Content-Length")])
    items = [(k, henv[k] if k in ("SERVER_PORT", "SERVER_NAME") else v) for k, v in items]
    items.append(("HTTP_HOST", host))
    r = uwsgi_exchange(usrv, encode(items, body))
    assert r.status == 200, r
    u_out = r.json()
    uenv = u_out["environ"]
    for k in ("DOCUMENT_ROOT", "REQUEST_SCHEME"):
        assert k not in henv, k
        uenv.pop(k)
    diff = {k: (henv.get(k), uenv.get(k)) for k in set(henv) | set(uenv)
            if henv.get(k) != uenv.get(k) and k != "REMOTE_PORT"}
    assert not diff, diff
    for k in ("types", "wsgi.version", "wsgi.multithread", "wsgi.multiprocess",
              "wsgi.run_once", "wsgi.input_terminated", "input_methods", "errors_methods",
              "file_wrapper_callable", "body_len", "body_sha256"):
        assert http_out.get(k) == u_out.get(k), (k, http_out.get(k), u_out.get(k))


def test_one_request_per_connection_and_a_cheap_close(usrv):
    """No keep-alive in the protocol: one answer, then the server closes at once
    (no lingering when the whole request was read); a second request on the same
    connection is never answered."""
    with open_uwsgi(usrv) as c:
        c.send(request_bytes("POST", "/echo/?mode=readn", body=b"abc"))
        r = c.response()
        assert r.eof and not r.reset and r.status == 200, r
        assert server_closed_fully(c.sock, t(1.5)), "the server lingered"
    with open_uwsgi(usrv) as c:
        c.send(request_bytes("GET", "/probe/one"))
        r = c.response()
        c.try_send(request_bytes("GET", "/probe/two"))
        closed, rest = c.closed_within(t(2))
    assert rest.count(b"HTTP/1.1 ") == 1, rest[:300]  # rest: everything read


def test_https_and_passthrough_variables(usrv):
    extra = [("HTTPS", "on"), ("REMOTE_USER", "alice"), ("DOCUMENT_ROOT", "/x")]
    env = uwsgi_get(usrv, "/probe/s", extra=extra).json()["environ"]
    assert env["wsgi.url_scheme"] == "https", env
    assert (env["HTTPS"], env["REMOTE_USER"], env["DOCUMENT_ROOT"]) == ("on", "alice", "/x")


def test_script_name_option(usrv_factory, tmp_path):
    """--script-name as over SCGI: the front server's split is replaced, a path
    outside the prefix is 404 without calling the app."""
    srv = usrv_factory("--script-name", "/app")
    r = uwsgi_get(srv, "/app/probe/x%20y?z=1", extra=[("SCRIPT_NAME", "/bogus")])
    env = r.json()["environ"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/probe/x y"), env
    mark, uri = mark_uri(tmp_path)
    r = uwsgi_get(srv, "/other" + uri)
    assert r.status == 404, r
    assert_app_not_called(srv, mark)


def test_max_body_413(usrv_factory, tmp_path):
    srv = usrv_factory("--max-body", "100")
    mark, uri = mark_uri(tmp_path)
    assert_refused(srv, request_bytes("POST", uri, body=b"x" * 101), 413, mark)


def test_metrics_and_access_log_name_uwsgi(usrv):
    """/metrics counts the protocol's requests (answered and refused) under
    frontend="uwsgi"; the access log's protocol field says uwsgi."""
    before = metrics(usrv)

    def count(m, cls):
        return m.get('wsgate_requests_total{frontend="uwsgi",status="%s"}' % cls, 0)

    assert uwsgi_get(usrv, "/probe/metrics-check").status == 200
    assert_refused(usrv, packet(pair("", "x")), 400)
    wait_for(lambda: count(metrics(usrv), "2xx") == count(before, "2xx") + 1 and
             count(metrics(usrv), "4xx") == count(before, "4xx") + 1, t(10),
             what="the uwsgi counters")
    wait_for(lambda: "metrics-check" in usrv.access_text(), t(10), what="the access line")
    line = [ln for ln in usrv.access_text().splitlines() if "metrics-check" in ln][0]
    rec = json.loads(line)
    assert (rec["protocol"], rec["status"], rec["path"]) == ("uwsgi", 200,
                                                             "/probe/metrics-check"), rec


# ---------------------------------------------------------------- U01: modifiers

@pytest.mark.parametrize("m1,m2", [(5, 0), (255, 0), (30, 0), (0, 1), (0, 255)])
def test_u01_other_modifiers_refused(usrv, tmp_path, m1, m2):
    """Only modifier1 0 / modifier2 0 (a WSGI request) is served: anything else is
    refused with 501 and one log line, the app never runs."""
    mark, uri = mark_uri(tmp_path)
    data = packet(vars_block(uwsgi_vars("GET", uri)), modifier1=m1, modifier2=m2)
    assert_refused(usrv, data, 501, mark)
    what = "modifier1 not 0 (%d)" % m1 if m1 else "modifier2 not 0 (%d)" % m2
    wait_for(lambda: what in logs(usrv), t(5), what="the log line")


def test_u01_http_request_on_the_uwsgi_port(usrv):
    """A browser (or curl) at the uwsgi port: 'G' is modifier1 71, refused at once."""
    assert_refused(usrv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 501)


# ---------------------------------------------------------------- U02: lengths past the block

def _method_pair():
    return pair("REQUEST_METHOD", "GET")  # 21 bytes


@pytest.mark.parametrize("data", [
    packet(_method_pair(), size=12),                     # the key runs past the block
    packet(_method_pair(), size=20) + b"T",              # the value runs past the block
    packet(_method_pair(), size=17) + b"\x03\x00GET",    # the value's length is cut
    packet(_method_pair() + b"\x05", size=22),           # a key length cut
    packet(_method_pair() + pair("X", "y", value_len=65535)),  # CVE-2020-11984's shape
    packet(_method_pair() + pair("X", "y", key_len=40000)),
], ids=["key", "value", "value-length", "key-length", "value-65535", "key-40000"])
def test_u02_lengths_past_the_block_refused(usrv, data):
    assert_refused(usrv, data, 400)
    assert_serving(usrv)


def test_u02_datasize_longer_than_the_pairs(usrv, tmp_path):
    """datasize says two bytes more than the pairs: the first body bytes would be
    read as a key length and it runs past the block: refused, never a request."""
    mark, uri = mark_uri(tmp_path)
    block = vars_block(uwsgi_vars("POST", uri, content_length="2"))
    assert_refused(usrv, packet(block, size=len(block) + 2) + b"hi", 400, mark)


# ---------------------------------------------------------------- U03: magic variables

def test_u03_uwsgi_variables_never_acted_on(usrv, tmp_path):
    """UWSGI_FILE, UWSGI_SCRIPT, UWSGI_MODULE/CALLABLE, UWSGI_CHDIR, UWSGI_PYHOME,
    UWSGI_SETENV, UWSGI_APPID...: the request is served by the app wsgate loaded,
    nothing named is imported, and none of them reaches environ (an HTTP header
    named Uwsgi-File stays HTTP_UWSGI_FILE data)."""
    evil = tmp_path / "evil_uwsgi_app.py"
    pwned = tmp_path / "pwned"
    evil.write_text("open(%r, 'w').write('x')\n"
                    "def application(e, s):\n    s('200 OK', [])\n    return [b'evil']\n"
                    % str(pwned))
    magic = [("UWSGI_FILE", str(evil)), ("UWSGI_SCRIPT", "evil_uwsgi_app"),
             ("UWSGI_MODULE", "evil_uwsgi_app"), ("UWSGI_CALLABLE", "application"),
             ("UWSGI_CHDIR", str(tmp_path)), ("UWSGI_PYHOME", str(tmp_path)),
             ("UWSGI_PYTHONPATH", str(tmp_path)), ("UWSGI_SETENV", "PWNED=1"),
             ("UWSGI_APPID", "evil"), ("UWSGI_SCHEME", "https"), ("UWSGI_TOUCH_RELOAD", "x")]
    r = uwsgi_get(usrv, "/probe/magic", headers=[("Uwsgi-File", "data")], extra=magic)
    assert r.status == 200, (r, logs(usrv, 3000))
    env = r.json()["environ"]
    assert env["PATH_INFO"] == "/probe/magic"
    assert [k for k in env if k.startswith("UWSGI_")] == [], env
    assert env["HTTP_UWSGI_FILE"] == "data"
    assert env["wsgi.url_scheme"] == "http"  # UWSGI_SCHEME is not acted on either
    assert "PWNED" not in env
    wait_idle(usrv)
    assert not pwned.exists(), "a UWSGI_* variable made wsgate load code"
    assert_serving(usrv)


# ---------------------------------------------------------------- U04: sizes, keys, duplicates

def test_u04_zero_length_key_refused(usrv, tmp_path):
    mark, uri = mark_uri(tmp_path)
    block = vars_block(uwsgi_vars("GET", uri)) + pair("", "x")
    assert_refused(usrv, packet(block), 400, mark)


def _block_of(size, uri="/probe/big"):
    """A vars block of exactly `size` bytes: the GET's variables and one padding
    variable X."""
    base = vars_block(uwsgi_vars("GET", uri))
    pad = size - len(base) - 2 - 1 - 2
    block = base + pair("HTTP_X_PAD", "v" * (pad - 9))
    assert len(block) == size, len(block)
    return block


def test_u04_65535_byte_block_served(usrv):
    """The protocol's largest block: served under the default --max-header-size
    (64 KiB)."""
    r = uwsgi_exchange(usrv, packet(_block_of(65535)))
    assert r.status == 200, (r, logs(usrv, 3000))
    assert len(r.json()["environ"]["HTTP_X_PAD"]) > 65000


def test_u04_block_over_max_header_size_refused_before_it_is_read(usrv_factory):
    """--max-header-size 16384: a datasize over it is 431 on the header alone (the
    block is never sent here)."""
    srv = usrv_factory("--max-header-size", "16384")
    r = uwsgi_exchange(srv, b"\x00" + struct.pack("<H", 16385) + b"\x00")
    assert r.status == 431, (r, logs(srv, 3000))
    r = uwsgi_exchange(srv, packet(_block_of(16384)))
    assert r.status == 200, r


def test_u04_duplicate_keys(usrv):
    """A repeated variable: the last one counts (as for FastCGI and SCGI), except
    CONTENT_LENGTH, which is refused."""
    r = uwsgi_get(usrv, "/probe/dup", extra=[("HTTP_X_D", "1"), ("HTTP_X_D", "2")])
    assert r.json()["environ"]["HTTP_X_D"] == "2", r
    items = uwsgi_vars("POST", "/probe/dup", body=b"hello") + [("CONTENT_LENGTH", "5")]
    assert_refused(usrv, encode(items, b"hello"), 400)


@pytest.mark.parametrize("cl", ["-1", "+5", " 5", "0x5", "1" * 19])
def test_bad_content_length_refused(usrv, cl):
    assert_refused(usrv, encode(uwsgi_vars("POST", "/probe/cl", content_length=cl), b"hello"),
                   400)


# ---------------------------------------------------------------- U05: truncated header

@pytest.mark.parametrize("data", [b"\x00", b"\x00\x10", b"\x00\x10\x00"], ids=[1, 2, 3])
def test_u05_truncated_header_then_close(usrv, data):
    """Part of the header, then the peer closes: closed, nothing answered, nothing
    else affected."""
    with open_uwsgi(usrv) as c:
        c.send(data)
        c.shut_wr()
        closed, got = c.closed_within(t(5))
    assert closed and got == b"", got
    assert_serving(usrv)


@pytest.mark.slow
@pytest.mark.parametrize("data", [b"\x00\x10", packet(b"x" * 100)[:50]], ids=["header", "block"])
def test_u05_truncated_then_silence_closed_at_read_timeout(usrv_factory, data):
    srv = usrv_factory("--read-timeout", "1")
    with open_uwsgi(srv) as c:
        c.send(data)
        t0 = time.monotonic()
        closed, got = c.closed_within(t(6))
        elapsed = time.monotonic() - t0
    assert closed, "not closed at --read-timeout 1"
    assert elapsed >= 0.8, "closed after %.2f s, before the read timeout" % elapsed
    assert got == b"" or UwsgiResponse(got, True, False).status in (400, 408), got
    assert_serving(srv)


# ---------------------------------------------------------------- U06: short body

def _short_body(usrv_factory, tmp_path, cl, sent, then="close"):
    read_timeout = 1 if then == "silence" else 30
    srv = usrv_factory("--body-buffer", "65536", "--read-timeout", str(read_timeout))
    report = str(tmp_path / "report.json")
    started = str(tmp_path / "started")
    uri = "/echo/?mode=readn&n=4096&report=%s&started=%s" % (report, started)
    with open_uwsgi(srv) as c:
        c.send(encode(uwsgi_vars("POST", uri, content_length=str(cl)), os.urandom(sent)))
        t0 = time.monotonic()
        if then == "close":
            c.shut_wr()
        closed, data = c.closed_within(t(10))
        elapsed = time.monotonic() - t0
    assert closed, (data[:300], logs(srv, 3000))
    if then == "close":
        assert elapsed < t(5), "closed only at the read timeout (%.1f s)" % elapsed
    else:
        assert elapsed >= 0.8, "closed after %.2f s, before the read timeout" % elapsed
    assert b"HTTP/1.1 200" not in data, data[:300]
    return srv, report, started, data


def test_u06_big_body_short_then_close_raises(usrv_factory, tmp_path):
    """CONTENT_LENGTH 200000, 100000 bytes, then close: the app's read raises."""
    srv, report, started, data = _short_body(usrv_factory, tmp_path, 200000, 100000)
    wait_for(lambda: os.path.exists(report), t(5), what="the app's report")
    with open(report) as f:
        assert "error" in json.load(f), "the app saw a complete body"
    assert data == b"" or UwsgiResponse(data, True, False).status in (400, 500), data[:300]
    assert_serving(srv)


def test_u06_small_body_short_then_close(usrv_factory, tmp_path):
    """CONTENT_LENGTH 100, 10 bytes, then close: the app is never called with a
    silently short body."""
    srv, report, started, data = _short_body(usrv_factory, tmp_path, 100, 10)
    wait_idle(srv)
    if os.path.exists(started):
        wait_for(lambda: os.path.exists(report), t(5), what="the app's report")
        with open(report) as f:
            assert "error" in json.load(f)
    assert_serving(srv)


@pytest.mark.slow
@pytest.mark.parametrize("cl,sent", [(200000, 100000), (100, 10)], ids=["big", "small"])
def test_u06_short_body_then_silence_closed_at_read_timeout(usrv_factory, tmp_path, cl, sent):
    srv, report, started, data = _short_body(usrv_factory, tmp_path, cl, sent, "silence")
    assert data == b"" or UwsgiResponse(data, True, False).status in (408, 500), data[:300]
    if os.path.exists(started):
        wait_for(lambda: os.path.exists(report), t(5), what="the app's report")
        with open(report) as f:
            assert "error" in json.load(f)
    assert_serving(srv)


# ---------------------------------------------------------------- U07: bytes after the body

def test_u07_bytes_after_the_body_never_parsed(usrv, tmp_path):
    count = str(tmp_path / "count")
    first = request_bytes("POST", "/count/first?file=" + count, body=b"hello")
    second = request_bytes("GET", "/count/second?file=" + count)
    r = uwsgi_exchange(usrv, first + second)
    assert r.status == 200 and r.body == b"counted", r
    assert r.raw.count(b"HTTP/1.1 ") == 1, r.raw
    wait_idle(usrv)
    with open(count) as f:
        assert f.read() == "POST /count/first\n"


# ---------------------------------------------------------------- overload

def test_full_queue_answers_503_at_once(usrv_factory, tmp_path):
    """One thread busy, one request queued: the next one gets a 503 status line with
    Retry-After at once (as over SCGI)."""
    srv = usrv_factory("--threads", "1", "--queue", "1", app="it_slow")
    mark = str(tmp_path / "busy")
    busy = [open_uwsgi(srv) for _ in range(2)]
    try:
        busy[0].send(request_bytes("GET", "/busy?t=%g&mark=%s" % (t(2), mark)))
        wait_mark(mark)
        busy[1].send(request_bytes("GET", "/queued"))
        wait_metric(srv, "wsgate_queue_depth", 1)
        r = uwsgi_exchange(srv, request_bytes("GET", "/refused"), timeout=t(1))
        assert r.status == 503 and r.header("Retry-After") == "1", r
        assert busy[0].response().json()["path"] == "/busy"
        assert busy[1].response().json()["path"] == "/queued"
    finally:
        for c in busy:
            c.close()
