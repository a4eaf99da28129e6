-- GET the survey page of many invitations in turn, as the link in each email would, without a
-- cookie: /s/<token>?score=N. Arguments: the file of request paths (one a line) and the number
-- of wrk threads.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  step = tonumber(args[2])
  ok, other, wrapped = 0, 0, 0
end

function request()
  local index = id + counter * step
  counter = counter + 1
  if index >= #paths then wrapped = wrapped + 1 end
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
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
