-- POST one answer to each invitation in turn, never twice to the same one unless the token
-- list runs out (counted as "wrapped"). Arguments: the token file and the number of wrk threads.
local threads = {}
local counter = 0
local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
local comment = "De+vestiging+in+Utrecht+was+dicht%2C+de+code+werkte+niet"

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  step = tonumber(args[2])
  ok, other, wrapped = 0, 0, 0
end

function request()
  local index = id + counter * step
  counter = counter + 1
  if index >= #tokens then wrapped = wrapped + 1 end
  index = index % #tokens + 1
  local body = "score=" .. (index % 11) .. "&comment=" .. comment
  return wrk.format("POST", "/s/" .. tokens[index], headers, body)
end

function response(status, headers, body)
  -- A stored answer redirects to the thank-you page.
  if status == 302 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local totals = {ok = 0, other = 0, wrapped = 0}
  for _, thread in ipairs(threads) do
    for name in pairs(totals) do totals[name] = totals[name] + thread:get(name) end
  end
  io.write(string.format("COUNTS ok=%d other=%d wrapped=%d\n", totals.ok, totals.other, totals.wrapped))
end
