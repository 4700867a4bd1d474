"""The apps of the HTTP/2 tests (tests/integration/test_h2.py) behind one server,
chosen by the first path segment: /probe (it_probe.py: the environ as JSON), /echo
(the request body back, as it came), /slow (it_slow.py), /filewrap (it_filewrap.py),
/flask/... (it_flask.py mounted at /flask), and anything else it_big.py (/hello,
/big?mode=&size=: checkable large bodies)."""
import it_big
import it_filewrap
import it_flask
import it_probe
import it_slow


def echo(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body))),
                              ("Connection", "keep-alive"), ("Keep-Alive", "timeout=5")])
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/flask"):
        environ["SCRIPT_NAME"] = "/flask"
        environ["PATH_INFO"] = path[len("/flask"):]
        return it_flask.app(environ, start_response)
    for prefix, app in (("/probe", it_probe.application), ("/echo", echo),
                        ("/slow", it_slow.application),
                        ("/filewrap", it_filewrap.application)):
        if path.startswith(prefix):
            return app(environ, start_response)
    return it_big.application(environ, start_response)
