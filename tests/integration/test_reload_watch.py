"""--reload (issue 16): the server watches the app's own source files and reloads
gracefully when one (or the --config file) changes, as SIGHUP does, with one process (a bridge) and with a
prefork master. A burst of writes is one reload; a file that does not compile keeps
the old code serving and the error is logged; fixing it brings the new code in. The
inotify fd lives in the process that reloads, never in a worker.

The values have different lengths on purpose: Python's .pyc cache is checked by the
source's size and mtime in whole seconds, and these edits come within one second.
"""
import os

import pytest

from wsgate_util import children, http_get, logs, t, wait_for, wait_log

APP = """import rlmod


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [rlmod.VALUE.encode()]
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def body(srv):
    status, data, _ = http_get(srv, "/")
    assert status == 200, (status, data)
    return data.decode()


def wait_body(srv, want):
    wait_for(lambda: body(srv) == want, t(15), what="%r served" % want)


def has_inotify(pid):
    fds = "/proc/%d/fd" % pid
    try:
        return any("inotify" in os.readlink(os.path.join(fds, n)) for n in os.listdir(fds))
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("procs", ["1", "2"])
def test_reload_on_change_keeps_old_code_on_syntax_error(wsgate, tmp_path, procs):
    d = tmp_path / "app"
    d.mkdir()
    write(d / "rlapp.py", APP)
    mod = d / "rlmod.py"
    write(mod, 'VALUE = "one"\n')
    ini = tmp_path / "wsgate.ini"
    write(ini, "[wsgate]\nthreads = 2\nreload = true\n")
    srv = wsgate("rlapp", "--pythonpath", str(d), "-w", procs, "-c", str(ini))
    assert body(srv) == "one"
    # the app's two files and the config file; nothing of the stdlib or dist-packages
    assert "--reload: watching 3 files" in logs(srv), logs(srv)
    # A burst: a half-written file, then the whole of it, is one reload of the last.
    write(mod, 'VALUE = "se')
    write(mod, 'VALUE = "second"\n')
    wait_body(srv, "second")
    # the new image watches (with one process, the bridge served "second" before it)
    armed = lambda n: logs(srv).count("--reload: watching 3 files") == n  # noqa: E731
    wait_for(lambda: armed(2), t(10), what="the new image watching")
    assert logs(srv).count("changed: reloading") == 1, logs(srv)
    assert "reload failed" not in logs(srv)
    if procs == "2":
        assert has_inotify(srv.pid)
        workers = children(srv.pid)
        assert workers and not any(has_inotify(p) for p in workers), workers
    # A syntax error: the old code serves on, the error is in the log.
    write(mod, 'VALUE = "thi\n')
    wait_log(srv, r"\[error\] reload failed", what="the failed reload")
    assert "SyntaxError" in logs(srv)
    assert body(srv) == "second"
    # Fixed: the new code comes in.
    write(mod, 'VALUE = "third-value"\n')
    wait_body(srv, "third-value")
    # The config file is watched too.
    wait_for(lambda: armed(3), t(10), what="the new image watching")
    write(ini, "[wsgate]\nthreads = 3\nreload = true\n")
    wait_for(lambda: armed(4), t(15), what="a reload for the config file")
    assert "wsgate.ini changed: reloading" in logs(srv)
    assert body(srv) == "third-value"


def test_change_during_the_reload_is_still_watched(wsgate, tmp_path):
    """One process: the bridge serves the new code while the process re-executes; a
    broken save in that moment makes the new image fail its import (the bridge keeps
    serving). That image has no app to list files from: it watches its predecessor's
    list, so the fix still reloads. The app's import takes 1 s to open that window."""
    d = tmp_path / "app"
    d.mkdir()
    write(d / "rlapp.py", "import time\ntime.sleep(float(open(%r).read()))\n" %
          str(d / "delay") + APP)
    write(d / "delay", "0")
    mod = d / "rlmod.py"
    write(mod, 'VALUE = "one"\n')
    srv = wsgate("rlapp", "--pythonpath", str(d), "--threads", "2", "--reload")
    assert body(srv) == "one"
    write(d / "delay", "1")
    write(mod, 'VALUE = "second"\n')
    wait_body(srv, "second")  # from the bridge; the new image is still importing
    write(mod, 'VALUE = "thi\n')
    wait_log(srv, r"\[error\] reload failed: this process cannot serve the app",
             what="the new image's failed import")
    assert body(srv) == "second"
    write(mod, 'VALUE = "third-value"\n')
    wait_body(srv, "third-value")


def test_save_between_import_and_watch_reloads(wsgate, tmp_path):
    """A save after the import read a file but before the watch began (here the app's
    import goes on for 1 s after reading rlmod) is seen by its modification time."""
    d = tmp_path / "app"
    d.mkdir()
    marker = d / "imported"
    write(d / "rlapp.py", APP + "open(%r, 'w').close()\nimport time\ntime.sleep(1)\n"
          % str(marker))
    mod = d / "rlmod.py"
    write(mod, 'VALUE = "one"\n')
    srv = wsgate("rlapp", "--pythonpath", str(d), "--threads", "2", "--reload", start=False)
    srv.start(wait=False)
    wait_for(marker.exists, t(10), what="the import to read rlmod")
    write(mod, 'VALUE = "second"\n')
    srv.wait_ready()
    wait_body(srv, "second")
