"""Listeners: unix sockets (stale file replaced, --socket-mode), IPv6, an
inherited fd:N, and several listeners at once."""
import os
import socket
import stat

import pytest

from conftest import free_port
from wsgate_util import RawConn, connect_to, get_json, req, t


def get_over(sock):
    return get_json(sock, "/over?x=1")["environ"]


def test_unix_socket(wsgate):
    srv = wsgate("it_probe", unix=True)
    assert stat.S_ISSOCK(os.stat(srv.unix_path).st_mode)
    env = get_over(srv.connect())
    assert env["PATH_INFO"] == "/over"
    assert env["QUERY_STRING"] == "x=1"
    assert env.get("REMOTE_ADDR", "") in ("", "127.0.0.1")  # no peer address on unix


def test_unix_stale_socket_replaced(wsgate, unix_sock_dir):
    path = os.path.join(unix_sock_dir, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays behind, nobody listens: a stale socket
    assert os.path.exists(path)
    srv = wsgate("it_probe", listen=["unix:" + path], start=False)
    srv.unix_path = path
    srv.start()
    assert get_over(connect_to(path))["PATH_INFO"] == "/over"


def test_unix_regular_file_not_clobbered(wsgate, unix_sock_dir):
    # A regular file at the path is not a stale socket: refuse rather than delete it.
    path = os.path.join(unix_sock_dir, "precious.txt")
    with open(path, "w") as f:
        f.write("keep me")
    srv = wsgate("it_probe", listen=["unix:" + path], start=False)
    srv.unix_path = path
    srv.start(wait=False)
    rc = srv.wait_exit(t(10))
    srv.expect_nonzero_exit = True
    assert rc is not None and rc != 0, "started over a regular file"
    with open(path) as f:
        assert f.read() == "keep me"


@pytest.mark.parametrize("mode", ["600", "660", "666"])
def test_unix_socket_mode(wsgate, unix_sock_dir, mode):
    path = os.path.join(unix_sock_dir, "m.sock")
    srv = wsgate("it_probe", "--socket-mode", mode, listen=["unix:" + path], start=False)
    srv.unix_path = path
    srv.start()
    assert stat.S_IMODE(os.stat(path).st_mode) == int(mode, 8)


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback (::1) on this machine")
def test_ipv6(wsgate):
    port = free_port("::1", socket.AF_INET6)
    srv = wsgate("it_probe", listen=["[::1]:%d" % port], start=False)
    srv.host, srv.port = "::1", port
    srv.start()
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(t(5))
    s.connect(("::1", port))
    env = get_over(s)
    assert env["REMOTE_ADDR"] == "::1"
    assert env["SERVER_PORT"] == str(port)


def test_port_only_address(wsgate):
    """README: ":PORT" listens on all IPv4 interfaces, "127.0.0.1:PORT" (the form of
    the default) on loopback only. 127.0.0.2 stands for another interface's address:
    Linux routes all of 127/8 to lo, but only a wildcard listener takes it."""
    port = free_port("0.0.0.0")
    srv = wsgate("it_probe", listen=[":%d" % port], start=False)
    srv.host, srv.port = "127.0.0.1", port
    srv.start()
    assert get_over(srv.connect())["SERVER_PORT"] == str(port)
    assert get_over(socket.create_connection(("127.0.0.2", port), timeout=t(5)))
    port = free_port("0.0.0.0")
    srv = wsgate("it_probe", listen=["127.0.0.1:%d" % port], start=False)
    srv.host, srv.port = "127.0.0.1", port
    srv.start()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port), timeout=t(5)).close()


def test_fd_listener(wsgate):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    port = ls.getsockname()[1]
    fd = ls.fileno()
    srv = wsgate("it_probe", listen=["fd:%d" % fd], pass_fds=(fd,), start=False)
    srv.host, srv.port = "127.0.0.1", port
    try:
        srv.start()
    finally:
        ls.close()  # the server has its own copy
    env = get_over(srv.connect())
    assert env["PATH_INFO"] == "/over"
    assert env["SERVER_PORT"] == str(port)


def test_fd_listener_unix(wsgate, unix_sock_dir):
    path = os.path.join(unix_sock_dir, "fd.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(16)
    fd = ls.fileno()
    srv = wsgate("it_probe", listen=["fd:%d" % fd], pass_fds=(fd,), start=False)
    srv.unix_path = path
    try:
        srv.start()
    finally:
        ls.close()
    assert get_over(connect_to(path))["PATH_INFO"] == "/over"


def test_fd_not_a_socket(tmp_path):
    from conftest import APPS, run_cli
    r = run_cli("--pythonpath", APPS, "--http", "fd:0", "it_probe")
    assert r.returncode != 0
    assert len([x for x in r.stderr.decode().splitlines() if x.strip()]) == 1, r.stderr


def test_two_listeners(wsgate, unix_sock_dir):
    port = free_port()
    path = os.path.join(unix_sock_dir, "two.sock")
    srv = wsgate("it_probe", listen=["127.0.0.1:%d" % port, "unix:" + path], start=False)
    srv.host, srv.port = "127.0.0.1", port
    srv.start()
    tcp = socket.create_connection(("127.0.0.1", port), timeout=t(5))
    assert get_over(tcp)["SERVER_PORT"] == str(port)
    from wsgate_util import wait_for
    wait_for(lambda: os.path.exists(path), t(5), what="the unix listener")
    assert get_over(connect_to(path))["PATH_INFO"] == "/over"


def test_two_tcp_listeners(wsgate):
    p1, p2 = free_port(), free_port()
    while p2 == p1:
        p2 = free_port()
    srv = wsgate("it_probe", listen=["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2], start=False)
    srv.host, srv.port = "127.0.0.1", p1
    srv.start()
    for p in (p1, p2):
        s = socket.create_connection(("127.0.0.1", p), timeout=t(5))
        assert get_over(s)["SERVER_PORT"] == str(p)


def _server_socket_of(pid, client):
    """A duplicate (pidfd_getfd) of the server's socket for the connection whose
    client end is `client`, or the reason (a string) why this process may not take
    another process's descriptor: a kernel before 5.6 (ENOSYS) or ptrace rules
    that forbid it (EPERM)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    cport = client.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            rem_port = int(parts[2].split(":")[1], 16)
            if rem_port == cport and parts[9] != "0":
                inode = parts[9]
    assert inode is not None, "the server's end of the connection is not in /proc/net/tcp"
    target = None
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, name)) == "socket:[%s]" % inode:
                target = int(name)
        except OSError:
            continue
    assert target is not None, "no descriptor of the server holds socket %s" % inode
    pidfd = libc.syscall(434, pid, 0)  # pidfd_open
    if pidfd < 0:
        return "pidfd_open: %s" % os.strerror(ctypes.get_errno())
    try:
        fd = libc.syscall(438, pidfd, target, 0)  # pidfd_getfd
        if fd < 0:
            return "pidfd_getfd: %s" % os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    return socket.socket(fileno=fd)


def test_accepted_tcp_connections_have_nodelay(wsgate):
    """TCP_NODELAY is set once on the listener and inherited by every accepted
    socket: without it a response written in two pieces (head, then a streamed
    body) could wait for the client's delayed ACK. Checked on the server's own
    socket, taken with pidfd_getfd."""
    srv = wsgate("it_probe")
    c = RawConn(srv)
    try:
        c.send(req("GET", "/x"))
        assert c.read_response().status == 200
        s = _server_socket_of(srv.pid, c.sock)
        if isinstance(s, str):  # the option cannot be read from outside here
            pytest.skip("cannot take the server's socket to read TCP_NODELAY (%s)" % s)
        try:
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            s.close()
    finally:
        c.close()
