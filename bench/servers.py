"""The servers bench/ compares, and the life cycle of each started process.

A Spec says how one server is started (its argv for an app, a port and a thread
count) and how a client reaches it: directly over HTTP or HTTPS, or through nginx with
one of fastcgi_pass, scgi_pass, uwsgi_pass or proxy_pass (in the HTTPS rows, nginx
terminating TLS and proxying plain HTTP, bench/nginx-tls.conf.in; in the HTTP/2 rows
the same with http2 on its listener). A Proc is one
started process: pinned to SERVER_CPU with taskset, in its own session (so killpg
stops everything it forked), logging into the run's work dir, listed in LIVE until
stopped so that stop_all() can stop whatever is left on an error or Ctrl-C.

Every server runs as ONE process serving requests. gunicorn cannot: its arbiter
forks the one worker (-w 1), so its memory is the sum over both (memory is always
summed over the process tree). uWSGI runs without --master, one process.
"""
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
PYTHON = sys.executable  # the harness runs under /usr/bin/python3 (Makefile's PYTHON)
SERVER_CPU = "0"  # the server under test (the backend, in the nginx rows)
CLIENT_CPU = "1"  # wrk, and nginx in the nginx rows
BACKLOG = 1024  # listen(2) backlog given to every server (wsgate's default)

LIVE = []  # Procs started and not yet stopped


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Spec:
    """One server configuration. argv(ctx, app, port, threads) -> list; proto is "http"
    (wrk talks to it) or the nginx directive that reaches it ("fastcgi", "scgi",
    "uwsgi", "proxy"). threaded=False: one request at a time whatever the row's
    thread count (gunicorn sync, Tornado's WSGIContainer). front: None when wrk talks
    to the server itself, "nginx" (the nginx row, bench/nginx.conf.in), "nginx-tls"
    (the HTTPS rows, bench/nginx-tls.conf.in) or "nginx-h2" (the HTTP/2 rows, the same
    file with http2 on the listener) when wrk talks to nginx in front. scheme: how the
    load generator reaches it when that is not the row's (rows.Row.scheme): "http" for
    h2c in the HTTP/2 rows."""

    def __init__(self, key, label, argv, proto="http", threaded=True, pair=None, front=None,
                 scheme=None):
        self.key = key
        self.label = label
        self.argv = argv
        self.proto = proto
        self.threaded = threaded
        self.pair = pair  # nginx rows: the wsgate backend of the same protocol
        self.front = front if front else (None if proto == "http" else "nginx")
        self.is_wsgate = "wsgate" in key
        self.scheme = scheme


def _wsgate(option, *extra):
    def argv(ctx, app, port, threads):
        return [ctx.wsgate, "--threads", str(threads), option, "127.0.0.1:%d" % port] + \
            list(extra) + ["--pythonpath", APPS, "%s:app" % app]
    return argv


def _wsgate_https(*extra):
    def argv(ctx, app, port, threads):
        return [ctx.wsgate, "--threads", str(threads), "--https", "127.0.0.1:%d" % port,
                "--certfile", ctx.certfile, "--keyfile", ctx.keyfile] + list(extra) + \
            ["--pythonpath", APPS, "%s:app" % app]
    return argv


def _uwsgi(option, *extra):
    # No --master: one process. --listen: the same backlog as the others (uWSGI's
    # default is 100). --disable-logging: no per-request log line, like the others.
    def argv(ctx, app, port, threads):
        return ["uwsgi", "--plugin", "python3", option, "127.0.0.1:%d" % port,
                "--wsgi-file", os.path.join(APPS, app + ".py"), "--callable", "app",
                "--threads", str(threads), "--listen", str(BACKLOG),
                "--disable-logging"] + list(extra)
    return argv


def _gunicorn(worker, tls=False):
    def argv(ctx, app, port, threads):
        a = ["gunicorn", "--workers", "1", "--worker-class", worker]
        if worker == "gthread":
            a += ["--threads", str(threads)]
        if tls:
            a += ["--certfile", ctx.certfile, "--keyfile", ctx.keyfile]
        return a + ["--bind", "127.0.0.1:%d" % port, "--backlog", str(BACKLOG),
                    "--pythonpath", APPS, "%s:app" % app]
    return argv


def _pyserve(kind):
    def argv(ctx, app, port, threads):
        return [PYTHON, os.path.join(HERE, "pyserve.py"), kind, "--port", str(port),
                "--threads", str(threads), "--backlog", str(BACKLOG), "--pythonpath", APPS,
                "%s:app" % app]
    return argv


HTTP_SERVERS = [
    Spec("wsgate", "wsgate", _wsgate("--http")),
    Spec("uwsgi-http11", "uWSGI http11-socket", _uwsgi("--http11-socket")),
    # uWSGI's --http-socket closes the connection after every response without saying
    # so: an HTTP/1.1 response with no "Connection: close", which wrk (like any HTTP/1.1
    # client) takes for a kept connection, and counts a read error per request. uWSGI's
    # --add-header makes the close explicit.
    Spec("uwsgi-http", "uWSGI http-socket", _uwsgi("--http-socket", "--add-header",
                                                   "Connection: close")),
    Spec("gunicorn-gthread", "gunicorn gthread", _gunicorn("gthread")),
    Spec("gunicorn-sync", "gunicorn sync", _gunicorn("sync"), threaded=False),
    Spec("waitress", "waitress", _pyserve("waitress")),
    Spec("tornado", "Tornado WSGIContainer", _pyserve("tornado"), threaded=False),
]

NGINX_BACKENDS = [
    Spec("nginx-wsgate-fastcgi", "wsgate FastCGI (fastcgi_pass)", _wsgate("--fastcgi"),
         proto="fastcgi"),
    Spec("nginx-wsgate-scgi", "wsgate SCGI (scgi_pass)", _wsgate("--scgi"), proto="scgi"),
    Spec("nginx-wsgate-uwsgi", "wsgate uwsgi (uwsgi_pass)", _wsgate("--uwsgi"), proto="uwsgi"),
    Spec("nginx-wsgate-http", "wsgate HTTP (proxy_pass)", _wsgate("--http"), proto="proxy"),
    Spec("nginx-uwsgi-uwsgi", "uWSGI uwsgi (uwsgi_pass)", _uwsgi("--socket"), proto="uwsgi",
         pair="nginx-wsgate-uwsgi"),
    Spec("nginx-uwsgi-fastcgi", "uWSGI FastCGI (fastcgi_pass)", _uwsgi("--fastcgi-socket"),
         proto="fastcgi", pair="nginx-wsgate-fastcgi"),
    Spec("nginx-uwsgi-scgi", "uWSGI SCGI (scgi_pass)", _uwsgi("--scgi-socket"), proto="scgi",
         pair="nginx-wsgate-scgi"),
    Spec("nginx-gunicorn-http", "gunicorn gthread (proxy_pass)", _gunicorn("gthread"),
         proto="proxy", pair="nginx-wsgate-http"),
]

# The HTTPS rows: wsgate terminating TLS itself, gunicorn doing the same (Python's ssl
# module, the same OpenSSL), and nginx terminating TLS in front of wsgate's plain HTTP
# (proxy_pass, as the nginx row's wsgate HTTP backend).
HTTPS_SERVERS = [
    Spec("wsgate-https", "wsgate --https", _wsgate_https()),
    Spec("nginx-tls-wsgate", "nginx TLS in front of wsgate HTTP (proxy_pass)",
         _wsgate("--http"), proto="proxy", front="nginx-tls"),
    Spec("gunicorn-https", "gunicorn gthread --certfile", _gunicorn("gthread", tls=True)),
]

# The HTTP/2 rows (issue 15): wsgate's h2 (TLS, ALPN) and h2c (prior knowledge, plain)
# and nginx terminating h2 in front of wsgate's plain HTTP/1.1 (proxy_pass, connections
# kept, as in the HTTPS rows). --h2 and --h2c are given even should they become the
# default (they stay accepted).
H2_SERVERS = [
    Spec("wsgate-h2", "wsgate --https --h2", _wsgate_https("--h2")),
    Spec("wsgate-h2c", "wsgate --http --h2c", _wsgate("--http", "--h2c"), scheme="http"),
    Spec("nginx-h2-wsgate", "nginx h2 in front of wsgate HTTP/1.1 (proxy_pass)",
         _wsgate("--http"), proto="proxy", front="nginx-h2"),
]

ALL_SPECS = {s.key: s for s in HTTP_SERVERS + NGINX_BACKENDS + HTTPS_SERVERS + H2_SERVERS}


# ---------------------------------------------------------------- issue 18's extra servers
# Servers only some rows run (run.py adds ROW_EXTRAS[row key] to the row's servers):
# nginx answering the hello rows itself (`return 200`, bench/nginx-return.conf.in), the
# reference for what serving a request costs without an application; and wsgate with
# two worker processes (`--processes 2`, the prefork master and its workers) on the
# flask row beside the usual one. Both are pinned to CPU 0 like every server (taskset's
# affinity is inherited by nginx's worker and wsgate's forked workers): the -w 2 figures
# are what prefork costs on the same core, not what a second core would add.

def _nginx_return(ctx, app, port, threads):
    """nginx's argv for the nginx-return server; writes its configuration into a new
    directory of ctx.tmp (the page's display passes a ctx without tmp: DIR)."""
    binary = "nginx"
    d = "DIR"
    if getattr(ctx, "tmp", None):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        d = tempfile.mkdtemp(prefix="nginx-return-", dir=ctx.tmp)
        os.chmod(d, 0o755)  # nginx's worker runs as nobody when we are root
        os.makedirs(os.path.join(d, "tmp"))
        with open(os.path.join(HERE, "nginx-return.conf.in")) as f:
            conf = string.Template(f.read()).substitute(
                dir=d, port=port, backlog=BACKLOG,
                user="user nobody nogroup;\n" if os.geteuid() == 0 else "")
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)
    return [binary, "-p", d + "/", "-c", d + "/nginx.conf", "-e", d + "/error.log",
            "-g", "daemon off;"]


def _wsgate_w2(ctx, app, port, threads):
    return _wsgate("--http")(ctx, app, port, threads) + ["--processes", "2"]


NGINX_RETURN = Spec("nginx-return", "nginx return 200", _nginx_return)
WSGATE_W2 = Spec("wsgate-w2", "wsgate --processes 2", _wsgate_w2)
ROW_EXTRAS = {"hello-1": [NGINX_RETURN], "hello-64": [NGINX_RETURN],
              "hello-256": [NGINX_RETURN], "flask": [WSGATE_W2]}
ALL_SPECS.update((s.key, s) for s in (NGINX_RETURN, WSGATE_W2))

# The connection-scaling rows (run.py, run_scaling): the hello app at each of these
# numbers of keep-alive connections (run.py --scale-conns), served by these servers
# with the hello rows' settings.
SCALE_SERVERS = ["wsgate", "uwsgi-http11", "waitress"]
SCALE_CONNS = [1, 64, 256, 1024, 10000]
SCALE_CONNS_SMOKE = [1, 64, 256]
WSGATE_QUEUE = 1024  # wsgate's --queue default: requests waiting for a free thread


def scale_spec(key, n):
    """The spec of server `key` in the scaling row of n connections, and the options
    added to its usual command (""). wsgate answers 503 to a request that finds
    --queue requests already waiting for a thread; with one request in flight per
    connection, more connections than that would measure its refusals, so it gets
    --queue n there (what a deployment expecting that many busy clients sets)."""
    spec = ALL_SPECS[key]
    if key != "wsgate" or n <= WSGATE_QUEUE:
        return spec, ""
    extra = ["--queue", str(n)]

    def argv(ctx, app, port, threads):
        return spec.argv(ctx, app, port, threads) + extra
    return Spec(spec.key, spec.label, argv), " ".join(extra)

# What a peer server is known to do wrong in a row, checked by hand (see the page):
# such a run's errors, or its lack of completed requests, are reported with this
# explanation instead of failing the run. comparable: whether its req/s still means
# the same as the others' (else the page shows no ratio). Never an entry for wsgate.
KNOWN_ISSUES = {
    ("chunks", "uwsgi-http11"): {
        "comparable": False,
        "text": "uWSGI's --http11-socket sends a body without Content-Length unframed (not "
                "chunked) and leaves the connection open, so the client sees the end of the "
                "response only when uWSGI closes the idle connection about 4 s later: every "
                "response takes 4 s (a 1 s run completes none)"},
    ("chunks", "uwsgi-http"): {
        "comparable": True,
        "text": "uWSGI's --http-socket ends a body without Content-Length by closing the "
                "connection (correct, with the Connection: close it was told to add); wrk "
                "counts a read error for every response that ends with a close"},
    ("https-newconn-full", "gunicorn-https"): {
        "comparable": True,
        "text": "gunicorn closes a TLS connection without a close_notify alert (`openssl "
                "s_client` says: unexpected eof while reading); ab takes such a close for "
                "a broken response and counts every one as failed (Length), though each "
                "response arrived whole"},
}


class StartError(Exception):
    pass


class Proc:
    """One started process (a server, nginx or wrk) and its log file."""

    def __init__(self, name, argv, logdir, cpu, env=None, fresh_log=False):
        self.name = name
        self.argv = ["taskset", "-c", cpu] + list(argv)
        self.log_path = os.path.join(logdir, "%s.log" % name)
        self.env = env
        self.fresh_log = fresh_log  # truncate the log at start rather than append
        self.popen = None

    def start(self):
        with open(self.log_path, "wb" if self.fresh_log else "ab") as log:
            if not self.fresh_log:
                log.write(("\n$ %s\n" % " ".join(self.argv)).encode())
                log.flush()
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, env=self.env,
                                          start_new_session=True)
        LIVE.append(self)
        return self

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, n=2000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, grace=5.0):
        """SIGTERM to the process group, SIGKILL after `grace` seconds; then SIGKILL to
        the group again for children left behind. Returns the exit status (None if
        it had to be killed)."""
        if self.popen is None:
            return None
        status = self.popen.poll()
        if status is None:
            _killpg(self.pid, signal.SIGTERM)
            try:
                status = self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
                status = None
        _killpg(self.pid, signal.SIGKILL)
        if self in LIVE:
            LIVE.remove(self)
        return status


def _killpg(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all():
    """Stop every process still running (error paths, Ctrl-C)."""
    for p in list(LIVE):
        p.stop(grace=2.0)


def wait_listening(proc, port, timeout=30.0):
    """Until something accepts connections on 127.0.0.1:port; StartError if the
    process exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise StartError("%s exited with status %s before listening:\n%s"
                             % (proc.name, proc.popen.returncode, proc.log_tail()))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StartError("%s: nothing listens on port %d after %.0f s:\n%s"
                             % (proc.name, port, timeout, proc.log_tail()))
        time.sleep(0.05)


# ---------------------------------------------------------------- memory

def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree_pids(root):
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def rss_kib(root):
    """VmRSS summed over the process tree rooted at `root`, in KiB."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_seconds(root):
    """User + system CPU time of the process tree rooted at `root` so far, in seconds
    (a process's own figure includes its threads, finished ones too)."""
    ticks = 0
    for pid in tree_pids(root):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_jiffies():
    """{cpu number: (busy, total)} from /proc/stat, in clock ticks."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            v = [int(x) for x in vals]
            idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
            out[int(name[3:])] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def accept_state(port):
    """The listener on 127.0.0.1:port as /proc/net/tcp shows it: (connections in its
    accept queue, set of the client ports of connections not accepted yet). A
    connection the server has not accepted has no socket inode (0) yet."""
    local = "0100007F:%04X" % port
    queued, waiting = 0, set()
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[1] != local:
                    continue
                if fields[3] == "0A":  # LISTEN: rx_queue is the accept queue
                    queued = int(fields[4].split(":")[1], 16)
                elif fields[3] == "01" and fields[9] == "0":  # ESTABLISHED, no socket yet
                    waiting.add(fields[2])
    except OSError:
        pass
    return queued, waiting
