"""The apps of the --https tests (tests/integration/test_tls.py) behind one server,
chosen by the first path segment: /probe (it_probe.py: the environ as JSON), /echo
(it_echo.py: the request body's length and sha256), /filewrap (it_filewrap.py), /pid
(the worker process's pid), and anything else it_big.py (/hello, /big?mode=&size=:
checkable large bodies).

With IT_TLS_HOLD=DIR in the environment, an import that finds DIR/hold creates
DIR/held and waits (up to a minute) until DIR/hold is gone: a test holds a reload's
new image there, after it has loaded its certificate, to change the files under it."""
import os
import time

import it_big
import it_echo
import it_filewrap
import it_probe

_hold = os.environ.get("IT_TLS_HOLD")
if _hold and os.path.exists(os.path.join(_hold, "hold")):
    open(os.path.join(_hold, "held"), "w").close()
    _until = time.monotonic() + 60
    while os.path.exists(os.path.join(_hold, "hold")) and time.monotonic() < _until:
        time.sleep(0.01)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/pid":
        body = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    for prefix, app in (("/probe", it_probe.application), ("/echo", it_echo.application),
                        ("/filewrap", it_filewrap.application)):
        if path.startswith(prefix):
            return app(environ, start_response)
    return it_big.application(environ, start_response)
