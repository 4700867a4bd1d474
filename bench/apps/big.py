"""Benchmark app `big`: one 1 MiB bytes object with Content-Length (one big write)."""

BODY = bytes(range(256)) * 4096  # 1 MiB, not all one byte value
HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
