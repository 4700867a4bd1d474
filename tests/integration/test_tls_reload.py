"""Certificate rotation with SIGHUP (docs/deploy-tls.md, "Rotating certificates"), in
one process and with -w 2, while a client thread makes HTTPS requests without a
pause (a new connection each, Python's ssl, as certbot's users' clients do):

1. a new valid pair is installed and SIGHUP sent: no request fails, and once the
   reload is over every new connection sees the new certificate;
2. a broken certificate file (garbage): the reload fails, the old certificate keeps
   serving, the reason is in the error log and /metrics counts a failed reload;
3. the files turn bad after the reload's new image was checked (the bridge, or the
   master's import check) and before the image that replaces the serving one loads
   them: that image must not exit (the bridge, or the old workers, serve on);
4. a good pair and SIGHUP again: the server recovers and serves it, and sessions
   made before step 1 still resume (the ticket keys went through every image).

The certificates come from wsgate_util.Pki, plus more leaves of its intermediate
made here, so every step has a certificate of its own to recognise (by the SHA-256
of the leaf the client saw). tests/apps/it_tls.py holds a new image's import (after
it loaded its certificate) for step 3.
"""
import hashlib
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time

import pytest

from wsgate_util import (Pki, RawConn, children, metrics, req, t, tls_connect, wait_for,
                         wait_log, wait_mark)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(str(tmp_path_factory.mktemp("pki")))
    p.rsa_renewed = leaf(p, p.rsa_pkcs8, "rsa-renewed")  # certbot --reuse-key does this
    return p


def leaf(pki, key, name):
    """A new leaf for key, signed by pki's intermediate: the path of its chain."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=pki.dir,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=t(60))
    ossl("req", "-new", "-key", key, "-out", name + ".csr", "-subj", "/CN=localhost")
    ossl("x509", "-req", "-in", name + ".csr", "-CA", "inter.pem", "-CAkey", "inter.key",
         "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-out", name + ".pem")
    chain = os.path.join(pki.dir, name + "-chain.pem")
    with open(chain, "w") as f:
        f.write(open(os.path.join(pki.dir, name + ".pem")).read() +
                open(os.path.join(pki.dir, "inter.pem")).read())
    return chain


def leaf_digest(chain):
    """SHA-256 of the first certificate of a PEM chain (DER)."""
    end = "-----END CERTIFICATE-----"
    with open(chain) as f:
        first = f.read().split(end)[0] + end + "\n"
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def put(src, dst):
    """Replaces dst by a copy of src at once (rename), as certbot's deploy does."""
    shutil.copyfile(src, dst + ".new")
    os.replace(dst + ".new", dst)


class Client:
    """A thread making HTTPS requests, a new connection each, until stopped: every
    result is kept as (start time, SHA-256 of the leaf it was served) or a failure."""

    def __init__(self, srv, ctx):
        self.srv, self.ctx = srv, ctx
        self.lock = threading.Lock()
        self.ok, self.failed = [], []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_ev.is_set():
            start = time.monotonic()
            try:
                with RawConn(sock=tls_connect(self.srv, self.ctx)) as c:
                    digest = hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()
                    c.send(req("GET", "/hello", [("Connection", "close")]))
                    r = c.read_response()
                ok = r.complete and r.status == 200 and r.body == b"hello\n"
                result = (start, digest) if ok else (start, "bad answer: %r" % r)
            except (OSError, AssertionError) as e:
                ok, result = False, (start, repr(e))
            with self.lock:
                (self.ok if ok else self.failed).append(result)

    def since(self, when):
        """The leaves served to the connections started after when."""
        with self.lock:
            return [d for ts, d in self.ok if ts > when]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(t(20))


def session_of(srv, ctx):
    """A TLS session of srv (after a request: TLS 1.3 tickets follow the handshake)."""
    with RawConn(sock=tls_connect(srv, ctx)) as c:
        c.send(req("GET", "/hello"))
        assert c.read_response().status == 200
        return c.sock.session


def reload_counts(srv):
    v = metrics(srv)
    return (int(v['wsgate_reloads_total{result="done"}']),
            int(v['wsgate_reloads_total{result="failed"}']), int(v["wsgate_last_reload_failed"]))


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2], ids=["single", "prefork"])
def test_certificate_rotation_under_load(wsgate, pki, tmp_path, workers):
    cert, key, hold = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"), tmp_path / "hold"
    hold.mkdir()
    put(pki.rsa_chain, cert)
    put(pki.rsa_pkcs8, key)
    first, second, third = (leaf_digest(c) for c in (pki.rsa_chain, pki.ec_chain,
                                                     pki.rsa_renewed))
    s = wsgate("it_tls", "-w", str(workers), "--threads", "4", stats=True,
               tls=(cert, key), env={"IT_TLS_HOLD": str(hold)})

    def settled():
        """The moment only the process started (one process) or its current workers
        (prefork) accept: a bridge or old workers still serving may hold the old
        certificate."""
        if workers == 1:
            wait_for(lambda: children(s.pid) == [], t(20), what="the bridge to exit")
        else:
            wait_for(lambda: len(children(s.pid)) == 2 and not set(children(s.pid)) & old[0],
                     t(20), what="the old workers to exit")
        return time.monotonic()

    def serves_only(digest, since):
        wait_for(lambda: len(load.since(since)) >= 20, t(20), what="20 requests")
        assert set(load.since(since)) == {digest}

    wait_for(lambda: len(children(s.pid)) == (workers if workers > 1 else 0), t(10),
             what="the workers")
    old = [set(children(s.pid))]
    # Sessions of the first certificate: their tickets resume at the end, the ticket
    # keys having gone through every image of the test, the failed ones too.
    contexts = [pki.client_context(maximum_version=v)
                for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)]
    sessions = [session_of(s, ctx) for ctx in contexts]
    with Client(s, pki.client_context()) as load:
        wait_for(lambda: len(load.since(0)) >= 10, t(10), what="the first requests")
        assert set(load.since(0)) == {first}

        # 1. A new pair (another key type, even): served once the reload is over.
        put(pki.ec_chain, cert)
        put(pki.ec_key, key)
        s.signal(signal.SIGHUP)
        wait_for(lambda: second in load.since(0), t(20), what="the new certificate")
        serves_only(second, settled())
        assert reload_counts(s) == (1, 0, 0)

        # 2. Garbage instead of the certificate: the old one serves on, and why is logged.
        old[0] = set(children(s.pid))
        with open(cert + ".new", "w") as f:
            f.write("this is no certificate\n")
        os.replace(cert + ".new", cert)
        marked = time.monotonic()
        s.signal(signal.SIGHUP)
        wait_log(s, r"\[error\] [^\n]*reload failed", timeout=t(20))
        wait_log(s, r"\[error\] [^\n]*--certfile %s: no usable certificate chain"
                 % re.escape(cert))
        assert reload_counts(s) == (1, 1, 1)
        serves_only(second, marked)
        assert set(children(s.pid)) == old[0]

        # 3. A good pair for the new image's check (the bridge, or the import check),
        # and a key that does not match by the time the image that replaces the
        # serving one loads the files: that image must not exit.
        put(pki.rsa_renewed, cert)
        put(pki.rsa_pkcs8, key)
        (hold / "hold").touch()
        s.signal(signal.SIGHUP)
        wait_mark(str(hold / "held"), t(20), what="the new image's import")
        put(pki.ec_key, key)
        (hold / "hold").unlink()
        wait_log(s, r"\[error\] [^\n]*the key in %s does not match" % re.escape(key),
                 timeout=t(20))
        wait_log(s, r"\[error\] [^\n]*reload failed", count=2)
        marked = time.monotonic()
        # One process: its bridge loaded the good pair and serves it; prefork: the old
        # workers serve the certificate they have.
        serves_only(third if workers == 1 else second, marked)
        assert s.proc.poll() is None, "the process that was started exited"
        if workers == 2:
            assert set(children(s.pid)) == old[0]
            assert reload_counts(s) == (1, 2, 1)

        # 4. The files fixed and SIGHUP: the new image serves them.
        put(pki.rsa_pkcs8, key)
        s.signal(signal.SIGHUP)
        serves_only(third, settled())
        assert reload_counts(s) == (2, 2, 0)
    assert load.failed == [], load.failed[:5]
    for ctx, session in zip(contexts, sessions):
        with RawConn(sock=tls_connect(s, ctx, session=session)) as c:
            c.send(req("GET", "/hello"))
            assert c.read_response().status == 200
            assert c.sock.session_reused, ctx.maximum_version
