"""Answers which thread and process ran the request, as "pid thread-ident body":
the keep-alive carry tests (test_carry.py) see from it whether a connection's
requests stayed on one worker thread. The request body, if any, is read whole and
echoed after the two numbers."""
import os
import threading


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    out = b"%d %d " % (os.getpid(), threading.get_ident()) + body
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(out)))])
    return [out]
