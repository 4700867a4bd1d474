"""Real front servers for the FastCGI tests: nginx, Apache httpd (mod_proxy_fcgi),
lighttpd (mod_fastcgi) and HAProxy (fcgi-app), each started as a child process with
its own config written into a temp dir, listening on a free 127.0.0.1 port, logging
into that dir, and stopped (its whole process group) at teardown. No fixed port, no
system config file is read (nginx includes the stock fastcgi_params, read-only).

The configs written here are the ones docs/deploy-*.md show; keep them in step.

Also here: start_fcgi_wsgate(), which starts build/wsgate with a --fastcgi listener
(TCP or unix socket) next to its --http one, and the fixtures the FastCGI test files
import.

Binaries come from scripts/install-deps (nginx-light or nginx, apache2, lighttpd,
haproxy, libfcgi-bin). A front server whose binary is missing is skipped with the
reason; in CI install-deps has installed them all.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from wsgate_util import t

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def find_binary(name):
    p = shutil.which(name)
    if p:
        return p
    for d in SBIN_DIRS:
        c = os.path.join(d, name)
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def free_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def short_dir(prefix):
    """A directory with a short path (sun_path is 108 bytes) that other users can
    traverse: Apache's children run as `nobody` when the tests run as root, and must
    reach the wsgate socket and the lock files there."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


def can_connect(addr, timeout=0.5):
    fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Backend:
    """Where the front server finds wsgate: kind "tcp" (host, port) or "unix" (path)."""

    def __init__(self, kind, host=None, port=None, path=None):
        self.kind = kind
        self.host = host
        self.port = port
        self.path = path

    @property
    def addr(self):
        return self.path if self.kind == "unix" else (self.host, self.port)

    @property
    def listen_arg(self):
        return "unix:" + self.path if self.kind == "unix" else "%s:%d" % (self.host, self.port)

    def __repr__(self):
        return "<Backend %s>" % self.listen_arg


class FrontServer:
    """Base: subclasses write the config (config()) and give the argv (argv())."""

    name = "?"
    binary_name = None
    mount = "/app"

    def __init__(self, backend, workdir=None):
        self.backend = backend
        self.binary = find_binary(self.binary_name)
        # Apache's children drop to `nobody` when we are root: their dir must be
        # reachable by it, so it lives in /tmp (pytest's tmp dirs are 0700).
        self.dir = short_dir("%s-" % self.name) if workdir is None else workdir
        self.port = None
        self.proc = None
        self.stdout_path = os.path.join(self.dir, "stdout.log")

    # -- to override -----------------------------------------------------
    def config(self):
        raise NotImplementedError

    def argv(self):
        raise NotImplementedError

    def config_path(self):
        raise NotImplementedError

    # -- life cycle ------------------------------------------------------
    def start(self):
        if self.binary is None:
            pytest.skip("%s not installed (scripts/install-deps installs it)" % self.binary_name)
        last = ""
        for attempt in range(5):
            self.port = free_port()
            with open(self.config_path(), "w") as f:
                f.write(self.config())
            for sub in ("htdocs", "tmp"):
                os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
            with open(self.stdout_path, "ab") as out:
                self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, cwd=self.dir,
                                             start_new_session=True)
            ok, last = self._wait_ready()
            if ok:
                return self
            self._kill()
            if "in use" not in last.lower():
                break
        pytest.fail("%s did not start:\n%s\nargv: %s\nconfig:\n%s"
                    % (self.name, last[-4000:], self.argv(), self.config()))

    def _wait_ready(self):
        deadline = time.monotonic() + t(15)
        while True:
            if self.proc.poll() is not None:
                return False, "exited with %s\n%s" % (self.proc.returncode, self.logs())
            if can_connect(("127.0.0.1", self.port)):
                return True, ""
            if time.monotonic() > deadline:
                return False, "no listener on port %d within the deadline\n%s" % (
                    self.port, self.logs())
            time.sleep(0.02)

    def _kill(self):
        """SIGTERM to the process group, SIGKILL if it lingers."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=t(10))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        # children left in the group (Apache/nginx workers) go too
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self):
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- talking to it ---------------------------------------------------
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def logs(self):
        out = []
        for name in sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else ():
            if name.endswith(".log"):
                try:
                    with open(os.path.join(self.dir, name), "rb") as f:
                        data = f.read()[-3000:]
                except OSError:
                    continue
                out.append("--- %s/%s\n%s" % (self.name, name, data.decode("utf-8", "replace")))
        return "\n".join(out)

    def __repr__(self):
        return "<%s :%s -> %r>" % (self.name, self.port, self.backend)


# ---------------------------------------------------------------- nginx

class Nginx(FrontServer):
    name = "nginx"
    binary_name = "nginx"
    FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"

    def config_path(self):
        return os.path.join(self.dir, "nginx.conf")

    def config(self):
        b = self.backend
        upstream = ("unix:%s" % b.path) if b.kind == "unix" else "%s:%d" % (b.host, b.port)
        d = self.dir
        params = self.FASTCGI_PARAMS
        if not os.path.exists(params):
            params = os.path.join(os.path.dirname(self.binary), "..", "conf", "fastcgi_params")
        return """\
%(user)sworker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log info;

events {
    worker_connections 512;
}

http {
    access_log %(d)s/access.log;
    client_body_temp_path %(d)s/tmp/client_body;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    proxy_temp_path %(d)s/tmp/proxy;
    scgi_temp_path %(d)s/tmp/scgi;
    uwsgi_temp_path %(d)s/tmp/uwsgi;
    client_max_body_size 16m;

    upstream wsgate {
        server %(upstream)s;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%(port)d;

        location /app/ {
            include %(params)s;
            fastcgi_pass wsgate;
            fastcgi_keep_conn on;
        }
    }
}
""" % {"user": "user root;\n" if IS_ROOT else "", "d": d, "upstream": upstream,
       "port": self.port, "params": params}

    def argv(self):
        argv = [self.binary, "-p", self.dir + "/", "-c", self.config_path(),
                "-g", "daemon off;"]
        # -e (nginx >= 1.19.5): the start-up error log, before the config is read
        try:
            h = subprocess.run([self.binary, "-h"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            h = b""
        if b"-e filename" in h:
            argv[1:1] = ["-e", os.path.join(self.dir, "error.log")]
        return argv


# ---------------------------------------------------------------- Apache httpd

APACHE_MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules",
                      "/usr/lib/httpd/modules", "/usr/libexec/apache2")


class Apache(FrontServer):
    name = "apache"
    binary_name = "apache2"

    def __init__(self, backend, workdir=None):
        super().__init__(backend, workdir)
        if self.binary is None:
            self.binary = find_binary("httpd")
        self.modules = next((d for d in APACHE_MODULE_DIRS
                             if os.path.exists(os.path.join(d, "mod_proxy_fcgi.so"))), None)

    def config_path(self):
        return os.path.join(self.dir, "httpd.conf")

    def start(self):
        if self.binary is not None and self.modules is None:
            pytest.skip("apache: mod_proxy_fcgi.so not found in %s" % (APACHE_MODULE_DIRS,))
        return super().start()

    def proxy_pass(self):
        b = self.backend
        if b.kind == "unix":
            return 'ProxyPass "/app/" "unix:%s|fcgi://localhost/"' % b.path
        return 'ProxyPass "/app/" "fcgi://%s:%d/" enablereuse=on' % (b.host, b.port)

    def config(self):
        d = self.dir
        m = self.modules
        loads = "\n".join('LoadModule %s_module %s/mod_%s.so' % (n, m, n) for n in (
            "mpm_event", "authz_core", "proxy", "proxy_fcgi"))
        if not os.path.exists(os.path.join(m, "mod_unixd.so")):
            unixd = ""  # compiled in (Debian)
        else:
            unixd = "LoadModule unixd_module %s/mod_unixd.so\n" % m
        if not os.path.exists(os.path.join(m, "mod_log_config.so")):
            logcfg = ""
        else:
            logcfg = "LoadModule log_config_module %s/mod_log_config.so\n" % m
        user = "User nobody\nGroup %s\n" % _nogroup() if IS_ROOT else ""
        return """\
ServerRoot "%(d)s"
ServerName 127.0.0.1
Listen 127.0.0.1:%(port)d
PidFile "%(d)s/httpd.pid"
DefaultRuntimeDir "%(d)s/tmp"
ErrorLog "%(d)s/error.log"
LogLevel warn
%(loads)s
%(unixd)s%(logcfg)s%(user)s
LogFormat "%%h %%t \\"%%r\\" %%>s %%b %%D" wsgatetest
CustomLog "%(d)s/access.log" wsgatetest
DocumentRoot "%(d)s/htdocs"

StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
KeepAlive On
Timeout 60

%(proxy)s
""" % {"d": d, "port": self.port, "loads": loads, "unixd": unixd, "logcfg": logcfg,
       "user": user, "proxy": self.proxy_pass()}

    def argv(self):
        return [self.binary, "-d", self.dir, "-f", self.config_path(), "-DFOREGROUND"]


def _nogroup():
    import grp
    for g in ("nogroup", "nobody"):
        try:
            grp.getgrnam(g)
            return g
        except KeyError:
            pass
    return "#65534"


# ---------------------------------------------------------------- lighttpd

class Lighttpd(FrontServer):
    name = "lighttpd"
    binary_name = "lighttpd"

    def config_path(self):
        return os.path.join(self.dir, "lighttpd.conf")

    def config(self):
        b = self.backend
        if b.kind == "unix":
            where = '"socket" => "%s"' % b.path
        else:
            where = '"host" => "%s", "port" => %d' % (b.host, b.port)
        d = self.dir
        return """\
server.document-root = "%(d)s/htdocs"
server.bind = "127.0.0.1"
server.port = %(port)d
server.errorlog = "%(d)s/error.log"
server.pid-file = "%(d)s/lighttpd.pid"
server.upload-dirs = ( "%(d)s/tmp" )
server.modules = ( "mod_fastcgi", "mod_accesslog" )
accesslog.filename = "%(d)s/access.log"

fastcgi.server = (
    "/app" => ((
        %(where)s,
        "check-local" => "disable",
    )),
)
""" % {"d": d, "port": self.port, "where": where}

    def argv(self):
        return [self.binary, "-D", "-f", self.config_path()]


# ---------------------------------------------------------------- HAProxy

class Haproxy(FrontServer):
    name = "haproxy"
    binary_name = "haproxy"

    def config_path(self):
        return os.path.join(self.dir, "haproxy.cfg")

    def config(self):
        b = self.backend
        server = ("unix@%s" % b.path) if b.kind == "unix" else "%s:%d" % (b.host, b.port)
        return """\
global
    maxconn 512
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s

fcgi-app wsgate
    docroot %(d)s/htdocs
    option keep-conn
    option mpxs-conns
    option max-reqs 32
    log-stderr global

frontend web
    bind 127.0.0.1:%(port)d
    default_backend wsgate

backend wsgate
    use-fcgi-app wsgate
    server wsgate1 %(server)s proto fcgi
""" % {"d": self.dir, "port": self.port, "server": server}

    def argv(self):
        return [self.binary, "-db", "-f", self.config_path()]


FRONTS = {"nginx": Nginx, "apache": Apache, "lighttpd": Lighttpd, "haproxy": Haproxy}

# The variants every front-server test runs through: (front server, backend kind).
VARIANTS = [("nginx", "tcp"), ("nginx", "unix"), ("apache", "tcp"), ("apache", "unix"),
            ("lighttpd", "tcp"), ("haproxy", "tcp")]
VARIANT_IDS = ["%s-%s" % v for v in VARIANTS]


# ---------------------------------------------------------------- wsgate

def start_fcgi_wsgate(factory, app, *args, unix=False, **kw):
    """Starts wsgate (through the conftest factory `wsgate`/`wsgate_module`) with a
    --fastcgi listener next to its --http one. Returns the Server with .backend (a
    Backend) and .fcgi_addr set, once the FastCGI listener accepts connections."""
    extra = []
    d = None
    if unix:
        d = short_dir("wsgf")
        backend = Backend("unix", path=os.path.join(d, "fcgi.sock"))
        extra = ["--socket-mode", "666"]
    else:
        backend = Backend("tcp", host="127.0.0.1", port=free_port())
    srv = factory(app, "--fastcgi", backend.listen_arg, *(extra + list(args)), **kw)
    if d:
        srv.cleanup_dirs.append(d)
    srv.backend = backend
    srv.fcgi_addr = backend.addr
    deadline = time.monotonic() + t(10)
    while not can_connect(backend.addr):
        if srv.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail("wsgate's --fastcgi %s listener did not come up:\n%s"
                        % (backend.listen_arg, (srv.stderr_text() + srv.error_text())[-3000:]))
        time.sleep(0.02)
    return srv


def fastcgi_supported():
    """True when build/wsgate knows --fastcgi (it is grepped from --help)."""
    from conftest import BIN
    try:
        out = subprocess.run([BIN, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=t(10)).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--fastcgi" in out


def require_fastcgi():
    if not fastcgi_supported():
        pytest.fail("build/wsgate has no --fastcgi option (rebuild with make)")


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def front_factory():
    """Factory: front_factory(name, backend) -> a started FrontServer; all stopped at
    the end of the test."""
    started = []

    def start(name, backend):
        fs = FRONTS[name](backend)
        started.append(fs)
        return fs.start()
    yield start
    for fs in started:
        fs.stop()


@pytest.fixture(scope="module", params=VARIANTS, ids=VARIANT_IDS)
def front(request, tmp_path_factory):
    """One wsgate (fcgi_mux, --script-name /app, --fastcgi TCP or unix) and one front
    server in front of it, for every variant; shared by the tests of a module."""
    from conftest import ServerPool
    name, kind = request.param
    cls = FRONTS[name]
    if find_binary(cls.binary_name) is None and not (name == "apache" and find_binary("httpd")):
        pytest.skip("%s not installed (scripts/install-deps installs it)" % cls.binary_name)
    require_fastcgi()
    pool = ServerPool(str(tmp_path_factory.mktemp("fcgi-%s-%s" % (name, kind))))
    fs = None
    try:
        srv = start_fcgi_wsgate(pool.start, "fcgi_mux", "--script-name", "/app",
                                unix=(kind == "unix"))
        fs = cls(srv.backend)
        fs.wsgate = srv
        fs.start()
        yield fs
    finally:
        if fs is not None:
            fs.stop()
        pool.finish()
