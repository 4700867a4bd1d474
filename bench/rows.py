"""What bench/ measures: the rows (an app of bench/apps, a connection count, the thread
count every threaded server gets, the wrk script, and for the slow-clients row the
clients that ask for SLOW_PATH and never read), and check(), the one request that
proves a server answers a row's app correctly before it is timed (wrk itself only
counts statuses >= 400 and socket errors, never looks at bodies).
"""
import http.client
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PATTERN_1M = bytes(range(256)) * 4096  # what apps/big.py and apps/chunks.py send
FILE_SIZE = 16 << 20  # apps/filewrap.py's file
SLEEP = 0.05  # apps/sleep.py
SLOW_PATH = "/8mib"  # apps/hello_slow.py: one 8 MiB bytes object
SLOW_BODY = PATTERN_1M * 8
SLOW_CLIENTS = 64  # the slow-clients row's clients that never read (--slow-clients)


class Row:
    def __init__(self, key, title, app, conns, threads=8, script="report.lua", nginx=False,
                 slow=False):
        self.key = key
        self.title = title
        self.app = app  # module in bench/apps, callable `app`
        self.conns = conns
        self.threads = threads
        self.script = os.path.join(HERE, script)
        self.nginx = nginx  # the servers are nginx backends (servers.NGINX_BACKENDS)
        # slow: during every timed run, other clients hold responses of SLOW_PATH they
        # never read (run.py); a peer that gives them its threads may serve wrk nothing
        self.slow = slow

    @property
    def ideal(self):
        """sleep rows: the most requests/s `threads` threads can serve."""
        return self.threads / SLEEP if self.app == "sleep" else None

    @property
    def method(self):
        return "POST" if self.app == "echo" else "GET"


ROWS = [
    Row("hello-1", "hello, 1 connection", "hello", 1),
    Row("hello-64", "hello, 64 connections", "hello", 64),
    Row("hello-256", "hello, 256 connections", "hello", 256),
    Row("big", "big: one 1 MiB bytes object, 16 connections", "big", 16),
    Row("chunks", "chunks: 1 MiB as 64 yielded chunks, no Content-Length, 16 connections",
        "chunks", 16),
    Row("file", "file: 16 MiB through wsgi.file_wrapper, 16 connections", "filewrap", 16),
    Row("echo", "echo: 1 MiB POST read through wsgi.input and sent back, 16 connections",
        "echo", 16, script="echo.lua"),
    Row("sleep-64", "sleep 50 ms, 64 connections, 16 threads", "sleep", 64, threads=16),
    Row("sleep-256", "sleep 50 ms, 256 connections, 256 threads", "sleep", 256, threads=256),
    Row("flask", "Flask hello route, 64 connections", "flask_hello", 64),
    Row("slow-clients", "hello, 64 connections, while other clients hold 8 MiB responses "
        "they never read", "hello_slow", 64, slow=True),
    Row("nginx", "nginx in front (hello, 64 connections to nginx)", "hello", 64, nginx=True),
]
ROW_KEYS = [r.key for r in ROWS]

ECHO_BODY = b"0123456789abcdef" * 65536  # the same 1 MiB bench/echo.lua posts


def expected_body(row, file_path):
    if row.app in ("hello", "flask_hello", "hello_slow"):
        return b"Hello, World!\n"
    if row.app in ("big", "chunks"):
        return PATTERN_1M
    if row.app == "filewrap":
        with open(file_path, "rb") as f:
            return f.read()
    if row.app == "echo":
        return ECHO_BODY
    if row.app == "sleep":
        return b"slept 50 ms\n"
    raise ValueError(row.app)


def check(row, port, file_path, timeout=10.0, slow_path=False):
    """One request of the row's kind to 127.0.0.1:port; None when the answer is a 200
    with the expected body, else what was wrong. slow_path (slow rows): first the
    response the slow clients ask for, read whole."""
    if slow_path and row.slow:
        err = _get(port, SLOW_PATH, SLOW_BODY, timeout)
        if err:
            return err
    if row.method == "GET":
        return _get(port, "/", expected_body(row, file_path), timeout)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/", body=ECHO_BODY,
                     headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as e:
        return "%s / failed: %s: %s" % (row.method, type(e).__name__, e)
    finally:
        conn.close()
    return _verdict("POST /", resp, data, ECHO_BODY)


def _get(port, path, want, timeout):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as e:
        return "GET %s failed: %s: %s" % (path, type(e).__name__, e)
    finally:
        conn.close()
    return _verdict("GET " + path, resp, data, want)


def _verdict(what, resp, data, want):
    if resp.status != 200:
        return "%s answered %d %s: %r" % (what, resp.status, resp.reason, data[:200])
    if data != want:
        return "%s answered %d bytes, not the %d expected (first bytes %r)" % (
            what, len(data), len(want), data[:40])
    return None
