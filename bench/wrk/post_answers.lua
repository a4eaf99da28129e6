-- POST one answer to each invitation in turn, never twice to the same one unless the list runs
-- out (counted as "wrapped"). Arguments: a file of "path<TAB>body" lines, one per invitation
-- (a form carrying the CSRF value of that invitation's link; no cookie is needed), and the
-- number of wrk threads.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  answers = {}
  for line in io.lines(args[1]) do
    local path, body = line:match("^([^\t]+)\t([^\t]+)$")
    answers[#answers + 1] = {path = path, body = body}
  end
  step = tonumber(args[2])
  ok, other, wrapped = 0, 0, 0
end

function request()
  local index = id + counter * step
  counter = counter + 1
  if index >= #answers then wrapped = wrapped + 1 end
  index = index % #answers + 1
  local answer = answers[index]
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  return wrk.format("POST", answer.path, headers, answer.body)
end

function response(status, headers, body)
  -- A stored answer redirects to the thank-you page; a failed CSRF check is a 400.
  if status == 302 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local totals = {ok = 0, other = 0, wrapped = 0}
  for _, thread in ipairs(threads) do
    for name in pairs(totals) do totals[name] = totals[name] + thread:get(name) end
  end
  io.write(string.format("COUNTS ok=%d other=%d wrapped=%d\n", totals.ok, totals.other, totals.wrapped))
end
