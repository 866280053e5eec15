-- Cancel jobs that have not started: they move to the canceled registry (dependents stay, as in RQ).
local results = {}
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', job_key(id), 'origin', 'status', 'rate_limit_key')
  local origin, status, limit = f[1], f[2], f[3]
  if not origin then
    results[#results + 1] = 'missing'
  elseif not allowed(status or '', option) then
    results[#results + 1] = status or 'unknown'
  elseif not take_out(id, status, origin, limit) then
    results[#results + 1] = 'moved'
  else
    redis.call('ZADD', registry_key('canceled', origin), now_ts, id)
    redis.call('HSET', job_key(id), 'status', 'canceled')
    rl_release(id, limit)
    results[#results + 1] = 'ok'
  end
end
return results
