"""One app for the SCGI tests (test_scgi_raw.py, test_scgi_frontends.py), so one
wsgate serves them all: dispatch on the first PATH_INFO segment that names a route.

  /probe/...   it_probe (environ as JSON; ?read=1 hashes the body)
  /echo/...    it_echo (reads the body as ?mode= says; length + sha256; ?report=PATH)
  /stream/...  it_stream (?n= chunks of ?size= bytes, ?delay= between them)
  /slow/...    it_slow (sleeps ?t= seconds; ?mark=PATH created on entry)
  /big/...     ?size= bytes (default 5,000,000) of a known pattern, in 64 KiB yields
  /raise/...   raises before start_response (the server answers 500)
  /count/...   appends one line to ?file=PATH per call (how many times was I called?)
  /bad/X       it_bad's X (the response-side rows R1-R5), NOT wrapped in
               wsgiref.validate: breaking the rules is the point

Every other route is wrapped in wsgiref.validate (the per-feature apps already are).
"""
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
    raise RuntimeError("scgi_mux: deliberate failure")


def _count(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    path = qs["file"][0]
    with open(path, "a") as f:
        f.write("%s %s\n" % (environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
    body = b"counted"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


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
    "count": _count,
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
    path = environ.get("PATH_INFO", "")
    segs = path.split("/")
    if "bad" in segs:
        # /bad/204 -> it_bad's /204 (also /app/bad/204 without --script-name)
        i = segs.index("bad")
        environ["PATH_INFO"] = "/" + "/".join(segs[i + 1:])
        return it_bad.application(environ, start_response)
    return validated_mux(environ, start_response)
