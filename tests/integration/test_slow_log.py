"""--slow-log SECONDS (issue 16): a request still in the app after that long has its
thread's Python stack written to the error log once, at warning level, with the
request line and the time so far, outermost frame first like a traceback; other
threads keep serving while the stack is taken; the count is in /metrics. The app is
tests/apps/it_slowlog.py (application -> slow_outer -> slow_inner -> time.sleep).
"""
import os
import re
import threading

from wsgate_util import http_get, in_background, logs, metric, t, wait_log

APP_FILE = os.path.join(os.path.dirname(__file__), "..", "apps", "it_slowlog.py")
HEAD = r"\[warning\] GET /slow\?s=[0-9.]+&x=1: still in the app after [0-9.]+ s " \
       r"\(--slow-log 0\.3\), thread \d+; its Python stack, most recent call last:\n"


def expected_frames():
    """[(line, function)] of the app's marked lines, outermost first."""
    marks = {}
    with open(APP_FILE) as f:
        for n, text in enumerate(f, 1):
            m = re.search(r"# frame: (\w+)", text)
            if m:
                marks[m.group(1)] = n
    return [(marks[name], name) for name in ("application", "slow_outer", "slow_inner")]


def logged_stacks(srv):
    """[[(file, line, function), ...]] of every slow log entry, in log order."""
    stacks = []
    for m in re.finditer(HEAD + r"((?:  File .*\n)+)", logs(srv)):
        stacks.append([(f, int(n), fn) for f, n, fn in
                       re.findall(r'  File "([^"]*)", line (\d+), in (\S+)\n', m.group(1))])
    return stacks


def check_stack(stack):
    assert all(os.path.basename(f) == "it_slowlog.py" for f, _, _ in stack[-3:]), stack
    assert [(n, fn) for _, n, fn in stack[-3:]] == expected_frames(), stack
    # outermost is the app callable that wsgate called: nothing of wsgate's own
    assert stack[0][2] == "application", stack


def test_slow_request_stack_logged_once_while_others_serve(wsgate):
    srv = wsgate("it_slowlog", "--threads", "8", "--slow-log", "0.3", stats=True)
    assert all(http_get(srv, "/quick")[0] == 200 for _ in range(5))
    done = threading.Event()
    slow = in_background(lambda: (http_get(srv, "/slow?s=%s&x=1" % t(2.5)), done.set())[0])
    wait_log(srv, HEAD, what="the slow log entry")
    # The stack has been taken: the other threads serve on while the slow one sleeps.
    served = 0
    while not done.is_set() and served < 30:
        assert http_get(srv, "/quick")[0] == 200
        served += 1
    status, body, _ = slow()
    assert (status, body) == (200, b"slept")
    assert served >= 10, "only %d quick requests while the slow one ran" % served
    stacks = logged_stacks(srv)
    assert len(stacks) == 1, logs(srv)  # once, and none for the quick ones
    check_stack(stacks[0])
    assert logs(srv).count("still in the app") == 1, logs(srv)
    assert metric(srv, "wsgate_slow_requests_total") == 1


def test_slow_log_with_processes_and_timeout(wsgate):
    srv = wsgate("it_slowlog", "-w", "2", "--threads", "2", "--slow-log", "0.3",
                 "--timeout", "1.5")
    status, _, _ = http_get(srv, "/slow?s=2.5&x=1")
    assert status == 504
    wait_log(srv, r"still in the app after --timeout 1\.5s")
    text = logs(srv)
    stacks = logged_stacks(srv)
    assert len(stacks) == 1, text
    check_stack(stacks[0])
    # the slow log (0.3 s) comes before the timeout's warning (1.5 s)
    assert re.search(HEAD, text).start() < text.index("after --timeout 1.5s"), text
