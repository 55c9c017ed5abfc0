-- wrk script: POSTs Bot Framework message activities to turnbox, each with
-- an id unique per thread and per run (a repeated id would be answered from
-- the de-duplication record instead of running a turn), spread over 256
-- conversations per thread.
--
--   wrk -t2 -c32 -d10s -s bench/wrk/activity.lua http://127.0.0.1:3978/api/messages
--
-- Environment: BENCH_TEXT (default "hi"); BENCH_MODE "expectReplies"
-- (default: the replies come back in the response) or "normal" (replies go
-- to BENCH_SERVICE_URL, e.g. bench-ceiling's http://127.0.0.1:29099/);
-- BENCH_PATHS, comma-separated request paths taken in turn (default: the
-- URL's own).

local threads = {}
local run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))

function setup(thread)
  thread:set("tid", #threads + 1)
  thread:set("run", run)
  table.insert(threads, thread)
end

local counter = 0
local text = os.getenv("BENCH_TEXT") or "hi"
local normal = os.getenv("BENCH_MODE") == "normal"
local service_url = os.getenv("BENCH_SERVICE_URL") or "http://127.0.0.1:1/"
local delivery = normal and "" or ',"deliveryMode":"expectReplies"'
local headers = { ["Content-Type"] = "application/json" }
local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^,]+") do
  table.insert(paths, path)
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"type":"message","id":"%s-%d-%d","channelId":"bench","serviceUrl":"%s",' ..
    '"from":{"id":"user-%d"},"recipient":{"id":"bot"},' ..
    '"conversation":{"id":"conv-%d-%d"},"text":"%s"%s}',
    run, tid, counter, service_url, tid, tid, counter % 256, text, delivery)
  local path = nil
  if #paths > 0 then
    path = paths[counter % #paths + 1]
  end
  return wrk.format("POST", path, headers, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
