"""The command line contract: --help, --version, --check, and one clear line on
stderr plus a non-zero exit for every bad option or failed import."""
import glob
import os
import platform
import re
import socket
import ssl
import subprocess
import sys

import pytest

from conftest import APPS, REPO, free_port, run_cli
from wsgate_util import t


def lines(b):
    return [ln for ln in b.decode("utf-8", "replace").splitlines() if ln.strip()]


def assert_one_line_error(r, code=None):
    err = lines(r.stderr)
    assert r.returncode != 0, "exit code 0 for an error; stderr=%r" % r.stderr
    if code is not None:
        assert r.returncode == code, (r.returncode, r.stderr)
    assert len(err) == 1, "expected exactly one line on stderr, got %d:\n%s" % (
        len(err), r.stderr.decode("utf-8", "replace"))
    assert "Traceback" not in err[0]
    return err[0]


def test_help():
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    for opt in ("--http", "--threads", "--pythonpath", "--chdir", "--venv", "--script-name",
                "--read-timeout", "--keep-alive", "--max-body", "--access-log",
                "--error-log", "--log-level", "--version", "--check", "--processes",
                "--workers", "-w"):
        assert opt in out, "--help does not mention %s" % opt
    assert "MODULE" in out
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for opt in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", out))):
        assert "`" + opt in readme, "README's table does not mention %s" % opt


DOC_PATH = re.compile(r"docs/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*/]")
MD_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def missing_doc_paths(text, base):
    """The docs/... paths (globs allowed) and relative markdown links in text that name
    nothing in the repository; links are relative to base."""
    missing = [p for p in DOC_PATH.findall(text) if not glob.glob(os.path.join(REPO, p))]
    for link in MD_LINK.findall(text):
        if "://" not in link and not link.startswith("mailto:") and \
                not os.path.exists(os.path.join(base, link)):
            missing.append(link)
    return missing


def test_doc_paths_exist():
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    assert missing_doc_paths(r.stdout.decode(), REPO) == [], "--help"
    docs = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs",
                                                                             "*.md")))
    for path in docs:
        with open(path, encoding="utf-8") as f:
            missing = missing_doc_paths(f.read(), os.path.dirname(path))
        assert missing == [], os.path.relpath(path, REPO)


def test_version():
    """--version says what was running (README.md, "Command line"): wsgate's version,
    the embedded Python (running, its library file, and the build's), libev, OpenSSL
    and the protocols compiled in, each as the libraries themselves report it."""
    r = run_cli("--version")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert re.fullmatch(r"wsgate \d+\.\d+\.\d+", lines[0]), lines
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert fields["python"].split()[0] == platform.python_version(), fields
    lib = fields["python library"]
    assert os.path.isfile(lib) and "python3" in os.path.basename(lib), lib
    assert fields["python built with"] == "%s (%s)" % (platform.python_version(),
                                                       sys.executable), fields
    assert re.fullmatch(r"\d+\.\d+", fields["libev"]), fields
    if os.path.isfile("/usr/include/ev.h"):  # libev-dev has no pkg-config file
        with open("/usr/include/ev.h") as f:
            h = dict(re.findall(r"#define EV_VERSION_(MAJOR|MINOR) (\d+)", f.read()))
        assert fields["libev"] == "%s.%s" % (h["MAJOR"], h["MINOR"]), fields
    assert fields["openssl"] == ssl.OPENSSL_VERSION, fields
    assert fields["protocols"].split(", ") == ["http", "https (TLS)", "fastcgi", "scgi", "uwsgi",
                                               "h2 (ALPN on --https; off: --no-h2)",
                                               "h2c (on --http; off: --no-h2c)"]
    nghttp2 = subprocess.run(["pkg-config", "--modversion", "libnghttp2"], capture_output=True,
                             text=True)
    if nghttp2.returncode == 0:  # the library the build was linked with
        assert fields["nghttp2"] == nghttp2.stdout.strip(), fields


@pytest.mark.parametrize("args", [
    ["--no-such-option", "it_probe"],
    ["--threads"],                                # missing value
    ["--threads", "abc", "it_probe"],
    ["--threads", "-3", "it_probe"],
    ["--http", "not an address", "it_probe"],
    ["--http", "127.0.0.1:99999", "it_probe"],
    ["--http", "127.0.0.1:", "it_probe"],
    ["--max-body", "lots", "it_probe"],
    ["--read-timeout", "-1", "it_probe"],
    ["--log-level", "chatty", "it_probe"],
    ["--socket-mode", "999", "--http", "unix:/tmp/wsgate-never.sock", "it_probe"],
    [],                                           # no app given
    ["it_probe", "it_echo"],                      # two apps
    ["--reload", "--lazy", "-w", "2", "it_probe"],  # the master has nothing to watch
], ids=lambda a: " ".join(a) or "no-args")
def test_bad_command_line(args):
    r = run_cli("--pythonpath", APPS, *args)
    assert_one_line_error(r)


OPTION_NAME_CASES = [
    # An ambiguous prefix: was "unknown option" without a hint.
    (["--max-request", "5"], "unknown option --max-request (did you mean --max-requests?)"),
    # A unique prefix: was silently taken as --threads.
    (["--thr", "3"], "unknown option --thr (did you mean --threads?)"),
    (["--thr=3"], "unknown option --thr (did you mean --threads?)"),
    (["--threadz=3"], "unknown option --threadz (did you mean --threads?)"),
    (["--log-lvl", "debug"], "unknown option --log-lvl (did you mean --log-level?)"),
    (["--he"], "unknown option --he (did you mean --help?)"),
    (["--no-such-option"], "unknown option --no-such-option (see --help)"),
    (["--lazy=1"], "option --lazy takes no value (see --help)"),
    # a flag's --no-NAME is a whole name too, named as given
    (["--no-h2=1"], "option --no-h2 takes no value (see --help)"),
    (["--no-h2cc"], "unknown option --no-h2cc (did you mean --no-h2c?)"),
    (["--no-lazi"], "unknown option --no-lazi (did you mean --no-lazy?)"),
    (["-xy"], "unknown option -x (see --help)"),  # named the program before
]


@pytest.mark.parametrize("args, expected", OPTION_NAME_CASES,
                         ids=[" ".join(a) for a, _ in OPTION_NAME_CASES])
def test_option_names_are_whole(args, expected):
    r = run_cli("--pythonpath", APPS, *args, "--check", "it_probe")
    assert assert_one_line_error(r, code=2) == "wsgate: " + expected


@pytest.mark.parametrize("value, why", [
    ("/", "leave the option out to mount at the root"),
    ("/app/", "must start with '/' and not end with '/'"),
    ("app", "must start with '/' and not end with '/'"),
])
def test_script_name_messages(value, why):
    r = run_cli("--pythonpath", APPS, "--script-name", value, "--check", "it_probe")
    assert assert_one_line_error(r, code=2) == (
        "wsgate: invalid value '%s' for --script-name: %s" % (value, why))


def test_whole_option_names_and_short_options_still_work():
    r = run_cli("--pythonpath", APPS, "--threads=2", "--workers", "1", "-w", "1", "-w1",
                "--processes=1", "--check", "it_probe")
    assert r.returncode == 0, r.stderr
    # Whole names with their value in the next element: that value is not the option.
    r = run_cli("--pythonpath", APPS, "--threads", "--check", "it_probe")
    assert "for --threads" in assert_one_line_error(r, code=2)
    r = run_cli("--pythonpath", APPS, "it_probe", "--threads")
    assert assert_one_line_error(r, code=2) == (
        "wsgate: option --threads needs a value (see --help)")
    r = run_cli("--pythonpath", APPS, "it_probe", "-w")
    assert assert_one_line_error(r, code=2) == "wsgate: option -w needs a value (see --help)"


def test_import_failure_missing_module(tmp_path):
    r = run_cli("--pythonpath", APPS, "--error-log", str(tmp_path / "err.log"),
                "--http", "127.0.0.1:%d" % free_port(), "it_no_such_module_xyz")
    line = assert_one_line_error(r, code=1)
    assert "it_no_such_module_xyz" in line


IMPORT_ERROR = ("cannot import app 'it_import_error': RuntimeError: it_import_error: "
                "deliberate failure at import")


def test_import_failure_raises_at_import(tmp_path):
    log = tmp_path / "err.log"
    r = run_cli("--pythonpath", APPS, "--error-log", str(log),
                "--http", "127.0.0.1:%d" % free_port(), "it_import_error")
    line = assert_one_line_error(r, code=1)
    assert "it_import_error" in line or "deliberate failure" in line, line
    assert line == "wsgate: " + IMPORT_ERROR
    # The error log file: the traceback, then the summary once.
    logged = lines(log.read_bytes())
    assert logged[0].startswith("Traceback (most recent call last)"), logged
    assert logged[-1].endswith("[error] " + IMPORT_ERROR), logged
    assert sum(IMPORT_ERROR in ln for ln in logged) == 1, logged


def assert_traceback_then_one_summary(r):
    assert r.returncode == 1, (r.returncode, r.stderr)
    err = lines(r.stderr)
    assert err, "no explanation on stderr"
    assert err[0].startswith("Traceback (most recent call last)"), err
    assert err[-1] == "wsgate: " + IMPORT_ERROR, err
    assert sum(IMPORT_ERROR in ln for ln in err) == 1, "summary repeated:\n" + "\n".join(err)


def test_import_failure_default_error_log_still_exits_1():
    # Without --error-log the traceback goes to stderr too; the exit code must be 1
    # and the server never half up.
    r = run_cli("--pythonpath", APPS, "--http", "127.0.0.1:%d" % free_port(),
                "it_import_error")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert lines(r.stderr), "no explanation on stderr"
    assert_traceback_then_one_summary(r)


@pytest.mark.parametrize("error_log", ["-", "/dev/stderr"])
def test_import_failure_error_log_on_stderr(error_log):
    r = run_cli("--pythonpath", APPS, "--error-log", error_log, "--check", "it_import_error")
    assert_traceback_then_one_summary(r)


def test_import_failure_multiline_message_is_one_line(tmp_path):
    (tmp_path / "it_multiline.py").write_text("raise RuntimeError('first\\nsecond')\n")
    r = run_cli("--pythonpath", str(tmp_path), "--error-log", str(tmp_path / "err.log"),
                "--check", "it_multiline")
    line = assert_one_line_error(r, code=1)
    assert line == "wsgate: cannot import app 'it_multiline': RuntimeError: first second", line


def test_missing_callable(tmp_path):
    r = run_cli("--pythonpath", APPS, "--error-log", str(tmp_path / "err.log"),
                "--http", "127.0.0.1:%d" % free_port(), "it_probe:no_such_callable")
    line = assert_one_line_error(r, code=1)
    assert "no_such_callable" in line, line


def test_not_callable(tmp_path):
    r = run_cli("--pythonpath", APPS, "--error-log", str(tmp_path / "err.log"),
                "--http", "127.0.0.1:%d" % free_port(), "it_notcallable")
    line = assert_one_line_error(r, code=1)
    assert line == "wsgate: app 'it_notcallable' is not callable (it is an int)", line


def test_no_application_says_how_to_name_the_callable(tmp_path):
    (tmp_path / "it_noapp.py").write_text("app = None\n")
    r = run_cli("--pythonpath", str(tmp_path), "--error-log", str(tmp_path / "err.log"),
                "--check", "it_noapp")
    line = assert_one_line_error(r, code=1)
    assert line == ("wsgate: module 'it_noapp' has no attribute 'application' "
                    "(name the callable: MODULE:CALLABLE)"), line


def test_check_ok_exits_without_serving():
    port = free_port()
    r = run_cli("--pythonpath", APPS, "--http", "127.0.0.1:%d" % port, "--check",
                "it_probe:raw", timeout=t(30))
    assert r.returncode == 0, r.stderr
    s = socket.socket()
    s.settimeout(1)
    try:
        with pytest.raises(OSError):
            s.connect(("127.0.0.1", port))
    finally:
        s.close()


def test_check_with_callable_spec():
    r = run_cli("--pythonpath", APPS, "--check", "it_flask:app")
    assert r.returncode == 0, r.stderr


def test_check_import_failure(tmp_path):
    r = run_cli("--pythonpath", APPS, "--error-log", str(tmp_path / "err.log"), "--check",
                "it_import_error")
    assert_one_line_error(r, code=1)


def test_check_missing_callable(tmp_path):
    r = run_cli("--pythonpath", APPS, "--error-log", str(tmp_path / "err.log"), "--check",
                "it_probe:nope")
    assert_one_line_error(r, code=1)


def test_port_in_use(tmp_path):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        port = s.getsockname()[1]
        r = run_cli("--pythonpath", APPS, "--error-log", str(tmp_path / "err.log"),
                    "--http", "127.0.0.1:%d" % port, "it_probe")
        line = assert_one_line_error(r)
        assert str(port) in line or "in use" in line.lower(), line
    finally:
        s.close()


def test_chdir_and_module_from_it(tmp_path, wsgate):
    # --chdir puts the directory on sys.path: a module there imports without
    # --pythonpath.
    (tmp_path / "it_chdir_app.py").write_text(
        "import os\n"
        "def application(environ, start_response):\n"
        "    body = os.getcwd().encode()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'),"
        " ('Content-Length', str(len(body)))])\n"
        "    return [body]\n")
    srv = wsgate("it_chdir_app", "--chdir", str(tmp_path), pythonpath=False)
    import requests
    r = requests.get(srv.url("/"), timeout=t(10))
    assert r.status_code == 200
    assert os.path.realpath(r.text) == os.path.realpath(str(tmp_path))


def test_pythonpath_repeatable(tmp_path, wsgate):
    d1 = tmp_path / "d1"
    d2 = tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    (d1 / "it_pp_helper.py").write_text("VALUE = 'from-d1'\n")
    (d2 / "it_pp_app.py").write_text(
        "import it_pp_helper\n"
        "def application(environ, start_response):\n"
        "    body = it_pp_helper.VALUE.encode()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'),"
        " ('Content-Length', str(len(body)))])\n"
        "    return [body]\n")
    srv = wsgate("it_pp_app", "--pythonpath", str(d1), "--pythonpath", str(d2),
                 pythonpath=False)
    import requests
    assert requests.get(srv.url("/"), timeout=t(10)).text == "from-d1"


def test_venv_site_packages(tmp_path, wsgate):
    import subprocess
    ver = subprocess.run(["/usr/bin/python3", "-c",
                          "import sys; print('python%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True).stdout.strip()
    site = tmp_path / "venv" / "lib" / ver / "site-packages"
    site.mkdir(parents=True)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (site / "it_venv_only.py").write_text("VALUE = 'from-venv'\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "it_venv_app.py").write_text(
        "import it_venv_only\n"
        "def application(environ, start_response):\n"
        "    body = it_venv_only.VALUE.encode()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'),"
        " ('Content-Length', str(len(body)))])\n"
        "    return [body]\n")
    srv = wsgate("it_venv_app", "--venv", str(tmp_path / "venv"), "--pythonpath",
                 str(tmp_path / "app"), pythonpath=False)
    import requests
    assert requests.get(srv.url("/"), timeout=t(10)).text == "from-venv"
