"""wsgate behind real FastCGI front servers (issue 3, "Tests"): nginx (TCP and unix
socket upstreams, fastcgi_keep_conn on), Apache httpd mod_proxy_fcgi (fcgi://host:port
and unix:...|fcgi://), lighttpd mod_fastcgi (check-local disable, mounted at /app) and
HAProxy (fcgi-app with mpxs-conns and keep-conn). Each is started by frontends.py on
free ports with its config in a temp dir (the configs docs/deploy-*.md show).

Through each: the environ probe with --script-name /app, %2F in the path, a 3 MiB
POST, chunked uploads, a streamed response (whole, and its first chunk before the
app's last), a 5 MB response, an app exception -> 500, 300 sequential requests, 8
concurrent 1-second requests finishing together, no body on HEAD/204/205. Per
front server, what its page documents: nginx's HTTP_HOST and unbuffered uploads,
lighttpd's streamed uploads, Apache's MPM settings. Plus libfcgi's cgi-fcgi client, the path split without
--script-name, and a Flask app behind Apache at /app/.
"""
import hashlib
import http.client
import json
import os
import subprocess
import threading
import time

import pytest

from frontends import VARIANT_IDS, VARIANTS, find_binary, require_fastcgi, start_fcgi_wsgate
from frontends import big_expected, failure_context as _ctx, http_request, only
from frontends import (check_http_host, check_no_mpm_complaint, check_streamed_upload,
                       chunked_request, stream_with_gate)
from frontends import front, front_factory  # noqa: F401,F811 (fixtures)
from wsgate_util import expected_stream, t, wait_for


# ---------------------------------------------------------------- through each front server

def test_environ_probe(front):
    target = "/app/probe/a%20b/caf%C3%A9;p=1?x=1&y=%20&z=%2F&w=a+b"
    st, hdrs, body = http_request(front, "GET", target,
                                  headers={"X-Foo": "bar", "X-Multi-Word-Header": "v 1",
                                           "Cookie": "c=1"})
    assert st == 200, _ctx(front, st, body[:500])
    out = json.loads(body)
    env = out["environ"]
    assert env["SCRIPT_NAME"] == "/app", env
    # PEP 3333: the decoded path as latin-1 characters of its bytes
    assert env["PATH_INFO"] == "/probe/a b/caf\xc3\xa9;p=1", env
    assert env["QUERY_STRING"] == "x=1&y=%20&z=%2F&w=a+b", env
    assert env["REQUEST_METHOD"] == "GET"
    assert env["REMOTE_ADDR"] == "127.0.0.1", env
    assert env["HTTP_X_FOO"] == "bar", env
    assert env["HTTP_X_MULTI_WORD_HEADER"] == "v 1", env
    assert env["HTTP_COOKIE"] == "c=1", env
    # nginx: the documented fastcgi_param HTTP_HOST $http_host keeps the port
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % front.port, env
    assert env["wsgi.url_scheme"] == "http"
    assert env["SERVER_PROTOCOL"] in ("HTTP/1.1", "HTTP/1.0"), env
    assert env["SERVER_NAME"], env
    assert env["SERVER_PORT"].isdigit(), env
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0"), env
    for k in ("wsgi.input", "wsgi.errors", "wsgi.version", "wsgi.multithread",
              "wsgi.multiprocess", "wsgi.run_once"):
        assert k in out["types"], out["types"]
    assert out["input_methods"] == ["__iter__", "read", "readline", "readlines"]


def test_post_3mib(front):
    body = os.urandom(3 * 1024 * 1024)
    st, hdrs, data = http_request(front, "POST", "/app/echo/?mode=readn&n=65536", body=body,
                                  headers={"Content-Type": "application/octet-stream"})
    assert st == 200, _ctx(front, st, data[:500])
    out = json.loads(data)
    assert out["len"] == len(body), out
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["content_type"] == "application/octet-stream"


def test_post_probe_read(front):
    body = b"hello=world&x=" + b"y" * 5000
    st, hdrs, data = http_request(front, "POST", "/app/probe/form?read=1", body=body,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200, _ctx(front, st, data[:500])
    out = json.loads(data)
    assert out["body_len"] == len(body)
    assert out["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert out["environ"]["CONTENT_LENGTH"] == str(len(body))
    assert out["environ"]["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert out["environ"]["REQUEST_METHOD"] == "POST"


def test_streamed_response(front):
    st, hdrs, data = http_request(front, "GET", "/app/stream/?n=30&size=1000&delay=0.02")
    assert st == 200, _ctx(front, st, data[:500])
    assert data == expected_stream(30, 1000)


def test_streamed_response_first_chunk_early(front):
    """The first chunk reaches the client while the app still holds back the last one
    (Apache: flushpackets=on, docs/deploy-apache.md; lighttpd:
    server.stream-response-body = 2, docs/deploy-lighttpd.md; nginx and HAProxy pass
    FastCGI output on as it comes)."""
    st, early, whole = stream_with_gate(front, "/app/stream/?")
    assert len(early) >= 1000, _ctx(front, "the front server held the streamed response: "
                                    "%d bytes before the app's last chunk" % len(early), st)
    assert (st, whole) == (200, expected_stream(3, 1000)), _ctx(front, st, whole and len(whole))


def test_encoded_slash_in_path(front):
    """%2F in the path reaches the app (Apache answers 404 itself unless
    AllowEncodedSlashes NoDecode): PATH_INFO decoded, REQUEST_URI raw."""
    st, hdrs, body = http_request(front, "GET", "/app/probe/a%2Fb/c?q=%2F")
    assert st == 200, _ctx(front, st, body[:300])
    env = json.loads(body)["environ"]
    assert env["PATH_INFO"] == "/probe/a/b/c", env
    assert env["REQUEST_URI"] == "/app/probe/a%2Fb/c?q=%2F", env


def test_chunked_upload(front):
    """A chunked upload arrives whole: nginx, lighttpd and HAProxy read it first and
    send its CONTENT_LENGTH, Apache passes one over 16 KB on without it. Except
    through HAProxy when the body does not fit in one of its buffers (tune.bufsize,
    16384 by default): HAProxy answers 400 itself and logs PH-- (its FastCGI mux needs
    the whole body to compute CONTENT_LENGTH; docs/deploy-haproxy.md)."""
    for size in (8000, 20000):
        body = os.urandom(size)
        st, hdrs, data = chunked_request(front, "/app/echo/?mode=readn&n=65536", body)
        if front.name == "haproxy" and size > 16384:
            assert st == 400, _ctx(front, size, st, data[:300])
            wait_for(lambda: "PH--" in front.logs(), t(10), what="PH-- in HAProxy's log")
            continue
        assert st == 200, _ctx(front, size, st, data[:300])
        out = json.loads(data)
        assert (out["len"], out["sha256"]) == (size, hashlib.sha256(body).hexdigest()), out
        # Apache sends the length when the body fit in what it read ahead (16 KB)
        streamed = front.name == "apache" and size > 16384
        assert out["content_length"] == (None if streamed else str(size)), out


@only("front", VARIANTS, front="nginx")
def test_nginx_http_host_keeps_the_port(front):
    """docs/deploy-nginx.md: fastcgi_param HTTP_HOST $http_host after the stock
    params keeps the port the client sent; Debian's stock params alone send $host."""
    check_http_host(front)


@only("front", VARIANTS, front="nginx")
def test_nginx_request_buffering_off(front):
    """docs/deploy-nginx.md: with fastcgi_request_buffering off nginx passes a chunked
    upload on as it comes, with an empty CONTENT_LENGTH; wsgate reads it to the empty
    STDIN record. A Content-Length upload arrives whole too."""
    body = os.urandom(100000)
    target = front.UNBUFFERED + "echo/?mode=readn&n=65536"
    st, hdrs, data = chunked_request(front, target, body)
    assert st == 200, _ctx(front, st, data[:300])
    out = json.loads(data)
    assert (out["len"], out["sha256"]) == (len(body), hashlib.sha256(body).hexdigest()), out
    assert out["content_length"] in (None, ""), out
    st, hdrs, data = http_request(front, "POST", target, body=body)
    assert st == 200, _ctx(front, st, data[:300])
    out = json.loads(data)
    assert (out["len"], out["content_length"]) == (len(body), str(len(body))), out


@only("front", VARIANTS, front="lighttpd")
def test_lighttpd_stream_request_body(front):
    """docs/deploy-lighttpd.md: with server.stream-request-body = 2 the app starts
    while the upload is still coming; lighttpd then answers 411 to a chunked one."""
    check_streamed_upload(front, os.path.join(front.dir, "started-%d" % time.monotonic_ns()))


def test_5mb_response(front):
    size = 5 * 1000 * 1000
    st, hdrs, data = http_request(front, "GET", "/app/big/?size=%d" % size)
    assert st == 200, _ctx(front, st, data[:300])
    assert len(data) == size
    assert data == big_expected(size)


def test_app_exception_is_500(front):
    st, hdrs, data = http_request(front, "GET", "/app/raise/now")
    assert st == 500, _ctx(front, st, data[:500])
    # and the backend carries on
    st, hdrs, data = http_request(front, "GET", "/app/probe/after")
    assert st == 200, _ctx(front, st, data[:500])


@pytest.mark.parametrize("method,path,status", [("HEAD", "/app/bad/body", 200),
                                                ("GET", "/app/bad/204", 204),
                                                ("GET", "/app/bad/205", 205)])
def test_r3_no_body_reaches_the_client(front, method, path, status):
    """R3: the app sends a body on HEAD/204/205; wsgate drops it (the raw FastCGI
    tests check that), so neither the client nor the next response on the same
    connection ever sees it (HAProxy answered 502 to a HEAD or 204 body; nginx and
    Apache pass a 205's body on as they get it)."""
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=t(30))
    try:
        st, hdrs, data = http_request(front, method, path, conn=conn)
        assert st == status, _ctx(front, st, hdrs, data[:300])
        assert data == b"", _ctx(front, st, hdrs, data[:300])
        if status == 205:  # Content-Length: 0, or an empty chunked body
            assert hdrs.get("content-length", "0") == "0", _ctx(front, st, hdrs)
        st, hdrs, data = http_request(front, "GET", "/app/probe/after", conn=conn)
        assert st == 200 and b"MUST-NOT-BE-SENT" not in data, _ctx(front, st, data[:300])
    finally:
        conn.close()


def test_300_sequential(front):
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=t(30))
    statuses = []
    try:
        for i in range(300):
            st, hdrs, data = http_request(front, "GET", "/app/slow/%d?t=0" % i, conn=conn)
            statuses.append(st)
            if st != 200:
                break
            assert json.loads(data)["path"] == "/slow/%d" % i
    finally:
        conn.close()
    assert statuses == [200] * 300, _ctx(front, statuses[-5:], len(statuses))


def test_8_concurrent_1s(front):
    results = [None] * 8
    errors = []

    def one(i):
        try:
            results[i] = http_request(front, "GET", "/app/slow/c%d?t=1" % i)
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(t(30))
    elapsed = time.monotonic() - t0
    assert not errors, _ctx(front, errors)
    assert [r[0] for r in results] == [200] * 8, _ctx(front, [r and r[0] for r in results])
    starts = [json.loads(r[2])["start"] for r in results]
    assert elapsed < t(2.5), ("8 x 1 s took %.2f s (starts spread %.2f s)"
                              % (elapsed, max(starts) - min(starts)), _ctx(front))


def test_wsgi_errors_reaches_log(front):
    """With --fastcgi-stderr (on for these servers) wsgi.errors lines reach the front
    server's own log as FCGI_STDERR (nginx: "FastCGI sent in stderr", Apache: AH01071,
    lighttpd: "FastCGI-stderr", HAProxy: log-stderr), and wsgate's error log too. A
    40 KB line first: Debian 12's HAProxy 2.6.12 crashes on some STDERR records
    (see fcgi_send_stderr), the later requests would fail."""
    st, hdrs, data = http_request(front, "GET", "/app/stderr/?msg=long&repeat=10000")
    assert st == 200 and data == b"logged", _ctx(front, st, data)
    mark = "frontmark%d" % front.port
    st, hdrs, data = http_request(front, "GET", "/app/stderr/?msg=" + mark)
    assert st == 200 and data == b"logged", _ctx(front, st, data)
    try:  # the stderr text only: the access logs have the mark in the URL
        wait_for(lambda: "fcgi_mux stderr " + mark in front.log_text(), t(5),
                 what="the line in %s's log" % front.name)
    except AssertionError as e:
        raise AssertionError(_ctx(front, str(e)))
    assert "fcgi_mux stderr " + mark in front.wsgate.error_text(), _ctx(front)


# ---------------------------------------------------------------- without --script-name

@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_path_split_without_script_name(variant, wsgate, front_factory):
    """Whatever split the front server sends (nginx: whole path in SCRIPT_NAME;
    Apache/HAProxy: the same; lighttpd: SCRIPT_NAME /app + PATH_INFO), SCRIPT_NAME +
    PATH_INFO is the decoded path and PATH_INFO is not empty."""
    name, kind = variant
    require_fastcgi()
    srv = start_fcgi_wsgate(wsgate, "fcgi_mux", unix=(kind == "unix"))
    fs = front_factory(name, srv.backend)
    fs.wsgate = srv
    st, hdrs, data = http_request(fs, "GET", "/app/probe/x%20y?q=1")
    assert st == 200, _ctx(fs, st, data[:500])
    env = json.loads(data)["environ"]
    assert env["SCRIPT_NAME"] + env["PATH_INFO"] == "/app/probe/x y", env
    assert env["PATH_INFO"], env
    if name == "lighttpd":  # the one that splits at its mount point
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/probe/x y"), env
    else:  # whole path in SCRIPT_NAME, no PATH_INFO: derived from REQUEST_URI
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/app/probe/x y"), env
    assert env["QUERY_STRING"] == "q=1", env


# ---------------------------------------------------------------- libfcgi's cgi-fcgi

@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_cgi_fcgi_post(kind, wsgate):
    cgi_fcgi = find_binary("cgi-fcgi")
    if cgi_fcgi is None:
        pytest.skip("cgi-fcgi not installed (libfcgi-bin; scripts/install-deps installs it)")
    require_fastcgi()
    srv = start_fcgi_wsgate(wsgate, "fcgi_mux", unix=(kind == "unix"))
    body = os.urandom(200000)
    conn_name = srv.backend.path if kind == "unix" else "%s:%d" % srv.backend.addr
    env = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
           "CONTENT_TYPE": "application/octet-stream",
           "REQUEST_URI": "/echo/cgi?mode=readn&n=4096", "QUERY_STRING": "mode=readn&n=4096",
           "SCRIPT_NAME": "", "PATH_INFO": "/echo/cgi", "SERVER_NAME": "localhost",
           "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
           "GATEWAY_INTERFACE": "CGI/1.1", "HTTP_X_FROM": "cgi-fcgi"}
    p = subprocess.run([cgi_fcgi, "-bind", "-connect", conn_name], input=body, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(30))
    assert p.returncode == 0, (p.returncode, p.stdout[:500], p.stderr[:500])
    head, sep, rest = p.stdout.partition(b"\r\n\r\n")
    assert sep, p.stdout[:500]
    lines = head.split(b"\r\n")
    assert lines[0] == b"Status: 200 OK", lines
    out = json.loads(rest)
    assert out["len"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["content_length"] == str(len(body))


# ---------------------------------------------------------------- Flask behind Apache

@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_flask_behind_apache_sees_script_name(kind, wsgate, front_factory):
    require_fastcgi()
    srv = start_fcgi_wsgate(wsgate, "it_flask", "--script-name", "/app",
                            unix=(kind == "unix"))
    fs = front_factory("apache", srv.backend)
    fs.wsgate = srv
    st, hdrs, data = http_request(fs, "GET", "/app/path/x/y%20z")
    assert st == 200, _ctx(fs, st, data[:500])
    out = json.loads(data)
    assert out == {"rest": "x/y z", "script_name": "/app", "path": "/path/x/y z"}, out
    st, hdrs, data = http_request(fs, "GET", "/app/hello/world")
    assert (st, data) == (200, b"Hello, world!"), _ctx(fs, st, data)
    form = b"name=wsgate&tag=a&tag=b"
    st, hdrs, data = http_request(fs, "POST", "/app/form", body=form,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200, _ctx(fs, st, data[:500])
    assert json.loads(data) == {"name": "wsgate", "tags": ["a", "b"]}
    st, hdrs, data = http_request(fs, "GET", "/app/status/404")
    assert st == 404


# ---------------------------------------------------------------- last: the config itself

@only("front", VARIANTS, front="apache")
def test_apache_config_draws_no_mpm_complaint(front):
    """docs/deploy-apache.md's config: mpm_event does not complain about its thread
    limits (the default MinSpareThreads 75 exceeds MaxRequestWorkers 64: "AH10159:
    server is within MinSpareThreads of MaxRequestWorkers"). Last in the module, so the
    server has run for a while."""
    check_no_mpm_complaint(front)
