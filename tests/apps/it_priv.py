"""For the privilege tests (--user, --group): answers, as JSON, who the process
running the app is: its pid, real and effective user and group ids and its
supplementary groups. With IT_PRIV_MARK=PATH in the environment, importing it
appends the importing process's uid to PATH (a refused start must leave no line)."""
import json
import os
from wsgiref.validate import validator

if os.environ.get("IT_PRIV_MARK"):
    with open(os.environ["IT_PRIV_MARK"], "a") as _f:
        _f.write("%d\n" % os.getuid())


def app(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "uid": os.getuid(), "euid": os.geteuid(),
                       "gid": os.getgid(), "egid": os.getegid(),
                       "groups": sorted(os.getgroups())}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(app)
