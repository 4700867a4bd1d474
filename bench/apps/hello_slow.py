"""Benchmark app `hello_slow`, for the slow-clients row: the `hello` response (the same
14 bytes, see hello.py) at every path but /8mib, which answers one 8 MiB bytes object
with Content-Length: what the row's slow clients ask for and never read, while wrk
loads / ."""

BODY = b"Hello, World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
BIG = bytes(range(256)) * 32768  # 8 MiB, not all one byte value
BIG_HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))]


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/8mib":
        start_response("200 OK", BIG_HEADERS)
        return [BIG]
    start_response("200 OK", HEADERS)
    return [BODY]
