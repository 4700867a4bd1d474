"""Process life: graceful SIGTERM/SIGINT with a request in flight, idle
keep-alive connections not holding up the exit, the access log line, and
wsgi.errors text in the error log."""
import os
import re
import signal
import threading
import time

import pytest
import requests

from wsgate_util import req, server_closed_fully, t, wait_access, wait_for, wait_log


def start_in_thread(fn):
    out = {}

    def run():
        try:
            out["result"] = fn()
        except Exception as e:  # reported by the test
            out["error"] = e
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_stop_finishes_in_flight_request(wsgate, tmp_path, sig):
    srv = wsgate("it_slow")
    mark = str(tmp_path / "started")
    url = srv.url("/inflight?t=2&mark=" + mark)
    th, out = start_in_thread(lambda: requests.get(url, timeout=t(30)))
    wait_for(lambda: os.path.exists(mark), t(10), what="the request to reach the app")
    t0 = time.monotonic()
    srv.signal(sig)
    # new connections are no longer served while the old request finishes
    wait_log(srv, r"%s: stopping gracefully \(" % signal.Signals(sig).name)
    refused = False
    try:
        r = requests.get(srv.url("/late"), timeout=t(3))
    except requests.RequestException:
        refused = True
    else:
        refused = r.status_code != 200
    th.join(t(30))
    assert not th.is_alive()
    assert "error" not in out, "in-flight request failed: %r" % out.get("error")
    r = out["result"]
    assert r.status_code == 200
    assert r.json()["path"] == "/inflight"
    rc = srv.wait_exit(t(15))
    assert rc == 0, "exit code %r after graceful stop" % rc
    assert time.monotonic() - t0 >= 1.5, "exited before the in-flight request could finish"
    assert refused, "a new request was served after the stop signal"


def test_stop_with_idle_keepalive_connection_is_prompt(wsgate):
    srv = wsgate("it_count")  # default --keep-alive 15
    c = srv.conn()
    try:
        c.send(req("GET", "/a"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        rc = srv.wait_exit(t(10))
        assert rc == 0, rc
        assert time.monotonic() - t0 < t(5), "an idle keep-alive connection held up the exit"
        assert c.closed_within(t(2))
    finally:
        c.close()


def test_stop_after_a_keepalive_response_closes_at_once(wsgate):
    """A stop that begins after a response's head went out with keep-alive: once the
    response is complete the connection is between requests, like an idle one, so it
    is closed at once (not lingered on) and the server exits without waiting."""
    srv = wsgate("it_stream")
    c = srv.conn()
    try:
        c.send(req("GET", "/?n=2&size=10&delay=0.5"))
        c._fill(time.monotonic() + t(10))  # the head and the first chunk are out
        srv.signal(signal.SIGTERM)
        r = c.read_response(timeout=t(10))
        assert r.status == 200 and not r.has_token("Connection", "close")
        # The server's FIN comes either way; then a lingering socket would take in our
        # bytes for 2 s, while a closed one resets at once. (Probing before the FIN
        # could make the server see unread bytes, and linger rightly.)
        assert c.closed_within(t(5))
        assert server_closed_fully(c.sock, 1.5), "the connection lingered after the stop"
    finally:
        c.close()
    assert srv.wait_exit(t(10)) == 0


def test_stop_when_idle(wsgate):
    srv = wsgate("it_probe")
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(t(10)) == 0
    assert time.monotonic() - t0 < t(5)


# combined log format plus a request time
ACCESS_RE = re.compile(
    r'^(?P<host>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<req>[^"]*)" (?P<status>\d{3}) '
    r'(?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)"(?P<rest>.*)$')


def parse_duration(rest):
    """The request time after the combined fields, in seconds: rt= of the time
    split (docs/operations.md), else a bare number at the end."""
    m = re.search(r"(?:^|\s)rt=(\d+\.\d+)(?:\s|$)", rest)
    if m:
        return float(m.group(1)), "s"
    m = re.search(r"(\d+(?:\.\d+)?)\s*(us|µs|ms|s)?\s*$", rest.strip())
    assert m, "no request time at the end of the access line: %r" % rest
    v = float(m.group(1))
    unit = m.group(2)
    if unit in ("us", "µs"):
        return v / 1e6, unit
    if unit == "ms":
        return v / 1e3, unit
    if unit == "s" or "." in m.group(1):
        return v, unit or "s"
    return v, None  # a bare integer: unit unknown


def test_access_log_line(wsgate):
    srv = wsgate("it_slow")
    r = requests.get(srv.url("/logged/path?t=0.3&body=777"),
                     headers={"User-Agent": "it-agent/1.0", "Referer": "http://ref.example/"},
                     timeout=t(10))
    assert r.status_code == 200 and len(r.content) == 777
    lines = wait_access(srv, "/logged/path")
    assert len(lines) == 1, lines
    m = ACCESS_RE.match(lines[0])
    assert m, "not combined format: %r" % lines[0]
    assert m.group("host") == "127.0.0.1"
    assert m.group("req") == "GET /logged/path?t=0.3&body=777 HTTP/1.1"
    assert m.group("status") == "200"
    assert m.group("bytes") == "777"
    assert m.group("referer") == "http://ref.example/"
    assert m.group("ua") == "it-agent/1.0"
    secs, unit = parse_duration(m.group("rest"))
    if unit is None:
        # bare integer: must be at least 0.3 s in ms or us
        assert secs >= 300, lines[0]
    else:
        assert 0.29 <= secs < t(10), lines[0]


def test_access_log_error_status(wsgate):
    srv = wsgate("it_count")
    srv.raw(b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400 from the server itself
    requests.get(srv.url("/fine"), timeout=t(10))
    wait_for(lambda: "/fine" in srv.access_text(), t(5), what="the access log line")
    text = srv.access_text()
    fine = [ln for ln in text.splitlines() if "/fine" in ln]
    assert fine and ACCESS_RE.match(fine[0]).group("status") == "200"


def test_access_log_to_stdout(wsgate):
    srv = wsgate("it_count", "--access-log", "-", access_log=False)
    requests.get(srv.url("/to-stdout"), timeout=t(10))
    wait_for(lambda: "/to-stdout" in srv._read(srv.stdout_path), t(5),
             what="the access line on stdout")


def test_wsgi_errors_in_error_log(wsgate):
    srv = wsgate("it_errors")
    r = requests.get(srv.url("/?msg=marker-7d1f"), timeout=t(10))
    assert r.text == "logged"
    wait_for(lambda: "it_errors writelines marker-7d1f b" in srv.error_text(), t(5),
             what="wsgi.errors text in the error log")
    text = srv.error_text()
    assert "it_errors write marker-7d1f" in text
    assert "it_errors writelines marker-7d1f a" in text
    assert text.index("it_errors write marker") < text.index("writelines marker-7d1f a") \
        < text.index("writelines marker-7d1f b")


def test_error_log_stderr_default(wsgate):
    # --error-log - (stderr): wsgi.errors text reaches stderr
    srv = wsgate("it_errors", "--error-log", "-", error_log=False)
    requests.get(srv.url("/?msg=on-stderr-42"), timeout=t(10))
    wait_for(lambda: "it_errors write on-stderr-42" in srv.stderr_text(), t(5),
             what="wsgi.errors text on stderr")


def test_app_traceback_in_error_log(wsgate):
    srv = wsgate("it_bad")
    r = requests.get(srv.url("/raise-before-start"), timeout=t(10))
    assert r.status_code == 500
    wait_for(lambda: "it_bad: raise before start_response" in srv.error_text(), t(5),
             what="the traceback")
    assert "Traceback" in srv.error_text()
