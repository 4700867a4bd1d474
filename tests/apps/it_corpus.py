"""Reports what the server parsed, for the gunicorn request corpus: method,
REQUEST_URI, SERVER_PROTOCOL, the HTTP_*/CONTENT_* keys and the whole body
(base64) as JSON. Every call is also recorded (URI, environ after the body was
read, read error); GET /__log?it-corpus answers the record."""
import base64
import json
import threading
from wsgiref.validate import validator

_lock = threading.Lock()
_calls = []


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/__log" and environ.get("QUERY_STRING") == "it-corpus":
        with _lock:
            _calls[:] = [c for c in _calls]
            body = json.dumps(_calls).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    rec = {"uri": environ.get("REQUEST_URI"), "error": None,
           "env": {k: v for k, v in environ.items() if type(v) is str}}
    with _lock:
        _calls.append(rec)
    data = b""
    try:
        while True:
            b = environ["wsgi.input"].read(65536)
            if not b:
                break
            data += b
    except Exception as e:
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        raise
    out = {"method": environ["REQUEST_METHOD"], "uri": environ.get("REQUEST_URI"),
           "protocol": environ["SERVER_PROTOCOL"],
           "headers": {k: v for k, v in environ.items()
                       if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")},
           "body_b64": base64.b64encode(data).decode()}
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(app)
