"""--user, --group, --allow-root, --socket-owner, --umask (docs/operations.md,
"Privileges").

Started as root, wsgate opens its listeners, logs, metrics socket, pid file and TLS
key, then runs as --user/--group before Python starts: the app, a prefork master and
its workers (eager and --lazy) all run as that user with its groups only, seen from
the app (os.getuid...) and from /proc/PID/status; a unix socket belongs to
--socket-owner with --socket-mode. Reloads keep working without root (the master's
re-execution and a single process's bridge inherit the sockets): a key only root can
read fails the reload cleanly (the old image serves on) until it is made readable by
the app's group. Unknown names, a --user that is root and a start as root without
--user (unless --allow-root) are one line and exit 2, before the app is imported.

The servers' files live in a directory of their own that the app's user can
traverse (pytest's tmp_path is root's alone): a reload's image opens its logs again
there as that user. Tests that switch users need root: skipped otherwise.
"""
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import stat
import tempfile

import pytest

from conftest import APPS, ServerPool, run_cli
from wsgate_util import Pki, children, t, tls_connect, wait_for, wait_log

ROOT = os.geteuid() == 0


def ids():
    try:
        return pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    except KeyError:
        pytest.skip("no user nobody or group nogroup on this system")


need_root = pytest.mark.skipif(not ROOT, reason="switching users needs root (the suite "
                               "runs as root in CI)")


@pytest.fixture
def shared_dir():
    """A directory under /tmp (short: unix socket paths) that other users may
    traverse but not write, like /run or /var/log."""
    d = tempfile.mkdtemp(prefix="wsgp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pool(shared_dir):
    p = ServerPool(shared_dir)
    yield p.start
    p.finish()


def proc_ids(pid):
    """(Uid line, Gid line, Groups line) of /proc/PID/status, as lists of ints."""
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    return tuple([int(x) for x in st[k].split()] for k in ("Uid", "Gid", "Groups"))


def unix_metrics(path):
    """/metrics of a --stats unix:PATH listener as {sample: value}."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(t(5))
    try:
        s.connect(path)
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0], data[:200]
    return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in body.decode().splitlines()
                                     if line.startswith("wsgate_"))}


def who(srv):
    import requests
    r = requests.get(srv.url("/"), timeout=t(10))
    assert r.status_code == 200, r.text
    return r.json()


def assert_runs_as(info, pid, uid, gid):
    assert (info["uid"], info["euid"], info["gid"], info["egid"]) == (uid, uid, gid, gid), info
    assert info["groups"] == [gid], info
    assert proc_ids(pid) == ([uid] * 4, [gid] * 4, [gid]), (pid, proc_ids(pid))


@need_root
@pytest.mark.slow
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_prefork_runs_as_user_and_reloads(pool, shared_dir, lazy):
    uid, gid = ids()
    sock = os.path.join(shared_dir, "s.sock")
    msock = os.path.join(shared_dir, "m.sock")  # metrics: bound by root, before the switch
    pidfile = os.path.join(shared_dir, "wsgate.pid")
    srv = pool("it_priv", "-w", "2", "--threads", "2", "--user", "nobody", "--group", "nogroup",
               "--http", "unix:" + sock, "--socket-owner", "nobody:nogroup",
               "--socket-mode", "660", "--pid-file", pidfile, "--stats", "unix:" + msock,
               *(["--lazy"] if lazy else []))
    workers = wait_for(lambda: (lambda c: c if len(c) == 2 else None)(children(srv.pid)),
                       t(10), what="two workers")
    info = who(srv)
    assert info["pid"] in workers
    for pid in [srv.pid] + workers:
        assert_runs_as(info, pid, uid, gid)
    st = os.stat(sock)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, 0o660)
    st = os.stat(msock)  # --socket-owner applies to the metrics socket too
    assert (st.st_uid, st.st_gid) == (uid, gid)
    # the pid file was written by root, before the switch, where nobody may not write
    assert os.stat(pidfile).st_uid == 0 and open(pidfile).read() == "%d\n" % srv.pid
    assert "running as user nobody (uid %d), group %d" % (uid, gid) in srv.error_text()
    # the master, no longer root, still reads its workers' sizes
    m = unix_metrics(msock)
    assert len([k for k in m if k.startswith("wsgate_worker_rss_bytes{")]) == 2, m

    srv.signal(signal.SIGHUP)  # re-executes the master as nobody: no bind, no log error
    wait_for(lambda: unix_metrics(msock).get('wsgate_reloads_total{result="done"}') == 1, t(20),
             what="the reload done")
    new = wait_for(lambda: (lambda c: c if len(c) == 2 and not set(c) & set(workers)
                            else None)(children(srv.pid)), t(15), what="two new workers")
    info = who(srv)
    assert info["pid"] in new
    for pid in [srv.pid] + new:
        assert_runs_as(info, pid, uid, gid)
    assert open(pidfile).read() == "%d\n" % srv.pid
    assert not re.search(r"\[(error|critical)\]", srv.error_text()), srv.error_text()


def https_who(srv, ctx):
    s = tls_connect(srv, ctx)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data
    return json.loads(body)


@need_root
@pytest.mark.slow
def test_single_process_reload_as_user_with_a_key_only_root_reads(pool, shared_dir):
    """One process: the TLS key is read by root at start; a reload's bridge runs as
    nobody and cannot read a key only root may read, so the reload fails and the
    process serves on with the key it has; once the key is readable by the app's
    group (as Debian's ssl-cert group arranges) the next SIGHUP reloads."""
    uid, gid = ids()
    os.mkdir(os.path.join(shared_dir, "pki"), 0o755)
    pki = Pki(os.path.join(shared_dir, "pki"))
    key = os.path.join(shared_dir, "server.key")
    shutil.copyfile(pki.rsa_pkcs8, key)
    os.chmod(key, 0o600)
    srv = pool("it_priv", "--user", "nobody", "--group", "nogroup",
               tls=(pki.rsa_chain, key))
    ctx = ssl.create_default_context(cafile=pki.ca)
    first = https_who(srv, ctx)
    assert first["pid"] == srv.pid
    assert_runs_as(first, srv.pid, uid, gid)

    srv.signal(signal.SIGHUP)
    wait_log(srv, r"reload failed: the new code did not start", timeout=t(20))
    assert re.search(re.escape(key) + r".*(Permission denied|permission)", srv.error_text(),
                     re.I), srv.error_text()
    assert https_who(srv, ctx)["pid"] == srv.pid  # still serving, with the key it read

    os.chown(key, 0, gid)
    os.chmod(key, 0o640)
    srv.signal(signal.SIGHUP)
    wait_log(srv, r"reload complete", timeout=t(20))
    again = https_who(srv, ctx)
    assert again["pid"] == srv.pid  # the same process, re-executed as nobody
    assert_runs_as(again, srv.pid, uid, gid)
    assert wait_for(lambda: children(srv.pid) == [], t(10), what="the bridge gone") is not None


@pytest.mark.parametrize("args, line", [
    (["--user", "no-such-user-wsg"], "wsgate: --user: no such user 'no-such-user-wsg'"),
    (["--user", "nobody", "--group", "no-such-group-wsg"],
     "wsgate: --group: no such group 'no-such-group-wsg'"),
    (["--socket-owner", "no-such-user-wsg:nogroup"],
     "wsgate: --socket-owner: no such user 'no-such-user-wsg'"),
    (["--socket-owner", "nobody:no-such-group-wsg"],
     "wsgate: --socket-owner: no such group 'no-such-group-wsg'"),
    (["--user", "root"],
     "wsgate: --user root would run the app as root: give --allow-root if that is meant"),
    (["--user", "0", "--group", "nogroup"],
     "wsgate: --user 0 would run the app as root: give --allow-root if that is meant"),
    (["--group", "nogroup"] if ROOT else ["--group", "0"],
     "wsgate: --group without --user would run the app as root: give --user, or "
     "--allow-root if that is meant" if ROOT else None),
    (["--umask", "888"], "wsgate: invalid value '888' for --umask: not an octal mode "
     "(e.g. 660)"),
])
def test_refused_with_one_line(args, line):
    ids()
    if line is None:
        pytest.skip("as root only")
    r = run_cli(*args, "--pythonpath", APPS, "--check", "it_priv", allow_root=False)
    assert r.returncode == 2, r
    assert r.stderr.decode() == line + "\n"


REFUSED_AS_ROOT = ("wsgate: started as root without --user: give --user (and --group) to "
                   "run the app unprivileged, or --allow-root to run it as root\n")


@need_root
@pytest.mark.parametrize("how", [["--http", "unix:%(dir)s/s.sock"], ["--check"]],
                         ids=["serve", "check"])
def test_root_without_user_is_refused(shared_dir, how):
    """As root without --user: one line, exit 2, the app not imported, whether serving
    or --check (which imports the app as a start would)."""
    mark = os.path.join(shared_dir, "imported")
    r = run_cli(*[a % {"dir": shared_dir} for a in how], "--pythonpath", APPS, "it_priv",
                env=dict(os.environ, IT_PRIV_MARK=mark), allow_root=False, timeout=t(10))
    assert (r.returncode, r.stderr.decode(), r.stdout) == (2, REFUSED_AS_ROOT, b""), r
    assert not os.path.exists(mark)
    assert os.listdir(shared_dir) == []  # nor a socket bound


@need_root
@pytest.mark.parametrize("where", ["command line", "WSGATE_ARGS", "config file"])
def test_allow_root_runs_the_app_as_root(shared_dir, where):
    """--allow-root from any source (the option table's) lets the app be imported as
    root."""
    mark = os.path.join(shared_dir, "imported")
    env = dict(os.environ, IT_PRIV_MARK=mark)
    args = []
    if where == "command line":
        args = ["--allow-root"]
    elif where == "WSGATE_ARGS":
        env["WSGATE_ARGS"] = "--allow-root"
    else:
        with open(os.path.join(shared_dir, "w.ini"), "w") as f:
            f.write("[wsgate]\nallow-root = yes\n")
        args = ["-c", os.path.join(shared_dir, "w.ini")]
    r = run_cli(*args, "--pythonpath", APPS, "--check", "it_priv", env=env, allow_root=False)
    assert r.returncode == 0, r
    assert open(mark).read() == "0\n"


@pytest.mark.skipif(ROOT, reason="as a user other than root")
def test_not_root_cannot_switch():
    """Not root: --user naming the user wsgate runs as already is nothing to do;
    another user is one line and exit 2."""
    me = pwd.getpwuid(os.getuid()).pw_name
    r = run_cli("--user", me, "--pythonpath", APPS, "--check", "it_priv")
    assert r.returncode == 0, r
    r = run_cli("--user", "root", "--allow-root", "--pythonpath", APPS, "--check", "it_priv")
    assert r.returncode == 2 and r.stderr.decode().endswith("not root\n"), r
    assert len(r.stderr.splitlines()) == 1, r


@need_root
def test_allow_root_and_umask(shared_dir):
    log = os.path.join(shared_dir, "new.log")
    r = run_cli("--user", "root", "--allow-root", "--umask", "077", "--error-log", log,
                "--pythonpath", APPS, "--check", "it_priv")
    assert r.returncode == 0, r
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600  # made under --umask 077


@need_root
def test_allow_root_serves_as_root_and_says_so(wsgate):
    """The harness gives --allow-root as root (conftest.ROOT_ARGS): the app runs as
    root, and the log says so once, as information (it was asked for)."""
    srv = wsgate("it_priv")
    assert "--allow-root" in srv.argv
    assert who(srv)["uid"] == 0
    assert srv.error_text().count("[info] running the app as root (--allow-root)") == 1
    assert "[warning]" not in srv.error_text()


@need_root
def test_only_regular_log_files_change_owner(shared_dir):
    """The log files are handed to --user for a reload to open them again; a device
    named as a log (/dev/null, /dev/stderr) keeps its owner."""
    uid, gid = ids()
    log = os.path.join(shared_dir, "err.log")
    r = run_cli("--user", "nobody", "--group", "nogroup", "--error-log", log,
                "--access-log", "/dev/null", "--pythonpath", APPS, "--check", "it_priv")
    assert r.returncode == 0, r
    assert (os.stat(log).st_uid, os.stat(log).st_gid) == (uid, gid)
    assert (os.stat("/dev/null").st_uid, os.stat("/dev/null").st_gid) == (0, 0)
