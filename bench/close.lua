-- wrk script of the https-newconn row: every request says "Connection: close", so the
-- server closes the connection after the response and wrk opens a new one (TCP and
-- TLS handshake) for the next request. wrk keeps the TLS session of a connection
-- (SSL_clear after a clean SSL_shutdown) and offers it on the next: the handshakes
-- are resumptions, but the first of each connection. Then the common report of
-- report.lua, loaded from this folder.

wrk.headers["Connection"] = "close"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
