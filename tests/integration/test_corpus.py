"""The gunicorn request corpus (tests/corpus/http, see its README): every
invalid case is refused (4xx/5xx, then close) without calling the app; every
valid case is parsed as gunicorn parsed it. Each case is sent whole and one byte
per write.

Cases that only hold under a gunicorn option we do not have (obs-fold allowed,
per-field size limits, ...) are skipped with the reason; gunicorn's proxy_protocol
is our --proxy-protocol auto (a v1 or v2 header, or none, from a loopback peer). Valid
HTTP/1.1 cases without a Host field must get 400 here (docs/hostile-inputs.md H37).
"""
import base64
import json
import os
import socket

import pytest

from conftest import REPO
from wsgate_util import NoResponse, app_log, t

CORPUS = os.environ.get("WSGATE_HTTP_CORPUS") or os.path.join(REPO, "tests", "corpus", "http")


def load():
    try:
        with open(os.path.join(CORPUS, "cases.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


CASES = load()
SUPPORTED_SETTINGS = {"limit_request_fields": "--max-headers"}
# gunicorn settings that map to a fixed argument list (value True)
FLAG_SETTINGS = {"proxy_protocol": ["--proxy-protocol", "auto"]}

# Where docs/hostile-inputs.md gives a different verdict than gunicorn did.
OVERRIDES = {
    # H09: a coding other than chunked (gunicorn passes gzip through) -> 501/400
    "valid/025_line": "refuse",
    "valid/rfc9112_smuggle_gzip_chunked_01": "refuse",
    "valid/rfc9112_smuggle_te_identity_chunked_01": "refuse",
    # H40: userinfo in an absolute-form target -> 400, as nginx (RFC 9110 4.2.4)
    "valid/rfc9112_target_absolute_userinfo_01": "refuse",
    # H41: CONNECT -> 405/501
    "valid/rfc9112_target_authority_connect_01": "refuse",
    "valid/rfc9112_target_authority_ipv6_01": "refuse",
    # H25: forbidden trailers -> 400, or drop them (never into environ)
    "invalid/rfc9110_trailer_forbidden_cl_01": "h25",
    "invalid/rfc9110_trailer_forbidden_host_01": "h25",
    "invalid/rfc9110_trailer_forbidden_te_01": "h25",
}
# gunicorn refused these only for its own, lower default limits (request line
# 4094, 8190 bytes per field); ours are 8190 for the target and 64 KiB per head.
GUNICORN_LIMITS = ("LimitRequestLine", "LimitRequestHeaders")


def case_args(case, data):
    """Our options for the case's gunicorn settings, or a skip reason."""
    if case["kind"] == "invalid" and case.get("gunicorn_error") in GUNICORN_LIMITS \
            and not case.get("gunicorn_settings") and len(data) < 65536:
        return None, "refused by gunicorn's lower default limits (%s)" % case["gunicorn_error"]
    if case["kind"] == "valid" and len(case["requests"]) == 1:
        head_end = data.find(b"\r\n\r\n") + 4
        for name, value in case["requests"][0]["headers"]:
            if name == "CONTENT-LENGTH" and value.isdigit() \
                    and head_end + int(value) > len(data):
                return None, "the corpus file is shorter than its Content-Length"
    args = []
    for k, v in (case.get("gunicorn_settings") or {}).items():
        if k in FLAG_SETTINGS and v is True:
            args += FLAG_SETTINGS[k]
            continue
        if k not in SUPPORTED_SETTINGS:
            return None, "needs gunicorn setting %s=%r" % (k, v)
        args += [SUPPORTED_SETTINGS[k], str(v)]
    return args, None


@pytest.fixture(scope="module")
def servers(wsgate_module):
    cache = {}

    def get(args):
        key = tuple(args)
        if key not in cache:
            cache[key] = wsgate_module("it_corpus", *args)
        return cache[key]
    return get


def send(srv, data, split):
    c = srv.conn()
    if split:
        c.send_pieces(data, size=1, stop_on_reply=False)
    else:
        c.try_send(data)
    return c


def expect_header(env_headers, name, value):
    key = name.upper().replace("-", "_")
    if "_" in name:
        assert "HTTP_" + key not in env_headers  # H36: dropped
        return
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        got = env_headers.get(key)
    else:
        got = env_headers.get("HTTP_" + key)
    assert got is not None, "header %s missing: %r" % (name, env_headers)
    # repeated fields are joined with ", ": the value must be one of the parts
    assert value == got or value in [p.strip() for p in got.split(", ")], (name, value, got)


@pytest.mark.parametrize("split", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_corpus(servers, case, split):
    with open(os.path.join(CORPUS, case["file"]), "rb") as f:
        data = f.read()
    args, reason = case_args(case, data)
    if reason:
        pytest.skip(reason)
    verdict = OVERRIDES.get(case["name"], "refuse" if case["kind"] == "invalid" else "parse")
    srv = servers(args)
    before = len(app_log(srv, "/__log?it-corpus"))
    c = send(srv, data, split)
    try:
        if verdict in ("refuse", "h25"):
            try:
                r = c.read_response(timeout=t(3))
            except NoResponse:
                if c.buf:
                    raise
                # No answer while we keep the connection open: only acceptable for
                # a truncated request, which the server sees as such at our EOF.
                c.sock.shutdown(socket.SHUT_WR)
                try:
                    r = c.read_response(timeout=t(10))
                except NoResponse:
                    r = None
                if r is None:
                    assert c.eof, "no answer and no close"
                    assert b"\r\n\r\n" not in data or data.endswith(b"0\r\n"), \
                        "a complete invalid request got no answer"
            calls = app_log(srv, "/__log?it-corpus")[before:]
            if verdict == "h25" and r is not None and r.status == 200:
                assert len(calls) == 1 and calls[0]["error"] is None
                env = calls[0]["env"]
                assert env.get("CONTENT_LENGTH", "") in ("", None), env
                assert env.get("HTTP_HOST") == "example.com", env
                assert env.get("HTTP_TRANSFER_ENCODING", "chunked") == "chunked", env
                return
            if r is not None:
                assert 400 <= r.status < 600, r
                try:
                    c.read_until_close(t(10))
                except NoResponse:
                    pytest.fail("connection left open after refusing an invalid request")
            assert calls == [], "the app ran for an invalid request: %r" % calls
            return
        for i, want in enumerate(case["requests"]):
            names = [h for h, _ in want["headers"]]
            if want["version"] == [1, 1] and "HOST" not in names:
                r = c.read_response(timeout=t(10))
                assert r.status == 400, "HTTP/1.1 without Host: %r" % r  # H37
                return
            r = c.read_response(timeout=t(10))
            assert r.status == 200, (i, r, r.body[:300])
            got = json.loads(r.body)
            assert got["method"] == want["method"]
            assert got["uri"] == want["target"]
            assert got["protocol"] == "HTTP/%d.%d" % tuple(want["version"])
            assert base64.b64decode(got["body_b64"]) == base64.b64decode(want["body_b64"])
            for name, value in want["headers"]:
                expect_header(got["headers"], name, value)
    finally:
        c.close()
