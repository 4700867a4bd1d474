"""wsgate behind real SCGI front servers (issue 4, "Tests"): lighttpd mod_scgi
(scgi.server with check-local disable, TCP and unix socket), nginx scgi_pass with the
stock scgi_params (TCP and unix socket) and Apache httpd mod_proxy_scgi
(scgi://host:port/ and unix:...|scgi://). Each is started by scgi_frontends.py on a
free port with its config in a temp dir (the configs docs/deploy-scgi.md shows),
in front of one wsgate running tests/apps/scgi_mux.py with --script-name /app and
--threads 8.

Through each: the environ probe (SCRIPT_NAME /app, PATH_INFO the decoded rest,
QUERY_STRING raw, HTTP_*), a 3 MiB POST read intact, a streamed response, a 5 MB
response, an app exception -> 500, 300 sequential requests, 8 concurrent 1-second
requests finishing together. Plus the path split without --script-name.
"""
import hashlib
import http.client
import json
import os
import threading
import time

import pytest

from frontends import big_expected, failure_context as _ctx, http_request
from scgi_frontends import (SCGI_VARIANT_IDS, SCGI_VARIANTS, front_binary,  # noqa: F401
                            require_scgi, scgi_front, scgi_front_factory, start_scgi_wsgate)
from wsgate_util import expected_stream, t


# ---------------------------------------------------------------- through each front server

def test_environ_probe(scgi_front):
    fs = scgi_front
    target = "/app/probe/a%20b/caf%C3%A9;p=1?x=1&y=%20&z=%2F&w=a+b"
    st, hdrs, body = http_request(fs, "GET", target,
                                  headers={"X-Foo": "bar", "X-Multi-Word-Header": "v 1",
                                           "Cookie": "c=1", "User-Agent": "scgi-test"})
    assert st == 200, _ctx(fs, st, body[:500])
    out = json.loads(body)
    env = out["environ"]
    assert env["SCRIPT_NAME"] == "/app", _ctx(fs, env)
    # PEP 3333: the decoded path as latin-1 characters of its bytes
    assert env["PATH_INFO"] == "/probe/a b/caf\xc3\xa9;p=1", _ctx(fs, env)
    assert env["QUERY_STRING"] == "x=1&y=%20&z=%2F&w=a+b", _ctx(fs, env)
    assert env["REQUEST_METHOD"] == "GET", env
    assert env["REQUEST_URI"] == target, env
    assert env["REMOTE_ADDR"] == "127.0.0.1", env
    assert env["HTTP_X_FOO"] == "bar", env
    assert env["HTTP_X_MULTI_WORD_HEADER"] == "v 1", env
    assert env["HTTP_COOKIE"] == "c=1", env
    assert env["HTTP_USER_AGENT"] == "scgi-test", env
    # Debian's stock scgi_params sends HTTP_HOST $host (no port)
    assert env["HTTP_HOST"] in ("127.0.0.1:%d" % fs.port, "127.0.0.1"), env
    assert env["wsgi.url_scheme"] == "http", env
    assert env["SERVER_PROTOCOL"] in ("HTTP/1.1", "HTTP/1.0"), env
    assert env["SERVER_NAME"], env
    assert env["SERVER_PORT"].isdigit(), env
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0"), env
    assert "CONTENT_TYPE" not in env or env["CONTENT_TYPE"] == "", env
    for k in ("wsgi.input", "wsgi.errors", "wsgi.version", "wsgi.multithread",
              "wsgi.multiprocess", "wsgi.run_once"):
        assert k in out["types"], out["types"]
    assert out["wsgi.version"] == [1, 0]
    assert out["input_methods"] == ["__iter__", "read", "readline", "readlines"]


def test_post_probe_read(scgi_front):
    fs = scgi_front
    body = b"hello=world&x=" + b"y" * 5000
    st, hdrs, data = http_request(fs, "POST", "/app/probe/form?read=1", body=body,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200, _ctx(fs, st, data[:500])
    out = json.loads(data)
    assert out["body_len"] == len(body)
    assert out["body_sha256"] == hashlib.sha256(body).hexdigest()
    env = out["environ"]
    assert env["CONTENT_LENGTH"] == str(len(body)), env
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded", env
    assert env["REQUEST_METHOD"] == "POST", env
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/probe/form"), env


def test_post_3mib(scgi_front):
    fs = scgi_front
    body = os.urandom(3 * 1024 * 1024)
    st, hdrs, data = http_request(fs, "POST", "/app/echo/?mode=readn&n=65536", body=body,
                                  headers={"Content-Type": "application/octet-stream"})
    assert st == 200, _ctx(fs, st, data[:500])
    out = json.loads(data)
    assert out["len"] == len(body), out
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["content_length"] == str(len(body))
    assert out["content_type"] == "application/octet-stream"


def test_streamed_response(scgi_front):
    fs = scgi_front
    st, hdrs, data = http_request(fs, "GET", "/app/stream/?n=30&size=1000&delay=0.02")
    assert st == 200, _ctx(fs, st, data[:500])
    assert data == expected_stream(30, 1000)


def test_5mb_response(scgi_front):
    fs = scgi_front
    size = 5 * 1000 * 1000
    st, hdrs, data = http_request(fs, "GET", "/app/big/?size=%d" % size)
    assert st == 200, _ctx(fs, st, data[:300])
    assert len(data) == size, _ctx(fs, len(data))
    assert data == big_expected(size)


def test_app_exception_is_500(scgi_front):
    fs = scgi_front
    st, hdrs, data = http_request(fs, "GET", "/app/raise/now")
    assert st == 500, _ctx(fs, st, data[:500])
    assert b"deliberate failure" not in data, data  # no traceback to the client
    # and the backend carries on
    st, hdrs, data = http_request(fs, "GET", "/app/probe/after")
    assert st == 200, _ctx(fs, st, data[:500])


def test_300_sequential(scgi_front):
    fs = scgi_front
    conn = http.client.HTTPConnection("127.0.0.1", fs.port, timeout=t(30))
    statuses = []
    try:
        for i in range(300):
            st, hdrs, data = http_request(fs, "GET", "/app/slow/%d?t=0" % i, conn=conn)
            statuses.append(st)
            if st != 200:
                break
            assert json.loads(data)["path"] == "/slow/%d" % i
            if hdrs.get("connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", fs.port, timeout=t(30))
    finally:
        conn.close()
    assert statuses == [200] * 300, _ctx(fs, statuses[-5:], len(statuses))


def test_8_concurrent_1s(scgi_front):
    fs = scgi_front
    results = [None] * 8
    errors = []

    def one(i):
        try:
            results[i] = http_request(fs, "GET", "/app/slow/c%d?t=1" % i)
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(t(30))
    elapsed = time.monotonic() - t0
    assert not errors, _ctx(fs, errors)
    assert [r[0] for r in results] == [200] * 8, _ctx(fs, [r and r[0] for r in results])
    starts = [json.loads(r[2])["start"] for r in results]
    assert elapsed < t(2.5), _ctx(fs, "8 x 1 s took %.2f s (starts spread %.2f s)"
                                  % (elapsed, max(starts) - min(starts)))


# ---------------------------------------------------------------- without --script-name

@pytest.mark.parametrize("variant", SCGI_VARIANTS, ids=SCGI_VARIANT_IDS)
def test_path_split_without_script_name(variant, wsgate, scgi_front_factory):
    """Without --script-name, whatever split the front server sends, SCRIPT_NAME +
    PATH_INFO is the decoded path (docs/deploy-scgi.md: use --script-name to mount
    under a prefix, the front servers disagree on the split)."""
    name, kind = variant
    if front_binary(name) is None:
        pytest.skip("%s not installed" % name)
    require_scgi()
    srv = start_scgi_wsgate(wsgate, "scgi_mux", unix=(kind == "unix"))
    fs = scgi_front_factory(name, srv.backend)
    fs.wsgate = srv
    st, hdrs, data = http_request(fs, "GET", "/app/probe/x%20y?q=1")
    assert st == 200, _ctx(fs, st, data[:500])
    env = json.loads(data)["environ"]
    assert env["SCRIPT_NAME"] + env["PATH_INFO"] == "/app/probe/x y", _ctx(fs, env)
    assert env["PATH_INFO"], env
    if name == "lighttpd":  # the one that splits at its mount point
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/probe/x y"), env
    else:  # nginx, Apache: the whole path ends up in PATH_INFO, SCRIPT_NAME empty
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/app/probe/x y"), env
    assert env["QUERY_STRING"] == "q=1", env


# ---------------------------------------------------------------- R rows through the front servers

def _raw_conn(fs):
    import socket
    from wsgate_util import RawConn
    s = socket.create_connection(("127.0.0.1", fs.port), timeout=t(10))
    return RawConn(sock=s, timeout=t(15))


@pytest.mark.parametrize("method,path,status", [("GET", "/app/bad/204", 204),
                                                ("GET", "/app/bad/304", 304),
                                                ("HEAD", "/app/bad/body", 200),
                                                ("HEAD", "/app/bad/body-nocl", 200),
                                                ("GET", "/app/bad/205", 205)])
def test_r3_no_body_reaches_the_client(scgi_front, method, path, status):
    """R3: the app sends a body on 204/205/304/HEAD; wsgate drops it (the raw SCGI
    tests check that), and the client never sees one (the next response on the same
    keep-alive connection is intact)."""
    from wsgate_util import req
    fs = scgi_front
    c = _raw_conn(fs)
    try:
        c.send(req(method, path, host="127.0.0.1"))
        r = c.read_response(method=method)
        assert r.status == status, _ctx(fs, r)
        assert r.body == b"", _ctx(fs, r)
        # a 205 may be framed as Content-Length: 0 or as an empty chunked body (Apache)
        assert r.header("Transfer-Encoding") is None or status in (200, 205), _ctx(fs, r)
        if status == 205:
            assert r.header("Content-Length") in ("0", None), _ctx(fs, r)
        if not c.eof and not r.has_token("Connection", "close"):
            c.send(req("GET", "/app/probe/next", host="127.0.0.1"))
            r2 = c.read_response()
            assert r2.status == 200, _ctx(fs, r2)
            assert b"MUST-NOT-BE-SENT" not in r2.raw_head + r2.body, _ctx(fs, r2)
        rest = c.buf
    finally:
        c.close()
    assert b"MUST-NOT-BE-SENT" not in rest


@pytest.mark.parametrize("path", ["/app/bad/crlf-value", "/app/bad/crlf-status",
                                  "/app/bad/raise-before-start", "/app/bad/no-start-response"])
def test_r1_r5_500_through_front(scgi_front, path):
    fs = scgi_front
    st, hdrs, data = http_request(fs, "GET", path)
    assert st == 500, _ctx(fs, st, hdrs, data[:300])
    assert "set-cookie" not in hdrs and "x-injected" not in hdrs, hdrs
    assert b"MUST-NOT-BE-SENT" not in data


@pytest.mark.parametrize("path", ["/app/bad/raise-after-first-cl", "/app/bad/raise-after-first"],
                         ids=["with-content-length", "no-content-length"])
def test_r4_raise_after_headers_not_a_complete_response(scgi_front, path):
    """R4: the app sent its headers and 12 bytes, then raised. The client must not
    get a clean, complete response (docs/hostile-inputs.md R4: abort, no clean final chunk).
    Over SCGI a response ends at the connection's end, so an orderly close (FIN) reads
    as "complete" to a front server that does not check the declared length; only
    an abortive close (RST) tells nginx and Apache the answer was cut short.
    lighttpd 1.4 ends a response without Content-Length cleanly even on a RST
    (checked with a stand-in backend), so that one combination cannot pass."""
    from wsgate_util import req
    fs = scgi_front
    if fs.name == "lighttpd" and "-cl" not in path:
        pytest.xfail("lighttpd mod_scgi ends a close-delimited response cleanly even "
                     "when the backend resets the connection: nothing the backend can do")
    # nginx and lighttpd compare a declared Content-Length with what arrived, so they
    # notice even over a unix socket; the other combinations cannot.
    if fs.backend.kind == "unix" and not (fs.name in ("nginx", "lighttpd") and "-cl" in path):
        pytest.xfail("over a unix socket a close is always a plain EOF (no reset "
                     "exists), and SCGI bodies end at EOF: the front server cannot "
                     "tell an aborted response from a complete one")
    c = _raw_conn(fs)
    try:
        c.send(req("GET", path, host="127.0.0.1"))
        try:
            r = c.read_response(allow_partial=True)
        except AssertionError:  # closed before or mid-head: not a complete response
            return
    finally:
        c.close()
    assert r.status >= 500 or not r.complete, _ctx(
        fs, "the client got a complete %d response of %d bytes after the app raised"
        % (r.status, len(r.body)), r)
