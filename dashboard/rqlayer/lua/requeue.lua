-- Queued jobs: to the front or back of their queue, or to another queue.
-- option = "front|back" (same queue) or "move|front|<queue>" / "move|back|<queue>".
local mode, rest = string.match(option, '^(%a+)|?(.*)$')
local results = {}
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', job_key(id), 'origin', 'status')
  local origin, status = f[1], f[2]
  if not origin then
    results[#results + 1] = 'missing'
  elseif status ~= 'queued' then
    results[#results + 1] = status or 'unknown'
  elseif redis.call('LREM', queue_key(origin), 1, id) == 0 then
    results[#results + 1] = 'moved'
  else
    local target, where = origin, mode
    if mode == 'move' then
      where, target = string.match(rest, '^(%a+)|(.+)$')
      redis.call('HSET', job_key(id), 'origin', target)
      redis.call('SADD', prefix .. ':queues', queue_key(target))
    end
    if where == 'front' then redis.call('LPUSH', queue_key(target), id) else redis.call('RPUSH', queue_key(target), id) end
    results[#results + 1] = 'ok'
  end
end
return results
