"""For the privilege tests (--user, --group): answers, as JSON, who the process
running the app is: its pid, real and effective user and group ids and its
supplementary groups."""
import json
import os
from wsgiref.validate import validator


def app(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "uid": os.getuid(), "euid": os.geteuid(),
                       "gid": os.getgid(), "egid": os.getegid(),
                       "groups": sorted(os.getgroups())}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(app)
