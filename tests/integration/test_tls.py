"""HTTPS: --https with --certfile/--keyfile, mutual TLS (--ca-certs, --verify-client)
(docs/deploy-tls.md), and the TLS rows T01-T07 of docs/hostile-inputs.md.

The certificates are made at test time with the openssl CLI (wsgate_util.Pki): a
root, an intermediate, RSA and ECDSA leaves; clients trust the root only, so every
handshake that succeeds also shows the server sent its chain. The clients are
Python's ssl, curl and openssl s_client. The apps are tests/apps/it_tls.py (environ
probe, body echo, checkable large bodies, wsgi.file_wrapper) behind one server for
the module, with a plain --http listener beside the TLS one, and Flask and Django
(tests/apps/it_flask.py, it_django.py) on servers of their own.
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from xml.etree import ElementTree

import pytest
import requests

from conftest import free_port, run_cli
from wsgate_util import (Pki, RawConn, children, chunked, logs, metrics, req, t, tcp_ports,
                         tls_connect, wait_access, wait_for, wait_log, wait_mark,
                         wait_read_all, wait_server_closed)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "apps"))
import it_big  # noqa: E402

TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
# ThreadSanitizer's shadow memory multiplies what the process holds (several times).
MEMORY_SCALE = 8 if "TSAN_OPTIONS" in os.environ else 1


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def srv(wsgate_module, pki):
    """RSA chain with a PKCS#8 key, and a plain listener on srv.plain_port. A small
    --send-buffer sends large responses through the spill file. --stats for the
    handshake counters."""
    plain = free_port()
    s = wsgate_module("it_tls", "--http", "127.0.0.1:%d" % plain, "--threads", "4",
                      "--send-buffer", "65536", tls=(pki.rsa_chain, pki.rsa_pkcs8),
                      stats=True)
    s.plain_port = plain
    return s


def tls_conn(srv, ctx, **kw):
    return RawConn(sock=tls_connect(srv, ctx, **kw))


def ask(c, method, target, headers=(), body=b""):
    c.send(req(method, target, headers, body))
    r = c.read_response(method=method)
    assert r.complete, r
    return r


def environ_of(c, target="/probe"):
    r = ask(c, "GET", target)
    assert r.status == 200, r
    return json.loads(r.body)["environ"]


def tls_metrics(srv):
    """The wsgate_tls_* samples of /metrics."""
    return {k: v for k, v in metrics(srv).items() if k.startswith("wsgate_tls_")}


def handshake_log_levels(srv):
    """The levels of the lines about failed or stalled handshakes."""
    return re.findall(r"\[(debug|info|warning|error|critical)\] [^\n]*TLS handshake",
                      logs(srv))


def s_client(srv, *args, stdin=b""):
    """openssl s_client against srv: (exit code, its output)."""
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port] +
                       list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=t(20))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def still_serves(srv, pki):
    with tls_conn(srv, pki.client_context()) as c:
        assert ask(c, "GET", "/hello").body == b"hello\n"


def client_hello(n=None):
    """The first n bytes (all: None) of a real TLS ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = outgoing.read()
    return data if n is None else data[:n]


# ---- serving -------------------------------------------------------------------------

def test_keep_alive_environ_and_the_chain(srv, pki):
    with tls_conn(srv, pki.client_context()) as c:
        env = environ_of(c)
        assert ask(c, "GET", "/hello").body == b"hello\n"
        again = environ_of(c, "/probe?again")
        version, cipher = c.sock.version(), c.sock.cipher()[0]
    assert env["wsgi.url_scheme"] == "https" and again["wsgi.url_scheme"] == "https"
    assert env["HTTPS"] == "on"
    assert env["SSL_PROTOCOL"] == version == "TLSv1.3"
    assert env["SSL_CIPHER"] == cipher
    assert env["SSL_SESSION_RESUMED"] == "Initial"
    assert env["SERVER_PORT"] == str(srv.port)
    wait_access(srv, "GET /probe", count=2)
    # The plain listener of the same server: no TLS variables.
    r = RawConn(sock=socket.create_connection(("127.0.0.1", srv.plain_port), t(5)))
    with r:
        plain = environ_of(r)
    assert plain["wsgi.url_scheme"] == "http"
    assert not any(k == "HTTPS" or k.startswith("SSL_") for k in plain), plain


@pytest.mark.parametrize("version", [TLS12, TLS13], ids=["tls1.2", "tls1.3"])
def test_session_resumption(srv, pki, version):
    ctx = pki.client_context(maximum_version=version)
    with tls_conn(srv, ctx) as c:
        first = environ_of(c)  # TLS 1.3 tickets come after the handshake: read first
        session = c.sock.session
    with tls_conn(srv, ctx, session=session) as c:
        second = environ_of(c)
        reused = c.sock.session_reused
    assert first["SSL_SESSION_RESUMED"] == "Initial"
    assert reused and second["SSL_SESSION_RESUMED"] == "Resumed"
    assert second["SSL_PROTOCOL"] == {TLS12: "TLSv1.2", TLS13: "TLSv1.3"}[version]


def test_foreign_ticket_gets_a_full_handshake(srv, tuned, pki):
    """T08: a ticket another server issued (other keys, other client-certificate
    settings) is not resumed: a full handshake, and the request is served."""
    for version in (TLS12, TLS13):
        ctx = pki.client_context(maximum_version=version)
        with tls_conn(tuned, ctx) as c:
            environ_of(c)
            session = c.sock.session
        with tls_conn(srv, ctx, session=session) as c:
            env = environ_of(c)
            assert not c.sock.session_reused
        assert env["SSL_SESSION_RESUMED"] == "Initial"


def test_request_bodies(srv, pki):
    """Small, spooled (past 64 KiB), streamed (past --body-buffer), chunked, and one
    that waits for 100 Continue: all on one kept connection."""
    with tls_conn(srv, pki.client_context()) as c:
        for n in (100, 300 * 1024, 3 << 20):
            body = os.urandom(n)
            r = ask(c, "POST", "/echo", [("Content-Length", str(n))], body)
            got = json.loads(r.body)
            assert (got["len"], got["sha256"]) == (n, hashlib.sha256(body).hexdigest())
        parts = [os.urandom(70000), os.urandom(5), os.urandom(130000)]
        r = ask(c, "POST", "/echo", [("Transfer-Encoding", "chunked")], chunked(*parts))
        assert json.loads(r.body)["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
        body = os.urandom(200000)
        c.send(req("POST", "/echo", [("Content-Length", str(len(body))),
                                     ("Expect", "100-continue")]))
        assert c.read_response().status == 100
        c.send(body)
        r = c.read_response()
        assert json.loads(r.body)["sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("mode", ["bytes", "chunks", "file"])
def test_large_responses(srv, pki, mode):
    """Through the output queue past --send-buffer (the spill file, read back with
    pread: no sendfile over TLS), and a wsgi.file_wrapper file the same way."""
    n = 5 << 20
    with tls_conn(srv, pki.client_context()) as c:
        r = ask(c, "GET", "/big?mode=%s&size=%d" % (mode, n))
        assert r.status == 200 and r.body == it_big.body(n)
        assert ask(c, "GET", "/hello").body == b"hello\n"  # and the connection goes on


def test_slow_reader_finally_reads(srv, pki):
    """A reader with a tiny window: the worker leaves the response queued (TLS records
    of it, the rest spilled) and the loop finishes it when the client reads."""
    n = 8 << 20
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
    raw.settimeout(t(10))
    raw.connect(("127.0.0.1", srv.port))
    s = pki.client_context().wrap_socket(raw, server_hostname="localhost")
    with RawConn(sock=s, timeout=t(60)) as c:
        c.send(req("GET", "/big?mode=bytes&size=%d&slow" % n))
        wait_access(srv, "size=%d&slow" % n)  # the app and the worker are done
        r = c.read_response(timeout=t(60))
    assert r.status == 200 and r.body == it_big.body(n)


def test_curl_keep_alive_and_file_wrapper(srv, pki, tmp_path):
    data = os.urandom(3 << 20)
    src = tmp_path / "f.bin"
    src.write_bytes(data)
    base = "https://localhost:%d" % srv.port
    out1, out2 = tmp_path / "1", tmp_path / "2"
    p = subprocess.run(["curl", "-sS", "-v", "--http1.1", "--cacert", pki.ca, "--resolve",
                        "localhost:%d:127.0.0.1" % srv.port,
                        base + "/filewrap?cl=1&path=%s" % src, "-o", str(out1),
                        base + "/big?mode=file&size=3000000", "-o", str(out2)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(60))
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, err
    assert out1.read_bytes() == data
    assert out2.read_bytes() == it_big.body(3000000)
    assert "ALPN: server accepted http/1.1" in err, err
    assert re.search(r"Re-using existing connection", err), err


def test_alpn(srv, pki):
    """h2 first (offered by default; --no-h2: test_h2.py::test_switched_off), http/1.1
    to a client that asks for it alone, and a client that offers neither is refused."""
    s = tls_connect(srv, pki.client_context(), alpn=["h2", "http/1.1"])
    assert s.selected_alpn_protocol() == "h2"
    s.close()
    with tls_conn(srv, pki.client_context(), alpn=["http/1.1"]) as c:
        assert c.sock.selected_alpn_protocol() == "http/1.1"
        assert ask(c, "GET", "/hello").status == 200
    with pytest.raises(ssl.SSLError, match="NO_APPLICATION_PROTOCOL|no application"):
        tls_connect(srv, pki.client_context(), alpn=["spdy/3.1"]).close()
    wait_log(srv, r"TLS handshake failed: no application protocol")


@pytest.mark.parametrize("chain,key,family", [
    ("rsa_chain", "rsa_pkcs1", "RSA"),
    ("ec_chain", "ec_key", "ECDSA"),
    ("ec_combined", None, "ECDSA"),
], ids=["rsa-pkcs1", "ec", "ec-key-in-certfile"])
def test_key_kinds(wsgate, pki, chain, key, family):
    """PKCS#8 is the module server's; here PKCS#1, SEC1 (EC), and a key given in the
    certificate file itself."""
    s = wsgate("it_tls", tls=(getattr(pki, chain), getattr(pki, key) if key else None))
    with tls_conn(s, pki.client_context(maximum_version=TLS12)) as c:
        assert ask(c, "GET", "/hello").body == b"hello\n"
        assert "-%s-" % family in c.sock.cipher()[0], c.sock.cipher()


def test_flask_smoke(wsgate, pki):
    s = wsgate("it_flask", tls=(pki.ec_chain, pki.ec_key))
    with tls_conn(s, pki.client_context()) as c:
        r = ask(c, "GET", "/")
    assert r.status == 200 and r.body == b"flask index"


def worker_and_session(srv, ctx, session=None):
    """One request to /pid on a new connection (resuming session if given): the worker
    process's pid, the connection's session, and whether it was resumed."""
    with tls_conn(srv, ctx, session=session) as c:
        pid = ask(c, "GET", "/pid").body  # TLS 1.3 tickets come after the handshake
        return pid, c.sock.session, c.sock.session_reused


def test_django(wsgate, pki):
    """Django (tests/apps/it_django.py) over HTTPS: a page; request.is_secure() and
    request.scheme from wsgi.url_scheme; a form POST with its CSRF token, which Django
    checks strictly on HTTPS only: refused without a Referer or with an http:// one,
    accepted with the site's own https:// Referer."""
    s = wsgate("it_django", tls=(pki.ec_chain, pki.ec_key))
    base = "https://127.0.0.1:%d" % s.port
    # verify= on every call: REQUESTS_CA_BUNDLE, when set, beats Session.verify
    with requests.Session() as http:
        r = http.get(base + "/", verify=pki.ca, timeout=t(10))
        assert r.status_code == 200 and r.text == "django index"
        d = http.get(base + "/secure/", verify=pki.ca, timeout=t(10)).json()
        assert d["is_secure"] is True and d["scheme"] == "https", d
        assert http.cookies.get("csrftoken")

        def post(referer):
            headers = {"Referer": referer} if referer else {}
            return http.post(base + "/protected/", headers=headers, verify=pki.ca,
                             timeout=t(10), data={"csrfmiddlewaretoken": d["token"], "a": "1"})
        assert post(None).status_code == 403
        assert post("http://127.0.0.1:%d/secure/" % s.port).status_code == 403
        r = post(base + "/secure/")
        assert r.status_code == 200 and r.text == "should need a CSRF token", r.text[:300]


@pytest.mark.slow
def test_prefork_workers(wsgate, pki):
    """The context is made once, before the fork: both worker processes serve TLS, and
    /metrics sums their handshakes. A session one worker made resumes on the other (the
    ticket keys are in memory the processes share, gateway/tls_tickets.h), TLS 1.2 and
    1.3."""
    s = wsgate("it_tls", "--processes", "2", tls=(pki.ec_chain, pki.ec_key), stats=True)
    pids = []

    def two_pids():
        with tls_conn(s, pki.client_context()) as c:
            pids.append(ask(c, "GET", "/pid").body)
        return len(set(pids)) == 2
    wait_for(two_pids, t(20), interval=0, what="answers from both worker processes")
    ok = 'wsgate_tls_handshakes_total{result="ok"}'
    wait_for(lambda: tls_metrics(s)[ok] == len(pids), t(5), what="%d handshakes" % len(pids))
    for version in (TLS12, TLS13):
        ctx = pki.client_context(maximum_version=version)
        first, session, _ = worker_and_session(s, ctx)

        def resumed_on_the_other():
            pid, _, reused = worker_and_session(s, ctx, session)
            assert reused, (version, pid, first)
            return pid != first
        wait_for(resumed_on_the_other, t(20), interval=0,
                 what="a resumed session on the other worker process")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2], ids=["single", "prefork"])
def test_https_listener_stays_tls_across_a_reload(wsgate, pki, workers):
    """SIGHUP starts a new image of wsgate that takes the listening sockets over by
    their kind: the https one must come back with TLS, never as plain HTTP. The ticket
    keys carry over: sessions made before the reload resume on the new image's
    processes (TLS 1.2 and 1.3)."""
    s = wsgate("it_tls", "-w", str(workers), tls=(pki.ec_chain, pki.ec_key))
    wait_for(lambda: len(children(s.pid)) == (workers if workers > 1 else 0), t(10),
             what="the workers")
    old = set(children(s.pid))
    contexts = [pki.client_context(maximum_version=v) for v in (TLS12, TLS13)]
    sessions = [worker_and_session(s, ctx)[1] for ctx in contexts]
    s.signal(signal.SIGHUP)
    if workers == 1:
        wait_log(s, r"reload complete")
        wait_for(lambda: children(s.pid) == [], t(15), what="the bridge to exit")
    else:
        wait_for(lambda: len(children(s.pid)) == workers and not set(children(s.pid)) & old,
                 t(20), what="new workers only")
    still_serves(s, pki)
    for ctx, session in zip(contexts, sessions):
        pid, _, reused = worker_and_session(s, ctx, session)
        assert reused and int(pid) not in old, (ctx.maximum_version, pid, old)
    with RawConn(sock=socket.create_connection(("127.0.0.1", s.port), t(5))) as c:
        c.try_send(req("GET", "/hello"))
        assert b"HTTP/" not in c.read_until_close(t(10))


def test_handshake_metrics(srv, pki):
    """/metrics counts handshakes by result, resumed sessions and versions: a TLS 1.3
    handshake, a TLS 1.2 one and its resumption, garbage instead of a ClientHello; a
    client that closes without sending a byte started none. (The stalled one is
    test_truncated_handshake_closed_at_the_read_timeout's.)"""
    hs = 'wsgate_tls_handshakes_total{result="%s"}'
    ver = 'wsgate_tls_versions_total{version="%s"}'
    want = tls_metrics(srv)
    assert set(want) == {hs % "ok", hs % "failed", hs % "timeout", ver % "1.2", ver % "1.3",
                         "wsgate_tls_resumed_total"}, want
    silent = socket.create_connection(("127.0.0.1", srv.port), t(5))
    ports = tcp_ports(silent)
    silent.close()
    wait_server_closed(ports)
    still_serves(srv, pki)
    ctx = pki.client_context(maximum_version=TLS12)
    with tls_conn(srv, ctx) as c:
        assert ask(c, "GET", "/hello").status == 200
        session = c.sock.session
    with tls_conn(srv, ctx, session=session) as c:
        assert ask(c, "GET", "/hello").status == 200 and c.sock.session_reused
    with RawConn(sock=socket.create_connection(("127.0.0.1", srv.port), t(5))) as c:
        c.try_send(b"\x16\x03\x01\x00\x05hello" + b"\xff" * 300)
        c.read_until_close(t(10))
    for k, n in ((hs % "ok", 3), (hs % "failed", 1), (ver % "1.2", 2), (ver % "1.3", 1),
                 ("wsgate_tls_resumed_total", 1)):
        want[k] += n
    wait_for(lambda: tls_metrics(srv) == want, t(10), what="the handshake counters")
    j = json.loads(http_get_stats(srv, "/stats"))["tls"]
    assert j == {"handshakes": {"ok": want[hs % "ok"], "failed": want[hs % "failed"],
                                "timeout": want[hs % "timeout"]},
                 "resumed": want["wsgate_tls_resumed_total"],
                 "versions": {"1.2": want[ver % "1.2"], "1.3": want[ver % "1.3"]}}, j


def http_get_stats(srv, path):
    c = http.client.HTTPConnection("127.0.0.1", srv.stats_port, timeout=t(5))
    try:
        c.request("GET", path)
        r = c.getresponse()
        assert r.status == 200
        return r.read().decode()
    finally:
        c.close()


# ---- mutual TLS (T07) ------------------------------------------------------------------

ALICE_S_DN = r"CN=alice\, the client,O=wsgate tests,C=FR"  # RFC 2253, as mod_ssl prints it
ALICE_I_DN = "CN=wsgate test client CA,O=wsgate tests"
CLIENT_VARS = ("SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN", "SSL_CLIENT_CERT")
# Why the foreign certificate fails (OpenSSL's words): the client sends it with the root
# that signed it, which the server does not trust (or alone).
FOREIGN_WHY = ("(self-signed certificate in certificate chain"
               "|unable to get local issuer certificate)")


def pem_of(path):
    with open(path) as f:
        return f.read()


def assert_alice(env, pki, verdict="SUCCESS"):
    assert env["SSL_CLIENT_VERIFY"] == verdict
    assert env["SSL_CLIENT_S_DN"] == ALICE_S_DN
    assert env["SSL_CLIENT_I_DN"] == ALICE_I_DN
    assert env["SSL_CLIENT_CERT"] == pem_of(pki.alice[0])


@pytest.fixture(scope="module")
def tuned(wsgate_module, pki):
    """The other server of the module: --verify-client optional, and two TLS 1.2
    ciphers of its own (ECDSA, as its certificate)."""
    return wsgate_module("it_tls", "--ca-certs", pki.client_ca, "--verify-client", "optional",
                         "--tls-ciphers", TUNED_CIPHERS, tls=(pki.ec_chain, pki.ec_key))


TUNED_CIPHERS = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384"


def test_verify_client_optional(tuned, pki, srv):
    """optional: every client gets through; the app reads the verdict. Without a
    certificate NONE (and no SSL_CLIENT_S_DN...), with alice's SUCCESS, with one the
    CA did not sign FAILED:reason (mod_ssl's words) with its names. A server without
    --verify-client says NONE."""
    s = tuned
    with tls_conn(s, pki.client_context()) as c:
        env = environ_of(c)
    assert env["SSL_CLIENT_VERIFY"] == "NONE"
    assert not any(k in env for k in CLIENT_VARS), env
    with tls_conn(s, pki.client_context(cert=pki.alice, maximum_version=TLS12)) as c:
        assert_alice(environ_of(c), pki)
    with tls_conn(s, pki.client_context(cert=pki.foreign)) as c:
        env = environ_of(c)
    assert re.fullmatch("FAILED:" + FOREIGN_WHY, env["SSL_CLIENT_VERIFY"]), env
    assert env["SSL_CLIENT_S_DN"] == "CN=mallory"
    assert env["SSL_CLIENT_I_DN"] == "CN=wsgate test root"
    assert env["SSL_CLIENT_CERT"] == pem_of(pki.foreign[0])
    # --verify-client none (the module's other server): the certificate is not asked for.
    with tls_conn(srv, pki.client_context(cert=pki.alice)) as c:
        env = environ_of(c)
    assert env["SSL_CLIENT_VERIFY"] == "NONE"
    assert not any(k in env for k in CLIENT_VARS), env


def refused(s, ctx):
    """The handshake fails (TLS 1.3: the client learns it at its first read)."""
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with tls_conn(s, ctx) as c:
            ask(c, "GET", "/hello")


def test_verify_client_require(wsgate, pki):
    """T07, require: alice gets through (and her session resumes with the verdict and
    names); no certificate, or one the CA did not sign, fails the handshake with TLS
    1.3 and 1.2, logged at info with the reason, no thread taken, and the server goes
    on."""
    s = wsgate("it_tls", "--ca-certs", pki.client_ca, "--verify-client", "require",
               "--threads", "2", tls=(pki.ec_chain, pki.ec_key))
    for version in (TLS13, TLS12):
        ctx = pki.client_context(cert=pki.alice, maximum_version=version)
        with tls_conn(s, ctx) as c:
            assert_alice(environ_of(c), pki)
            session = c.sock.session
        with tls_conn(s, ctx, session=session) as c:
            env = environ_of(c)
            assert c.sock.session_reused
        assert env["SSL_SESSION_RESUMED"] == "Resumed"
        assert_alice(env, pki)
    threads = process_status(s.pid)[1]
    for version in (TLS13, TLS12):
        refused(s, pki.client_context(maximum_version=version))
        wait_log(s, r"\[info\] [^\n]*TLS handshake failed: peer did not return a "
                 r"certificate", count=1 if version == TLS13 else 2)
        refused(s, pki.client_context(cert=pki.foreign, maximum_version=version))
        wait_log(s, r"\[info\] [^\n]*TLS handshake failed: certificate verify failed "
                 r"\(client certificate: %s\)" % FOREIGN_WHY, count=1 if version == TLS13 else 2)
    assert process_status(s.pid)[1] == threads
    assert set(handshake_log_levels(s)) == {"info"}, logs(s)
    with tls_conn(s, pki.client_context(cert=pki.alice)) as c:
        assert ask(c, "GET", "/hello").body == b"hello\n"


# ---- --tls-ciphers, --tls-min-version ----------------------------------------------------

def test_tls_ciphers(tuned, pki):
    """--tls-ciphers replaces the TLS 1.2 list: a client gets one of them, a client
    offering only others is refused (no shared cipher); TLS 1.3 is not affected."""
    ctx = pki.client_context(maximum_version=TLS12)
    with tls_conn(tuned, ctx) as c:
        assert c.sock.cipher()[0] in TUNED_CIPHERS.split(":")
        assert ask(c, "GET", "/hello").status == 200
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")  # in the default list, not in this one
    refused(tuned, ctx)
    wait_log(tuned, r"\[info\] [^\n]*TLS handshake failed: no shared cipher")
    with tls_conn(tuned, pki.client_context()) as c:
        assert c.sock.version() == "TLSv1.3"


def test_tls_ciphersuites(wsgate, pki):
    """--tls-ciphersuites replaces the TLS 1.3 suites: a client offering one of them
    gets it, a client offering only others is refused (no shared cipher, logged at
    info); TLS 1.2 keeps its own list."""
    s = wsgate("it_tls", "--tls-ciphersuites",
               "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384", tls=(pki.ec_chain, pki.ec_key))
    with tls_conn(s, pki.client_context()) as c:
        assert c.sock.version() == "TLSv1.3"
        assert c.sock.cipher()[0] in ("TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384")
        assert ask(c, "GET", "/hello").body == b"hello\n"
    common = ["-tls1_3", "-CAfile", pki.ca, "-servername", "localhost"]
    rc, out = s_client(s, *common, "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256")
    assert rc == 0 and "TLS_CHACHA20_POLY1305_SHA256" in out, out
    rc, out = s_client(s, *common, "-ciphersuites", "TLS_AES_128_GCM_SHA256")
    assert rc != 0 and "Cipher is (NONE)" in out, out
    wait_log(s, r"\[info\] [^\n]*TLS handshake failed: no shared cipher")
    with tls_conn(s, pki.client_context(maximum_version=TLS12)) as c:
        assert c.sock.version() == "TLSv1.2"
        assert ask(c, "GET", "/hello").status == 200


def test_tls_min_version_13(wsgate, pki):
    """--tls-min-version 1.3: a client that speaks TLS 1.2 at most is refused (the
    server logs why at info), TLS 1.3 is served."""
    s = wsgate("it_tls", "--tls-min-version", "1.3", tls=(pki.ec_chain, pki.ec_key))
    refused(s, pki.client_context(maximum_version=TLS12))
    wait_log(s, r"\[info\] [^\n]*TLS handshake failed: unsupported protocol")
    rc, out = s_client(s, "-tls1_2", "-CAfile", pki.ca, "-servername", "localhost")
    assert rc != 0 and "Cipher is (NONE)" in out, out
    with tls_conn(s, pki.client_context()) as c:
        assert c.sock.version() == "TLSv1.3"
        assert environ_of(c)["SSL_PROTOCOL"] == "TLSv1.3"


# ---- refusals (docs/hostile-inputs.md T01, T04, T05) ------------------------------------

def test_old_versions_and_weak_ciphers_refused(srv, pki):
    """T04: TLS 1.0 and 1.1 (the client allows them at security level 0) and TLS 1.2
    with only weak ciphers are refused by the server, which logs why at info."""
    for args, why in ((["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"], "unsupported protocol"),
                      (["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], "unsupported protocol"),
                      (["-tls1_2", "-cipher", "AES128-SHA:DES-CBC3-SHA:RC4-SHA@SECLEVEL=0"],
                       "no shared cipher")):
        rc, out = s_client(srv, *args)
        assert rc != 0 and "Cipher is (NONE)" in out, out
        wait_log(srv, r"\[info\] [^\n]*TLS handshake failed: " + why)
    still_serves(srv, pki)


@pytest.mark.skipif(shutil.which("sslscan") is None,
                    reason="sslscan is not installed (scripts/install-deps installs it)")
def test_sslscan_finds_no_old_protocol_or_weak_cipher(srv, pki):
    """T04 as a scanner sees it: sslscan tries every protocol version and every cipher
    suite its OpenSSL knows, one handshake each. Only TLS 1.2 and 1.3 are enabled, and
    every suite accepted is 128 bits or more with forward secrecy, none of RC4, 3DES,
    DES, NULL, EXPORT, anonymous or MD5; DHE groups of 2048 bits or more; no
    renegotiation."""
    p = subprocess.run(["sslscan", "--no-colour", "--xml=-", "127.0.0.1:%d" % srv.port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(120))
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    test = ElementTree.fromstring(p.stdout).find("ssltest")
    assert test is not None, p.stdout.decode("utf-8", "replace")
    enabled = {"%s%s" % (e.get("type"), e.get("version")): e.get("enabled")
               for e in test.iter("protocol")}
    assert enabled == {"ssl2": "0", "ssl3": "0", "tls1.0": "0", "tls1.1": "0",
                       "tls1.2": "1", "tls1.3": "1"}, enabled
    assert test.find("renegotiation").get("supported") == "0"
    ciphers = list(test.iter("cipher"))
    assert {c.get("sslversion") for c in ciphers} == {"TLSv1.2", "TLSv1.3"}, \
        [c.attrib for c in ciphers]
    for c in ciphers:
        name = c.get("cipher")
        assert int(c.get("bits")) >= 128, c.attrib
        assert c.get("strength") in ("strong", "acceptable"), c.attrib
        assert not re.search(r"RC4|DES|NULL|EXP|ADH|AECDH|anon|MD5", name), c.attrib
        assert c.get("sslversion") == "TLSv1.3" or name.startswith(("ECDHE-", "DHE-")), \
            c.attrib
        assert int(c.get("dhebits", "2048")) >= 2048, c.attrib
    still_serves(srv, pki)


def test_renegotiation_refused(srv, pki):
    """T05: a TLS 1.2 client asks to renegotiate ("R" to s_client): refused."""
    rc, out = s_client(srv, "-tls1_2", "-CAfile", pki.ca, "-servername", "localhost",
                       stdin=b"R\n")
    assert "RENEGOTIATING" in out and "no renegotiation" in out, out
    still_serves(srv, pki)


def test_plain_http_and_garbage_are_closed(srv, pki):
    """T01: plain HTTP to the TLS port, and bytes that are no ClientHello: closed at
    once (long before --read-timeout), no answer, nothing logged above info."""
    for data in (req("GET", "/hello"), b"\x16\x03\x01\x00\x05hello" + b"\xff" * 300,
                 b"\x00" * 64, os.urandom(1000)):
        with RawConn(sock=socket.create_connection(("127.0.0.1", srv.port), t(5))) as c:
            c.try_send(data)
            start = time.monotonic()
            got = c.read_until_close(t(10))
        assert b"HTTP/" not in got and time.monotonic() - start < t(5)
    wait_log(srv, r"TLS handshake failed: http request")
    assert set(handshake_log_levels(srv)) <= {"info", "debug"}, logs(srv)
    still_serves(srv, pki)


# ---- stalls and aborts (T02, T03, T06) ---------------------------------------------------

@pytest.mark.slow
def test_truncated_handshake_closed_at_the_read_timeout(wsgate, pki):
    """T02: part of a ClientHello, then silence: closed at --read-timeout, logged at
    info."""
    s = wsgate("it_tls", "--read-timeout", "1", tls=(pki.ec_chain, pki.ec_key), stats=True)
    with RawConn(sock=socket.create_connection(("127.0.0.1", s.port), t(5))) as c:
        port = c.sock.getsockname()[1]
        c.send(client_hello(40))
        start = time.monotonic()
        c.read_until_close(t(10))
        took = time.monotonic() - start
    assert 0.8 < took < t(4), took
    # the line names the client by address and port
    wait_log(s, r"\[info\] [^\n]*: 127\.0\.0\.1:%d: TLS handshake not complete within 1\.0s"
             % port)
    # counted as timed out, not failed
    timeout = 'wsgate_tls_handshakes_total{result="timeout"}'
    wait_for(lambda: tls_metrics(s)[timeout] == 1, t(5), what="the timeout counted")
    assert tls_metrics(s)['wsgate_tls_handshakes_total{result="failed"}'] == 0


def process_status(pid):
    with open("/proc/%d/status" % pid) as f:
        text = f.read()
    return (int(re.search(r"VmRSS:\s+(\d+)", text).group(1)),
            int(re.search(r"Threads:\s+(\d+)", text).group(1)))


def test_stalled_handshakes_cost_no_thread(wsgate, pki):
    """T03: 500 clients that connect and send nothing, then 500 that stall in the
    middle of a ClientHello (1,000 stalled handshakes), while another client is served: no thread is taken, a
    silent one costs a few KiB (no TLS session yet), a stalled one OpenSSL's buffers
    (some 64 KiB) until --read-timeout."""
    s = wsgate("it_tls", "--threads", "2", "--read-timeout", "30",
               tls=(pki.ec_chain, pki.ec_key))
    still_serves(s, pki)
    rss, threads = process_status(s.pid)
    clients = []
    try:
        for data, most in ((b"", 16 * 1024), (client_hello(100), 96 * 1024)):
            batch = [socket.create_connection(("127.0.0.1", s.port), t(5)) for _ in range(500)]
            clients += batch
            for c in batch:
                c.sendall(data)
            wait_read_all(batch)
            for _ in range(3):
                still_serves(s, pki)
            rss1, threads1 = process_status(s.pid)
            assert threads1 == threads
            per_client = (rss1 - rss) * 1024 / 500
            assert per_client < most * MEMORY_SCALE, \
                "%d bytes per client sending %d" % (per_client, len(data))
            rss = rss1
    finally:
        for c in clients:
            c.close()


def tls_client_object(srv, pki):
    """A TLS client over ssl.MemoryBIO on a raw socket, handshake done: the test decides
    which encrypted bytes reach the server. (socket, SSLObject, outgoing BIO)."""
    sock = socket.create_connection(("127.0.0.1", srv.port), t(5))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = pki.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            assert data, "the server closed during the handshake"
            incoming.write(data)
    sock.sendall(outgoing.read())
    return sock, obj, outgoing


def test_client_closes_mid_record(srv, pki, tmp_path):
    """T06: the request body stops in the middle of a TLS record and the client goes:
    the app's read fails (a client abort), and nothing else is affected. The same in
    the middle of the head: no request at all."""
    report, started = tmp_path / "report", tmp_path / "started"
    sock, obj, out = tls_client_object(srv, pki)
    obj.write(req("POST", "/echo?report=%s&started=%s" % (report, started),
                  [("Content-Length", "2000000")]))  # past --body-buffer
    sock.sendall(out.read())
    wait_mark(str(started))
    obj.write(os.urandom(16000))
    record = out.read()
    sock.sendall(record[:len(record) // 2])
    sock.close()
    wait_mark(str(report))
    assert "error" in json.loads(report.read_text()), report.read_text()
    sock, obj, out = tls_client_object(srv, pki)
    obj.write(req("GET", "/hello?cut-head"))
    record = out.read()
    sock.sendall(record[:len(record) - 3])
    sock.close()
    still_serves(srv, pki)
    assert "cut-head" not in srv.access_text()


@pytest.mark.slow
def test_watchdog_504_while_the_worker_reads(wsgate, pki, tmp_path):
    """--timeout: the 504 goes out through TLS while the worker waits for the body on
    the same session (the transport's lock keeps the two apart)."""
    s = wsgate("it_timeout", "--timeout", "1", "--body-buffer", "65536",
               tls=(pki.ec_chain, pki.ec_key))
    mark = str(tmp_path / "closed")
    with tls_conn(s, pki.client_context()) as c:
        c.send(req("POST", "/read?mark=%s" % mark, [("Content-Length", "100000")],
                   b"x" * 70000))
        r = c.read_response(timeout=t(5))
    assert r.status == 504 and r.has_token("Connection", "close"), r
    wait_mark(mark, t(5))
    with tls_conn(s, pki.client_context()) as c:
        assert ask(c, "GET", "/quick").status == 200


# ---- start-up -----------------------------------------------------------------------------

def test_startup_errors(pki, tmp_path):
    """One line, exit status 2, before Python starts (the app named does not exist:
    an import would fail differently)."""
    addr = "127.0.0.1:%d" % free_port()
    missing = str(tmp_path / "missing.pem")
    tls = ["--certfile", pki.ec_chain, "--keyfile", pki.ec_key]
    cases = [
        ([], r"--https needs --certfile"),
        (["--certfile", missing], r"--certfile %s: No such file" % re.escape(missing)),
        (["--certfile", pki.rsa_chain], r"no usable private key"),
        (["--certfile", pki.rsa_chain, "--keyfile", pki.ec_key], r"does not match"),
        (["--certfile", pki.rsa_chain, "--keyfile", pki.rsa_encrypted],
         r"no usable private key \(PEM, not encrypted\)"),
        (["--certfile", pki.rsa_pkcs8, "--keyfile", pki.rsa_pkcs8],
         r"no usable certificate chain"),
        (tls + ["--verify-client", "require"], r"--verify-client require needs --ca-certs"),
        (tls + ["--verify-client", "optional"], r"--verify-client optional needs --ca-certs"),
        (tls + ["--ca-certs", pki.client_ca],
         r"--ca-certs needs --verify-client optional or require"),
        (tls + ["--verify-client", "require", "--ca-certs", missing],
         r"--ca-certs %s: No such file" % re.escape(missing)),
        (tls + ["--verify-client", "require", "--ca-certs", pki.ec_key],
         r"--ca-certs %s: no usable CA certificate" % re.escape(pki.ec_key)),
        (tls + ["--verify-client", "sometimes"],
         r"invalid value 'sometimes' for --verify-client: use none, optional or require"),
        (tls + ["--tls-min-version", "1.1"],
         r"invalid value '1\.1' for --tls-min-version: use 1\.2 or 1\.3"),
        (tls + ["--tls-min-version", "TLSv1.3"], r"invalid value 'TLSv1\.3'"),
        (tls + ["--tls-ciphers", "NOPE:RC5"], r"--tls-ciphers NOPE:RC5: no cipher match"),
        (tls + ["--tls-ciphersuites", "NOPE"],
         r"--tls-ciphersuites NOPE: not a colon-separated list of TLS 1\.3 suites"),
        # OpenSSL itself would skip the unknown name, or take a TLS 1.2 cipher's name
        # as no suite at all: both are typos here
        (tls + ["--tls-ciphersuites", "TLS_AES_256_GCM_SHA384:TLS_AES_256_GCM_SHA385"],
         r"--tls-ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_256_GCM_SHA385: not a"),
        (tls + ["--tls-ciphersuites", "ECDHE-RSA-AES128-GCM-SHA256"], r": not a colon-sep"),
        (tls + ["--tls-ciphersuites", "TLS_AES_256_GCM_SHA384:"], r": not a colon-sep"),
    ]
    for extra, message in cases:
        p = run_cli("--https", addr, *extra, "no_such_module_anywhere")
        err = p.stderr.decode()
        assert p.returncode == 2, (extra, err)
        assert re.match(r"wsgate: [^\n]*%s[^\n]*\n\Z" % message, err), (extra, err)
    for extra in (["--certfile", pki.rsa_chain], ["--verify-client", "require"],
                  ["--tls-min-version", "1.3"], ["--tls-ciphers", TUNED_CIPHERS],
                  ["--tls-ciphersuites", "TLS_AES_256_GCM_SHA384"]):
        p = run_cli("--http", addr, *extra, "no_such_module_anywhere")
        assert p.returncode == 2 and "there is none" in p.stderr.decode(), p.stderr
    p = run_cli("--https", addr, "--certfile", pki.rsa_chain, "--keyfile", pki.ec_key,
                "--check", "it_probe")
    assert p.returncode == 2 and "does not match" in p.stderr.decode(), p.stderr


def test_help_lists_the_options():
    out = run_cli("--help").stdout.decode()
    for opt in ("--https ADDR", "--certfile PATH", "--keyfile PATH", "--ca-certs PATH",
                "--verify-client none|optional|require", "--tls-min-version 1.2|1.3",
                "--tls-ciphers LIST", "--tls-ciphersuites LIST"):
        assert opt in out, out
