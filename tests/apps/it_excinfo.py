"""start_response with exc_info (PEP 3333 error handling).

/before  start_response(200), then an error before any body: start_response(500,
         exc_info) replaces the status; the client sees the 500 and its body.
/after   start_response(200), write() some body (headers are out), then
         start_response(500, exc_info): it must re-raise, the server aborts.
/twice   start_response twice without exc_info: the second call must raise; the
         app lets it propagate, so the answer is a 500.
"""
import sys


def application(environ, start_response):
    p = environ.get("PATH_INFO", "")
    if p == "/before":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("boom")
        except ValueError:
            body = b"handled error"
            start_response("500 Internal Server Error",
                           [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))], sys.exc_info())
        return [body]
    if p == "/after":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"partial;")
        try:
            raise ValueError("boom after headers")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())
        return [b"MUST-NOT-BE-SENT"]
    if p == "/twice":
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"MUST-NOT-BE-SENT"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such case"]
