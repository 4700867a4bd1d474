"""Records calls to the response iterable's close() in ?file=PATH (one line per
call, "closed <PATH_INFO>").

/ok      three chunks, then close()
/raise   one chunk, then an exception from the iterator (close() must still run)
/slow    ?n= chunks of 64 KiB with ?delay= between (the client leaves early)
"""
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator


class Body:
    def __init__(self, path, report, n, delay):
        self.path = path
        self.report = report
        self.n = n
        self.delay = delay

    def __iter__(self):
        if self.path == "/raise":
            yield b"first;"
            raise RuntimeError("it_close: deliberate failure")
        if self.path == "/slow":
            for i in range(self.n):
                yield b"x" * 65536
                time.sleep(self.delay)
            return
        yield b"a"
        yield b"b"
        yield b"c"

    def close(self):
        with open(self.report, "a") as f:
            f.write("closed %s\n" % self.path)


def app(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    path = environ.get("PATH_INFO", "")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body(path, qs["file"][0], int(qs.get("n", ["1000"])[0]),
                float(qs.get("delay", ["0.01"])[0]))


application = validator(app)
raw = app
