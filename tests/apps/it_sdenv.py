"""Socket-activation probe: answers JSON with the request's PATH_INFO, SERVER_PORT
and the process environment variables of socket activation and readiness
(LISTEN_*, NOTIFY_SOCKET), which wsgate must not pass on to the app (LISTEN_*)."""
import json
import os
from wsgiref.validate import validator


def sdenv(environ, start_response):
    out = {
        "path": environ.get("PATH_INFO", ""),
        "port": environ.get("SERVER_PORT", ""),
        "os": {k: v for k, v in os.environ.items()
               if k.startswith("LISTEN_") or k == "NOTIFY_SOCKET"},
    }
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(sdenv)
