"""Benchmark app `sleep`: waits 50 ms (time.sleep, which releases the GIL) and answers
a short body. Throughput is bounded by threads / 0.05 s: the row measures how well the
server keeps every thread busy."""
import time

DELAY = 0.05
BODY = b"slept 50 ms\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    time.sleep(DELAY)
    start_response("200 OK", HEADERS)
    return [BODY]
