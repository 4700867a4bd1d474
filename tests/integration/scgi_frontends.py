"""Real SCGI front servers for test_scgi_frontends.py: lighttpd (mod_scgi), nginx
(scgi_pass with the stock scgi_params) and Apache httpd (mod_proxy_scgi), each started
as a child process with its own config in a temp dir, on a free 127.0.0.1 port,
logging into that dir, and stopped (its whole process group) at teardown.

The process handling (start on a free port with retries, readiness polling, stop,
logs) is frontends.FrontServer's, shared with the FastCGI tests; only the configs
are SCGI's. The configs written here are the ones docs/deploy-scgi.md shows; keep
them in step.

Also here: start_scgi_wsgate(), which starts build/wsgate with an --scgi listener
(TCP or unix socket) next to its --http one (the conftest factory polls the --http
one; this waits for the SCGI one too).

A front server whose binary (or Apache module) is missing is skipped with the reason.
"""
import os
import subprocess
import time

import pytest

from frontends import (IS_ROOT, Backend, FrontServer, _nogroup, can_connect, find_binary,
                       free_port, short_dir)
from wsgate_util import t

APACHE_MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules",
                      "/usr/lib/httpd/modules", "/usr/libexec/apache2")


# ---------------------------------------------------------------- lighttpd

class ScgiLighttpd(FrontServer):
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
server.max-request-size = 16384
server.modules = ( "mod_scgi", "mod_accesslog" )
accesslog.filename = "%(d)s/access.log"

scgi.server = (
    "/app" => ((
        %(where)s,
        "check-local" => "disable",
    )),
)
""" % {"d": d, "port": self.port, "where": where}

    def argv(self):
        return [self.binary, "-D", "-f", self.config_path()]


# ---------------------------------------------------------------- nginx

class ScgiNginx(FrontServer):
    name = "nginx"
    binary_name = "nginx"
    SCGI_PARAMS = "/etc/nginx/scgi_params"

    def config_path(self):
        return os.path.join(self.dir, "nginx.conf")

    def config(self):
        b = self.backend
        upstream = ("unix:%s" % b.path) if b.kind == "unix" else "%s:%d" % (b.host, b.port)
        d = self.dir
        params = self.SCGI_PARAMS
        if not os.path.exists(params):
            params = os.path.join(os.path.dirname(self.binary), "..", "conf", "scgi_params")
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

    server {
        listen 127.0.0.1:%(port)d;

        location /app/ {
            include %(params)s;
            scgi_pass %(upstream)s;
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

class ScgiApache(FrontServer):
    name = "apache"
    binary_name = "apache2"

    def __init__(self, backend, workdir=None):
        super().__init__(backend, workdir)
        if self.binary is None:
            self.binary = find_binary("httpd")
        self.modules = next((d for d in APACHE_MODULE_DIRS
                             if os.path.exists(os.path.join(d, "mod_proxy_scgi.so"))), None)

    def config_path(self):
        return os.path.join(self.dir, "httpd.conf")

    def start(self):
        if self.binary is not None and self.modules is None:
            pytest.skip("apache: mod_proxy_scgi.so not found in %s" % (APACHE_MODULE_DIRS,))
        return super().start()

    def proxy_pass(self):
        b = self.backend
        if b.kind == "unix":
            return 'ProxyPass "/app/" "unix:%s|scgi://localhost/"' % b.path
        return 'ProxyPass "/app/" "scgi://%s:%d/"' % (b.host, b.port)

    def config(self):
        d = self.dir
        m = self.modules
        loads = "\n".join('LoadModule %s_module %s/mod_%s.so' % (n, m, n) for n in (
            "mpm_event", "authz_core", "proxy", "proxy_scgi"))
        unixd = ("LoadModule unixd_module %s/mod_unixd.so\n" % m
                 if os.path.exists(os.path.join(m, "mod_unixd.so")) else "")
        logcfg = ("LoadModule log_config_module %s/mod_log_config.so\n" % m
                  if os.path.exists(os.path.join(m, "mod_log_config.so")) else "")
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


SCGI_FRONTS = {"lighttpd": ScgiLighttpd, "nginx": ScgiNginx, "apache": ScgiApache}

# The variants every front-server test runs through: (front server, backend kind).
SCGI_VARIANTS = [("lighttpd", "tcp"), ("lighttpd", "unix"), ("nginx", "tcp"),
                 ("nginx", "unix"), ("apache", "tcp"), ("apache", "unix")]
SCGI_VARIANT_IDS = ["%s-%s" % v for v in SCGI_VARIANTS]


def front_binary(name):
    b = find_binary(SCGI_FRONTS[name].binary_name)
    if b is None and name == "apache":
        b = find_binary("httpd")
    return b


# ---------------------------------------------------------------- wsgate

def scgi_supported():
    """True when build/wsgate knows --scgi (it is grepped from --help)."""
    from conftest import BIN
    try:
        out = subprocess.run([BIN, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=t(10)).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--scgi" in out


def require_scgi():
    if not scgi_supported():
        pytest.fail("build/wsgate has no --scgi option (rebuild with make)")


def start_scgi_wsgate(factory, app, *args, unix=False, **kw):
    """Starts wsgate (through the conftest factory `wsgate`/`wsgate_module`) with an
    --scgi listener next to its --http one. Returns the Server with .backend (a
    frontends.Backend) and .scgi_addr set, once the SCGI listener accepts
    connections."""
    extra = []
    d = None
    if unix:
        d = short_dir("wsgs")
        backend = Backend("unix", path=os.path.join(d, "scgi.sock"))
        extra = ["--socket-mode", "666"]  # Apache's children may run as nobody
    else:
        backend = Backend("tcp", host="127.0.0.1", port=free_port())
    srv = factory(app, "--scgi", backend.listen_arg, *(extra + list(args)), **kw)
    if d:
        srv.cleanup_dirs.append(d)
    srv.backend = backend
    srv.scgi_addr = backend.addr
    deadline = time.monotonic() + t(10)
    while not can_connect(backend.addr):
        if srv.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail("wsgate's --scgi %s listener did not come up:\n%s"
                        % (backend.listen_arg, (srv.stderr_text() + srv.error_text())[-3000:]))
        time.sleep(0.02)
    return srv


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def scgi_front_factory():
    """Factory: scgi_front_factory(name, backend) -> a started front server; all are
    stopped at the end of the test."""
    started = []

    def start(name, backend):
        fs = SCGI_FRONTS[name](backend)
        started.append(fs)
        return fs.start()
    yield start
    for fs in started:
        fs.stop()


@pytest.fixture(scope="module", params=SCGI_VARIANTS, ids=SCGI_VARIANT_IDS)
def scgi_front(request, tmp_path_factory):
    """One wsgate (scgi_mux, --script-name /app, --threads 8, --scgi TCP or unix) and
    one front server in front of it, for every variant; shared by a module's tests."""
    from conftest import ServerPool
    name, kind = request.param
    if front_binary(name) is None:
        pytest.skip("%s not installed (scripts/install-deps installs it)"
                    % SCGI_FRONTS[name].binary_name)
    require_scgi()
    pool = ServerPool(str(tmp_path_factory.mktemp("scgi-%s-%s" % (name, kind))))
    fs = None
    try:
        srv = start_scgi_wsgate(pool.start, "scgi_mux", "--script-name", "/app",
                                "--threads", "8", unix=(kind == "unix"))
        fs = SCGI_FRONTS[name](srv.backend)
        fs.wsgate = srv
        fs.start()
        yield fs
    finally:
        if fs is not None:
            fs.stop()
        pool.finish()
