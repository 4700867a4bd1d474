"""Turns bench/'s results.json into the page (benchmarks.md) and its chart
(benchmarks.png, matplotlib with the Agg backend).

    /usr/bin/python3 bench/report.py WORK/results.json --out DIR

run.py calls write() at the end of every run; running this file alone re-renders a
page from a saved results.json without measuring again.

Every figure on the page is a median over the rounds of a row. A ratio wsgate/peer is
the median over rounds of (wsgate's req/s / the peer's req/s in the same round), so
both numbers of each quotient come from runs a few seconds apart. System calls and
context switches per request come from the row's counting run when there is one
(results of runs before those figures existed have neither: "n/a").
"""
import argparse
import json
import os
import statistics

import rows
import servers

LABEL = {s.key: s.label for s in servers.ALL_SPECS.values()}
SHORT = {
    "wsgate": "wsgate", "uwsgi-http11": "uWSGI http11", "uwsgi-http": "uWSGI http",
    "gunicorn-gthread": "gunicorn gthread", "gunicorn-sync": "gunicorn sync",
    "waitress": "waitress", "tornado": "Tornado",
    "nginx-wsgate-fastcgi": "wsgate FastCGI", "nginx-wsgate-scgi": "wsgate SCGI",
    "nginx-wsgate-http": "wsgate HTTP", "nginx-wsgate-uwsgi": "wsgate uwsgi",
    "nginx-uwsgi-uwsgi": "uWSGI uwsgi",
    "nginx-uwsgi-fastcgi": "uWSGI FastCGI", "nginx-uwsgi-scgi": "uWSGI SCGI",
    "nginx-gunicorn-http": "gunicorn HTTP",
    "wsgate-https": "wsgate --https", "nginx-tls-wsgate": "nginx TLS → wsgate",
    "gunicorn-https": "gunicorn --certfile",
    "wsgate-h2": "wsgate h2", "wsgate-h2c": "wsgate h2c", "nginx-h2-wsgate": "nginx h2 → wsgate",
}
SHORT.update({"nginx-return": "nginx return 200", "wsgate-w2": "wsgate -w 2"})  # issue 18
NGINX_REF = "nginx-wsgate-fastcgi"
HTTPS_REF = "wsgate-https"
HTTPS_FRONT = "nginx-tls-wsgate"
H2_REF = "wsgate-h2"
# Issue 15's goal: HTTP/2 on one connection (this row, wsgate's h2c and h2) at least
# H2_GOAL of HTTP/1.1 over 64 connections on hello (the hello-64 row, wsgate; for h2
# over TLS also https-hello-64, wsgate --https), both rows of the same run.
H2_GOAL_ROW = "h2-hello-1x100"
H2_GOAL = 0.90


def save(results, path):
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


# ---------------------------------------------------------------- figures

def median_of(runs, field):
    vals = [r[field] for r in runs if r.get(field) is not None]
    return statistics.median(vals) if vals else None


def comparable(rk, key):
    known = servers.KNOWN_ISSUES.get((rk, key))
    return known is None or known["comparable"]


def stuck(entry, key):
    return any(r["stuck"] for r in entry["runs"].get(key, []))


def marks(rk, entry, key):
    """Footnote marks of a cell: * some connections waited the whole run, ‡ a known
    peer issue (see the findings)."""
    return (" \\*" if stuck(entry, key) else "") + (
        " ‡" if (rk, key) in servers.KNOWN_ISSUES else "")


def ratio(entry, ref, key):
    """Median over rounds of ref's req/s / key's req/s within the same round."""
    a = {r["round"]: r["rps"] for r in entry["runs"].get(ref, [])}
    b = {r["round"]: r["rps"] for r in entry["runs"].get(key, [])}
    q = [a[n] / b[n] for n in a if n in b and b[n] > 0]
    return statistics.median(q) if q else None


def fmt_rps(v):
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return "{:,.0f}".format(v) if v >= 100 else "{:.1f}".format(v)


def fmt_ms(us):
    if us is None:
        return "—"
    ms = us / 1000.0
    if ms < 10:
        return "%.2f" % ms
    if ms < 100:
        return "%.1f" % ms
    return "%.0f" % ms


def fmt_ratio(v):
    return "—" if v is None else "%.2f×" % v


def fmt_cpu_us(us):
    if us is None:
        return "—"
    return "%.1f" % us if us < 100 else "{:,.0f}".format(us)


def fmt_pct(frac):
    return "—" if frac is None else "%.0f%%" % (100.0 * frac)


def fmt_mib(kib):
    return "—" if kib is None else "%.1f" % (kib / 1024.0)


def fmt_per_req(v):
    if v is None:
        return "—"
    return "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "{:,.0f}".format(v)


def count_runs(entry, key):
    """The runs perf counted for a server of a row: its counting run, else its timed
    runs (smoke runs count those)."""
    return entry.get("count_runs", {}).get(key) or entry["runs"].get(key, [])


def per_req(entry, key, field, prefix=""):
    """Median system calls ("syscalls") or context switches ("switches") per request
    of a server in a row, formatted: n/a when perf counted nothing (not installed,
    not allowed, or results from before these figures), — when no request
    completed."""
    runs = count_runs(entry, key)
    v = median_of(runs, prefix + field + "_req")
    if v is not None:
        return fmt_per_req(v)
    if not runs or any(r.get(prefix + field) is None for r in runs):
        return "n/a"
    return "—"


def has_counts(results):
    """Whether perf was tried in this run (results before it was have no counts)."""
    return any("syscalls" in r for e in results["rows"].values() for key in e["servers"]
               for r in count_runs(e, key))


def perf_note(results):
    """Why perf counted nothing, when it did not (the first reason seen)."""
    for e in results["rows"].values():
        for key in e["servers"]:
            for r in count_runs(e, key):
                if r.get("perf_note"):
                    return r["perf_note"]
    return None


def ordered_rows(results):
    """The measured rows in the order of rows.ROWS (results.json sorts its keys)."""
    order = {k: i for i, k in enumerate(rows.ROW_KEYS)}
    return sorted(results["rows"], key=lambda k: order.get(k, len(order)))


def row_kind(results, rk):
    """"https" (an HTTPS row), "h2" (an HTTP/2 row), "nginx" (the nginx row) or "http"
    (the others)."""
    e = results["rows"][rk]
    return ("https" if e.get("tls") else "h2" if e.get("h2") else
            "nginx" if rk == "nginx" else "http")


def row_keys(results, kind):
    return [k for k in ordered_rows(results) if row_kind(results, k) == kind]


# ---------------------------------------------------------------- page parts

def machine_section(results):
    m, s = results["meta"], results["settings"]
    out = ["## Machine and settings", "",
           "| | |", "|---|---|",
           "| CPU | %s |" % m["cpu"],
           "| cores | %s |" % m["cores"],
           "| kernel | %s |" % m["kernel"],
           "| memory | %.1f GiB |" % m["mem_gib"],
           "| OS | %s |" % m["os"],
           "| load average (1, 5, 15 min) before / after | %s / %s |" % (
               ", ".join("%.2f" % x for x in m["load_before"]),
               ", ".join("%.2f" % x for x in m.get("load_after", ()))),
           "| run | started %s, took %d min %02d s |" % (
               m.get("started", "?"), m.get("seconds", 0) // 60, m.get("seconds", 0) % 60),
           "| per row and server | %s, %d s warm-up, then %d round(s) of %d s%s |" % (
               "smoke run" if s["smoke"] else "full run", s["warmup"], s["repeat"],
               s["duration"], ", then a %d s counting run" % s["count_run"]
               if s.get("count_run") else ""),
           "", "Versions:", "", "| program | version |", "|---|---|"]
    order = ["wsgate", "uWSGI", "gunicorn", "waitress", "Tornado", "Flask", "nginx", "wrk",
             "OpenSSL", "ab", "h2load", "perf", "Python"]
    out += ["| %s | %s |" % (k, m["versions"][k])
            for k in sorted(m["versions"], key=lambda k: order.index(k) if k in order else 99)]
    return out


def rps_rows(results, keys, present, ref, ref_marks):
    """The rows of a req/s table: each server's median, and beside it the reference
    server's req/s divided by its own (in brackets); the reference cell in bold."""
    out = []
    for rk in keys:
        e = results["rows"][rk]
        cells = []
        for k in present:
            v = median_of(e["runs"].get(k, []), "rps")
            if v is None:
                cells.append("—")
            elif k == ref:
                cells.append("**%s**" % fmt_rps(v) + (marks(rk, e, k) if ref_marks else ""))
            elif ref not in e["runs"] or not comparable(rk, k) or v == 0:
                cells.append(fmt_rps(v) + marks(rk, e, k))
            else:
                cells.append("%s (%s)%s" % (fmt_rps(v), fmt_ratio(ratio(e, ref, k)),
                                            marks(rk, e, k)))
        out.append("| %s | %s |" % (rk, " | ".join(cells)))
    return out


def section_servers(results, kind, specs):
    """The rows of one kind in this run, and the servers of specs that ran in any of
    them (in specs' order)."""
    keys = row_keys(results, kind)
    present = [s.key for s in specs if any(s.key in results["rows"][k]["servers"] for k in keys)]
    return keys, present


def summary_section(results):
    keys, present = section_servers(results, "http", servers.HTTP_SERVERS)
    if not keys:
        return []
    out = ["## Requests per second", "",
           "Median req/s of each server over the rounds; in brackets wsgate's req/s "
           "divided by that server's (above 1: wsgate is faster), taken as the median over "
           "the rounds of the quotient within one round, so both sides of each quotient "
           "come from runs seconds apart. \\* some of wrk's connections were never served "
           "during a run (its figures describe only the others); ‡ a known flaw of that "
           "server in that row (see the findings).", "",
           "| row | " + " | ".join(SHORT[k] for k in present) + " |",
           "|---|" + "---:|" * len(present)]
    return out + rps_rows(results, keys, present, "wsgate", ref_marks=False)


def counts_section(results):
    keys = row_keys(results, "http")
    if not keys or not has_counts(results):
        return []
    present = [s.key for s in servers.HTTP_SERVERS
               if any(s.key in results["rows"][k]["servers"] for k in keys)]
    cr = results["settings"].get("count_run")
    how = ("in a %d s run of its own after the row's timed runs (with the same load; perf "
           "costs the server time on every system call, so the timed runs go uncounted)"
           % cr if cr else "during the timed runs")
    out = ["## System calls and context switches per request", "",
           "What the server's processes (all their threads) did per request wrk completed, "
           "as `perf stat -e raw_syscalls:sys_enter,context-switches -p PIDS` counts them "
           "%s: system calls / context switches. They depend far less than req/s on the "
           "machine and on other work sharing it (though the load changes how many events "
           "one wait returns, and so a server's system calls per request, a little); on "
           "loopback a system call costs about 1 µs, so in the hello rows they decide the "
           "throughput. — : no request completed." % how]
    note = perf_note(results)
    if note:
        out.append("n/a: perf counted nothing (%s)." % note)
    return out + counts_with_front(results, keys, present, "wsgate")


def slow_cells(e, runs):
    """The slow-clients row's own cells: how many slow clients the server had answered
    when wrk started (the fewest over the runs; the others waited: queued in its
    accept queue, or accepted and not answered), and its RSS while it held them (the
    most over the runs)."""
    n = e["slow"]["clients"]
    answered = min(r["slow_before"]["answered"] for r in runs)
    worst = min(runs, key=lambda r: r["slow_before"]["answered"])["slow_before"]
    rest = ["%d %s" % (worst[k], k) for k in ("queued", "accepted", "closed", "bad")
            if worst.get(k)]
    held = max(max(r.get("rss_slow_kib", 0), r.get("rss_run_kib", 0)) for r in runs)
    return ["%d of %d%s" % (answered, n, " (%s)" % ", ".join(rest) if rest else ""),
            fmt_mib(held)]


def detail_table(results, rk, ref):
    e = results["rows"][rk]
    sleep = e.get("ideal")
    nginx = rk == "nginx"
    tls = bool(e.get("tls"))
    h2 = bool(e.get("h2"))
    fronted = any(servers.ALL_SPECS[k].front for k in e["servers"])
    handshakes = bool(e.get("s_time"))
    head = ["server", "req/s (min–max)"]
    if nginx:
        head += ["wsgate FastCGI / it", "wsgate same protocol / it"]
    else:
        head += ["%s / it" % SHORT[ref]]
    if sleep:
        head += ["% of ideal"]
    slow = e.get("slow")
    head += ["p50 ms", "p99 ms"]
    if h2:
        head += ["mean ms", "max ms"]
    head += ["MB/s", "errors", "queue", "stuck"]
    head += ["slow clients answered", "RSS held MiB"] if slow else ["RSS MiB"]
    if handshakes:
        head += ["resumed"]
    head += ["CPU µs/req", "CPU 0 / 1 busy", "syscalls/req", "switches/req"]
    if (tls or h2) and fronted:
        head += ["nginx CPU µs/req"]
    if fronted:
        head += ["nginx syscalls / switches per req"]
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for k in e["servers"]:
        runs = e["runs"].get(k, [])
        if not runs:
            out.append("| %s | no run |%s" % (LABEL[k], " |" * (len(head) - 2)))
            continue
        rps = [r["rps"] for r in runs]
        cells = [LABEL[k] + marks(rk, e, k),
                 "%s (%s–%s)" % (fmt_rps(median_of(runs, "rps")), fmt_rps(min(rps)),
                                 fmt_rps(max(rps)))]
        ok = comparable(rk, k)
        if nginx:
            pair = servers.ALL_SPECS[k].pair
            cells.append("" if k == ref else fmt_ratio(ratio(e, ref, k) if ok else None))
            cells.append("" if pair is None else fmt_ratio(ratio(e, pair, k) if ok else None))
        else:
            cells.append("" if k == ref else fmt_ratio(ratio(e, ref, k) if ok else None))
        if sleep:
            cells.append("%.0f%%" % (100.0 * median_of(runs, "rps") / sleep))
        errors = sum(r["errors"] for r in runs)
        served = [r for r in runs if r["requests"]]  # wrk's latencies of no request: 0
        cells += [fmt_ms(median_of(served, "p50_us")), fmt_ms(median_of(served, "p99_us"))]
        if h2:
            cells += [fmt_ms(median_of(served, "lat_mean_us")),
                      fmt_ms(max((r["lat_max_us"] for r in served
                                  if r.get("lat_max_us") is not None), default=None))]
        cells += ["%.0f" % median_of(runs, "mbps"),
                  "**%d**" % errors if errors else "0",
                  "%d" % max(r["queue"] for r in runs),
                  "%d" % max(r["stuck"] for r in runs)]
        cells += slow_cells(e, runs) if slow else [fmt_mib(e["rss_kib"].get(k))]
        if handshakes:
            cells.append("%s of %s" % ("{:,}".format(sum(r.get("resumed", 0) for r in runs)),
                                       "{:,}".format(sum(r["requests"] for r in runs))))
        cells += [fmt_cpu_us(median_of(runs, "cpu_us_req")),
                  "%s / %s" % (fmt_pct(median_of(runs, "server_cpu_busy")),
                               fmt_pct(median_of(runs, "client_cpu_busy"))),
                  per_req(e, k, "syscalls"), per_req(e, k, "switches")]
        front = servers.ALL_SPECS[k].front
        if (tls or h2) and fronted:
            cells.append(fmt_cpu_us(median_of(runs, "front_cpu_us_req")) if front else "")
        if fronted:
            cells.append("%s / %s" % (per_req(e, k, "syscalls", "front_"),
                                      per_req(e, k, "switches", "front_")) if front else "")
        out.append("| " + " | ".join(cells) + " |")
    return out


def rows_section(results):
    out = ["## Rows in detail", "",
           "p50/p99: latency percentiles from wrk. errors: wrk's socket errors (connect, "
           "read, write, timeout) plus responses with a status of 400 or more, summed over "
           "the rounds. queue: the most connections seen in the server's accept queue "
           "(sampled at 50% and 75% of each run); stuck: connections that sat in it at both "
           "samples, i.e. were not served for at least a quarter of the run (the most over "
           "the rounds). wrk reports only requests that complete, so a connection a "
           "server never accepts shows in no other column. RSS: resident memory of the "
           "server's process tree after the row's last run. CPU µs/req: the CPU time "
           "(user + system) of the server's process tree during a run divided by the "
           "requests completed, what a request costs the server whichever side was the "
           "bottleneck. CPU 0 / 1 busy: how busy the server's CPU and the client's "
           "(wrk's, and nginx's behind nginx) were; a row with CPU 1 near 100% and CPU 0 "
           "well below measures the client more than the server. syscalls/req, "
           "switches/req: see above (system calls and context switches per request)."]
    for rk in row_keys(results, "http"):
        e = results["rows"][rk]
        out += ["", "### %s — %s" % (rk, e["title"]), "",
                "App `bench/apps/%s.py`; threads: %d; load: `%s`." % (
                    e["app"], e["threads"], e["wrk"])]
        if e.get("ideal"):
            out.append("Ideal for %d threads: %d / 0.05 s = %s req/s." % (
                e["threads"], e["threads"], fmt_rps(e["ideal"])))
        if e.get("slow"):
            out.append(slow_text(e))
        out += [""] + detail_table(results, rk, "wsgate")
    return out


def slow_text(e):
    sl = e["slow"]
    return ("Before each timed run, %d other clients (receive buffer %d bytes, set before "
            "connect) each ask for `%s`, one %d MiB bytes object, and never read; they "
            "stay open during the run and are reset after it. wrk starts once the server "
            "has answered all of them (response bytes arrived), or once nothing about them "
            "has changed for %.1f s (its threads are blocked on the ones it answered; the "
            "others wait). slow clients answered: how many had response bytes when wrk "
            "started (the fewest over the runs), and what the others were: queued (not "
            "accepted), accepted (no answer). RSS held: the server's RSS while it held "
            "them (the most over the runs). The servers get no more threads than in the "
            "hello rows: one thread a slow client blocks is one thread fewer for wrk."
            % (sl["clients"], sl["rcvbuf"], sl["path"], sl["bytes"] >> 20, sl["settle_s"]))


def nginx_section(results):
    if "nginx" not in results["rows"]:
        return []
    e = results["rows"]["nginx"]
    return ["## Behind nginx", "",
            "wrk loads nginx (1 worker process, pinned to CPU 1 with wrk), which passes "
            "each request to the backend on CPU 0 with the hello app and %d threads. "
            "One server block per backend (`bench/nginx.conf.in`); connections to the "
            "backend are kept for FastCGI (`fastcgi_keep_conn on`) and HTTP "
            "(`proxy_http_version 1.1`), while nginx opens one per request for SCGI and "
            "the uwsgi protocol. RSS, CPU µs/req, syscalls/req and switches/req are the "
            "backend's only; nginx's own system calls and context switches per request "
            "(its master and worker process) are in the last column. Load: `%s` against "
            "nginx." % (e["threads"], e["wrk"]), "",
            "\"wsgate same protocol / it\" compares uWSGI's FastCGI, SCGI and uwsgi protocol "
            "(`uwsgi --socket`, uWSGI's own) with wsgate's (`--fastcgi`, `--scgi`, "
            "`--uwsgi`), and gunicorn's HTTP with wsgate's.",
            ""] + detail_table(results, "nginx", NGINX_REF)


def _sum_per_req(e, k, field):
    """A fronted server's figure per request with nginx's added (None when either is
    missing)."""
    runs = count_runs(e, k)
    own, front = median_of(runs, field + "_req"), median_of(runs, "front_" + field + "_req")
    return None if own is None or front is None else own + front


def https_section(results):
    keys, present = section_servers(results, "https", servers.HTTPS_SERVERS)
    if not keys:
        return []
    sessions = sorted({v for k in keys for v in results["rows"][k]["tls"]["session"].values()})
    cert = results["rows"][keys[0]]["tls"]["cert"]
    ab_tls = sorted({r["tls"] for k in keys for runs in results["rows"][k]["runs"].values()
                     for r in runs if r.get("tls")})
    ab_seen = ("; ab, which prints what it negotiated, reports %s" % " and ".join(
        "`%s`" % x for x in ab_tls)) if ab_tls else ""
    out = ["## HTTPS", "",
           "wsgate terminating TLS itself (`--https`, [deploy-tls.md](deploy-tls.md)) "
           "against gunicorn gthread with `--certfile`/`--keyfile` (Python's `ssl` "
           "module) and against nginx terminating TLS in front of wsgate's plain HTTP "
           "listener (`proxy_pass`, connections to wsgate kept, `bench/nginx-tls.conf.in`): "
           "does a deployment still need nginx in front to be fast? All three get the same "
           "certificate, %s, made by the harness with the openssl CLI (see the exact "
           "commands). All allow TLS 1.2 and 1.3; with Python's `ssl` (the checks before the "
           "runs) every server negotiated %s, and wrk, `openssl s_time` and ab offer the "
           "same versions and suites (the same OpenSSL 3 with its defaults; they check no "
           "certificate)%s. wsgate and gunicorn run as "
           "in the other rows, one process on CPU 0 with the row's threads; nginx runs as "
           "in the nginx row: one worker process, pinned to CPU 1 together with the load "
           "generator, with wsgate (plain HTTP, the same threads) on CPU 0 behind it. "
           "nginx in front thus spends time of both CPUs on a request: its CPU µs/req, "
           "system calls and context switches are given for wsgate and for nginx "
           "separately, and their sum is what that deployment pays per request."
           % (cert, " and ".join("`%s`" % x for x in sessions) or "—", ab_seen), "",
           "- https-hello-1, https-hello-64: keep-alive connections, one handshake each, "
           "then only records: the cost of encrypting small responses.",
           "- https-big: 1 MiB responses on 16 connections: bulk encryption (wsgate and "
           "nginx encrypt in user space; this machine's kernel has no kernel TLS).",
           "- https-newconn: wrk with `Connection: close` (`bench/close.lua`): every "
           "request on a new TCP connection and TLS handshake, 16 connections at a time. "
           "wrk keeps the session of the connection it closed and offers it on the next "
           "one (checked by hand with wsgate's `SSL_SESSION_RESUMED`: all but each "
           "connection's first request came on a resumed session), so these handshakes "
           "are resumptions wherever the server resumes (a TLS 1.3 resumption still makes "
           "an ECDHE key exchange; it saves the certificate and its signature). wrk has "
           "no way to turn resumption off.",
           "- https-newconn-full: ab (ApacheBench), 16 connections, each request "
           "`GET / HTTP/1.0` on a new connection: ab never offers a session again, so "
           "every handshake is a full one (checked by hand with wsgate's "
           "`SSL_SESSION_RESUMED`: none resumed). ab's latency percentiles are whole "
           "milliseconds.",
           "- https-handshake, https-resume: `openssl s_time -new` and `-reuse`, one "
           "connection at a time, each a TCP connection, a handshake, `GET / HTTP/1.0` "
           "and the response read until the server closes: handshakes/s with and without "
           "resumption. `-new` makes every handshake a full one (a new session each "
           "time); `-reuse` offers the first connection's session every time; the "
           "resumed column counts the connections s_time marked as resumed. s_time "
           "reports no latencies (—). One connection at a time, client and server take "
           "turns: these rows measure how long a handshake takes, not how many a server "
           "can make in parallel (https-newconn and https-newconn-full do that), and they "
           "are "
           "the rows most sensitive to other work on the machine (each step waits for "
           "its CPU)."]
    out += ["", "Median req/s (handshakes/s in the handshake rows); in brackets wsgate "
            "`--https`'s req/s divided by that server's, as in the first table (\\* and ‡ "
            "too).", "",
            "| row | " + " | ".join(SHORT[k] for k in present) + " |",
            "|---|" + "---:|" * len(present)]
    out += rps_rows(results, keys, present, HTTPS_REF, ref_marks=True)
    out += [""] + https_findings(results, keys)
    if has_counts(results):
        out += counts_with_front(results, keys, present, HTTPS_REF,
                                 "System calls / context switches per request (as in the first "
                                 "table of counts; for nginx in front: wsgate's, plus nginx's, = "
                                 "their sum):")
    for rk in keys:
        e = results["rows"][rk]
        out += ["", "### %s — %s" % (rk, e["title"]), "",
                "App `bench/apps/%s.py`; threads: %d; load: `%s`." % (
                    e["app"], e["threads"], e["wrk"]), ""]
        out += detail_table(results, rk, HTTPS_REF)
    return out


def counts_with_front(results, keys, present, ref, intro=None):
    """The system calls / context switches table of a section (after intro, a line of
    its own), ref's cells in bold; a server behind nginx gets nginx's counts added."""
    out = ([""] if intro is None else ["", intro, ""]) + [
        "| row | " + " | ".join(SHORT[k] for k in present) + " |", "|---|" + "---:|" * len(present)]
    for rk in keys:
        e = results["rows"][rk]
        cells = []
        for k in present:
            if k not in e["servers"]:
                cells.append("")
                continue
            cell = "%s / %s" % (per_req(e, k, "syscalls"), per_req(e, k, "switches"))
            if servers.ALL_SPECS[k].front:
                cell += " + %s / %s = %s / %s" % (
                    per_req(e, k, "syscalls", "front_"), per_req(e, k, "switches", "front_"),
                    fmt_per_req(_sum_per_req(e, k, "syscalls")),
                    fmt_per_req(_sum_per_req(e, k, "switches")))
            cells.append("**%s**" % cell if k == ref else cell)
        out.append("| %s | %s |" % (rk, " | ".join(cells)))
    return out


def https_findings(results, keys):
    """wsgate's own HTTPS against nginx in front, row by row (issue 14's goal: at least
    as fast on every row), the CPU each spends per request, and who resumes."""
    met, missed, cpu = [], [], []
    for rk in keys:
        e = results["rows"][rk]
        q = ratio(e, HTTPS_REF, HTTPS_FRONT)
        if q is None:
            continue
        (met if q >= 1.0 else missed).append("%s %s" % (rk, fmt_ratio(q)))
        runs_w, runs_n = e["runs"].get(HTTPS_REF, []), e["runs"].get(HTTPS_FRONT, [])
        w = median_of(runs_w, "cpu_us_req")
        nb, nf = median_of(runs_n, "cpu_us_req"), median_of(runs_n, "front_cpu_us_req")
        if w is not None and nb is not None and nf is not None:
            cpu.append("%s %s vs %s + %s" % (rk, fmt_cpu_us(w), fmt_cpu_us(nb), fmt_cpu_us(nf)))
    if not met and not missed:
        return []
    out = ["**wsgate's own HTTPS vs nginx in front.** The goal is wsgate `--https` at least "
           "as fast as nginx terminating TLS in front of wsgate on every row: %s (wsgate "
           "`--https` / nginx in front, median of the per-round quotients)." % (
               "met on every one of the %d rows" % len(met) if not missed else
               "met on %d of %d rows; not on %s" % (len(met), len(met) + len(missed),
                                                     ", ".join(missed)))]
    if met:
        out[-1] += " At least as fast: %s." % ", ".join(met)
    if cpu:
        out += ["", "CPU time per request, µs, wsgate `--https` vs nginx in front (wsgate + "
                "nginx): %s. wsgate alone has one CPU; nginx in front spreads a request "
                "over two, wsgate on CPU 0 and nginx on CPU 1, which it shares with the "
                "load generator (the nginx row's convention, kept here): where a row's "
                "table shows CPU 1 near 100%% for nginx in front, nginx was short of CPU, "
                "and with a core of its own it would serve more." % "; ".join(cpu)]
    resume = [k for k in keys if results["rows"][k].get("s_time") == "-reuse"]
    for rk in resume:
        e = results["rows"][rk]
        never = [LABEL[k] for k in e["servers"]
                 if e["runs"].get(k) and not any(r.get("resumed") for r in e["runs"][k])]
        if never:
            out += ["", "%s: %s resumed no session offered to it: every handshake was a "
                    "full one.%s" % (rk, " and ".join(never), (
                        " gunicorn 20.1's gthread worker wraps every accepted connection "
                        "with `ssl.wrap_socket()`, a new SSL context (certificate and key "
                        "loaded again) each time, so no session ticket it issued can be "
                        "decrypted by the next connection's context."
                        if "gunicorn-https" in [k for k in e["servers"]
                                                if LABEL[k] in never] else ""))]
    return out


def h2_section(results):
    keys, present = section_servers(results, "h2", servers.H2_SERVERS)
    if not keys:
        return []
    out = ["## HTTP/2", "",
           "wsgate's own HTTP/2 ([http.md](http.md#http2)): h2 over TLS "
           "(`--https --h2`, ALPN; the HTTPS rows' certificate) and h2c with prior "
           "knowledge on its plain listener (`--http --h2c`), against nginx terminating "
           "h2 in front of wsgate's plain HTTP/1.1 listener (`listen ... ssl http2`, "
           "`proxy_pass` with the connections to wsgate kept, `bench/nginx-tls.conf.in` as "
           "in the HTTPS rows, nginx's HTTP/2 defaults). The load is h2load "
           "(nghttp2-client), one thread on CPU 1, CONNS connections × STREAMS concurrent "
           "streams each (`-c`, `-m`), for the run's duration (`-D`); over `https://` it "
           "negotiates h2 by ALPN, over `http://` it speaks h2c with prior knowledge "
           "(a run in which h2load reports another protocol fails). wsgate and nginx run "
           "as in the HTTPS rows "
           "(nginx on CPU 1 with the load generator); every server answered an HTTP/2 "
           "request (python3-h2) with the right body before it was timed. wsgate allows "
           "100 concurrent streams per connection, nginx 128: the sleep row spreads its "
           "256 streams over 4 connections.",
           "",
           "- h2-hello-1x100: hello, 1 connection × 100 streams: the goal row (below).",
           "- h2-hello-64x10: hello, 64 connections × 10 streams.",
           "- h2-big: one 1 MiB bytes object, 1 connection × 16 streams: flow control "
           "and bulk framing on one connection (wsgate copies HTTP/2 bodies: no "
           "`sendfile` under HTTP/2's framing).",
           "- h2-sleep-256: the sleep app (50 ms) with 256 threads, 4 connections × 64 "
           "streams: 256 requests in flight, ideally 5,120 req/s.",
           "",
           "Latency: p50 and p99 from h2load's per-request log (`--log-file`: the time "
           "from a request's start to the end of its response, for every request that got "
           "a status); mean and max from its summary (max: the most over the rounds). "
           "errors: h2load's failed requests (streams reset or refused, connections lost, "
           "statuses of 400 and more), summed over the rounds. The other columns as in "
           "the rows above; for nginx in front, its own CPU time, system calls and "
           "context switches per request in the last columns.",
           "", "Median req/s; in brackets wsgate h2's req/s divided by that server's, as in "
           "the first table.", "",
           "| row | " + " | ".join(SHORT[k] for k in present) + " |",
           "|---|" + "---:|" * len(present)]
    out += rps_rows(results, keys, present, H2_REF, ref_marks=True)
    goal = h2_goal(results)
    if goal:
        out += [""] + goal
    if has_counts(results):
        out += counts_with_front(results, keys, present, H2_REF,
                                 "System calls / context switches per request (for nginx in "
                                 "front: wsgate's, plus nginx's, = their sum):")
    for rk in keys:
        e = results["rows"][rk]
        out += ["", "### %s — %s" % (rk, e["title"]), "",
                "App `bench/apps/%s.py`; threads: %d; load: `%s` (h2c: `http://`)." % (
                    e["app"], e["threads"], e["wrk"])]
        if e.get("ideal"):
            out.append("Ideal for %d threads: %d / 0.05 s = %s req/s." % (
                e["threads"], e["threads"], fmt_rps(e["ideal"])))
        out += [""] + detail_table(results, rk, H2_REF)
    return out


def h2_goal(results):
    """Issue 15's goal line: wsgate's HTTP/2 on one connection (H2_GOAL_ROW) against
    its HTTP/1.1 over 64 connections (hello-64; for h2 over TLS, https-hello-64 too),
    medians of rows measured minutes apart in the same run."""
    e = results["rows"].get(H2_GOAL_ROW)
    if e is None:
        return []
    pairs = [("wsgate-h2c", "h2c", "hello-64", "wsgate", "HTTP/1.1 (wrk, plain)"),
             ("wsgate-h2", "h2", "hello-64", "wsgate", "HTTP/1.1 (wrk, plain)"),
             ("wsgate-h2", "h2", "https-hello-64", "wsgate-https",
              "HTTP/1.1 over TLS (wrk, `--https`)")]
    parts, verdicts = [], []
    for key, name, rk1, key1, what in pairs:
        h2 = median_of(e["runs"].get(key, []), "rps")
        e1 = results["rows"].get(rk1)
        h1 = median_of(e1["runs"].get(key1, []), "rps") if e1 else None
        if h2 is None or not h1:
            continue
        q = h2 / h1
        verdicts.append(q >= H2_GOAL)
        parts.append("%s %s req/s / %s %s %s req/s = **%.0f%%** (%s)" % (
            name, fmt_rps(h2), rk1, what, fmt_rps(h1), 100.0 * q,
            "met" if q >= H2_GOAL else "not met"))
    if not parts:
        return ["**HTTP/2 on one connection vs HTTP/1.1 over 64.** The goal (%s at least "
                "%.0f%% of hello-64's req/s) needs the hello-64 row in the same run; it was "
                "not measured." % (H2_GOAL_ROW, 100 * H2_GOAL)]
    return ["**HTTP/2 on one connection vs HTTP/1.1 over 64.** The goal: wsgate's "
            "HTTP/2 with 1 connection × 100 streams (%s) at least %.0f%% of its HTTP/1.1 "
            "over 64 connections on hello (medians over the rounds of rows run minutes "
            "apart in this run, not per-round quotients): %s. %s" % (
                H2_GOAL_ROW, 100 * H2_GOAL, "; ".join(parts),
                "Met on all %d." % len(parts) if all(verdicts) else
                "Met on %d of %d." % (sum(verdicts), len(parts)))]


def memory_section(results):
    mem = results.get("memory")
    if not mem:
        return []
    out = ["## Memory", "",
           "Idle RSS: each server with the hello app and %d threads, after one request "
           "(summed over the process tree: gunicorn's arbiter and its worker)." % mem["threads"],
           "", "| server | idle RSS MiB |", "|---|---:|"]
    for spec in servers.HTTP_SERVERS:
        if spec.key in mem["idle_kib"]:
            out.append("| %s | %s |" % (spec.label, fmt_mib(mem["idle_kib"][spec.key])))
    ka = mem.get("keepalive")
    if ka:
        delta = ka["after_kib"] - ka["before_kib"]
        out += ["", "wsgate (%d threads, `%s`) holding %s idle HTTP/1.1 keep-alive "
                "connections, each after one completed request: RSS %s MiB before, %s MiB "
                "with the connections open (opened in %.1f s): **%s MiB for %s connections, "
                "%.1f KiB each**." % (ka["threads"], ka["extra"], "{:,}".format(ka["conns"]),
                                      fmt_mib(ka["before_kib"]), fmt_mib(ka["after_kib"]),
                                      ka["open_seconds"], fmt_mib(delta),
                                      "{:,}".format(ka["conns"]), delta / ka["conns"])]
    return out


def findings_section(results):
    """What the figures say that needs a sentence: connections left waiting, errors,
    failures."""
    waited, out = {}, []
    for rk in ordered_rows(results):
        e = results["rows"][rk]
        for k in e["servers"]:
            runs = e["runs"].get(k, [])
            if not runs:
                continue
            n = max(r["stuck"] for r in runs)
            if n:
                waited.setdefault(k, []).append("%s %d of %d" % (rk, n, e["conns"]))
            errs = sum(r["errors"] for r in runs)
            empty = sum(1 for r in runs if r["requests"] == 0)
            what = []
            if errs:
                what.append("%d errors" % errs)
            if empty:
                what.append("%d run(s) without a completed request" % empty)
            known = servers.KNOWN_ISSUES.get((rk, k))
            if what and known:
                out.append("- %s, %s ‡: %s. Known and checked by hand: %s." % (
                    rk, LABEL[k], ", ".join(what), known["text"]))
            elif what and e.get("slow") and not servers.ALL_SPECS[k].is_wsgate:
                out.append("- %s, %s: %s: %s." % (rk, LABEL[k], ", ".join(what),
                                                  slow_finding(e, runs)))
            elif what:
                out.append("- %s, %s: %s." % (rk, LABEL[k], ", ".join(what)))
    if waited:
        out.append("- Connections that sat in the accept queue from 50% to 75% of a run (\\*): "
                   + "; ".join("%s: %s" % (LABEL[k], ", ".join(v)) for k, v in waited.items())
                   + ". wrk's figures for those runs describe only the connections that were "
                   "served. A uWSGI thread keeps serving one keep-alive connection, so N "
                   "threads serve N connections; gunicorn sync serves one connection at a "
                   "time.")
    for f in results["failures"]:
        out.append("- FAILURE: %s" % f.splitlines()[0])
    if not out:
        return []
    return ["## Findings of this run", ""] + out


def slow_finding(e, runs):
    answered, _ = slow_cells(e, runs)
    after = [r["slow_after"] for r in runs if "slow_after" in r]
    closed = max((a.get("closed", 0) for a in after), default=0)
    text = "when wrk started, it had answered %s slow clients" % answered
    if closed:
        text += "; by the end of a run it had closed up to %d of them" % closed
    return text


def commands_section(results):
    d = results["display"]
    out = ["## Exact commands", "",
           "The harness runs these (APP is the row's module in `bench/apps`, THREADS the "
           "row's thread count, PORT a free port, $TMP its temp dir). Each server is "
           "started once per row, with its output in `build/bench/logs/`.", "", "```"]
    other = {"nginx": "nginx (bench/nginx.conf.in; in the HTTPS and HTTP/2 rows "
                      "bench/nginx-tls.conf.in)",
             "certificate": "the HTTPS and HTTP/2 rows' certificate and key, made once per run"}
    for k in list(servers.ALL_SPECS) + ["nginx", "certificate"]:
        if k in d:
            out += ["# %s" % LABEL.get(k, other.get(k, k)), d[k]]
    out += ["```", ""]
    out += ["wrk, per row (`echo` posts 1 MiB through `bench/echo.lua`, `https-newconn` "
            "closes every connection through `bench/close.lua`; every run prints its "
            "figures through `bench/report.lua`), `openssl s_time` and ab in the HTTPS "
            "handshake rows, h2load in the HTTP/2 rows (`https://` for h2 and nginx in "
            "front, `http://` for h2c; FILE: its per-request log, read for the "
            "percentiles and deleted):", "", "```"]
    out += ["taskset -c %s %s  # %s" % (servers.CLIENT_CPU, results["rows"][k]["wrk"], k)
            for k in ordered_rows(results)]
    out += ["```"]
    for k in ordered_rows(results):
        sl = results["rows"][k].get("slow")
        if sl:
            out += ["", "%s: before each run, %d connections with `SO_RCVBUF` %d each send "
                    "`GET %s HTTP/1.1` and read nothing (`bench/load.py`, `SlowClients`)."
                    % (k, sl["clients"], sl["rcvbuf"], sl["path"])]
    if any(count_runs(e, key) for e in results["rows"].values() for key in e["servers"]):
        out += ["", "perf, for each counted run, attached before wrk starts and interrupted "
                "(SIGINT) after it exits; PIDS: every process of the server's tree (and "
                "nginx's, separately, in the nginx row and for nginx in front in the HTTPS "
                "and HTTP/2 rows):", "", "```",
                "taskset -c %s perf stat -e raw_syscalls:sys_enter,context-switches -x , "
                "-o FILE -p PIDS" % servers.CLIENT_CPU, "```"]

    return out


def notes_section(results):
    load = results["meta"].get("load_after")
    shared = []
    if load and load[1] > 2.5:
        shared = ["- During this run other work shared the CPUs: the 5-minute load average "
                  "was %.1f at the end, where the benchmark alone (one busy server, wrk) makes "
                  "about 2. Absolute req/s vary between rounds (see the min–max); the ratios, "
                  "each from two runs seconds apart, vary less." % load[1]]
    new = []
    if any(e.get("slow") for e in results["rows"].values()):
        new.append("- slow-clients: every server keeps its hello-row settings (8 threads; "
                   "gunicorn sync one request at a time); wsgate finishes a response its "
                   "client does not read on its event loop, holding the app's bytes object "
                   "by reference (docs/operations.md, \"Slow readers\"), so its threads "
                   "stay free for wrk.")
    if has_counts(results):
        new.append("- System calls and context switches: `perf stat` (Debian's linux-perf) "
                   "attached to the server's processes; counting costs the server a "
                   "fraction of a microsecond per system call%s." % (
                       ", which is why they are counted in a run of their own rather than "
                       "in the timed ones" if results["settings"].get("count_run") else
                       " (this run counted during its timed runs)"))
    return ["## How the servers run", "",
            "- Each server is one process serving requests, pinned to CPU 0 (`taskset -c 0`); "
            "wrk runs on CPU 1 with one thread. Every threaded server gets the row's thread "
            "count and a listen backlog of %d." % servers.BACKLOG,
            "- wsgate: `--threads N`, one process, its defaults otherwise.",
            "- uWSGI: one process without `--master`, `--threads N`, `--disable-logging`, "
            "`--listen %d`. With `--http11-socket` it keeps connections alive; with "
            "`--http-socket` it closes the connection after each response, and says so only "
            "with `--add-header 'Connection: close'` (without it, wrk, like any HTTP/1.1 "
            "client, takes the connection for kept and counts a read error per request). A "
            "uWSGI thread serves one connection at a time, keep-alive included." % servers.BACKLOG,
            "- gunicorn: `--workers 1`: an arbiter process forks the one worker that serves "
            "requests; both count in its RSS. `gthread` runs N threads and keeps "
            "connections alive; `sync` serves one request at a time and closes every "
            "connection (that is its design; its rows show one request at a time).",
            "- waitress: `threads=N`, `connection_limit=12000` (the default 100 would leave "
            "connections of the 256-connection rows waiting; 12,000 is above the scaling "
            "rows' 10,000), `asyncore_use_poll=True` "
            "(`bench/pyserve.py`).",
            "- Tornado: `WSGIContainer` on an `HTTPServer` as Tornado's documentation shows "
            "(`bench/pyserve.py`); Tornado 6.2 calls the app on the event-loop thread, one "
            "request at a time, and `environ` has no `wsgi.file_wrapper`, so the `file` app "
            "falls back to reading 64 KiB blocks, as PEP 3333 describes."] + new + [
            "- The machine may be shared: other processes may use the CPUs during a run "
            "(see the load average). The ratios, from runs seconds apart, are the figures "
            "to trust more than absolute req/s."] + shared


# ---------------------------------------------------------------- issue 18's sections

NGINX_RETURN = "nginx-return"
WSGATE_W2 = "wsgate-w2"
# Issue 18's goal for wsgate on hello-64, against nginx answering itself.
HELLO_GOAL = {"row": "hello-64", "ratio": 0.7, "syscalls": 3.0, "switches": 0.1}


def _per_req_value(entry, key, field):
    """Median system calls ("syscalls") or context switches ("switches") per request,
    a number (None when not counted)."""
    return median_of(count_runs(entry, key), field + "_req")


def _goal(v, limit, at_least, fmt):
    if v is None:
        return "n/a (not measured)"
    ok = v >= limit if at_least else v <= limit
    return "%s (%s %s: %s)" % (fmt(v), "≥" if at_least else "≤", fmt(limit),
                               "met" if ok else "**not met**")


def reference_section(results):
    """nginx `return 200` beside wsgate in the hello rows, and issue 18's goal."""
    keys = [k for k in ordered_rows(results)
            if NGINX_RETURN in results["rows"][k]["servers"]
            and "wsgate" in results["rows"][k]["servers"]]
    if not keys:
        return []
    out = ["## nginx `return 200` as a reference", "",
           "nginx answering the hello rows itself, `return 200 \"Hello, World!\\n\"` "
           "(`bench/nginx-return.conf.in`: the 14-byte body and the `Content-Type: "
           "text/plain` of `bench/apps/hello.py`, one worker process, keep-alive "
           "connections kept for the whole run, listen backlog %d), measured in the same "
           "rounds as the other servers of the hello rows and started like them: pinned "
           "to CPU 0 (`taskset -c 0`, its master and its worker), wrk on CPU 1. Unlike "
           "nginx in the nginx and HTTPS rows, a front sharing CPU 1 with wrk, here it is "
           "the server under test. It runs no application: its cost per request is about "
           "the least an HTTP/1.1 server pays on this machine, and wsgate's distance to it "
           "is what calling a Python app (and handing the request to a thread) adds. It "
           "also appears in the hello rows' detail tables, where its ratio column is "
           "wsgate's req/s over its own, as for the peers; its command is among the exact "
           "commands (DIR: its own directory in the run's temp dir, holding "
           "`bench/nginx-return.conf.in` filled in)." % servers.BACKLOG, "",
           "| row | wsgate req/s | nginx return 200 req/s | wsgate / nginx | wsgate CPU "
           "µs/req | nginx CPU µs/req | wsgate syscalls / switches per req | nginx "
           "syscalls / switches per req |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for rk in keys:
        e = results["rows"][rk]
        w, n = e["runs"].get("wsgate", []), e["runs"].get(NGINX_RETURN, [])
        out.append("| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |" % (
            rk, fmt_rps(median_of(w, "rps")), fmt_rps(median_of(n, "rps")),
            fmt_ratio(ratio(e, "wsgate", NGINX_RETURN)),
            fmt_cpu_us(median_of(w, "cpu_us_req")), fmt_cpu_us(median_of(n, "cpu_us_req")),
            per_req(e, "wsgate", "syscalls"), per_req(e, "wsgate", "switches"),
            per_req(e, NGINX_RETURN, "syscalls"), per_req(e, NGINX_RETURN, "switches")))
    g = HELLO_GOAL
    e = results["rows"].get(g["row"])
    if e is not None and g["row"] in keys:
        out += ["", "**Goal on %s** (issue 18): wsgate at least %.1f× the req/s of nginx "
                "`return 200`, at most %.1f system calls and %.1f context switches per "
                "request. wsgate / nginx return 200: %s; system calls per request: %s; "
                "context switches per request: %s." % (
                    g["row"], g["ratio"], g["syscalls"], g["switches"],
                    _goal(ratio(e, "wsgate", NGINX_RETURN), g["ratio"], True, fmt_ratio),
                    _goal(_per_req_value(e, "wsgate", "syscalls"), g["syscalls"], False,
                          fmt_per_req),
                    _goal(_per_req_value(e, "wsgate", "switches"), g["switches"], False,
                          fmt_per_req))]
        out += [""] + HELLO64_PROFILE
    return out


# Where wsgate's system calls and context switches go on hello-64: a profile taken by
# hand (the commands below), not by this run; kept here so the page says it.
HELLO64_PROFILE = [
    "**Where they go** (hello-64, wsgate, measured on 2026-12-06 on this machine, quiet, "
    "outside the runs above: `perf stat -e 'syscalls:sys_enter_*' -p PID` for the calls "
    "by name, normalised to one `recvfrom` per request; `perf record --call-graph dwarf "
    "-e sched:sched_switch` for where the threads switched):",
    "",
    "| per request | count | what it is | why it stays |",
    "|---|---:|---|---|",
    "| `recvfrom` | 1.00 | the loop reads the request | every server reads its request |",
    "| `sendmsg` | 1.00 | the worker writes the response, head and body in one call "
    "| every server writes its response |",
    "| `futex` | 0.05 | waking a sleeping worker once per loop turn (`gw_pool_wake`, "
    "from the loop's `ev_prepare` watcher after the turn's sockets are read), the "
    "worker's own sleep when the queue is empty (on a futex word: a condition "
    "variable's wake-up would cost the woken worker's next unlock one call more) | the "
    "hand-off between the loop and a "
    "worker thread: the loop never runs the app itself (an app that blocks must not "
    "stop the loop), so a turn's batch of requests costs a wake-up and a sleep; a busy "
    "worker is never woken (it takes the next request from the queue) |",
    "| `epoll_wait` | 0.03 | the loop waits for sockets | one wait serves about 40 "
    "ready connections |",
    "| `read` + `write` | 0.00 | the eventfd of the workers' hand-backs | a hand-back "
    "wakes the loop only when it leaves the loop something to do (output still queued, "
    "bytes buffered, a close); a connection at rest goes back quietly and its next "
    "request wakes the loop (docs/architecture.md, step 11) |",
    "| `epoll_ctl` | 0.00 | | the connection's read interest stays registered while "
    "a worker owns it |",
    "| **context switches** | 0.04 | 63% a worker going to sleep in `pop()` when the "
    "queue is empty, 34% the loop sleeping in `epoll_wait` while the worker runs, 1.5% "
    "the loop preempted by the worker it has just woken (`gw_pool_wake`) | the same "
    "hand-off, once "
    "per loop turn: the loop reads the turn's requests, wakes one worker and sleeps; "
    "the worker answers them all and sleeps |",
]


UWSGI = "uwsgi-http11"

# hello-1 against uWSGI http11, profiled by hand (not by this run): kept here so the
# page says it.
HELLO1_PROFILE = (
    "one request at a time: each server's thread sleeps and wakes once per request "
    "(about 1 context switch per request for both). wsgate's worker reads the request, "
    "runs the app, writes the answer and waits for the connection's next request itself "
    "(`recvfrom`, `sendmsg`, `ppoll`: 3 calls); uWSGI's thread does `epoll_wait`, `read`, "
    "`writev`, `poll` (4). A profile of both (`perf record -e cpu-clock`, quiet machine, "
    "2026-12-05: 36.5 against 31.2 µs of CPU per request) puts the difference in the "
    "kernel (25.9 against 20.9 µs; Python's share is the same, 6.6 against 6.4 µs), most "
    "of it in the path that switches a thread in after a wake-up (`finish_task_switch`: "
    "8.4 against 5.5 µs), not in a call of wsgate's own")


# echo against uWSGI http11, counted by hand (not by this run): which calls a request
# costs and why wsgate's extra ones stay.
ECHO_PROFILE = (
    "Where the calls go (quiet runs outside the rounds, 2026-12-06, `perf stat` on each "
    "server, per request; the counts move from run to run with the pieces the TCP "
    "window lets arrive): wsgate `recvfrom` 4.6–5.3, `epoll_wait` 3.9–4.6, `futex` "
    "1.6–1.9, `sendmsg` 1 (11.1–12.9 in all, 7 runs); uWSGI `read` 3.0–4.3, `poll` "
    "1.3–1.7, `epoll_wait` 1, `writev` 1, `futex` 0.4–0.5, `brk` 0.2–0.3 (6.9–8.6, 3 "
    "runs). wsgate's loop collects a body of up to `--body-buffer` before a "
    "worker is taken, so a slow uploader costs a buffer, not a thread (docs/"
    "hostile-inputs.md, C03): it reads the 1 MiB in the pieces the TCP window lets "
    "arrive (each an `epoll_wait` and a `recvfrom`), then wakes a worker (`futex`: the "
    "wake-up and the worker's sleep), which copies the body into the app's bytes object "
    "(12–14% of wsgate's CPU, in `memcpy`); the hand-back costs no call (the connection "
    "is at rest once the answer is written). A uWSGI thread reads the body itself with "
    "blocking reads; a slow "
    "uploader holds it. The calls cost a few µs of the hundreds a request takes here: "
    "most of either server's CPU is copying bytes (the kernel's copies into and out of "
    "the socket buffers, 35–60% of wsgate's profile), whose cost varied up to 2× "
    "between runs on this machine, for wrk as well (0.54–0.79 ms of wrk's CPU per "
    "request, against either server). Reading a body that has all arrived straight "
    "from the socket, sparing the copy, was tried and dropped: no clear gain on this "
    "row, 13% more CPU per request at 1 connection")


# file against uWSGI http11, counted by hand (not by this run).
FILE_PROFILE = (
    "Where the calls go (quiet runs outside the rounds, 2026-12-06, `perf stat` on each "
    "server, per request, two runs each): wsgate 34.4–40.4, uWSGI 22.3–35.7. Most are "
    "`sendfile` (wsgate 10.2–14.3, uWSGI 7.9–16.9: how much the socket takes a call "
    "varies from run to run) and the waits for the slow reader between them. Both open "
    "the file the same way (Python's `open`: `openat`, `newfstatat`, `ioctl`, "
    "`lseek`). wsgate's wait for the slow reader is the loop's: "
    "when the socket is full the rest of the range goes to the connection's output "
    "queue and the loop sends it as the socket drains (`epoll_wait` 5.4–7.8, `epoll_ctl` "
    "2 to add and drop the write interest), so the worker is free at once; uWSGI's "
    "thread waits in `poll` (4.4–8.7) and is held until wrk has read all 16 MiB. wsgate's "
    "file wrapper adds `newfstatat` and `lseek` (a regular file? its size and offset) "
    "and the queue's duplicate of the app's descriptor (`fcntl` and its `close`), so "
    "the app may close its file while the queue still sends from it; the hand-off to "
    "a worker costs `futex` 1.6–2.3, and the hand-back, which leaves the loop the rest "
    "to send, the eventfd 1.4–1.6 (`write` and `read`)")


# Rows whose calls per request are named by a profile taken by hand.
ROW_PROFILES = {"echo": ECHO_PROFILE, "file": FILE_PROFILE}


def uwsgi_section(results):
    """Issue 18's first goal: ahead of uWSGI http11 on every row. Rows where it is
    not get their reason, from the figures where they tell it."""
    keys = [rk for rk in row_keys(results, "http")
            if UWSGI in results["rows"][rk]["runs"] and comparable(rk, UWSGI)]
    if not keys:
        return []
    ahead, behind = [], []
    for rk in keys:
        e = results["rows"][rk]
        q = ratio(e, "wsgate", UWSGI)
        if q is None:
            continue
        (ahead if q >= 0.995 else behind).append((rk, e, q))
    out = ["## Against uWSGI http11", "",
           "Issue 18's goal: wsgate ahead of uWSGI `--http11-socket` on every row (the "
           "quotients of the first table). Ahead or level (1.00× or more) on %d of %d rows%s." % (
               len(ahead), len(ahead) + len(behind),
               (": " + ", ".join("%s %s" % (rk, fmt_ratio(q)) for rk, _, q in ahead))
               if ahead else "")]
    for rk, e, q in behind:
        w, u = e["runs"]["wsgate"], e["runs"][UWSGI]
        wr = [r["rps"] for r in w]
        ur = [r["rps"] for r in u]
        spread = ("the runs overlap (wsgate %s–%s, uWSGI %s–%s req/s)" if
                  max(wr) >= min(ur) and max(ur) >= min(wr) else
                  "the runs do not overlap (wsgate %s–%s, uWSGI %s–%s req/s)") % (
                      fmt_rps(min(wr)), fmt_rps(max(wr)), fmt_rps(min(ur)), fmt_rps(max(ur)))
        cpu = "CPU per request wsgate %s µs, uWSGI %s µs" % (
            fmt_cpu_us(median_of(w, "cpu_us_req")), fmt_cpu_us(median_of(u, "cpu_us_req")))
        sb, cb = median_of(w, "server_cpu_busy"), median_of(w, "client_cpu_busy")
        if e.get("ideal"):
            why = ("bound by the app: %d threads each sleeping 50 ms serve at most %s req/s; "
                   "wsgate reached %.0f%% of it, uWSGI %.0f%%. What a request costs beyond "
                   "the sleep differs: a uWSGI thread owns its connection and reads the "
                   "next request itself, while wsgate's loop reads it and queues it for "
                   "the next thread to finish (0.4–0.5 ms in the queue on average in quiet "
                   "runs with the JSON access log, 2026-12-05 and -06). Two ways to "
                   "shorten that wait were measured side by side on 2026-12-06 and not "
                   "kept: a sleeping thread woken for every queued request once requests "
                   "take 1 ms or more on average served 4,543 against 4,992 req/s (more "
                   "context switches, the woken threads contending for the GIL); one woken "
                   "only for a request that had waited through a whole 0.5 ms kick of the "
                   "pool cut the queue's p99 from 1.8–3.5 to 1.2–1.3 ms and its mean a "
                   "little (0.42–0.52 to 0.41–0.43 ms), but not the req/s, and the echo "
                   "and flask rows were slower with it" % (
                       e["threads"], fmt_rps(e["ideal"]),
                       100.0 * median_of(w, "rps") / e["ideal"],
                       100.0 * median_of(u, "rps") / e["ideal"]))
        elif sb is not None and cb is not None and cb >= 0.95 and sb <= 0.8:
            why = ("bound by the load generator: wrk's CPU was %s busy and the server's %s, "
                   "so the row measures wrk more than the server" % (fmt_pct(cb), fmt_pct(sb)))
        elif rk == "hello-1":
            why = HELLO1_PROFILE
        else:
            why = "no reason found in the figures"
        out += ["", "- **%s** %s: %s. %s; %s." % (rk, fmt_ratio(q), why, cpu[0].upper() + cpu[1:],
                                                  spread)]
        if rk in ROW_PROFILES:
            out[-1] += " " + ROW_PROFILES[rk] + "."
    for rk, e, _ in ahead:
        # Level or ahead in req/s, but more calls per request than uWSGI: say why.
        w, u = _per_req_value(e, "wsgate", "syscalls"), _per_req_value(e, UWSGI, "syscalls")
        if rk in ROW_PROFILES and (w is None or u is None or w > u):
            out += ["", "- **%s**'s calls per request (the second table). %s." % (
                rk, ROW_PROFILES[rk])]
    return out


def _scale_cell(e, k):
    runs = e["runs"].get(k, [])
    if not runs:
        return "no run"
    served = [r for r in runs if r["requests"]]
    rps = fmt_rps(median_of(runs, "rps"))
    cell = "%s · %s ms · %s µs · %s MiB" % (
        "**%s**" % rps if k == "wsgate" else rps, fmt_ms(median_of(served, "p99_us")),
        fmt_cpu_us(median_of(runs, "cpu_us_req")), fmt_mib(median_of(runs, "rss_run_kib")))
    n = max(r["stuck"] for r in runs)
    errors = sum(r["errors"] for r in runs)
    if n:
        cell += " · %d stuck \\*" % n
    if errors:
        cell += " · **%d errors**" % errors
    return cell


def _scale_change(sc, k, lo, hi):
    """One server's req/s and CPU µs per request at lo connections and at hi."""
    a = sc["rows"]["scale-%d" % lo]["runs"].get(k, [])
    b = sc["rows"]["scale-%d" % hi]["runs"].get(k, [])
    if not a or not b:
        return None
    ra, rb = median_of(a, "rps"), median_of(b, "rps")
    ca, cb = median_of(a, "cpu_us_req"), median_of(b, "cpu_us_req")
    text = "- %s, %s → %s connections: req/s %s → %s (%s), CPU µs/req %s → %s (%s)" % (
        LABEL[k], "{:,}".format(lo), "{:,}".format(hi), fmt_rps(ra), fmt_rps(rb),
        fmt_ratio(rb / ra) if ra and rb is not None else "—", fmt_cpu_us(ca),
        fmt_cpu_us(cb), fmt_ratio(cb / ca) if ca and cb is not None else "—")
    ma, mb = median_of(a, "rss_run_kib"), median_of(b, "rss_run_kib")
    if ma and mb and not max(r["stuck"] for r in b):  # it holds every connection
        text += ", RSS %s → %s MiB (%.1f KiB per connection more)" % (
            fmt_mib(ma), fmt_mib(mb), (mb - ma) / (hi - lo))
    req = median_of(b, "requests")
    counted = median_of(sc["rows"]["scale-%d" % hi].get("count_runs", {}).get(k, []),
                        "requests")
    stuck_hi = max(r["stuck"] for r in b)
    if req and not stuck_hi:  # it accepted them all
        text += "; the %s connections wrk opens at the start of a run are one per %s " \
                "requests of a timed run%s, which its per-request figures include" % (
                    "{:,}".format(hi), "{:,.0f}".format(req / hi),
                    " (one per %s of the counting run)" % "{:,.0f}".format(counted / hi)
                    if counted else "")
    if stuck_hi:
        text += "; at %s, %d connections sat in its accept queue from 50%% to 75%% of a " \
                "run%s: its figures describe the connections it served" % (
                    "{:,}".format(hi), stuck_hi,
                    ", which was full (its backlog, %d), so more waited in their handshakes"
                    % servers.BACKLOG if max(r["queue"] for r in b) >= servers.BACKLOG and
                    hi > servers.BACKLOG + 8 else "")
    return text + "."


# Where wsgate's cost per request grows with connections: a profile taken by hand (the
# commands in the text), not by this run; kept here so the page says it.
SCALE_PROFILE = (
    "**Where wsgate's cost grows** (a lone quiet run per count outside the rounds, "
    "2026-12-06, after the buffers were sized to the request; wrk as above without the "
    "report script; `perf stat` on the server over the whole 5 s run, and `perf record` "
    "in the steady state after the connects): CPU per request 8.3 µs at 64 "
    "connections, 9.7 at 1,024 and 13.1 at 10,000 (13.6 in the steady state against "
    "8.5), with the same 2.0–2.2 system calls per request. The calls are not what "
    "grows: each costs more. Of the 5.1 µs more in the steady state at 10,000, the "
    "kernel's share is 3.2 µs: finding the socket of each segment among 20,000 "
    "(`__inet_lookup_established`), the descriptor table (`fdget`), epoll's readiness "
    "checks (`sock_poll`) and the sockets' timers, once the working set of 10,000 "
    "sockets no longer fits the caches; every server that holds as many pays it. "
    "wsgate's and libc's share is 1.6 µs: the first touch of a connection's state for "
    "each request (`gw_srv_conn_io_cb`, `gw_http_send_head`, the parser) and the "
    "allocator (`_int_malloc`, `free`: 4% of the profile), which at 10,000 finds its "
    "per-thread caches empty, since the small blocks a worker takes for a response "
    "head are given back by the loop (freeing that block in the worker once the head "
    "is out, so that its cache gets it back, was measured twice and not kept: 11.9–12.4 "
    "against 11.9–12.6 µs per request in the steady state at 10,000, 2026-12-06). "
    "Python's share stays (1.2–1.4 µs). Memory: a "
    "busy connection holds its state and its own request (about 3.5 KiB at 10,000: the "
    "field array and the input buffer are sized to the head, not to the limits; 10.8 "
    "KiB before), an idle one its state only")


def scaling_section(results):
    """The connection-scaling rows: connections × server, how req/s and CPU per request
    change from 64 connections to the most, and the rows' detail tables."""
    sc = results.get("scaling")
    if not sc or not sc["conns"]:
        return []
    conns = sc["conns"]
    keys = [k for k in sc["servers"]
            if any(k in sc["rows"]["scale-%d" % n]["servers"] for n in conns)]
    wrk = sc["rows"]["scale-%d" % conns[-1]]["wrk"]
    extra = ["%s: %s `%s`" % (rk, LABEL[k], x) for rk, d in sorted(sc.get("extra", {}).items())
             for k, x in sorted(d.items())]
    out = ["## Connection scaling", "",
           "The hello app at %s keep-alive connections (wrk with one thread, e.g. `%s`), "
           "for %s, each with the hello rows' settings (8 threads), each count a row of "
           "its own run as the others (rounds, counting run). wrk and the servers run "
           "with the file-descriptor limit raised to its hard limit. Per request, the "
           "cost should stay flat as connections grow: a connection waiting for its "
           "turn should cost nothing. Each cell: median req/s · p99 latency · CPU µs per "
           "request · RSS during the run (the most of the samples at 50%% and 75%%); "
           "\\* connections that sat in the accept queue from 50%% to 75%% of a run "
           "(stuck). The accept queue holds at most the backlog (%d): connections beyond "
           "it are not accepted by the kernel either (their handshakes are retried) and "
           "show in no column. A uWSGI thread serves one keep-alive connection at a time, "
           "so uWSGI with 8 threads serves 8 of them and leaves the rest waiting (wrk's "
           "figures then describe only those 8); waitress runs with `connection_limit="
           "12000`. CPU µs/req includes opening the connections, which wrk does at the "
           "start of every run." % (
               ", ".join("{:,}".format(n) for n in conns), wrk,
               ", ".join(LABEL[k] for k in keys), servers.BACKLOG)]
    if extra:
        out[-1] += (" Options added to a server's usual command: %s (wsgate answers 503 "
                    "to a request that finds `--queue` requests, 1024 by default, waiting "
                    "for a thread; with one request in flight per connection, more "
                    "connections would measure its refusals)." % "; ".join(extra))
    out += ["", "| connections | " + " | ".join(SHORT[k] for k in keys) + " |",
            "|---:|" + "---:|" * len(keys)]
    for n in conns:
        e = sc["rows"]["scale-%d" % n]
        out.append("| %s | %s |" % ("{:,}".format(n), " | ".join(
            _scale_cell(e, k) if k in e["servers"] else "" for k in keys)))
    lo = 64 if 64 in conns else conns[0]
    hi = max(conns)
    if hi > lo:
        lines = [_scale_change(sc, k, lo, hi) for k in keys]
        out += ["", "From %s to %s connections (the quotients: at %s / at %s):" % (
            "{:,}".format(lo), "{:,}".format(hi), "{:,}".format(hi), "{:,}".format(lo)),
            ""] + [x for x in lines if x]
        out += ["", SCALE_PROFILE + "."]
    if has_counts({"rows": sc["rows"]}):
        out += ["", "System calls / context switches per request:", "",
                "| connections | " + " | ".join(SHORT[k] for k in keys) + " |",
                "|---:|" + "---:|" * len(keys)]
        for n in conns:
            e = sc["rows"]["scale-%d" % n]
            out.append("| %s | %s |" % ("{:,}".format(n), " | ".join(
                "%s / %s" % (per_req(e, k, "syscalls"), per_req(e, k, "switches"))
                if k in e["servers"] else "" for k in keys)))
    for n in conns:
        rk = "scale-%d" % n
        e = sc["rows"][rk]
        out += ["", "### %s — %s" % (rk, e["title"]), "",
                "Load: `%s`." % e["wrk"], ""]
        out += detail_table({"rows": sc["rows"]}, rk, "wsgate")
    return out


def prefork_section(results):
    """wsgate --processes 2 against the usual one process, on the flask row."""
    e = results["rows"].get("flask")
    if not e or WSGATE_W2 not in e["servers"] or "wsgate" not in e["servers"]:
        return []
    out = ["## Prefork: `--processes 2` against one process (flask)", "",
           "wsgate with `--processes 2` (a master process and two worker processes, each "
           "with the row's %d threads) beside the usual one process, in the same rounds "
           "of the flask row (Flask hello route, 64 connections). Both are pinned to CPU "
           "0 like every server: `taskset -c 0` starts the master, and the workers it "
           "forks inherit that affinity, so the two workers share the one core. What "
           "this compares is what prefork costs per request (a second interpreter and "
           "set of threads, each worker's own event loop taking its share of the "
           "connections), not what a second core would add. RSS is summed over the "
           "master and the workers." % e["threads"], "",
           "| server | req/s (min–max) | -w 2 / -w 1 | p50 ms | p99 ms | CPU µs/req | "
           "syscalls/req | switches/req | RSS MiB |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k in ("wsgate", WSGATE_W2):
        runs = e["runs"].get(k, [])
        if not runs:
            out.append("| %s | no run | | | | | | | |" % LABEL[k])
            continue
        rps = [r["rps"] for r in runs]
        served = [r for r in runs if r["requests"]]
        out.append("| %s | %s (%s–%s) | %s | %s | %s | %s | %s | %s | %s |" % (
            LABEL[k] + (" (-w 1)" if k == "wsgate" else ""),
            fmt_rps(median_of(runs, "rps")), fmt_rps(min(rps)), fmt_rps(max(rps)),
            fmt_ratio(ratio(e, WSGATE_W2, "wsgate")) if k == WSGATE_W2 else "",
            fmt_ms(median_of(served, "p50_us")), fmt_ms(median_of(served, "p99_us")),
            fmt_cpu_us(median_of(runs, "cpu_us_req")),
            per_req(e, k, "syscalls"), per_req(e, k, "switches"),
            fmt_mib(e["rss_kib"].get(k))))
    one = median_of(e["runs"].get("wsgate", []), "cpu_us_req")
    two = median_of(e["runs"].get(WSGATE_W2, []), "cpu_us_req")
    if one and two is not None:
        out += ["", "CPU per request with two worker processes: %s µs against %s µs "
                "(%+.1f%%)." % (fmt_cpu_us(two), fmt_cpu_us(one), 100.0 * (two - one) / one)]
    return out


def write_chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ordered_rows(results)
    if not keys:
        return None
    cols = 4
    nrows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(18, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax, rk in zip(axes.flat, keys):
        e = results["rows"][rk]
        names, vals, colors, hatches, counts = [], [], [], [], []
        for k in e["servers"]:
            sc, cs = per_req(e, k, "syscalls"), per_req(e, k, "switches")
            if (e.get("tls") or e.get("h2")) and servers.ALL_SPECS[k].front:  # with nginx's
                ssc, scs = _sum_per_req(e, k, "syscalls"), _sum_per_req(e, k, "switches")
                sc, cs = ("n/a", "n/a") if ssc is None else (fmt_per_req(ssc),
                                                             fmt_per_req(scs))
                cs += " with nginx's"
            counts.append("" if sc in ("n/a", "—") else "  %s sc, %s cs" % (sc, cs))
            waited = stuck(e, k)
            known = (rk, k) in servers.KNOWN_ISSUES
            names.append(SHORT[k] + (" *" if waited else "") + (" ‡" if known else ""))
            vals.append(median_of(e["runs"].get(k, []), "rps") or 0)
            colors.append("#d62728" if servers.ALL_SPECS[k].is_wsgate else "#7f7f7f")
            hatches.append("//" if waited else "")
        ypos = range(len(names))
        bars = ax.barh(ypos, vals, color=colors)
        for bar, h in zip(bars, hatches):
            bar.set_hatch(h)
        ax.set_yticks(list(ypos))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        top = max(vals) if vals and max(vals) > 0 else 1
        for y, v, c in zip(ypos, vals, counts):
            ax.text(v + top * 0.01, y, fmt_rps(v) + c, va="center", fontsize=7)
        ax.set_xlim(0, top * 1.75)
        ax.set_title(rk, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("requests/s (median)", fontsize=7)
    s = results["settings"]
    fig.suptitle("wsgate (red) vs peer WSGI servers: median requests/s, %d × %d s per server "
                 "and row.  * hatched: some connections were never served during a run;"
                 "  ‡ a known flaw of that server (see benchmarks.md)\n"
                 "after each bar: system calls (sc) and context switches (cs) of the server "
                 "per request" % (s["repeat"], s["duration"]), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write(results, out_dir):
    png = write_chart(results, os.path.join(out_dir, "benchmarks.png"))
    s = results["settings"]
    parts = ["# Benchmarks", "",
             "Generated by `make bench` (`bench/run.py`%s); do not edit by hand, run it "
             "again. wsgate and its peers serve the same WSGI apps (`bench/apps/`) on "
             "loopback, each as one process on CPU 0, loaded by wrk on CPU 1. Each row "
             "ran %d round(s) of %d s per server, the servers taking turns." % (
                 ", smoke settings" if s["smoke"] else "", s["repeat"], s["duration"])]
    if row_keys(results, "https"):
        parts[-1] += (" The HTTPS rows (wsgate's own TLS against nginx terminating TLS in "
                      "front of it, and gunicorn's) have [their own section](#https).")
    if row_keys(results, "h2"):
        parts[-1] += (" So do the HTTP/2 rows (wsgate's h2 and h2c against nginx "
                      "terminating h2 in front of it, loaded by h2load): "
                      "[HTTP/2](#http2).")
    parts.append("")
    parts += summary_section(results)
    if png:
        parts += ["", "![requests per second, per row and server](benchmarks.png)"]
    for section in (counts_section, uwsgi_section, findings_section, rows_section, nginx_section,
                    https_section, h2_section, reference_section, scaling_section,
                    prefork_section, memory_section, machine_section, commands_section):
        sec = section(results)
        if sec:
            parts += [""] + sec
    parts += [""] + notes_section(results)
    md = os.path.join(out_dir, "benchmarks.md")
    with open(md, "w") as f:
        f.write("\n".join(parts) + "\n")
    return md, png


def main():
    p = argparse.ArgumentParser(description="Render benchmarks.md/.png from results.json")
    p.add_argument("results")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    with open(a.results) as f:
        results = json.load(f)
    os.makedirs(a.out, exist_ok=True)
    print(*write(results, a.out))


if __name__ == "__main__":
    main()
