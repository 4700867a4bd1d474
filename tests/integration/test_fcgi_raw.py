"""The --fastcgi front-end over raw sockets (issue 3): the FastCGI rows F01-F28 of
docs/hostile-inputs.md with the answers written there, plus plain requests through
the environ probe, multiplexing, FCGI_KEEP_CONN, STDOUT record sizes, and the same
environ as --http for the same request.

Every read has a deadline (fcgi_client.FcgiConn); a bad record must close only its
own connection, so the hostile tests end with a fresh request on a new connection
(assert_serving). "The app was not called" is checked with it_slow's ?mark= file.
"""
import hashlib
import json
import os
import socket
import threading
import time

import pytest

import fcgi_client as fc
from fcgi_client import cgi_params, fcgi_get, open_fcgi
from frontends import require_fastcgi, start_fcgi_wsgate
from wsgate_util import (NoResponse, assert_app_not_called, json_over_http, logs, metric, t,
                         wait_for, wait_idle, wait_mark, wait_metric)


# ---------------------------------------------------------------- fixtures & helpers

@pytest.fixture(scope="module")
def fsrv(wsgate_module):
    """One wsgate (fcgi_mux) with --fastcgi on TCP, shared by this module's tests
    that need no special options (and --stats, for wsgate_util.assert_app_not_called)."""
    require_fastcgi()
    return start_fcgi_wsgate(wsgate_module, "fcgi_mux", stats=True)


@pytest.fixture
def fsrv_factory(wsgate):
    """Factory for a wsgate with options: fsrv_factory(*args, app=, unix=); each has
    --stats too."""
    require_fastcgi()

    def start(*args, app="fcgi_mux", unix=False, **kw):
        return start_fcgi_wsgate(wsgate, app, *args, unix=unix, stats=True, **kw)
    return start


def assert_serving(srv):
    """A fresh connection still gets a complete 200 (the bad input hurt only its own
    connection)."""
    r = fcgi_get(srv, "/probe/alive")
    assert r.complete and r.status == 200, (r, logs(srv, 3000))
    assert r.json()["environ"]["PATH_INFO"] == "/probe/alive"


def mark_path(tmp_path, name="mark"):
    return str(tmp_path / name)


def check_clean_end(r):
    """F27's shape: STDOUT records of at most 65535 bytes, then an empty STDOUT, then
    END_REQUEST with FCGI_REQUEST_COMPLETE, nothing else for the id."""
    assert r.ended and r.protocol_status == fc.REQUEST_COMPLETE, r
    recs = [rec for rec in r.records if rec.type != fc.STDERR]
    assert len(recs) >= 2, r.records
    assert recs[-1].type == fc.END_REQUEST, r.records
    assert (recs[-2].type, recs[-2].clen) == (fc.STDOUT, 0), r.records
    assert all(rec.type == fc.STDOUT for rec in recs[:-1]), r.records
    assert all(0 < n <= 65535 for n in r.stdout_records), r.stdout_records


# ---------------------------------------------------------------- plain requests

def test_get_probe(fsrv):
    r = fcgi_get(fsrv, "/probe/a%20b/c?x=1&y=%20", headers=[("Host", "example.org"),
                                                        ("X-Foo", "bar")])
    check_clean_end(r)
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
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
    assert env["wsgi.url_scheme"] == "http"
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0")
    assert "CONTENT_TYPE" not in env
    assert out["wsgi.version"] == [1, 0]


def test_post_probe(fsrv):
    body = os.urandom(150000)
    with open_fcgi(fsrv) as c:
        r = c.request(cgi_params("POST", "/probe/p?read=1", body=body,
                                 content_type="application/octet-stream"), body=body)
    check_clean_end(r)
    assert r.status == 200, r
    out = r.json()
    assert out["body_len"] == len(body)
    assert out["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert out["environ"]["CONTENT_LENGTH"] == str(len(body))
    assert out["environ"]["CONTENT_TYPE"] == "application/octet-stream"
    assert out["environ"]["REQUEST_METHOD"] == "POST"


@pytest.mark.parametrize("readsize", [8192, 65536])
def test_post_3mib_streamed_to_a_slower_reader(fsrv, readsize):
    """A 3 MiB body sent in full 65535-byte STDIN records as fast as the socket takes
    it, read by the app in pieces: wsgate must apply back-pressure (stop reading the
    connection), not give up on the request."""
    body = os.urandom(3 << 20)
    data = fc.request_bytes(1, cgi_params("POST", "/echo/?mode=readn&n=%d" % readsize,
                                          body=body), body=body)
    with open_fcgi(fsrv) as c:
        sender = threading.Thread(target=c.try_send, args=(data,))
        sender.start()
        try:
            r = c.read_until_end(1, timeout=t(20))
        finally:
            sender.join(t(10))
    check_clean_end(r)
    assert r.status == 200, (r, logs(fsrv, 3000))
    o = r.json()
    assert (o["len"], o["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())


def test_get_over_unix_socket(fsrv_factory):
    srv = fsrv_factory(unix=True)
    r = fcgi_get(srv, "/probe/u")
    check_clean_end(r)
    assert r.json()["environ"]["PATH_INFO"] == "/probe/u"


def test_inherited_fd_listener(wsgate):
    """--fastcgi fd:N: a listening socket handed down by a supervisor."""
    require_fastcgi()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        fd = ls.fileno()
        os.set_inheritable(fd, True)
        srv = wsgate("fcgi_mux", "--fastcgi", "fd:%d" % fd, pass_fds=(fd,))
        srv.fcgi_addr = ls.getsockname()
        r = fcgi_get(srv, "/probe/fd")
        check_clean_end(r)
        assert r.json()["environ"]["PATH_INFO"] == "/probe/fd"
    finally:
        ls.close()


def test_https_on_and_passthrough(fsrv):
    extra = [("HTTPS", "on"), ("DOCUMENT_ROOT", "/srv/www"), ("REMOTE_USER", "alice"),
             ("SSL_PROTOCOL", "TLSv1.3"), ("GATEWAY_INTERFACE", "CGI/1.1")]
    r = fcgi_get(fsrv, "/probe/s", extra=extra)
    env = r.json()["environ"]
    assert env["wsgi.url_scheme"] == "https"
    for k, v in extra:
        assert env[k] == v, (k, env)


def test_empty_server_name_from_host(fsrv):
    items = [kv for kv in cgi_params("GET", "/probe/n", headers=[("Host", "www.example.com:8080")])
             if kv[0] != "SERVER_NAME"] + [("SERVER_NAME", "")]
    with open_fcgi(fsrv) as c:
        r = c.request(items)
    env = r.json()["environ"]
    assert env["SERVER_NAME"] == "www.example.com", env


def test_missing_path_info_derived_from_request_uri(fsrv):
    # nginx stock params: SCRIPT_NAME is the whole path, no PATH_INFO
    r = fcgi_get(fsrv, "/probe/d%C3%A9rive?q", extra=[("SCRIPT_NAME", "/probe/d\xc3\xa9rive")])
    env = r.json()["environ"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/probe/d\xc3\xa9rive"), env
    assert env["QUERY_STRING"] == "q"


@pytest.mark.parametrize("sent,split", [
    ([("SCRIPT_NAME", ""), ("PATH_INFO", "probe/x")], ("", "/probe/x")),
    ([("SCRIPT_NAME", "app"), ("PATH_INFO", "probe/x")], ("/app", "/probe/x")),
    ([("SCRIPT_NAME", "/"), ("PATH_INFO", "/probe/x")], ("", "/probe/x")),
], ids=["path-info", "both", "script-name-slash"])
def test_split_without_leading_slash_normalized(fsrv, sent, split):
    """RFC 3875 4.1.5 / PEP 3333: SCRIPT_NAME and PATH_INFO are empty or start with
    '/'; fcgi_mux is wrapped in wsgiref.validate, which answers 500 otherwise."""
    r = fcgi_get(fsrv, "/app/probe/x", extra=sent)
    assert r.status == 200, (r, logs(fsrv, 3000))
    env = r.json()["environ"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == split, env


def test_script_name_option_overrides_front_server_split(fsrv_factory):
    srv = fsrv_factory("--script-name", "/app")
    # whatever SCRIPT_NAME/PATH_INFO the front server sent, REQUEST_URI decides
    for sent in ([("SCRIPT_NAME", "/app/probe/x y")],
                 [("SCRIPT_NAME", "/app"), ("PATH_INFO", "/bogus")],
                 [("SCRIPT_NAME", ""), ("PATH_INFO", "/app/probe/x y")],
                 []):
        r = fcgi_get(srv, "/app/probe/x%20y?z=1", extra=sent)
        assert r.status == 200, (sent, r, logs(srv, 3000))
        env = r.json()["environ"]
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/probe/x y"), (sent, env)
        assert env["QUERY_STRING"] == "z=1"


# ---------------------------------------------------------------- same environ as --http

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_same_environ_as_http(method, fsrv):
    """The same request over --http and over --fastcgi (with the CGI variables a front
    server sends for it) gives the same environ; only REMOTE_PORT may differ."""
    body = b"a=1&b=2" if method == "POST" else b""
    target = "/probe/some%20where/x?read=1&q=%41"
    hdrs = [("X-Foo", "bar"), ("User-Agent", "fcgi-test"), ("Accept", "*/*")]
    if method == "POST":
        hdrs += [("Content-Type", "application/x-www-form-urlencoded"),
                 ("Content-Length", str(len(body)))]
    host = "127.0.0.1:%d" % fsrv.port
    http_out = json_over_http(fsrv, method, target, hdrs, body, host)
    henv = http_out["environ"]

    # the CGI variables: what nginx's stock fastcgi_params would send for it
    items = [("QUERY_STRING", target.split("?", 1)[1]), ("REQUEST_METHOD", method),
             ("CONTENT_TYPE", henv.get("CONTENT_TYPE", "")),
             ("CONTENT_LENGTH", henv.get("CONTENT_LENGTH", "")),
             ("SCRIPT_NAME", "/probe/some where/x"), ("REQUEST_URI", target),
             ("DOCUMENT_URI", "/probe/some where/x"), ("SERVER_PROTOCOL", "HTTP/1.1"),
             ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "40000"),
             ("SERVER_PORT", henv["SERVER_PORT"]), ("SERVER_NAME", henv["SERVER_NAME"]),
             ("HTTP_HOST", host)]
    items += [("HTTP_" + k.upper().replace("-", "_"), v) for k, v in hdrs
              if k not in ("Content-Type", "Content-Length")]
    with open_fcgi(fsrv) as fcon:
        r = fcon.request(items, body=body)
    assert r.status == 200, r
    f_out = json.loads(r.body)
    fenv = f_out["environ"]
    # DOCUMENT_URI is passed through (it is not a variable --http has)
    fenv.pop("DOCUMENT_URI", None)
    allowed = {"REMOTE_PORT"}
    diff = {k: (henv.get(k), fenv.get(k)) for k in set(henv) | set(fenv)
            if henv.get(k) != fenv.get(k) and k not in allowed}
    assert not diff, diff
    for k in ("types", "wsgi.version", "wsgi.multithread", "wsgi.multiprocess",
              "wsgi.run_once", "wsgi.input_terminated", "input_methods", "errors_methods",
              "file_wrapper_callable", "body_len", "body_sha256"):
        assert http_out.get(k) == f_out.get(k), (k, http_out.get(k), f_out.get(k))


# ---------------------------------------------------------------- KEEP_CONN

def test_keep_conn_off_closes_after_end_request(fsrv):
    with open_fcgi(fsrv) as c:
        r = c.request(cgi_params("GET", "/probe/k"), keep_conn=False)
        check_clean_end(r)
        assert c.closed_within(t(3)), "connection not closed after END_REQUEST without KEEP_CONN"


def test_keep_conn_on_keeps_connection(fsrv):
    with open_fcgi(fsrv) as c:
        for i in range(5):
            r = c.request(cgi_params("GET", "/probe/k%d" % i), rid=1, keep_conn=True)
            check_clean_end(r)
            assert r.json()["environ"]["PATH_INFO"] == "/probe/k%d" % i
            c.results.pop(1)
        assert c.still_open(t(0.5)), "KEEP_CONN connection closed by the server"
        # the last request of a kept connection may drop KEEP_CONN: closed after it
        r = c.request(cgi_params("GET", "/probe/last"), rid=1, keep_conn=False)
        check_clean_end(r)
        assert c.closed_within(t(3))


def test_keep_conn_id_reused_at_once_300_times(fsrv):
    """Apache (enablereuse=on) and nginx (fastcgi_keep_conn) send the next request with
    the same id as soon as END_REQUEST arrives: it must never be "an id in use"."""
    with open_fcgi(fsrv) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(300):
            r = c.request(cgi_params("GET", "/slow/%d?t=0" % i), rid=1, keep_conn=True)
            assert r.complete and r.status == 200, (i, r, logs(fsrv, 3000))
            c.results.pop(1)


def test_keep_conn_new_ids_on_one_connection(fsrv):
    with open_fcgi(fsrv) as c:
        for rid in (1, 2, 300, 65535):
            r = c.request(cgi_params("GET", "/probe/id%d" % rid), rid=rid, keep_conn=True)
            check_clean_end(r)
            assert r.json()["environ"]["PATH_INFO"] == "/probe/id%d" % rid


# ---------------------------------------------------------------- multiplexing

def test_multiplexed_interleaved_records(fsrv):
    """Two ids whose BEGIN/PARAMS/STDIN records are interleaved record by record: both
    bodies arrive intact, and both answers (interleaved too) are intact."""
    b1 = os.urandom(200000)
    b2 = os.urandom(170001)
    p1 = fc.pairs(cgi_params("POST", "/echo/one?mode=readn&n=7000", body=b1))
    p2 = fc.pairs(cgi_params("POST", "/echo/two?mode=readn&n=9000", body=b2))
    recs1 = [fc.begin(1, keep_conn=True)]
    recs2 = [fc.begin(2, keep_conn=True)]
    recs1 += [fc.record(fc.PARAMS, 1, p1[i:i + 50]) for i in range(0, len(p1), 50)]
    recs2 += [fc.record(fc.PARAMS, 2, p2[i:i + 77]) for i in range(0, len(p2), 77)]
    recs1 += [fc.record(fc.PARAMS, 1), *[fc.record(fc.STDIN, 1, b1[i:i + 3000])
                                         for i in range(0, len(b1), 3000)],
              fc.record(fc.STDIN, 1)]
    recs2 += [fc.record(fc.PARAMS, 2), *[fc.record(fc.STDIN, 2, b2[i:i + 4096])
                                         for i in range(0, len(b2), 4096)],
              fc.record(fc.STDIN, 2)]
    out = []
    for i in range(max(len(recs1), len(recs2))):
        if i < len(recs1):
            out.append(recs1[i])
        if i < len(recs2):
            out.append(recs2[i])
    with open_fcgi(fsrv) as c:
        c.send(b"".join(out))
        r1, r2 = c.read_all([1, 2])
    for r, b in ((r1, b1), (r2, b2)):
        check_clean_end(r)
        assert r.status == 200, (r, logs(fsrv, 3000))
        o = r.json()
        assert (o["len"], o["sha256"]) == (len(b), hashlib.sha256(b).hexdigest())


def test_multiplexed_big_responses_not_corrupted(fsrv):
    """Several ids producing big answers at once on one connection: the STDOUT records
    interleave, each id's bytes are exactly its own."""
    sizes = {1: 1000003, 2: 777777, 3: 300000, 7: 65536 * 3}
    with open_fcgi(fsrv) as c:
        c.send(b"".join(fc.request_bytes(rid, cgi_params("GET", "/big/?size=%d" % n),
                                         keep_conn=True) for rid, n in sizes.items()))
        res = c.read_all(list(sizes), timeout=t(30))
        rids_seen = [rec.rid for rec in c.log if rec.type == fc.STDOUT]
    pattern = bytes(range(256)) * 256
    for r in res:
        check_clean_end(r)
        n = sizes[r.rid]
        assert len(r.body) == n, (r.rid, len(r.body))
        reps, rest = divmod(n, len(pattern))
        assert r.body == pattern * reps + pattern[:rest], r.rid
    # (interleaving itself is allowed, not required; just report it in -v output)
    print("STDOUT id order switches:", sum(1 for a, b in zip(rids_seen, rids_seen[1:]) if a != b))


def test_multiplexed_slow_requests_run_concurrently(fsrv):
    """N 1-second requests on ONE connection finish together (run on different
    workers), not one after another."""
    with open_fcgi(fsrv) as c:
        vals = None
        c.send(fc.get_values())
        vals = fc.values_dict(c.read_management())
        assert vals.get("FCGI_MPXS_CONNS") == "1", vals
        n = 6
        t0 = time.monotonic()
        c.send(b"".join(fc.request_bytes(rid, cgi_params("GET", "/slow/m%d?t=1" % rid),
                                         keep_conn=True) for rid in range(1, n + 1)))
        res = c.read_all(list(range(1, n + 1)), timeout=t(15))
        elapsed = time.monotonic() - t0
    for r in res:
        check_clean_end(r)
        assert r.status == 200
        assert r.json()["path"] == "/slow/m%d" % r.rid
    starts = [r.json()["start"] for r in res]
    assert elapsed < t(2.5), "6 x 1 s on one connection took %.2f s (starts spread %.2f)" % (
        elapsed, max(starts) - min(starts))
    ends = [r.end_time for r in res]
    assert max(ends) - min(ends) < t(1.0), "answers did not finish together"


def test_overloaded_not_a_hang(fsrv_factory):
    """Over the worker + queue limits, the extra requests get FCGI_OVERLOADED at once;
    the others complete."""
    srv = fsrv_factory("--threads", "1", "--queue", "1")
    n = 5
    with open_fcgi(srv) as c:
        c.send(b"".join(fc.request_bytes(rid, cgi_params("GET", "/slow/o%d?t=0.5" % rid),
                                         keep_conn=True) for rid in range(1, n + 1)))
        res = c.read_all(list(range(1, n + 1)), timeout=t(10))
    done = [r for r in res if r.protocol_status == fc.REQUEST_COMPLETE and r.stdout]
    over = [r for r in res if r.protocol_status == fc.OVERLOADED]
    assert len(done) + len(over) == n, res
    assert len(done) >= 1 and len(over) >= 1, res
    for r in done:
        assert r.status == 200, r
    for r in over:
        assert r.stdout == b"", r


def test_many_ids_on_one_connection(fsrv):
    """70 ids at once on one connection: each is answered (served, or refused with
    FCGI_OVERLOADED past a per-connection cap), none hangs."""
    n = 70
    with open_fcgi(fsrv) as c:
        c.send(b"".join(fc.request_bytes(rid, cgi_params("GET", "/slow/x%d?t=0.01" % rid),
                                         keep_conn=True) for rid in range(1, n + 1)))
        res = c.read_all(list(range(1, n + 1)), timeout=t(20))
        for r in res:
            assert r.protocol_status in (fc.REQUEST_COMPLETE, fc.OVERLOADED), r
            if r.protocol_status == fc.REQUEST_COMPLETE:
                assert r.status == 200 and r.json()["path"] == "/slow/x%d" % r.rid, r
        served = sum(1 for r in res if r.protocol_status == fc.REQUEST_COMPLETE)
        assert served >= 8, res
        # and the connection is still good
        r = c.request(cgi_params("GET", "/probe/after-many"), rid=n + 1, keep_conn=True)
        check_clean_end(r)


# ---------------------------------------------------------------- R3: no body

SECRET = b"MUST-NOT-BE-SENT"
HEAD_BODY_LEN = str(len(b"body-for-head-" + SECRET))  # it_bad's /body


@pytest.mark.parametrize("method,path,status,cl", [
    ("HEAD", "/bad/body", 200, HEAD_BODY_LEN),
    ("HEAD", "/bad/body-nocl", 200, None),
    ("HEAD", "/probe/x", 200, "present"),
    ("GET", "/bad/204", 204, None),
    ("GET", "/bad/204-cl", 204, None),
    ("GET", "/bad/304", 304, None),
    ("GET", "/bad/304-cl", 304, "42"),
    ("GET", "/bad/205", 205, "0"),
    ("GET", "/bad/205-nocl", 205, "0"),
    ("HEAD", "/bad/205", 205, "0"),
])
def test_r3_no_body(fsrv, method, path, status, cl):
    """The same rule as over --http: the head with the app's Content-Length (none
    for 204, 0 for 205), no body bytes, and a clean end (empty STDOUT, END_REQUEST
    with app status 0: nothing is missing) on a connection that stays usable."""
    with open_fcgi(fsrv) as c:
        r = c.request(cgi_params(method, path), keep_conn=True)
        check_clean_end(r)
        assert r.status == status, r
        assert r.body == b"", r.stdout
        assert r.app_status == 0, r
        if cl == "present":
            assert r.header("Content-Length") not in (None, "0"), r.headers
        else:
            assert r.header("Content-Length") == cl, r.headers
        r2 = c.request(cgi_params("GET", "/probe/after"), rid=2, keep_conn=True)
        check_clean_end(r2)
        assert r2.status == 200 and SECRET not in r2.stdout, r2


# ---------------------------------------------------------------- F01-F28

def test_f01_version_2_closes_without_app_call(fsrv, tmp_path):
    mark = mark_path(tmp_path)
    req = fc.request_bytes(1, cgi_params("GET", "/slow/?mark=" + mark))
    bad = bytes([2]) + req[1:8] + req[8:]  # the first record's version byte
    with open_fcgi(fsrv) as c:
        c.try_send(bad)
        data = c.read_until_close(t(5))
    assert b"Status" not in data, data[:300]
    assert_app_not_called(fsrv, mark)
    # version 2 on a later record of the same request too
    req2 = bytearray(fc.request_bytes(1, cgi_params("GET", "/slow/?mark=" + mark)))
    begin_len = 16
    req2[begin_len] = 2  # the first PARAMS record
    with open_fcgi(fsrv) as c:
        c.try_send(bytes(req2))
        data = c.read_until_close(t(5))
    assert b"Status" not in data, data[:300]
    assert_app_not_called(fsrv, mark)
    assert_serving(fsrv)


@pytest.mark.parametrize("rtype", [12, 99, 255])
def test_f02_unknown_management_type(fsrv, rtype):
    with open_fcgi(fsrv) as c:
        c.send(fc.record(rtype, 0, b"whatever"))
        rec = c.read_management(timeout=t(3))
        assert rec.type == fc.UNKNOWN_TYPE, rec
        assert rec.clen == 8, rec
        assert rec.content[0] == rtype and rec.content[1:] == b"\0" * 7, rec.content
        # the connection stays usable
        r = c.request(cgi_params("GET", "/probe/after-unknown"), keep_conn=True)
        check_clean_end(r)
        assert r.json()["environ"]["PATH_INFO"] == "/probe/after-unknown"


def test_f04_get_values(fsrv):
    with open_fcgi(fsrv) as c:
        t0 = time.monotonic()
        c.send(fc.get_values())
        rec = c.read_management(timeout=t(2))
        assert time.monotonic() - t0 < t(1), "GET_VALUES not answered at once"
        assert rec.type == fc.GET_VALUES_RESULT, rec
        vals = fc.values_dict(rec)
        assert set(vals) == {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"}, vals
        assert vals["FCGI_MPXS_CONNS"] == "1", vals
        for k in ("FCGI_MAX_CONNS", "FCGI_MAX_REQS"):
            assert vals[k].isdigit() and int(vals[k]) >= 1, vals
        # one asked for at a time, and an unknown name ignored
        c.send(fc.get_values(["FCGI_MPXS_CONNS", "NO_SUCH_VARIABLE"]))
        vals = fc.values_dict(c.read_management(timeout=t(2)))
        assert vals == {"FCGI_MPXS_CONNS": "1"}, vals
        # still usable for a request
        r = c.request(cgi_params("GET", "/probe/gv"), keep_conn=True)
        check_clean_end(r)


def test_f05_get_values_repeated_names(fsrv):
    names = ["FCGI_MAX_CONNS"] * 1000 + ["FCGI_MPXS_CONNS"] * 1000 + ["FCGI_MAX_REQS"] * 1000
    with open_fcgi(fsrv) as c:
        c.send(fc.get_values(names))
        rec = c.read_management(timeout=t(2))
        assert rec.type == fc.GET_VALUES_RESULT, rec
        vals = fc.values_dict(rec)  # raises on a name answered twice
        assert set(vals) == {"FCGI_MAX_CONNS", "FCGI_MPXS_CONNS", "FCGI_MAX_REQS"}, vals
        assert rec.clen <= 128, rec
        r = c.request(cgi_params("GET", "/probe/gv2"), keep_conn=True)
        check_clean_end(r)


def _expect_refused(c, srv, mark=None, timeout=None):
    """The server closes the connection (records before the close are allowed, but
    no 200 response); the app was not called."""
    assert c.closed_within(t(5) if timeout is None else timeout), (
        "connection not closed", c.results, logs(srv, 3000))
    for r in c.results.values():
        assert not r.stdout or r.status != 200, r
    if mark:
        assert_app_not_called(srv, mark)


@pytest.mark.parametrize("where", ["name", "value"])
def test_f06_huge_pair_length_in_short_record(fsrv, tmp_path, where):
    mark = mark_path(tmp_path)
    good = fc.pairs(cgi_params("GET", "/slow/?mark=" + mark))
    if where == "name":
        bad = b"\xff\xff\xff\xff\x01" + b"ABC"
    else:
        bad = b"\x01\xff\xff\xff\xff" + b"A" + b"xyz"
    with open_fcgi(fsrv) as c:
        c.try_send(fc.begin(1) + fc.record(fc.PARAMS, 1, good + bad) + fc.record(fc.PARAMS, 1)
                   + fc.record(fc.STDIN, 1))
        _expect_refused(c, fsrv, mark)
    assert_serving(fsrv)


def test_f06_huge_length_then_silence_refused_at_once(fsrv, tmp_path):
    """The length alone is enough to refuse: no waiting for 2 GiB that never come."""
    with open_fcgi(fsrv) as c:
        c.send(fc.begin(1) + fc.record(fc.PARAMS, 1, b"\x80\x00\x00\x10\xff\xff\xff\xffab"))
        _expect_refused(c, fsrv, timeout=t(3))
    assert_serving(fsrv)


def test_f07_pair_longer_than_params_stream(fsrv, tmp_path):
    mark = mark_path(tmp_path)
    good = fc.pairs(cgi_params("GET", "/slow/?mark=" + mark))
    bad = bytes([5, 100]) + b"HELLOshort"
    with open_fcgi(fsrv) as c:
        c.try_send(fc.begin(1) + fc.record(fc.PARAMS, 1, good + bad) + fc.record(fc.PARAMS, 1)
                   + fc.record(fc.STDIN, 1))
        _expect_refused(c, fsrv, mark)
    assert_serving(fsrv)


@pytest.mark.parametrize("split", ["every-byte", "in-4-byte-length", "in-name", "in-value",
                                   "between-lengths"])
def test_f08_pair_split_across_params_records(fsrv, split):
    long_value = "v" * 300  # 4-byte value length
    items = cgi_params("GET", "/probe/split") + [("HTTP_X_LONG", long_value),
                                                   ("HTTP_X_SHORT", "s")]
    data = fc.pairs(items)
    idx = data.index(b"HTTP_X_LONG")
    start = idx - 5  # name length (1 byte) + value length (4 bytes) before the name
    cuts = {"in-4-byte-length": [start + 3], "in-name": [idx + 4],
            "in-value": [idx + 11 + 150], "between-lengths": [start + 1]}
    if split == "every-byte":
        recs = [fc.record(fc.PARAMS, 1, data[i:i + 1]) for i in range(len(data))]
    else:
        c0 = cuts[split][0]
        recs = [fc.record(fc.PARAMS, 1, data[:c0]), fc.record(fc.PARAMS, 1, data[c0:])]
    with open_fcgi(fsrv) as c:
        c.send(fc.begin(1) + b"".join(recs) + fc.record(fc.PARAMS, 1) + fc.record(fc.STDIN, 1))
        r = c.read_until_end(1)
    check_clean_end(r)
    env = r.json()["environ"]
    assert env["HTTP_X_LONG"] == long_value
    assert env["HTTP_X_SHORT"] == "s"
    assert env["PATH_INFO"] == "/probe/split"


@pytest.mark.parametrize("padding", [0, 1, 7, 8, 100, 255])
def test_f09_padding_skipped_exactly(fsrv, padding):
    body = b"0123456789" * 50
    p = fc.pairs(cgi_params("POST", "/echo/pad?mode=readn&n=100", body=body))
    data = (fc.record(fc.BEGIN_REQUEST, 1, fc.begin_body(flags=fc.KEEP_CONN), padding=padding,
                      pad_byte=b"\xff")
            + fc.record(fc.PARAMS, 1, p[:40], padding=padding, pad_byte=b"\x01")
            + fc.record(fc.PARAMS, 1, p[40:], padding=padding, pad_byte=b"\x01")
            + fc.record(fc.PARAMS, 1, b"", padding=padding, pad_byte=b"\x05")
            + fc.record(fc.STDIN, 1, body[:123], padding=padding, pad_byte=b"\x05")
            + fc.record(fc.STDIN, 1, body[123:], padding=padding, pad_byte=b"\x05")
            + fc.record(fc.STDIN, 1, b"", padding=padding, pad_byte=b"\x05"))
    with open_fcgi(fsrv) as c:
        c.send(data)
        r = c.read_until_end(1)
        check_clean_end(r)
        assert r.json()["body"] == body.decode()
        # the stream is still in step: a management record and another request
        c.send(fc.record(fc.GET_VALUES, 0, fc.pairs([("FCGI_MPXS_CONNS", "")]),
                         padding=padding, pad_byte=b"\x03"))
        assert fc.values_dict(c.read_management()) == {"FCGI_MPXS_CONNS": "1"}
        r = c.request(cgi_params("GET", "/probe/after-pad"), rid=2, keep_conn=True)
        check_clean_end(r)


def test_f10_second_begin_request_while_active(fsrv, tmp_path):
    with open_fcgi(fsrv) as c:
        c.send(fc.get_values(["FCGI_MPXS_CONNS"]))
        mpxs = fc.values_dict(c.read_management()).get("FCGI_MPXS_CONNS")
        first = mark_path(tmp_path, "first")
        c.send(fc.request_bytes(1, cgi_params("GET", "/slow/first?t=0.7&mark=" + first),
                                keep_conn=True))
        wait_mark(first)  # id 1 is in the app
        c.send(fc.request_bytes(2, cgi_params("GET", "/slow/second?t=0"), keep_conn=True))
        r2 = c.read_until_end(2, timeout=t(5))
        if mpxs == "1":
            # real multiplexing: the second is served, and before the first ends
            check_clean_end(r2)
            assert r2.json()["path"] == "/slow/second"
            assert not c.result(1).ended, "id 2 waited for id 1"
        else:
            assert r2.protocol_status == fc.CANT_MPX_CONN, r2
        r1 = c.read_until_end(1, timeout=t(5))
        check_clean_end(r1)
        assert r1.json()["path"] == "/slow/first"


def test_f11_records_for_inactive_ids_ignored(fsrv):
    with open_fcgi(fsrv) as c:
        c.send(fc.record(fc.STDIN, 7, b"stray body") + fc.record(fc.STDIN, 7)
               + fc.params(9, [("REQUEST_METHOD", "GET")]) + fc.abort(5)
               + fc.record(fc.DATA, 3, b"data"))
        r = c.request(cgi_params("GET", "/probe/after-stray"), rid=1, keep_conn=True)
        check_clean_end(r)
        # and records for an id that just ended
        c.send(fc.record(fc.STDIN, 1, b"late") + fc.abort(1))
        r = c.request(cgi_params("GET", "/probe/after-late"), rid=2, keep_conn=True)
        check_clean_end(r)
        assert set(c.results) == {1, 2}, c.results
        assert c.still_open(t(0.3))


@pytest.mark.parametrize("case", ["id0", "len7", "len9", "len0"])
def test_f12_bad_begin_request_closes(fsrv, tmp_path, case):
    mark = mark_path(tmp_path)
    params = fc.params(1, cgi_params("GET", "/slow/?mark=" + mark)) + fc.stdin(1, b"")
    if case == "id0":
        data = fc.begin(0) + fc.params(0, cgi_params("GET", "/slow/?mark=" + mark)) \
            + fc.stdin(0, b"")
    else:
        n = {"len7": 7, "len9": 9, "len0": 0}[case]
        body = (fc.begin_body() + b"\0\0")[:n]
        data = fc.record(fc.BEGIN_REQUEST, 1, body) + params
    with open_fcgi(fsrv) as c:
        c.try_send(data)
        _expect_refused(c, fsrv, mark)
    assert_serving(fsrv)


@pytest.mark.parametrize("role", [fc.AUTHORIZER, fc.FILTER, 99, 0])
def test_f14_unknown_role(fsrv, tmp_path, role):
    mark = mark_path(tmp_path)
    with open_fcgi(fsrv) as c:
        c.send(fc.begin(1, role=role, keep_conn=True)
               + fc.params(1, cgi_params("GET", "/slow/?mark=" + mark)) + fc.stdin(1, b"")
               + (fc.record(fc.DATA, 1) if role == fc.FILTER else b""))
        r = c.read_until_end(1, timeout=t(3))
        assert r.protocol_status == fc.UNKNOWN_ROLE, r
        assert r.stdout == b"", r
        # the connection (KEEP_CONN) is still usable
        r2 = c.request(cgi_params("GET", "/probe/after-role"), rid=2, keep_conn=True)
        check_clean_end(r2)
    assert_app_not_called(fsrv, mark)


def test_f15_abort_mid_body(fsrv, tmp_path):
    started, report = mark_path(tmp_path, "started"), mark_path(tmp_path, "report")
    items = cgi_params("POST", "/echo/ab?mode=readn&n=100&started=%s&report=%s"
                       % (started, report), body=b"x" * 100000)
    with open_fcgi(fsrv) as c:
        c.send(fc.begin(1, keep_conn=True) + fc.params(1, items)
               + fc.record(fc.STDIN, 1, b"x" * 1000))
        wait_for(lambda: os.path.exists(started), t(5), what="the app to start")
        t0 = time.monotonic()
        c.send(fc.abort(1))
        r = c.read_until_end(1, timeout=t(3))
        assert time.monotonic() - t0 < t(1.5), "END_REQUEST not prompt after ABORT_REQUEST"
        assert r.ended
        assert r.stdout == b"", ("STDOUT after ABORT_REQUEST", r)
        # wsgi.input raised in the app
        wait_for(lambda: os.path.exists(report) and os.path.getsize(report), t(5),
                 what="the app's report")
        with open(report) as f:
            assert "error" in json.load(f)
        # nothing more for id 1, and the kept connection works
        r2 = c.request(cgi_params("GET", "/probe/after-abort"), rid=2, keep_conn=True)
        check_clean_end(r2)
        assert c.still_open(t(0.3))
    assert_serving(fsrv)


def test_f15_abort_mid_response_runs_close(fsrv, tmp_path):
    started, closed = mark_path(tmp_path, "started"), mark_path(tmp_path, "closed")
    uri = "/closing/?n=200&size=1000&delay=0.05&started=%s&closed=%s" % (started, closed)
    with open_fcgi(fsrv) as c:
        c.send(fc.request_bytes(1, cgi_params("GET", uri), keep_conn=True))
        wait_for(lambda: os.path.exists(started), t(5), what="the app to start")
        # let some output flow
        deadline = time.monotonic() + t(5)
        while len(c.result(1).stdout) < 3000:
            c.read_record(deadline=deadline)
        t0 = time.monotonic()
        c.send(fc.abort(1))
        r = c.read_until_end(1, timeout=t(3))
        assert time.monotonic() - t0 < t(1.5), "END_REQUEST not prompt after ABORT_REQUEST"
        assert len(r.stdout) < 200 * 1000
        wait_for(lambda: os.path.exists(closed), t(5), what="the iterable's close()")
        # no STDOUT for id 1 after END_REQUEST (FcgiConn raises on that)
        r2 = c.request(cgi_params("GET", "/slow/after?t=0.3"), rid=2, keep_conn=True)
        check_clean_end(r2)


def test_f15_abort_while_queued_skips_the_app(fsrv, tmp_path):
    """Every thread busy with an app that sleeps until told, three more requests
    queued behind them on the same connection, then FCGI_ABORT_REQUEST for those
    three: once threads free up, each aborted one gets its END_REQUEST (app status 1,
    nothing on STDOUT) without its app ever running (no ?mark= file); the running
    ones answer 200; the connection and the server go on serving."""
    nthreads = int(metric(fsrv, "wsgate_worker_threads"))
    wait_idle(fsrv)  # earlier tests' requests are back: the threads are all free
    release = mark_path(tmp_path, "release")
    run_ids = list(range(1, nthreads + 1))
    queued_ids = list(range(nthreads + 1, nthreads + 4))
    marks = {rid: mark_path(tmp_path, "m%d" % rid) for rid in run_ids + queued_ids}
    with open_fcgi(fsrv) as c:
        c.send(b"".join(fc.request_bytes(rid, cgi_params(
            "GET", "/slow/run%d?t=%s&until=%s&mark=%s" % (rid, t(20), release, marks[rid])),
            keep_conn=True) for rid in run_ids))
        # every app runs before the others are queued and aborted: else a free thread
        # could take an aborted request before the abort arrives
        wait_for(lambda: all(os.path.exists(marks[rid]) for rid in run_ids), t(10),
                 what="an app running on every thread")
        c.send(b"".join(fc.request_bytes(rid, cgi_params(
            "GET", "/slow/queued%d?t=0&mark=%s" % (rid, marks[rid])), keep_conn=True)
            for rid in queued_ids))
        wait_metric(fsrv, "wsgate_queue_depth", len(queued_ids))
        # the loop reads records in order: once GET_VALUES is answered, the aborts
        # have been taken in, and only then may a thread free up
        c.send(b"".join(fc.abort(rid) for rid in queued_ids) + fc.get_values())
        c.read_management(timeout=t(5))
        open(release, "w").close()
        res = c.read_all(run_ids + queued_ids, timeout=t(20))
        for r in res[:nthreads]:
            check_clean_end(r)
            assert r.status == 200 and r.json()["path"] == "/slow/run%d" % r.rid, r
        for r in res[nthreads:]:
            assert r.ended and r.protocol_status == fc.REQUEST_COMPLETE, r
            assert (r.stdout, r.app_status) == (b"", 1), r
        # an aborted id is free again, and the kept connection still works
        c.results.pop(queued_ids[0])
        r = c.request(cgi_params("GET", "/probe/after-queued-abort"), rid=queued_ids[0],
                      keep_conn=True)
        check_clean_end(r)
        assert r.status == 200, r
    for rid in queued_ids:
        assert_app_not_called(fsrv, marks[rid])
    assert_serving(fsrv)


def test_f16_stdin_longer_than_content_length(fsrv):
    with open_fcgi(fsrv) as c:
        c.send(fc.begin(1, keep_conn=True)
               + fc.params(1, cgi_params("POST", "/echo/?mode=readn&n=3", body=b"hello"))
               + fc.stdin(1, b"hello world and more"))
        r = c.read_until_end(1)
        check_clean_end(r)
        o = r.json()
        assert (o["len"], o["body"]) == (5, "hello"), o
        r2 = c.request(cgi_params("GET", "/probe/after-long"), rid=2, keep_conn=True)
        check_clean_end(r2)


def test_f17_stdin_shorter_than_content_length(fsrv, tmp_path):
    report = mark_path(tmp_path, "report")
    with open_fcgi(fsrv) as c:
        items = cgi_params("POST", "/echo/?mode=readn&n=10&report=" + report, body=b"x" * 100)
        c.send(fc.begin(1, keep_conn=True) + fc.params(1, items) + fc.stdin(1, b"x" * 40))
        r = c.read_until_end(1, timeout=t(5))
        assert r.ended
        assert r.status != 200, r
    wait_for(lambda: os.path.exists(report) and os.path.getsize(report), t(5), what="report")
    with open(report) as f:
        assert "error" in json.load(f)
    assert_serving(fsrv)


@pytest.mark.parametrize("cl", ["empty", "absent"])
def test_f18_no_content_length_body_ends_at_empty_stdin(fsrv, cl):
    body = os.urandom(100000)
    items = cgi_params("POST", "/echo/?mode=readn&n=4096", content_length=False)
    if cl == "empty":
        items.append(("CONTENT_LENGTH", ""))
    with open_fcgi(fsrv) as c:
        c.send(fc.begin(1) + fc.params(1, items))
        for i in range(0, len(body), 10000):
            c.send(fc.record(fc.STDIN, 1, body[i:i + 10000]))
            time.sleep(0.005)
        c.send(fc.record(fc.STDIN, 1))
        r = c.read_until_end(1, timeout=t(10))
    check_clean_end(r)
    o = r.json()
    assert (o["len"], o["sha256"]) == (len(body), hashlib.sha256(body).hexdigest()), o


@pytest.mark.parametrize("value", ["-1", "+5", "0x10", " 5", "5 ", "1" * 20, "twice", "twice-diff",
                                   "5a", "\u0665"])
def test_f19_bad_content_length_400(fsrv, tmp_path, value):
    mark = mark_path(tmp_path)
    items = cgi_params("POST", "/slow/?mark=" + mark, content_length=False)
    if value == "twice":
        items += [("CONTENT_LENGTH", "5"), ("CONTENT_LENGTH", "5")]
    elif value == "twice-diff":
        items += [("CONTENT_LENGTH", "5"), ("CONTENT_LENGTH", "6")]
    else:
        items.append(("CONTENT_LENGTH", value.encode("utf-8")))
    with open_fcgi(fsrv) as c:
        c.try_send(fc.begin(1) + fc.params(1, items) + fc.stdin(1, b"hello"))
        r = c.read_until_end(1, timeout=t(5))
    assert r.stdout.startswith(b"Status: 400"), r.stdout[:200]
    assert r.ended, r
    assert_app_not_called(fsrv, mark)
    assert_serving(fsrv)


def test_f21_stdin_before_params_end(fsrv, tmp_path):
    mark = mark_path(tmp_path)
    with open_fcgi(fsrv) as c:
        c.try_send(fc.begin(1)
                   + fc.record(fc.PARAMS, 1, fc.pairs(cgi_params("POST", "/slow/?mark=" + mark,
                                                                 body=b"hello")))
                   + fc.record(fc.STDIN, 1, b"hello") + fc.record(fc.PARAMS, 1)
                   + fc.record(fc.STDIN, 1))
        _expect_refused(c, fsrv, mark)
    assert_serving(fsrv)


def test_f23_many_tiny_stdin_records(fsrv):
    n = 100000
    body = bytes(i % 251 for i in range(n))
    data = (fc.begin(1) + fc.params(1, cgi_params("POST", "/echo/?mode=readn&n=65536", body=body))
            + b"".join(fc.record(fc.STDIN, 1, body[i:i + 1]) for i in range(n))
            + fc.record(fc.STDIN, 1))
    with open_fcgi(fsrv) as c:
        t0 = time.monotonic()
        sender = threading.Thread(target=c.try_send, args=(data,))
        sender.start()
        r = c.read_until_end(1, timeout=t(20))
        sender.join(t(10))
        elapsed = time.monotonic() - t0
    check_clean_end(r)
    o = r.json()
    assert (o["len"], o["sha256"]) == (n, hashlib.sha256(body).hexdigest())
    assert elapsed < t(10), "100,000 one-byte records took %.1f s" % elapsed


@pytest.mark.parametrize("framing", ["content-length", "streamed"])
def test_f23_body_limit_applies(fsrv_factory, tmp_path, framing):
    srv = fsrv_factory("--max-body", "50000")
    report = mark_path(tmp_path, "report")
    n = 100000
    items = cgi_params("POST", "/echo/?mode=readn&n=1000&report=" + report,
                       content_length=False)
    items.append(("CONTENT_LENGTH", str(n) if framing == "content-length" else ""))
    data = (fc.begin(1) + fc.params(1, items)
            + b"".join(fc.record(fc.STDIN, 1, b"z") for i in range(n)) + fc.record(fc.STDIN, 1))
    with open_fcgi(srv) as c:
        sender = threading.Thread(target=c.try_send, args=(data,))
        sender.start()
        try:
            r = c.read_until_end(1, timeout=t(15))
        except NoResponse:
            r = None  # closed without an answer: acceptable only when streaming
        sender.join(t(10))
    if framing == "content-length":
        assert r is not None and r.stdout.startswith(b"Status: 413"), r
    else:
        assert r is None or r.status in (413, 500), r
        if os.path.exists(report) and os.path.getsize(report):
            with open(report) as f:
                assert "error" in json.load(f)
    assert_serving(srv)


def test_f24_crlf_in_param_is_data_only(fsrv):
    evil = "a\r\nSet-Cookie: x=1\r\nX-Injected: 1"
    r = fcgi_get(fsrv, "/probe/crlf", extra=[("HTTP_X_FOO", evil), ("HTTP_X_NUL", "a\0b"),
                                        ("HTTP_X_LF", "a\nb")])
    check_clean_end(r)
    assert r.status == 200
    names = [k.lower() for k, v in r.headers]
    assert "set-cookie" not in names and "x-injected" not in names, r.headers
    env = r.json()["environ"]
    assert env["HTTP_X_FOO"] == evil
    assert env["HTTP_X_LF"] == "a\nb"


@pytest.mark.parametrize("stage", ["after-begin", "mid-params", "mid-record", "no-stdin-end"])
def test_f26_silence_closed_at_read_timeout(fsrv_factory, stage):
    srv = fsrv_factory("--read-timeout", "1")
    p = fc.pairs(cgi_params("POST", "/probe/x?read=1", body=b"hello"))
    data = {"after-begin": fc.begin(1),
            "mid-params": fc.begin(1) + fc.record(fc.PARAMS, 1, p[:30]),
            "mid-record": fc.begin(1) + fc.header(fc.PARAMS, 1, 100) + b"partial",
            "no-stdin-end": fc.begin(1) + fc.record(fc.PARAMS, 1, p) + fc.record(fc.PARAMS, 1)
            + fc.record(fc.STDIN, 1, b"he")}[stage]
    with open_fcgi(srv) as c:
        c.send(data)
        t0 = time.monotonic()
        assert c.closed_within(t(6)), "not closed at the read timeout"
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.8, "closed after %.2f s, before the 1 s read timeout" % elapsed
    assert_serving(srv)


@pytest.mark.parametrize("keep", [False, True])
def test_f27_100kb_chunk_split_into_records(fsrv, keep):
    with open_fcgi(fsrv) as c:
        r = c.request(cgi_params("GET", "/stream/?n=1&size=100000"), keep_conn=keep)
        check_clean_end(r)
        assert r.status == 200
        assert r.body == b"a" * 100000
        assert sum(r.stdout_records) == len(r.stdout)
        assert max(r.stdout_records) <= 65535
        if keep:
            assert c.still_open(t(0.5))
            r2 = c.request(cgi_params("GET", "/stream/?n=3&size=70000"), rid=2, keep_conn=True)
            check_clean_end(r2)
            assert r2.body == b"a" * 70000 + b"b" * 70000 + b"c" * 70000
        else:
            assert c.closed_within(t(3))


@pytest.mark.parametrize("shape", ["one-huge-pair", "many-pairs"])
def test_f28_params_cap(fsrv, tmp_path, shape):
    mark = mark_path(tmp_path)
    items = cgi_params("GET", "/slow/?mark=" + mark)
    if shape == "one-huge-pair":
        items.append(("HTTP_X_BIG", "b" * (1 << 20)))
    else:
        items += [("HTTP_X_%05d" % i, "v" * 1000) for i in range(1050)]
    with open_fcgi(fsrv) as c:
        t0 = time.monotonic()
        c.try_send(fc.begin(1) + fc.params(1, items) + fc.stdin(1, b""))
        deadline = time.monotonic() + t(5)
        try:
            while not c.result(1).ended and c.read_record(deadline=deadline) is not None:
                pass
        except NoResponse:
            raise AssertionError("no refusal of 1 MiB of PARAMS: %r\n%s"
                                 % (c.results, logs(fsrv, 3000)))
        r = c.result(1)
        assert not (r.stdout and r.status == 200), r
        if r.stdout:
            assert 400 <= r.status < 500, r
        assert time.monotonic() - t0 < t(5)
    assert_app_not_called(fsrv, mark)
    assert_serving(fsrv)


# ---------------------------------------------------------------- idle kept connections

def test_idle_kept_connection_closed_by_keep_alive_silently(fsrv_factory):
    """An FCGI_KEEP_CONN connection idle between requests (nginx, Apache and HAProxy
    keep them pooled) is closed by --keep-alive without a log line, like an HTTP one
    (issue 11, item 5); a connection holding a partial record still gets --read-timeout
    and its info line, which on a unix socket names the peer process."""
    srv = fsrv_factory("--keep-alive", "1", "--read-timeout", "3", unix=True)
    with open_fcgi(srv) as idle, open_fcgi(srv) as partial:
        r = idle.request(cgi_params("GET", "/probe/ka"), keep_conn=True)
        check_clean_end(r)
        t0 = time.monotonic()
        partial.send(fc.begin(1) + fc.header(fc.PARAMS, 1, 100) + b"partial")
        assert idle.closed_within(t(2.5)), "idle kept connection not closed by --keep-alive"
        assert time.monotonic() - t0 >= 0.8, "closed before --keep-alive 1"
        assert partial.closed_within(t(6)), "partial record not closed at --read-timeout"
        assert time.monotonic() - t0 >= 2.8, "partial record closed before --read-timeout 3"
    lines = [ln for ln in srv.error_text().splitlines() if "not complete within" in ln]
    assert len(lines) == 1, lines  # the partial one only
    assert "pid=%d," % os.getpid() in lines[0], lines


# ---------------------------------------------------------------- the front server half-closes

@pytest.mark.parametrize("keep", [False, True])
def test_half_close_after_complete_request_is_answered(fsrv, keep):
    """A front server that shuts its write side once the request is complete (after
    the empty STDIN record) still reads: the response and END_REQUEST come, then the
    close (issue 11; uWSGI and libfcgi answer it too)."""
    with open_fcgi(fsrv) as c:
        c.send(fc.request_bytes(1, cgi_params("GET", "/slow/hc?t=0.3"), keep_conn=keep))
        c.shut_wr()
        r = c.read_until_end(1, timeout=t(5))
        check_clean_end(r)
        assert r.status == 200 and r.json()["path"] == "/slow/hc", (r, logs(fsrv, 3000))
        assert c.closed_within(t(3)), "not closed after the last answer"


def test_half_close_mid_body_aborts_only_that_request(fsrv, tmp_path):
    """Three requests on one connection, then EOF: the two whose STDIN had ended are
    answered; the one whose body was cut still fails (wsgi.input raises) and gets no
    200; then the connection is closed."""
    started, report = mark_path(tmp_path, "started"), mark_path(tmp_path, "report")
    cut = cgi_params("POST", "/echo/cut?mode=readn&n=100&started=%s&report=%s"
                     % (started, report), body=b"x" * 100000)
    with open_fcgi(fsrv) as c:
        c.send(fc.request_bytes(1, cgi_params("GET", "/slow/one?t=0.5"), keep_conn=True)
               + fc.request_bytes(2, cgi_params("POST", "/echo/two?mode=readn&n=2",
                                                body=b"hello"), body=b"hello", keep_conn=True)
               + fc.begin(3, keep_conn=True) + fc.params(3, cut)
               + fc.record(fc.STDIN, 3, b"x" * 1000))
        wait_for(lambda: os.path.exists(started), t(5), what="the app to start")
        c.shut_wr()
        r1, r2 = c.read_all([1, 2], timeout=t(5))
        for r in (r1, r2):
            check_clean_end(r)
            assert r.status == 200, (r, logs(fsrv, 3000))
        assert r1.json()["path"] == "/slow/one"
        assert r2.json()["body"] == "hello"
        assert c.closed_within(t(5)), "not closed after the answers"
        r3 = c.results.get(3)
        assert r3 is None or not r3.stdout or r3.status != 200, r3
    wait_for(lambda: os.path.exists(report) and os.path.getsize(report), t(5),
             what="the app's report")
    with open(report) as f:
        assert "error" in json.load(f)
    assert_serving(fsrv)


def test_bad_record_closes_only_its_connection(fsrv):
    """A request in flight on another connection carries on while a bad record closes
    its own connection."""
    with open_fcgi(fsrv) as good:
        good.send(fc.request_bytes(1, cgi_params("GET", "/slow/inflight?t=0.5")))
        with open_fcgi(fsrv) as bad:
            bad.try_send(b"\x02" + b"\0" * 15)
            assert bad.closed_within(t(3))
        r = good.read_until_end(1, timeout=t(5))
        check_clean_end(r)
        assert r.json()["path"] == "/slow/inflight"


def test_record_header_byte_by_byte(fsrv):
    """A whole request dribbled one byte per write (records cut anywhere)."""
    body = b"dribble"
    data = fc.request_bytes(1, cgi_params("POST", "/echo/?mode=readn&n=2", body=body), body=body)
    with open_fcgi(fsrv) as c:
        c.send_pieces(data, size=1)
        r = c.read_until_end(1)
    check_clean_end(r)
    assert r.json()["body"] == "dribble"


def test_end_request_app_status_and_stderr(fsrv):
    r = fcgi_get(fsrv, "/stderr/?msg=rawmark")
    check_clean_end(r)
    assert r.body == b"logged"
    assert r.app_status == 0
    # without --fastcgi-stderr wsgi.errors goes to wsgate's error log only
    assert [rec for rec in r.records if rec.type == fc.STDERR] == [], r.records
    wait_for(lambda: "fcgi_mux stderr rawmark" in fsrv.error_text(), t(5), what="the log line")


# ---------------------------------------------------------------- --fastcgi-stderr

@pytest.fixture(scope="module")
def fsrv_stderr(wsgate_module):
    """wsgate (fcgi_mux) with --fastcgi-stderr, and --timeout for the 504 case."""
    require_fastcgi()
    return start_fcgi_wsgate(wsgate_module, "fcgi_mux", "--fastcgi-stderr", "--timeout", "1")


def stderr_records(r):
    return [rec for rec in r.records if rec.type == fc.STDERR]


def test_fastcgi_stderr_records(fsrv_stderr):
    """wsgi.errors lines go out as FCGI_STDERR records of their request, before its
    END_REQUEST (FcgiConn refuses any record after it), in records of at most 65535
    bytes; and still to wsgate's error log."""
    with open_fcgi(fsrv_stderr) as c:
        r = c.request(cgi_params("GET", "/stderr/?msg=rawmark"), rid=1, keep_conn=True)
        check_clean_end(r)
        assert r.body == b"logged"
        assert r.stderr == b"fcgi_mux stderr rawmark\n", r
        assert stderr_records(r) and r.records.index(stderr_records(r)[-1]) < len(r.records) - 1
        # one record per line, as PHP-FPM sends them (Apache and HAProxy log records)
        r = c.request(cgi_params("GET", "/stderr/?msg=two%0Alines"), rid=3, keep_conn=True)
        check_clean_end(r)
        assert [rec.content for rec in stderr_records(r)] == [b"fcgi_mux stderr two\n",
                                                              b"lines\n"], r.records
        n = 150000
        r = c.request(cgi_params("GET", "/stderr/?msg=y&repeat=%d" % n), rid=2, keep_conn=True)
        check_clean_end(r)
        assert r.stderr == b"fcgi_mux stderr " + b"y" * n + b"\n", len(r.stderr)
        sizes = [rec.clen for rec in stderr_records(r)]
        assert len(sizes) >= 3 and max(sizes) <= 65535 and min(sizes) > 0, sizes
        # padded to 8 with 1..8 bytes, at most 8 KiB each: what keeps Debian 12's
        # HAProxy 2.6.12 from crashing on them (protocols/fastcgi.c, fcgi_send_stderr)
        for rec in stderr_records(r):
            assert rec.clen <= 8192 and 1 <= rec.padding <= 8, rec
            assert (rec.clen + rec.padding) % 8 == 0, rec
    wait_for(lambda: "fcgi_mux stderr rawmark" in fsrv_stderr.error_text(), t(5),
             what="the line in wsgate's error log")


def test_fastcgi_stderr_never_after_the_request_ended(fsrv_stderr):
    """A thread of the app that writes wsgi.errors after the response, and an app
    that writes it after --timeout's 504 ended the request: those lines reach wsgate's
    error log only, no STDERR record follows END_REQUEST on the kept connection."""
    with open_fcgi(fsrv_stderr) as c:
        r = c.request(cgi_params("GET", "/stderr/?msg=m1&after=0.2"), rid=1, keep_conn=True)
        check_clean_end(r)
        assert r.stderr == b"fcgi_mux stderr m1\n", r
        r = c.request(cgi_params("GET", "/stderr/?msg=m2&sleep=3"), rid=2, keep_conn=True)
        assert r.status == 504 and r.ended, r
        assert r.stderr == b"fcgi_mux stderr m2\n", r
        wait_for(lambda: "fcgi_mux late m1" in fsrv_stderr.error_text(), t(5),
                 what="the late line in the log")
        wait_for(lambda: "fcgi_mux interrupted m2" in fsrv_stderr.error_text(), t(5),
                 what="the interrupted app's line in the log")
        assert c.still_open(t(0.3)), "connection closed"  # raises on any record
        r = c.request(cgi_params("GET", "/stderr/?msg=m3"), rid=3, keep_conn=True)
        assert r.stderr == b"fcgi_mux stderr m3\n", r
    assert set(c.results) == {1, 2, 3}


def test_advertised_max_reqs_fit_on_one_connection(fsrv):
    """HAProxy opens up to FCGI_MAX_REQS streams on one connection: that many at once
    must all be served, none refused with FCGI_OVERLOADED."""
    with open_fcgi(fsrv) as c:
        c.send(fc.get_values(["FCGI_MAX_REQS"]))
        n = int(fc.values_dict(c.read_management(timeout=t(2)))["FCGI_MAX_REQS"])
        assert 1 <= n <= 1024, n
        c.send(b"".join(fc.request_bytes(rid, cgi_params("GET", "/slow/m%d?t=0.01" % rid),
                                         keep_conn=True) for rid in range(1, n + 1)))
        res = c.read_all(list(range(1, n + 1)), timeout=t(30))
    assert all(r.protocol_status == fc.REQUEST_COMPLETE and r.status == 200 for r in res), [
        r for r in res if r.protocol_status != fc.REQUEST_COMPLETE or r.status != 200][:3]
