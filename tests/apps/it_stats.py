"""For the metrics and access-log tests: answers the status in the path
(/status/404 -> 404; anything else 200) with a body of ?body=N bytes (default 10),
after reading the whole request body and sleeping ?t= seconds. ?mark=PATH is created
when the app starts, so a test knows the request is in flight. ?hold=N allocates N MiB
and keeps them for the life of the process (--max-rss)."""
import os
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

HELD = []
REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 201: "Created"}


def app(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    mark = qs.get("mark", [None])[0]
    if mark:
        with open(mark + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(mark + ".tmp", mark)
    inp = environ["wsgi.input"]
    while inp.read(65536):
        pass
    time.sleep(float(qs.get("t", ["0"])[0]))
    hold = int(qs.get("hold", ["0"])[0])
    if hold:
        HELD.append(b"h" * (hold << 20))  # written, so resident
    path = environ.get("PATH_INFO", "")
    status = 200
    if path.startswith("/status/"):
        status = int(path[len("/status/"):])
    body = b"x" * int(qs.get("body", ["10"])[0])
    start_response("%d %s" % (status, REASONS.get(status, "Whatever")),
                   [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = validator(app)
