"""Counts its calls: every request except GET /__log is recorded (method, path,
query, body length read, read error). GET /__log answers the record as JSON.
With ?noread=1 the body is left unread.
Used to prove that refused or smuggled requests never reach the app."""
import json
import threading
from wsgiref.validate import validator

_lock = threading.Lock()
_calls = []


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/__log" and environ["REQUEST_METHOD"] == "GET":
        with _lock:
            body = json.dumps(_calls).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    rec = {"method": environ["REQUEST_METHOD"], "path": path,
           "query": environ.get("QUERY_STRING", ""), "body_len": 0, "error": None}
    with _lock:
        _calls.append(rec)
    try:
        inp = environ["wsgi.input"]
        while "noread=1" not in rec["query"]:
            b = inp.read(8192)
            if not b:
                break
            rec["body_len"] += len(b)
    except Exception as e:  # report it, the test decides
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        raise
    body = ("called %s %s\n" % (rec["method"], path)).encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(app)
