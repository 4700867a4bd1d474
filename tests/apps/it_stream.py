"""Streams ?n= chunks of ?size= bytes (chunk i is filled with letter i % 26),
sleeping ?delay= seconds between them; ?cl=1 declares the Content-Length.
?gate=PATH: the last chunk waits until the file PATH exists (at most 30 s), so a
client can tell whether the first chunks reached it before the last was produced.
?xab=no sends X-Accel-Buffering: no (nginx then passes the response on unbuffered)."""
import os
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator


def expected(n, size):
    return b"".join(bytes([97 + i % 26]) * size for i in range(n))


def _wait_for(path, limit=30.0):
    deadline = time.monotonic() + limit
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def stream(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(qs.get("n", ["5"])[0])
    size = int(qs.get("size", ["10"])[0])
    delay = float(qs.get("delay", ["0"])[0])
    gate = qs.get("gate", [None])[0]
    headers = [("Content-Type", "application/octet-stream")]
    if qs.get("cl") == ["1"]:
        headers.append(("Content-Length", str(n * size)))
    if qs.get("xab") == ["no"]:
        headers.append(("X-Accel-Buffering", "no"))
    start_response("200 OK", headers)

    def gen():
        for i in range(n):
            if i and delay:
                time.sleep(delay)
            if gate and i == n - 1:
                _wait_for(gate)
            yield bytes([97 + i % 26]) * size
    return gen()


application = validator(stream)
