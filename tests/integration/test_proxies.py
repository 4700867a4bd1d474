"""Behind a balancer or a proxy (docs/proxies.md): the PROXY protocol on the --http
and --https listeners (--proxy-protocol, --proxy-allow-from) behind a real HAProxy
(send-proxy, send-proxy-v2, send-proxy-v2-ssl, and send-proxy-v2 before TLS), the
hostile rows P01-P05 of docs/hostile-inputs.md over raw sockets, and the trusted
forwarded fields (--forwarded-allow-ips, --forwarded-for, --forwarded-host) behind
a TLS-terminating nginx proxy_pass, with Django's is_secure() and
build_absolute_uri(), and spoofed from untrusted peers.

Two wsgate servers: `auto` (it_probe; --http with --h2c, and --https on its own
port; --proxy-protocol auto from 127.0.0.1 only, --forwarded-for and --forwarded-host, loopback
trusted for forwarded fields) and `strict` (it_probe; --proxy-protocol v2 required;
only 192.0.2.0/24 trusted for forwarded fields; a second --http listener with
--proxy-protocol-at ADDR=off from WSGATE_ARGS). Untrusted peers connect from
127.0.0.2. One more, with two workers, has a --proxy-protocol-at listener behind
HAProxy and a plain one, across a reload.
"""
import json
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import free_port, run_cli
from frontends import Backend, ProxyingHaproxy, ProxyPassNginx
from wsgate_util import (NoResponse, Pki, RawConn, children, req, t, wait_access, wait_for,
                         wait_log, wait_read)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(src, dst, sport, dport, tlvs=b"", cmd=0x21, fam=0x11):
    a = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    body = a + tlvs
    return V2_SIG + bytes([cmd, fam]) + struct.pack("!H", len(body)) + body


def tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def auto(wsgate_module, pki):
    plain = free_port()
    s = wsgate_module("it_probe", "--http", "127.0.0.1:%d" % plain, "--proxy-protocol", "auto",
                      "--proxy-allow-from", "127.0.0.1", "--forwarded-for",
                      "--forwarded-host", "--read-timeout", "2", "--h2c",
                      tls=(pki.ec_chain, pki.ec_key))
    s.plain_port = plain
    return s


@pytest.fixture(scope="module")
def strict(wsgate_module):
    direct = free_port()
    s = wsgate_module("it_probe", "--proxy-protocol", "v2", "--forwarded-allow-ips",
                      "192.0.2.0/24", "--forwarded-for", "--http", "127.0.0.1:%d" % direct,
                      env={"WSGATE_ARGS": "--proxy-protocol-at 127.0.0.1:%d=off" % direct})
    s.direct_port = direct
    return s


def connect(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(t(10))
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def probe(port, data, source="127.0.0.1"):
    """Sends data (a preface and a request) on a fresh connection: the environ the
    app saw."""
    c = RawConn(sock=connect(port, source))
    try:
        c.send(data)
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200, r
    return json.loads(r.body)["environ"]


def refused(port, data, source="127.0.0.1", timeout=None):
    """Sends data: the server closes without an answer (and without calling the app)."""
    c = RawConn(sock=connect(port, source))
    try:
        c.try_send(data)
        try:
            got = c.read_until_close(t(10) if timeout is None else timeout)
        except NoResponse:
            pytest.fail("the connection was left open")
        assert got == b"", got[:200]
    finally:
        c.close()


GET = req("GET", "/p?x=1", host="app.example")


# ------------------------------------------------------------- PROXY, raw

def test_proxy_headers_give_the_client(auto):
    e = probe(auto.plain_port, b"PROXY TCP4 198.51.100.7 203.0.113.1 40000 8443\r\n" + GET)
    assert (e["REMOTE_ADDR"], e["REMOTE_PORT"]) == ("198.51.100.7", "40000")
    assert (e["SERVER_ADDR"], e["SERVER_PORT"]) == ("203.0.113.1", "8443")
    assert e["wsgi.url_scheme"] == "http" and "HTTPS" not in e
    e = probe(auto.plain_port, b"PROXY TCP6 2001:db8::7 2001:db8::1 40001 80\r\n" + GET)
    assert (e["REMOTE_ADDR"], e["REMOTE_PORT"], e["SERVER_PORT"]) == ("2001:db8::7", "40001", "80")
    # v2 with the SSL TLV's client bit (and a sub-TLV): the balancer terminated TLS
    ssl_tlv = tlv(0x20, b"\x01\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3"))
    e = probe(auto.plain_port, v2("198.51.100.8", "203.0.113.1", 40002, 443, ssl_tlv) + GET)
    assert (e["REMOTE_ADDR"], e["REMOTE_PORT"]) == ("198.51.100.8", "40002")
    assert e["wsgi.url_scheme"] == "https" and e["HTTPS"] == "on"
    # LOCAL (a balancer's health check) and UNKNOWN keep the socket's addresses
    for pre in (V2_SIG + b"\x20\x00\x00\x00", b"PROXY UNKNOWN\r\n"):
        e = probe(auto.plain_port, pre + GET)
        assert e["REMOTE_ADDR"] == "127.0.0.1" and "SERVER_ADDR" not in e
    # auto: no header at all is served as before
    e = probe(auto.plain_port, GET)
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    # the access log names the client, not the balancer
    wait_access(auto, "198.51.100.7")


def test_proxy_header_before_tls(auto, pki):
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.check_hostname = False
    raw = connect(auto.port)
    raw.sendall(b"PROXY TCP4 198.51.100.9 203.0.113.1 40003 443\r\n")
    c = RawConn(sock=ctx.wrap_socket(raw))
    try:
        c.send(GET)
        r = c.read_response()
    finally:
        c.close()
    e = json.loads(r.body)["environ"]
    assert e["REMOTE_ADDR"] == "198.51.100.9" and e["wsgi.url_scheme"] == "https"


def test_p01_untrusted_peer(auto):
    """P01: a header from a peer outside --proxy-allow-from closes the connection, one
    info line says why; the same peer without a header is served (auto)."""
    refused(auto.plain_port, b"PROXY TCP4 198.51.100.7 203.0.113.1 1 2\r\n" + GET,
            source="127.0.0.2")
    refused(auto.plain_port, v2("198.51.100.7", "203.0.113.1", 1, 2) + GET, source="127.0.0.2")
    wait_log(auto, "not in --proxy-allow-from")
    e = probe(auto.plain_port, GET, source="127.0.0.2")
    assert e["REMOTE_ADDR"] == "127.0.0.2"


@pytest.mark.parametrize("data", [
    b"PROXY TCP4 198.51.100.7 203.0.113.1 65iii 100000\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    b"PROXY " + b"A" * 200,
    v2("1.2.3.4", "5.6.7.8", 1, 2, tlv(0x04, b"xx")[:3] + b"\x00"),  # TLV past the end
    V2_SIG + b"\x21\x11\x00\x04\x01\x02\x03\x04",  # shorter than its address block
    V2_SIG + b"\x21\x11\xff\xff" + b"\x00" * 64,  # oversized
    V2_SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12,  # version 3
    # P06: HAProxy's send-proxy-v2 with proxy-v2-options crc32c, one address bit flipped
    V2_SIG + bytes.fromhex("211100137e0000017f00000198b0d2e303000458939f6c"),
    v2("1.2.3.4", "5.6.7.8", 1, 2, tlv(0x03, b"\x00\x00\x00")),  # a 3-byte CRC32C TLV
], ids=["v1-ports", "v1-lf", "v1-long", "v2-tlv", "v2-block", "v2-oversized", "v2-version",
        "v2-crc32c-mismatch", "v2-crc32c-length"])
def test_p02_malformed(auto, data):
    refused(auto.plain_port, data + GET)


def test_p02_slow_header_times_out(auto):
    """A header that never completes is closed at --read-timeout (2 s), and a header
    sent a byte at a time completes."""
    c = RawConn(sock=connect(auto.plain_port))
    try:
        c.send(V2_SIG[:7])
        started = time.monotonic()
        got = c.read_until_close(t(10))
        assert got == b"" and time.monotonic() - started < t(8)
    finally:
        c.close()
    wait_log(auto, "PROXY header not complete within")
    c = RawConn(sock=connect(auto.plain_port))
    try:
        c.send_pieces(b"PROXY TCP4 198.51.100.5 203.0.113.1 1 2\r\n", size=3)
        c.send(GET)
        r = c.read_response()
    finally:
        c.close()
    assert json.loads(r.body)["environ"]["REMOTE_ADDR"] == "198.51.100.5"


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2"], ids=["trusted", "untrusted"])
def test_auto_request_that_starts_like_a_header(auto, source):
    """With auto, a request whose first bytes could still become a header (the "P" of
    PUT, read alone) is served, from a trusted peer (the byte taken while undecided
    goes to the HTTP parser) and from an untrusted one (not refused before its bytes
    are a header's signature)."""
    c = RawConn(sock=connect(auto.plain_port, source))
    try:
        c.send(b"P")
        wait_read(c.sock)
        c.send(b"UT /p HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200, r
    e = json.loads(r.body)["environ"]
    assert e["REQUEST_METHOD"] == "PUT" and e["REMOTE_ADDR"] == source


def test_p03_required_header(strict):
    """P03: --proxy-protocol v2 closes a connection without one (and a v1 one)."""
    refused(strict.port, GET)
    refused(strict.port, b"PROXY TCP4 198.51.100.7 203.0.113.1 1 2\r\n" + GET)
    e = probe(strict.port, v2("198.51.100.7", "203.0.113.1", 1, 2) + GET)
    assert e["REMOTE_ADDR"] == "198.51.100.7"


# ------------------------------------------------------- PROXY, per listener

def test_per_listener_off_overrides_the_global_setting(strict):
    """--proxy-protocol-at ADDR=off (from WSGATE_ARGS): that listener reads no header
    and serves direct clients, while the process's other listener still requires one."""
    c = RawConn(sock=connect(strict.direct_port))
    try:
        c.send(GET)
        r = c.read_response()
        assert r.status == 200, r
        e = json.loads(r.body)["environ"]
        assert (e["REMOTE_ADDR"], e["REMOTE_PORT"]) == ("127.0.0.1", str(c.sock.getsockname()[1]))
    finally:
        c.close()
    # a header there is no header: the HTTP parser sees its bytes and refuses them
    c = RawConn(sock=connect(strict.direct_port))
    try:
        c.send(b"PROXY TCP4 198.51.100.7 203.0.113.1 1 2\r\n" + GET)
        assert c.read_response().status == 400
    finally:
        c.close()
    refused(strict.port, GET)


@pytest.mark.parametrize("args,expected", [
    (["--http", "127.0.0.1:1", "--proxy-protocol-at", "127.0.0.1:2=v2"],
     "--proxy-protocol-at 127.0.0.1:2: no --http or --https listener has that ADDR"),
    (["--fastcgi", "127.0.0.1:1", "--proxy-protocol-at", "127.0.0.1:1=v2"],
     "--proxy-protocol-at 127.0.0.1:1: that is a --fastcgi listener"),
    (["--http", "127.0.0.1:1", "--proxy-protocol-at", "127.0.0.1:1"],
     "invalid value '127.0.0.1:1' for --proxy-protocol-at: expected ADDR=MODE"),
    (["--http", "unix:/x=v2", "--proxy-protocol-at", "unix:/x=v2=v3"],
     "invalid value 'unix:/x=v2=v3' for --proxy-protocol-at: MODE after the last '=': use "
     "off, v1, v2 or auto"),
], ids=["no-such-listener", "fastcgi", "no-mode", "bad-mode"])
def test_per_listener_refused_settings(args, expected):
    """A --proxy-protocol-at that names no --http/--https listener, or has no valid MODE
    after its last '=', is one line and exit status 2 before anything is opened."""
    out = run_cli(*args, "it_probe")
    assert out.returncode == 2, out
    assert out.stderr.decode().startswith("wsgate: " + expected), out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2], ids=["single", "prefork"])
def test_per_listener_behind_haproxy_prefork_and_reload(wsgate, pki, tmp_path, workers):
    """Two --http listeners of one server (one process, or two workers): the one that
    proxy-protocol-at (here from the --config file) sets to v2 behind HAProxy
    send-proxy-v2, the other for direct clients (a health check, a local client).
    REMOTE_ADDR and REMOTE_PORT are the client's on both, and a direct client on the
    first is closed. The same after SIGHUP: the re-executed image (and a single
    process's bridge) reads the file again and gives the sockets it takes over their
    setting by their ADDR."""
    import http.client
    behind = free_port()
    ini = tmp_path / "site.ini"
    ini.write_text("proxy-protocol-at = 127.0.0.1:%d=v2\n" % behind)
    s = wsgate("it_probe", "-w", str(workers), "-c", str(ini), "--http",
               "127.0.0.1:%d" % behind)
    n = workers if workers > 1 else 0
    wait_for(lambda: len(children(s.pid)) == n, t(10), what="the workers")
    hp = ProxyingHaproxy(behind, free_port(), pki.ec_combined).start()

    def check():
        conn = http.client.HTTPConnection("127.0.0.1", hp.port, timeout=t(10))
        conn.connect()
        client_port = conn.sock.getsockname()[1]
        conn.request("GET", "/v2/x")
        r = conn.getresponse()
        body = r.read()
        conn.close()
        assert r.status == 200, (r.status, body[:300], hp.logs())
        e = json.loads(body)["environ"]
        assert (e["REMOTE_ADDR"], e["REMOTE_PORT"]) == ("127.0.0.1", str(client_port)), e
        assert e["SERVER_PORT"] == str(hp.port), e
        c = RawConn(sock=connect(s.port))
        try:
            c.send(GET)
            r = c.read_response()
            assert r.status == 200, r
            e = json.loads(r.body)["environ"]
            assert e["REMOTE_PORT"] == str(c.sock.getsockname()[1]), e
            assert "SERVER_ADDR" not in e and e["SERVER_PORT"] == str(s.port), e
        finally:
            c.close()
        refused(behind, GET)

    try:
        check()
        old = set(children(s.pid))
        s.signal(signal.SIGHUP)
        if workers == 1:
            wait_log(s, r"reload complete")
            wait_for(lambda: children(s.pid) == [], t(15), what="the bridge to exit")
        else:
            wait_for(lambda: len(children(s.pid)) == n and not set(children(s.pid)) & old,
                     t(20), what="new workers only")
        check()
    finally:
        hp.stop()


# ------------------------------------------------------------ forwarded fields

SPOOF = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on"),
         ("Forwarded", "for=192.0.2.66;proto=https"), ("X-Forwarded-For", "192.0.2.66"),
         ("X-Forwarded-Host", "evil.example")]


def test_p04_untrusted_peer_changes_nothing(auto, strict):
    """P04: from a peer that is not trusted the fields are plain HTTP_* data and change
    nothing. The peer judged is the address the PROXY header gives: a client behind
    a TCP balancer cannot make itself https or another address by sending them
    (test_django_behind_nginx_proxy_pass has a direct untrusted client)."""
    e = probe(strict.port, v2("203.0.113.50", "203.0.113.1", 1, 80) + req(
        "GET", "/p", headers=SPOOF, host="app.example"))
    assert e["wsgi.url_scheme"] == "http" and "HTTPS" not in e
    assert e["REMOTE_ADDR"] == "203.0.113.50" and e["HTTP_HOST"] == "app.example"
    assert e["HTTP_X_FORWARDED_PROTO"] == "https" and e["HTTP_X_FORWARDED_FOR"] == "192.0.2.66"
    e = probe(auto.plain_port, b"PROXY TCP4 198.51.100.7 203.0.113.1 1 2\r\n" + req(
        "GET", "/p", headers=SPOOF, host="app.example"))
    assert e["wsgi.url_scheme"] == "http" and e["REMOTE_ADDR"] == "198.51.100.7"
    assert e["HTTP_HOST"] == "app.example" and e["SERVER_NAME"] == "app.example"


def test_p05_rightmost_untrusted(strict):
    """P05: a trusted proxy's X-Forwarded-For with several hops: the rightmost address
    that is not trusted."""
    hdr = v2("192.0.2.5", "203.0.113.1", 1, 80)
    e = probe(strict.port, hdr + req("GET", "/p", headers=[
        ("X-Forwarded-For", "10.6.6.6, 198.51.100.20"), ("X-Forwarded-For", "192.0.2.9"),
        ("X-Forwarded-Proto", "https")], host="app.example"))
    assert (e["REMOTE_ADDR"], e["REMOTE_PORT"]) == ("198.51.100.20", "")
    assert e["wsgi.url_scheme"] == "https" and e["HTTPS"] == "on"


def test_trusted_direct_proxy(auto):
    e = probe(auto.plain_port, req("GET", "/p", headers=[
        ("X-Forwarded-For", "198.51.100.30"), ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "shop.example:8443")], host="10.0.0.1:8000"))
    assert e["REMOTE_ADDR"] == "198.51.100.30" and e["wsgi.url_scheme"] == "https"
    assert (e["HTTP_HOST"], e["SERVER_NAME"], e["SERVER_PORT"]) == \
        ("shop.example:8443", "shop.example", "8443")


def test_h2c_after_a_proxy_header(auto):
    """HTTP/2 (h2c, prior knowledge) after a PROXY v1 header (curl --haproxy-protocol):
    the trusted fields count over h2 as well."""
    out = subprocess.run(
        ["curl", "-sS", "--http2-prior-knowledge", "--haproxy-protocol", "-w", "\n%{http_version}",
         "-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-For: 198.51.100.40",
         "http://127.0.0.1:%d/p" % auto.plain_port],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(20))
    assert out.returncode == 0, out.stderr
    body, version = out.stdout.rsplit(b"\n", 1)
    assert version == b"2", out.stdout
    e = json.loads(body)["environ"]
    assert e["SERVER_PROTOCOL"] == "HTTP/2"
    assert e["REMOTE_ADDR"] == "198.51.100.40" and e["wsgi.url_scheme"] == "https"
    assert e["HTTPS"] == "on"


# --------------------------------------------------------- real front servers

def test_behind_haproxy(auto, pki):
    hp = ProxyingHaproxy(auto.plain_port, auto.port, pki.ec_combined).start()
    try:
        import http.client
        for path, tls, scheme in (("/v1/", False, "http"), ("/v2/", False, "http"),
                                  ("/v2ssl/", True, "https"), ("/v2ssl/", False, "http"),
                                  ("/crc/", False, "http"), ("/tls/", False, "https")):
            if tls:
                ctx = ssl.create_default_context(cafile=pki.ca)
                ctx.check_hostname = False
                conn = http.client.HTTPSConnection("127.0.0.1", hp.tls_port, context=ctx,
                                                   timeout=t(10))
            else:
                conn = http.client.HTTPConnection("127.0.0.1", hp.port, timeout=t(10))
            conn.connect()
            client_port = conn.sock.getsockname()[1]
            conn.request("GET", path + "x")
            r = conn.getresponse()
            body = r.read()
            conn.close()
            assert r.status == 200, (path, r.status, body[:300], hp.logs())
            e = json.loads(body)["environ"]
            # the client's own port, not HAProxy's outgoing one; HAProxy's bind port
            assert e["REMOTE_ADDR"] == "127.0.0.1", (path, e)
            assert e["REMOTE_PORT"] == str(client_port), (path, e)
            assert e["SERVER_PORT"] == str(hp.tls_port if tls else hp.port), (path, e)
            assert e["wsgi.url_scheme"] == scheme, (path, tls, e)
    finally:
        hp.stop()


def test_django_behind_nginx_proxy_pass(wsgate, pki):
    """Django sees https behind a TLS-terminating nginx (X-Forwarded-Proto $scheme), from
    the default --forwarded-allow-ips (loopback); a direct client that sends the same
    fields to a wsgate that does not trust it stays http."""
    import requests
    s = wsgate("it_django", "--forwarded-for")
    ng = ProxyPassNginx(Backend("tcp", "127.0.0.1", s.port), pki.ec_chain, pki.ec_key).start()
    try:
        d = requests.get(ng.url("/secure/"), verify=pki.ca, timeout=t(10)).json()
        assert d["is_secure"] is True and d["scheme"] == "https", d
        assert d["absolute"] == "https://127.0.0.1/secure/", d
        m = requests.get(ng.url("/meta/"), verify=pki.ca, timeout=t(10)).json()
        assert m["scheme"] == "https" and m["remote_addr"] == "127.0.0.1"
    finally:
        ng.stop()
    other = wsgate("it_django", "--forwarded-allow-ips", "192.0.2.1", "--forwarded-for")
    d = requests.get(other.url("/secure/"), headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"}, timeout=t(10)).json()
    assert d["is_secure"] is False and d["absolute"].startswith("http://"), d
