"""Real SCGI front servers for test_scgi_frontends.py: lighttpd (mod_scgi), nginx
(scgi_pass with the stock scgi_params) and Apache httpd (mod_proxy_scgi), each started
as a child process with its own config in a temp dir, on a free 127.0.0.1 port,
logging into that dir, and stopped (its whole process group) at teardown.

The process handling (start on a free port with retries, readiness polling, stop,
logs), the configs and the fixtures are frontends.py's, shared with the FastCGI
tests; the classes here only fill in the directives that are SCGI's. The configs
written here are the ones docs/deploy-scgi.md shows; keep them in step.

Also here: start_scgi_wsgate(), which starts build/wsgate with an --scgi listener
(TCP or unix socket) next to its --http one (the conftest factory polls the --http
one; this waits for the SCGI one too).

A front server whose binary (or Apache module) is missing is skipped with the reason.
"""
from frontends import Apache, Lighttpd, Nginx, Protocol, front_fixtures, variant_ids


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


SCGI_FRONTS = {"lighttpd": ScgiLighttpd, "nginx": ScgiNginx, "apache": ScgiApache}

# The variants every front-server test runs through: (front server, backend kind).
SCGI_VARIANTS = [("lighttpd", "tcp"), ("lighttpd", "unix"), ("nginx", "tcp"),
                 ("nginx", "unix"), ("apache", "tcp"), ("apache", "unix")]
SCGI_VARIANT_IDS = variant_ids(SCGI_VARIANTS)


def front_binary(name):
    return SCGI_FRONTS[name].locate()


# ---------------------------------------------------------------- wsgate

SCGI = Protocol("--scgi", "scgi", "wsgs")

# start_scgi_wsgate(factory, app, *args, unix=False, **kw): the Server gets .backend
# (a frontends.Backend) and .scgi_addr.
start_scgi_wsgate = SCGI.start_wsgate
scgi_supported = SCGI.supported
require_scgi = SCGI.require


# ---------------------------------------------------------------- fixtures

# scgi_front_factory(name, backend) -> a started front server; scgi_front: one wsgate
# (scgi_mux, --script-name /app, --threads 8, --scgi TCP or unix) and one front
# server, for every variant.
scgi_front_factory, scgi_front = front_fixtures(
    SCGI, SCGI_FRONTS, SCGI_VARIANTS, ("scgi_mux", "--script-name", "/app", "--threads", "8"),
    "scgi_front_factory", "scgi_front")
