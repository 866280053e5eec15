-- Queued jobs: to the front or back of their queue, or to another queue.
-- option = "front|back" (same queue) or "move|front|<queue>" / "move|back|<queue>".
local mode, rest = string.match(option, '^(%a+)|?(.*)$')
local where, target = mode, nil
if mode == 'move' then where, target = string.match(rest, '^(%a+)|(.+)$') end
if target and not holds(queue_key(target), 'list') then
  local results = {}
  for i = FIRST_ID, #ARGV do results[#results + 1] = 'broken' end
  return results
end
return for_each_job('queued', function(id, origin, status, limit)
  local destination = target or origin
  if target then
    redis.call('HSET', job_key(id), 'origin', target)
    redis.call('SADD', queues_key(), queue_key(target))
  end
  if where == 'front' then redis.call('LPUSH', queue_key(destination), id)
  else redis.call('RPUSH', queue_key(destination), id) end
  return 'ok'
end)
