"""Writes ?msg= to wsgi.errors (write, writelines, flush) and answers "logged"."""
from urllib.parse import parse_qs
from wsgiref.validate import validator


def app(environ, start_response):
    msg = parse_qs(environ.get("QUERY_STRING", "")).get("msg", ["hello"])[0]
    err = environ["wsgi.errors"]
    err.write("it_errors write %s\n" % msg)
    err.writelines(["it_errors writelines %s a\n" % msg, "it_errors writelines %s b\n" % msg])
    err.flush()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"logged"]


application = validator(app)
