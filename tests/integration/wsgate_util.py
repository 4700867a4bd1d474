"""Helpers shared by the integration tests: timeouts, waiting for something
observable, raw sockets, a strict little HTTP/1.x response reader, and the helpers
that read what a running server shows (its logs, /metrics, the app's records).

Everything that waits is bounded: a hung server fails a test, it never hangs the
suite. Every bound goes through t() so a slow (sanitizer) build can stretch them
with WSGATE_TEST_TIMEOUT_SCALE.

Tests order events by polling what the server or the app makes visible, never by a
fixed sleep: wait_mark() for a file the app writes when a request reaches it
(tests/apps/it_slow.py, it_timeout.py ?mark=), wait_log() for a line of the error
log, wait_idle() for /metrics showing that every request handed to the worker
threads has been handed back, wait_read() for the server having taken in the bytes a
client sent. A check that something did NOT happen first waits for one of those, so
it cannot pass merely because the server or the app was slow.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time

SCALE = float(os.environ.get("WSGATE_TEST_TIMEOUT_SCALE", "1") or "1")


def t(seconds):
    """A timeout, stretched by WSGATE_TEST_TIMEOUT_SCALE."""
    return seconds * SCALE


class NoResponse(AssertionError):
    pass


def as_bytes(x):
    """x as bytes: bytes and bytearray as they are, str as latin-1 (one byte per
    character), anything else through str()."""
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    return str(x).encode("latin-1")


def wait_for(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it is truthy; returns its value or fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_mark(path, timeout=None, what=None):
    """Waits for the file an app creates when a request reaches it (or ends)."""
    wait_for(lambda: os.path.exists(path), t(10) if timeout is None else timeout,
             what=what or "the app to create %s" % path)


def logs(srv, tail=None):
    """The server's stderr and error log as one text (its last `tail` characters)."""
    text = srv.stderr_text() + srv.error_text()
    return text if tail is None else text[-tail:]


def wait_log(srv, pattern, count=1, timeout=None, what=None):
    """Waits until the regular expression `pattern` matches `count` times in the
    server's logs; returns the last match."""
    def found():
        hits = list(re.finditer(pattern, logs(srv)))
        return hits[-1] if len(hits) >= count else None
    return wait_for(found, t(10) if timeout is None else timeout,
                    what=what or "%d x %r in the server's logs" % (count, pattern))


def wait_access(srv, text, count=1, timeout=None):
    """Waits until `count` access log lines hold `text`; returns those lines. A request
    gets its line once it is over: the app returned, close() of its response ran,
    the response went out (or the client was found gone)."""
    def lines():
        found = [ln for ln in srv.access_text().splitlines() if text in ln]
        return found if len(found) >= count else None
    return wait_for(lines, t(10) if timeout is None else timeout,
                    what="%d access log lines with %r" % (count, text))


def app_log(srv, target="/__log"):
    """What tests/apps/it_count.py recorded: one dict per request that reached the app
    (it_corpus.py answers the same at /__log?it-corpus)."""
    r = srv.exchange(req("GET", target))
    assert r.status == 200, r
    return json.loads(r.body)


def http_get(srv, path, timeout=None):
    """GET path over a fresh connection (Connection: close): (status, body bytes,
    seconds taken). Raises OSError or http.client.HTTPException when the connection
    fails."""
    start = time.monotonic()
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=t(10) if timeout is None
                                   else timeout)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read(), time.monotonic() - start
    finally:
        c.close()


def curl(*args, timeout=None):
    """Runs curl -sS with args (it must succeed): (the HTTP version, the status code,
    stdout) of its last transfer, from its -w '%{http_version} %{http_code}'."""
    p = subprocess.run(["curl", "-sS", "-w", "\n%{http_version} %{http_code}"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=t(60) if timeout is None else timeout)
    assert p.returncode == 0, p.stderr
    body, _, last = p.stdout.rpartition(b"\n")
    version, code = last.decode().split()
    return version, int(code), body


def in_background(fn, *args):
    """Runs fn(*args) in a thread; returns a function that joins it and gives its
    result (or raises its exception)."""
    box = {}

    def run():
        try:
            box["v"] = fn(*args)
        except BaseException as e:  # noqa: B902 - handed to the test thread
            box["e"] = e
    th = threading.Thread(target=run, daemon=True)
    th.start()

    def join(timeout=None):
        th.join(t(20) if timeout is None else timeout)
        assert not th.is_alive(), "background call did not finish"
        if "e" in box:
            raise box["e"]
        return box["v"]
    return join


# ---------------------------------------------------------------- /metrics

def metrics(srv):
    """The server's /metrics (it was started with stats=True) as {sample: value},
    the sample written as in the text: 'wsgate_queue_depth{worker="0",pid="7"}'."""
    c = http.client.HTTPConnection("127.0.0.1", srv.stats_port, timeout=t(5))
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        assert r.status == 200, text
    finally:
        c.close()
    return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines()
                                     if line.startswith("wsgate_"))}


def metric(srv, name):
    """The sum of every sample of the metric `name` (all its labels)."""
    return sum(v for k, v in metrics(srv).items() if k.split("{", 1)[0] == name)


def wait_metric(srv, name, value, timeout=None):
    """Waits until metric(srv, name) == value."""
    wait_for(lambda: metric(srv, name) == value, t(10) if timeout is None else timeout,
             what="%s == %s in /metrics" % (name, value))


def wait_idle(srv, timeout=None):
    """Waits until no request is in flight: every request the loop handed to the
    worker threads has run (one process, stats=True). Once the
    server has answered or closed a connection, this is what makes "the app was not
    called for it" a fact rather than a guess: a request it had dispatched would have
    reached the app by then."""
    wait_metric(srv, "wsgate_requests_in_flight", 0, timeout)


def assert_app_not_called(srv, mark):
    """The app never started the request whose ?mark= file is `mark` (it_slow.py),
    checked once the server has answered or closed that request."""
    wait_idle(srv)
    assert not os.path.exists(mark), "the app was called"


# ---------------------------------------------------------------- processes

def _procs():
    """(pid, command, state, parent pid, process group, start time in clock ticks since
    boot) of every process, from /proc."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        comm_end = stat.rfind(")")
        fields = stat[comm_end + 2:].split()
        if len(fields) > 19:
            yield (int(name), stat[stat.find("(") + 1:comm_end], fields[0], int(fields[1]),
                   int(fields[2]), int(fields[19]))


def clock_ticks():
    """Now, in the unit of a process's start time in /proc (clock ticks since boot)."""
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def group_members(pgid, started_before=None):
    """The processes (pid, command) whose process group is pgid, zombies aside; with
    started_before (clock_ticks()), only those started earlier. Once a group's leader
    is gone its pid can be taken again, here where pid_max is 32768 and a busy suite
    goes through it in a minute: a new session leader with that pid (another test's
    server) starts a new group with the same number."""
    return [(pid, comm) for pid, comm, state, _, pgrp, start in _procs()
            if state != "Z" and pgrp == pgid
            and (started_before is None or start < started_before)]


def describe_process(pid):
    """A line on process pid for a failure message: state, parent, what it waits in,
    its threads and command line (a stray child is diagnosed from this alone)."""
    def read(name):
        try:
            with open("/proc/%d/%s" % (pid, name), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return "?"
    status = dict(line.split(":", 1) for line in read("status").splitlines() if ":" in line)
    return "pid %d: state %s, ppid %s, threads %s, wchan %s, cmdline %r" % (
        pid, status.get("State", "?").strip(), status.get("PPid", "?").strip(),
        status.get("Threads", "?").strip(), read("wchan"),
        read("cmdline").replace("\0", " ")[:300])


def children(pid):
    """The pids of pid's children, zombies aside, sorted."""
    return sorted(p for p, _, state, ppid, _, _ in _procs() if state != "Z" and ppid == pid)


# ---------------------------------------------------------------- sockets

def free_port(host="127.0.0.1", family=socket.AF_INET):
    """A TCP port free on host right now (the kernel's pick)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def can_connect(addr, timeout=0.5):
    """True when a listener accepts a connection at addr (see connect_to)."""
    try:
        connect_to(addr, timeout).close()
        return True
    except OSError:
        return False


def connect_to(addr, timeout=None):
    """A stream socket connected to addr: (host, port), IPv4 or IPv6, or a unix socket
    path; connect timeout t(5) unless given."""
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET,
                          socket.SOCK_STREAM)
    s.settimeout(t(5) if timeout is None else timeout)
    try:
        s.connect(addr)
    except OSError:
        s.close()
        raise
    return s


def get_json(sock, target):
    """GET target over the connected socket sock (closed after): the app's JSON answer,
    which must come with a 200."""
    c = RawConn(sock=sock)
    try:
        c.send(req("GET", target))
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200, r
    return json.loads(r.body)


def json_over_http(srv, method, target, headers=(), body=b"", host="t"):
    """One request over a fresh --http connection: the app's JSON answer (it_probe's
    environ report...), which must come with a 200."""
    c = RawConn(srv)
    try:
        c.send(req(method, target, headers=headers, body=body, host=host))
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200, r
    return json.loads(r.body)


def notify_socket(address):
    """A datagram socket bound to address, to receive what wsgate sends to
    NOTIFY_SOCKET ("\0name" is an abstract address)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(address)
    return s


def notifications(sock, want, timeout):
    """Datagrams from a notify_socket, each as the set of its lines, until one has the
    line `want`; returns them all."""
    got = []
    sock.settimeout(timeout)
    while True:
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no %s within %.1fs; got %r" % (want, timeout, got))
        got.append(set(msg.split("\n")))
        if want in got[-1]:
            return got


def _tcp_sockets():
    """{(local port, remote port): (state, send queue, receive queue)} of every IPv4/IPv6
    TCP socket on this machine (/proc/net/tcp*) but the listening and TIME_WAIT ones;
    state as the kernel writes it: "01" ESTABLISHED, "08" CLOSE_WAIT..."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] in ("06", "0A"):  # TIME_WAIT, LISTEN
                continue
            lport = int(f[1].rsplit(":", 1)[1], 16)
            rport = int(f[2].rsplit(":", 1)[1], 16)
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            out[(lport, rport)] = (f[3], tx, rx)
    return out


def wait_read(sock, timeout=None):
    """Waits until the server has read every byte sent on the TCP connection sock:
    nothing left in the client's send queue nor in the server socket's receive
    queue. (A server reads and parses in the same step, so whatever it decides about
    those bytes has been decided.)"""
    wait_read_all([sock], timeout)


def wait_read_all(socks, timeout=None):
    """wait_read for every socket of socks, with one look at the machine's sockets per
    poll (a busy machine lists tens of thousands)."""
    ports = [tcp_ports(s) for s in socks]

    def drained():
        q = _tcp_sockets()
        return all(q.get((lport, rport), ("", 1, 0))[1] == 0 and
                   q.get((rport, lport), ("", 0, 1))[2] == 0 for lport, rport in ports)
    wait_for(drained, t(10) if timeout is None else timeout,
             what="the server to read what was sent on ports %s" %
             ", ".join(str(lport) for lport, _ in ports[:5]))


def tcp_ports(sock):
    """(client port, server port) of a connected TCP socket, for wait_server_closed."""
    return sock.getsockname()[1], sock.getpeername()[1]


def wait_server_closed(ports, timeout=None):
    """Waits until the server has closed its end of the TCP connection whose client end
    had `ports` (tcp_ports(), taken before the client closed its own socket): after a
    client leaves, the server has noticed and is done with the connection."""
    lport, rport = ports
    wait_for(lambda: _tcp_sockets().get((rport, lport), ("",))[0] not in ("01", "08"),
             t(10) if timeout is None else timeout,
             what="the server to close its end of the connection from port %d" % lport)


def server_closed_fully(sock, within):
    """True when the server's end of sock is gone (closed, not lingering): a byte sent
    to it then draws a reset, which a later send or recv reports. False when it is
    still taken in (lingering, or open) for `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            sock.send(b"x")
            time.sleep(0.05)
            sock.settimeout(0.05)
            if sock.recv(1) == b"":
                continue  # EOF only: the reset has not come back yet
        except (BrokenPipeError, ConnectionResetError):
            return True
        except socket.timeout:
            pass
    return False


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []  # [(name, value)] in order, as sent (latin-1 str)
        self.body = b""
        self.chunked = False
        self.trailers = []
        self.complete = False  # the framing said the body is complete
        self.raw_head = b""

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_token(self, name, token):
        vals = ",".join(self.header_all(name))
        return token.lower() in [x.strip().lower() for x in vals.split(",")]

    def __repr__(self):
        return "<Response %s %s %r body=%d bytes%s>" % (
            self.version, self.status, self.headers, len(self.body),
            "" if self.complete else " INCOMPLETE")


class StreamConn:
    """A client connection (any stream socket) with its own receive buffer: the
    sending and reading that RawConn (HTTP), fcgi_client.FcgiConn and
    scgi_client.ScgiConn share. Every read has a deadline; buf holds what came and
    was not consumed; eof/reset tell how the server ended the connection."""

    RECV_SIZE = 65536

    def __init__(self, sock, timeout=None):
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.reset = False
        self.timeout = t(10) if timeout is None else timeout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending ---------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def send_pieces(self, data, size=1, delay=0.0, stop_on_reply=False):
        """Sends data in small pieces (each a separate write), stopping quietly if
        the server closes on us (or, with stop_on_reply, as soon as it starts
        answering). Returns the number of bytes sent."""
        import select
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = 0
        try:
            for i in range(0, len(data), size):
                if stop_on_reply and select.select([self.sock], [], [], 0)[0]:
                    break
                self.sock.sendall(data[i:i + size])
                sent += len(data[i:i + size])
                if delay:
                    time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sent

    def try_send(self, data):
        """sendall that tolerates the server having closed already."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def shut_wr(self):
        """Closes our sending side (the server reads EOF); reading goes on."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- receiving -------------------------------------------------------
    def _got(self, chunk):
        """Called with every chunk received (a subclass may note when it came)."""

    def _fill(self, deadline):
        """Reads more bytes into buf. Returns False on EOF/reset; raises
        NoResponse when the deadline passes."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoResponse("no data before the deadline; have %r" % self.buf[:300])
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(self.RECV_SIZE)
        except socket.timeout:
            raise NoResponse("no data before the deadline; have %r" % self.buf[:300])
        except ConnectionResetError:
            self.eof = True
            self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self._got(chunk)
        self.buf += chunk
        return True

    def still_open(self, wait):
        """True if nothing arrives and the connection is not closed for `wait`
        seconds."""
        deadline = time.monotonic() + wait
        try:
            got = self._fill(deadline)
        except NoResponse:
            return True
        if got:
            raise AssertionError("unexpected bytes: %r" % self.buf[:300])
        return False

    def read_until_close(self, timeout=None):
        """All remaining bytes until EOF/reset. Raises NoResponse if the server
        does not close in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._fill(deadline):
            pass
        data, self.buf = self.buf, b""
        return data


class RawConn(StreamConn):
    """A raw HTTP client connection.

    read_response() parses exactly one response off the stream (honouring
    Content-Length, chunked, close-delimited, and no-body for HEAD/1xx/204/304)
    so pipelining and keep-alive can be checked byte-exactly.
    """

    def __init__(self, server=None, sock=None, timeout=None):
        super().__init__(server.connect() if sock is None else sock, timeout)

    def _line(self, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = self.buf[:i]
                self.buf = self.buf[i + 2:]
                return line
            if len(self.buf) > limit:
                raise AssertionError("response line too long: %r" % self.buf[:200])
            if not self._fill(deadline):
                raise NoResponse("connection closed mid-line; have %r" % self.buf[:300])

    def _exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                return None
        data = self.buf[:n]
        self.buf = self.buf[n:]
        return data

    def read_response(self, method="GET", timeout=None, allow_partial=False):
        """Reads one response. Raises NoResponse if none starts before the
        deadline or the connection closes first. With allow_partial, a body cut
        short by a close is returned with complete=False instead of raising."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if not self.buf:
            if not self._fill(deadline):
                raise NoResponse("connection closed before any response")
        r = Response()
        line = self._line(deadline)
        m = re.match(rb"^(HTTP/1\.[01]) ([0-9]{3}) ?(.*)$", line)
        if not m:
            raise AssertionError("bad status line %r" % line)
        r.version = m.group(1).decode()
        r.status = int(m.group(2))
        r.reason = m.group(3).decode("latin-1")
        head = [line]
        while True:
            line = self._line(deadline)
            head.append(line)
            if line == b"":
                break
            if b":" not in line:
                raise AssertionError("bad header line %r" % line)
            k, v = line.split(b":", 1)
            if k != k.strip() or not k:
                raise AssertionError("bad header name %r" % line)
            r.headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        r.raw_head = b"\r\n".join(head) + b"\r\n"
        if 100 <= r.status < 200:
            r.complete = True
            return r
        if method == "HEAD" or r.status in (204, 304):
            r.complete = True
            return r
        te = r.header("Transfer-Encoding")
        cl = r.header("Content-Length")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise AssertionError("unexpected Transfer-Encoding %r" % te)
            if cl is not None:
                raise AssertionError("response has both Content-Length and chunked")
            r.chunked = True
            body = []
            while True:
                try:
                    size_line = self._line(deadline)
                except NoResponse:
                    if allow_partial:
                        r.body = b"".join(body)
                        return r
                    raise
                m = re.match(rb"^([0-9a-fA-F]+)(;.*)?$", size_line)
                if not m:
                    raise AssertionError("bad chunk size line %r" % size_line)
                n = int(m.group(1), 16)
                if n == 0:
                    while True:
                        tl = self._line(deadline)
                        if tl == b"":
                            break
                        r.trailers.append(tl)
                    r.complete = True
                    break
                data = self._exact(n, deadline)
                if data is None:
                    body.append(self.buf)
                    self.buf = b""
                    if allow_partial:
                        r.body = b"".join(body)
                        return r
                    raise NoResponse("closed mid-chunk")
                body.append(data)
                crlf = self._exact(2, deadline)
                if crlf != b"\r\n":
                    if crlf is None and allow_partial:
                        r.body = b"".join(body)
                        return r
                    raise AssertionError("chunk data not followed by CRLF: %r" % crlf)
            r.body = b"".join(body)
            return r
        if cl is not None:
            if len(r.header_all("Content-Length")) != 1 or not re.match(r"^[0-9]+$", cl):
                raise AssertionError("bad Content-Length in response: %r" % r.headers)
            n = int(cl)
            data = self._exact(n, deadline)
            if data is None:
                r.body = self.buf
                self.buf = b""
                if allow_partial:
                    return r
                raise NoResponse("closed before Content-Length bytes: %r" % r)
            r.body = data
            r.complete = True
            return r
        # close-delimited
        while self._fill(deadline):
            pass
        r.body = self.buf
        self.buf = b""
        r.complete = True
        return r

    def closed_within(self, timeout):
        """True if the server closes (EOF or reset) within timeout, with no more
        bytes arriving. Extra bytes are an assertion error (they would be a stray
        response or garbage)."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except NoResponse:
            return False
        assert self.buf == b"", "unexpected bytes before close: %r" % self.buf[:300]
        return True



def parse_responses(data, methods=None):
    """Parses a byte string holding zero or more complete responses."""

    class _S:
        family = None

        def __init__(self):
            self.data = data

        def settimeout(self, _):
            pass

        def recv(self, n):
            d, self.data = self.data[:n], self.data[n:]
            return d

    c = RawConn(sock=_S(), timeout=1)
    out = []
    i = 0
    while c.buf or not c.eof:
        if not c.buf and not c._fill(time.monotonic() + 1):
            break
        m = (methods[i] if methods and i < len(methods) else "GET")
        out.append(c.read_response(method=m))
        i += 1
    return out


def req(method="GET", target="/", headers=(), body=b"", version="HTTP/1.1", host="t"):
    """Builds a raw request. headers: iterable of (name, value) str/bytes pairs."""
    lines = [("%s %s %s" % (method, target, version)).encode("latin-1")]
    if host is not None:
        lines.append(b"Host: " + (host.encode() if isinstance(host, str) else host))
    for k, v in headers:
        k = k.encode("latin-1") if isinstance(k, str) else k
        v = v.encode("latin-1") if isinstance(v, str) else v
        lines.append(k + b": " + v)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(*parts, trailers=()):
    out = b""
    for p in parts:
        if p:
            out += b"%x\r\n%s\r\n" % (len(p), p)
    out += b"0\r\n"
    for tr in trailers:
        out += tr + b"\r\n"
    return out + b"\r\n"


def expected_stream(n, size):
    """The bytes tests/apps/it_stream.py produces for ?n=&size=."""
    return b"".join(bytes([97 + i % 26]) * size for i in range(n))


# ---------------------------------------------------------------- TLS

class Pki:
    """Certificates made with the openssl CLI in a directory, for the --https tests: a
    root CA, an intermediate CA it signed, and leaves for localhost / 127.0.0.1 signed
    by the intermediate. Paths, as attributes:
      ca            the root certificate (what clients trust)
      rsa_chain     RSA leaf + intermediate (leaf first), for the next two keys
      rsa_pkcs8     its key as PKCS#8 ("BEGIN PRIVATE KEY")
      rsa_pkcs1     the same key as PKCS#1 ("BEGIN RSA PRIVATE KEY")
      ec_chain      ECDSA P-256 leaf + intermediate
      ec_key        its key as SEC1 ("BEGIN EC PRIVATE KEY")
      ec_combined   the EC chain and key in one file (no --keyfile needed)
      rsa_encrypted the RSA key encrypted with a passphrase
    and for mutual TLS:
      client_ca     a CA of its own for client certificates (--ca-certs)
      alice         a client certificate it signed (CLIENT_SUBJECT) and its key, as
                    (certfile, keyfile)
      foreign       a client certificate signed by the root above instead (a real
                    CA, but not the one of --ca-certs)
    """
    # With a comma to escape (RFC 2253), most significant RDN first as OpenSSL writes.
    CLIENT_SUBJECT = "/C=FR/O=wsgate tests/CN=alice, the client"

    def __init__(self, d):
        self.dir = d

        def path(name):
            return os.path.join(d, name)

        def ossl(*args):
            import subprocess
            subprocess.run(["openssl"] + list(args), check=True, cwd=d,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=t(60))

        def write(name, text):
            with open(path(name), "w") as f:
                f.write(text)

        write("ca.ext", "basicConstraints=critical,CA:TRUE\n"
              "keyUsage=critical,keyCertSign,cRLSign\n")
        write("leaf.ext", "basicConstraints=critical,CA:FALSE\n"
              "keyUsage=critical,digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        ossl("req", "-x509", *ec, "-nodes", "-keyout", "root.key", "-out", "root.pem",
             "-days", "2", "-subj", "/CN=wsgate test root", "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign")
        ossl("req", "-new", *ec, "-nodes", "-keyout", "inter.key", "-out", "inter.csr",
             "-subj", "/CN=wsgate test intermediate")
        ossl("x509", "-req", "-in", "inter.csr", "-CA", "root.pem", "-CAkey", "root.key",
             "-CAcreateserial", "-days", "2", "-extfile", "ca.ext", "-out", "inter.pem")
        ossl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", "rsa-pkcs8.key")
        ossl("rsa", "-in", "rsa-pkcs8.key", "-traditional", "-out", "rsa-pkcs1.key")
        ossl("rsa", "-in", "rsa-pkcs8.key", "-aes128", "-passout", "pass:secret",
             "-out", "rsa-encrypted.key")
        ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key")
        inter = open(path("inter.pem")).read()
        for name, key in (("rsa", "rsa-pkcs8.key"), ("ec", "ec.key")):
            ossl("req", "-new", "-key", key, "-out", name + ".csr", "-subj", "/CN=localhost")
            ossl("x509", "-req", "-in", name + ".csr", "-CA", "inter.pem", "-CAkey",
                 "inter.key", "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext",
                 "-out", name + ".pem")
            write(name + "-chain.pem", open(path(name + ".pem")).read() + inter)
        write("ec-combined.pem", open(path("ec-chain.pem")).read() + open(path("ec.key")).read())
        write("client.ext", "basicConstraints=critical,CA:FALSE\n"
              "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
        ossl("req", "-x509", *ec, "-nodes", "-keyout", "client-ca.key", "-out", "client-ca.pem",
             "-days", "2", "-subj", "/O=wsgate tests/CN=wsgate test client CA", "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign")
        for name, subject, ca in (("alice", self.CLIENT_SUBJECT, "client-ca"),
                                  ("foreign", "/CN=mallory", "root")):
            ossl("req", "-new", *ec, "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                 "-subj", subject)
            ossl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
                 ca + ".key", "-CAcreateserial", "-days", "2", "-extfile", "client.ext",
                 "-out", name + ".pem")
        self.ca = path("root.pem")
        self.rsa_chain, self.rsa_pkcs8 = path("rsa-chain.pem"), path("rsa-pkcs8.key")
        self.rsa_pkcs1, self.rsa_encrypted = path("rsa-pkcs1.key"), path("rsa-encrypted.key")
        self.ec_chain, self.ec_key = path("ec-chain.pem"), path("ec.key")
        self.ec_combined = path("ec-combined.pem")
        self.client_ca = path("client-ca.pem")
        self.alice = (path("alice.pem"), path("alice.key"))
        self.foreign = (path("foreign.pem"), path("foreign.key"))

    def client_context(self, cert=None, **versions):
        """An ssl.SSLContext that trusts only the root (so the server must send the
        intermediate); minimum_version= / maximum_version= as ssl.TLSVersion; cert: a
        client certificate (self.alice, self.foreign) it presents when asked."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca)
        if cert is not None:
            ctx.load_cert_chain(*cert)
        for k, v in versions.items():
            setattr(ctx, k, v)
        return ctx


def tls_connect(srv, ctx, session=None, alpn=None, timeout=None):
    """A TLS client socket to srv (host localhost, checked against the certificate),
    handshake done."""
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    raw = connect_to((srv.host, srv.port), timeout)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    except BaseException:
        raw.close()
        raise
    s.settimeout(t(10) if timeout is None else timeout)
    return s
