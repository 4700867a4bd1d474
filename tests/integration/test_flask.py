"""A real Flask app through wsgate with a real HTTP client."""
import hashlib
import os

import pytest
import requests

from wsgate_util import t


@pytest.fixture(scope="module")
def flask_srv(wsgate_module):
    return wsgate_module("it_flask:app")


def test_index(flask_srv):
    r = requests.get(flask_srv.url("/"), timeout=t(10))
    assert r.status_code == 200
    assert r.text == "flask index"
    assert r.headers["Content-Type"].startswith("text/html")


def test_url_parameters(flask_srv):
    assert requests.get(flask_srv.url("/hello/World"), timeout=t(10)).text == "Hello, World!"
    assert requests.get(flask_srv.url("/hello/caf%C3%A9"), timeout=t(10)).text == \
        "Hello, caf\u00e9!"
    assert requests.get(flask_srv.url("/add/40/2"), timeout=t(10)).json() == {"sum": 42}
    r = requests.get(flask_srv.url("/path/a/b%20c/d"), timeout=t(10)).json()
    assert r["rest"] == "a/b c/d"


def test_404(flask_srv):
    r = requests.get(flask_srv.url("/no/such/page"), timeout=t(10))
    assert r.status_code == 404
    r = requests.get(flask_srv.url("/add/x/2"), timeout=t(10))
    assert r.status_code == 404


def test_405(flask_srv):
    r = requests.get(flask_srv.url("/form"), timeout=t(10))
    assert r.status_code == 405
    assert "POST" in r.headers.get("Allow", "")


def test_form_post(flask_srv):
    r = requests.post(flask_srv.url("/form"),
                      data=[("name", "Zo\u00eb & co"), ("tag", "a"), ("tag", "b")], timeout=t(10))
    assert r.status_code == 200
    assert r.json() == {"name": "Zo\u00eb & co", "tags": ["a", "b"]}


@pytest.mark.parametrize("size", [0, 1000, 3 * 1024 * 1024 + 7])
def test_multipart_upload(flask_srv, size):
    data = os.urandom(size)
    r = requests.post(flask_srv.url("/upload"),
                      files={"file": ("blob.bin", data, "application/octet-stream")},
                      data={"note": "with a note"}, timeout=t(60))
    assert r.status_code == 200, r.text[:500]
    d = r.json()
    assert d == {"filename": "blob.bin", "size": size,
                 "sha256": hashlib.sha256(data).hexdigest(), "field": "with a note"}


def test_multipart_upload_chunked(flask_srv):
    # requests sends a generator body chunked: the multipart parser must cope with
    # a body without Content-Length.
    data = os.urandom(500000)
    boundary = "it-boundary-123"
    body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.bin\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n" % boundary).encode() + data +
            ("\r\n--%s--\r\n" % boundary).encode())

    def gen():
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]
    r = requests.post(flask_srv.url("/upload"), data=gen(),
                      headers={"Content-Type": "multipart/form-data; boundary=" + boundary},
                      timeout=t(60))
    assert r.status_code == 200, r.text[:500]
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_json(flask_srv):
    payload = {"items": [1, 2, 3], "name": "\u00e9t\u00e9", "nested": {"a": None}}
    r = requests.post(flask_srv.url("/json"), json=payload, timeout=t(10))
    assert r.status_code == 200
    assert r.json() == {"received": payload, "n": 3}
    assert r.headers["Content-Type"] == "application/json"


def test_query_args(flask_srv):
    r = requests.get(flask_srv.url("/query?a=1&a=2&b=%C3%A9&c="), timeout=t(10))
    assert r.json() == {"args": {"a": ["1", "2"], "b": ["\u00e9"], "c": [""]}}


@pytest.mark.parametrize("code", [201, 202, 400, 418, 503])
def test_status_codes(flask_srv, code):
    r = requests.get(flask_srv.url("/status/%d" % code), timeout=t(10))
    assert r.status_code == code
    assert r.text == "status %d" % code


def test_cookies(flask_srv):
    r = requests.get(flask_srv.url("/cookie"), timeout=t(10))
    assert r.cookies.get("a") == "1" and r.cookies.get("b") == "2"


def test_session_keepalive_reuses_connection(flask_srv):
    s = requests.Session()
    for i in range(20):
        assert s.get(flask_srv.url("/hello/%d" % i), timeout=t(10)).text == "Hello, %d!" % i


def test_script_name_mount(wsgate):
    srv = wsgate("it_flask:app", "--script-name", "/app")
    r = requests.get(srv.url("/app/path/x/y"), timeout=t(10))
    assert r.status_code == 200
    d = r.json()
    assert d == {"rest": "x/y", "script_name": "/app", "path": "/path/x/y"}
