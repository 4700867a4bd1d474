"""The load side of bench/: one wrk run against a port, and the idle keep-alive test.

run_wrk() starts wrk pinned to CLIENT_CPU with one thread, waits for it, and returns
the figures of the "WRK-JSON" line bench/report.lua prints (in the handshake rows,
`openssl s_time` or ab instead of wrk: see s_time_argv and ab_argv; in the HTTP/2 rows
h2load, h2load_argv), plus these of our own:

- queue: the most connections seen in the server's accept queue, sampled at 50% and
  75% of the run (wrk's: the slow clients of the slow-clients row are left out).
- stuck: connections that sat in the accept queue at both samples. wrk measures only
  requests that complete: a connection the server does not accept for the whole run
  (each uWSGI thread keeps serving one keep-alive connection) is invisible in its
  figures, but shows here. A server that serves one request at a time (gunicorn sync)
  has a queue too, but its connections move through it.
- rss_run_kib: the RSS of the server's process tree, the most of the two samples.
- cpu_us_req: CPU time (user + system) the server's process tree used during the run,
  divided by the requests wrk completed: what a request costs the server, whichever
  side was the bottleneck.
- server_cpu_busy, client_cpu_busy: how busy the server's CPU and the client's CPU
  (wrk, and nginx in the nginx rows) were during the run, 0..1 from /proc/stat. A row
  whose client CPU is saturated while the server's is not measures the client.
- syscalls_req, switches_req (with `count`): system calls and context switches of the
  server's process tree during the run, divided by the requests wrk completed; counted by
  `perf stat -e raw_syscalls:sys_enter,context-switches -p PIDS` (class Perf) attached
  to every process of the tree (their threads, and threads started later, included)
  from before wrk starts until it has exited. Machine-independent, unlike req/s: on
  loopback a system call costs about a microsecond, so at a few per request they
  decide the small-response rows. None ("n/a" on the page) when perf is missing or
  cannot attach (perf_note says why); front_syscalls_req and front_switches_req are
  the same for a front server (nginx's master and worker, in the nginx row).
- front_cpu_us_req: the CPU time of the front server's processes (nginx) per request,
  when there is one.

idle_connections() opens N HTTP/1.1 connections, one completed request each, and
keeps them open, for the memory per idle connection.

SlowClients (the slow-clients row) opens N connections with a small receive buffer
(SO_RCVBUF set before connect, so the TCP window stays small), each asking for a
large response it never reads, and waits until the server has taken them all in:
each is answered (response bytes arrived), or the server stopped making progress
with them (no change for a while: its threads are all blocked on the ones it
answered, the others wait). They stay open during the timed run and are reset
(SO_LINGER 0) after it.
"""
import array
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import termios
import time

import servers

WRK_TIMEOUT_S = 30  # wrk --timeout: a completed request slower than this is an error
PERF_EVENTS = ("raw_syscalls:sys_enter", "context-switches")
PERF_ATTACH_S = 10.0  # how long perf may take to open its counters


def perf_binary():
    return shutil.which("perf") or ("/usr/bin/perf" if os.path.exists("/usr/bin/perf")
                                    else None)


def _perf_fds(pid):
    """How many perf_event file descriptors process pid holds (None once it is gone)."""
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    n = 0
    for name in names:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, name)) == "anon_inode:[perf_event]":
                n += 1
        except OSError:
            pass
    return n


class Perf:
    """`perf stat` counting PERF_EVENTS in the processes `pids` (all their threads).

    start() returns once perf has opened its counters (it holds one file descriptor
    per event and thread: wait until it holds as many as the threads counted just
    before, or the number stops growing), so that what follows is counted; stop()
    interrupts it (perf prints its totals on SIGINT) and returns {event: count}, or
    None with self.note saying why (perf missing, not allowed, or its output
    unreadable). A thread that never ran while counted is "<not counted>": 0.

    Counting slows the counted threads: a tracepoint hit on every system call, and the
    per-thread counters switched out and in with every context switch (measured at
    hello, 64 connections: about 1 µs more CPU per request for wsgate, some 9%, and
    4 µs for uWSGI http11, some 20%),
    so run.py counts in runs of their own. perf's -D/--control (start disabled,
    enable on a signal) would have been the way to count only wrk's run, but perf
    6.1 with -p then counts nothing; hence the wait for its file descriptors."""

    def __init__(self, name, pids, logdir):
        self.name = name
        self.pids = list(pids)
        self.logdir = logdir
        self.proc = None
        self.note = None
        self.out_path = os.path.join(logdir, "%s.out" % name)

    def start(self):
        binary = perf_binary()
        if binary is None:
            self.note = "perf not installed"
            return self
        threads = 0
        for pid in self.pids:
            try:
                threads += len(os.listdir("/proc/%d/task" % pid))
            except OSError:
                pass
        argv = [binary, "stat", "-e", ",".join(PERF_EVENTS), "-x", ",", "-o", self.out_path,
                "-p", ",".join(str(p) for p in self.pids)]
        self.proc = servers.Proc(self.name, argv, self.logdir, servers.CLIENT_CPU,
                                 fresh_log=True).start()
        want = threads * len(PERF_EVENTS)
        deadline = time.monotonic() + PERF_ATTACH_S
        last, same = -1, 0
        while time.monotonic() < deadline:
            n = _perf_fds(self.proc.pid)
            if n is None or not self.proc.alive():
                self.note = "perf exited: %s" % self._log_line()
                self.proc.stop(grace=1.0)
                self.proc = None
                return self
            same = same + 1 if n == last and n > 0 else 0
            last = n
            if n >= want or same >= 3:
                time.sleep(0.02)  # perf enables the counters once all are open
                return self
            time.sleep(0.01)
        self.note = "perf did not attach within %.0f s" % PERF_ATTACH_S
        self.proc.stop(grace=1.0)
        self.proc = None
        return self

    def _log_line(self):
        lines = [ln.strip() for ln in self.proc.log_tail().splitlines() if ln.strip()]
        return lines[-1] if lines else "no message"

    def stop(self):
        if self.proc is None:
            return None
        try:
            os.kill(self.proc.pid, signal.SIGINT)
            self.proc.popen.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        status = self.proc.stop(grace=1.0)
        counts = {}
        try:
            with open(self.out_path) as f:
                for line in f:
                    fields = line.strip().split(",")
                    if len(fields) < 3 or fields[2] not in PERF_EVENTS:
                        continue
                    if fields[0] == "<not counted>":
                        counts[fields[2]] = 0
                    elif fields[0].isdigit():
                        counts[fields[2]] = int(fields[0])
        except OSError:
            pass
        missing = [e for e in PERF_EVENTS if e not in counts]
        if missing:
            self.note = "perf (status %s) counted no %s: %s" % (
                status, ", ".join(missing), self._log_line())
            return None
        return counts


class MalformedOutput(Exception):
    pass


def wrk_argv(row, url, duration, log_file="FILE"):
    """The load generator's command line, without the taskset prefix Proc adds: wrk,
    or s_time_argv for a handshake row, ab_argv, or h2load_argv for an HTTP/2 row
    (writing its per-request log to log_file)."""
    if row.h2:
        return h2load_argv(row, url, duration, log_file)
    if row.s_time:
        return s_time_argv(row, url, duration)
    if row.ab:
        return ab_argv(row, url, duration)
    return ["wrk", "-t1", "-c%d" % row.conns, "-d%ds" % duration,
            "--timeout", "%ds" % WRK_TIMEOUT_S, "--latency", "-s", row.script, url]


def s_time_argv(row, url, duration):
    """`openssl s_time`: for `duration` seconds, one connection after another, each a
    TCP connection, a TLS handshake (-new: full, a new session each time; -reuse:
    resuming the session of its first connection), `GET / HTTP/1.0` and the response
    read until the server closes. It checks no certificate (its default), as wrk."""
    hostport = url.split("://", 1)[1].rstrip("/")
    return ["openssl", "s_time", "-connect", hostport, row.s_time, "-time", str(duration),
            "-www", "/"]


def h2load_argv(row, url, duration, log_file):
    """h2load (nghttp2-client), one thread: `row.conns` connections with `row.h2`
    concurrent streams each, for `duration` seconds (-D: requests still in flight at
    the end are neither done nor failed). Over https:// it negotiates h2 by ALPN (and
    fails when the server does not choose it); over http:// it speaks h2c with prior
    knowledge. --log-file: one line per request (start, status, microseconds to the
    end of the response), from which parse_h2load takes the latency percentiles."""
    return ["h2load", "-t1", "-c%d" % row.conns, "-m%d" % row.h2, "-D%d" % duration,
            "--log-file=%s" % log_file, url]


_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6}


def _h2load_time_us(text):
    m = re.match(r"^([\d.]+)(us|ms|s)$", text)
    if m is None:
        raise MalformedOutput("unreadable h2load time %r" % text)
    return float(m.group(1)) * _UNITS_US[m.group(2)]


def _percentile(sorted_vals, p):
    """Nearest rank: the smallest value at or above which lie p% of the values."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, -(-len(sorted_vals) * p // 100) - 1))
    return sorted_vals[int(k)]


def parse_h2load(out, log_path):
    """The figures of h2load's output, or MalformedOutput: requests are its succeeded
    ones (status 2xx or 3xx), errors its failed ones (which include the errored
    ones, streams reset or connections lost: `read` here, and statuses of 400 and
    more: `status`); latency mean and max from its "time for request" line, the
    percentiles from its per-request log (the requests that got a status). proto: the
    protocol it spoke (h2 or h2c; anything else is malformed: the row measures HTTP/2)."""
    m = re.search(r"^finished in ([\d.]+(?:us|ms|s)), ", out, re.M)
    if m is None:
        raise MalformedOutput("no \"finished in\" line")
    secs = _h2load_time_us(m.group(1)) / 1e6
    if secs <= 0:
        raise MalformedOutput("zero duration")
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout$", out, re.M)
    if m is None:
        raise MalformedOutput("no \"requests:\" line")
    done, ok, failed, errored, timeout = (int(m.group(i)) for i in (3, 4, 5, 6, 7))
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx$", out, re.M)
    if m is None:
        raise MalformedOutput("no \"status codes:\" line")
    bad_status = int(m.group(3)) + int(m.group(4))
    m = re.search(r"^traffic: \S+ \((\d+)\) total", out, re.M)
    if m is None:
        raise MalformedOutput("no \"traffic:\" line")
    nbytes = int(m.group(1))
    proto = re.search(r"^Application protocol: (\S+)$", out, re.M)
    if proto is None or proto.group(1) not in ("h2", "h2c"):
        raise MalformedOutput("h2load spoke %s, not HTTP/2" % (
            proto.group(1) if proto else "no protocol"))
    mean = mx = None
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s", out, re.M)
    if m is not None and done:
        mx, mean = _h2load_time_us(m.group(2)), _h2load_time_us(m.group(3))
    lat = []
    try:
        with open(log_path) as f:
            for line in f:
                fields = line.split("\t")
                if len(fields) == 3 and int(fields[1]) > 0:
                    lat.append(int(fields[2]))
    except (OSError, ValueError) as e:
        raise MalformedOutput("h2load's request log: %s" % e)
    lat.sort()
    r = {"duration_us": int(secs * 1e6), "requests": ok, "bytes": nbytes,
         "connect": 0, "read": failed - bad_status, "write": 0, "status": bad_status,
         "timeout": timeout, "errored": errored,
         "lat_mean_us": mean, "lat_max_us": mx, "p50_us": _percentile(lat, 50),
         "p90_us": _percentile(lat, 90), "p99_us": _percentile(lat, 99),
         "logged": len(lat), "proto": proto.group(1)}
    r["rps"] = ok / secs
    r["mbps"] = nbytes / secs / 1e6
    r["errors"] = failed
    return r


AB_MAX_REQUESTS = 500000  # ab sizes a table of this many (40 bytes each) at start


def ab_argv(row, url, duration):
    """ApacheBench: `row.conns` connections for `duration` seconds, each request
    `GET / HTTP/1.0` on a new connection (no -k), a new TLS session every time (ab
    never offers one again: full handshakes); -r: a failed receive is counted, not
    fatal. -n after -t: -t alone stops at 50,000 requests."""
    return ["ab", "-q", "-r", "-c", str(row.conns), "-t", str(duration), "-n",
            str(AB_MAX_REQUESTS), url]


def parse_ab(out):
    """The figures of ab's output, or MalformedOutput. Its percentiles are whole
    milliseconds; errors: its failed requests (connect, receive, length, exceptions)
    plus non-2xx responses (all counted as `read` and `status`)."""
    def field(name, conv=int, default=None):
        m = re.search(r"^%s:\s+([\d.]+)" % re.escape(name), out, re.M)
        if m is None:
            if default is not None:
                return default
            raise MalformedOutput("no %r line" % name)
        return conv(m.group(1))

    secs = field("Time taken for tests", float)
    if secs <= 0:
        raise MalformedOutput("zero duration")
    n = field("Complete requests")
    failed = field("Failed requests")
    non2xx = field("Non-2xx responses", default=0)
    nbytes = field("Total transferred", default=0)
    pct = dict((int(p), int(v)) for p, v in re.findall(r"^\s+(\d+)%\s+(\d+)", out, re.M))
    proto = re.search(r"^SSL/TLS Protocol:\s+(\S+)", out, re.M)
    r = {"duration_us": int(secs * 1e6), "requests": n, "bytes": nbytes,
         "connect": 0, "read": failed, "write": 0, "status": non2xx, "timeout": 0,
         "lat_mean_us": None, "lat_max_us": pct.get(100, 0) * 1000,
         "p50_us": pct[50] * 1000 if 50 in pct else None,
         "p90_us": pct[90] * 1000 if 90 in pct else None,
         "p99_us": pct[99] * 1000 if 99 in pct else None,
         "tls": proto.group(1) if proto else None}
    r["rps"] = n / secs
    r["mbps"] = nbytes / secs / 1e6
    r["errors"] = failed + non2xx
    return r


def parse_s_time(out, wall_s):
    """The figures of s_time's output, or MalformedOutput: connections are requests,
    the rate is over `wall_s`, the seconds the process ran (s_time's own "real
    seconds" are whole seconds). It prints one character per connection: "r" for a
    resumed session, "*" for a full handshake (TLS 1.2 and 1.3). No latencies (None)."""
    m = re.search(r"^(\d+) connections in [\d.]+s; [\d.]+ connections/user sec, bytes "
                  r"read (\d+)$", out, re.M)
    if m is None:
        raise MalformedOutput("no \"N connections in Xs; ... bytes read N\" line")
    if wall_s <= 0:
        raise MalformedOutput("zero duration")
    n, nbytes = int(m.group(1)), int(m.group(2))
    marks = "".join(ln for ln in out[:m.start()].splitlines() if ln and set(ln) <= set("r*t3"))
    resumed = marks.count("r")
    full = len(marks) - resumed
    r = {"duration_us": int(wall_s * 1e6), "requests": n, "bytes": nbytes,
         "connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0,
         "lat_mean_us": None, "lat_max_us": None, "p50_us": None, "p90_us": None,
         "p99_us": None, "resumed": resumed, "full": full}
    r["rps"] = n / wall_s
    r["mbps"] = nbytes / wall_s / 1e6
    r["errors"] = 0
    return r


def parse_wrk(out):
    """The figures of wrk's output, or MalformedOutput."""
    lines = [ln for ln in out.splitlines() if ln.startswith("WRK-JSON ")]
    if len(lines) != 1:
        raise MalformedOutput("expected one WRK-JSON line, found %d" % len(lines))
    try:
        r = json.loads(lines[0][len("WRK-JSON "):])
    except ValueError as e:
        raise MalformedOutput("WRK-JSON line is not JSON: %s" % e)
    need = ("duration_us", "requests", "bytes", "connect", "read", "write", "status",
            "timeout", "lat_mean_us", "p50_us", "p99_us")
    missing = [k for k in need if not isinstance(r.get(k), (int, float))]
    if missing:
        raise MalformedOutput("WRK-JSON line lacks %s" % ", ".join(missing))
    if r["duration_us"] <= 0:
        raise MalformedOutput("zero duration")
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs
    r["mbps"] = r["bytes"] / secs / 1e6
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return r


def run_wrk(row, port, duration, listen_port, logdir, server_pid, front_pid=None,
            count=True, exclude=frozenset(), scheme=None):
    """One wrk run against 127.0.0.1:port; listen_port is the server's own listener
    (the backend's, in the nginx rows) whose accept queue is sampled, server_pid the
    root of its process tree, whose CPU time and RSS (rss_run_kib: the most at 50% and
    75% of the run) are measured, and with `count` its system calls and context
    switches (and front_pid's, nginx's, for the front_ figures). exclude: clients
    (SlowClients.keys()) that queue and stuck leave out. wrk's output is appended to
    logdir/wrk.log. scheme: the URL's when not the row's (h2c in the HTTP/2 rows)."""
    perfs = []
    if count:
        perfs.append(Perf("perf-server", servers.tree_pids(server_pid), logdir))
        if front_pid is not None:
            perfs.append(Perf("perf-front", servers.tree_pids(front_pid), logdir))
    counts = [None] * len(perfs)
    url = "%s://127.0.0.1:%d/" % (scheme or row.scheme, port)
    h2log = os.path.join(logdir, "h2load-requests.tsv")
    proc = servers.Proc("wrk-run", wrk_argv(row, url, duration, h2log), logdir,
                        servers.CLIENT_CPU, fresh_log=True)
    try:
        for p in perfs:
            p.start()
        cpu0 = servers.cpu_seconds(server_pid)
        fcpu0 = servers.cpu_seconds(front_pid) if front_pid is not None else None
        jif0 = servers.cpu_jiffies()
        proc.start()
        start = time.monotonic()
        samples, rss = [], []
        for frac in (0.5, 0.75):
            time.sleep(max(0.0, start + frac * duration - time.monotonic()))
            queued, waiting = servers.accept_state(listen_port)
            samples.append((queued - len(waiting & exclude), waiting - exclude))
            rss.append(servers.rss_kib(server_pid))
        try:
            status = proc.popen.wait(timeout=duration + WRK_TIMEOUT_S + 30)
        except subprocess.TimeoutExpired:
            raise MalformedOutput("wrk did not finish")
        wall_s = time.monotonic() - start
        cpu1 = servers.cpu_seconds(server_pid)
        fcpu1 = servers.cpu_seconds(front_pid) if front_pid is not None else None
        jif1 = servers.cpu_jiffies()
        counts = [p.stop() for p in perfs]
    finally:
        proc.stop(grace=1.0)
        for p in perfs:
            if p.proc is not None:
                p.proc.stop(grace=1.0)
    with open(proc.log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    with open(os.path.join(logdir, "wrk.log"), "a") as log:
        log.write("\n$ %s\n%s" % (" ".join(proc.argv), text))
    if status != 0:
        raise MalformedOutput("%s exited with status %s:\n%s" % (
            proc.argv[3], status, text[-2000:]))
    if row.h2:
        try:
            r = parse_h2load(text, h2log)
        finally:
            try:
                os.unlink(h2log)
            except OSError:
                pass
    else:
        r = (parse_s_time(text, wall_s) if row.s_time else parse_ab(text) if row.ab else
             parse_wrk(text))
    r["queue"] = max(q for q, _ in samples)
    r["rss_run_kib"] = max(rss)
    r["stuck"] = len(samples[0][1] & samples[1][1])
    r["cpu_s"] = cpu1 - cpu0
    r["cpu_us_req"] = 1e6 * r["cpu_s"] / r["requests"] if r["requests"] else None
    if fcpu0 is not None:
        r["front_cpu_us_req"] = (1e6 * (fcpu1 - fcpu0) / r["requests"] if r["requests"]
                                 else None)
    for cpu, key in ((int(servers.SERVER_CPU), "server_cpu_busy"),
                     (int(servers.CLIENT_CPU), "client_cpu_busy")):
        busy = jif1[cpu][0] - jif0[cpu][0]
        total = jif1[cpu][1] - jif0[cpu][1]
        r[key] = busy / total if total > 0 else None
    for p, c, prefix in zip(perfs, counts, ("", "front_")):
        n = r["requests"]
        r[prefix + "syscalls"] = c and c["raw_syscalls:sys_enter"]
        r[prefix + "switches"] = c and c["context-switches"]
        r[prefix + "syscalls_req"] = c["raw_syscalls:sys_enter"] / n if c and n else None
        r[prefix + "switches_req"] = c["context-switches"] / n if c and n else None
        r[prefix + "perf_pids"] = len(p.pids)
        if p.note:
            r[prefix + "perf_note"] = p.note
    return r


def _one_request(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"Hello, World!\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("connection closed after %r" % data[:200])
        data += chunk
    if not data.startswith(b"HTTP/1.1 200 "):
        raise OSError("unexpected answer %r" % data[:200])
    return s


def idle_connections(port, n):
    """Open n keep-alive connections to the hello app, one complete request each; the
    caller closes them (close_all)."""
    socks = []
    try:
        for _ in range(n):
            socks.append(_one_request(port))
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks):
    for s in socks:
        s.close()


# ---------------------------------------------------------------- slow clients

SLOW_RCVBUF = 4096  # the kernel doubles it; a window of a few KiB
SLOW_SETTLE_LIMIT_S = 20.0
TCP_ESTABLISHED = 1


class SlowClients:
    """n connections to 127.0.0.1:port, each sending one GET of `path` and reading
    nothing. listen_port is the server's listener (whose accept queue tells which
    connections it has not accepted)."""

    def __init__(self, port, n, path, listen_port):
        self.port = port
        self.listen_port = listen_port
        self.socks = []
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
        try:
            for _ in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self.socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
                s.settimeout(10)
                s.connect(("127.0.0.1", port))
                s.sendall(req)
        except BaseException:
            self.close()
            raise

    def keys(self):
        """The connections as servers.accept_state() names them."""
        return frozenset(_key(s) for s in self.socks)

    def state(self):
        """{"answered": got response bytes and the first say 200, "bad": got bytes
        that are not a 200 response, "closed": closed by the server before any byte,
        "queued": in the listener's accept queue, "accepted": accepted, no answer}."""
        _, waiting = servers.accept_state(self.listen_port)
        st = dict.fromkeys(("answered", "bad", "closed", "queued", "accepted"), 0)
        for s in self.socks:
            buf = array.array("i", [0])
            fcntl.ioctl(s.fileno(), termios.FIONREAD, buf)
            if buf[0] > 0:
                head = s.recv(12, socket.MSG_PEEK)
                st["answered" if head[9:12] == b"200" and head.startswith(b"HTTP/1.")
                   else "bad"] += 1
            elif _tcp_state(s) != TCP_ESTABLISHED:
                st["closed"] += 1
            elif _key(s) in waiting:
                st["queued"] += 1
            else:
                st["accepted"] += 1
        return st

    def settle(self, stable_s):
        """Wait until every connection is answered (or closed, or bad), or the state
        has not changed for stable_s; returns (state, seconds waited)."""
        t0 = time.monotonic()
        last, since = None, t0
        while True:
            st = self.state()
            now = time.monotonic()
            if st["queued"] + st["accepted"] == 0:
                break
            if st != last:
                last, since = st, now
            elif now - since >= stable_s:
                break
            if now - t0 > SLOW_SETTLE_LIMIT_S:
                break
            time.sleep(0.05)
        return st, time.monotonic() - t0

    def close(self):
        for s in self.socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            s.close()
        self.socks = []


def _key(s):
    return "0100007F:%04X" % s.getsockname()[1]


def _tcp_state(s):
    try:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return None
