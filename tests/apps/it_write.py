"""Uses the write() callable returned by start_response.

/write-only  three write() calls, returns []
/mixed       write("one;"), write("two;"), returns ["three;", "four;"]
/cl          declares Content-Length 12, write("hello "), returns ["world!"]
/empty       write(b"") then returns [b"x"]
"""
from wsgiref.validate import validator


def app(environ, start_response):
    p = environ.get("PATH_INFO", "")
    if p == "/cl":
        write = start_response("200 OK", [("Content-Type", "text/plain"),
                                          ("Content-Length", "12")])
        write(b"hello ")
        return [b"world!"]
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    if p == "/write-only":
        write(b"one;")
        write(b"two;")
        write(b"three;")
        return []
    if p == "/empty":
        write(b"")
        return [b"x"]
    write(b"one;")
    write(b"two;")
    return [b"three;", b"four;"]


application = validator(app)
