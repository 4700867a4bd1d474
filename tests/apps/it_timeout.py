"""The app of the --timeout tests (tests/integration/test_request_timeout.py).

Paths (query: ?mark=PATH, a file that close() of the response writes, so a test
knows the app unwound; ?started=PATH, a file written when the request reaches the
app, so a test knows it is in flight; ?s=SECONDS):
  /quick        200 "ok" at once
  /sleep        sleeps s seconds inside the response iterable (time.sleep only sees
                the timeout exception when it returns), then yields "slept"
  /busy         a pure-Python busy loop (interrupted at once by the exception)
  /ignore       catches wsgate.RequestTimeout and carries on, sleeping 0.2 s at a
                time, for s seconds; then 200 "ignored"
  /stream       starts a chunked response, yields "first", then sleeps s seconds and
                yields "second" (the head is out before the timeout)
  /read         reads wsgi.input to its end (the client sends the body slowly)
  /exc          reports which exception class wsgate exposes (200 "wsgate.RequestTimeout")
"""
import os
import time
from urllib.parse import parse_qs

import wsgate


class Body:
    """A response iterable whose close() writes the ?mark= file."""

    def __init__(self, gen, mark):
        self.gen = gen
        self.mark = mark

    def __iter__(self):
        return self.gen

    def close(self):
        if self.mark:
            write_mark(self.mark, "closed")


def write_mark(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def application(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    mark = qs.get("mark", [None])[0]
    if "started" in qs:
        write_mark(qs["started"][0], "started")
    secs = float(qs.get("s", ["5"])[0])
    path = environ.get("PATH_INFO", "")
    text = [("Content-Type", "text/plain")]

    if path == "/quick":
        start_response("200 OK", text)
        return Body(iter([b"ok"]), mark)
    if path == "/exc":
        start_response("200 OK", text)
        cls = wsgate.RequestTimeout
        assert issubclass(cls, Exception)
        return [("%s.%s" % (cls.__module__, cls.__name__)).encode()]
    if path == "/sleep":
        def gen():
            time.sleep(secs)
            start_response("200 OK", text)
            yield b"slept"
        return Body(gen(), mark)
    if path == "/busy":
        def gen():
            while True:
                pass
            yield b""  # noqa: unreachable: makes this a generator
        return Body(gen(), mark)
    if path == "/ignore":
        def gen():
            end = time.monotonic() + secs
            while time.monotonic() < end:
                try:
                    time.sleep(0.2)
                except wsgate.RequestTimeout:
                    pass
            start_response("200 OK", text)
            yield b"ignored"
        return Body(gen(), mark)
    if path == "/stream":
        def gen():
            yield b"first"
            time.sleep(secs)
            yield b"second"
        start_response("200 OK", text)
        return Body(gen(), mark)
    if path == "/read":
        def gen():
            data = environ["wsgi.input"].read()
            start_response("200 OK", text)
            yield b"read %d" % len(data)
        return Body(gen(), mark)
    start_response("404 Not Found", text)
    return [b"no such path"]
