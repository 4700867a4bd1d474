"""Routes /NAME[...] to the app NAME of pyunit_apps (or hello for /hello), so one
interpreter can serve every kind of request: used by the leak and expiry tests."""
import hello
import pyunit_apps


def application(environ, start_response):
    name = environ["PATH_INFO"].lstrip("/").split("/")[0]
    if name == "hello":
        return hello.application(environ, start_response)
    return getattr(pyunit_apps, name)(environ, start_response)
