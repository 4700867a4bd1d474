"""The access log's formats (issue 5, docs/operations.md): combined (the
default) ends with the time split `rt= q= gil= app= send=`; --access-log-format json
writes one JSON object per line with the request's fields and the same split. Lines
never interleave: many concurrent requests give exactly as many whole lines."""
import json
import re
import threading

import pytest
import requests

from conftest import run_cli
from fcgi_client import fcgi_get
from frontends import start_fcgi_wsgate
from wsgate_util import t, wait_access, wait_for

SPLIT_RE = re.compile(r' rt=(?P<total>\d+\.\d{6}) q=(?P<queue>\d+\.\d{6}) '
                      r'gil=(?P<gil>\d+\.\d{6}) app=(?P<app>\d+\.\d{6}) '
                      r'send=(?P<send>\d+\.\d{6})$')
COMBINED_RE = re.compile(
    r'^(?P<host>\S+) - - \[[^\]]+\] "(?P<req>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)"' + SPLIT_RE.pattern)

PARTS = ("queue", "gil", "app", "send")
EPS = 2e-6  # each part is rounded to the microsecond


def check_split(d):
    for k in PARTS + ("total",):
        assert d[k] >= 0, d
    assert sum(d[k] for k in PARTS) <= d["total"] + 4 * EPS, d


def test_combined_has_the_split(wsgate):
    srv = wsgate("it_stats")
    r = requests.get(srv.url("/comb/a?t=0.3&body=55"), headers={"User-Agent": "ua/1"},
                     timeout=t(10))
    assert r.status_code == 200
    (line,) = wait_access(srv, "/comb/a", 1)
    m = COMBINED_RE.match(line)
    assert m, line
    assert m.group("req") == "GET /comb/a?t=0.3&body=55 HTTP/1.1"
    assert m.group("status") == "200" and m.group("bytes") == "55"
    assert m.group("referer") == "-" and m.group("ua") == "ua/1"
    d = {k: float(m.group(k)) for k in PARTS + ("total",)}
    check_split(d)
    assert d["app"] >= 0.3 and d["total"] >= 0.3 and d["total"] < t(10)


def test_json_lines(wsgate):
    srv = start_fcgi_wsgate(wsgate, "it_stats", "--access-log-format", "json")
    r = requests.get(srv.url("/j/sleep?t=0.25&body=40"),
                     headers={"Referer": "http://r.example/", "User-Agent": 'ag"ent\\x'},
                     timeout=t(10))
    assert r.status_code == 200
    r = requests.post(srv.url("/status/404?body=3"), data=b"z" * 500, timeout=t(10))
    assert r.status_code == 404
    res = fcgi_get(srv, "/j/fcgi?body=9")
    assert res.status == 200
    text = srv.access_text()
    wait_for(lambda: srv.access_text().count("\n") >= 3, t(10), what="three access lines")
    text = srv.access_text()
    recs = [json.loads(ln) for ln in text.splitlines()]
    assert len(recs) == 3, text
    keys = {"time", "remote", "method", "path", "query", "version", "referer",
            "user_agent", "protocol", "conn_requests", "status", "bytes", "bytes_in", "pid",
            "total", "queue", "gil", "app", "send"}
    for rec in recs:
        assert set(rec) == keys, rec
        assert rec["conn_requests"] == 1, rec  # each on a connection of its own
        check_split(rec)
        assert rec["pid"] == srv.pid
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", rec["time"])
    by_path = {rec["path"]: rec for rec in recs}
    a = by_path["/j/sleep"]
    assert a["method"] == "GET" and a["query"] == "t=0.25&body=40"
    assert a["status"] == 200 and a["bytes"] == 40 and a["bytes_in"] == 0
    assert a["remote"] == "127.0.0.1" and a["protocol"] == "http"
    assert a["version"] == "HTTP/1.1"
    assert a["referer"] == "http://r.example/" and a["user_agent"] == 'ag"ent\\x'
    assert a["app"] >= 0.25 and a["total"] >= 0.25
    b = by_path["/status/404"]
    assert b["method"] == "POST" and b["status"] == 404 and b["bytes"] == 3
    assert b["bytes_in"] == 500
    f = by_path["/j/fcgi"]
    assert f["protocol"] == "fastcgi" and f["status"] == 200 and f["bytes"] == 9


def test_json_escapes_odd_bytes(wsgate):
    """obs-text, a tab, a quote and a backslash in a header value: the line stays
    ASCII and valid JSON, the value comes back as latin-1."""
    srv = wsgate("it_stats", "--access-log-format", "json")
    resp = srv.exchange(b"GET /odd/%ff?q=%22 HTTP/1.1\r\nHost: x\r\n"
                        b"User-Agent: \xe9\tx\"y\\z\r\n\r\n")
    assert resp.status == 200
    (line,) = wait_access(srv, "/odd/", 1)
    assert line.isascii(), line
    rec = json.loads(line)
    assert rec["path"] == "/odd/%ff" and rec["query"] == "q=%22"
    assert rec["user_agent"] == "\u00e9\tx\"y\\z"


def test_concurrent_lines_never_interleave(wsgate):
    srv = wsgate("it_stats", "--threads", "8", "--access-log-format", "json")
    n, per = 8, 25
    errors = []

    def client(k):
        s = requests.Session()
        try:
            for i in range(per):
                r = s.get(srv.url("/many/%d/%d?body=%d" % (k, i, 1000 + i)), timeout=t(10))
                assert r.status_code == 200
        except Exception as e:  # reported below
            errors.append(e)

    ths = [threading.Thread(target=client, args=(k,)) for k in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(t(60))
    assert not errors, errors
    lines = wait_access(srv, "/many/", n * per)
    assert len(lines) == n * per
    seen = set()
    for ln in lines:
        rec = json.loads(ln)
        k, i = rec["path"].split("/")[2:4]
        assert rec["bytes"] == 1000 + int(i)
        seen.add((k, i))
    assert len(seen) == n * per


def test_bad_access_log_format():
    p = run_cli("--access-log-format", "xml", "it_count")
    assert p.returncode != 0
    lines = p.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "access-log-format" in lines[0], p.stderr
