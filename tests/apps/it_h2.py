"""The apps of the HTTP/2 tests (tests/integration/test_h2.py) behind one server,
chosen by the first path segment: /probe (it_probe.py: the environ as JSON), /echo
(the request body back, as it came), /slow (it_slow.py), /filewrap (it_filewrap.py),
/flask/... (it_flask.py mounted at /flask), /page?n=N (an HTML page of N <img> tags),
/img/I.png (a small PNG of its own colour for each I), /linger?t=S (a complete 5-byte
body, then S seconds more in the app), and anything else
it_big.py (/hello, /big?mode=&size=: checkable large bodies)."""
import struct
import time
import urllib.parse
import zlib

import it_big
import it_filewrap
import it_flask
import it_probe
import it_slow


def echo(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body))),
                              ("Connection", "keep-alive"), ("Keep-Alive", "timeout=5")])
    return [body]


def png(i, side=16):
    """A side x side RGB PNG of one colour, distinct for each i < 2**24."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    # an odd multiplier is a bijection modulo 2**24: one colour per i
    row = b"\0" + bytes(((i * 2654435761 >> shift) & 255) for shift in (0, 8, 16)) * side
    head = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head)
            + chunk(b"IDAT", zlib.compress(row * side)) + chunk(b"IEND", b""))


def page(environ, start_response):
    """/page?n=N: N images, and an empty icon so that a browser asks for no favicon."""
    n = int(environ.get("QUERY_STRING", "n=50").partition("n=")[2] or 50)
    imgs = "".join('<img src="/img/%d.png" width="16" height="16">' % i for i in range(n))
    body = ('<!DOCTYPE html><html><head><link rel="icon" href="data:,">'
            '<title>%d images</title></head><body>%s</body></html>' % (n, imgs)).encode()
    start_response("200 OK", [("Content-Type", "text/html"),
                              ("Content-Length", str(len(body)))])
    return [body]


def image(environ, start_response):
    body = png(int(environ["PATH_INFO"][len("/img/"):-len(".png")]))
    start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])
    return [body]


def linger(environ, start_response):
    seconds = float(urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("t", ["1"])[0])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    yield b"hello"
    time.sleep(seconds)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/flask"):
        environ["SCRIPT_NAME"] = "/flask"
        environ["PATH_INFO"] = path[len("/flask"):]
        return it_flask.app(environ, start_response)
    for prefix, app in (("/probe", it_probe.application), ("/echo", echo),
                        ("/slow", it_slow.application),
                        ("/filewrap", it_filewrap.application), ("/page", page),
                        ("/img/", image), ("/linger", linger)):
        if path.startswith(prefix):
            return app(environ, start_response)
    return it_big.application(environ, start_response)
