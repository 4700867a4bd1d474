-- wrk script of the `echo` row: every request is a POST of a 1 MiB body (wrk adds the
-- Content-Length), then the common report of report.lua, loaded from this folder.

wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
