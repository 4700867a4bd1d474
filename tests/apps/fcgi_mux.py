"""One app for the FastCGI front-server tests (test_fcgi_frontends.py), so one wsgate
serves them all: dispatch on the first PATH_INFO segment that names a route to the per-feature apps.

  /probe/...   it_probe (environ as JSON; ?read=1 hashes the body)
  /echo/...    it_echo (reads the body as ?mode= says; length + sha256)
  /stream/...  it_stream (?n= chunks of ?size= bytes, ?delay= between them)
  /slow/...    it_slow (sleeps ?t= seconds)
  /big/...     ?size= bytes (default 5,000,000) of a known pattern, in 64 KiB yields
  /raise/...   raises before start_response (the server answers 500)
  /stderr/...  writes "fcgi_mux stderr MSG" to wsgi.errors (MSG: ?msg= repeated ?repeat=
               times), answers "logged"; ?after=S: a thread writes "fcgi_mux late MSG"
               S seconds later (after the response); ?sleep=S: sleeps before answering,
               and when interrupted (--timeout) writes "fcgi_mux interrupted MSG"
  /closing/... streams ?n= chunks of ?size= bytes every ?delay= s from an iterable
               whose close() creates the file ?closed=PATH (FCGI_ABORT_REQUEST
               must still run close()); ?started=PATH is created on entry
  /bad/X       it_bad's X (the response-side rows R1-R5), NOT wrapped in
               wsgiref.validate: breaking the rules is the point
Every other route is wrapped in wsgiref.validate (the per-feature apps already are).
"""
import os
import threading
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

import it_bad
import it_echo
import it_probe
import it_slow
import it_stream

BIG_PATTERN = bytes(range(256)) * 256  # 64 KiB


def big_expected(size):
    reps, rest = divmod(size, len(BIG_PATTERN))
    return BIG_PATTERN * reps + BIG_PATTERN[:rest]


def _big(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    size = int(qs.get("size", ["5000000"])[0])
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])

    def gen():
        left = size
        while left > 0:
            piece = BIG_PATTERN[:min(left, len(BIG_PATTERN))]
            left -= len(piece)
            yield piece
    return gen()


def _raise(environ, start_response):
    raise RuntimeError("fcgi_mux: deliberate failure")


def _stderr(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    msg = qs.get("msg", ["hello"])[0] * int(qs.get("repeat", ["1"])[0])
    err = environ["wsgi.errors"]
    err.write("fcgi_mux stderr %s\n" % msg)
    err.flush()
    if "after" in qs:
        def late():
            time.sleep(float(qs["after"][0]))
            err.write("fcgi_mux late %s\n" % msg)
        threading.Thread(target=late, daemon=True).start()
    if "sleep" in qs:
        end = time.monotonic() + float(qs["sleep"][0])
        try:
            while time.monotonic() < end:
                time.sleep(0.02)  # --timeout's exception comes between two sleeps
        except Exception:
            err.write("fcgi_mux interrupted %s\n" % msg)
            raise
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"logged"]


class _Closing:
    def __init__(self, n, size, delay, closed):
        self.n, self.size, self.delay, self.closed = n, size, delay, closed
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= self.n:
            raise StopIteration
        if self.i and self.delay:
            time.sleep(self.delay)
        self.i += 1
        return b"x" * self.size

    def close(self):
        if self.closed:
            with open(self.closed + ".tmp", "w") as f:
                f.write(str(self.i))
            os.rename(self.closed + ".tmp", self.closed)


def _closing(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    started = qs.get("started", [None])[0]
    if started:
        open(started, "w").close()
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _Closing(int(qs.get("n", ["100"])[0]), int(qs.get("size", ["100"])[0]),
                    float(qs.get("delay", ["0.05"])[0]), qs.get("closed", [None])[0])


def _not_found(environ, start_response):
    body = ("no route for %r\n" % environ.get("PATH_INFO")).encode("utf-8", "replace")
    start_response("404 Not Found", [("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(body)))])
    return [body]


ROUTES = {
    "probe": it_probe.raw,
    "echo": it_echo.raw,
    "stream": it_stream.stream,
    "slow": it_slow.slow,
    "big": _big,
    "raise": _raise,
    "stderr": _stderr,
    "closing": _closing,
}


def mux(environ, start_response):
    # the first segment naming a route: "/probe/x" and, when a front server left the
    # mount point in PATH_INFO (no --script-name), "/app/probe/x" too
    for seg in environ.get("PATH_INFO", "").split("/"):
        if seg in ROUTES:
            return ROUTES[seg](environ, start_response)
    return _not_found(environ, start_response)


validated_mux = validator(mux)


def application(environ, start_response):
    segs = environ.get("PATH_INFO", "").split("/")
    if "bad" in segs:
        # /bad/204 -> it_bad's /204 (also /app/bad/204 without --script-name)
        i = segs.index("bad")
        environ["PATH_INFO"] = "/" + "/".join(segs[i + 1:])
        return it_bad.application(environ, start_response)
    return validated_mux(environ, start_response)
