"""The keep-alive carry (gateway/carry.h): a worker that answered a request on a
keep-alive HTTP connection reads and runs the connection's next request itself when
the server is otherwise idle. These tests check that it happens (a prompt client's
requests stay on one thread, where a round trip through the loop and the queue
spreads them over the pool) and that every way the next request can turn out on the
worker ends as it would on the loop: in pieces, with a body still arriving, refused,
timed out, pipelined, or never sent."""
import collections
import signal
import time

import pytest

from wsgate_util import NoResponse, app_log, req, t, wait_mark, wait_read


@pytest.fixture
def thread_srv(wsgate):
    return wsgate("it_thread", "--threads", "8")


def who(r):
    pid, ident, body = r.body.split(b" ", 2)
    return int(pid), int(ident), body


def test_prompt_keepalive_requests_stay_on_one_thread(thread_srv):
    """Each request is sent as soon as the previous answer is in: the worker that
    answered waits for it and runs it. Through the loop, the queue hands the requests
    to whichever sleeping worker wakes, so they land on several threads."""
    c = thread_srv.conn()
    threads = collections.Counter()
    try:
        for i in range(40):
            c.send(req("GET", "/%d" % i))
            r = c.read_response()
            assert r.status == 200
            threads[who(r)[1]] += 1
    finally:
        c.close()
    top = threads.most_common(1)[0][1]
    assert top >= 30, "requests spread over the threads: %r" % threads


def test_pipelined_requests_answered_in_order_on_one_thread(thread_srv):
    c = thread_srv.conn()
    try:
        c.send(b"".join(req("POST", "/%d" % i, [("Content-Length", str(len(b"body-%d" % i)))],
                            body=b"body-%d" % i) for i in range(20)))
        seen = set()
        for i in range(20):
            r = c.read_response()
            assert r.status == 200
            _, ident, body = who(r)
            assert body == b"body-%d" % i
            seen.add(ident)
        assert len(seen) == 1, seen
        assert c.still_open(0.2)
    finally:
        c.close()


def test_next_head_in_pieces_after_a_carried_request(thread_srv):
    """The worker reads the first piece of the next head and hands the connection
    back; the loop reads the rest and parses it as a whole."""
    c = thread_srv.conn()
    try:
        c.send(req("GET", "/first"))
        assert c.read_response().status == 200
        c.send_pieces(req("POST", "/second", [("Content-Length", "3")], body=b"abc"), size=7,
                      delay=0.02)
        r = c.read_response()
        assert r.status == 200 and who(r)[2] == b"abc"
        c.send(req("GET", "/third"))
        assert c.read_response().status == 200
    finally:
        c.close()


def test_small_body_still_arriving_after_a_carried_head(thread_srv):
    """A head whose small body is not all in: the loop waits for the rest (a slow
    uploader costs a buffer, not a thread), whichever thread read the head."""
    c = thread_srv.conn()
    try:
        c.send(req("GET", "/first"))
        assert c.read_response().status == 200
        c.send(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
        wait_read(c.sock)  # the server has the head and half the body, then the rest comes
        c.send(b"56789")
        r = c.read_response()
        assert r.status == 200 and who(r)[2] == b"0123456789"
        assert c.still_open(0.2)
    finally:
        c.close()


def test_bad_next_request_gets_400_and_close(wsgate):
    srv = wsgate("it_count")
    c = srv.conn()
    try:
        c.send(req("GET", "/good"))
        assert c.read_response().status == 200
        c.send(b"GET /bad HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n" + req("GET", "/smuggled"))
        r = c.read_response()
        assert r.status == 400
        assert r.has_token("Connection", "close")
        assert c.closed_within(t(5))
    finally:
        c.close()
    assert [x["path"] for x in app_log(srv)] == ["/good"]


def test_partial_next_head_times_out_with_408(wsgate):
    srv = wsgate("it_thread", "--read-timeout", "1")
    c = srv.conn()
    try:
        c.send(req("GET", "/first"))
        assert c.read_response().status == 200
        c.send(b"GET /stalled HTTP/1.1\r\nHo")
        start = time.monotonic()
        r = c.read_response(timeout=t(10))
        assert r.status == 408
        assert time.monotonic() - start < t(5)
        assert c.closed_within(t(5))
    finally:
        c.close()


def test_client_closing_after_an_answer_frees_the_connection(thread_srv):
    for _ in range(50):
        c = thread_srv.conn()
        c.send(req("GET", "/once"))
        assert c.read_response().status == 200
        c.close()
    c = thread_srv.conn()
    try:
        c.send(req("GET", "/after"))
        assert c.read_response().status == 200
    finally:
        c.close()


CARRY_MAX = 64  # GW_CARRY_MAX of gateway/carry.h


def test_max_requests_counts_carried_requests(wsgate):
    """Carried requests count for --max-requests: one client on one keep-alive
    connection still retires its worker process after about N requests (the loop
    learns of them at least every CARRY_MAX requests), not after N hand-backs. The
    client then reconnects and reaches the other worker."""
    srv = wsgate("it_thread", "-w", "2", "--threads", "8", "--max-requests", "30")
    pids = []
    c = srv.conn()
    try:
        for i in range(200):
            try:
                c.send(req("GET", "/%d" % i))
                r = c.read_response()
            except (NoResponse, OSError):  # closed between requests by the retirement
                c.close()
                c = srv.conn()
                c.send(req("GET", "/%d" % i))
                r = c.read_response()
            assert r.status == 200
            pids.append(who(r)[0])
            if pids[-1] != pids[0]:
                break
            if r.has_token("Connection", "close"):
                assert c.closed_within(t(5))
                c.close()
                c = srv.conn()
    finally:
        c.close()
    assert pids[-1] != pids[0], "no retirement after %d requests" % len(pids)
    assert len(pids) <= 30 + CARRY_MAX + 2, len(pids)


def test_sigterm_while_a_connection_is_carried(wsgate, tmp_path):
    """A stop that begins while a worker owns a keep-alive connection: the request in
    flight is answered, the connection then closes and the server exits 0."""
    srv = wsgate("it_slow", "--threads", "4")
    mark = str(tmp_path / "in-app")
    c = srv.conn()
    try:
        c.send(req("GET", "/"))
        assert c.read_response().status == 200
        c.send(req("GET", "/?t=1&mark=" + mark))
        wait_mark(mark)
        srv.signal(signal.SIGTERM)
        r = c.read_response(timeout=t(10))
        assert r.status == 200
        assert r.has_token("Connection", "close")
        assert c.closed_within(t(5))
    finally:
        c.close()
    assert srv.wait_exit(t(10)) == 0
