-- wrk script: one JSON-RPC request per call over keep-alive connections, ids unique per run.
-- wrk -s bench/mcp.lua URL -- <session-id|-> <token|-> <method> <tool|-> <protocol-version> <run>
--   <pace-ms> <connections>
-- pace-ms 0: back to back; N: each connection waits N ms after an answer (paced load), the
-- connections' first requests staggered over N ms so they do not arrive in bursts.
-- Counts answers that are not HTTP 200 with a JSON-RPC "result" as bad; prints one JSON line.
local threads = {}
counter = 0
bad = 0  -- globals: done() reads them per thread with thread:get
sample = ""
local body_prefix, body_suffix, hdrs

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  local sid, token, method, tool, version, run = args[1], args[2], args[3], args[4], args[5], args[6]
  local pace, conns = tonumber(args[7] or "0"), tonumber(args[8] or "1")
  if pace > 0 then
    local calls = 0
    delay = function()
      calls = calls + 1
      if calls <= conns then return math.floor((calls - 1) * pace / conns) end
      return pace
    end
  end
  hdrs = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = version,
  }
  if sid ~= "-" then hdrs["Mcp-Session-Id"] = sid end
  if token ~= "-" then hdrs["Authorization"] = "Bearer " .. token end
  local params = "{}"
  if tool ~= "-" then
    params = '{"name":"' .. tool .. '","arguments":{"text":"hello from wrk"}}'
  end
  body_prefix = '{"jsonrpc":"2.0","id":"' .. run .. '-' .. tid .. '-'
  body_suffix = '","method":"' .. method .. '","params":' .. params .. '}'
end

function request()
  counter = counter + 1
  return wrk.format("POST", nil, hdrs, body_prefix .. counter .. body_suffix)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) then
    bad = bad + 1
    if sample == "" then sample = status .. " " .. string.sub(body, 1, 200) end
  end
end

function done(summary, latency, requests)
  local total_bad, first_bad = 0, ""
  for _, t in ipairs(threads) do
    total_bad = total_bad + t:get("bad")
    if first_bad == "" then first_bad = t:get("sample") end
  end
  io.stderr:write("first bad answer: " .. first_bad .. "\n")
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"bad":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, total_bad, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
