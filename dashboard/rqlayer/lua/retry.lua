-- Retry (failed, stopped, canceled) or re-run (finished). option = "<expected statuses>|front|back".
local expected, where = string.match(option, '^([^|]*)|(%a+)$')
local results = {}
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', job_key(id), 'origin', 'status', 'rate_limit_key')
  local origin, status, limit = f[1], f[2], f[3]
  if not origin then
    results[#results + 1] = 'missing'
  elseif not allowed(status or '', expected) then
    results[#results + 1] = status or 'unknown'
  elseif not take_out(id, status, origin, limit) then
    results[#results + 1] = 'moved'
  else
    redis.call('HDEL', job_key(id), 'started_at', 'ended_at', 'exc_info', 'last_heartbeat')
    -- The failure TTL (a year) or result TTL (minutes) must not expire a job waiting to run again.
    redis.call('PERSIST', job_key(id))
    results[#results + 1] = push(id, origin, limit, where == 'front') == 'queued' and 'ok' or 'ok:rate_limited'
  end
end
return results
