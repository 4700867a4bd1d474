"""Installing wsgate (README.md, "Quick start" and "Installing"): the package sets of
scripts/install-deps by purpose, `make install` / `make uninstall` into a DESTDIR, and
the man page and bash completion against --help.
"""
import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN, REPO, ROOT_ARGS, run_cli
from wsgate_util import t

DEPS = os.path.join(REPO, "scripts", "install-deps")


def deps_set(tmp_path, *sets):
    """The packages `scripts/install-deps SETS` names, as it prints them where there is
    no apt-get (a PATH with only the shell tools it needs), without installing any."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in ("sh", "tr", "id"):
        dst = bindir / tool
        if not dst.exists():
            dst.symlink_to(shutil.which(tool))
    r = subprocess.run(["sh", DEPS, *sets], env={"PATH": str(bindir)},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 1, r.stderr
    err = r.stderr.decode()
    assert "not a Debian/Ubuntu system" in err, err
    return set(err.splitlines()[1].split())


def test_deps_sets_by_purpose(tmp_path):
    run = deps_set(tmp_path, "run")
    assert {"build-essential", "libev-dev", "python3-dev", "libssl-dev",
            "libnghttp2-dev"} <= run
    # make run asks for no test peer, no benchmark peer, no packaging tool
    assert not run & {"apache2", "lighttpd", "haproxy", "uwsgi", "gunicorn", "wrk",
                      "python3-matplotlib", "python3-pytest", "debhelper", "nginx"}, run
    bench = deps_set(tmp_path, "bench")
    # bench-smoke (part of make test) starts every server of bench/ on every row; the
    # HTTP/2 rows load with h2load (nghttp2-client) and check with python3-h2
    assert run < bench and {"wrk", "apache2-utils", "openssl", "uwsgi", "gunicorn", "nginx",
                            "python3-flask", "linux-perf", "nghttp2-client",
                            "python3-h2"} <= bench
    assert not bench & {"python3-pytest", "apache2", "debhelper"}, bench
    deb = deps_set(tmp_path, "deb")
    assert run < deb and {"debhelper", "lintian"} <= deb
    # make test runs bench-smoke and the package test: its set holds the others
    test = deps_set(tmp_path, "test")
    assert bench | deb < test
    assert {"python3-pytest", "apache2", "nghttp2-client", "python3-h2", "chromium"} <= test
    assert deps_set(tmp_path) == test  # no argument: everything, as before


def help_options():
    """Every spelling of every option of --help: the first column of its option lines
    (up to the description, two spaces on)."""
    text = run_cli("--help").stdout.decode()
    opts = set()
    for line in text.splitlines():
        if line.startswith("  -"):
            head = re.split(r"\s{2,}", line.strip())[0]
            opts |= {s.split(" ")[0] for s in head.split(", ")}
    return text, opts


def make(*args, **kw):
    # The binary under test is not rebuilt (-o): BUILD is its folder (plain, asan or
    # tsan), up to date since the suite's own make built it.
    build = os.path.dirname(os.path.abspath(BIN))
    return subprocess.run(["make", "--no-print-directory", "-C", REPO, "BUILD=" + build,
                           "-o", os.path.join(build, "wsgate"), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=t(120),
                          **kw)


def tree(root):
    out = set()
    for d, dirs, files in os.walk(root):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            out.add(os.path.relpath(os.path.join(d, name), root))
    return out


def test_make_install_and_uninstall(tmp_path):
    """make install DESTDIR=... PREFIX=/usr lays out the binary, the man page and the
    completion (both covering every option of --help), the systemd units with the
    installed path, the docs and examples; make uninstall removes every file."""
    dest = tmp_path / "root"
    # -o also hides that the binary is newer than the man page and the completion made
    # from it: they are made afresh
    for generated in ("wsgate.1", "wsgate.bash"):
        path = os.path.join(os.path.dirname(os.path.abspath(BIN)), generated)
        if os.path.exists(path):
            os.unlink(path)
    r = make("install", "DESTDIR=%s" % dest, "PREFIX=/usr")
    assert r.returncode == 0, r.stdout.decode()
    docs = {os.path.basename(p) for p in glob.glob(os.path.join(REPO, "docs", "*.md"))}
    examples = {os.path.basename(p) for p in glob.glob(os.path.join(REPO, "examples", "*"))}
    expected = {"usr/bin/wsgate", "usr/share/man/man1/wsgate.1",
                "usr/share/bash-completion/completions/wsgate",
                "usr/lib/systemd/system/wsgate.service",
                "usr/lib/systemd/system/wsgate.socket",
                "usr/lib/systemd/system/wsgate-fastcgi.socket",
                "usr/share/doc/wsgate/README.md", "usr/share/doc/wsgate/benchmarks.png",
                "usr/share/doc/wsgate/examples/wsgate.ini"}
    expected |= {"usr/share/doc/wsgate/" + d for d in docs}
    expected |= {"usr/share/doc/wsgate/examples/" + e for e in examples}
    assert tree(dest) == expected
    assert subprocess.run([str(dest / "usr/bin/wsgate"), "--version"],
                          stdout=subprocess.PIPE).stdout.startswith(b"wsgate ")
    unit = (dest / "usr/lib/systemd/system/wsgate.service").read_text()
    assert re.search(r"^ExecStart=/usr/bin/wsgate ", unit, re.M), unit
    assert "/usr/local" not in unit

    help_text, opts = help_options()
    assert {"--http", "--threads", "-w", "--workers", "--version", "-h"} <= opts
    page = (dest / "usr/share/man/man1/wsgate.1").read_text()
    documented = {m.replace("\\-", "-")
                  for m in re.findall(r"^\\fB(\\-[\w\\-]*)\\fR", page, re.M)}
    documented |= {m.replace("\\-", "-")
                   for m in re.findall(r", \\fB(\\-[\w\\-]*)\\fR", page)}
    assert documented == opts, documented ^ opts
    # every default --help states is in the page, and the sections it does not hold
    assert page.count("(default") == help_text.count("(default")
    for section in ("SIGNALS", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"):
        assert ".SH %s\n" % section in page, section
    if shutil.which("man"):
        r = subprocess.run(["man", "--warnings", "-l", "-Tutf8",
                            str(dest / "usr/share/man/man1/wsgate.1")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(30))
        assert r.returncode == 0 and r.stderr == b"", r.stderr
        shown = re.sub(rb".\x08", b"", r.stdout).replace(b"\xe2\x80\x90", b"-")
        assert b"--max-requests-jitter" in shown  # bold overstrikes and hyphens undone

    # the completion, as bash runs it: every option after "-", a value's choices
    script = dest / "usr/share/bash-completion/completions/wsgate"
    probe = ('source "$1"; complete -p wsgate; COMP_WORDS=(wsgate "$2" "$3"); COMP_CWORD=2;'
             ' _wsgate; printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "-c", probe, "-", str(script), "--lazy", "-"],
                       stdout=subprocess.PIPE, timeout=t(30))
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "complete -F _wsgate wsgate", lines
    assert set(lines[1:]) == opts, set(lines[1:]) ^ opts
    r = subprocess.run(["bash", "-c", probe, "-", str(script), "--log-level", ""],
                       stdout=subprocess.PIPE, timeout=t(30))
    assert r.stdout.decode().split()[4:] == ["debug", "info", "warning", "error",
                                             "critical"]

    r = make("uninstall", "DESTDIR=%s" % dest, "PREFIX=/usr")
    assert r.returncode == 0, r.stdout.decode()
    assert tree(dest) == set()
    assert not (dest / "usr/share/doc/wsgate").exists()


DEB_TOOLS = ("dpkg-buildpackage", "dh", "lintian")


def installed_as_package(name):
    return subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout.endswith(b" installed")


def user_exists(name):
    return subprocess.run(["getent", "passwd", name], stdout=subprocess.DEVNULL).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not all(shutil.which(x) for x in DEB_TOOLS),
                    reason="make deb needs %s (scripts/install-deps deb or test installs "
                    "them)" % ", ".join(DEB_TOOLS))
def test_make_deb(tmp_path):
    """make deb builds a lintian-clean package (make deb fails on a lintian error) with
    the files of make install, the service's environment file as a conffile, the
    libraries' packages as dependencies; its wsgate runs from the extracted tree; and,
    as root on a machine without a wsgate package, it installs (creating the user
    wsgate, enabling no unit) and purges without leaving a file."""
    if os.path.realpath(BIN) != os.path.realpath(os.path.join(REPO, "build", "wsgate")):
        pytest.skip("the package builds its own binary: tested once, in the pass of the "
                    "plain build/wsgate, not again under the sanitizers")
    build = tmp_path / "b"
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "BUILD=%s" % build, "deb"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=t(600))
    assert r.returncode == 0, r.stdout.decode()[-4000:]
    debs = glob.glob(str(build / "wsgate_*.deb"))
    assert len(debs) == 1, r.stdout.decode()[-2000:]
    deb = debs[0]

    listing = subprocess.run(["dpkg-deb", "-c", deb], stdout=subprocess.PIPE,
                             check=True).stdout.decode()
    files = {line.split()[-1][2:] for line in listing.splitlines()
             if not line.startswith("d")}
    docs = {os.path.basename(p) for p in glob.glob(os.path.join(REPO, "docs", "*.md"))}
    examples = {os.path.basename(p) for p in glob.glob(os.path.join(REPO, "examples", "*"))}
    expected = {"usr/bin/wsgate", "usr/share/man/man1/wsgate.1.gz",
                "usr/share/bash-completion/completions/wsgate",
                "lib/systemd/system/wsgate.service", "lib/systemd/system/wsgate.socket",
                "lib/systemd/system/wsgate-fastcgi.socket", "etc/wsgate/wsgate.ini",
                "usr/share/doc/wsgate/README.md", "usr/share/doc/wsgate/benchmarks.png",
                "usr/share/doc/wsgate/copyright", "usr/share/doc/wsgate/changelog.gz",
                "usr/share/doc/wsgate/examples/wsgate.ini"}
    expected |= {"usr/share/doc/wsgate/" + d for d in docs}
    expected |= {"usr/share/doc/wsgate/examples/" + e for e in examples}
    assert files == expected, files ^ expected

    def field(name):
        return subprocess.run(["dpkg-deb", "-f", deb, name], stdout=subprocess.PIPE,
                              check=True).stdout.decode().strip()
    depends = field("Depends")
    for lib in ("adduser", "libev4", "libpython3", "libssl3"):
        assert lib in depends, depends
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], stdout=subprocess.PIPE,
                               check=True).stdout
    ctrl = tmp_path / "ctrl"
    ctrl.mkdir()
    subprocess.run(["tar", "-x", "-C", str(ctrl)], input=conffiles, check=True)
    assert (ctrl / "conffiles").read_text().split() == ["/etc/wsgate/wsgate.ini"]
    postinst = (ctrl / "postinst").read_text()
    assert "adduser --system" in postinst and "systemctl enable" not in postinst
    assert "deb-systemd-invoke start" not in postinst  # installed, not started

    # the packaged binary, from the extracted tree, on the packaged example
    root = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
    wsgate = str(root / "usr/bin/wsgate")
    out = subprocess.run([wsgate, "--version"], stdout=subprocess.PIPE, check=True,
                         timeout=t(30)).stdout.decode()
    assert out.splitlines()[0] == "wsgate " + field("Version"), out
    examples_dir = str(root / "usr/share/doc/wsgate/examples")
    r = subprocess.run([wsgate, *ROOT_ARGS, "--check", "--pythonpath", examples_dir, "hello"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(30))
    assert r.returncode == 0 and b"imported and callable" in r.stdout, r.stderr

    if os.geteuid() != 0 or installed_as_package("wsgate") or os.path.exists("/usr/bin/wsgate"):
        return  # a real install only as root, and only where it replaces nothing
    had_user = user_exists("wsgate")
    try:
        r = subprocess.run(["dpkg", "-i", deb], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=t(120))
        assert r.returncode == 0, r.stdout.decode()
        assert user_exists("wsgate")
        # as the package's user, which its postinst made (as root without --user: refused)
        assert subprocess.run(["/usr/bin/wsgate", "--user", "wsgate", "--check",
                               "--pythonpath", "/usr/share/doc/wsgate/examples", "hello"],
                              stdout=subprocess.PIPE, cwd="/", timeout=t(30)).returncode == 0
        assert not glob.glob("/etc/systemd/system/*.wants/wsgate*")  # not enabled
    finally:
        r = subprocess.run(["dpkg", "-P", "wsgate"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=t(120))
        if not had_user and user_exists("wsgate"):
            subprocess.run(["deluser", "--system", "--quiet", "wsgate"], timeout=t(60))
            subprocess.run(["delgroup", "--system", "--quiet", "wsgate"], timeout=t(60))
    assert r.returncode == 0, r.stdout.decode()
    assert not installed_as_package("wsgate")
    left = [p for p in expected if os.path.lexists("/" + p)]
    assert left == [], left
