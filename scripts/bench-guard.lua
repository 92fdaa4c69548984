-- wrk script: POST admits on loopback, spread over 1,000 client ids, and print one parseable
-- RESULT line. Every admit is allowed under bench-guard.sh's config, so each one reserves.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"client_id":"bench-%d","kind":"ai","provider":"anthropic","model":"claude-sonnet-4-5",'
      .. '"estimate":{"input_tokens":800,"output_tokens":400}}', n % 1000)
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d non2xx=%d socket_errors=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
