"""Flask (tests/apps/it_flask.py) and Django (tests/apps/it_django.py) behind the
uwsgi protocol's real front servers (issue 19): nginx uwsgi_pass with the stock
uwsgi_params (TCP and unix socket) and Apache mod_proxy_uwsgi (TCP), configured as
docs/deploy-uwsgi.md shows (scgi_frontends.py's UwsgiNginx and UwsgiApache, its
fixture factory). Per variant, one wsgate with --uwsgi and --script-name /app runs
both apps (tests/apps/it_flask_django.py: the X-App header picks one) and one front
server mounts it at /app/.

Through each: routing, url parameters and query strings with percent-escapes, a form
POST, a multipart upload, the apps' own 404s, Django's APPEND_SLASH redirect and CSRF
check. SCRIPT_NAME and PATH_INFO, as each app sees them, are the values it sees
mounted at /app behind FastCGI (test_fcgi_frontends.py's
test_flask_behind_apache_sees_script_name) and over HTTP (test_flask.py and
test_django.py, test_script_name_mount), and the same as through the same wsgate's
own --http listener.
"""
import hashlib
import os

import requests

from frontends import failure_context as _ctx, front_fixtures
from scgi_frontends import SCGI_FRONTS, UWSGI
from wsgate_util import t

# TCP for both front servers, a unix socket for nginx (the raw and front-server
# suites run the other combinations with a probe app).
APP_VARIANTS = [("uwsgi-nginx", "tcp"), ("uwsgi-nginx", "unix"), ("uwsgi-apache", "tcp")]

_factory, uwsgi_apps = front_fixtures(
    UWSGI, SCGI_FRONTS, APP_VARIANTS, ("it_flask_django", "--script-name", "/app"),
    "uwsgi_apps_factory", "uwsgi_apps")

FLASK_NOT_FOUND = "The requested URL was not found on the server"
DJANGO_NOT_FOUND = "The requested resource was not found on this server"


def _get(fs, app, path, direct=False, headers=None):
    """GET path through the front server (direct: on wsgate's own --http listener)
    from the app named by `app` ("flask" or "django"); redirects are not followed."""
    url = fs.wsgate.url(path) if direct else fs.url(path)
    return requests.get(url, headers=dict(headers or {}, **{"X-App": app}),
                        allow_redirects=False, timeout=t(10))


def _post(fs, app, path, **kw):
    return requests.post(fs.url(path), headers={"X-App": app}, allow_redirects=False,
                         timeout=t(60), **kw)


def _seen(r):
    return r.status_code, r.headers.get("Content-Type"), r.text[:300]


# ---------------------------------------------------------------- Flask

def test_flask_routes_and_escapes(uwsgi_apps):
    fs = uwsgi_apps
    r = _get(fs, "flask", "/app/")
    assert (r.status_code, r.text) == (200, "flask index"), _ctx(fs, *_seen(r))
    r = _get(fs, "flask", "/app/hello/caf%C3%A9")
    assert (r.status_code, r.text) == (200, "Hello, caf\u00e9!"), _ctx(fs, *_seen(r))
    r = _get(fs, "flask", "/app/add/40/2")
    assert (r.status_code, r.json()) == (200, {"sum": 42}), _ctx(fs, *_seen(r))
    r = _get(fs, "flask", "/app/query?a=1&a=2&b=%C3%A9&c=&d=%26%3D%2B+x")
    assert r.status_code == 200, _ctx(fs, *_seen(r))
    assert r.json() == {"args": {"a": ["1", "2"], "b": ["\u00e9"], "c": [""],
                                 "d": ["&=+ x"]}}, _ctx(fs, *_seen(r))


def test_flask_404_is_the_apps(uwsgi_apps):
    """Unknown routes get Flask's own 404 page, not the front server's; a 404 the
    app answers itself keeps its body."""
    fs = uwsgi_apps
    for path in ("/app/no/such/page", "/app/add/x/2"):
        r = _get(fs, "flask", path)
        assert r.status_code == 404 and FLASK_NOT_FOUND in r.text, _ctx(fs, path, *_seen(r))
    r = _get(fs, "flask", "/app/status/404")
    assert (r.status_code, r.text) == (404, "status 404"), _ctx(fs, *_seen(r))


def test_flask_script_name_and_path_info(uwsgi_apps):
    """request.script_root and request.path: what Flask sees behind Apache
    mod_proxy_fcgi (test_fcgi_frontends.py), and through wsgate's --http listener."""
    fs = uwsgi_apps
    for path, want in (("/app/path/x/y%20z", {"rest": "x/y z", "script_name": "/app",
                                              "path": "/path/x/y z"}),
                       ("/app/path/caf%C3%A9/%7Ex", {"rest": "caf\u00e9/~x",
                                                     "script_name": "/app",
                                                     "path": "/path/caf\u00e9/~x"})):
        r = _get(fs, "flask", path)
        assert (r.status_code, r.json()) == (200, want), _ctx(fs, path, *_seen(r))
        r = _get(fs, "flask", path, direct=True)
        assert (r.status_code, r.json()) == (200, want), _ctx(fs, "direct", path, *_seen(r))


def test_flask_form_and_upload(uwsgi_apps):
    fs = uwsgi_apps
    r = _post(fs, "flask", "/app/form", data=[("name", "Zo\u00eb & co"), ("tag", "a"),
                                              ("tag", "b=c")])
    assert r.status_code == 200, _ctx(fs, *_seen(r))
    assert r.json() == {"name": "Zo\u00eb & co", "tags": ["a", "b=c"]}, _ctx(fs, *_seen(r))
    data = os.urandom(300000)
    r = _post(fs, "flask", "/app/upload", data={"note": "with a n\u00f6te"},
              files={"file": ("blob.bin", data, "application/octet-stream")})
    assert r.status_code == 200, _ctx(fs, *_seen(r))
    assert r.json() == {"filename": "blob.bin", "size": len(data), "field": "with a n\u00f6te",
                        "sha256": hashlib.sha256(data).hexdigest()}, _ctx(fs, *_seen(r))


# ---------------------------------------------------------------- Django

def test_django_routes_and_escapes(uwsgi_apps):
    fs = uwsgi_apps
    r = _get(fs, "django", "/app/")
    assert (r.status_code, r.text) == (200, "django index"), _ctx(fs, *_seen(r))
    r = _get(fs, "django", "/app/query/?a=1&a=2&b=%C3%A9&c=%26%3D%2B+x")
    assert r.status_code == 200, _ctx(fs, *_seen(r))
    assert r.json() == {"a": ["1", "2"], "b": ["\u00e9"], "c": ["&=+ x"]}, _ctx(fs, *_seen(r))
    # the Host the client sent, port included (docs/deploy-uwsgi.md's HTTP_HOST line)
    r = _get(fs, "django", "/app/meta/", headers={"User-Agent": "dj-agent"})
    assert r.status_code == 200, _ctx(fs, *_seen(r))
    assert r.json() == {"host": "127.0.0.1:%d" % fs.port, "scheme": "http",
                        "remote_addr": "127.0.0.1", "user_agent": "dj-agent"}, _ctx(fs, r.text)


def test_django_404_and_append_slash(uwsgi_apps):
    """Unknown routes get Django's own 404; APPEND_SLASH redirects to the path under
    the mount point (Django builds it from SCRIPT_NAME)."""
    fs = uwsgi_apps
    for path in ("/app/articles/abc/x/", "/app/nowhere/"):
        r = _get(fs, "django", path)
        assert r.status_code == 404 and DJANGO_NOT_FOUND in r.text, _ctx(fs, path, *_seen(r))
    r = _get(fs, "django", "/app/query?b=%C3%A9")
    assert r.status_code == 301, _ctx(fs, *_seen(r))
    assert r.headers["Location"].endswith("/app/query/?b=%C3%A9"), _ctx(fs, r.headers)


def test_django_script_name_and_path_info(uwsgi_apps):
    """request.path, path_info and META['SCRIPT_NAME']: what Django sees mounted with
    --script-name /app over HTTP (test_django.py), and through wsgate's --http
    listener."""
    fs = uwsgi_apps
    want = {"year": 2024, "slug": "hello-world", "script_name": "/app",
            "path": "/app/articles/2024/hello-world/", "path_info": "/articles/2024/hello-world/"}
    r = _get(fs, "django", "/app/articles/2024/hello-world/")
    assert (r.status_code, r.json()) == (200, want), _ctx(fs, *_seen(r))
    r = _get(fs, "django", "/app/articles/2024/hello-world/", direct=True)
    assert (r.status_code, r.json()) == (200, want), _ctx(fs, "direct", *_seen(r))


def test_django_form_upload_and_csrf(uwsgi_apps):
    """A form POST, a multipart upload past FILE_UPLOAD_MAX_MEMORY_SIZE (Django
    streams it to a temporary file) and the CSRF check (a POST without a token: 403)."""
    fs = uwsgi_apps
    r = _post(fs, "django", "/app/form/", data=[("name", "J\u00fcrgen & co"), ("tag", "x"),
                                                ("tag", "y=z")])
    assert r.status_code == 200, _ctx(fs, *_seen(r))
    assert r.json() == {"name": "J\u00fcrgen & co", "tags": ["x", "y=z"]}, _ctx(fs, *_seen(r))
    data = os.urandom(1536 * 1024)
    r = _post(fs, "django", "/app/upload/", data={"note": "n\u00f6te"},
              files={"file": ("up.bin", data, "application/octet-stream")})
    assert r.status_code == 200, _ctx(fs, *_seen(r))
    assert r.json() == {"filename": "up.bin", "size": len(data), "note": "n\u00f6te",
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "in_memory": "TemporaryUploadedFile"}, _ctx(fs, *_seen(r))
    r = _post(fs, "django", "/app/protected/", data={"a": "1"})
    assert r.status_code == 403, _ctx(fs, *_seen(r))
