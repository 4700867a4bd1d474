"""The apps in examples/ run under wsgate as the README says."""
import os

import requests

from conftest import REPO
from wsgate_util import t

EXAMPLES = os.path.join(REPO, "examples")


def test_hello(wsgate):
    srv = wsgate("hello", "--pythonpath", EXAMPLES, pythonpath=False)
    r = requests.get(srv.url("/"), timeout=t(10))
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<h1>Hello from wsgate</h1>" in r.text
    assert requests.get(srv.url("/nope"), timeout=t(10)).status_code == 404


def test_flask_example(wsgate):
    srv = wsgate("flask_app:app", "--pythonpath", EXAMPLES, pythonpath=False)
    assert requests.get(srv.url("/"), timeout=t(10)).text == "Hello from Flask on wsgate!"
    assert requests.get(srv.url("/hello/you"), timeout=t(10)).json() == \
        {"greeting": "Hello, you!"}


def test_django_example(wsgate):
    srv = wsgate("django_app", "--pythonpath", EXAMPLES, pythonpath=False)
    assert requests.get(srv.url("/"), timeout=t(10)).text == "Hello from Django on wsgate!"
    assert requests.get(srv.url("/hello/you/"), timeout=t(10)).json() == \
        {"greeting": "Hello, you!"}
