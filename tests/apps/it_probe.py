"""Environ probe: answers JSON describing the environ it was called with.

Every str-valued key is returned as is; every other key's type is reported under
"types". With ?read=1 the body is read first (read(n) loop) and its length and
sha256 are included, so trailers or anything else merged into environ while the
body is read would show.
"""
import hashlib
import json
from urllib.parse import parse_qs
from wsgiref.validate import validator


def probe(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    out = {}
    if qs.get("read") == ["1"]:
        inp = environ["wsgi.input"]
        h = hashlib.sha256()
        n = 0
        while True:
            b = inp.read(8192)
            if not b:
                break
            n += len(b)
            h.update(b)
        out["body_len"] = n
        out["body_sha256"] = h.hexdigest()
    out["environ"] = {k: v for k, v in environ.items() if type(v) is str}
    out["types"] = {k: type(v).__name__ for k, v in environ.items() if type(v) is not str}
    out["wsgi.version"] = list(environ["wsgi.version"])
    for k in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
              "wsgi.input_terminated"):
        if k in environ:
            out[k] = environ[k]
    out["input_methods"] = sorted(m for m in ("read", "readline", "readlines", "__iter__")
                                  if hasattr(environ["wsgi.input"], m))
    out["errors_methods"] = sorted(m for m in ("write", "writelines", "flush")
                                   if hasattr(environ["wsgi.errors"], m))
    out["file_wrapper_callable"] = callable(environ.get("wsgi.file_wrapper"))
    body = json.dumps(out).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(probe)
raw = probe
