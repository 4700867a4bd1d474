"""Real front servers for the FastCGI tests: nginx, Apache httpd (mod_proxy_fcgi),
lighttpd (mod_fastcgi) and HAProxy (fcgi-app), each started as a child process with
its own config written into a temp dir, listening on a free 127.0.0.1 port, logging
into that dir, and stopped (its whole process group) at teardown. No fixed port, no
system config file is read (nginx includes the stock fastcgi_params, read-only).

The configs written here are the ones docs/deploy-*.md show; keep them in step.

The SCGI front servers (scgi_frontends.py) are subclasses of these: the process
handling and the configs are written once here, and each protocol fills in its few
differing directives (small class attributes / hooks). Protocol holds what differs
on wsgate's side (its listener option, socket names) and starts wsgate with that
listener; front_fixtures() makes the `front`-style fixtures for either protocol.

Besides the documented mount point /app/, nginx and lighttpd get a test-only path or
two under it with one directive changed (the stock params alone, request buffering
off, streamed uploads), so one server start shows both sides of a setting the docs
discuss. A unix socket lives in a setgid directory of the web server's group and
has mode 660 (socket_dir()), as docs/deploy-scgi.md says.

Also here: start_fcgi_wsgate(), which starts build/wsgate with a --fastcgi listener
(TCP or unix socket) next to its --http one, the fixtures the FastCGI test files
import, and the HTTP helpers (http_request, chunked_request, stream_with_gate,
failure_context, big_expected) and checks (check_*) both front-server test files use.

Binaries come from scripts/install-deps (nginx-light or nginx, apache2, lighttpd,
haproxy, libfcgi-bin). A front server whose binary is missing is skipped with the
reason; in CI install-deps has installed them all.
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from wsgate_util import can_connect, free_port, parse_responses, t, wait_for

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


def short_dir(prefix):
    """A directory with a short path (sun_path is 108 bytes) that other users can
    traverse: Apache's children run as `nobody` when the tests run as root, and must
    reach the wsgate socket and the lock files there."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


def web_group():
    """The group the front servers' workers run as: Apache's children drop to
    nobody:nogroup when the tests run as root; otherwise everything runs as us."""
    if not IS_ROOT:
        return os.getgid()
    import grp
    g = _nogroup()
    return int(g[1:]) if g.startswith("#") else grp.getgrnam(g).gr_gid


def socket_dir(prefix):
    """A directory for wsgate's unix socket, set up as docs/deploy-scgi.md says: owned
    by wsgate's user, group the web server's (web_group()), mode 2750. The setgid bit
    gives the socket the directory's group, so --socket-mode 660 lets the web server's
    workers in and nobody else."""
    d = short_dir(prefix)
    os.chown(d, -1, web_group())
    os.chmod(d, 0o2750)
    return d


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
    alt_binary_name = None  # looked for when binary_name is not installed
    mount = "/app"

    def __init__(self, backend, workdir=None):
        self.backend = backend
        self.binary = self.locate()
        # Apache's children drop to `nobody` when we are root: their dir must be
        # reachable by it, so it lives in /tmp (pytest's tmp dirs are 0700).
        self.dir = short_dir("%s-" % self.name) if workdir is None else workdir
        self.port = None
        self.proc = None
        self.started_at = None
        self.stdout_path = os.path.join(self.dir, "stdout.log")

    @classmethod
    def locate(cls):
        """The front server's binary, or None when it is not installed."""
        b = find_binary(cls.binary_name)
        if b is None and cls.alt_binary_name:
            b = find_binary(cls.alt_binary_name)
        return b

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
                self.started_at = time.monotonic()
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

    def log_text(self):
        """Everything the front server has logged so far (its *.log files), as text."""
        out = []
        for name in sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else ():
            if name.endswith(".log"):
                try:
                    with open(os.path.join(self.dir, name), "rb") as f:
                        out.append(f.read().decode("utf-8", "replace"))
                except OSError:
                    pass
        return "\n".join(out)

    def __repr__(self):
        return "<%s :%s -> %r>" % (self.name, self.port, self.backend)


# ---------------------------------------------------------------- nginx

class Nginx(FrontServer):
    name = "nginx"
    binary_name = "nginx"
    PARAMS_NAME = "fastcgi_params"  # the stock params file the location includes
    PREFIX = "fastcgi"  # <PREFIX>_param, <PREFIX>_request_buffering

    # Test-only locations under the mount point, next to the documented /app/ one
    # (wsgate's --script-name /app serves them all; the apps route on a later segment):
    STOCK = "/app/stock-params/"   # the stock params alone, without the HTTP_HOST line
    UNBUFFERED = "/app/unbuffered/"  # <PREFIX>_request_buffering off

    @classmethod
    def version(cls):
        """nginx's version as a tuple of ints, () when unknown."""
        b = cls.locate()
        try:
            out = subprocess.run([b, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=10).stdout.decode("latin-1")
        except (OSError, TypeError, subprocess.TimeoutExpired):
            return ()
        m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
        return tuple(int(x) for x in m.groups()) if m else ()

    def params_path(self):
        params = os.path.join("/etc/nginx", self.PARAMS_NAME)
        if not os.path.exists(params):
            params = os.path.join(os.path.dirname(self.binary), "..", "conf", self.PARAMS_NAME)
        return params

    def stock_params_send_host(self):
        """True when the stock params file sets HTTP_HOST itself (Debian's sends $host,
        without the port); without such a line nginx passes the client's Host header."""
        try:
            with open(self.params_path()) as f:
                return any(line.split()[1:2] == ["HTTP_HOST"] for line in f
                           if line.strip().startswith(self.PREFIX + "_param"))
        except OSError:
            return False

    def config_path(self):
        return os.path.join(self.dir, "nginx.conf")

    def upstream_and_pass(self, upstream):
        """Per protocol: the http-level block before the server (may be ""), and the
        location's directives after the params include."""
        return ("""\
    upstream wsgate {
        server %s;
        keepalive 8;
    }

""" % upstream, """\
            fastcgi_pass wsgate;
            fastcgi_keep_conn on;
""")

    def config(self):
        b = self.backend
        upstream = ("unix:%s" % b.path) if b.kind == "unix" else "%s:%d" % (b.host, b.port)
        d = self.dir
        block, passing = self.upstream_and_pass(upstream)
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

%(block)s    server {
        listen 127.0.0.1:%(port)d;

        location /app/ {
            include %(params)s;
            %(prefix)s_param HTTP_HOST $http_host;
%(passing)s        }

        # test-only: the stock params alone
        location %(stock)s {
            include %(params)s;
%(passing)s        }

        # test-only: request bodies passed on as they arrive
        location %(unbuffered)s {
            include %(params)s;
            %(prefix)s_param HTTP_HOST $http_host;
            %(prefix)s_request_buffering off;
%(passing)s        }
    }
}
""" % {"user": "user root;\n" if IS_ROOT else "", "d": d, "block": block,
       "port": self.port, "params": self.params_path(), "passing": passing,
       "prefix": self.PREFIX, "stock": self.STOCK, "unbuffered": self.UNBUFFERED}

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
    alt_binary_name = "httpd"
    SCHEME = "fcgi"  # mod_proxy_<SCHEME>, <SCHEME>:// URLs
    TCP_OPTIONS = " enablereuse=on"  # after a TCP ProxyPass
    OPTIONS = " flushpackets=on"  # after every ProxyPass: a streamed response flows

    def __init__(self, backend, workdir=None):
        super().__init__(backend, workdir)
        self.proxy_module = "mod_proxy_%s.so" % self.SCHEME
        self.modules = next((d for d in APACHE_MODULE_DIRS
                             if os.path.exists(os.path.join(d, self.proxy_module))), None)

    def config_path(self):
        return os.path.join(self.dir, "httpd.conf")

    def start(self):
        if self.binary is not None and self.modules is None:
            pytest.skip("apache: %s not found in %s" % (self.proxy_module, APACHE_MODULE_DIRS))
        return super().start()

    def proxy_pass(self):
        b = self.backend
        if b.kind == "unix":
            return 'ProxyPass "/app/" "unix:%s|%s://localhost/"%s' % (b.path, self.SCHEME,
                                                                    self.OPTIONS)
        return 'ProxyPass "/app/" "%s://%s:%d/"%s%s' % (self.SCHEME, b.host, b.port,
                                                       self.TCP_OPTIONS, self.OPTIONS)

    def config(self):
        d = self.dir
        m = self.modules
        loads = "\n".join('LoadModule %s_module %s/mod_%s.so' % (n, m, n) for n in (
            "mpm_event", "authz_core", "proxy", "proxy_" + self.SCHEME))
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
MinSpareThreads 16
MaxSpareThreads 64
KeepAlive On
Timeout 60

AllowEncodedSlashes NoDecode
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
    MODULE = "fastcgi"  # mod_<MODULE>, <MODULE>.server
    EXTRA = ""  # server.* settings of the protocol's own, before server.modules
    # Test-only: a path under the mount point where request bodies are streamed
    STREAMED_UPLOAD = "/app/streamed-upload/"

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
server.stream-response-body = 2
%(extra)sserver.modules = ( "mod_%(mod)s", "mod_accesslog" )
accesslog.filename = "%(d)s/access.log"

%(mod)s.server = (
    "/app" => ((
        %(where)s,
        "check-local" => "disable",
    )),
)

# test-only: request bodies passed on as they arrive
$HTTP["url"] =~ "^%(streamed)s" {
    server.stream-request-body = 2
}
""" % {"d": d, "port": self.port, "where": where, "extra": self.EXTRA, "mod": self.MODULE,
       "streamed": self.STREAMED_UPLOAD}

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


class BalancingHaproxy(Haproxy):
    """HAProxy in front of several wsgate hosts (docs/scale-out.md shows this config,
    with its placeholders): an HTTP backend and a FastCGI one (`/fcgi/...`) over the
    same hosts, health-checked on wsgate's --health-path (over FastCGI too), with
    L7 retries and redispatch for a host that vanishes. hosts: (name, address,
    http_port, fastcgi_port) tuples. Its admin socket is DIR/admin.sock."""

    def __init__(self, hosts, health_path="/healthz", workdir=None):
        super().__init__(None, workdir)
        self.hosts = hosts
        self.health_path = health_path

    def config(self):
        http = "".join("    server %s %s:%d\n" % (n, a, hp) for n, a, hp, _ in self.hosts)
        fcgi = "".join("    server %s %s:%d proto fcgi\n" % (n, a, fp)
                       for n, a, _, fp in self.hosts)
        return """\
global
    maxconn 512
    log stderr format raw local0 info
    stats socket %(d)s/admin.sock mode 600 level admin

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    default-server check inter 500ms fall 2 rise 2

fcgi-app wsgate
    docroot %(d)s/htdocs
    option keep-conn

frontend web
    bind 127.0.0.1:%(port)d
    use_backend wsgate_fcgi if { path_beg /fcgi/ }
    default_backend wsgate_http

backend wsgate_http
    balance roundrobin
    option httpchk GET %(health)s
    http-check expect status 200
%(http)s
backend wsgate_fcgi
    balance roundrobin
    use-fcgi-app wsgate
    option httpchk GET %(health)s
    http-check expect status 200
%(fcgi)s""" % {"d": self.dir, "port": self.port, "health": self.health_path, "http": http,
               "fcgi": fcgi}

    def start(self):
        """Started once its admin socket answers too: HAProxy may accept on its TCP
        port (what the base class waits for) a moment before it listens on the
        socket, which then refuses (seen on a busy machine, under ASan)."""
        super().start()
        wait_for(self._admin_ready, t(10), what="HAProxy's admin socket")
        return self

    def _admin_ready(self):
        try:
            self.admin("show info")
            return True
        except (ConnectionRefusedError, FileNotFoundError):
            return False

    def admin(self, command):
        """One command on the admin socket; its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(t(5))
            s.connect(os.path.join(self.dir, "admin.sock"))
            s.sendall(command.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out.decode()
                out += chunk

    def server_states(self):
        """{(backend, server): (status, check_status, check_code)} from `show stat`."""
        lines = self.admin("show stat").splitlines()
        cols = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            if not line:
                continue
            row = dict(zip(cols, line.split(",")))
            if row["svname"] not in ("FRONTEND", "BACKEND"):
                out[(row["pxname"], row["svname"])] = (row["status"], row["check_status"],
                                                       row["check_code"])
        return out


class ProxyingHaproxy(Haproxy):
    """HAProxy as a TLS-terminating HTTP balancer in front of wsgate's --http and
    --https listeners under --proxy-protocol, the shape docs/proxies.md shows: a plain
    bind (self.port) and a TLS bind (self.tls_port, crt = combined PEM); by path,
    /v1/ goes out with send-proxy, /v2/ with send-proxy-v2, /v2ssl/ with
    send-proxy-v2-ssl (the SSL TLV says whether the client spoke TLS to HAProxy),
    /crc/ with send-proxy-v2 and its CRC32C TLV (proxy-v2-options crc32c), and
    /tls/ with send-proxy-v2 over TLS to the https listener (ssl verify none)."""

    def __init__(self, http_port, https_port, combined_pem, workdir=None):
        super().__init__(None, workdir)
        self.http_port = http_port
        self.https_port = https_port
        self.pem = combined_pem
        self.tls_port = None

    def start(self):
        self.tls_port = free_port()
        return super().start()

    def config(self):
        return """\
global
    maxconn 256
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend web
    bind 127.0.0.1:%(port)d
    bind 127.0.0.1:%(tls_port)d ssl crt %(pem)s
    use_backend v1 if { path_beg /v1/ }
    use_backend v2ssl if { path_beg /v2ssl/ }
    use_backend tls if { path_beg /tls/ }
    use_backend crc if { path_beg /crc/ }
    default_backend v2

backend v1
    server w 127.0.0.1:%(http)d send-proxy

backend v2
    server w 127.0.0.1:%(http)d send-proxy-v2

backend v2ssl
    server w 127.0.0.1:%(http)d send-proxy-v2-ssl

backend crc
    server w 127.0.0.1:%(http)d send-proxy-v2 proxy-v2-options crc32c

backend tls
    server w 127.0.0.1:%(https)d send-proxy-v2 ssl verify none
""" % {"port": self.port, "tls_port": self.tls_port, "pem": self.pem, "http": self.http_port,
       "https": self.https_port}


class ProxyPassNginx(Nginx):
    """nginx as a TLS-terminating reverse proxy (proxy_pass) in front of wsgate's
    --http listener, with the X-Forwarded-* lines docs/proxies.md gives; listens on
    self.port with TLS (cert, key)."""

    def __init__(self, backend, cert, key, workdir=None):
        super().__init__(backend, workdir)
        self.cert = cert
        self.key = key

    def config(self):
        b = self.backend
        d = self.dir
        return """\
%(user)sworker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log info;

events {
    worker_connections 128;
}

http {
    access_log %(d)s/access.log;
    client_body_temp_path %(d)s/tmp/client_body;
    proxy_temp_path %(d)s/tmp/proxy;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    scgi_temp_path %(d)s/tmp/scgi;
    uwsgi_temp_path %(d)s/tmp/uwsgi;

    server {
        listen 127.0.0.1:%(port)d ssl;
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;

        location / {
            proxy_pass http://%(host)s:%(bport)d;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
}
""" % {"user": "user root;\n" if IS_ROOT else "", "d": d, "port": self.port,
       "cert": self.cert, "key": self.key, "host": b.host, "bport": b.port}

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)


def variant_ids(variants):
    return ["%s-%s" % v for v in variants]


def only(fixture, variants, front=None, kind=None):
    """Runs a test on the variants of one front server (or backend kind) only, with
    the same module-scoped fixture instances as the others (indirect parametrization
    reuses them), instead of skipping it on every other variant. front may be a
    name or a tuple of names."""
    fronts = (front,) if isinstance(front, str) else front
    chosen = [v for v in variants if (front is None or v[0] in fronts) and kind in (None, v[1])]
    return pytest.mark.parametrize(fixture, chosen, indirect=True, ids=variant_ids(chosen))


FRONTS = {"nginx": Nginx, "apache": Apache, "lighttpd": Lighttpd, "haproxy": Haproxy}

# The variants every front-server test runs through: (front server, backend kind).
VARIANTS = [("nginx", "tcp"), ("nginx", "unix"), ("apache", "tcp"), ("apache", "unix"),
            ("lighttpd", "tcp"), ("haproxy", "tcp")]
VARIANT_IDS = variant_ids(VARIANTS)


# ---------------------------------------------------------------- wsgate

class Protocol:
    """What differs, on wsgate's side, between the protocols it speaks to a front
    server: the listener option (--fastcgi, --scgi), the unix socket's dir prefix and
    name, and the Server attribute that gets the listener's address."""

    def __init__(self, option, short, dir_prefix):
        self.option = option              # "--fastcgi"
        self.short = short                # "fcgi": <short>.sock, Server.<short>_addr
        self.dir_prefix = dir_prefix      # the short_dir() of a unix socket

    def start_wsgate(self, factory, app, *args, unix=False, **kw):
        """Starts wsgate (through the conftest factory `wsgate`/`wsgate_module`) with
        this protocol's listener next to its --http one. Returns the Server with
        .backend (a Backend) and .<short>_addr set, once the listener accepts
        connections."""
        extra = []
        d = None
        if unix:
            d = socket_dir(self.dir_prefix)
            backend = Backend("unix", path=os.path.join(d, "%s.sock" % self.short))
            extra = ["--socket-mode", "660"]
        else:
            backend = Backend("tcp", host="127.0.0.1", port=free_port())
        srv = factory(app, self.option, backend.listen_arg, *(extra + list(args)), **kw)
        if d:
            srv.cleanup_dirs.append(d)
        srv.backend = backend
        setattr(srv, "%s_addr" % self.short, backend.addr)
        deadline = time.monotonic() + t(10)
        while not can_connect(backend.addr):
            if srv.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("wsgate's %s %s listener did not come up:\n%s"
                            % (self.option, backend.listen_arg,
                               (srv.stderr_text() + srv.error_text())[-3000:]))
            time.sleep(0.02)
        return srv

    def supported(self):
        """True when build/wsgate knows the option (it is grepped from --help)."""
        from conftest import BIN
        try:
            out = subprocess.run([BIN, "--help"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=t(10)).stdout
        except (OSError, subprocess.TimeoutExpired):
            return False
        return self.option.encode() in out

    def require(self):
        if not self.supported():
            pytest.fail("build/wsgate has no %s option (rebuild with make)" % self.option)


FASTCGI = Protocol("--fastcgi", "fcgi", "wsgf")

# start_fcgi_wsgate(factory, app, *args, unix=False, **kw): the Server gets .backend
# and .fcgi_addr.
start_fcgi_wsgate = FASTCGI.start_wsgate
fastcgi_supported = FASTCGI.supported
require_fastcgi = FASTCGI.require


# ---------------------------------------------------------------- fixtures

def front_fixtures(protocol, fronts, variants, wsgate_args, factory_name, front_name):
    """The two fixtures of a protocol's front-server tests, named factory_name and
    front_name:

    factory_name: a factory, (name, backend) -> a started front server (fronts[name]);
    all are stopped at the end of the test.

    front_name (module scope, one per variant of `variants`): one wsgate (started
    with `wsgate_args`, e.g. the app and --script-name /app, and the protocol's
    listener, TCP or unix) and one front server in front of it, shared by the tests
    of a module. A front class with a PROTOCOL attribute speaks that protocol to
    wsgate instead (the SCGI suite runs its uwsgi fronts that way)."""

    @pytest.fixture(name=factory_name)
    def factory_fixture():
        started = []

        def start(name, backend):
            fs = fronts[name](backend)
            started.append(fs)
            return fs.start()
        yield start
        for fs in started:
            fs.stop()

    @pytest.fixture(name=front_name, scope="module", params=variants,
                    ids=variant_ids(variants))
    def front_fixture(request, tmp_path_factory):
        from conftest import ServerPool
        name, kind = request.param
        cls = fronts[name]
        proto = getattr(cls, "PROTOCOL", None) or protocol  # a front of another protocol
        if cls.locate() is None:
            pytest.skip("%s not installed (scripts/install-deps installs it)" % cls.binary_name)
        proto.require()
        pool = ServerPool(str(tmp_path_factory.mktemp("%s-%s-%s" % (proto.short, name, kind))))
        fs = None
        try:
            srv = proto.start_wsgate(pool.start, *wsgate_args, unix=(kind == "unix"))
            fs = cls(srv.backend)
            fs.wsgate = srv
            fs.start()
            yield fs
        finally:
            if fs is not None:
                fs.stop()
            pool.finish()

    return factory_fixture, front_fixture


# front_factory(name, backend) -> a started FrontServer; front: one wsgate (fcgi_mux,
# --script-name /app, --fastcgi-stderr, --fastcgi TCP or unix) and one front server,
# for every variant.
front_factory, front = front_fixtures(FASTCGI, FRONTS, VARIANTS,
                                      ("fcgi_mux", "--script-name", "/app", "--fastcgi-stderr"),
                                      "front_factory", "front")


# ---------------------------------------------------------------- HTTP helpers for the tests

def big_expected(size):
    """What tests/apps/fcgi_mux.py's (and scgi_mux.py's) /big/?size= sends."""
    pattern = bytes(range(256)) * 256
    reps, rest = divmod(size, len(pattern))
    return pattern * reps + pattern[:rest]


def http_request(fs, method, target, body=None, headers=None, timeout=None, conn=None):
    """One request to the front server with an exact request-target. Returns
    (status, headers dict lower-cased, body bytes)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", fs.port,
                                          timeout=t(30) if timeout is None else timeout)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Length", str(len(body)))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if own:
            conn.close()


def failure_context(fs, *what):
    """A failure message (a str, so pytest prints it whole): what was seen, then the
    front server's and wsgate's logs."""
    seen = " ".join(repr(w)[:600] for w in what)
    return "%s\nfront: %r\n%s\n--- wsgate log\n%s" % (
        seen, fs, fs.logs(), (fs.wsgate.stderr_text() + fs.wsgate.error_text())[-3000:])


def chunked_request(fs, target, body, piece=8000):
    """POSTs body with Transfer-Encoding: chunked, in chunks of `piece` bytes, all
    sent before the answer is read (keep the body to a few socket buffers). A front
    server that refuses the request may answer and close before the body is all sent:
    the answer is read all the same. Returns (status, headers dict lower-cased, body
    bytes), or (None, {}, raw bytes) when no whole answer could be read."""
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + piece]), body[i:i + piece])
                      for i in range(0, len(body), piece))
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            % (target, fs.port)).encode()
    s = socket.create_connection(("127.0.0.1", fs.port), timeout=t(30))
    raw = b""
    try:
        try:
            s.sendall(head + chunks + b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early; what it sent is still to be read
        while True:
            b = s.recv(65536)
            if not b:
                break
            raw += b
    except ConnectionResetError:
        pass
    finally:
        s.close()
    try:
        r = parse_responses(raw)[0]
    except (AssertionError, IndexError):
        return None, {}, raw
    return r.status, {k.lower(): v for k, v in r.headers}, r.body


def stream_with_gate(fs, target, n=3, size=1000):
    """GETs target (tests/apps/it_stream.py's route, query string open: it ends in ?
    or &) for n chunks of size bytes, the last one held back by the app until a gate
    file exists. Reads what arrives before opening the gate (up to one chunk, waiting
    at most 10 s), then the rest. Returns (status or None, the bytes that arrived
    before the gate opened, the whole body or None)."""
    gate = os.path.join(fs.dir, "gate-%d-%d" % (os.getpid(), time.monotonic_ns()))
    conn = http.client.HTTPConnection("127.0.0.1", fs.port, timeout=t(10))
    early, r = b"", None
    try:
        conn.request("GET", "%sn=%d&size=%d&gate=%s" % (target, n, size, gate))
        try:
            r = conn.getresponse()
            while len(early) < size:
                b = r.read1(65536)
                if not b:
                    break
                early += b
        except (socket.timeout, TimeoutError):
            return (r.status if r else None), early, None
        finally:
            open(gate, "w").close()  # the app's thread goes on whatever happened
        conn.sock.settimeout(t(30))
        return r.status, early, early + r.read()
    finally:
        conn.close()


def check_http_host(fs, probe="probe/h"):
    """nginx: the documented location (with <prefix>_param HTTP_HOST $http_host after
    the stock params) gives the app the Host header with its port; the test-only
    location with the stock params alone gives what those send (Debian's: $host,
    without the port)."""
    with_port = "127.0.0.1:%d" % fs.port
    st, hdrs, body = http_request(fs, "GET", "/app/" + probe)
    assert st == 200, failure_context(fs, st, body[:300])
    assert json.loads(body)["environ"]["HTTP_HOST"] == with_port, failure_context(fs, body)
    st, hdrs, body = http_request(fs, "GET", fs.STOCK + probe)
    assert st == 200, failure_context(fs, st, body[:300])
    stock = "127.0.0.1" if fs.stock_params_send_host() else with_port
    assert json.loads(body)["environ"]["HTTP_HOST"] == stock, failure_context(fs, body)


def check_streamed_upload(fs, started_path):
    """lighttpd, under its test-only STREAMED_UPLOAD path (server.stream-request-body
    = 2): the app starts while the upload is still coming, and reads it whole; a
    chunked upload whose end has not arrived gets 411 from lighttpd itself. The body
    is larger than wsgate's --body-buffer (1 MiB), which wsgate itself would collect
    before the app runs (SCGI; FastCGI bodies are not collected)."""
    body = os.urandom(1536 * 1024)
    target = "%secho/?mode=readn&n=65536&started=%s" % (fs.STREAMED_UPLOAD, started_path)
    s = socket.create_connection(("127.0.0.1", fs.port), timeout=t(30))
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
                   "Connection: close\r\n\r\n" % (target, len(body))).encode() + body[:1000])
        deadline = time.monotonic() + t(10)
        while not os.path.exists(started_path):
            assert time.monotonic() < deadline, failure_context(
                fs, "the app did not start before the upload ended")
            time.sleep(0.01)
        s.sendall(body[1000:])
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    r = parse_responses(data)[0]
    assert r.status == 200, failure_context(fs, data[:500])
    out = json.loads(r.body)
    assert (out["len"], out["sha256"]) == (len(body), hashlib.sha256(body).hexdigest()), out
    # A chunked upload whose end has not arrived yet: lighttpd cannot give the backend
    # a CONTENT_LENGTH and refuses at once (a whole one it had already read would pass).
    s = socket.create_connection(("127.0.0.1", fs.port), timeout=t(10))
    try:
        s.sendall(("POST %secho/?mode=readn HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n1000\r\n" % fs.STREAMED_UPLOAD).encode()
                  + b"x" * 4096 + b"\r\n")
        head = s.recv(65536)
    finally:
        s.close()
    assert head.startswith(b"HTTP/1.1 411 "), failure_context(fs, head[:300])


def check_no_mpm_complaint(fs):
    """Apache: its error log holds no warning or error of the MPM about the config
    (mpm_event checks its thread limits about once a second: give it 3 s from its
    start, which the rest of the module has normally used up already)."""
    left = fs.started_at + t(3) - time.monotonic()
    if left > 0:
        time.sleep(left)
    with open(os.path.join(fs.dir, "error.log"), errors="replace") as f:
        bad = [line for line in f if "[mpm_" in line and (":warn]" in line or ":error]" in line)]
    assert not bad, failure_context(fs, bad)
