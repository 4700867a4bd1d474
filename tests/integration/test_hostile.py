"""Every HTTP row of docs/hostile-inputs.md as raw bytes over a socket: the status
code, Connection: close and the close, and — through the it_count app, which
records every call — that a refused request never ran and that nothing after a
framing error (the SMUGGLED request appended to every case) was ever parsed.

Each case is sent whole, and again one byte per write (the verdict must not
depend on the read split).
"""
import json

import pytest

from wsgate_util import NoResponse, app_log, chunked, req, t

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
POST = b"POST /h HTTP/1.1\r\nHost: t\r\n"
GET = b"GET /h HTTP/1.1\r\nHost: t\r\n"
HELLO = b"5\r\nhello\r\n0\r\n\r\n"

R400 = {400}
R400_501 = {400, 501}
R400_505 = {400, 505}


def te_body(body):
    return POST + b"Transfer-Encoding: chunked\r\n\r\n" + body


CASES = [
    # H01 Content-Length and Transfer-Encoding together
    ("H01-cl-then-te", POST + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", R400, "head"),
    ("H01-te-then-cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n"
     b"0\r\n\r\n", R400, "head"),
    # H03 repeated Content-Length
    ("H03-two-different", POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     R400, "head"),
    ("H03-two-equal", POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", R400,
     "head"),
    ("H03-list", POST + b"Content-Length: 5, 5\r\n\r\nhello", R400, "head"),
    # H05 malformed Content-Length
    ("H05-plus", POST + b"Content-Length: +5\r\n\r\nhello", R400, "head"),
    ("H05-minus", POST + b"Content-Length: -1\r\n\r\nhello", R400, "head"),
    ("H05-hex", POST + b"Content-Length: 0x5\r\n\r\nhello", R400, "head"),
    ("H05-underscore", POST + b"Content-Length: 1_0\r\n\r\nhellohello", R400, "head"),
    ("H05-space", POST + b"Content-Length: 1 0\r\n\r\nhellohello", R400, "head"),
    ("H05-empty", POST + b"Content-Length: \r\n\r\nhello", R400, "head"),
    ("H05-20-digits", POST + b"Content-Length: 99999999999999999999\r\n\r\nhello", R400,
     "head"),
    ("H05-letters", POST + b"Content-Length: five\r\n\r\nhello", R400, "head"),
    # H08 space before the colon
    ("H08-space-before-colon", POST + b"Content-Length : 5\r\n\r\nhello", R400, "head"),
    ("H08-te-space-before-colon", POST + b"Transfer-Encoding : chunked\r\n\r\n" + HELLO, R400,
     "head"),
    # H09 unsupported codings: never framed by Content-Length instead. Chunked last
    # after another coding: 501 (a coding we do not decode, RFC 9112 6.1); chunked
    # not last: 400, the length cannot be determined (RFC 9112 6.3).
    ("H09-gzip-chunked", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + HELLO,
     {501}, "head"),
    ("H09-blegh", POST + b"Transfer-Encoding: blegh\r\nContent-Length: 5\r\n\r\nhello",
     R400, "head"),
    ("H09-blegh-alone", POST + b"Transfer-Encoding: blegh\r\n\r\nhello", R400, "head"),
    ("H09-chunked-identity", POST + b"Transfer-Encoding: chunked, identity\r\n\r\n" + HELLO,
     R400, "head"),
    ("H09-identity", POST + b"Transfer-Encoding: identity\r\n\r\nhello", R400, "head"),
    ("H09-gzip-only", POST + b"Transfer-Encoding: gzip\r\n\r\nhello", R400, "head"),
    # H12 Transfer-Encoding repeated or empty
    ("H12-te-twice", POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
     + HELLO, R400, "head"),
    ("H12-chunked-chunked", POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n" + HELLO,
     R400, "head"),
    ("H12-empty-te", POST + b"Transfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello", R400,
     "head"),
    # H14 whitespace look-alikes and folding in Transfer-Encoding
    ("H14-nbsp", POST + b"Transfer-Encoding: \xa0chunked\r\n\r\n" + HELLO, R400_501, "head"),
    ("H14-vtab", POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n" + HELLO, R400, "head"),
    ("H14-folded", POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n" + HELLO, R400, "head"),
    ("H14-folded-after", POST + b"Transfer-Encoding: gzip\r\n , chunked\r\n\r\n" + HELLO,
     R400, "head"),
    # H16 chunked on HTTP/1.0
    ("H16-chunked-http10", b"POST /h HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + HELLO,
     R400, "head"),
    # H17 malformed chunk sizes
    ("H17-0x", te_body(b"0x5\r\nhello\r\n0\r\n\r\n"), R400, "body"),
    ("H17-plus", te_body(b"+5\r\nhello\r\n0\r\n\r\n"), R400, "body"),
    ("H17-minus", te_body(b"-5\r\nhello\r\n0\r\n\r\n"), R400, "body"),
    ("H17-underscore", te_body(b"0_2e\r\n" + b"x" * 46 + b"\r\n0\r\n\r\n"), R400, "body"),
    ("H17-empty", te_body(b"\r\nhello\r\n0\r\n\r\n"), R400, "body"),
    ("H17-trailing-space", te_body(b"5 \r\nhello\r\n0\r\n\r\n"), R400, "body"),
    ("H17-17-hex-digits", te_body(b"10000000000000005\r\nhello\r\n0\r\n\r\n"), R400, "body"),
    ("H17-g", te_body(b"5g\r\nhello\r\n0\r\n\r\n"), R400, "body"),
    # H20 bare LF
    ("H20-bare-lf-head", b"GET /h HTTP/1.1\nHost: t\n\n", R400, "head"),
    ("H20-bare-lf-one-header", b"GET /h HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n", R400, "head"),
    ("H20-bare-lf-end", b"GET /h HTTP/1.1\r\nHost: t\r\n\n", R400, "head"),
    ("H20-bare-lf-chunk-size", te_body(b"5\nhello\r\n0\r\n\r\n"), R400, "body"),
    ("H20-bare-lf-after-data", te_body(b"5\r\nhello\n0\r\n\r\n"), R400, "body"),
    # H21 bare CR
    ("H21-bare-cr-chunk", te_body(b"5\r\r;ABCD\r\nhello\r\n0\r\n\r\n"), R400, "body"),
    ("H21-bare-cr-header", POST + b"X-Abc: \rxTransfer-Encoding: chunked\r\n\r\n" + HELLO,
     R400, "head"),
    ("H21-cr-x-end", GET + b"\rX", R400, "head"),
    ("H21-bare-cr-request-line", b"GET /h HTTP/1.1\rHost: t\r\n\r\n", R400, "head"),
    # H23 chunk data not followed by CRLF
    ("H23-no-crlf", te_body(b"5\r\nhelloXX0\r\n\r\n"), R400, "body"),
    ("H23-short-chunk", te_body(b"5\r\nhell\r\n0\r\n\r\n"), R400, "body"),
    # H24 chunk extensions over 16 KiB
    ("H24-one-big-ext", te_body(b"5;" + b"a" * 17000 + b"\r\nhello\r\n0\r\n\r\n"),
     {400, 413}, "body"),
    ("H24-many-exts", te_body(b"".join(b"1;e=" + b"v" * 1024 + b"\r\nx\r\n" for _ in range(20))
                              + b"0\r\n\r\n"), {400, 413}, "body"),
    # H31 obs-fold
    ("H31-obs-fold", GET + b"Long: one\r\n two\r\n\r\n", R400, "head"),
    ("H31-obs-fold-tab", GET + b"Long: one\r\n\ttwo\r\n\r\n", R400, "head"),
    ("H31-space-before-first-header", b"GET /h HTTP/1.1\r\n Host: t\r\n\r\n", R400, "head"),
    # H33 malformed field lines
    ("H33-empty-name", GET + b": value\r\n\r\n", R400, "head"),
    ("H33-name-with-space", GET + b"X Y: z\r\n\r\n", R400, "head"),
    ("H33-no-colon", POST + b"Content-Length 10\r\n\r\n0123456789", R400, "head"),
    ("H33-tab-before-colon", GET + b"X-A\t: b\r\n\r\n", R400, "head"),
    ("H33-name-nonascii", GET + b"X-\xe9: b\r\n\r\n", R400, "head"),
    ("H33-name-separator", GET + b"X(A): b\r\n\r\n", R400, "head"),
    # H34 NUL/CTL/DEL in values
    ("H34-nul", GET + b"X-A: a\x00b\r\n\r\n", R400, "head"),
    ("H34-ctl", GET + b"X-A: a\x01b\r\n\r\n", R400, "head"),
    ("H34-esc", GET + b"X-A: a\x1bb\r\n\r\n", R400, "head"),
    ("H34-del", GET + b"X-A: a\x7fb\r\n\r\n", R400, "head"),
    # H37 Host
    ("H37-no-host", b"GET /h HTTP/1.1\r\nX-A: b\r\n\r\n", R400, "head"),
    ("H37-two-hosts", GET + b"Host: u\r\n\r\n", R400, "head"),
    ("H37-host-with-space", b"GET /h HTTP/1.1\r\nHost: a b\r\n\r\n", R400, "head"),
    # H38 versions
    ("H38-http2", b"GET /h HTTP/2.0\r\nHost: t\r\n\r\n", R400_505, "head"),
    ("H38-http09", b"GET /h HTTP/0.9\r\nHost: t\r\n\r\n", R400_505, "head"),
    ("H38-no-version", b"GET /h\r\nHost: t\r\n\r\n", R400_505, "head"),
    ("H38-http1-32", b"GET /h HTTP/1.32\r\nHost: t\r\n\r\n", R400_505, "head"),
    ("H38-lowercase", b"GET /h http/1.1\r\nHost: t\r\n\r\n", R400_505, "head"),
    ("H38-trailing-space", b"GET /h HTTP/1.1 \r\nHost: t\r\n\r\n", R400_505, "head"),
    ("H38-http1", b"GET /h HTTP/1\r\nHost: t\r\n\r\n", R400_505, "head"),
    # H39 methods
    ("H39-malformed", b"G(T /h HTTP/1.1\r\nHost: t\r\n\r\n", R400_501, "head"),
    ("H39-ctl", b"GE\x01T /h HTTP/1.1\r\nHost: t\r\n\r\n", R400_501, "head"),
    ("H39-empty", b" /h HTTP/1.1\r\nHost: t\r\n\r\n", R400_501, "head"),
    ("H39-two-spaces", b"GET  /h HTTP/1.1\r\nHost: t\r\n\r\n", R400, "head"),
    ("H39-unknown", b"XYZZY /h HTTP/1.1\r\nHost: t\r\n\r\n", R400_501, "head"),
    # H40 targets
    ("H40-star", b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", R400, "head"),
    ("H40-bad-absolute", b"GET http://[::1/p HTTP/1.1\r\nHost: t\r\n\r\n", R400, "head"),
    ("H40-relative", b"GET h/p HTTP/1.1\r\nHost: t\r\n\r\n", R400, "head"),
    # userinfo in an absolute-form target: refused, as nginx does (RFC 9110 4.2.4)
    ("H40-absolute-userinfo", b"GET http://u@h/p HTTP/1.1\r\nHost: t\r\n\r\n", R400, "head"),
    ("H40-absolute-user-pass", b"GET http://u:p@h:81/ HTTP/1.1\r\nHost: t\r\n\r\n", R400,
     "head"),
    ("H40-absolute-empty-authority", b"GET http:///x HTTP/1.1\r\nHost: t\r\n\r\n", R400,
     "head"),
    ("H40-ctl-in-target", b"GET /a\x01b HTTP/1.1\r\nHost: t\r\n\r\n", R400, "head"),
    ("H40-del-in-target", b"GET /a\x7fb HTTP/1.1\r\nHost: t\r\n\r\n", R400, "head"),
    ("H40-tab-in-target", b"GET /a\tb HTTP/1.1\r\nHost: t\r\n\r\n", R400, "head"),
    # H41 CONNECT (the HTTP/2 preface opens HTTP/2, h2c being on by default: with
    # --no-h2c it is refused, test_h2.py::test_switched_off)
    ("H41-connect", b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", {405, 501}, "head"),
]


@pytest.fixture(scope="module")
def count_srv(wsgate_module):
    return wsgate_module("it_count")


def run_case(srv, raw, statuses, kind, split):
    before = len(app_log(srv))
    c = srv.conn()
    try:
        if split:
            c.send_pieces(raw + SMUGGLED, size=1, stop_on_reply=True)
        else:
            c.try_send(raw + SMUGGLED)
        try:
            r = c.read_response(timeout=t(10))
        except NoResponse as e:
            pytest.fail("no answer (%s); the server should refuse with %s" % (e, statuses))
        assert r.status in statuses, "answered %r, expected %s" % (r, sorted(statuses))
        assert r.has_token("Connection", "close"), "no Connection: close in %r" % r.headers
        try:
            rest = c.read_until_close(t(10))
        except NoResponse:
            pytest.fail("connection left open after a %d" % r.status)
        assert rest == b"", "more bytes after the error answer: %r" % rest[:300]
    finally:
        c.close()
    calls = app_log(srv)[before:]
    paths = [x["path"] for x in calls]
    assert "/smuggled" not in paths, "bytes after a framing error ran as a request"
    if kind == "head":
        assert calls == [], "the app ran for a refused request: %r" % calls
    else:
        assert len(calls) <= 1, calls
        for x in calls:
            assert x["error"] is not None, "the app saw a complete body: %r" % x


@pytest.mark.parametrize("case_id,raw,statuses,kind", CASES, ids=[c[0] for c in CASES])
def test_hostile(count_srv, case_id, raw, statuses, kind):
    run_case(count_srv, raw, statuses, kind, split=False)


@pytest.mark.parametrize("case_id,raw,statuses,kind", CASES, ids=[c[0] for c in CASES])
def test_hostile_byte_by_byte(count_srv, case_id, raw, statuses, kind):
    run_case(count_srv, raw, statuses, kind, split=True)


def test_server_still_healthy_after_table(count_srv):
    r = count_srv.exchange(req("GET", "/healthy"))
    assert r.status == 200 and r.body == b"called GET /healthy\n"


# ---- rows with an answer other than "refuse" -----------------------------------------

@pytest.mark.parametrize("name", ["Content-Length", "Transfer-Encoding", "Host"])
def test_h25_forbidden_trailers_never_in_environ(wsgate, name):
    srv = wsgate("it_probe")
    body = chunked(b"hello", trailers=[name.encode() + b": 999", b"X-Evil: 1"])
    c = srv.conn()
    try:
        c.send(req("POST", "/?read=1", [("Transfer-Encoding", "chunked")], body))
        r = c.read_response()
    finally:
        c.close()
    if r.status == 400:
        return
    assert r.status == 200, r
    d = json.loads(r.body)
    env = d["environ"]
    assert d["body_len"] == 5
    assert env.get("CONTENT_LENGTH", "") in ("", None)
    assert env.get("HTTP_HOST") == "t"
    assert "HTTP_TRANSFER_ENCODING" not in env or env["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert "999" not in json.dumps(env)
    assert "HTTP_X_EVIL" not in env


@pytest.mark.parametrize("header", [b"X_Forwarded_For: 6.6.6.6", b"Content_Length: 5"])
def test_h36_underscore_headers(wsgate, header):
    srv = wsgate("it_probe")
    r = srv.exchange(b"GET / HTTP/1.1\r\nHost: t\r\n" + header + b"\r\n\r\n")
    if r.status == 400:
        return
    assert r.status == 200, r
    env = json.loads(r.body)["environ"]
    assert "HTTP_X_FORWARDED_FOR" not in env
    assert env.get("CONTENT_LENGTH", "") in ("", "0")


def test_h34_obs_text_accepted(count_srv):
    r = count_srv.exchange(GET + b"X-Name: caf\xc3\xa9\r\n\r\n")
    assert r.status == 200, r


@pytest.mark.parametrize("upgrade", [b"websocket"])
def test_h41_upgrade_ignored(count_srv, upgrade):
    """Upgrade: websocket is ignored. (Upgrade: h2c is taken, h2c being on by default:
    test_h2.py::test_upgrade_h2c; ignored with --no-h2c: ::test_switched_off.)"""
    before = len(app_log(count_srv))
    c = count_srv.conn()
    try:
        c.send(b"GET /up HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: " + upgrade + b"\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200, r
    assert r.body == b"called GET /up\n"
    assert r.header("Upgrade") is None
    assert [x["path"] for x in app_log(count_srv)[before:]] == ["/up"]


def test_options_star_or_refused(count_srv):
    # OPTIONS * is valid HTTP (asterisk-form); either served or refused, never
    # anything else, and never with PATH_INFO "*" confusion leading to a crash.
    r = count_srv.exchange(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
    assert r.status in (200, 400, 501), r
