"""Size limits (H07, H42): 414 for the request-target, 431 for the header block
and the field count, 413 for the body, at the defaults and with the options set
small; counted across any read split (sent in many small pieces)."""
import time

import pytest

from wsgate_util import NoResponse, app_log, chunked, req, t


def head_of_size(total, target="/", extra_name=b"X-Pad"):
    """A GET whose header block (request line through the final CRLF CRLF) is
    exactly `total` bytes."""
    base = b"GET " + target.encode() + b" HTTP/1.1\r\nHost: t\r\n"
    fixed = len(base) + len(extra_name) + 2 + 2 + 2  # ": ", CRLF, final CRLF
    pad = total - fixed
    assert pad >= 0
    return base + extra_name + b": " + b"a" * pad + b"\r\n\r\n"


def refused(srv, data, status, pieces=None, delay=0.0):
    c = srv.conn()
    try:
        if pieces:
            c.send_pieces(data, size=pieces, delay=delay, stop_on_reply=True)
        else:
            c.try_send(data)
        try:
            r = c.read_response(timeout=t(10))
        except NoResponse as e:
            pytest.fail("no %d answer: %s" % (status, e))
        assert r.status == status, r
        assert r.has_token("Connection", "close"), r.headers
        try:
            c.read_until_close(t(10))
        except NoResponse:
            pytest.fail("not closed after %d" % status)
    finally:
        c.close()


def accepted(srv, data, pieces=None):
    c = srv.conn()
    try:
        if pieces:
            c.send_pieces(data, size=pieces)
        else:
            c.send(data)
        r = c.read_response(timeout=t(10))
    finally:
        c.close()
    assert r.status == 200, r
    return r


@pytest.fixture(scope="module")
def default_srv(wsgate_module):
    return wsgate_module("it_count")


# ---- defaults ----------------------------------------------------------------------

def test_default_target_limit(default_srv):
    accepted(default_srv, req("GET", "/" + "a" * 8189))        # 8190 bytes
    refused(default_srv, req("GET", "/" + "a" * 8190), 414)    # 8191 bytes


def test_h42_64k_target(default_srv):
    refused(default_srv, req("GET", "/" + "a" * 65536), 414)


def test_h42_64k_target_in_pieces(default_srv):
    refused(default_srv, req("GET", "/" + "a" * 65536), 414, pieces=512)


def test_default_header_block_limit(default_srv):
    accepted(default_srv, head_of_size(60000))
    refused(default_srv, head_of_size(100 * 1024), 431)


def test_h42_100k_header_in_pieces(default_srv):
    refused(default_srv, head_of_size(100 * 1024), 431, pieces=1000)


def test_h42_many_small_headers_over_size(default_srv):
    # 90 fields of 1 KiB: under the field count, over 64 KiB in total
    data = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(
        b"X-F%d: %s\r\n" % (i, b"v" * 1000) for i in range(90)) + b"\r\n"
    refused(default_srv, data, 431)


def test_default_field_count(default_srv):
    ok = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(99)) \
        + b"\r\n"
    accepted(default_srv, ok)  # 100 fields with Host
    bad = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) \
        + b"\r\n"
    refused(default_srv, bad, 431)  # 101


def test_h42_ten_thousand_headers(default_srv):
    data = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i
                                                       for i in range(10000)) + b"\r\n"
    refused(default_srv, data, 431)


def test_h42_ten_thousand_headers_in_pieces(default_srv):
    data = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i
                                                       for i in range(10000)) + b"\r\n"
    refused(default_srv, data, 431, pieces=7)


def test_h07_content_length_over_default_max_body(default_srv):
    before = len(app_log(default_srv))
    t0 = time.monotonic()
    refused(default_srv, req("POST", "/big", [("Content-Length", str(2 * 1024 ** 3))]), 413)
    assert time.monotonic() - t0 < t(5), "413 was not sent at once"
    assert app_log(default_srv)[before:] == []


def test_default_max_body_boundary_accepted(default_srv):
    # exactly 1 GiB announced is allowed: the app runs (we send only the head and
    # then close; the app's read fails, which is fine here).
    c = default_srv.conn()
    try:
        c.send(req("POST", "/exact?noread=1", [("Content-Length", str(1024 ** 3))]))
        r = c.read_response(timeout=t(10))
        assert r.status == 200, r
    finally:
        c.close()


# ---- small limits from the command line ------------------------------------------------

@pytest.fixture(scope="module")
def small_srv(wsgate_module):
    return wsgate_module("it_count", "--max-target", "100", "--max-header-size", "1024",
                         "--max-headers", "10", "--max-body", "1000")


def test_max_target_option(small_srv):
    accepted(small_srv, req("GET", "/" + "a" * 99))
    refused(small_srv, req("GET", "/" + "a" * 100), 414)


def test_max_target_counts_query(small_srv):
    refused(small_srv, req("GET", "/?" + "q" * 99), 414)


def test_max_target_option_in_pieces(small_srv):
    refused(small_srv, req("GET", "/" + "a" * 300), 414, pieces=1)


def test_max_header_size_option_exact(small_srv):
    accepted(small_srv, head_of_size(1024))
    refused(small_srv, head_of_size(1025), 431)


def test_max_header_size_option_in_pieces(small_srv):
    refused(small_srv, head_of_size(3000), 431, pieces=3)


def test_max_headers_option(small_srv):
    ok = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(9)) \
        + b"\r\n"
    accepted(small_srv, ok)
    bad = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(10)) \
        + b"\r\n"
    refused(small_srv, bad, 431)


def test_max_headers_option_in_pieces(small_srv):
    bad = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(50)) \
        + b"\r\n"
    refused(small_srv, bad, 431, pieces=1)


def test_max_body_option(small_srv):
    before = len(app_log(small_srv))
    r = accepted(small_srv, req("POST", "/ok", [("Content-Length", "1000")], b"b" * 1000))
    assert r.body == b"called POST /ok\n"
    refused(small_srv, req("POST", "/big", [("Content-Length", "1001")]), 413)
    calls = app_log(small_srv)[before:]
    assert [(x["path"], x["body_len"]) for x in calls] == [("/ok", 1000)]


def test_max_body_chunked(small_srv):
    # A chunked body has no length up front; more than --max-body must still never
    # reach the app as a complete body.
    before = len(app_log(small_srv))
    c = small_srv.conn()
    try:
        c.try_send(req("POST", "/chunked-big", [("Transfer-Encoding", "chunked")],
                       chunked(b"c" * 600, b"c" * 600)))
        r = c.read_response(timeout=t(10))
        assert r.status in (413, 400, 500), r
    finally:
        c.close()
    for x in app_log(small_srv)[before:]:
        assert x["error"] is not None and x["body_len"] <= 1000, x


def test_server_healthy_after_limits(small_srv, default_srv):
    assert accepted(small_srv, req("GET", "/h")).body == b"called GET /h\n"
    assert accepted(default_srv, req("GET", "/h")).body == b"called GET /h\n"
