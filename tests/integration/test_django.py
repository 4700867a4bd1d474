"""A real Django project (one module, tests/apps/it_django.py) through wsgate."""
import hashlib
import os

import pytest
import requests

from wsgate_util import t


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
