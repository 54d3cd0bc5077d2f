-- wrk script: POST a 256 KiB body to /echo-size (the size is set by BODY_BYTES, default 262144).
local size = tonumber(os.getenv("BODY_BYTES") or "262144")
wrk.method = "POST"
wrk.path = "/echo-size"
wrk.body = string.rep("a", size)
wrk.headers["Content-Type"] = "application/octet-stream"
