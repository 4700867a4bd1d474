"""A deliberately broken app for the response-side rows R1-R5 of
docs/hostile-inputs.md (not wrapped in wsgiref.validate: breaking the rules is the
point). Dispatch on PATH_INFO; /ok is a well-behaved answer for follow-ups."""

SECRET = b"MUST-NOT-BE-SENT"


def _ok(start_response, status="200 OK", headers=None, body=b"fine\n"):
    start_response(status, headers if headers is not None else
                   [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    p = environ.get("PATH_INFO", "")
    ct = ("Content-Type", "text/plain")
    # R1: header/status injection
    if p == "/crlf-value":
        return _ok(start_response, headers=[ct, ("X-Test", "a\r\nSet-Cookie: injected=1")])
    if p == "/lf-value":
        return _ok(start_response, headers=[ct, ("X-Test", "a\nX-Injected: 1")])
    if p == "/cr-value":
        return _ok(start_response, headers=[ct, ("X-Test", "a\rX-Injected: 1")])
    if p == "/nul-value":
        return _ok(start_response, headers=[ct, ("X-Test", "a\x00b")])
    if p == "/crlf-status":
        return _ok(start_response, status="200 OK\r\nSet-Cookie: injected=1")
    if p == "/space-name":
        return _ok(start_response, headers=[ct, ("X Test", "v")])
    if p == "/nul-name":
        return _ok(start_response, headers=[ct, ("X-Test\x00", "v")])
    if p == "/colon-name":
        return _ok(start_response, headers=[ct, ("Set-Cookie: injected=1\r\nX", "v")])
    if p == "/crlf-name":
        return _ok(start_response, headers=[ct, ("X-A\r\nX-Injected", "v")])
    if p == "/status-letters":
        return _ok(start_response, status="abc")
    if p == "/status-4digits":
        return _ok(start_response, status="2000 OK")
    if p == "/status-nonascii":
        return _ok(start_response, status="200 \u20ac")
    if p == "/value-nonlatin1":
        return _ok(start_response, headers=[ct, ("X-Test", "\u20ac")])
    # valid but unusual: latin-1 header value, custom reason phrase
    if p == "/latin1-value":
        return _ok(start_response, status="299 Custom Reason Here",
                   headers=[ct, ("X-Name", "caf\u00e9"), ("Content-Length", "5")])
    # R2: Content-Length disagreeing with the body
    if p == "/cl10-9":
        start_response("200 OK", [ct, ("Content-Length", "10")])
        return [b"123456789"]
    if p == "/cl10-20":
        start_response("200 OK", [ct, ("Content-Length", "10")])
        return [b"0123456789", b"ABCDEFGHIJ"]
    # R3: a body where none may be
    if p == "/body":  # used with HEAD
        body = b"body-for-head-" + SECRET
        start_response("200 OK", [ct, ("Content-Length", str(len(body)))])
        return [body]
    if p == "/body-nocl":  # HEAD without a Content-Length from the app
        start_response("200 OK", [ct])
        return [b"body-for-head-", SECRET]
    if p == "/204":
        start_response("204 No Content", [])
        return [SECRET]
    if p == "/304":
        start_response("304 Not Modified", [("ETag", '"x"')])
        return [SECRET]
    if p == "/204-cl":  # a Content-Length a 204 must not carry (RFC 9110 8.6)
        start_response("204 No Content", [("Content-Length", str(len(SECRET)))])
        return [SECRET]
    if p == "/304-cl":  # a 304 may carry the length a GET would have got
        start_response("304 Not Modified", [("ETag", '"x"'), ("Content-Length", "42")])
        return [SECRET]
    if p == "/205":  # RFC 9110 15.3.6: a 205 must not carry content
        start_response("205 Reset Content", [ct, ("Content-Length", str(len(SECRET)))])
        return [SECRET]
    if p == "/205-nocl":
        start_response("205 Reset Content", [ct])
        return [b"reset-", SECRET]
    # R4: raise after the headers were sent
    if p == "/raise-after-first":
        start_response("200 OK", [ct])

        def gen():
            yield b"first-chunk;"
            raise RuntimeError("it_bad: raise after first chunk")
        return gen()
    if p == "/raise-after-first-cl":
        start_response("200 OK", [ct, ("Content-Length", "100")])

        def gen2():
            yield b"first-chunk;"
            raise RuntimeError("it_bad: raise after first chunk (CL)")
        return gen2()
    # R5 and friends: no valid start_response
    if p == "/no-start-response":
        return [b"body without start_response " + SECRET]
    if p == "/no-start-response-empty":
        return []
    if p == "/raise-before-start":
        raise RuntimeError("it_bad: raise before start_response")
    if p == "/returns-none":
        start_response("200 OK", [ct])
        return None
    if p == "/yields-str":
        start_response("200 OK", [ct])
        return ["a str, not bytes " + SECRET.decode()]
    return _ok(start_response)
