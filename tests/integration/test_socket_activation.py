"""systemd socket activation (LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES) and readiness
reports to NOTIFY_SOCKET (READY=1, STOPPING=1).

The handed-over sockets are made as systemd makes them: listening sockets created
here, moved to descriptors 3, 4, ... by a shell that then execs wsgate, so the
LISTEN_PID=$$ it sets is wsgate's own pid. The notify socket is a unix datagram
socket bound here, read with a deadline.
"""
import fcntl
import json
import os
import shutil
import socket
import uuid

import pytest

import fcgi_client as fc
from conftest import Server, ServerPool, free_port
from scgi_client import ScgiConn
from wsgate_util import (Pki, connect_to, get_json, notifications, notify_socket, req, t,
                         tls_connect, wait_for)


class ActivatedServer(Server):
    """A Server whose listeners are inherited sockets (fds 3..) instead of options."""

    def __init__(self, tmpdir, app, args, sockets, names, listen_pid, env):
        # Park each socket on a high descriptor first, so moving them to 3.. in the
        # shell never overwrites one not yet moved.
        self.parked = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 60) for s in sockets]
        env = dict(env or {})
        env["LISTEN_FDS"] = str(len(sockets))
        if names is not None:
            env["LISTEN_FDNAMES"] = names
        self.listen_pid = listen_pid
        if listen_pid != "self":
            env["LISTEN_PID"] = str(listen_pid)
        super().__init__(tmpdir, app, args, listen=[], pass_fds=tuple(self.parked), env=env)

    def _argv(self, http_args):
        argv = super()._argv(http_args)
        moves = " ".join("%d<&%d %d<&-" % (3 + i, fd, fd) for i, fd in enumerate(self.parked))
        setpid = "LISTEN_PID=$$ " if self.listen_pid == "self" else ""
        return ["/bin/bash", "-c", "exec %s; %sexec \"$@\"" % (moves, setpid), "wsgate"] + argv

    def start(self, wait=True):
        try:
            return super().start(wait=wait)
        finally:
            for fd in self.parked:
                os.close(fd)
            self.parked = []


@pytest.fixture
def activated(tmp_path):
    """activated(app, *args, sockets=[...], names="http:fastcgi", listen_pid="self",
    env=None, start=True, host=None, port=None, unix_path=None) -> Server."""
    pool = ServerPool(str(tmp_path))

    def start(app, *args, sockets, names=None, listen_pid="self", env=None, start=True,
              host=None, port=None, unix_path=None):
        s = ActivatedServer(str(tmp_path), app, args, sockets, names, listen_pid, env)
        s.host, s.port, s.unix_path = host, port, unix_path
        pool.servers.append(s)
        if start:
            s.start()
        return s

    yield start
    pool.finish()


def tcp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def unix_listener(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    return s


def fcgi_get(sock, path):
    with fc.FcgiConn(sock=sock) as c:
        r = c.request(fc.cgi_params("GET", path))
    assert r.status == 200, r
    return r.json()


def listening_inodes(pid):
    """{'tcp': {inode: port}, 'unix': {inode}}: the listening sockets pid holds."""
    mine = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            mine.add(int(link[8:-1]))
    tcp = {}
    for name in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, name)) as f:
            for row in f.read().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[9]) in mine:  # TCP_LISTEN
                    tcp[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    unix = set()
    with open("/proc/%d/net/unix" % pid) as f:
        for row in f.read().splitlines()[1:]:
            fields = row.split()
            if int(fields[3], 16) & 0x10000 and int(fields[6]) in mine:  # __SO_ACCEPTCON
                unix.add(int(fields[6]))
    return {"tcp": tcp, "unix": unix}


def error_lines(r):
    return [x for x in r.splitlines() if x.strip()]


# ------------------------------------------------------------ socket activation

def test_http_and_fastcgi_sockets(activated, unix_sock_dir):
    tcp = tcp_listener()
    path = os.path.join(unix_sock_dir, "fcgi.sock")
    ux = unix_listener(path)
    host, port = tcp.getsockname()
    srv = activated("it_sdenv", sockets=[tcp, ux], names="http:fastcgi", host=host, port=port)
    tcp_ino, ux_ino = os.fstat(tcp.fileno()).st_ino, os.fstat(ux.fileno()).st_ino
    tcp.close()
    ux.close()  # the server holds the only copies now

    out = get_json(srv.connect(), "/over-http")
    assert out["path"] == "/over-http"
    assert out["port"] == str(port)
    assert out["os"] == {}, "LISTEN_* reached the app: %r" % out["os"]
    out = fcgi_get(connect_to(path), "/over-fastcgi")
    assert out["path"] == "/over-fastcgi"

    # exactly the handed-over sockets listen: no default 127.0.0.1:8000, nothing else
    held = listening_inodes(srv.pid)
    assert held["tcp"] == {tcp_ino: port}, held
    assert held["unix"] == {ux_ino}, held
    log = srv.error_text()
    assert "listening on fd:3 (http)" in log and "listening on fd:4 (fastcgi)" in log, log

    rc, problem = srv.stop()
    assert rc == 0 and problem is None, (rc, problem)
    assert os.path.exists(path), "the activated unix socket's file was unlinked"


@pytest.mark.parametrize("names", [None, "unknown"])
def test_unnamed_socket_is_http(activated, names):
    tcp = tcp_listener()
    host, port = tcp.getsockname()
    srv = activated("it_sdenv", sockets=[tcp], names=names, host=host, port=port)
    tcp.close()
    assert get_json(srv.connect(), "/plain")["path"] == "/plain"


def test_scgi_name(activated, unix_sock_dir):
    path = os.path.join(unix_sock_dir, "scgi.sock")
    ux = unix_listener(path)
    srv = activated("it_sdenv", sockets=[ux], names="scgi", unix_path=path)
    ux.close()
    body = b""
    head = b"CONTENT_LENGTH\0" + b"0\0SCGI\0" + b"1\0REQUEST_METHOD\0GET\0" \
        b"REQUEST_URI\0/over-scgi\0PATH_INFO\0/over-scgi\0SERVER_NAME\0x\0SERVER_PORT\0" \
        b"80\0SERVER_PROTOCOL\0HTTP/1.1\0"
    with ScgiConn(path) as c:
        c.send(b"%d:%s," % (len(head), head) + body)
        data = c.response().raw
    assert data.startswith(b"Status: 200"), data[:200]
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["path"] == "/over-scgi"
    assert os.path.exists(path)
    srv.stop()
    assert os.path.exists(path), "the activated unix socket's file was unlinked"


def test_uwsgi_name(activated, unix_sock_dir):
    """LISTEN_FDNAMES=uwsgi: the activated socket speaks the uwsgi protocol."""
    from uwsgi_client import UwsgiConn, request_bytes as uwsgi_request
    path = os.path.join(unix_sock_dir, "uwsgi.sock")
    ux = unix_listener(path)
    srv = activated("it_sdenv", sockets=[ux], names="uwsgi", unix_path=path)
    ux.close()
    with UwsgiConn(path) as c:
        c.send(uwsgi_request("GET", "/over-uwsgi"))
        r = c.response()
    assert r.status == 200 and r.raw.startswith(b"HTTP/1.1 200 "), r.raw[:200]
    assert json.loads(r.body)["path"] == "/over-uwsgi"


def test_https_name(activated, tmp_path):
    """A socket named https is HTTP over TLS with --certfile/--keyfile (and without
    them, one line and exit status 2)."""
    pki = Pki(str(tmp_path))
    tcp = tcp_listener()
    host, port = tcp.getsockname()
    srv = activated("it_sdenv", "--certfile", pki.ec_chain, "--keyfile", pki.ec_key,
                    sockets=[tcp], names="https", host=host, port=port)
    try:
        s = tls_connect(srv, pki.client_context())
        assert get_json(s, "/over-tls")["path"] == "/over-tls"
        assert "listening on fd:3 (https)" in srv.error_text()
        rc, err = start_failing(activated, [tcp], "https")
    finally:
        tcp.close()
    assert rc == 2 and error_lines(err) == ["wsgate: --https needs --certfile (and --keyfile, "
                                            "unless the key is in that file)"], err


def test_activated_in_addition_to_options(activated):
    tcp = tcp_listener()
    host, port = tcp.getsockname()
    other = free_port()
    srv = activated("it_sdenv", "--http", "127.0.0.1:%d" % other, sockets=[tcp], names="http",
                    host=host, port=port)
    tcp.close()
    assert get_json(srv.connect(), "/a")["port"] == str(port)
    s = socket.create_connection(("127.0.0.1", other), timeout=t(5))
    assert get_json(s, "/b")["port"] == str(other)
    assert sorted(listening_inodes(srv.pid)["tcp"].values()) == sorted([port, other])


def test_proxy_protocol_at_an_activated_socket(activated):
    """--proxy-protocol-at names a socket systemd passes by its fd:N (as the log names
    it): that one reads a PROXY header (SERVER_PORT is then the header's), the --http
    listener next to it does not; one that names no listener stops the start."""
    tcp = tcp_listener()
    host, port = tcp.getsockname()
    other = free_port()
    srv = activated("it_sdenv", "--http", "127.0.0.1:%d" % other, "--proxy-protocol-at",
                    "fd:3=v1", sockets=[tcp], names="http", host=host, port=port)
    tcp.close()
    s = srv.connect()
    s.sendall(b"PROXY TCP4 198.51.100.1 203.0.113.1 1234 4321\r\n")
    assert get_json(s, "/a")["port"] == "4321"
    s = socket.create_connection(("127.0.0.1", other), timeout=t(5))
    assert get_json(s, "/b")["port"] == str(other)

    tcp = tcp_listener()
    bad = activated("it_sdenv", "--proxy-protocol-at", "fd:4=v1", sockets=[tcp], names="http",
                    start=False)
    bad.start(wait=False)
    rc = bad.wait_exit(t(15))
    bad.expect_nonzero_exit = True
    tcp.close()
    assert rc not in (0, None), bad.stderr_text()
    assert "--proxy-protocol-at fd:4: no --http or --https listener has that ADDR" in \
        bad.stderr_text()


def test_listen_pid_of_another_process_is_ignored(activated):
    tcp = tcp_listener()
    other = free_port()
    # LISTEN_PID=1: meant for someone else; the sockets are not ours to use
    srv = activated("it_sdenv", "--http", "127.0.0.1:%d" % other, sockets=[tcp], names="http",
                    listen_pid=1, host="127.0.0.1", port=other)
    try:
        out = get_json(srv.connect(), "/c")
        assert out["port"] == str(other)
        assert out["os"] == {}, "LISTEN_* reached the app: %r" % out["os"]
        assert "fd:3" not in srv.error_text()
        # nobody accepts on the ignored socket: a request there stays unanswered
        c = socket.create_connection(tcp.getsockname(), timeout=t(5))
        c.sendall(req("GET", "/ignored"))
        c.settimeout(1.0)
        with pytest.raises(socket.timeout):
            c.recv(100)
        c.close()
    finally:
        tcp.close()


def start_failing(activated, sockets, names=None, env=None):
    srv = activated("it_sdenv", sockets=sockets, names=names, env=env, start=False)
    srv.start(wait=False)
    rc = srv.wait_exit(t(15))
    srv.expect_nonzero_exit = True
    assert rc is not None, "wsgate did not exit"
    return rc, srv.stderr_text()


@pytest.mark.parametrize("names,why", [
    ("ajp", "unknown name 'ajp' for fd 3"),
    ("http:HTTP", "unknown name 'HTTP' for fd 4"),
    ("http", "names 1 sockets but LISTEN_FDS is 2"),
    ("http:fastcgi:scgi", "names 3 sockets but LISTEN_FDS is 2"),
])
def test_bad_names_exit_2(activated, names, why):
    a, b = tcp_listener(), tcp_listener()
    try:
        rc, err = start_failing(activated, [a, b], names)
    finally:
        a.close()
        b.close()
    assert rc == 2, err
    lines = error_lines(err)
    assert len(lines) == 1 and why in lines[0], err
    assert lines[0].startswith("wsgate: socket activation:"), err


def make_bad(kind, tmp_path):
    if kind == "file":
        f = open(os.path.join(str(tmp_path), "not-a-socket"), "w")
        return f, "fd 3 (LISTEN_FDS) is not a socket"
    if kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        return s, "fd 3 is not a stream socket"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # bound, not listening
    s.bind(("127.0.0.1", 0))
    return s, "fd 3 is not a listening socket"


@pytest.mark.parametrize("kind", ["file", "udp", "unlistened"])
def test_bad_descriptor_exit_2(activated, tmp_path, kind):
    obj, why = make_bad(kind, tmp_path)
    try:
        rc, err = start_failing(activated, [obj], "http")
    finally:
        obj.close()
    assert rc == 2, err
    lines = error_lines(err)
    assert len(lines) == 1 and why in lines[0], err


def test_missing_descriptor_exit_2(activated):
    # LISTEN_FDS=2 but only fd 3 is handed over: fd 4 is not open (or not a socket)
    tcp = tcp_listener()
    srv = activated("it_sdenv", sockets=[tcp], start=False)
    srv.env["LISTEN_FDS"] = "2"
    srv.start(wait=False)
    rc = srv.wait_exit(t(15))
    srv.expect_nonzero_exit = True
    tcp.close()
    err = srv.stderr_text()
    assert rc == 2, err
    lines = error_lines(err)
    assert len(lines) == 1 and "fd 4 (LISTEN_FDS) is not open" in lines[0], err


# ------------------------------------------------------------ sd_notify

@pytest.mark.parametrize("abstract", [False, True])
def test_notify_ready_and_stopping(wsgate, unix_sock_dir, abstract):
    if abstract:
        name = "wsgate-test-%s" % uuid.uuid4().hex
        ns = notify_socket("\0" + name)
        value = "@" + name
    else:
        value = os.path.join(unix_sock_dir, "notify")
        ns = notify_socket(value)
    try:
        srv = wsgate("it_sdenv", env={"NOTIFY_SOCKET": value})
        got = notifications(ns, "READY=1", t(15))
        ready = got[-1]
        assert "MAINPID=%d" % srv.pid in ready, ready
        assert "STATUS=serving it_sdenv" in ready, ready
        assert not any("STOPPING=1" in m for m in got), got
        # NOTIFY_SOCKET stays in the environment (systemd's convention)
        assert get_json(srv.connect(), "/n")["os"] == {"NOTIFY_SOCKET": value}
        srv.signal(15)
        notifications(ns, "STOPPING=1", t(15))
        assert srv.wait_exit(t(15)) == 0
    finally:
        ns.close()


def test_notify_with_activation(activated, unix_sock_dir):
    value = os.path.join(unix_sock_dir, "notify")
    ns = notify_socket(value)
    tcp = tcp_listener()
    host, port = tcp.getsockname()
    try:
        srv = activated("it_sdenv", sockets=[tcp], names="http", host=host, port=port,
                        env={"NOTIFY_SOCKET": value})
        tcp.close()
        notifications(ns, "READY=1", t(15))
        assert get_json(srv.connect(), "/r")["path"] == "/r"
    finally:
        ns.close()


@pytest.mark.parametrize("value", ["relative/notify", "/nonexistent-dir/notify"])
def test_notify_unusable_socket_does_not_stop_start(wsgate, value):
    srv = wsgate("it_sdenv", env={"NOTIFY_SOCKET": value})
    assert get_json(srv.connect(), "/u")["path"] == "/u"
    if value.startswith("/"):
        return  # a path nobody listens on: the datagram is dropped (debug log only)
    wait_for(lambda: "NOTIFY_SOCKET" in srv.error_text(), t(5), what="the warning")


# ------------------------------------------------------------ systemd's own tool

SSA = shutil.which("systemd-socket-activate")


class SsaServer(Server):
    """wsgate started by systemd-socket-activate, which listens, waits for the first
    connection, then execs wsgate with the socket as fd 3 and LISTEN_* set."""

    def __init__(self, tmpdir, app, args, listen_args):
        self.listen_args = listen_args
        super().__init__(tmpdir, app, args, listen=[])

    def _argv(self, http_args):
        # It passes on only the variables named with -E: keep the sanitizers' settings.
        keep = ["-E%s" % k for k in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
                                      "TSAN_OPTIONS") if k in os.environ]
        return [SSA] + self.listen_args + keep + super()._argv(http_args)


@pytest.mark.skipif(SSA is None, reason="systemd-socket-activate not installed")
def test_systemd_socket_activate_fastcgi(tmp_path):
    pool = ServerPool(str(tmp_path))
    try:
        port = free_port()
        srv = SsaServer(str(tmp_path), "it_sdenv", (),
                        ["-l", "127.0.0.1:%d" % port, "--fdname=fastcgi"])
        srv.host, srv.port = "127.0.0.1", port
        pool.servers.append(srv)
        srv.start()  # the readiness probe's connection makes it exec wsgate
        out = fcgi_get(srv.connect(), "/via-ssa")
        assert out["path"] == "/via-ssa"
        assert out["os"] == {}, out
        wait_for(lambda: "listening on fd:3 (fastcgi)" in srv.error_text(), t(5),
                 what="the fd:3 listener in the log")
    finally:
        pool.finish()
