"""A small FastCGI client for the integration tests (the FastCGI 1.0 spec; the wire
constants of libfcgi's fastcgi.h).

Two layers:
  - encoders that build any record, well-formed or not (version, padding, lengths
    as given), so hostile inputs (F01-F28 of docs/hostile-inputs.md) are written
    byte by byte;
  - FcgiConn: a connection that sends bytes and reads records back, sorting
    STDOUT/STDERR/END_REQUEST by request id (multiplexed answers may interleave),
    with a deadline on every read: a silent server fails the test, it never hangs
    the suite.

Nothing here depends on pytest; every timeout goes through wsgate_util.t().
"""
import struct
import time

from wsgate_util import NoResponse, StreamConn, as_bytes, connect_to

VERSION_1 = 1
HEADER_LEN = 8
MAX_LENGTH = 0xFFFF

# record types
BEGIN_REQUEST = 1
ABORT_REQUEST = 2
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7
DATA = 8
GET_VALUES = 9
GET_VALUES_RESULT = 10
UNKNOWN_TYPE = 11

TYPE_NAMES = {1: "BEGIN_REQUEST", 2: "ABORT_REQUEST", 3: "END_REQUEST", 4: "PARAMS",
              5: "STDIN", 6: "STDOUT", 7: "STDERR", 8: "DATA", 9: "GET_VALUES",
              10: "GET_VALUES_RESULT", 11: "UNKNOWN_TYPE"}

# roles
RESPONDER = 1
AUTHORIZER = 2
FILTER = 3

# BEGIN_REQUEST flags
KEEP_CONN = 1

# END_REQUEST protocol status
REQUEST_COMPLETE = 0
CANT_MPX_CONN = 1
OVERLOADED = 2
UNKNOWN_ROLE = 3

PROTOCOL_STATUS_NAMES = {0: "REQUEST_COMPLETE", 1: "CANT_MPX_CONN", 2: "OVERLOADED",
                         3: "UNKNOWN_ROLE"}


# ---------------------------------------------------------------- encoders

def header(rtype, rid, clen, plen=0, version=VERSION_1, reserved=0):
    """H(t,id,n,p) of docs/hostile-inputs.md, every field as given (no checks)."""
    return bytes([version, rtype, (rid >> 8) & 255, rid & 255, (clen >> 8) & 255, clen & 255,
                  plen & 255, reserved & 255])


def record(rtype, rid, content=b"", padding=0, version=VERSION_1, pad_byte=b"\0"):
    """One record; content must be at most 65535 bytes (use stream() for more)."""
    content = as_bytes(content)
    if len(content) > MAX_LENGTH:
        raise ValueError("record content of %d bytes" % len(content))
    return header(rtype, rid, len(content), padding, version) + content + pad_byte * padding


def stream(rtype, rid, data, chunk=MAX_LENGTH, end=True, padding=0):
    """A stream (PARAMS, STDIN, DATA): data split into records of at most chunk bytes,
    then the empty record that ends the stream when end is set."""
    data = as_bytes(data)
    out = []
    for i in range(0, len(data), chunk):
        out.append(record(rtype, rid, data[i:i + chunk], padding=padding))
    if end:
        out.append(record(rtype, rid, b""))
    return b"".join(out)


def encode_length(n, force4=False):
    """A name-value length: 1 byte below 128, else 4 bytes with the high bit set."""
    if n < 128 and not force4:
        return bytes([n])
    return struct.pack(">I", n | 0x80000000)


def pair(name, value, force4=False):
    name, value = as_bytes(name), as_bytes(value)
    return (encode_length(len(name), force4) + encode_length(len(value), force4)
            + name + value)


def pairs(items, force4=False):
    """Encodes a dict or an iterable of (name, value) (repeats allowed)."""
    if isinstance(items, dict):
        items = items.items()
    return b"".join(pair(k, v, force4) for k, v in items)


def decode_pairs(data):
    """Decodes a name-value body into [(name bytes, value bytes)]; raises ValueError
    when it runs past the end."""
    out = []
    i = 0
    n = len(data)

    def length():
        nonlocal i
        if i >= n:
            raise ValueError("truncated length")
        if data[i] < 128:
            i += 1
            return data[i - 1]
        if i + 4 > n:
            raise ValueError("truncated 4-byte length")
        v = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF
        i += 4
        return v

    while i < n:
        nl = length()
        vl = length()
        if i + nl + vl > n:
            raise ValueError("pair runs past the body")
        out.append((data[i:i + nl], data[i + nl:i + nl + vl]))
        i += nl + vl
    return out


def begin_body(role=RESPONDER, flags=0):
    return struct.pack(">HB5x", role, flags)


def begin(rid, role=RESPONDER, flags=0, keep_conn=None):
    if keep_conn is not None:
        flags = (flags | KEEP_CONN) if keep_conn else (flags & ~KEEP_CONN)
    return record(BEGIN_REQUEST, rid, begin_body(role, flags))


def params(rid, items, chunk=MAX_LENGTH, end=True, force4=False):
    return stream(PARAMS, rid, pairs(items, force4), chunk=chunk, end=end)


def stdin(rid, body, chunk=MAX_LENGTH, end=True):
    return stream(STDIN, rid, body, chunk=chunk, end=end)


def abort(rid):
    return record(ABORT_REQUEST, rid)


def get_values(names=("FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS")):
    return record(GET_VALUES, 0, pairs([(n, b"") for n in names]))


def cgi_params(method="GET", uri="/", body=None, headers=(), content_type=None,
               server_port="80", remote_port="50000", extra=(), protocol="HTTP/1.1",
               content_length=True):
    """The CGI variables a front server would send for `method uri` (roughly nginx's
    stock fastcgi_params, without the pass-through extras unless given in extra).
    body: its length goes in CONTENT_LENGTH (empty string without a body, as nginx).
    headers: (name, value) pairs -> HTTP_* variables. Returns a list of pairs."""
    uri = as_bytes(uri)
    path, _, query = uri.partition(b"?")
    items = [("QUERY_STRING", query), ("REQUEST_METHOD", method)]
    items.append(("CONTENT_TYPE", content_type or ""))
    if content_length:
        items.append(("CONTENT_LENGTH", "" if body is None else str(len(as_bytes(body)))))
    items += [("REQUEST_URI", uri), ("SERVER_PROTOCOL", protocol),
              ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", remote_port),
              ("SERVER_ADDR", "127.0.0.1"), ("SERVER_PORT", server_port),
              ("SERVER_NAME", "localhost")]
    for k, v in headers:
        k = as_bytes(k).decode("latin-1")
        items.append(("HTTP_" + k.upper().replace("-", "_"), v))
    items += list(extra)
    return items


def request_bytes(rid, items, body=b"", keep_conn=False, role=RESPONDER, chunk=MAX_LENGTH):
    """A whole well-formed request: BEGIN_REQUEST, PARAMS stream, STDIN stream."""
    return (begin(rid, role, KEEP_CONN if keep_conn else 0) + params(rid, items)
            + stdin(rid, body, chunk=chunk))


# ---------------------------------------------------------------- decoding

class Record:
    __slots__ = ("version", "type", "rid", "content", "padding", "clen")

    def __init__(self, version, rtype, rid, content, padding):
        self.version = version
        self.type = rtype
        self.rid = rid
        self.content = content
        self.padding = padding
        self.clen = len(content)

    def __repr__(self):
        return "<Record %s id=%d len=%d pad=%d>" % (
            TYPE_NAMES.get(self.type, self.type), self.rid, self.clen, self.padding)


class FcgiProtocolError(AssertionError):
    """The server sent something that is not a well-formed FastCGI record."""


class Result:
    """What came back for one request id."""

    def __init__(self, rid):
        self.rid = rid
        self.stdout = b""
        self.stderr = b""
        self.stdout_records = []  # content lengths of the STDOUT records, in order
        self.stdout_ended = False  # the empty STDOUT record was seen
        self.records = []  # every record for this id, in order
        self.ended = False
        self.app_status = None
        self.protocol_status = None
        self.end_time = None
        self.first_time = None
        self._parsed = None

    def _parse(self):
        if self._parsed is None:
            data = self.stdout
            i = data.find(b"\r\n\r\n")
            j = data.find(b"\n\n")
            if i < 0 and j < 0:
                self._parsed = (None, [], data)
            else:
                if i < 0 or (0 <= j < i):
                    head, body = data[:j], data[j + 2:]
                else:
                    head, body = data[:i], data[i + 4:]
                headers = []
                status = 200
                for line in head.replace(b"\r\n", b"\n").split(b"\n"):
                    if b":" not in line:
                        raise FcgiProtocolError("bad CGI header line %r" % line)
                    k, v = line.split(b":", 1)
                    k = k.decode("latin-1")
                    v = v.strip().decode("latin-1")
                    if k.lower() == "status":
                        status = int(v.split()[0])
                    headers.append((k, v))
                self._parsed = (status, headers, body)
        return self._parsed

    @property
    def status(self):
        return self._parse()[0]

    @property
    def headers(self):
        return self._parse()[1]

    @property
    def body(self):
        return self._parse()[2]

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def json(self):
        import json
        return json.loads(self.body.decode("utf-8"))

    @property
    def complete(self):
        return self.ended and self.protocol_status == REQUEST_COMPLETE

    def __repr__(self):
        return ("<Result id=%d ended=%s proto=%s app=%s stdout=%d bytes in %d records%s "
                "stderr=%r>" % (
                    self.rid, self.ended, PROTOCOL_STATUS_NAMES.get(self.protocol_status,
                                                                    self.protocol_status),
                    self.app_status, len(self.stdout), len(self.stdout_records),
                    " +empty" if self.stdout_ended else "", self.stderr[:200]))


class FcgiConn(StreamConn):
    """One client connection. Records read are sorted into per-id Results (id 0:
    management records in self.management)."""

    RECV_SIZE = 262144

    def __init__(self, addr=None, sock=None, timeout=None):
        super().__init__(sock if sock is not None else connect_to(addr), timeout)
        self.results = {}
        self.management = []
        self.log = []  # every record in arrival order

    def request(self, items, body=b"", rid=1, keep_conn=False, role=RESPONDER, timeout=None):
        """Sends one whole request and reads its answer (until END_REQUEST)."""
        self.send(request_bytes(rid, items, body, keep_conn=keep_conn, role=role))
        return self.read_until_end(rid, timeout=timeout)

    # -- receiving -------------------------------------------------------
    def read_record(self, timeout=None, deadline=None):
        """The next record, or None at EOF (between records). A record cut short by
        EOF or a malformed header is an FcgiProtocolError; no record before the
        deadline is NoResponse."""
        if deadline is None:
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < HEADER_LEN:
            if not self._fill(deadline):
                if self.buf:
                    raise FcgiProtocolError("EOF inside a record header: %r" % self.buf)
                return None
        version, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", self.buf[:HEADER_LEN])
        if version != VERSION_1:
            raise FcgiProtocolError("record with version %d: %r" % (version, self.buf[:16]))
        total = HEADER_LEN + clen + plen
        while len(self.buf) < total:
            if not self._fill(deadline):
                raise FcgiProtocolError("EOF inside a record (%d of %d bytes)"
                                        % (len(self.buf), total))
        rec = Record(version, rtype, rid, self.buf[HEADER_LEN:HEADER_LEN + clen], plen)
        self.buf = self.buf[total:]
        self._sort(rec)
        return rec

    def result(self, rid):
        r = self.results.get(rid)
        if r is None:
            r = self.results[rid] = Result(rid)
        return r

    def _sort(self, rec):
        self.log.append(rec)
        if rec.rid == 0:
            self.management.append(rec)
            return
        r = self.result(rec.rid)
        now = time.monotonic()
        if r.first_time is None:
            r.first_time = now
        r.records.append(rec)
        if r.ended:
            raise FcgiProtocolError("%r after END_REQUEST for id %d" % (rec, rec.rid))
        if rec.type == STDOUT:
            if r.stdout_ended:
                raise FcgiProtocolError("STDOUT after the empty STDOUT for id %d" % rec.rid)
            if rec.clen == 0:
                r.stdout_ended = True
            else:
                r.stdout += rec.content
                r.stdout_records.append(rec.clen)
        elif rec.type == STDERR:
            r.stderr += rec.content
        elif rec.type == END_REQUEST:
            if rec.clen != 8:
                raise FcgiProtocolError("END_REQUEST with %d content bytes" % rec.clen)
            r.app_status, r.protocol_status = struct.unpack(">IB3x", rec.content)
            r.ended = True
            r.end_time = now
        else:
            raise FcgiProtocolError("unexpected record from the server: %r" % rec)

    def read_until_end(self, rid=1, timeout=None):
        """Reads records (of any id) until END_REQUEST for rid; returns its Result.
        The connection closing first is NoResponse."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        r = self.result(rid)
        while not r.ended:
            if self.read_record(deadline=deadline) is None:
                raise NoResponse("connection closed before END_REQUEST for id %d: %r"
                                 % (rid, r))
        return r

    def read_all(self, rids, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for rid in rids:
            r = self.result(rid)
            while not r.ended:
                if self.read_record(deadline=deadline) is None:
                    raise NoResponse("connection closed before END_REQUEST for id %d: %r"
                                     % (rid, r))
        return [self.results[rid] for rid in rids]

    def read_management(self, timeout=None):
        """Reads until a management record (id 0) arrives and returns it."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        n = len(self.management)
        while len(self.management) == n:
            if self.read_record(deadline=deadline) is None:
                raise NoResponse("connection closed before a management record")
        return self.management[n]

    def closed_within(self, timeout):
        """True if the server closes (EOF or reset) within timeout. Records that
        arrive meanwhile are sorted as usual."""
        deadline = time.monotonic() + timeout
        try:
            while self.read_record(deadline=deadline) is not None:
                pass
        except NoResponse:
            return False
        return True



def values_dict(rec):
    """The name -> value dict of a GET_VALUES_RESULT record (names and values as str);
    a name given twice raises."""
    out = {}
    for k, v in decode_pairs(rec.content):
        k = k.decode("latin-1")
        if k in out:
            raise AssertionError("GET_VALUES_RESULT names %s twice" % k)
        out[k] = v.decode("latin-1")
    return out


# ---------------------------------------------------------------- a running server

def open_fcgi(srv, timeout=None):
    """A connection to the --fastcgi listener of a Server started by
    frontends.start_fcgi_wsgate."""
    return FcgiConn(srv.fcgi_addr, timeout=timeout)


def fcgi_get(srv, uri="/probe/x", body=None, rid=1, keep_conn=False, **kw):
    """One request on a fresh connection, a GET (or a POST of body): its Result.
    kw: more cgi_params keywords (headers, extra...)."""
    method = "GET" if body is None else "POST"
    with open_fcgi(srv) as c:
        return c.request(cgi_params(method, uri, body=body, **kw), body=body or b"", rid=rid,
                         keep_conn=keep_conn)
