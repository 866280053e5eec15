-- Scheduled or deferred jobs: onto their queue now (a deferred job's unfinished parents are ignored).
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
    results[#results + 1] = push(id, origin, limit, false) == 'queued' and 'ok' or 'ok:rate_limited'
  end
end
return results
