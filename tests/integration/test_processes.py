"""Processes and lifecycle (issue 5): the prefork master and its workers, worker
replacement after kill -9 and crashes, graceful reload on SIGHUP with a load
generator running (zero failed requests, new code served afterwards) in prefork,
--lazy and single-process mode, --max-requests retirement, SIGTERM drains within
--graceful-timeout, SIGQUIT stops at once, and --pid-file.

The load generator opens a fresh connection per request, as a front server or a
client pool does after an idle connection is closed; a keep-alive connection that
the server closes while idle can race a client's next request in any server."""
import http.client
import os
import signal
import socket
import threading
import time

import pytest

from wsgate_util import (can_connect, children, group_members, http_get, metrics, notifications,
                         notify_socket, t, wait_for, wait_log, wait_mark)

APP = '''
import ctypes, os, time
VERSION = %(version)r
time.sleep(%(import_sleep)r)
if %(broken)r:
    raise RuntimeError("this version does not import")
if %(fail_nth)r:  # the nth import of this version fails (its files changed meanwhile)
    _count = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imports")
    _n = (int(open(_count).read()) if os.path.exists(_count) else 0) + 1
    with open(_count, "w") as _f:
        _f.write(str(_n))
    if _n == %(fail_nth)r:
        raise RuntimeError("import number %%d of this version fails" %% _n)

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":  # ?SECONDS[&MARK]: MARK, a file, is created on entry
        secs, _, mark = environ["QUERY_STRING"].partition("&")
        if mark:
            open(mark, "w").close()
        time.sleep(float(secs or "1"))
    elif path == "/crash":
        ctypes.string_at(0)  # a segfault in C code
    elif path == "/abort":
        os.abort()
    body = ("%%s %%d %%s" %% (VERSION, os.getpid(),
                           environ["wsgi.multiprocess"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def write_app(d, version, broken=False, import_sleep=0, fail_nth=0):
    path = os.path.join(d, "lifeapp.py")
    with open(path + ".tmp", "w") as f:
        f.write(APP % {"version": version, "broken": broken, "import_sleep": import_sleep,
                       "fail_nth": fail_nth})
    os.replace(path + ".tmp", path)
    if os.path.exists(os.path.join(d, "imports")):
        os.unlink(os.path.join(d, "imports"))
    pyc = os.path.join(d, "__pycache__")
    if os.path.isdir(pyc):
        for n in os.listdir(pyc):
            os.unlink(os.path.join(pyc, n))


def info(srv, path="/"):
    status, body, _ = http_get(srv, path)
    assert status == 200, body
    version, pid, multi = body.decode().split()
    return version, int(pid), multi


class Load:
    """Threads sending requests until stopped; every result is kept."""

    def __init__(self, srv, threads=4, path="/"):
        self.srv, self.path = srv, path
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.ok = []       # (time, version, pid)
        self.failed = []   # (time, what)
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        while not self.stop_ev.is_set():
            now = time.monotonic()
            try:
                status, body, _ = http_get(self.srv, self.path)
                body = body.decode()
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failed.append((now, repr(e)))
                continue
            with self.lock:
                if status == 200:
                    v, pid, _ = body.split()
                    self.ok.append((now, v, int(pid)))
                else:
                    self.failed.append((now, "status %d: %s" % (status, body[:200])))

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for th in self.threads:
            th.join(t(20))

    def count(self):
        with self.lock:
            return len(self.ok)


def read_pid(path):
    with open(path) as f:
        return int(f.read())


@pytest.fixture
def appdir(tmp_path):
    d = tmp_path / "app"
    d.mkdir()
    write_app(str(d), "v1")
    return str(d)


def start(wsgate, appdir, *args, **kw):
    """A server whose app has been imported (the listeners accept before that)."""
    srv = wsgate("lifeapp", "--pythonpath", appdir, "--threads", "4", *args, **kw)
    assert info(srv)[0] == "v1"
    return srv


def test_prefork_workers_serve_and_are_multiprocess(wsgate, appdir):
    srv = start(wsgate, appdir, "--processes", "3", "--threads", "1")
    wait_for(lambda: len(children(srv.pid)) == 3, t(10), what="3 workers")
    workers = set(children(srv.pid))
    for _ in range(10):
        version, pid, multi = info(srv)
        assert (version, multi) == ("v1", "True")
        assert pid in workers, "the master served a request"
    # Which worker takes a lone connection is the kernel's choice (often the same
    # one); requests at the same time must spread: a worker whose only thread is
    # busy stops accepting, so three slow requests at once land on three workers.
    results = []
    lock = threading.Lock()

    def slow():
        r = info(srv, "/sleep?0.5")
        with lock:
            results.append(r)
    ths = [threading.Thread(target=slow) for _ in range(3)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(t(20))
    assert len(results) == 3
    assert {pid for _, pid, _ in results} == workers, "requests did not spread over the workers"


def test_busy_workers_still_accept_new_keep_alive_clients(wsgate, appdir):
    """A worker whose threads are all busy stops accepting so that an idle worker
    takes new connections; when every worker stays busy (keep-alive clients that
    always have a request queued) it must still accept after a short while, not
    leave a new client in the kernel's backlog until the others go away."""
    srv = start(wsgate, appdir, "--processes", "2", "--threads", "1")
    wait_for(lambda: len(children(srv.pid)) == 2, t(10), what="2 workers")
    run_for = t(1.0) + 2.0
    end = time.monotonic() + run_for
    firsts, errors = [], []
    lock = threading.Lock()

    def client():
        try:
            c = http.client.HTTPConnection(srv.host, srv.port, timeout=run_for + t(10))
            begin = time.monotonic()
            first = None
            while time.monotonic() < end:
                c.request("GET", "/sleep?0.02")
                r = c.getresponse()
                r.read()
                assert r.status == 200
                if first is None:
                    first = time.monotonic() - begin
            c.close()
            with lock:
                firsts.append(first)
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(repr(e))
    ths = [threading.Thread(target=client) for _ in range(6)]
    for th in ths:
        th.start()
        time.sleep(0.05)
    for th in ths:
        th.join(run_for + t(20))
    assert errors == []
    assert len(firsts) == 6 and None not in firsts, firsts
    # Each worker has one thread and three clients: its queue is never empty. A
    # client it held back got its first answer only when the others stopped.
    assert max(firsts) < t(1.0), "first responses after %s s" % sorted(
        round(f, 2) for f in firsts)


def test_single_process_is_not_multiprocess(wsgate, appdir):
    srv = start(wsgate, appdir)
    assert info(srv)[2] == "False"
    assert children(srv.pid) == []


@pytest.mark.slow
def test_kill_9_worker_under_load_is_replaced(wsgate, appdir):
    srv = start(wsgate, appdir, "-w", "2")
    wait_for(lambda: len(children(srv.pid)) == 2, t(10), what="2 workers")
    victim = children(srv.pid)[0]
    with Load(srv) as load:
        wait_for(lambda: load.count() > 20, t(10), what="load")
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(children(srv.pid)) == 2 and victim not in children(srv.pid),
                 t(10), what="a replacement worker")
        replaced = time.monotonic()
        new = (set(children(srv.pid)) - {victim}).pop()
        # The window in which a late failure would show: 300 requests after the
        # replacement, some of them served by the new worker (a count, not a time, so
        # a slow machine watches as many requests as a fast one).
        wait_for(lambda: sum(1 for ts, _, _ in load.ok if ts > replaced) >= 300 and
                 any(p == new and ts > replaced for ts, _, p in load.ok),
                 t(30), what="300 requests after the replacement, the new worker serving")
    late_failures = [f for f in load.failed if f[0] > replaced]
    assert late_failures == [], late_failures[:5]
    assert new in {p for _, _, p in load.ok}
    log = srv.error_text()
    assert "(pid %d) killed by signal 9" % victim in log, log[-2000:]


# The sanitizers turn a segfault into their own report: under them, the crash is an
# abort() (SIGABRT), which they leave alone.
SANITIZED = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ
CRASH, CRASH_SIG = ("/abort", 6) if SANITIZED else ("/crash", 11)


def test_crashing_worker_is_logged_and_replaced_with_backoff(wsgate, appdir):
    srv = start(wsgate, appdir, "-w", "2")
    wait_for(lambda: len(children(srv.pid)) == 2, t(10), what="2 workers")
    marker = "killed by signal %d" % CRASH_SIG
    # Young deaths of one slot back off: 0.1 s, 0.2 s, 0.4 s... Crash until one slot
    # has died three times in a row (requests land on either worker).
    for n in range(1, 16):
        wait_for(lambda: len(children(srv.pid)) == 2, t(20), what="2 workers")
        with pytest.raises((OSError, http.client.HTTPException)):
            http_get(srv, CRASH)
        wait_for(lambda: srv.error_text().count(marker) >= n, t(10), what="the crash logged")
        if "replacing it in 0.4 s" in srv.error_text():
            break
    log = srv.error_text()
    assert "replacing it in 0.1 s" in log and "replacing it in 0.2 s" in log, log[-3000:]
    assert "replacing it in 0.4 s" in log, log[-3000:]
    wait_for(lambda: len(children(srv.pid)) == 2, t(20), what="2 workers again")
    assert info(srv)[0] == "v1"


def test_lazy_import_failure_stops_master(wsgate, tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    write_app(str(d), "v0", broken=True)
    srv = wsgate("lifeapp", "--pythonpath", str(d), "-w", "2", "--lazy", start=False)
    srv.expect_nonzero_exit = True
    srv.start(wait=False)
    rc = srv.wait_exit(t(20))
    assert rc == 1, rc
    assert "could not import the app" in srv.error_text()


def test_import_failure_without_lazy_is_one_line_exit_1(wsgate, tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    write_app(str(d), "v0", broken=True)
    srv = wsgate("lifeapp", "--pythonpath", str(d), "-w", "2", start=False)
    srv.expect_nonzero_exit = True
    srv.start(wait=False)
    assert srv.wait_exit(t(20)) == 1
    assert "this version does not import" in srv.stderr_text()
    assert children(srv.pid) == []


def reload_under_load(srv, appdir, pid_of_main):
    """SIGHUP with the load running after the app's code changed; returns the load."""
    with Load(srv) as load:
        wait_for(lambda: load.count() > 20, t(10), what="load")
        write_app(appdir, "v2")
        os.kill(pid_of_main(), signal.SIGHUP)
        wait_for(lambda: any(v == "v2" for _, v, _ in load.ok), t(30),
                 what="the new code to be served")
        switched = time.monotonic()
        wait_for(lambda: sum(1 for ts, _, _ in load.ok if ts > switched + 3) > 20, t(30),
                 what="more load after the reload")
    assert load.failed == [], load.failed[:5]
    late = [v for ts, v, _ in load.ok if ts > switched + 3]
    assert late and set(late) == {"v2"}, "old code still served 3 s after the reload"
    return load


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["-w", "2"], ["-w", "2", "--lazy"]])
def test_sighup_reload_prefork_under_load(wsgate, appdir, tmp_path, mode):
    pidfile = str(tmp_path / "wsgate.pid")
    srv = start(wsgate, appdir, "--pid-file", pidfile, *mode)
    wait_for(lambda: len(children(srv.pid)) == 2, t(10), what="2 workers")
    assert read_pid(pidfile) == srv.pid
    old_workers = set(children(srv.pid))
    load = reload_under_load(srv, appdir, lambda: srv.pid)
    wait_for(lambda: len(children(srv.pid)) == 2 and not set(children(srv.pid)) & old_workers,
             t(20), what="the old workers to exit")
    assert read_pid(pidfile) == srv.pid, "the master's pid changed"
    assert srv.proc.poll() is None
    assert len(load.ok) > 40


@pytest.mark.slow
def test_sighup_reload_single_process_under_load(wsgate, appdir, tmp_path):
    """One process: the pid that was started stays the service's through a reload (a
    supervisor, a container's pid 1 or a --pid-file watcher must never see it exit).
    A bridge child serves while the process re-executes itself, then exits."""
    pidfile = str(tmp_path / "wsgate.pid")
    srv = start(wsgate, appdir, "--pid-file", pidfile)
    reload_under_load(srv, appdir, lambda: srv.pid)
    assert srv.proc.poll() is None, "the process that was started exited"
    assert read_pid(pidfile) == srv.pid
    assert info(srv)[:2] == ("v2", srv.pid)
    wait_for(lambda: children(srv.pid) == [], t(15), what="the bridge to exit")
    assert "reload complete" in srv.error_text()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT], ids=["TERM", "QUIT"])
def test_stop_during_single_process_reload_stops_the_bridge(wsgate, appdir, tmp_path, sig):
    """A stop sent to the serving process while its reload's bridge still imports the
    app stops the service: the bridge must not serve on afterwards."""
    pidfile = str(tmp_path / "wsgate.pid")
    srv = start(wsgate, appdir, "--pid-file", pidfile)
    first = srv.pid
    try:
        write_app(appdir, "v2", import_sleep=2)
        srv.signal(signal.SIGHUP)
        wait_for(lambda: len(group_members(first)) >= 2, t(10), what="the bridge")
        srv.signal(sig)  # to the serving process only, as kill $(cat pidfile)
        assert srv.wait_exit(t(15)) == 0
        # SIGTERM: the process waits for its bridge; SIGQUIT: no waiting at all
        wait_for(lambda: not group_members(first), t(10), what="the bridge to stop")
        # A leader thread shows as a zombie while the process's other threads still
        # exit holding its files, the listener among them: wait for it to go.
        wait_for(lambda: not can_connect((srv.host, srv.port), t(2)), t(5),
                 what="the listener to close")
        assert not os.path.exists(pidfile)
    finally:
        stop_bridges(first)


def test_stop_as_the_bridge_takes_over_is_not_lost(wsgate, appdir):
    """SIGTERM sent the moment the bridge serves the new code (the process drains,
    shuts Python down and re-executes itself: its loop no longer runs) must still stop
    the service. It was lost: the new image served on, SIGTERM forgotten (--reload
    makes such a reload a save away; it failed about every other run)."""
    srv = start(wsgate, appdir)
    first = srv.pid
    try:
        write_app(appdir, "v2")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: info(srv)[0] == "v2", t(10), interval=0.005, what="the bridge")
        srv.signal(signal.SIGTERM)
        assert srv.wait_exit(t(15)) == 0, srv.error_text()[-2000:]
        wait_for(lambda: not group_members(first), t(10), what="the bridge to stop")
    finally:
        stop_bridges(first)


def stop_bridges(first):
    """SIGTERM to every process left in the first one's group (a bridge)."""
    try:
        os.killpg(first, signal.SIGTERM)
    except OSError:
        return
    wait_for(lambda: not group_members(first), t(15), what="the bridges to exit")


def reload_metrics(srv):
    """(done, failed, last failed) from /metrics."""
    v = metrics(srv)
    return (int(v['wsgate_reloads_total{result="done"}']),
            int(v['wsgate_reloads_total{result="failed"}']), int(v["wsgate_last_reload_failed"]))


def error_lines(srv, text):
    return [line for line in srv.error_text().splitlines() if text in line]


def test_reload_with_broken_code_keeps_old_workers(wsgate, appdir):
    """A reload of code that does not import changes nothing: the workers serve on and,
    killed (the OOM killer does that), are replaced with the code they ran."""
    srv = start(wsgate, appdir, "-w", "2", stats=True)
    wait_for(lambda: len(children(srv.pid)) == 2, t(10), what="2 workers")
    old = set(children(srv.pid))
    write_app(appdir, "v2", broken=True)
    srv.signal(signal.SIGHUP)
    wait_for(lambda: error_lines(srv, "reload failed"), t(20), what="the failed reload")
    assert all("[error]" in line for line in error_lines(srv, "reload failed"))
    assert reload_metrics(srv) == (0, 1, 1)
    for _ in range(10):
        assert info(srv)[0] == "v1"
    assert set(children(srv.pid)) == old
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(children(srv.pid)) == 2 and not set(children(srv.pid)) & old, t(20),
             what="both workers replaced")
    for _ in range(10):
        assert info(srv)[0] == "v1"
    old = set(children(srv.pid))
    write_app(appdir, "v3")
    srv.signal(signal.SIGHUP)
    wait_for(lambda: info(srv)[0] == "v3", t(20), what="the fixed code")
    wait_for(lambda: not set(children(srv.pid)) & old, t(20), what="the old workers to exit")
    assert reload_metrics(srv) == (1, 1, 0)


def test_reload_single_process_broken_code_carries_on(wsgate, appdir, tmp_path):
    pidfile = str(tmp_path / "wsgate.pid")
    srv = start(wsgate, appdir, "--pid-file", pidfile, stats=True)
    write_app(appdir, "v2", broken=True)
    srv.signal(signal.SIGHUP)
    wait_for(lambda: error_lines(srv, "reload failed"), t(20), what="the failed reload")
    assert all("[error]" in line for line in error_lines(srv, "reload failed"))
    assert info(srv)[:2] == ("v1", srv.pid)
    assert read_pid(pidfile) == srv.pid
    assert reload_metrics(srv) == (0, 1, 1)
    write_app(appdir, "v3")
    srv.signal(signal.SIGHUP)
    wait_for(lambda: info(srv)[:2] == ("v3", srv.pid), t(20), what="the fixed code")
    assert reload_metrics(srv) == (1, 1, 0)


def test_reload_single_process_new_image_cannot_import(wsgate, appdir):
    """The bridge imported the new code but the re-executed process cannot (the files
    changed again meanwhile): the bridge serves on, the started pid keeps it, and a
    SIGHUP tries again."""
    srv = start(wsgate, appdir)
    write_app(appdir, "v2", fail_nth=2)  # the bridge's import works, the next one fails
    srv.signal(signal.SIGHUP)
    wait_for(lambda: "keeps serving" in srv.error_text(), t(20), what="the failed import")
    bridge = children(srv.pid)
    assert len(bridge) == 1
    assert info(srv)[:2] == ("v2", bridge[0])
    assert srv.proc.poll() is None
    srv.signal(signal.SIGHUP)  # the third import works
    wait_for(lambda: info(srv)[:2] == ("v2", srv.pid), t(20), what="the process to serve")
    wait_for(lambda: children(srv.pid) == [], t(15), what="the bridge to exit")


@pytest.mark.slow
@pytest.mark.parametrize("procs", ["1", "2"])
def test_max_requests_recycles_without_failures(wsgate, appdir, tmp_path, procs):
    pidfile = str(tmp_path / "wsgate.pid")
    srv = start(wsgate, appdir, "-w", procs, "--max-requests", "50",
                "--max-requests-jitter", "10", "--pid-file", pidfile)
    first = srv.pid
    try:
        with Load(srv, threads=3) as load:
            # one process reloads through a bridge that must first import the app
            # (it serves until then); workers of a master retire at once
            wait_for(lambda: load.count() >= 300 and
                     (srv.error_text().count("reload complete") >= 2 if procs == "1"
                      else len({p for _, _, p in load.ok}) >= 5),
                     t(60), what="300 requests served by recycled processes")
        assert load.failed == [], load.failed[:5]
        if procs == "2":
            for pid in {p for _, _, p in load.ok}:  # 50 + jitter 10 + a few in flight
                assert sum(1 for _, _, p in load.ok if p == pid) <= 70
        else:
            assert srv.proc.poll() is None and read_pid(pidfile) == first
    finally:
        if procs == "1":
            stop_bridges(first)


@pytest.mark.slow
@pytest.mark.parametrize("procs", ["1", "2"])
def test_sigterm_drains_in_flight_request(wsgate, appdir, tmp_path, procs):
    srv = start(wsgate, appdir, "-w", procs)
    if procs == "2":
        wait_for(lambda: len(children(srv.pid)) == 2, t(10), what="2 workers")
    out = {}
    mark = str(tmp_path / "in-app")
    th = threading.Thread(target=lambda: out.update(r=http_get(srv, "/sleep?2&" + mark,
                                                               timeout=t(30))))
    th.start()
    wait_mark(mark)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    # every process that accepts has begun its drain
    wait_log(srv, r"SIGTERM: stopping gracefully \(", count=int(procs))
    # a new connection during the drain is refused or answered, never left hanging
    try:
        s = socket.create_connection((srv.host, srv.port), timeout=t(2))
        s.settimeout(t(5))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(100)
        s.close()
        assert data == b"" or data.startswith(b"HTTP/1.1 200"), data
    except ConnectionRefusedError:
        pass
    th.join(t(30))
    assert out["r"][0] == 200
    assert srv.wait_exit(t(15)) == 0
    assert 1.0 < time.monotonic() - t0 < t(10)
    assert children(srv.pid) == []


def request_in_the_app(srv, tmp_path):
    """Starts a 30 s request that the stop will cut (the client sees an error) and
    waits until it is in the app."""
    mark = str(tmp_path / "in-app")
    th = threading.Thread(target=lambda: pytest.raises(Exception, http_get, srv,
                                                       "/sleep?30&" + mark, timeout=t(40)),
                          daemon=True)
    th.start()
    wait_mark(mark)


@pytest.mark.parametrize("procs", ["1", "2"])
def test_graceful_timeout_abandons_long_request(wsgate, appdir, tmp_path, procs):
    srv = start(wsgate, appdir, "-w", procs, "--graceful-timeout", "1")
    if procs == "2":
        wait_for(lambda: len(children(srv.pid)) == 2, t(10), what="2 workers")
    request_in_the_app(srv, tmp_path)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(t(15)) == 0
    assert time.monotonic() - t0 < t(8)
    assert "graceful timeout" in srv.error_text()
    assert children(srv.pid) == []


@pytest.mark.parametrize("procs", ["1", "2"])
def test_sigquit_stops_at_once(wsgate, appdir, tmp_path, procs):
    pidfile = str(tmp_path / "wsgate.pid")
    srv = start(wsgate, appdir, "-w", procs, "--pid-file", pidfile)
    if procs == "2":
        wait_for(lambda: len(children(srv.pid)) == 2, t(10), what="2 workers")
    request_in_the_app(srv, tmp_path)
    t0 = time.monotonic()
    srv.signal(signal.SIGQUIT)
    assert srv.wait_exit(t(10)) == 0
    assert time.monotonic() - t0 < t(4)
    wait_for(lambda: children(srv.pid) == [], t(5), what="the workers to exit")
    assert not os.path.exists(pidfile), "a stale --pid-file after SIGQUIT"


# ------------------------------------------------------------ sd_notify

@pytest.mark.parametrize("procs", ["1", "2"])
def test_notify_ready_reloading_stopping(wsgate, appdir, unix_sock_dir, procs):
    path = os.path.join(unix_sock_dir, "notify")
    ns = notify_socket(path)
    try:
        srv = wsgate("lifeapp", "--pythonpath", appdir, "-w", procs, env={"NOTIFY_SOCKET": path})
        got = notifications(ns, "READY=1", t(15))
        assert "MAINPID=%d" % srv.pid in got[-1], got
        if procs == "2":  # the master says READY once its workers accept
            assert len(children(srv.pid)) == 2
        write_app(appdir, "v2")
        srv.signal(signal.SIGHUP)
        got = notifications(ns, "RELOADING=1", t(15))
        assert any(line.startswith("MONOTONIC_USEC=") for line in got[-1]), got
        got = notifications(ns, "READY=1", t(30))
        assert "MAINPID=%d" % srv.pid in got[-1]  # the service's pid does not change
        assert not any("STOPPING=1" in g for g in got), got
        # old workers (or the bridge) may accept a last connection as they begin to drain
        wait_for(lambda: info(srv)[0] == "v2", t(10), what="the new code")
        srv.signal(signal.SIGTERM)
        notifications(ns, "STOPPING=1", t(15))
    finally:
        ns.close()
