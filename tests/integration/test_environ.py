"""The environ the app sees (PEP 3333), through the it_probe app."""
import json

import pytest
import requests

from wsgate_util import req, t


def probe(srv, target="/", headers=(), method="GET", body=b"", version="HTTP/1.1",
          host="t"):
    r = srv.exchange(req(method, target, headers, body, version, host))
    assert r.status == 200, (r, r.body[:500])
    return json.loads(r.body)


def test_pep3333_keys_and_types(server):
    d = probe(server, "/a/b?x=1&y=2", headers=[("User-Agent", "it-test")])
    env = d["environ"]
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/a/b"
    assert env["QUERY_STRING"] == "x=1&y=2"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"]
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["REQUEST_URI"] == "/a/b?x=1&y=2"
    assert env["HTTP_HOST"] == "t"
    assert env["HTTP_USER_AGENT"] == "it-test"
    assert env["wsgi.url_scheme"] == "http"
    # no body: no CONTENT_LENGTH/CONTENT_TYPE, or empty (PEP 3333 allows either)
    assert env.get("CONTENT_LENGTH", "") in ("", "0")
    assert env.get("CONTENT_TYPE", "") == ""
    assert d["wsgi.version"] == [1, 0]
    assert d["wsgi.multithread"] is True
    assert d["wsgi.multiprocess"] is False
    assert d["wsgi.run_once"] is False
    assert d["wsgi.input_terminated"] is True
    assert d["types"]["wsgi.version"] == "tuple"
    assert d["types"]["wsgi.multithread"] == "bool"
    assert d["types"]["wsgi.multiprocess"] == "bool"
    assert d["types"]["wsgi.run_once"] == "bool"
    assert d["input_methods"] == ["__iter__", "read", "readline", "readlines"]
    assert d["errors_methods"] == ["flush", "write", "writelines"]
    assert d["file_wrapper_callable"] is True
    # every key without a dot is a native str (the probe lists non-str ones)
    assert [k for k in d["types"] if "." not in k] == []


def test_every_value_is_str_through_validator(server):
    # it_probe:application is wrapped in wsgiref.validate; a 200 means it was happy.
    probe(server, "/x")


def test_server_port_is_the_listener_port(server):
    # RFC 3875: SERVER_PORT is the port the request was received on.
    d = probe(server, "/", host="example.org")
    assert d["environ"]["HTTP_HOST"] == "example.org"
    assert d["environ"]["SERVER_PORT"] == str(server.port)


def test_post_content_type_and_length(server):
    body = b"a=1&b=2"
    d = probe(server, "/form?read=1", method="POST", body=body,
              headers=[("Content-Type", "application/x-www-form-urlencoded"),
                       ("Content-Length", str(len(body)))])
    env = d["environ"]
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == "7"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert d["body_len"] == 7


@pytest.mark.parametrize("raw,expected", [
    ("/a%20b", "/a b"),
    ("/a%2Fb", "/a/b"),
    ("/a%2fb", "/a/b"),
    ("/%41%42c", "/ABc"),
    ("/caf%C3%A9", "/caf\u00c3\u00a9"),      # UTF-8 bytes, each decoded as latin-1
    ("/x%FFy", "/x\u00ffy"),
    ("/a+b", "/a+b"),                           # '+' is not a space in a path
    ("/%25", "/%"),
    ("/%2525", "/%25"),                          # decoded once only
])
def test_path_info_percent_decoding(server, raw, expected):
    d = probe(server, raw + "?q=%41+b")
    assert d["environ"]["PATH_INFO"] == expected
    assert d["environ"]["REQUEST_URI"] == raw + "?q=%41+b"
    assert d["environ"]["QUERY_STRING"] == "q=%41+b"     # raw, never decoded


@pytest.mark.parametrize("raw", ["/a%zzb", "/a%4", "/a%"])
def test_path_info_invalid_percent(server, raw):
    # an invalid escape is either refused or passed on literally, never mangled
    r = server.exchange(req("GET", raw))
    if r.status == 400:
        return
    assert r.status == 200, r
    assert json.loads(r.body)["environ"]["PATH_INFO"] == raw


def test_path_obs_bytes_latin1(server):
    # a raw non-ASCII byte in the target: RFC 9112 refuses it in a request-target;
    # if accepted it must reach PATH_INFO as latin-1, never as mojibake or UTF-8.
    r = server.exchange(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n")
    if r.status == 400:
        return
    assert r.status == 200, r
    assert json.loads(r.body)["environ"]["PATH_INFO"] == "/caf\u00c3\u00a9"


def test_query_string_raw_and_fragmentless(server):
    d = probe(server, "/p?a=%20&b=c%26d&&e")
    assert d["environ"]["QUERY_STRING"] == "a=%20&b=c%26d&&e"
    d = probe(server, "/p?")
    assert d["environ"]["QUERY_STRING"] == ""
    d = probe(server, "/p")
    assert d["environ"]["QUERY_STRING"] == ""


def test_query_with_question_marks(server):
    d = probe(server, "/p?a=1?b=2")
    assert d["environ"]["PATH_INFO"] == "/p"
    assert d["environ"]["QUERY_STRING"] == "a=1?b=2"


def test_encoded_question_mark_stays_in_path(server):
    d = probe(server, "/p%3Fnot-query?real=1")
    assert d["environ"]["PATH_INFO"] == "/p?not-query"
    assert d["environ"]["QUERY_STRING"] == "real=1"


def test_head_method(server):
    r = server.exchange(req("HEAD", "/h"), method="HEAD")
    assert r.status == 200
    assert r.body == b""


def test_http10_protocol(server):
    d = probe(server, "/v", version="HTTP/1.0", host=None)
    assert d["environ"]["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in d["environ"]


def test_repeated_headers_joined(server):
    d = probe(server, "/", headers=[("X-Multi", "one"), ("X-Other", "z"),
                                    ("X-Multi", "two"), ("x-multi", "three")])
    assert d["environ"]["HTTP_X_MULTI"] == "one, two, three"
    assert d["environ"]["HTTP_X_OTHER"] == "z"


def test_header_names_case_and_dashes(server):
    d = probe(server, "/", headers=[("x-lower-case", "1"), ("X-UPPER", "2"),
                                    ("Accept-Encoding", "gzip")])
    env = d["environ"]
    assert env["HTTP_X_LOWER_CASE"] == "1"
    assert env["HTTP_X_UPPER"] == "2"
    assert env["HTTP_ACCEPT_ENCODING"] == "gzip"


def test_header_value_ows_trimmed(server):
    d = probe(server, "/", headers=[("X-Spaces", "  padded value \t")])
    assert d["environ"]["HTTP_X_SPACES"] == "padded value"


def test_underscore_headers_dropped(server):
    body = b"abc"
    d = probe(server, "/?read=1", method="POST", body=body,
              headers=[("X_Forwarded_For", "6.6.6.6"), ("X-Forwarded-For", "1.2.3.4"),
                       ("Content_Length", "999"), ("Content-Length", "3"),
                       ("Remote_Addr", "6.6.6.6"), ("X_Plain", "evil")])
    env = d["environ"]
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_X_PLAIN" not in env
    assert "HTTP_REMOTE_ADDR" not in env
    assert d["body_len"] == 3


def test_obs_text_header_value_latin1(server):
    r = server.exchange(b"GET / HTTP/1.1\r\nHost: t\r\nX-Name: caf\xc3\xa9\r\n\r\n")
    assert r.status == 200, r
    assert json.loads(r.body)["environ"]["HTTP_X_NAME"] == "caf\u00c3\u00a9"


def test_absolute_form_target(server):
    d = probe(server, "http://example.com/p?q=1")
    env = d["environ"]
    assert env["PATH_INFO"] == "/p"
    assert env["QUERY_STRING"] == "q=1"
    assert env["REQUEST_URI"] == "http://example.com/p?q=1"


def test_absolute_form_empty_path(server):
    d = probe(server, "http://example.com")
    assert d["environ"]["PATH_INFO"] == "/"


@pytest.mark.parametrize("target,version,host,http_host,name,port", [
    ("http://other.example:81/x", "HTTP/1.1", "t", "other.example:81", "other.example", "81"),
    ("http://other.example/x", "HTTP/1.1", "t:82", "other.example", "other.example", "80"),
    ("HTTPS://other.example?q", "HTTP/1.1", "t", "other.example", "other.example", "443"),
    ("https://other.example:8443/", "HTTP/1.1", "t", "other.example:8443", "other.example",
     "8443"),
    ("http://[::1]:81/x", "HTTP/1.1", "t", "[::1]:81", "[::1]", "81"),
    ("http://[::1]/x", "HTTP/1.1", "t", "[::1]", "[::1]", "80"),
    ("http://h:/x", "HTTP/1.1", "t", "h:", "h", "80"),
    ("http://other.example:81/x", "HTTP/1.0", None, "other.example:81", "other.example", "81"),
], ids=["port", "no-port", "https-default", "https-port", "v6-port", "v6", "empty-port",
        "http10-no-host"])
def test_absolute_form_authority_replaces_host(server, target, version, host, http_host,
                                               name, port):
    """RFC 9112 3.2.2: the target's authority is the host; the Host field is ignored."""
    env = probe(server, target, version=version, host=host)["environ"]
    assert env["HTTP_HOST"] == http_host
    assert env["SERVER_NAME"] == name
    assert env["SERVER_PORT"] == port
    assert env["REQUEST_URI"] == target


def test_script_name_option(wsgate):
    srv = wsgate("it_probe", "--script-name", "/mount")
    d = probe(srv, "/mount/sub/x?y=1")
    env = d["environ"]
    assert env["SCRIPT_NAME"] == "/mount"
    assert env["PATH_INFO"] == "/sub/x"
    assert env["QUERY_STRING"] == "y=1"
    assert env["REQUEST_URI"] == "/mount/sub/x?y=1"
    d = probe(srv, "/mount")
    assert d["environ"]["SCRIPT_NAME"] == "/mount"
    assert d["environ"]["PATH_INFO"] == ""


def test_script_name_option_not_a_prefix_match(wsgate):
    # "/mountain" is not under "/mount": it must not be split as /mount + "ain"
    srv = wsgate("it_probe", "--script-name", "/mount")
    r = srv.exchange(req("GET", "/mountain"))
    if r.status == 200:
        env = json.loads(r.body)["environ"]
        assert not (env["SCRIPT_NAME"] == "/mount" and env["PATH_INFO"] == "ain"), env
    else:
        assert r.status == 404, r


def test_script_name_encoded_path(wsgate):
    srv = wsgate("it_probe", "--script-name", "/mount")
    d = probe(srv, "/mount/a%20b")
    assert d["environ"]["SCRIPT_NAME"] == "/mount"
    assert d["environ"]["PATH_INFO"] == "/a b"


def test_via_requests_client(server):
    r = requests.get(server.url("/through/requests?k=v"), headers={"X-Custom": "yes"},
                     timeout=t(10))
    assert r.status_code == 200
    env = r.json()["environ"]
    assert env["PATH_INFO"] == "/through/requests"
    assert env["HTTP_X_CUSTOM"] == "yes"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % server.port


def test_request_scoped_objects_expire(wsgate, tmp_path):
    # The house style (docs/architecture.md): wsgi.input and start_response expire
    # with the request.
    app = tmp_path / "it_expire_app.py"
    app.write_text(
        "import json\n"
        "kept = {}\n"
        "def application(environ, start_response):\n"
        "    out = {}\n"
        "    if 'inp' in kept:\n"
        "        try:\n"
        "            kept['inp'].read(1); out['read'] = 'no error'\n"
        "        except Exception as e:\n"
        "            out['read'] = 'raised'\n"
        "        try:\n"
        "            kept['sr']('200 OK', []); out['sr'] = 'no error'\n"
        "        except Exception as e:\n"
        "            out['sr'] = 'raised'\n"
        "    kept['inp'] = environ['wsgi.input']\n"
        "    kept['sr'] = start_response\n"
        "    body = json.dumps(out).encode()\n"
        "    start_response('200 OK', [('Content-Type', 'application/json'),"
        " ('Content-Length', str(len(body)))])\n"
        "    return [body]\n")
    srv = wsgate("it_expire_app", "--pythonpath", str(tmp_path))
    s = requests.Session()
    assert s.get(srv.url("/"), timeout=t(10)).json() == {}
    out = s.get(srv.url("/"), timeout=t(10)).json()
    assert out == {"read": "raised", "sr": "raised"}
