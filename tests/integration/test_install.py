"""Installing wsgate (README.md, "Quick start" and "Installing"): the package sets of
scripts/install-deps by purpose, `make install` / `make uninstall` into a DESTDIR, and
the man page and bash completion against --help.
"""
import os
import shutil
import subprocess

import pytest

from conftest import REPO

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
    assert run < bench and {"wrk", "uwsgi", "gunicorn", "nginx", "linux-perf"} <= bench
    assert not bench & {"python3-pytest", "apache2", "debhelper"}, bench
    deb = deps_set(tmp_path, "deb")
    assert run < deb and {"debhelper", "lintian"} <= deb
    # make test runs bench-smoke and the package test: its set holds the others
    test = deps_set(tmp_path, "test")
    assert bench | deb < test
    assert {"python3-pytest", "apache2", "nghttp2-client", "python3-h2"} <= test
    assert deps_set(tmp_path) == test  # no argument: everything, as before
