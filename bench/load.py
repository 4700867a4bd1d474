"""The load side of bench/: one wrk run against a port, and the idle keep-alive test.

run_wrk() starts wrk pinned to CLIENT_CPU with one thread, waits for it, and returns
the figures of the "WRK-JSON" line bench/report.lua prints, plus these of our own:

- queue: the most connections seen in the server's accept queue, sampled at 50% and
  75% of the run.
- stuck: connections that sat in the accept queue at both samples. wrk measures only
  requests that complete: a connection the server does not accept for the whole run
  (each uWSGI thread keeps serving one keep-alive connection) is invisible in its
  figures, but shows here. A server that serves one request at a time (gunicorn sync)
  has a queue too, but its connections move through it.
- cpu_us_req: CPU time (user + system) the server's process tree used during the run,
  divided by the requests wrk completed: what a request costs the server, whichever
  side was the bottleneck.
- server_cpu_busy, client_cpu_busy: how busy the server's CPU and the client's CPU
  (wrk, and nginx in the nginx rows) were during the run, 0..1 from /proc/stat. A row
  whose client CPU is saturated while the server's is not measures the client.

idle_connections() opens N HTTP/1.1 connections, one completed request each, and
keeps them open, for the memory per idle connection.
"""
import json
import os
import socket
import subprocess
import time

import servers

WRK_TIMEOUT_S = 30  # wrk --timeout: a completed request slower than this is an error


class MalformedOutput(Exception):
    pass


def wrk_argv(row, url, duration):
    """wrk's command line, without the taskset prefix Proc adds."""
    return ["wrk", "-t1", "-c%d" % row.conns, "-d%ds" % duration,
            "--timeout", "%ds" % WRK_TIMEOUT_S, "--latency", "-s", row.script, url]


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


def run_wrk(row, port, duration, listen_port, logdir, server_pid):
    """One wrk run against 127.0.0.1:port; listen_port is the server's own listener
    (the backend's, in the nginx rows) whose accept queue is sampled, server_pid the
    root of its process tree, whose CPU time is measured. wrk's output is appended to
    logdir/wrk.log."""
    cpu0 = servers.cpu_seconds(server_pid)
    jif0 = servers.cpu_jiffies()
    proc = servers.Proc("wrk-run", wrk_argv(row, "http://127.0.0.1:%d/" % port, duration),
                        logdir, servers.CLIENT_CPU, fresh_log=True)
    proc.start()
    try:
        start = time.monotonic()
        samples = []
        for frac in (0.5, 0.75):
            time.sleep(max(0.0, start + frac * duration - time.monotonic()))
            samples.append(servers.accept_state(listen_port))
        try:
            status = proc.popen.wait(timeout=duration + WRK_TIMEOUT_S + 30)
        except subprocess.TimeoutExpired:
            raise MalformedOutput("wrk did not finish")
        cpu1 = servers.cpu_seconds(server_pid)
        jif1 = servers.cpu_jiffies()
    finally:
        proc.stop(grace=1.0)
    with open(proc.log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    with open(os.path.join(logdir, "wrk.log"), "a") as log:
        log.write("\n$ %s\n%s" % (" ".join(proc.argv), text))
    if status != 0:
        raise MalformedOutput("wrk exited with status %s:\n%s" % (status, text[-2000:]))
    r = parse_wrk(text)
    r["queue"] = max(q for q, _ in samples)
    r["stuck"] = len(samples[0][1] & samples[1][1])
    r["cpu_s"] = cpu1 - cpu0
    r["cpu_us_req"] = 1e6 * r["cpu_s"] / r["requests"] if r["requests"] else None
    for cpu, key in ((int(servers.SERVER_CPU), "server_cpu_busy"),
                     (int(servers.CLIENT_CPU), "client_cpu_busy")):
        busy = jif1[cpu][0] - jif0[cpu][0]
        total = jif1[cpu][1] - jif0[cpu][1]
        r[key] = busy / total if total > 0 else None
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
