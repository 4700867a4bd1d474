"""The configurations docs/deploy-*.md show are the ones the front-server tests run
(written by frontends.py and scgi_frontends.py): compared directive by directive,
comments aside, with the pages' placeholders (DIR, port 8080, wsgate at
127.0.0.1:9000, :4000 or :3031) filled into the generated config. No server is
started."""
import os
import re

import pytest

import frontends
import scgi_frontends
from conftest import REPO


def page(name):
    with open(os.path.join(REPO, "docs", name)) as f:
        return f.read()


def blocks(text, lang):
    return re.findall(r"```%s\n(.*?)```" % lang, text, re.S)


def directives(text):
    """The non-empty lines without their comments, whitespace-normalised."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            out.append(" ".join(line.split()))
    return out


def generated(cls, port=9000):
    fs = cls(frontends.Backend("tcp", host="127.0.0.1", port=port), workdir="DIR")
    fs.port = 8080
    return fs.config()


def location(config, path="/app/"):
    m = re.search(r"location %s \{\n(.*?)\n\s*\}" % re.escape(path), config, re.S)
    assert m, config
    return directives(m.group(1))


def test_apache_page(monkeypatch):
    if frontends.Apache.locate() is None:
        pytest.skip("apache2 not installed")
    fs = frontends.Apache(frontends.Backend("tcp", host="127.0.0.1", port=9000), "DIR")
    if fs.modules != "/usr/lib/apache2/modules":
        pytest.skip("the page shows Debian's module paths")
    monkeypatch.setattr(frontends, "IS_ROOT", True)  # the page shows the User lines
    fs.port = 8080
    assert directives(blocks(page("deploy-apache.md"), "apache")[1]) == directives(fs.config())


def test_lighttpd_page():
    assert directives(blocks(page("deploy-lighttpd.md"), "lighttpd")[1]) == \
        directives(generated(frontends.Lighttpd))


def test_nginx_pages():
    """The location the pages show is the test's /app/ one (the test's upstream block
    is named wsgate for FastCGI; SCGI passes to the address)."""
    ngx = frontends.Nginx
    if ngx.locate() is None:
        pytest.skip("nginx not installed")
    fcgi = blocks(page("deploy-nginx.md"), "nginx")[0]
    assert location(fcgi) == location(generated(ngx))
    scgi = blocks(page("deploy-scgi.md"), "nginx")[0]
    assert location(scgi) == location(generated(scgi_frontends.ScgiNginx, port=4000))


def test_scale_out_page():
    """docs/scale-out.md's HAProxy config is test_scale_out.py's, with the page's hosts
    10.0.0.11-13 (HTTP on 8000, FastCGI on 9000)."""
    hosts = [("host%d" % i, "10.0.0.1%d" % i, 8000, 9000) for i in (1, 2, 3)]
    fs = frontends.BalancingHaproxy(hosts, workdir="DIR")
    fs.port = 8080
    assert directives(blocks(page("scale-out.md"), "haproxy")[0]) == directives(fs.config())


def test_uwsgi_page():
    """docs/deploy-uwsgi.md: the nginx location is the uwsgi suite's /app/ one; the
    Apache ProxyPass lines (TCP, and the unix form in a comment) are UwsgiApache's."""
    text = page("deploy-uwsgi.md")
    if frontends.Nginx.locate() is not None:
        ngx = blocks(text, "nginx")[0]
        assert location(ngx) == location(generated(scgi_frontends.UwsgiNginx, port=3031))
    apache = blocks(text, "apache")[0]
    tcp = scgi_frontends.UwsgiApache(frontends.Backend("tcp", host="127.0.0.1", port=3031),
                                     "DIR")
    unix = scgi_frontends.UwsgiApache(
        frontends.Backend("unix", path="/run/wsgate/uwsgi.sock"), "DIR")
    lines = directives(apache)
    assert tcp.proxy_pass() in lines, lines
    assert "AllowEncodedSlashes NoDecode" in lines, lines
    assert "LoadModule proxy_uwsgi_module modules/mod_proxy_uwsgi.so" in lines, lines
    assert "# " + unix.proxy_pass() + "\n" in apache, apache


def test_uwsgi_page_ini(tmp_path):
    """docs/deploy-uwsgi.md's wsgate.ini (the translation of its uWSGI file) is read by
    wsgate as it is: --print-config accepts it and names every key as from the file."""
    import subprocess
    from conftest import BIN
    ini = [b for b in blocks(page("deploy-uwsgi.md"), "ini") if b.startswith("[wsgate]")]
    assert len(ini) == 1, ini
    path = tmp_path / "myproject.ini"
    path.write_text(ini[0])
    r = subprocess.run([BIN, "-c", str(path), "--print-config"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    from_file = r.stdout.split("# from the config file", 1)[1].split("\n# ", 1)[0]
    for line in directives(ini[0])[1:]:
        assert line in from_file.splitlines(), (line, r.stdout)


def test_proxies_nginx_location():
    """docs/proxies.md: the nginx location in front of --forwarded-for is the one the
    Django test runs behind (frontends.ProxyPassNginx), wsgate at 127.0.0.1:8000."""
    fs = frontends.ProxyPassNginx(frontends.Backend("tcp", host="127.0.0.1", port=8000),
                                  "CERT", "KEY", workdir="DIR")
    fs.port = 8080
    want = directives(blocks(page("proxies.md"), "nginx")[0])
    got = directives(fs.config())
    start = got.index("location / {")
    assert got[start:start + len(want)] == want
