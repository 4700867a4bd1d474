"""Starts the real build/wsgate for the integration tests (the house style in
docs/architecture.md).

`wsgate(app, *args, ...)` starts one server on a free 127.0.0.1 port (or a unix
socket), with --pythonpath tests/apps and the error log in a temp file (stats=True
adds a --stats listener on another free port, for wsgate_util.metrics; tls=(certfile,
keyfile or None) makes the listener --https with that certificate), waits until
it accepts a connection (polling, with a deadline), and returns a Server. At the end
of the test every server is stopped with SIGTERM; one that does not exit 0 in time
is killed and fails the test. Sanitizer reports on its stderr fail the test too.

Run as root, every wsgate here is given --allow-root (ROOT_ARGS).

Environment:
  WSGATE_BIN                  the binary (default <repo>/build/wsgate)
  WSGATE_TEST_TIMEOUT_SCALE   multiply every timeout (sanitizer builds are slower)
"""
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from wsgate_util import (RawConn, can_connect, clock_ticks, connect_to,  # noqa: E402,F401
                         describe_process, free_port, group_members, t)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APPS = os.path.join(REPO, "tests", "apps")
BIN = os.environ.get("WSGATE_BIN") or os.path.join(REPO, "build", "wsgate")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes a second or more (timeouts, loads, "
                            "reloads); make check leaves these out")


def require_binary():
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        pytest.fail("wsgate binary not found at %s (run make, or set WSGATE_BIN)" % BIN)


# Run as root (as CI runs the suite), every wsgate started here says --allow-root
# first: it refuses to run the app as root otherwise (docs/operations.md, "Privileges").
ROOT_ARGS = ["--allow-root"] if os.geteuid() == 0 else []


def command(*args, allow_root=True):
    """The command line starting wsgate with args, ROOT_ARGS first (allow_root=False:
    not, for the tests of the refusal)."""
    return [BIN] + (ROOT_ARGS if allow_root else []) + list(args)


def run_cli(*args, timeout=None, allow_root=True, **kw):
    """Runs wsgate to completion (for --help, --check, bad options...); allow_root as
    command()'s."""
    require_binary()
    return subprocess.run(command(*args, allow_root=allow_root), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=t(30) if timeout is None else timeout, cwd=REPO, **kw)


class Server:
    def __init__(self, tmpdir, app, args, unix=False, listen=None, pass_fds=(),
                 access_log=True, error_log=True, env=None, cwd=None, pythonpath=True,
                 stats=False, tls=None):
        self.tmpdir = tmpdir
        self.app = app
        self.error_log = os.path.join(tmpdir, "error-%s.log" % uuid.uuid4().hex[:8])
        self.use_error_log = error_log
        self.access_log = (os.path.join(tmpdir, "access-%s.log" % uuid.uuid4().hex[:8])
                           if access_log else None)
        self.stdout_path = self.error_log + ".stdout"
        self.stderr_path = self.error_log + ".stderr"
        self.unix_path = None
        self.host = None
        self.port = None
        self.proc = None
        self.extra_args = list(args)
        self.pass_fds = pass_fds
        self.env = env
        self.cwd = cwd or REPO
        self.pythonpath = pythonpath
        self.stopped = False
        self.returncode = None
        self.listen = listen  # explicit --http list: caller says where to connect
        self.unix = unix
        self.stats = stats
        self.stats_port = None  # with stats=True: the --stats listener's port
        self.tls = tls  # (certfile, keyfile or None): the listener is --https
        self.cleanup_dirs = []

    # -- start / stop ----------------------------------------------------
    def _argv(self, http_args):
        argv = command()
        if self.pythonpath:
            argv += ["--pythonpath", APPS]
        if self.use_error_log:
            argv += ["--error-log", self.error_log]
        if self.access_log:
            argv += ["--access-log", self.access_log]
        for h in http_args:
            argv += ["--https" if self.tls else "--http", h]
        if self.tls:
            argv += ["--certfile", self.tls[0]]
            if self.tls[1]:
                argv += ["--keyfile", self.tls[1]]
        if self.stats_port is not None:
            argv += ["--stats", "127.0.0.1:%d" % self.stats_port]
        argv += self.extra_args
        argv.append(self.app)
        return argv

    def start(self, wait=True):
        require_binary()
        for attempt in range(5):
            if self.listen is not None:
                http_args = list(self.listen)
            elif self.unix:
                import tempfile
                d = tempfile.mkdtemp(prefix="wsg")  # sun_path is only 108 bytes
                self.cleanup_dirs.append(d)
                self.unix_path = os.path.join(d, "s.sock")
                http_args = ["unix:" + self.unix_path]
            else:
                self.host = "127.0.0.1"
                self.port = free_port()
                http_args = ["%s:%d" % (self.host, self.port)]
            if self.stats:
                self.stats_port = free_port()
            self.argv = self._argv(http_args)
            env = dict(os.environ)
            if self.env:
                env.update(self.env)
            with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err, cwd=self.cwd, env=env,
                                             pass_fds=self.pass_fds, start_new_session=True)
            # A retry's process is a new one: what wait_ready noted of the attempt
            # that found its port taken is not true of it (stop() would not stop it).
            self.stopped = False
            self.returncode = None
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except _PortTaken:
                # A port the caller chose (another protocol's, in the arguments) is
                # tried again: the usual taker is a client's ephemeral port, soon gone.
                time.sleep(0.1 * (attempt + 1))
                continue
        pytest.fail("could not start wsgate on a free port after 5 attempts")

    def wait_ready(self, timeout=None):
        deadline = time.monotonic() + (t(15) if timeout is None else timeout)
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.stopped = True
                self.returncode = rc
                text = self.stderr_text() + self.error_text()
                if self.listen is None and not self.unix and "in use" in text.lower():
                    raise _PortTaken()
                pytest.fail("wsgate exited with %d during start-up:\n%s\nargv: %s"
                            % (rc, text[-4000:], self.argv))
            try:
                s = self.connect(timeout=0.5)
                s.close()
                if self.stats_port is None or can_connect(("127.0.0.1", self.stats_port)):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("wsgate did not accept connections within the deadline:\n%s"
                            % (self.stderr_text() + self.error_text())[-4000:])
            time.sleep(0.01)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Waits for the process to exit; returns the code or None on timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.stopped = True
        self.returncode = rc
        return rc

    def stop(self, timeout=None):
        """SIGTERM and wait. Returns (exit code, problem or None). The server runs
        in its own session: anything it left behind in its process group is
        killed and reported."""
        if not self.stopped and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.returncode if self.stopped else \
            self.wait_exit(t(15) if timeout is None else timeout)
        problem = None
        if rc is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.stopped = True
            self.returncode = rc = -9
            problem = "did not exit after SIGTERM; killed"
        # A sanitizer build's symbolizer (a child reading a pipe) may still be
        # exiting when the server has gone; anything alive after a short grace
        # period was left behind. Only what started before the server was gone
        # counts, and only that is killed: the group's number may already belong
        # to another server (wsgate_util.group_members).
        gone = clock_ticks() + 1
        left = group_members(self.proc.pid, gone)
        deadline = time.monotonic() + t(3)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = group_members(self.proc.pid, gone)
        if left:
            seen = [describe_process(pid) for pid, _ in left]
            for pid, _ in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            problem = (problem + "; " if problem else "") + \
                "left processes running in its process group (killed): %s\n  %s" % (
                    left, "\n  ".join(seen))
        return rc, problem

    # -- talking to it ---------------------------------------------------
    @property
    def base_url(self):
        if self.host is None:
            return None
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self.port)

    def url(self, path):
        return self.base_url + path

    def connect(self, timeout=None):
        s = connect_to(self.unix_path or (self.host, self.port), timeout)
        s.settimeout(t(10))
        return s

    def conn(self, timeout=None):
        return RawConn(self, timeout=timeout)

    def raw(self, data, timeout=None):
        """Sends data on a new connection and reads until the server closes.
        Returns (bytes, closed): closed is False if the server did not close
        within the timeout."""
        c = self.conn()
        try:
            c.try_send(data)
            try:
                out = c.read_until_close(t(10) if timeout is None else timeout)
                return out, True
            except AssertionError:
                return c.buf, False
        finally:
            c.close()

    def exchange(self, data, method="GET", timeout=None):
        """Sends one request on a new connection and returns the parsed response."""
        c = self.conn()
        try:
            c.send(data)
            return c.read_response(method=method, timeout=timeout)
        finally:
            c.close()

    # -- logs ------------------------------------------------------------
    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def error_text(self):
        return self._read(self.error_log)

    def access_text(self):
        return self._read(self.access_log) if self.access_log else ""

    def stderr_text(self):
        return self._read(self.stderr_path)

    @property
    def pid(self):
        return self.proc.pid


class _PortTaken(Exception):
    pass


_VALIDATOR_RE = re.compile(
    r'wsgiref/validate\.py", line \d+, in (assert_|__del__|check_\w+)|WSGIWarning'
    r'|Iterator garbage collected without being closed')


def validator_complaint(text):
    """True when wsgiref.validate itself objected (an assert_ failure, a warning,
    an unclosed iterator), not merely when an app error passed through its frames."""
    return bool(_VALIDATOR_RE.search(text))


class ServerPool:
    """Starts servers for one scope and stops (and checks) them all at its end."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.servers = []

    def start(self, app, *args, start=True, **kw):
        s = Server(self.tmpdir, app, args, **kw)
        self.servers.append(s)
        if start:
            s.start()
        return s

    def finish(self):
        problems = []
        for s in self.servers:
            if s.proc is None:
                continue
            rc, problem = s.stop()
            if problem:
                problems.append("%s: %s" % (s.app, problem))
            elif rc != 0 and not getattr(s, "expect_nonzero_exit", False):
                problems.append("%s: exit code %s after SIGTERM (expected 0)\n%s"
                                % (s.app, rc, (s.stderr_text() + s.error_text())[-3000:]))
            err = s.stderr_text() + s.error_text()
            for marker in SANITIZER_MARKERS:
                if marker in err:
                    problems.append("%s: sanitizer report in the logs:\n%s"
                                    % (s.app, err[-6000:]))
                    break
            for d in s.cleanup_dirs:
                import shutil
                shutil.rmtree(d, ignore_errors=True)
            if validator_complaint(err) and not getattr(s, "validator_errors_ok", False):
                problems.append("%s: wsgiref.validate complained:\n%s" % (s.app, err[-4000:]))
        if problems:
            pytest.fail("server teardown: " + "\n".join(problems), pytrace=False)


@pytest.fixture
def wsgate(tmp_path):
    """Factory: wsgate(app, *args, unix=False, listen=None, pass_fds=(), ...) -> Server.
    Every server started is stopped (SIGTERM, must exit 0) at the end of the test."""
    pool = ServerPool(str(tmp_path))
    yield pool.start
    pool.finish()


@pytest.fixture(scope="module")
def wsgate_module(tmp_path_factory):
    """Like wsgate, but the servers live for the whole test module."""
    pool = ServerPool(str(tmp_path_factory.mktemp("srv")))
    yield pool.start
    pool.finish()


@pytest.fixture
def server(wsgate):
    """A default server running the environ/echo multiplexer app."""
    return wsgate("it_probe")


@pytest.fixture
def unix_sock_dir():
    """A short directory for unix sockets (sun_path is limited to 108 bytes)."""
    import tempfile
    d = tempfile.mkdtemp(prefix="wsg")
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)
