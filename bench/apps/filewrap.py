"""Benchmark app `file`: the 16 MiB file named by $WSGATE_BENCH_FILE (the harness
creates it in its temp dir) through environ['wsgi.file_wrapper'], with Content-Length.

PEP 3333 makes the wrapper optional: a server without one (Tornado's WSGIContainer)
gets the fallback the PEP describes, the file read in 64 KiB blocks."""
import os

PATH = os.environ.get("WSGATE_BENCH_FILE", "")
BLOCK = 65536


def read_blocks(f, block):
    with f:
        while True:
            data = f.read(block)
            if not data:
                return
            yield data


def app(environ, start_response):
    f = open(PATH, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None:
        return read_blocks(f, BLOCK)
    return wrapper(f, BLOCK)
