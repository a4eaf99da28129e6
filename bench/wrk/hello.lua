-- The baseline: a bare Flask route. Counts 200s like the other scripts.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, other, wrapped = 0, 0, 0
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local totals = {ok = 0, other = 0, wrapped = 0}
  for _, thread in ipairs(threads) do
    for name in pairs(totals) do totals[name] = totals[name] + thread:get(name) end
  end
  io.write(string.format("COUNTS ok=%d other=%d wrapped=%d\n", totals.ok, totals.other, totals.wrapped))
end
