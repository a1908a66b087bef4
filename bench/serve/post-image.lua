-- wrk script: POST one image file to /v1/predict, and print one JSON line of the run's numbers at the end.
-- Environment: IMAGE (the file), MAX_REQUESTS (optional: stop after this many responses; one wrk thread), CELL (a label).
local image = assert(io.open(os.getenv("IMAGE"), "rb")):read("*a")
wrk.method = "POST"
wrk.path = "/v1/predict"
wrk.body = image
wrk.headers["Content-Type"] = "image/png"

local max_requests = tonumber(os.getenv("MAX_REQUESTS") or "0")
local responses = 0
function response(status, headers, body)
  responses = responses + 1
  if max_requests > 0 and responses >= max_requests then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"cell": "%s", "requests": %d, "seconds": %.2f, "rps": %.1f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, ' ..
    '"non_2xx": %d, "socket_errors": %d}\n',
    os.getenv("CELL") or "", summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
