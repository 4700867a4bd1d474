"""Scale-out (docs/scale-out.md): --health-path, answered by wsgate itself on the
loop (200 while serving, 503 once draining), over HTTP, FastCGI and SCGI and while
every worker thread is busy; --drain-delay, which keeps a stopping process serving
with its health path at 503 so that load balancers take it out before its listeners
close (single process and prefork); and, as root, several wsgate "hosts" in network
namespaces of their own behind HAProxy, one drained with SIGTERM and one killed with
SIGKILL under load, without a failed request."""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time

import pytest
import requests

import fcgi_client as fc
import frontends
from conftest import Server
from scgi_client import ScgiConn, request_bytes as scgi_request
from wsgate_util import free_port, t, wait_for, wait_log

BACKENDS = ("wsgate_http", "wsgate_fcgi")  # frontends.BalancingHaproxy's


def http_health(srv, path="/healthz", method="GET"):
    """The response to one health request on a new connection."""
    return srv.exchange(("%s %s HTTP/1.1\r\nHost: t\r\n\r\n" % (method, path)).encode(),
                        method=method)


@pytest.mark.slow
def test_health_path_answered_by_the_loop_on_every_front_end(wsgate, tmp_path):
    fport, sport = free_port(), free_port()
    srv = wsgate("it_slow", "--threads", "1", "--health-path", "/healthz",
                 "--fastcgi", "127.0.0.1:%d" % fport, "--scgi", "127.0.0.1:%d" % sport)
    # The only thread is busy in the app (and a request waits in the queue behind
    # it): the health check is answered all the same, at once.
    mark = str(tmp_path / "busy")
    busy = srv.conn()
    busy.send(("GET /busy?t=%s&mark=%s HTTP/1.1\r\nHost: t\r\n\r\n" % (t(3), mark)).encode())
    wait_for(lambda: os.path.exists(mark), t(10), what="the slow request to reach the app")
    queued = srv.conn()
    queued.send(b"GET /queued HTTP/1.1\r\nHost: t\r\n\r\n")
    r = http_health(srv)
    assert r.status == 200 and r.body == b"200 OK\n", r
    assert r.header("connection") == "close"
    assert http_health(srv, "/healthz?from=haproxy").status == 200
    head = http_health(srv, method="HEAD")
    assert head.status == 200 and head.body == b""
    # HAProxy's `option httpchk /path` sends OPTIONS
    assert http_health(srv, method="OPTIONS").status == 200
    # FastCGI (HAProxy `use-fcgi-app` backends check through it): a whole response,
    # and a kept connection carries on.
    with fc.FcgiConn(("127.0.0.1", fport)) as c:
        for rid in (1, 2):
            res = c.request(fc.cgi_params(uri="/healthz"), rid=rid, keep_conn=True)
            assert res.status == 200 and res.body == b"200 OK\n", res
            assert res.protocol_status == fc.REQUEST_COMPLETE
    with ScgiConn(("127.0.0.1", sport)) as c:
        c.try_send(scgi_request("GET", "/healthz"))
        res = c.response()
    assert res.status == 200 and res.body == b"200 OK\n", res
    # all of that while the app still holds the only thread
    assert select.select([busy.sock], [], [], 0)[0] == [], "the busy request ended first"
    # Only the exact path: /healthz/x and /healthzz are the app's.
    busy.read_response()
    queued.read_response()
    r = srv.exchange(b"GET /healthzz?t=0 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert json.loads(r.body)["path"] == "/healthzz"
    busy.close()
    queued.close()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_drain_delay_serves_with_health_503_then_stops(wsgate, workers):
    delay = t(1.5)
    srv = wsgate("it_slow", "--health-path", "/healthz", "--drain-delay", str(delay),
                 "--processes", str(workers))
    if workers > 1:
        wait_log(srv, r"%d workers ready" % workers)
    assert http_health(srv).status == 200
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    wait_log(srv, r"draining")
    if workers > 1:  # each worker hears it from the master
        wait_log(srv, r"answers 503 until the stop", count=workers)
    # Still accepting and serving; only the health check says "going away".
    for _ in range(3):
        r = http_health(srv)
        assert r.status == 503 and r.header("retry-after") == "1", r
        assert requests.get(srv.url("/app?t=0"), timeout=t(5)).status_code == 200
    assert srv.wait_exit(t(15)) == 0
    assert time.monotonic() - t0 >= delay * 0.9, "stopped before --drain-delay had run"
    wait_log(srv, r"stopping gracefully")


def test_health_path_checks(wsgate):
    from conftest import run_cli
    r = run_cli("--health-path", "healthz", "hello")
    assert r.returncode == 2 and b"must start with '/'" in r.stderr
    r = run_cli("--health-path", "/up", "--script-name", "/app", "hello")
    assert r.returncode == 2 and b"--health-path /up must be under --script-name /app" \
        in r.stderr


# ---------------------------------------------------------------- hosts in namespaces

def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=t(10))
    if check and r.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def _free_net():
    """A 10.201.X.0/24 no interface of this machine uses."""
    used = _ip("-4", "-o", "addr", "show").stdout
    for i in range(200):
        x = 1 + (os.getpid() + i) % 250
        if " 10.201.%d." % x not in used:
            return "10.201.%d" % x
    pytest.skip("no free 10.201.X.0/24 for the test's namespaces")


@pytest.fixture
def netns_hosts():
    """Three network namespaces, each joined to this one by a veth pair with a /30 of
    a free 10.201.X.0/24: yields [(namespace, its address)]. Everything is removed at
    the end, also when the test fails."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces and veth pairs")
    if shutil.which("ip") is None:
        pytest.skip("iproute2's ip is not installed")
    tag = "%04x" % (os.getpid() & 0xffff)
    made_ns, made_links, hosts = [], [], []
    try:
        net = _free_net()
        for i in range(3):
            ns, outer, inner = "wsgate-so-%s-%d" % (tag, i), "wsg%s%d" % (tag, i), \
                "wsg%s%dn" % (tag, i)
            r = _ip("netns", "add", ns, check=False)
            if r.returncode != 0:
                pytest.skip("ip netns add refused: %s" % r.stderr.strip())
            made_ns.append(ns)
            r = _ip("link", "add", outer, "type", "veth", "peer", "name", inner, check=False)
            if r.returncode != 0:
                pytest.skip("cannot create a veth pair: %s" % r.stderr.strip())
            made_links.append(outer)
            _ip("link", "set", inner, "netns", ns)
            _ip("addr", "add", "%s.%d/30" % (net, 4 * i + 1), "dev", outer)
            _ip("link", "set", outer, "up")
            _ip("-n", ns, "addr", "add", "%s.%d/30" % (net, 4 * i + 2), "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            hosts.append((ns, "%s.%d" % (net, 4 * i + 2)))
        yield hosts
    finally:
        for link in made_links:
            _ip("link", "del", link, check=False)  # its peer goes with it
        for ns in made_ns:
            _ip("netns", "del", ns, check=False)


class NsServer(Server):
    """wsgate started inside a network namespace (ip netns exec runs it in place: its
    pid is wsgate's), with an HTTP and a FastCGI listener on the namespace's address."""

    def __init__(self, tmpdir, ns, addr, app, args):
        self.ns = ns
        hport, fport = free_port(), free_port()
        super().__init__(tmpdir, app, ["--fastcgi", "%s:%d" % (addr, fport)] + list(args),
                         listen=["%s:%d" % (addr, hport)])
        self.host, self.port, self.fcgi_port = addr, hport, fport

    def _argv(self, http_args):
        return ["ip", "netns", "exec", self.ns] + super()._argv(http_args)


class Load:
    """Client threads sending GETs through the balancer, alternating the HTTP and the
    FastCGI backend, each on a kept connection, until stopped. Every exception and
    every status other than 200 is a failure."""

    def __init__(self, url, threads=4):
        self.url = url
        self.stop_ev = threading.Event()
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def _run(self, i):
        s = requests.Session()
        n = 0
        while not self.stop_ev.is_set():
            path = "/%s/t%d-%d?t=0.02" % ("fcgi" if n % 2 else "http", i, n)
            n += 1
            try:
                r = s.get(self.url + path, timeout=t(10))
                ok = r.status_code == 200 and r.json()["path"] == path.split("?")[0]
                what = "%s -> %d %r" % (path, r.status_code, r.content[:200])
            except Exception as e:  # every failure is reported by the test
                ok, what = False, "%s -> %r" % (path, e)
            with self.lock:
                if ok:
                    self.ok += 1
                else:
                    self.failures.append(what)

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for th in self.threads:
            th.join(t(15))


@pytest.mark.slow
def test_drain_and_kill_behind_haproxy(netns_hosts, wsgate, tmp_path):
    """Three hosts behind HAProxy (docs/scale-out.md's config), under load over HTTP
    and FastCGI: SIGTERM drains one (its health check turns 503 and HAProxy marks it
    DOWN while it still runs and serves; it exits 0 after --drain-delay), SIGKILL
    ends another (HAProxy's L7 retries with redispatch hide it): no request fails."""
    if frontends.BalancingHaproxy.locate() is None:
        pytest.skip("haproxy not installed (scripts/install-deps installs it)")
    pool = wsgate.__self__  # the fixture's ServerPool stops and checks them at the end
    delay = t(3)
    hosts = []
    for i, (ns, addr) in enumerate(netns_hosts):
        srv = NsServer(str(tmp_path), ns, addr, "it_slow",
                       ["--threads", "4", "--health-path", "/healthz",
                        "--drain-delay", str(delay), "--graceful-timeout", str(t(10))])
        pool.servers.append(srv)
        srv.name = "host%d" % (i + 1)
        hosts.append(srv.start())
    lb = frontends.BalancingHaproxy([(h.name, h.host, h.port, h.fcgi_port) for h in hosts])
    try:
        lb.start()

        def states(want):
            st = lb.server_states()
            return st if all(st.get((b, h.name), ("",))[0] == w for b in BACKENDS
                             for h, w in want) else None
        wait_for(lambda: states([(h, "UP") for h in hosts]), t(10),
                 what="HAProxy to see every host UP")
        drained, killed, kept = hosts
        with Load(lb.url("")) as load:
            wait_for(lambda: load.ok >= 40, t(10), what="requests through HAProxy")
            drained.signal(signal.SIGTERM)
            wait_for(lambda: states([(drained, "DOWN")]), t(10),
                     what="HAProxy to mark the drained host DOWN")
            # HAProxy's view: taken out by the health check's 503, while the host was
            # still running (and serving: it exits only after --drain-delay).
            assert drained.proc.poll() is None, "the drained host exited before HAProxy saw it"
            st = lb.server_states()
            for b in BACKENDS:
                assert st[(b, drained.name)][1:] == ("L7STS", "503"), st
            os.kill(killed.pid, signal.SIGKILL)
            killed.expect_nonzero_exit = True
            assert drained.wait_exit(t(15)) == 0
            wait_for(lambda: states([(killed, "DOWN")]), t(10),
                     what="HAProxy to mark the killed host DOWN")
            ok_before = load.ok
            wait_for(lambda: load.ok >= ok_before + 20, t(10), what="requests after both")
        assert load.failures == [], "%d of %d requests failed: %s" % (
            len(load.failures), load.ok + len(load.failures), load.failures[:5])
        log = lb.log_text()
        for b in BACKENDS:
            assert re.search(r"Server %s/%s is DOWN, reason: Layer7 wrong status, code: 503"
                             % (b, drained.name), log), log[-3000:]
        assert kept.proc.poll() is None
    finally:
        lb.stop()

