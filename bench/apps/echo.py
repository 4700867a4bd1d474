"""Benchmark app `echo`: reads the whole request body through wsgi.input (one
read(CONTENT_LENGTH) call) and sends it back with Content-Length. The harness POSTs
1 MiB (bench/echo.lua)."""


def app(environ, start_response):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]
