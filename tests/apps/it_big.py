"""Large responses for the slow-reader tests (tests/integration/test_slow_clients.py).

/big?mode=bytes&size=N   one bytes object of N bytes
/big?mode=chunks&size=N  N bytes yielded in 64 KiB pieces, no Content-Length
/big?mode=file&size=N    wsgi.file_wrapper over a file of N bytes
/hello                   a short answer
Byte i of a body is (i * 7 + i // 4096) % 251, so a reader can check every byte.
"""
import os
import tempfile
from urllib.parse import parse_qs


def pattern(n):
    return bytes((i * 7 + i // 4096) % 251 for i in range(n))


_cache = {}


def body(n):
    if n not in _cache:
        _cache[n] = pattern(n)
    return _cache[n]


_files = {}


def path_of(n):
    """A path that opens a file of body(n): an unlinked temp file, reached through
    /proc/self/fd, so nothing is left behind however the server ends and each open
    still gets an offset of its own."""
    if n not in _files:
        fd, path = tempfile.mkstemp(prefix="wsgate-big-")
        os.unlink(path)
        with open(fd, "wb", closefd=False) as f:
            f.write(body(n))
        _files[n] = "/proc/self/fd/%d" % fd
    return _files[n]


def application(environ, start_response):
    if environ["PATH_INFO"] == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        return [b"hello\n"]
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    mode = qs.get("mode", ["bytes"])[0]
    n = int(qs.get("size", ["1048576"])[0])
    headers = [("Content-Type", "application/octet-stream")]
    if mode == "chunks":
        start_response("200 OK", headers)
        data = body(n)
        return (data[i:i + 65536] for i in range(0, n, 65536))
    headers.append(("Content-Length", str(n)))
    start_response("200 OK", headers)
    if mode == "file":
        return environ["wsgi.file_wrapper"](open(path_of(n), "rb"))
    return [bytes(body(n))]  # a fresh object each time, as an app renders one
