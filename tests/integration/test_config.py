"""Settings from a --config file and WSGATE_ARGS (docs/operations.md, "Configuration"):
every value type read from a file, the order of the sources (defaults < file <
WSGATE_ARGS < command line), --print-config, and one line naming the file and line for
every error."""
import http.client
import json
import os
import signal

import pytest

from conftest import APPS, REPO, run_cli
from test_cli import assert_one_line_error
from wsgate_util import can_connect, free_port, t, wait_log

# A 300-byte value: Debian's inih would have cut it at 200 bytes without a word.
CIPHERS = ":".join(["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
                    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
                    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
                    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
                    "DHE-RSA-CHACHA20-POLY1305", "DHE-RSA-AES128-SHA256"])

# One key of every type of the option table.
EVERY_TYPE = """\
# a comment
; another
[wsgate]
app = it_probe
http = 127.0.0.1:9001
bind = 127.0.0.1:9002
fastcgi = unix:/tmp/wsgate-cfg.sock
threads = 3
max-requests = 500
max-headers = 50
keep-alive = 2.5
log-level = warning
socket-mode = 660
lazy = yes
fastcgi-stderr = off
pythonpath = /opt/one
pythonpath = /opt/two
script-name = "/mnt"
tls-ciphers = {ciphers}
""".format(ciphers=CIPHERS)


def settings(text):
    """--print-config's output as {key: [values]} (comments and the section skipped)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            k, _, v = line.partition(" = ")
            out.setdefault(k, []).append(v)
    return out


def print_config(*args, env=None):
    r = run_cli(*args, "--print-config", env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_every_type_from_a_file(tmp_path):
    path = tmp_path / "site.ini"
    path.write_text(EVERY_TYPE)
    s = settings(print_config("-c", str(path)))
    assert s["app"] == ["it_probe"]
    assert s["http"] == ["127.0.0.1:9001", "127.0.0.1:9002"]  # bind is http's alias
    assert s["fastcgi"] == ["unix:/tmp/wsgate-cfg.sock"]
    assert s["threads"] == ["3"] and s["max-requests"] == ["500"]
    assert s["max-headers"] == ["50"] and s["keep-alive"] == ["2.5"]
    assert s["log-level"] == ["warning"] and s["socket-mode"] == ["660"]
    assert s["lazy"] == ["yes"] and s["fastcgi-stderr"] == ["off"]
    assert s["pythonpath"] == ["/opt/one", "/opt/two"]
    assert s["script-name"] == ["/mnt"]
    assert s["tls-ciphers"] == [CIPHERS] and len(CIPHERS) > 250
    # what no source set keeps its default
    assert s["backlog"] == ["1024"] and s["read-timeout"] == ["60"]


def test_print_config_is_a_config_file(tmp_path):
    """What --print-config prints reads back as the same settings."""
    path = tmp_path / "site.ini"
    path.write_text(EVERY_TYPE)
    first = print_config("-c", str(path), "--threads", "5")
    again = tmp_path / "again.ini"
    again.write_text(first)
    second = print_config("-c", str(again))
    assert settings(first) == settings(second)
    assert "# from the command line\n" in first and "# from the config file " in first
    assert "# from the config file " in second


def test_sources_override_in_order(tmp_path):
    """file < WSGATE_ARGS < command line, for single values and for lists (a source that
    gives a repeatable option replaces the list of a weaker one)."""
    path = tmp_path / "site.ini"
    path.write_text("app = it_probe\nthreads = 2\nqueue = 10\nbacklog = 7\n"
                    "http = :9001\nhttp = :9002\nscgi = :9003\npythonpath = /f\n")
    env = {"WSGATE_ARGS": "--threads 4 --queue 20 --pythonpath '/e 1' --pythonpath /e2"}
    s = settings(print_config("-c", str(path), "--threads", "6", "--http", ":9100", env=env))
    assert s["threads"] == ["6"]          # command line over both
    assert s["queue"] == ["20"]           # WSGATE_ARGS over the file
    assert s["backlog"] == ["7"]          # the file over the default
    assert s["http"] == [":9100"]         # the command line's list replaces the file's
    assert s["scgi"] == [":9003"]         # ... and leaves the other listeners alone
    assert s["pythonpath"] == ["/e 1", "/e2"]  # quoted as a shell would
    # the app: the command line's argument over the file's key
    s = settings(print_config("-c", str(path), "it_echo"))
    assert s["app"] == ["it_echo"]
    # --config may come from WSGATE_ARGS too
    s = settings(print_config(env={"WSGATE_ARGS": "--config " + str(path)}))
    assert s["app"] == ["it_probe"] and s["threads"] == ["2"]


def test_flags_turn_off_from_every_source(tmp_path):
    """A flag on by default (h2, h2c) is turned off by --no-NAME on the command line or
    in WSGATE_ARGS and by NAME = false in a file; --print-config says NAME = false, and
    the plain --NAME of a stronger source turns it on again."""
    s = settings(print_config("it_probe"))
    assert s["h2"] == ["true"] and s["h2c"] == ["true"]
    s = settings(print_config("it_probe", "--no-h2", env={"WSGATE_ARGS": "--no-h2c"}))
    assert s["h2"] == ["false"] and s["h2c"] == ["false"]
    path = tmp_path / "site.ini"
    path.write_text("app = it_probe\nh2 = off\nh2c = false\n")
    out = print_config("-c", str(path))
    assert settings(out)["h2"] == ["off"] and settings(out)["h2c"] == ["false"]
    # the file's false, then the environment's and the command line's on again
    s = settings(print_config("-c", str(path), "--h2", env={"WSGATE_ARGS": "--h2c --no-h2"}))
    assert s["h2"] == ["true"] and s["h2c"] == ["true"]
    text = print_config("it_probe", "--no-lazy", "--no-h2c")
    assert "# from the command line\nh2c = false\nlazy = false\n" in text, text
    # what --print-config printed reads back as the same settings
    again = tmp_path / "again.ini"
    again.write_text(text)
    assert settings(print_config("-c", str(again))) == settings(text)


def test_a_server_runs_from_the_file(tmp_path, wsgate):
    path = tmp_path / "site.ini"
    path.write_text("[wsgate]\nscript-name = /mnt\nthreads = 3\n")
    srv = wsgate("it_probe", "-c", str(path), env={"WSGATE_ARGS": "--keep-alive 0"})
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=t(10))
    try:
        c.request("GET", "/mnt/x?y=1")  # HTTP/1.1: keep-alive unless the server says not
        r = c.getresponse()
        env = json.loads(r.read())["environ"]
        assert r.status == 200
        assert r.getheader("Connection", "").lower() == "close"  # keep-alive 0 from the env
    finally:
        c.close()
    assert env["SCRIPT_NAME"] == "/mnt" and env["PATH_INFO"] == "/x"


def script_name(srv, prefix):
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=t(10))
    try:
        c.request("GET", prefix + "/x", headers={"Connection": "close"})
        r = c.getresponse()
        return json.loads(r.read())["environ"]["SCRIPT_NAME"] if r.status == 200 else None
    finally:
        c.close()


@pytest.mark.slow
def test_a_reload_reads_the_file_again(tmp_path, wsgate):
    """SIGHUP re-executes wsgate with its command line, so the file is read again; a
    file that no longer reads fails the reload and the old settings keep serving."""
    path = tmp_path / "site.ini"
    path.write_text("script-name = /a\n")
    srv = wsgate("it_probe", "-c", str(path))
    assert script_name(srv, "/a") == "/a"
    path.write_text("script-name = /b\n")
    srv.proc.send_signal(signal.SIGHUP)
    wait_log(srv, r"reload complete")
    assert script_name(srv, "/b") == "/b"
    path.write_text("script-name = /c\nthreads = 0\n")
    srv.proc.send_signal(signal.SIGHUP)
    wait_log(srv, r"reload failed")
    assert "site.ini:2: invalid value '0' for threads" in srv.stderr_text()
    assert script_name(srv, "/b") == "/b"


def test_a_reload_says_which_listeners_it_does_not_change(tmp_path, wsgate):
    """A reload keeps the listening sockets it was handed: a listener added to or
    dropped from the file is not applied, and the error log says so for each."""
    old, new = free_port(), free_port()
    path = tmp_path / "site.ini"
    path.write_text("scgi = 127.0.0.1:%d\n" % old)
    srv = wsgate("it_probe", "-c", str(path))
    path.write_text("scgi = 127.0.0.1:%d\n" % new)
    srv.proc.send_signal(signal.SIGHUP)
    wait_log(srv, r"reload complete")
    text = srv.error_text()
    assert "--scgi 127.0.0.1:%d is not opened: a reload keeps" % new in text, text
    assert "--scgi 127.0.0.1:%d is no longer in the settings but keeps listening" % old in text
    assert "--http " not in text  # the harness's listener did not change
    assert can_connect(("127.0.0.1", old)) and not can_connect(("127.0.0.1", new))


@pytest.mark.parametrize("text,expected", [
    ("thread = 3\n", "site.ini:1: unknown key 'thread' (did you mean threads?)"),
    ("[wsgate]\nno-such-key = 1\n", "site.ini:2: unknown key 'no-such-key' (see wsgate --help)"),
    ("[uwsgi]\nthreads = 3\n", "site.ini:1: unknown section '[uwsgi]' (wsgate reads [wsgate])"),
    ("\n\nthreads\n", "site.ini:3: expected 'key = value', found 'threads'"),
    ("threads = many\n", "site.ini:1: invalid value 'many' for threads: not an integer"),
    ("threads = 0\n", "site.ini:1: invalid value '0' for threads: must be 1..1024"),
    ("max-body = -1\n", "site.ini:1: invalid value '-1' for max-body: not a non-negative integer"),
    ("read-timeout = 0\n", "site.ini:1: invalid value '0' for read-timeout: must be greater than 0"),
    ("lazy = sometimes\n", "site.ini:1: invalid value 'sometimes' for lazy: use true or false"),
    ("log-level = loud\n",
     "site.ini:1: invalid value 'loud' for log-level: use debug, info, warning, error or critical"),
    ("socket-mode = 999\n", "site.ini:1: invalid value '999' for socket-mode: not an octal mode"),
    ("script-name = /\n", "site.ini:1: invalid value '/' for script-name: leave the option out"),
    ("config = other.ini\n", "site.ini:1: 'config' is a command-line option, not a config file key"),
    ("help = yes\n", "site.ini:1: 'help' is a command-line option, not a config file key"),
    ("no-h2c = true\n", "site.ini:1: unknown key 'no-h2c' (say h2c = false)"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_file_errors_name_the_file_and_line(tmp_path, text, expected):
    path = tmp_path / "site.ini"
    path.write_text(text)
    r = run_cli("--pythonpath", APPS, "-c", str(path), "it_probe")
    err = assert_one_line_error(r, code=2)
    assert err.startswith("wsgate: " + str(tmp_path) + "/" + expected), err


def test_file_of_too_many_listeners_or_not_text(tmp_path):
    many = tmp_path / "many.ini"
    many.write_text("".join("http = 127.0.0.1:%d\n" % (9000 + i) for i in range(33)))
    r = run_cli("-c", str(many), "it_probe")
    assert assert_one_line_error(r, code=2) == (
        "wsgate: %s:33: too many listeners (at most 32)" % many)
    binary = tmp_path / "binary.ini"
    binary.write_bytes(b"threads = 2\n\0\n")
    r = run_cli("-c", str(binary), "it_probe")
    assert assert_one_line_error(r, code=2) == (
        "wsgate: --config %s: not a text file (a NUL byte)" % binary)


def test_file_that_cannot_be_read(tmp_path):
    r = run_cli("-c", str(tmp_path / "missing.ini"), "it_probe")
    assert assert_one_line_error(r, code=2) == (
        "wsgate: --config %s: No such file or directory" % (tmp_path / "missing.ini"))
    big = tmp_path / "big.ini"
    big.write_text("# " + "x" * (1024 * 1024) + "\n")
    r = run_cli("-c", str(big), "it_probe")
    assert assert_one_line_error(r, code=2).endswith(": larger than 1 MiB")


@pytest.mark.parametrize("value,expected", [
    ("--thr 3", "WSGATE_ARGS: unknown option --thr (did you mean --threads?)"),
    ("--threads", "WSGATE_ARGS: option --threads needs a value (see --help)"),
    ("--threads x", "WSGATE_ARGS: invalid value 'x' for threads: not an integer"),
    ("--threads '3", "WSGATE_ARGS: a quote is not closed"),
    ("--help", "WSGATE_ARGS: --help is for the command line"),
    ("it_probe it_echo", "WSGATE_ARGS: unexpected argument 'it_echo' after the application"),
])
def test_environment_errors(value, expected):
    r = run_cli("--pythonpath", APPS, "it_probe", env=dict(os.environ, WSGATE_ARGS=value))
    assert assert_one_line_error(r, code=2) == "wsgate: " + expected


def test_the_example_config_file_reads():
    """docs/systemd/wsgate.ini, the file the service unit and the package install."""
    s = settings(print_config("-c", os.path.join(REPO, "docs", "systemd", "wsgate.ini")))
    assert s["app"] == ["myproject.wsgi:application"] and s["processes"] == ["4"]
