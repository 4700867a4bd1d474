"""The worker pool: --threads N runs N requests at once, and no more."""
import json
import threading
import time

import pytest
import requests

from wsgate_util import req, t

pytestmark = pytest.mark.slow


def parallel_get(urls, timeout):
    results = [None] * len(urls)

    def one(i, u):
        try:
            results[i] = requests.get(u, timeout=timeout)
        except Exception as e:  # reported below
            results[i] = e
    ths = [threading.Thread(target=one, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout + 5)
    return results, time.monotonic() - t0


def test_eight_threads_eight_sleepers(wsgate):
    srv = wsgate("it_slow", "--threads", "8")
    results, took = parallel_get([srv.url("/s%d?t=1" % i) for i in range(8)], t(20))
    for r in results:
        assert isinstance(r, requests.Response), r
        assert r.status_code == 200
    assert took < t(2.5), "8 x 1 s requests on 8 threads took %.2fs" % took
    assert len({r.json()["thread"] for r in results}) == 8


def test_two_threads_bound_concurrency(wsgate):
    srv = wsgate("it_slow", "--threads", "2")
    results, took = parallel_get([srv.url("/s%d?t=1" % i) for i in range(4)], t(20))
    for r in results:
        assert isinstance(r, requests.Response) and r.status_code == 200, r
    assert took >= 1.9, "4 x 1 s requests on 2 threads took only %.2fs" % took
    assert took < t(3.5), took
    assert len({r.json()["thread"] for r in results}) == 2


def test_slow_request_does_not_block_fast_one(wsgate):
    srv = wsgate("it_slow", "--threads", "4")
    th_results = {}

    def slow():
        th_results["slow"] = requests.get(srv.url("/slow?t=%g" % t(2)), timeout=t(20))
    th = threading.Thread(target=slow, daemon=True)
    th.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    r = requests.get(srv.url("/fast"), timeout=t(20))
    fast = time.monotonic() - t0
    th.join(t(20))
    assert r.status_code == 200
    assert fast < t(1), "a fast request waited %.2fs behind a slow one" % fast
    assert th_results["slow"].status_code == 200


def test_many_connections_many_requests(wsgate):
    srv = wsgate("it_count", "--threads", "4")
    errors = []

    def client(k):
        try:
            s = requests.Session()
            for i in range(20):
                r = s.get(srv.url("/c%d-%d" % (k, i)), timeout=t(20))
                if r.text != "called GET /c%d-%d\n" % (k, i):
                    errors.append(r.text)
        except Exception as e:
            errors.append(repr(e))
    ths = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(16)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(t(60))
    assert errors == []
    log = json.loads(srv.exchange(req("GET", "/__log")).body)
    assert len(log) == 16 * 20


def test_idle_connections_do_not_pin_workers(wsgate):
    # Connections that never send a full request must not occupy worker threads.
    srv = wsgate("it_count", "--threads", "2")
    idle = [srv.conn() for _ in range(10)]
    try:
        for c in idle[:5]:
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # head never completed
        t0 = time.monotonic()
        r = requests.get(srv.url("/through"), timeout=t(10))
        assert r.text == "called GET /through\n"
        assert time.monotonic() - t0 < t(2)
    finally:
        for c in idle:
            c.close()
