"""The example app: `make run` serves it on http://127.0.0.1:8000.

    build/wsgate --pythonpath examples hello
"""
import html

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>wsgate says hello</title></head>
<body>
<h1>Hello from wsgate</h1>
<p>This page is served by <code>examples/hello.py</code> through wsgate, a WSGI server in C.</p>
<p>You asked for <code>{path}</code> with the method <code>{method}</code>.</p>
</body>
</html>
"""


def application(environ, start_response):
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if environ.get("PATH_INFO", "/") not in ("", "/"):
        body = b"Not Found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    body = PAGE.format(path=html.escape(path or "/"),
                       method=html.escape(environ["REQUEST_METHOD"])).encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
