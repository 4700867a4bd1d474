"""Benchmark app `chunks`: 1 MiB yielded as 64 chunks of 16 KiB and no Content-Length,
so an HTTP/1.1 server frames it with chunked encoding (or closes to end it)."""

CHUNK = bytes(range(256)) * 64  # 16 KiB
COUNT = 64
HEADERS = [("Content-Type", "application/octet-stream")]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    for _ in range(COUNT):
        yield CHUNK
