"""The smallest app: a fixed plain-text greeting. `validated` is the same app wrapped
in wsgiref.validate, which checks environ, start_response and the iterable."""
from wsgiref.validate import validator


def application(environ, start_response):
    body = b"Hello, World!\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


validated = validator(application)
