"""For Expect: 100-continue. Sleeps ?delay= seconds before touching wsgi.input,
then reads the body (read(n) loop) and answers its length. With ?noread=1 it
answers without ever reading the body."""
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator


def app(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    if qs.get("noread") == ["1"]:
        body = b"answered without reading"
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    time.sleep(float(qs.get("delay", ["0"])[0]))
    n = 0
    while True:
        b = environ["wsgi.input"].read(4096)
        if not b:
            break
        n += len(b)
    body = ("read %d" % n).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(app)
