"""Reads the request body in the way ?mode= asks and answers JSON with its length
and sha256 (and the body itself when small).

modes: readneg (read(0), then read(-1)), readn (read(n) loop, n from ?n=, default 8192), read (read() with no
argument: only through `raw`, wsgiref.validate forbids it), readline, readline_n
(readline(n)), readlines, iter, mixed (read(3), readline(), then read(n)).
?report=PATH writes {"ok": len} or {"error": ...} to PATH: the test's channel when
the client is gone (a body that ended early). ?started=PATH is created on entry.
"""
import hashlib
import json
from urllib.parse import parse_qs
from wsgiref.validate import validator


def _read(inp, mode, n):
    pieces = []
    if mode == "read":
        pieces.append(inp.read())
    elif mode == "readneg":
        assert inp.read(0) == b""
        pieces.append(inp.read(-1))
        assert inp.read(10) == b""
    elif mode == "readn":
        while True:
            b = inp.read(n)
            if not b:
                break
            assert len(b) <= n, "read(%d) returned %d bytes" % (n, len(b))
            pieces.append(b)
    elif mode == "readline":
        while True:
            b = inp.readline()
            if not b:
                break
            pieces.append(b)
    elif mode == "readline_n":
        while True:
            b = inp.readline(n)
            if not b:
                break
            assert len(b) <= n
            pieces.append(b)
    elif mode == "readlines":
        pieces.extend(inp.readlines())
    elif mode == "iter":
        for line in inp:
            pieces.append(line)
    elif mode == "mixed":
        pieces.append(inp.read(3))
        pieces.append(inp.readline())
        while True:
            b = inp.read(n)
            if not b:
                break
            pieces.append(b)
    else:
        raise ValueError("unknown mode %r" % mode)
    return pieces


def echo(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    mode = qs.get("mode", ["readn"])[0]
    n = int(qs.get("n", ["8192"])[0])
    report = qs.get("report", [None])[0]
    started = qs.get("started", [None])[0]
    if started:
        open(started, "w").close()
    try:
        pieces = _read(environ["wsgi.input"], mode, n)
    except Exception as e:
        if report:
            with open(report, "w") as f:
                json.dump({"error": "%s: %s" % (type(e).__name__, e)}, f)
        raise
    body = b"".join(pieces)
    if report:
        with open(report, "w") as f:
            json.dump({"ok": len(body)}, f)
    for p in pieces:
        assert type(p) is bytes, type(p)
    out = {"len": len(body), "sha256": hashlib.sha256(body).hexdigest(),
           "pieces": [len(p) for p in pieces[:100]], "npieces": len(pieces),
           "content_length": environ.get("CONTENT_LENGTH"),
           "content_type": environ.get("CONTENT_TYPE")}
    if len(body) <= 4096:
        out["body"] = body.decode("latin-1")
    data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]


application = validator(echo)
raw = echo
