"""Sleeps ?t= seconds, then answers JSON with its start/end times and thread.
?mark=PATH is created when the app starts (so a test knows the request is in
flight); ?until=PATH ends the sleep early once PATH exists (?t= is then the most it
waits); ?body=N pads the answer to N bytes."""
import json
import os
import threading
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator


def slow(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    mark = qs.get("mark", [None])[0]
    if mark:
        with open(mark + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(mark + ".tmp", mark)
    start = time.time()
    until = qs.get("until", [None])[0]
    most = float(qs.get("t", ["0"])[0])
    if until:
        while not os.path.exists(until) and time.time() - start < most:
            time.sleep(0.01)
    else:
        time.sleep(most)
    out = {"start": start, "end": time.time(), "thread": threading.get_ident(),
           "path": environ.get("PATH_INFO")}
    body = json.dumps(out).encode()
    pad = int(qs.get("body", ["0"])[0])
    if pad > len(body):
        body += b" " * (pad - len(body))
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(slow)
