"""Returns environ['wsgi.file_wrapper'] over ?path= (the server should sendfile it).

?cl=1 declares Content-Length (the file size less ?seek=), ?cl=N declares N;
?seek=N seeks the file first; ?blk= block size;
?kind=bytesio wraps an io.BytesIO instead (no fileno: must still be iterated);
?kind=pipe wraps a pipe-like object whose fileno is not a regular file.
`application` is bare so the server can recognise its own wrapper; `validated`
goes through wsgiref.validate (which hides the wrapper, so it is iterated).
"""
import io
import os
from urllib.parse import parse_qs
from wsgiref.validate import validator


def app(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    kind = qs.get("kind", ["file"])[0]
    blk = int(qs.get("blk", ["65536"])[0])
    path = qs["path"][0]
    headers = [("Content-Type", "application/octet-stream")]
    if kind == "bytesio":
        with open(path, "rb") as f:
            fobj = io.BytesIO(f.read())
        size = len(fobj.getvalue())
    else:
        fobj = open(path, "rb")
        size = os.fstat(fobj.fileno()).st_size
    seek = int(qs.get("seek", ["0"])[0])
    if seek:
        fobj.seek(seek)  # PEP 3333: transmission starts at the current position
    if qs.get("cl") == ["1"]:
        headers.append(("Content-Length", str(size - seek)))
    elif qs.get("cl", ["0"])[0] not in ("0", "1"):
        headers.append(("Content-Length", qs["cl"][0]))  # explicit, maybe short
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](fobj, blk)


application = app
validated = validator(app)
