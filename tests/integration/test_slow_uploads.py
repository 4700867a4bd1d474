"""Slow uploads never hold a worker (docs/hostile-inputs.md C03; over HTTP, SCGI and
uwsgi): a request body with a
length up to --body-buffer is read by the loop before the app runs (in memory while
the process's --body-memory has room for it, else past 64 KiB into a temp file in
--temp-dir), so clients that trickle their bodies cost memory or files, not threads;
the app then reads the whole body at once. Larger bodies reach the app as
they arrive (tests elsewhere: test_input.py, test_timeouts.py)."""
import hashlib
import json
import os

import pytest

from wsgate_util import RawConn, req, t, wait_for, wait_read

BODY = 512 * 1024


def fds_in(pid, directory):
    """The open files of pid under directory (an O_TMPFILE shows as DIR/#N)."""
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith(directory + "/"):
            out.append(target)
    return out


@pytest.mark.parametrize("body_memory", ["0", None])
def test_a_collected_body_is_read_before_the_app_runs(wsgate, tmp_path, body_memory):
    """--body-memory 0: past 64 KiB the body goes to a temp file; by default (64 MiB
    for the process) it stays in memory and no file is made."""
    spool = tmp_path / "spool"
    spool.mkdir()
    srv = wsgate("it_echo", "--temp-dir", str(spool),
                 *(["--body-memory", body_memory] if body_memory else []))
    started = str(tmp_path / "started")
    body = os.urandom(BODY)
    c = RawConn(srv)
    try:
        c.send(req("POST", "/?mode=readn&n=65536&started=" + started,
                   [("Content-Length", str(BODY))]))
        for i in range(0, BODY - 4096, 64 * 1024):
            c.send(body[i:min(i + 64 * 1024, BODY - 4096)])
        wait_read(c.sock)
        # all but 4 KiB is in: the server holds it in a temp file, the app is not running
        assert not os.path.exists(started), "the app ran before its body was in"
        if body_memory == "0":
            assert fds_in(srv.pid, str(spool)), "no temp file in --temp-dir"
        else:
            assert not fds_in(srv.pid, str(spool)), "a temp file, yet memory had room"
        c.send(body[BODY - 4096:])
        r = c.read_response(timeout=t(10))
        assert r.status == 200
        out = json.loads(r.body)
        assert (out["len"], out["sha256"]) == (BODY, hashlib.sha256(body).hexdigest())
        wait_for(lambda: not fds_in(srv.pid, str(spool)), t(5), what="the temp file closed")
    finally:
        c.close()


def test_slow_uploaders_do_not_hold_the_workers(wsgate, tmp_path):
    srv = wsgate("it_echo", "--threads", "2", "--temp-dir", str(tmp_path))
    slow = []
    try:
        for _ in range(6):
            c = RawConn(srv)
            c.send(req("POST", "/?mode=readn", [("Content-Length", str(BODY))]))
            c.send(b"x" * (BODY // 2))  # half of it, then nothing for now
            slow.append(c)
        for c in slow:
            wait_read(c.sock)
        fast = RawConn(srv)
        fast.send(req("POST", "/?mode=readn", [("Content-Length", "5")], b"hello"))
        r = fast.read_response(timeout=t(5))
        assert r.status == 200 and json.loads(r.body)["len"] == 5
        fast.close()
        # the uploads finish and are answered whole
        for c in slow:
            c.send(b"y" * (BODY - BODY // 2))
        for c in slow:
            r = c.read_response(timeout=t(10))
            assert r.status == 200 and json.loads(r.body)["len"] == BODY
    finally:
        for c in slow:
            c.close()


@pytest.mark.parametrize("proto", ["scgi", "uwsgi"])
def test_scgi_and_uwsgi_collected_body(wsgate, tmp_path, proto):
    """The same over SCGI and uwsgi (CONTENT_LENGTH is always given): the app does not
    start before the last bytes of a 512 KiB body are in, then reads it whole."""
    import scgi_client
    import uwsgi_client
    from scgi_frontends import start_scgi_wsgate, start_uwsgi_wsgate
    if proto == "scgi":
        start, client, conn = start_scgi_wsgate, scgi_client, scgi_client.open_scgi
        make_vars, ok = scgi_client.cgi_vars, b"Status: 200"
    else:
        start, client, conn = start_uwsgi_wsgate, uwsgi_client, uwsgi_client.open_uwsgi
        make_vars, ok = uwsgi_client.uwsgi_vars, b"HTTP/1.1 200"
    srv = start(wsgate, "scgi_mux", "--temp-dir", str(tmp_path))
    started = str(tmp_path / "started")
    body = os.urandom(BODY)
    uri = "/echo/?mode=readn&n=65536&started=" + started
    with conn(srv) as c:
        data = client.encode(make_vars("POST", uri, content_length=str(BODY)), body)
        c.send(data[:-4096])
        wait_read(c.sock)
        assert not os.path.exists(started), "the app ran before its body was in"
        c.send(data[-4096:])
        closed, raw = c.closed_within(t(10))
    assert raw.startswith(ok) or ok in raw.split(b"\r\n\r\n", 1)[0], raw[:300]
    out = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert (out["len"], out["sha256"]) == (BODY, hashlib.sha256(body).hexdigest())
