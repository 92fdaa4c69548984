-- wrk script: POST admits on loopback, spread over 1,000 client ids, and print one parseable
-- RESULT line. Every admit is allowed under bench-guard.sh's config, so each one reserves.
--
--   wrk ... -s scripts/bench-guard.lua URL/api/v1/guard/admit               admits only
--   wrk ... -s scripts/bench-guard.lua URL/api/v1/guard/admit -- settle     admit, then settle
--
-- With `settle`, as the platform works: every admitted reservation is settled with its actual
-- usage by the next request a connection of this thread sends, so what is outstanding stays
-- about one reservation per connection, and half the requests are settles. RESULT then counts
-- both (admits=, settles=); its latencies are of both kinds together (wrk keeps one histogram).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local n = 0
local waiting = {} -- reservation ids admitted, not yet settled
local settle_mode = false
local settle_path = string.gsub(wrk.path, "/admit$", "/settle")
-- Globals, read by done() through thread:get().
admits, settles = 0, 0

init = function(args)
  settle_mode = args[1] == "settle"
end

request = function()
  local id = settle_mode and table.remove(waiting)
  if id then
    return wrk.format(nil, settle_path, nil,
      '{"reservation_id":"' .. id .. '","usage":{"input_tokens":750,"output_tokens":380}}')
  end
  n = n + 1
  local body = string.format(
    '{"client_id":"bench-%d","kind":"ai","provider":"anthropic","model":"claude-sonnet-4-5",'
      .. '"estimate":{"input_tokens":800,"output_tokens":400}}', n % 1000)
  return wrk.format(nil, nil, nil, body)
end

response = function(status, headers, body)
  if status ~= 200 then return end
  -- A settle's answer names its reservation too: tell the two apart first.
  if string.find(body, '"settled":true', 1, true) then
    settles = settles + 1
    return
  end
  local id = string.match(body, '"reservation_id":"(%x+)"')
  if id then
    admits = admits + 1
    if settle_mode then waiting[#waiting + 1] = id end
  end
end

local threads = {}
setup = function(thread)
  threads[#threads + 1] = thread
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local a, s = 0, 0
  for _, t in ipairs(threads) do
    a = a + (t:get("admits") or 0)
    s = s + (t:get("settles") or 0)
  end
  io.write(string.format(
    "RESULT rps=%.0f admits_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d admits=%d settles=%d non2xx=%d socket_errors=%d\n",
    summary.requests / secs, a / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, a, s, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
