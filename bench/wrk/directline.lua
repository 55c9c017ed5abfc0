-- wrk script: POSTs user messages to the built-in Direct Line channel, in
-- turn to each of the conversations in BENCH_CONVERSATIONS (comma-separated
-- ids, opened beforehand), with the channel's secret BENCH_SECRET as the
-- bearer (a secret may post to any conversation). Each post is logged, its
-- turn run, and answered when the turn ends.
--
--   BENCH_SECRET=s BENCH_CONVERSATIONS=a,b wrk -t1 -c8 -d10s -s bench/wrk/directline.lua http://127.0.0.1:3978
--
-- bench/scripts/directline-cost.sh runs it against two binaries.

local conversations = {}
for id in string.gmatch(os.getenv("BENCH_CONVERSATIONS") or "", "[^,]+") do
  table.insert(conversations, id)
end
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (os.getenv("BENCH_SECRET") or ""),
}
local body = '{"type":"message","from":{"id":"bench-user"},"text":"hi"}'
local counter = 0

request = function()
  counter = counter + 1
  local id = conversations[(counter % #conversations) + 1]
  return wrk.format("POST", "/v3/directline/conversations/" .. id .. "/activities", headers, body)
end
