"""A real Django project (one module, tests/apps/it_django.py) through wsgate; and
over HTTP/2 (experimental: --h2 on --https, --h2c on --http) with curl."""
import hashlib
import json
import os

import pytest
import requests

from conftest import free_port
from wsgate_util import Pki, curl, t


@pytest.fixture(scope="module")
def django_srv(wsgate_module):
    return wsgate_module("it_django")


def test_index(django_srv):
    r = requests.get(django_srv.url("/"), timeout=t(10))
    assert r.status_code == 200
    assert r.text == "django index"


def test_url_parameters(django_srv):
    r = requests.get(django_srv.url("/articles/2024/hello-world/"), timeout=t(10))
    assert r.status_code == 200
    d = r.json()
    assert d["year"] == 2024 and d["slug"] == "hello-world"
    assert d["path"] == "/articles/2024/hello-world/"


def test_404(django_srv):
    r = requests.get(django_srv.url("/articles/abc/x/"), timeout=t(10))
    assert r.status_code == 404
    r = requests.get(django_srv.url("/nowhere/"), timeout=t(10))
    assert r.status_code == 404


def test_append_slash_redirect(django_srv):
    r = requests.get(django_srv.url("/query"), allow_redirects=False, timeout=t(10))
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/query/")


def test_form_post_csrf_exempt(django_srv):
    r = requests.post(django_srv.url("/form/"),
                      data=[("name", "J\u00fcrgen"), ("tag", "x"), ("tag", "y")], timeout=t(10))
    assert r.status_code == 200, r.text[:500]
    assert r.json() == {"name": "J\u00fcrgen", "tags": ["x", "y"]}


def test_csrf_still_enforced(django_srv):
    r = requests.post(django_srv.url("/protected/"), data={"a": "1"}, timeout=t(10))
    assert r.status_code == 403


@pytest.mark.parametrize("size", [10, 3 * 1024 * 1024 + 1])
def test_multipart_upload(django_srv, size):
    data = os.urandom(size)
    r = requests.post(django_srv.url("/upload/"),
                      files={"file": ("up.bin", data, "application/octet-stream")},
                      data={"note": "n\u00f6te"}, timeout=t(60))
    assert r.status_code == 200, r.text[:500]
    d = r.json()
    assert d["size"] == size
    assert d["sha256"] == hashlib.sha256(data).hexdigest()
    assert d["filename"] == "up.bin"
    assert d["note"] == "n\u00f6te"
    if size > 1024 * 1024:
        assert d["in_memory"] == "TemporaryUploadedFile"


def test_query(django_srv):
    r = requests.get(django_srv.url("/query/?a=1&a=2&b=%C3%A9"), timeout=t(10))
    assert r.json() == {"a": ["1", "2"], "b": ["\u00e9"]}


def test_meta(django_srv):
    r = requests.get(django_srv.url("/meta/"), headers={"User-Agent": "dj-agent"},
                     timeout=t(10))
    assert r.json() == {"host": "127.0.0.1:%d" % django_srv.port, "scheme": "http",
                        "remote_addr": "127.0.0.1", "user_agent": "dj-agent"}


def test_script_name_mount(wsgate):
    srv = wsgate("it_django", "--script-name", "/site")
    r = requests.get(srv.url("/site/articles/1999/party/"), timeout=t(10))
    assert r.status_code == 200
    d = r.json()
    assert d["path_info"] == "/articles/1999/party/"
    assert d["path"] == "/site/articles/1999/party/"
    assert d["script_name"] == "/site"


# ---- HTTP/2 ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def django_h2(wsgate_module, tmp_path_factory):
    """--https (port) with --h2 and --http (plain_port) with --h2c."""
    pki = Pki(str(tmp_path_factory.mktemp("pki")))
    plain = free_port()
    s = wsgate_module("it_django", "--http", "127.0.0.1:%d" % plain, "--h2", "--h2c",
                      tls=(pki.ec_chain, pki.ec_key))
    s.plain_port, s.ca = plain, pki.ca
    return s


def test_h2c_get_form_and_environ(django_h2, tmp_path):
    """h2c with prior knowledge: a page, form POSTs (one with its CSRF cookie and
    token), and what Django sees: SERVER_PROTOCOL HTTP/2, the host from :authority,
    not secure. (One curl per request: curl 7.88 cannot reuse an h2c connection.)"""
    base = "http://127.0.0.1:%d" % django_h2.plain_port
    h2c = ["--http2-prior-knowledge"]
    assert curl(*h2c, base + "/") == ("2", 200, b"django index")
    version, code, body = curl(*h2c, "--data-urlencode", "name=J\u00fcrgen",
                               "-d", "tag=x&tag=y", base + "/form/")
    assert (version, code) == ("2", 200), body
    assert json.loads(body) == {"name": "J\u00fcrgen", "tags": ["x", "y"]}
    jar = str(tmp_path / "cookies")
    version, code, body = curl(*h2c, "-b", jar, "-c", jar, base + "/secure/?a=1")
    d = json.loads(body)
    assert (version, code) == ("2", 200)
    assert d["protocol"] == "HTTP/2" and d["is_secure"] is False and d["scheme"] == "http"
    assert d["http_host"] == d["host"] == "127.0.0.1:%d" % django_h2.plain_port
    assert d["absolute"] == base + "/secure/?a=1"
    post = h2c + ["-b", jar, base + "/protected/"]
    assert curl(*post, "-d", "a=1")[:2] == ("2", 403)
    assert curl(*post, "-d", "a=1&csrfmiddlewaretoken=" + d["token"]) == \
        ("2", 200, b"should need a CSRF token")


def test_h2_csrf_form_and_environ(django_h2, tmp_path):
    """h2 by ALPN: request.is_secure(), build_absolute_uri() from :authority, and a
    form POST that passes Django's CSRF checks (the cookie, the token, the https
    Referer), refused without the token."""
    base = "https://localhost:%d" % django_h2.port
    jar = str(tmp_path / "cookies")
    tls = ["--http2", "--cacert", django_h2.ca,
           "--resolve", "localhost:%d:127.0.0.1" % django_h2.port, "-b", jar, "-c", jar]
    version, code, body = curl(*tls, base + "/secure/")
    assert (version, code) == ("2", 200), body
    d = json.loads(body)
    assert d["protocol"] == "HTTP/2" and d["is_secure"] is True and d["scheme"] == "https"
    assert d["http_host"] == d["host"] == "localhost:%d" % django_h2.port
    assert d["absolute"] == base + "/secure/"
    with open(jar) as f:
        assert "csrftoken" in f.read()
    post = tls + ["-e", base + "/secure/", base + "/protected/"]
    assert curl(*post, "-d", "a=1")[:2] == ("2", 403)
    version, code, body = curl(*post, "-d", "a=1&csrfmiddlewaretoken=" + d["token"])
    assert (version, code, body) == ("2", 200, b"should need a CSRF token")
