"""Benchmark app `hello`: a 14-byte body with Content-Length, the smallest useful
response. Measures the per-request cost of the server itself."""

BODY = b"Hello, World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
