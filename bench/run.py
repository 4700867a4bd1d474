"""The side-by-side benchmark of wsgate against peer WSGI servers (issue 6).

    /usr/bin/python3 bench/run.py [--smoke] [--rows R,...] [--servers S,...]
                                  [--repeat N] [--duration S] [--count-run S]
                                  [--slow-clients N] [--scale-conns N,...]
                                  [--out DIR] [--work DIR]

`make bench` runs everything (5 s per run, 3 rounds) and writes docs/benchmarks.md and
docs/benchmarks.png; `make bench-smoke` runs every row and server once for 1 s,
writes into build/, and exits 1 when a server does not start or answers wrongly,
dies, or a run has errors or malformed wrk output (a peer's errors in the
slow-clients row, and runs in which it served nothing, are its results there, not
failures; wsgate's are failures, and so is wsgate not answering every slow client
before wrk starts). The full run exits 1 on the same, after writing its page.

One row at a time: every server of the row is started with the row's app and thread
count (servers.py; each one process pinned to CPU 0), answers one checked request
(rows.check), gets a warm-up run, then `repeat` rounds: each round runs wrk (CPU 1)
once against every server in turn, beginning one server later each round, so that
a server's runs and wsgate's alternate in time. Before each timed run the server
must answer a checked request again (which waits out requests a slow server still
has queued from its previous run). In the slow-clients row, before each timed run,
--slow-clients connections ask for an 8 MiB response and never read it
(load.SlowClients; wrk starts once the server has taken them in, see there), held
until wrk is done. After the last round, a counting run per server (--count-run
seconds, same load): perf counts the system calls and context switches of the
server's processes (load.Perf); counting costs the server time on every system call
and context switch, so the timed runs are not counted (smoke: --count-run 0, counted
during its one timed run instead). Then the RSS of each server, and every process
is stopped. Then the memory tests: idle RSS of each server with 16 threads, and
wsgate holding N idle keep-alive connections.

The HTTPS rows (rows.Row.tls) compare wsgate --https, gunicorn --certfile and nginx
terminating TLS in front of wsgate's plain HTTP (bench/nginx-tls.conf.in), all with
one self-signed ECDSA P-256 certificate made at start with the openssl CLI into the
temp dir; the handshake rows load with `openssl s_time` or ab instead of wrk
(load.s_time_argv, load.ab_argv). The HTTP/2 rows (rows.Row.h2) compare wsgate
--https --h2, wsgate --http --h2c and nginx terminating h2 in front of wsgate's plain
HTTP/1.1 (the same nginx file, http2 on its listener), loaded by h2load
(load.h2load_argv); the page compares them with the hello-64 row (HTTP/1.1, wrk) of
the same run.

Rows of issue 18: nginx answering the hello rows itself (`return 200`, the
nginx-return server) and wsgate --processes 2 on the flask row (wsgate-w2) run in
those rows' rounds beside the others (servers.ROW_EXTRAS); the connection-scaling
rows (run_scaling, after the memory tests; --rows scaling) run hello at each of
--scale-conns keep-alive connections for wsgate, uWSGI http11 and waitress
(servers.SCALE_SERVERS), each count a row run as the others, into results.json's
"scaling". A peer's errors there are its results; wsgate's fail the run.

Everything measured goes to WORK/results.json; report.py turns it into the page
(and can be run alone on that file). Logs of every process are in WORK/logs.
"""
import argparse
import os
import platform
import resource
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time

import load
import report
import rows
import servers

ROOT = os.path.dirname(servers.HERE)


class Ctx:
    """What the argv builders and the row runner share."""

    def __init__(self, wsgate, tmp, logdir, env):
        self.wsgate = wsgate
        self.tmp = tmp
        self.logdir = logdir
        self.env = env
        self.file_path = env["WSGATE_BENCH_FILE"]
        self.certfile = None  # the HTTPS rows' certificate and key (make_certificate)
        self.keyfile = None
        self.client_tls = None  # rows.client_tls(certfile)
        self.client_tls_h2 = None  # the same offering ALPN h2 (the HTTP/2 rows)

    def tls_for(self, row, spec):
        """The client context rows.check needs for a server of a row (None: plain HTTP,
        or h2c in the HTTP/2 rows)."""
        if (spec.scheme or row.scheme) != "https":
            return None
        return self.client_tls_h2 if row.h2 else self.client_tls


# The HTTPS rows' certificate: ECDSA P-256 (the key type Let's Encrypt's certbot makes
# by default), self-signed, for 127.0.0.1.
CERT_ARGV = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"]


def make_certificate(ctx):
    """A self-signed certificate and its key in ctx.tmp (readable by nginx's workers,
    which run as nobody when we are root); sets ctx.certfile, keyfile, client_tls."""
    cert = os.path.join(ctx.tmp, "cert.pem")
    key = os.path.join(ctx.tmp, "key.pem")
    subprocess.run(CERT_ARGV + ["-keyout", key, "-out", cert], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    os.chmod(key, 0o644)
    ctx.certfile, ctx.keyfile = cert, key
    ctx.client_tls = rows.client_tls(cert)
    ctx.client_tls_h2 = rows.client_tls(cert, alpn=["h2"])


class Failures(list):
    def add(self, what):
        print("FAIL: %s" % what, flush=True)
        self.append(what)


def log(msg):
    print(msg, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true",
                   help="1 s per run, 1 round, no warm-up, 500 idle connections")
    p.add_argument("--rows", default="all",
                   help="comma-separated rows (%s, memory, scaling) or all"
                        % ",".join(rows.ROW_KEYS))
    p.add_argument("--servers", default="all",
                   help="comma-separated server keys (%s) or all"
                        % ",".join(servers.ALL_SPECS))
    p.add_argument("--repeat", type=int, help="rounds per row (default 3; smoke 1)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 5; smoke 1)")
    p.add_argument("--warmup", type=int, help="seconds of warm-up per server and row "
                                              "(default 1; smoke 0)")
    p.add_argument("--idle-conns", type=int, help="idle keep-alive connections held by "
                                                  "wsgate (default 10000; smoke 500)")
    p.add_argument("--slow-clients", type=int,
                   help="slow-clients row: clients holding never-read %d MiB responses "
                        "(default %d; smoke 16)" % (len(rows.SLOW_BODY) >> 20,
                                                    rows.SLOW_CLIENTS))
    p.add_argument("--slow-settle", type=float,
                   help="slow-clients row: seconds without change after which the server "
                        "has taken in the slow clients it will (default 1; smoke 0.3)")
    p.add_argument("--count-run", type=int,
                   help="seconds of the extra run per row and server during which perf "
                        "counts system calls and context switches; 0: count during the "
                        "timed runs (default 2; smoke 0)")
    p.add_argument("--scale-conns",
                   help="connection-scaling rows: comma-separated connection counts "
                        "(default %s; smoke %s)" % (
                            ",".join(map(str, servers.SCALE_CONNS)),
                            ",".join(map(str, servers.SCALE_CONNS_SMOKE))))
    p.add_argument("--out", default=os.path.join(ROOT, "docs"),
                   help="where benchmarks.md and benchmarks.png go")
    p.add_argument("--work", default=os.path.join(ROOT, "build", "bench"),
                   help="results.json and logs")
    p.add_argument("--wsgate", default=os.environ.get("WSGATE_BIN",
                                                      os.path.join(ROOT, "build", "wsgate")),
                   help="the wsgate binary (default: $WSGATE_BIN, else build/wsgate)")
    a = p.parse_args(argv)
    dflt = (1, 1, 0, 500, 16, 0.3, 0) if a.smoke else (3, 5, 1, 10000, rows.SLOW_CLIENTS,
                                                       1.0, 2)
    for name, d in zip(("repeat", "duration", "warmup", "idle_conns", "slow_clients",
                        "slow_settle", "count_run"), dflt):
        if getattr(a, name) is None:
            setattr(a, name, d)
    a.row_list = _pick(a.rows, rows.ROW_KEYS + ["memory", "scaling"], "row")
    a.scale_conns = ([int(x) for x in a.scale_conns.split(",") if x.strip()]
                     if a.scale_conns else
                     servers.SCALE_CONNS_SMOKE if a.smoke else servers.SCALE_CONNS)
    a.server_list = _pick(a.servers, list(servers.ALL_SPECS), "server")
    return a


def _pick(text, known, what):
    if text == "all":
        return list(known)
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in chosen if x not in known]
    if bad:
        sys.exit("run.py: unknown %s %s (known: %s)" % (what, ", ".join(bad), ", ".join(known)))
    return chosen


# ---------------------------------------------------------------- one row

class Target:
    """One server started for a row: its Proc, its port, the port wrk loads (nginx's
    server block for it, in the nginx row)."""

    def __init__(self, spec, proc, port):
        self.spec = spec
        self.proc = proc
        self.port = port
        self.front = port


def start_targets(specs, row, ctx, threads=None, extra=()):
    targets = []
    for spec in specs:
        port = servers.free_port()
        argv = spec.argv(ctx, row.app, port, threads or row.threads) + list(extra)
        if argv[0] == ctx.wsgate and os.geteuid() == 0:
            # wsgate refuses to run the app as root without it (docs/operations.md,
            # "Privileges"); the page shows the command as a user other than root runs it
            argv.insert(1, "--allow-root")
        proc = servers.Proc("%s-%s" % (row.key, spec.key), argv, ctx.logdir,
                            servers.SERVER_CPU, env=ctx.env).start()
        targets.append(Target(spec, proc, port))
    return targets


def start_nginx(targets, ctx):
    """nginx in front of the targets whose spec has a front: one server block per
    backend (bench/nginx.conf.in), or nginx terminating TLS (HTTP/1.1, or h2 for an
    nginx-h2 backend) in front of the one nginx-tls or nginx-h2 backend
    (bench/nginx-tls.conf.in); sets each such target's front port."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    d = tempfile.mkdtemp(prefix="nginx-", dir=ctx.tmp)
    os.chmod(d, 0o755)  # nginx's workers run as nobody when we are root
    os.makedirs(os.path.join(d, "tmp"))
    fields = {"dir": d, "params": "/etc/nginx",
              "user": "user nobody nogroup;\n" if os.geteuid() == 0 else ""}
    fronted = [t for t in targets if t.spec.front]
    if any(t.spec.front in ("nginx-tls", "nginx-h2") for t in fronted):
        template = "nginx-tls.conf.in"
        (t,) = fronted
        t.front = servers.free_port()
        fields.update(backend=t.port, front=t.front, certfile=ctx.certfile,
                      keyfile=ctx.keyfile,
                      http2=" http2" if t.spec.front == "nginx-h2" else "")
    else:
        template = "nginx.conf.in"
        by_key = {t.spec.key: t for t in fronted}
        for spec in servers.NGINX_BACKENDS:
            name = spec.key[len("nginx-"):].replace("-", "_")
            t = by_key.get(spec.key)
            if t is not None:
                t.front = servers.free_port()
            fields[name] = t.port if t else servers.free_port()
            fields["front_" + name] = t.front if t else servers.free_port()
    with open(os.path.join(servers.HERE, template)) as f:
        conf = string.Template(f.read()).substitute(fields)
    conf_path = os.path.join(d, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    argv = [binary, "-p", d + "/", "-c", conf_path, "-e", os.path.join(d, "error.log"),
            "-g", "daemon off;"]
    proc = servers.Proc("nginx", argv, ctx.logdir, servers.CLIENT_CPU, env=ctx.env).start()
    for t in fronted:
        servers.wait_listening(proc, t.front)
    return proc, argv


def run_row(row, specs, a, ctx, failures, out):
    log("== %s: %s (%d servers)" % (row.key, row.title, len(specs)))
    entry = {"title": row.title, "app": row.app, "conns": row.conns, "threads": row.threads,
             "ideal": row.ideal, "servers": [], "runs": {}, "rss_kib": {}, "exit": {},
             "count_runs": {},
             "wrk": " ".join(load.wrk_argv(row, "%s://127.0.0.1:PORT/" % row.scheme,
                                           a.duration)).replace(ROOT + os.sep, "")}
    if row.tls:
        entry["tls"] = {"cert": "ECDSA P-256, self-signed", "session": {}}
    if row.s_time:
        entry["s_time"] = row.s_time
    if row.h2:
        entry["h2"] = {"conns": row.conns, "streams": row.h2}
    if row.slow:
        entry["slow"] = {"clients": a.slow_clients, "path": rows.SLOW_PATH,
                         "bytes": len(rows.SLOW_BODY), "rcvbuf": load.SLOW_RCVBUF,
                         "settle_s": a.slow_settle}
    out[row.key] = entry
    targets = start_targets(specs, row, ctx)
    nginx = None
    try:
        ready = []
        for t in targets:
            try:
                servers.wait_listening(t.proc, t.port)
                ready.append(t)
            except servers.StartError as e:
                failures.add("%s: %s did not start: %s" % (row.key, t.spec.key, e))
                t.proc.stop()
        if any(t.spec.front for t in ready):
            try:
                nginx, _ = start_nginx(ready, ctx)
            except servers.StartError as e:
                failures.add("%s: nginx did not start: %s" % (row.key, e))
                return
        targets = []
        for t in ready:
            err = rows.check(row, t.front, ctx.file_path, timeout=60, slow_path=True,
                             tls=ctx.tls_for(row, t.spec))
            if row.tls and not err:
                entry["tls"]["session"][t.spec.key] = rows.tls_session(t.front, ctx.client_tls)
            if err:
                failures.add("%s: %s answers wrongly: %s" % (row.key, t.spec.key, err))
                t.proc.stop()
            else:
                targets.append(t)
                entry["servers"].append(t.spec.key)
                entry["runs"][t.spec.key] = []
        if a.warmup:
            for t in targets:
                _run_once(row, t, a.warmup, ctx, nginx, failures, a, warmup=True)
        for rnd in range(a.repeat):
            for i in range(len(targets)):
                t = targets[(i + rnd) % len(targets)]
                if t.proc is None:
                    continue  # died earlier in the row
                if (rnd or a.warmup) and not _still_right(row, t, ctx, failures):
                    continue
                r = _run_once(row, t, a.duration, ctx, nginx, failures, a,
                              count=not a.count_run)
                if r is not None:
                    r["round"] = rnd
                    entry["runs"][t.spec.key].append(r)
        # perf's counting costs the server time on every system call (see load.Perf):
        # counted apart from the timed runs, their req/s stay what they would be.
        for t in targets if a.count_run else ():
            if t.proc is not None and _still_right(row, t, ctx, failures):
                r = _run_once(row, t, a.count_run, ctx, nginx, failures, a, count=True)
                if r is not None:
                    entry["count_runs"][t.spec.key] = [r]
        for t in targets:
            if t.proc is not None and t.proc.alive():
                entry["rss_kib"][t.spec.key] = servers.rss_kib(t.proc.pid)
    finally:
        if nginx is not None:
            nginx.stop()
        for t in targets:
            if t.proc is not None:
                status = t.proc.stop()
                entry["exit"][t.spec.key] = status
                if t.spec.is_wsgate and status != 0:  # wsgate stops gracefully with 0
                    failures.add("%s: %s %s" % (row.key, t.spec.key, "did not exit within 5 s"
                                                " of SIGTERM" if status is None else
                                                "exited with status %s on SIGTERM" % status))


def _still_right(row, t, ctx, failures):
    """Before a run: t answers the row's request correctly (which also waits out what
    it still has queued from the run before)."""
    err = rows.check(row, t.front, ctx.file_path, timeout=60, tls=ctx.tls_for(row, t.spec))
    if err:
        failures.add("%s: %s stopped answering correctly: %s" % (row.key, t.spec.key, err))
    return err is None


# A slow-clients run's errors, or its lack of completed requests, are the finding for a
# peer; only wsgate's fail the run.
SLOW_EXCUSE = ("the slow clients held this server's threads (see the slow-clients row); "
               "what it serves to wrk meanwhile is the measurement")


def _run_once(row, t, duration, ctx, nginx, failures, a, warmup=False, count=False):
    """One wrk run against target t, counted by perf when `count`, during which a
    slow row's slow clients are held (not in a warm-up); the result dict, or None
    after a failure."""
    what = "%s: %s%s" % (row.key, t.spec.key, " (warm-up)" if warmup else
                         " (counting run)" if count and a.count_run else "")
    slow = None
    r = None
    try:
        if row.slow and not warmup:
            slow = load.SlowClients(t.front, a.slow_clients, rows.SLOW_PATH, t.port)
            before, settle_s = slow.settle(a.slow_settle)
        r = load.run_wrk(row, t.front, duration, t.port, ctx.logdir, t.proc.pid,
                         front_pid=nginx.pid if nginx is not None and t.spec.front else None,
                         count=count,
                         exclude=slow.keys() if slow is not None else frozenset(),
                         scheme=t.spec.scheme)
        if slow is not None:
            r["slow_before"] = before
            r["slow_settle_s"] = settle_s
            r["slow_after"] = slow.state()
            r["rss_slow_kib"] = servers.rss_kib(t.proc.pid)
    except load.MalformedOutput as e:
        failures.add("%s: malformed wrk output: %s" % (what, e))
    except OSError as e:
        failures.add("%s: slow clients: %s" % (what, e))
    finally:
        if slow is not None:
            slow.close()
    if not t.proc.alive():
        failures.add("%s: the server died during the run (status %s):\n%s"
                     % (what, t.proc.popen.returncode, t.proc.log_tail()))
        t.proc.stop()
        t.proc = None
        return None
    if nginx is not None and t.spec.front and not nginx.alive():
        failures.add("%s: nginx died during the run" % what)
    if r is None:
        return None
    r["rss_kib"] = servers.rss_kib(t.proc.pid)
    if not warmup:
        log("   %-22s %10.0f req/s  p50 %s ms  p99 %s ms  errors %d  queue %d"
            "  stuck %d  rss %d MiB%s%s" % (
                t.spec.key + (" (count)" if count and a.count_run else ""), r["rps"],
                _ms(r["p50_us"]), _ms(r["p99_us"]), r["errors"],
                r["queue"], r["stuck"], r["rss_kib"] // 1024,
                "  resumed %d of %d" % (r["resumed"], r["resumed"] + r["full"])
                if "resumed" in r else "",
                "  syscalls/req %s  switches/req %s" % (
                    _per_req(r.get("syscalls_req")), _per_req(r.get("switches_req")))
                if count else ""))
        if r.get("perf_note"):
            log("   perf: %s" % r["perf_note"])
        if "slow_before" in r:
            log("   slow clients before wrk (%.1f s to settle): %s; after: %s; RSS held "
                "%d MiB" % (r["slow_settle_s"], _slow(r["slow_before"]),
                            _slow(r["slow_after"]),
                            max(r["rss_slow_kib"], r["rss_run_kib"]) // 1024))
    problems = []
    if "slow_before" in r and t.spec.is_wsgate and \
            r["slow_before"]["answered"] != a.slow_clients:
        problems.append("answered %d of the %d slow clients before wrk started (%s)"
                        % (r["slow_before"]["answered"], a.slow_clients,
                           _slow(r["slow_before"])))
    if r["requests"] == 0:
        problems.append("no request completed")
    if r["errors"] and row.h2:
        problems.append("%d failed requests (errored: streams reset or refused, connections "
                        "lost %d; status>=400 %d)" % (r["errors"], r["read"], r["status"]))
    elif r["errors"]:
        problems.append("%d errors (connect %d, read %d, write %d, status>=400 %d, timeout %d)"
                        % (r["errors"], r["connect"], r["read"], r["write"], r["status"],
                           r["timeout"]))
    known = servers.KNOWN_ISSUES.get((row.key, t.spec.key))
    excuse = known["text"] if known else (
        SLOW_EXCUSE if row.slow and not t.spec.is_wsgate else None)
    if excuse is None and not t.spec.is_wsgate:
        excuse = getattr(row, "peer_excuse", None)  # rows.scale_row
    for p in problems:
        if excuse:
            log("   known peer issue, not a failure: %s: %s (%s)" % (what, p, excuse))
        else:
            failures.add("%s: %s" % (what, p))
    return r


def _ms(us):
    return "%7s" % "n/a" if us is None else "%7.2f" % (us / 1e3)


def _per_req(v):
    return "n/a" if v is None else "%.2f" % v


def _slow(st):
    return ", ".join("%s %d" % (k, v) for k, v in st.items() if v)


# ---------------------------------------------------------------- memory

def run_memory(specs, a, ctx, failures, out):
    """Idle RSS of every HTTP server (hello app, 16 threads, after one request), and
    wsgate's RSS with a.idle_conns idle keep-alive connections."""
    log("== memory")
    row = rows.Row("idle", "idle", "hello", 1, threads=16)
    mem = {"threads": 16, "idle_kib": {}, "argv": {}}
    out["memory"] = mem
    targets = start_targets(specs, row, ctx)
    try:
        for t in targets:
            try:
                servers.wait_listening(t.proc, t.port)
            except servers.StartError as e:
                failures.add("memory: %s did not start: %s" % (t.spec.key, e))
                continue
            err = rows.check(row, t.port, ctx.file_path, timeout=60)
            if err:
                failures.add("memory: %s answers wrongly: %s" % (t.spec.key, err))
        time.sleep(1.0)
        for t in targets:
            if t.proc.alive():
                mem["idle_kib"][t.spec.key] = servers.rss_kib(t.proc.pid)
                log("   %-22s idle RSS %d KiB" % (t.spec.key, mem["idle_kib"][t.spec.key]))
    finally:
        for t in targets:
            t.proc.stop()
    if "wsgate" not in [s.key for s in specs]:
        return
    n = a.idle_conns
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit < n + 256:
        failures.add("memory: RLIMIT_NOFILE is %d, too low for %d connections" % (limit, n))
        return
    row = rows.Row("keepalive", "keepalive", "hello", 1, threads=16)
    extra = ["--keep-alive", "600"]
    (t,) = start_targets([servers.ALL_SPECS["wsgate"]], row, ctx, extra=extra)
    socks = []
    try:
        servers.wait_listening(t.proc, t.port)
        err = rows.check(row, t.port, ctx.file_path)
        if err:
            failures.add("memory: wsgate answers wrongly: %s" % err)
            return
        time.sleep(0.5)
        before = servers.rss_kib(t.proc.pid)
        t0 = time.monotonic()
        socks = load.idle_connections(t.port, n)
        took = time.monotonic() - t0
        time.sleep(1.0)
        after = servers.rss_kib(t.proc.pid)
        alive = t.proc.alive()
        mem["keepalive"] = {"conns": n, "before_kib": before, "after_kib": after,
                            "open_seconds": took, "threads": 16,
                            "extra": " ".join(extra)}
        log("   wsgate %d idle keep-alive connections: RSS %d -> %d KiB (%.2f KiB each)"
            % (n, before, after, (after - before) / n))
        if not alive:
            failures.add("memory: wsgate died holding %d connections" % n)
    except (OSError, servers.StartError) as e:
        failures.add("memory: wsgate with %d idle connections: %s" % (n, e))
    finally:
        load.close_all(socks)
        t.proc.stop()


# ---------------------------------------------------------------- connection scaling

def run_scaling(a, ctx, failures, results):
    """The connection-scaling rows: the hello app at each of a.scale_conns keep-alive
    connections for the servers of servers.SCALE_SERVERS, each count a row run as
    run_row runs the others (same rounds, counting run, accept-queue samples), into
    results["scaling"]. wrk and the servers inherit the file-descriptor limit main()
    raised to its hard limit; a count that does not fit under it fails."""
    keys = [k for k in servers.SCALE_SERVERS if k in a.server_list]
    if not keys:
        return
    sc = {"conns": [], "servers": keys, "rows": {}, "extra": {}}
    results["scaling"] = sc
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    for n in a.scale_conns:
        if limit < n + 256:
            failures.add("scaling: RLIMIT_NOFILE is %d, too low for %d connections"
                         % (limit, n))
            continue
        row = rows.scale_row(n)
        specs = []
        for k in keys:
            spec, extra = servers.scale_spec(k, n)
            specs.append(spec)
            if extra:
                sc["extra"].setdefault(row.key, {})[k] = extra
        run_row(row, specs, a, ctx, failures, sc["rows"])
        sc["conns"].append(n)


# ---------------------------------------------------------------- the machine

def _cmd_version(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=30).stdout.decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unknown (%s)" % e
    return out.splitlines()[0] if out else "unknown"


def _pkg_version(pkg):
    return _cmd_version(["dpkg-query", "-W", "-f=${Version}", pkg])


def describe_machine(a):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    osname = "unknown"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    versions = {
        "wsgate": _cmd_version([a.wsgate, "--version"]),
        "uWSGI": "%s (Debian uwsgi %s, uwsgi-plugin-python3 %s)" % (
            _cmd_version(["uwsgi", "--version"]), _pkg_version("uwsgi"),
            _pkg_version("uwsgi-plugin-python3")),
        "gunicorn": "%s (Debian %s)" % (_cmd_version(["gunicorn", "--version"]),
                                        _pkg_version("gunicorn")),
        "waitress": "Debian python3-waitress %s" % _pkg_version("python3-waitress"),
        "Tornado": "Debian python3-tornado %s" % _pkg_version("python3-tornado"),
        "Flask": "Debian python3-flask %s" % _pkg_version("python3-flask"),
        "nginx": _cmd_version(["nginx", "-v"]),
        "wrk": _cmd_version(["wrk", "-v"]),
        "OpenSSL": _cmd_version(["openssl", "version"]),
        "ab": "ApacheBench (Debian apache2-utils %s)" % _pkg_version("apache2-utils"),
        "h2load": "%s (Debian nghttp2-client %s)" % (_cmd_version(["h2load", "--version"]),
                                                     _pkg_version("nghttp2-client")),
        "perf": _cmd_version([load.perf_binary(), "--version"]) if load.perf_binary()
        else "not installed",
        "Python": "%s (%s)" % (platform.python_version(), sys.executable),
    }
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "mem_gib": mem_kib / 1048576, "os": osname, "versions": versions,
            "load_before": os.getloadavg()}


# ---------------------------------------------------------------- main

def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if not os.access(a.wsgate, os.X_OK):
        sys.exit("run.py: %s is not an executable (run `make` first)" % a.wsgate)
    for tool in ("wrk", "taskset", "uwsgi", "gunicorn", "nginx", "openssl", "ab", "h2load"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("run.py: %s not found (scripts/install-deps installs it)" % tool)
    if (os.cpu_count() or 1) < 2:
        sys.exit("run.py: needs two CPUs (server on CPU 0, wrk on CPU 1)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Ctrl-C or SIGTERM: unwind through the finally blocks, which stop every process.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    os.makedirs(a.work, exist_ok=True)
    logdir = os.path.join(a.work, "logs")
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    tmp = tempfile.mkdtemp(prefix="wsgate-bench-")
    os.chmod(tmp, 0o755)
    failures = Failures()
    results = {"meta": describe_machine(a), "rows": {}, "failures": failures,
               "settings": {"smoke": a.smoke, "repeat": a.repeat, "duration": a.duration,
                            "warmup": a.warmup, "wrk_timeout": load.WRK_TIMEOUT_S,
                            "backlog": servers.BACKLOG, "count_run": a.count_run}}
    started = time.time()
    try:
        file_path = os.path.join(tmp, "file-16MiB.bin")
        with open(file_path, "wb") as f:
            f.write(os.urandom(rows.FILE_SIZE))
        env = dict(os.environ, WSGATE_BENCH_FILE=file_path, PYTHONDONTWRITEBYTECODE="1")
        ctx = Ctx(a.wsgate, tmp, logdir, env)
        make_certificate(ctx)
        for row in rows.ROWS:
            if row.key not in a.row_list:
                continue
            pool = (servers.NGINX_BACKENDS if row.nginx else
                    servers.HTTPS_SERVERS if row.tls else
                    servers.H2_SERVERS if row.h2 else servers.HTTP_SERVERS)
            specs = [s for s in pool if s.key in a.server_list]
            specs += [s for s in servers.ROW_EXTRAS.get(row.key, ()) if s.key in a.server_list]
            if specs:
                run_row(row, specs, a, ctx, failures, results["rows"])
        if "memory" in a.row_list:
            specs = [s for s in servers.HTTP_SERVERS if s.key in a.server_list]
            run_memory(specs, a, ctx, failures, results)
        if "scaling" in a.row_list:
            run_scaling(a, ctx, failures, results)
    except KeyboardInterrupt:
        failures.add("interrupted")
        raise
    finally:
        servers.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        results["meta"]["load_after"] = os.getloadavg()
        results["meta"]["started"] = time.strftime("%Y-%m-%d %H:%M UTC",
                                                   time.gmtime(started))
        results["meta"]["seconds"] = time.time() - started
        results["display"] = display_commands(a)
        results_path = os.path.join(a.work, "results.json")
        report.save(results, results_path)
        log("results: %s (logs in %s)" % (results_path, logdir))
    os.makedirs(a.out, exist_ok=True)
    md, png = report.write(results, a.out)
    log("wrote %s and %s in %.0f s" % (md, png, time.time() - started))
    if failures:
        log("%d failure(s):" % len(failures))
        for f in failures:
            log("  - " + f.splitlines()[0])
        return 1
    return 0


def display_commands(a):
    """The command line of every server and of nginx, as the page shows them: the
    hello app, ports and temp paths as placeholders, paths relative to the tree."""
    class Shown:
        wsgate = "build/wsgate"
        certfile = "$TMP/cert.pem"
        keyfile = "$TMP/key.pem"

    rel = ROOT + os.sep

    def show(argv):
        return " ".join(shlex.quote(str(x).replace(rel, "")) for x in argv).replace(
            "'$TMP/", "$TMP/").replace(".pem'", ".pem")

    cmds = {}
    for spec in servers.ALL_SPECS.values():
        argv = spec.argv(Shown, "APP", 0, 0)
        line = show(["taskset", "-c", servers.SERVER_CPU] + argv)
        cmds[spec.key] = line.replace("127.0.0.1:0", "127.0.0.1:PORT").replace(
            "--port 0", "--port PORT").replace("--threads 0", "--threads THREADS")
    cmds["nginx"] = ("taskset -c %s nginx -p $TMP/ -c $TMP/nginx.conf -e $TMP/error.log "
                     "-g 'daemon off;'" % servers.CLIENT_CPU)
    cmds["certificate"] = show(CERT_ARGV + ["-keyout", "$TMP/key.pem", "-out",
                                            "$TMP/cert.pem"])
    return cmds


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("run.py: interrupted; every process it started is stopped")
