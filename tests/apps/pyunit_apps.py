"""Apps for tests/unit/python/test_wsgi.c: each one exercises one part of the PEP 3333
contract and reports what it saw in its response body. Apps whose behaviour is legal
WSGI are also offered wrapped in wsgiref.validate (name + "_v")."""
import io
import json
import sys
from wsgiref.validate import validator

# What happened in earlier requests (close() calls, items produced...); read back by
# the `events` app. Tests run in their own process, so this starts empty each time.
EVENTS = []
KEPT = {}


def _ok(start_response, body, ctype="text/plain"):
    start_response("200 OK", [("Content-Type", ctype),
                              ("Content-Length", str(len(body)))])
    return [body]


def events(environ, start_response):
    return _ok(start_response, ",".join(EVENTS).encode())


def dump(environ, start_response):
    """environ as JSON: str values as they are, other values by type name."""
    out = {}
    for k, v in environ.items():
        if isinstance(v, str):
            out[k] = v
        elif isinstance(v, (bool, tuple)):
            out[k] = v
        else:
            out[k] = type(v).__name__
    body = json.dumps(out, sort_keys=True).encode()
    return _ok(start_response, body, "application/json")


dump_v = validator(dump)


def echo(environ, start_response):
    """Echoes the body, read the way QUERY_STRING names."""
    inp = environ["wsgi.input"]
    mode = environ.get("QUERY_STRING", "")
    if mode == "read":
        body = inp.read()
    elif mode == "readnone":
        body = inp.read(None)
    elif mode == "readn":
        parts = []
        while True:
            b = inp.read(7)
            if not b:
                break
            parts.append(b)
        body = b"".join(parts)
    elif mode == "readcl":
        body = inp.read(int(environ.get("CONTENT_LENGTH") or 0))
    elif mode == "readline":
        parts = []
        while True:
            b = inp.readline()
            if not b:
                break
            parts.append(b)
        body = b"|".join(parts)
    elif mode == "readline5":
        parts = []
        while True:
            b = inp.readline(5)
            if not b:
                break
            parts.append(b)
        body = b"|".join(parts)
    elif mode == "iter":
        body = b"|".join(inp)
    elif mode == "readlines":
        body = b"|".join(inp.readlines())
    elif mode == "readlines_hint":
        body = b"|".join(inp.readlines(3))
    else:
        body = inp.read()
    return _ok(start_response, body)


def echo_v(environ, start_response):
    # wsgiref.validate's input wrapper wants read() with exactly one argument.
    inner = validator(echo)
    return inner(environ, start_response)


def input_error(environ, start_response):
    """Reads the body; reports the exception it raised."""
    try:
        environ["wsgi.input"].read()
        msg = "no error"
    except OSError as e:
        msg = "%s: %s" % (type(e).__name__, e)
    return _ok(start_response, msg.encode())


def input_error_raise(environ, start_response):
    environ["wsgi.input"].read()
    return _ok(start_response, b"not reached")


BAD_STATUS = {
    "crlf": "200 OK\r\nX-Evil: 1",
    "lf": "200 OK\n",
    "nul": "200 O\x00K",
    "short": "200",
    "nospace": "200OK",
    "letters": "OK 200",
    "four": "2000 OK",
    "int": 200,
    "low": "099 Low",
    "info": "101 Switching",
    "wide": "200 \u20ac",
}

BAD_HEADERS = {
    "crlf": [("X-A", "a\r\nSet-Cookie: evil=1")],
    "lf": [("X-A", "a\nb")],
    "nul": [("X-A", "a\x00b")],
    "namespace": [("X A", "b")],
    "namecolon": [("X:A", "b")],
    "namenul": [("X\x00A", "b")],
    "nameempty": [("", "b")],
    "notuple": ["X-A: b"],
    "triple": [("X-A", "b", "c")],
    "bytes": [(b"X-A", b"b")],
    "notlist": (("X-A", "b"),),
    "wide": [("X-A", "\u20ac")],
}


def bad_status(environ, start_response):
    start_response(BAD_STATUS[environ["QUERY_STRING"]], [("Content-Type", "text/plain")])
    return [b"should not be sent"]


def bad_header(environ, start_response):
    start_response("200 OK", BAD_HEADERS[environ["QUERY_STRING"]])
    return [b"should not be sent"]


def bad_header_caught(environ, start_response):
    """Swallows start_response's error and returns a body anyway: still a 500."""
    try:
        start_response("200 OK", [("X-A", "a\r\nSet-Cookie: evil=1")])
    except ValueError:
        EVENTS.append("caught")
    return [b"body after a refused start_response"]


def raise_before(environ, start_response):
    raise ValueError("boom before")


def raise_after_start(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    raise ValueError("boom after start_response")


class Body:
    """An iterable with close(): yields `items`, raising at index `fail_at`."""

    def __init__(self, items, fail_at=-1):
        self.items = items
        self.fail_at = fail_at

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                EVENTS.append("raise")
                raise RuntimeError("boom in iteration")
            EVENTS.append("item%d" % i)
            yield item

    def close(self):
        EVENTS.append("close")


def raise_in_iter_first(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body([b"a", b"b"], fail_at=0)


def raise_in_iter_later(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body([b"first", b"b", b"c"], fail_at=1)


def body_items(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body([b"one", b"", b"two", b"three", b"four", b"five"])


def body_items_v(environ, start_response):
    return validator(body_items)(environ, start_response)


def close_raises(environ, start_response):
    class B:
        def __iter__(self):
            return iter([])

        def close(self):
            raise RuntimeError("close failed")
    start_response("204 No Content", [])
    return B()


def lazy_start(environ, start_response):
    """A generator that calls start_response only when iterated."""
    def gen():
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        yield b"lazy"
    return gen()


def no_start_response(environ, start_response):
    return [b"body without start_response"]


def no_start_response_empty(environ, start_response):
    return []


def empty_body(environ, start_response):
    start_response("204 No Content", [("X-Empty", "yes")])
    return []


def empty_body_v(environ, start_response):
    return validator(empty_body)(environ, start_response)


def exc_info_replace(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise KeyError("oops")
    except KeyError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"error page"]


def exc_info_after_sent(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"partial")
    try:
        raise KeyError("late")
    except KeyError:
        try:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())
        except KeyError as e:
            EVENTS.append("reraised:" + str(e))
            raise
    return [b"not reached"]


def second_call(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        start_response("201 Created", [])
        msg = b"no error"
    except RuntimeError as e:
        msg = str(e).encode()
    return [msg]


def write_app(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"one")
    write(b"")
    write(b"two")
    return [b"three"]


def write_app_v(environ, start_response):
    return validator(write_app)(environ, start_response)


def write_str(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write("not bytes")
    return []


def write_gone(environ, start_response):
    """Writes until the client is gone; reports the exception type."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        for i in range(10):
            write(b"chunk%d" % i)
    except OSError as e:
        EVENTS.append("write:" + type(e).__name__)
        raise
    return []


def return_bytes(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return b"a bytes object, not a list"


def return_int(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return 42


def yield_str(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["text"]


def file_wrapper(environ, start_response):
    """Serves the file named by QUERY_STRING; "skip3" in SCRIPT_NAME reads 3 bytes first,
    "bytesio" serves a BytesIO of the file's bytes instead."""
    path = environ["QUERY_STRING"]
    how = environ["SCRIPT_NAME"]
    f = open(path, "rb")
    if how == "/skip3":
        f.read(3)
    elif how == "/bytesio":
        data = f.read()
        f.close()
        f = io.BytesIO(data)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    EVENTS.append("fw")
    wrapper = environ["wsgi.file_wrapper"](f, 4)
    orig_close = f.close

    def close():
        EVENTS.append("fclose")
        orig_close()
    try:
        f.close = close
    except AttributeError:
        pass
    return wrapper


def file_wrapper_v(environ, start_response):
    return validator(file_wrapper)(environ, start_response)


def keep(environ, start_response):
    """Keeps the request-scoped objects for `use_kept`."""
    KEPT["input"] = environ["wsgi.input"]
    KEPT["errors"] = environ["wsgi.errors"]
    KEPT["start_response"] = start_response
    KEPT["write"] = start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"kept"]


def use_kept(environ, start_response):
    res = []
    for name, call in [("read", lambda: KEPT["input"].read()),
                       ("readline", lambda: KEPT["input"].readline()),
                       ("iter", lambda: next(iter(KEPT["input"]))),
                       ("start_response", lambda: KEPT["start_response"]("200 OK", [])),
                       ("write", lambda: KEPT["write"](b"x"))]:
        try:
            call()
            res.append("%s:ok" % name)
        except Exception as e:
            res.append("%s:%s:%s" % (name, type(e).__name__, e))
    KEPT["errors"].write("still usable\n")
    KEPT.clear()
    return _ok(start_response, "\n".join(res).encode())


def errors_app(environ, start_response):
    err = environ["wsgi.errors"]
    err.write("line one\npart")
    err.write("ial two\n")
    err.writelines(["three\n", "unterminated"])
    err.flush()
    err.write("caf\u00e9 \udcff\n")
    try:
        err.write(b"bytes")
        EVENTS.append("bytes accepted")
    except TypeError:
        EVENTS.append("bytes refused")
    return _ok(start_response, b"logged")


def errors_thread(environ, start_response):
    """wsgi.errors from another thread: a write still being sent when the request ends
    (the end waits for it), then one after the end (the error log only)."""
    import threading
    import time
    err = environ["wsgi.errors"]
    err.write("in request\n")
    started = threading.Event()

    def later():
        started.set()
        err.write("from thread\n")
        err.write("after the end\n")
    threading.Thread(target=later).start()
    started.wait()
    time.sleep(0.1)  # the thread is in its first write's send now
    return _ok(start_response, b"ok")


def blocks(environ, start_response):
    """sys.getallocatedblocks() after a full collection, for the leak check."""
    import gc
    gc.collect()
    return _ok(start_response, str(sys.getallocatedblocks()).encode())


def syspath(environ, start_response):
    body = json.dumps({"path": sys.path, "prefix": sys.prefix,
                       "base_prefix": sys.base_prefix}).encode()
    return _ok(start_response, body)


class Holder:
    """For the dotted CALLABLE spec "pyunit_apps:holder.app"."""

    def __init__(self):
        self.app = validator(dump)


holder = Holder()
not_callable = 42


def wsgi_keys(environ, start_response):
    """Reports the types of the wsgi.* entries and the errors/input methods."""
    out = {
        "version": list(environ["wsgi.version"]),
        "scheme": environ["wsgi.url_scheme"],
        "multithread": environ["wsgi.multithread"],
        "multiprocess": environ["wsgi.multiprocess"],
        "run_once": environ["wsgi.run_once"],
        "input_terminated": environ["wsgi.input_terminated"],
        "input": type(environ["wsgi.input"]).__name__,
        "errors": type(environ["wsgi.errors"]).__name__,
        "file_wrapper": environ["wsgi.file_wrapper"].__name__,
        "version_shared": environ["wsgi.version"] is KEPT.setdefault("v", environ["wsgi.version"]),
    }
    return _ok(start_response, json.dumps(out, sort_keys=True).encode())


def slow_echo(environ, start_response):
    """Reads the body line by line with iteration and echoes its length and a
    checksum: used by the multi-threaded test."""
    total = 0
    s = 0
    for line in environ["wsgi.input"]:
        total += len(line)
        s = (s + sum(line)) % 65521
    return _ok(start_response, ("%d %d %s" % (total, s, environ["PATH_INFO"])).encode())


def input_two_threads(environ, start_response):
    """Reads wsgi.input in a second thread (the fake gateway makes that read slow)
    while trying to read it here too: the second reader must get RuntimeError. The app
    returns without joining the thread: the end of the request must wait for it."""
    import threading
    import time
    inp = environ["wsgi.input"]
    started = threading.Event()

    def reader():
        started.set()
        try:
            EVENTS.append("thread:%d" % len(inp.read()))
        except Exception as e:
            EVENTS.append("thread:" + type(e).__name__)
    t = threading.Thread(target=reader)
    t.start()
    started.wait()
    time.sleep(0.05)
    try:
        inp.read()
        msg = "no error"
    except RuntimeError as e:
        msg = str(e)
    KEPT["thread"] = t
    return _ok(start_response, msg.encode())


def join_thread(environ, start_response):
    KEPT.pop("thread").join()
    return _ok(start_response, b"joined")


def uses_signal(environ, start_response):
    import signal
    return _ok(start_response, str(signal.getsignal(signal.SIGINT)).encode())
