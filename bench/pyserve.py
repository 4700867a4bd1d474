"""Start a pure-Python peer server for bench/: waitress or Tornado, on one port, in this
one process.

    pyserve.py waitress|tornado --port P [--threads N] [--backlog B]
               [--pythonpath DIR] MODULE:CALLABLE

waitress runs the app on N threads (threads=N), with a connection limit above the
largest row, the 10,000 connections of the scaling rows (its default of 100 would leave
connections of the 256-connection rows unserved) and poll() instead of select().

Tornado is set up the way its documentation shows for WSGI apps: a WSGIContainer on
an HTTPServer, on asyncio's loop. WSGIContainer (Tornado 6.2) calls the app on the
loop thread, one request at a time; --threads is ignored.
"""
import argparse
import importlib
import sys


def load(target):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name or "application")


def serve_waitress(app, a):
    import waitress
    waitress.serve(app, host="127.0.0.1", port=a.port, threads=a.threads,
                   backlog=a.backlog, connection_limit=12000, asyncore_use_poll=True)


def serve_tornado(app, a):
    import asyncio
    import tornado.httpserver
    import tornado.wsgi

    async def main():
        container = tornado.wsgi.WSGIContainer(app)
        http_server = tornado.httpserver.HTTPServer(container)
        http_server.listen(a.port, address="127.0.0.1", backlog=a.backlog)
        await asyncio.Event().wait()

    asyncio.run(main())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=("waitress", "tornado"))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--backlog", type=int, default=1024)
    p.add_argument("--pythonpath", action="append", default=[])
    p.add_argument("app")
    a = p.parse_args()
    sys.path[:0] = a.pythonpath
    app = load(a.app)
    if a.kind == "waitress":
        serve_waitress(app, a)
    else:
        serve_tornado(app, a)


if __name__ == "__main__":
    main()
