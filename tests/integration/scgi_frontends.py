"""Real SCGI front servers for test_scgi_frontends.py: lighttpd (mod_scgi), nginx
(scgi_pass with the stock scgi_params) and Apache httpd (mod_proxy_scgi), each started
as a child process with its own config in a temp dir, on a free 127.0.0.1 port,
logging into that dir, and stopped (its whole process group) at teardown. The same
suite runs the uwsgi protocol's front servers: nginx uwsgi_pass with the stock
uwsgi_params and Apache mod_proxy_uwsgi (variants "uwsgi-nginx", "uwsgi-apache";
their configs are the ones docs/deploy-uwsgi.md shows).

The process handling (start on a free port with retries, readiness polling, stop,
logs), the configs and the fixtures are frontends.py's, shared with the FastCGI
tests; the classes here only fill in the directives that are SCGI's. The configs
written here are the ones docs/deploy-scgi.md shows; keep them in step.

Also here: start_scgi_wsgate() and start_uwsgi_wsgate(), which start build/wsgate
with an --scgi (--uwsgi) listener (TCP or unix socket) next to its --http one (the
conftest factory polls the --http one; this waits for the other one too).

A front server whose binary (or Apache module) is missing is skipped with the reason.
"""
from frontends import Apache, Lighttpd, Nginx, Protocol, front_fixtures, variant_ids

SCGI = Protocol("--scgi", "scgi", "wsgs")
UWSGI = Protocol("--uwsgi", "uwsgi", "wsgu")


class ScgiLighttpd(Lighttpd):
    MODULE = "scgi"
    EXTRA = "server.max-request-size = 16384\n"


class ScgiNginx(Nginx):
    PARAMS_NAME = "scgi_params"
    PREFIX = "scgi"

    def upstream_and_pass(self, upstream):
        return "", "            scgi_pass %s;\n" % upstream


class ScgiApache(Apache):
    SCHEME = "scgi"
    TCP_OPTIONS = ""
    OPTIONS = ""  # mod_proxy_scgi passes a streamed response on without flushpackets


class UwsgiNginx(Nginx):
    """nginx uwsgi_pass with the stock uwsgi_params (docs/deploy-uwsgi.md). Its
    name stays "nginx": the suite's per-server expectations are the server's."""
    PROTOCOL = UWSGI
    PARAMS_NAME = "uwsgi_params"
    PREFIX = "uwsgi"

    def upstream_and_pass(self, upstream):
        return "", "            uwsgi_pass %s;\n" % upstream


class UwsgiApache(Apache):
    """Apache mod_proxy_uwsgi, ProxyPass ... uwsgi://host:port/ (docs/deploy-uwsgi.md)."""
    PROTOCOL = UWSGI
    SCHEME = "uwsgi"
    TCP_OPTIONS = ""
    OPTIONS = ""


SCGI_FRONTS = {"lighttpd": ScgiLighttpd, "nginx": ScgiNginx, "apache": ScgiApache,
               "uwsgi-nginx": UwsgiNginx, "uwsgi-apache": UwsgiApache}

# The variants every front-server test runs through: (front server, backend kind);
# the SCGI ones, then the uwsgi protocol's.
SCGI_ONLY_VARIANTS = [("lighttpd", "tcp"), ("lighttpd", "unix"), ("nginx", "tcp"),
                      ("nginx", "unix"), ("apache", "tcp"), ("apache", "unix")]
UWSGI_VARIANTS = [("uwsgi-nginx", "tcp"), ("uwsgi-nginx", "unix"), ("uwsgi-apache", "tcp"),
                  ("uwsgi-apache", "unix")]
SCGI_VARIANTS = SCGI_ONLY_VARIANTS + UWSGI_VARIANTS
SCGI_VARIANT_IDS = variant_ids(SCGI_VARIANTS)


def front_binary(name):
    return SCGI_FRONTS[name].locate()


def protocol_of(name):
    """The protocol the front server of variant `name` speaks to wsgate."""
    return getattr(SCGI_FRONTS[name], "PROTOCOL", None) or SCGI


def is_uwsgi(fs):
    """True for a front server that speaks the uwsgi protocol to wsgate."""
    return getattr(fs, "PROTOCOL", None) is UWSGI


# ---------------------------------------------------------------- wsgate

# start_scgi_wsgate(factory, app, *args, unix=False, **kw): the Server gets .backend
# (a frontends.Backend) and .scgi_addr.
start_scgi_wsgate = SCGI.start_wsgate
scgi_supported = SCGI.supported
require_scgi = SCGI.require

# start_uwsgi_wsgate(factory, app, *args, unix=False, **kw): .backend and .uwsgi_addr.
start_uwsgi_wsgate = UWSGI.start_wsgate
require_uwsgi = UWSGI.require


# ---------------------------------------------------------------- fixtures

# scgi_front_factory(name, backend) -> a started front server; scgi_front: one wsgate
# (scgi_mux, --script-name /app, --threads 8, --scgi or --uwsgi, TCP or unix) and one
# front server, for every variant.
scgi_front_factory, scgi_front = front_fixtures(
    SCGI, SCGI_FRONTS, SCGI_VARIANTS, ("scgi_mux", "--script-name", "/app", "--threads", "8"),
    "scgi_front_factory", "scgi_front")
