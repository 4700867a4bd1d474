"""The app of the --slow-log tests (tests/integration/test_slow_log.py).

  /slow?s=SECONDS   application -> slow_outer -> slow_inner -> time.sleep(s); 200 "slept"
  /quick            200 "ok" at once

The lines the stack must name are marked with "# frame:" comments; the test reads
them from this file.
"""
import time


def slow_inner(secs):
    time.sleep(secs)  # frame: slow_inner


def slow_outer(secs):
    slow_inner(secs)  # frame: slow_outer


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        secs = float(environ.get("QUERY_STRING", "").partition("s=")[2].partition("&")[0])
        slow_outer(secs)  # frame: application
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
