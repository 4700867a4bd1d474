"""Streams ?n= chunks of ?size= bytes (chunk i is filled with letter i % 26),
sleeping ?delay= seconds between them; ?cl=1 declares the Content-Length."""
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator


def expected(n, size):
    return b"".join(bytes([97 + i % 26]) * size for i in range(n))


def stream(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(qs.get("n", ["5"])[0])
    size = int(qs.get("size", ["10"])[0])
    delay = float(qs.get("delay", ["0"])[0])
    headers = [("Content-Type", "application/octet-stream")]
    if qs.get("cl") == ["1"]:
        headers.append(("Content-Length", str(n * size)))
    start_response("200 OK", headers)

    def gen():
        for i in range(n):
            if i and delay:
                time.sleep(delay)
            yield bytes([97 + i % 26]) * size
    return gen()


application = validator(stream)
