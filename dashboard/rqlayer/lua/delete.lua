-- Delete jobs with all their keys. option = expected statuses. A running job is refused: stop it first.
-- "queue-head:<queue>:<n>" instead of ids empties a queue from its head (LPOP, no O(N) LREM).
local ids = {}
local from_head = string.match(option, '^queue%-head:(.+)$')
local expected = option
if from_head then
  local q, n = string.match(from_head, '^(.*):(%d+)$')
  expected = 'queued'
  for _ = 1, tonumber(n) do
    local id = redis.call('LPOP', queue_key(q))
    if not id then break end
    ids[#ids + 1] = id
  end
else
  for i = FIRST_ID, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local results = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', job_key(id), 'origin', 'status', 'rate_limit_key', 'group_id')
  local origin, status, limit, group = f[1], f[2], f[3], f[4]
  if not origin then
    if from_head then results[#results + 1] = 'ok' else results[#results + 1] = 'missing' end
  elseif status == 'started' or not allowed(status or '', expected) then
    if from_head then redis.call('LPUSH', queue_key(origin), id) end
    results[#results + 1] = status or 'unknown'
  else
    if not from_head then take_out(id, status, origin, limit) end
    for _, segment in pairs(STATUS_REGISTRY) do redis.call('ZREM', registry_key(segment, origin), id) end
    redis.call('ZREM', rqs_key, id)
    rl_release(id, limit)
    if group and group ~= '' then redis.call('SREM', prefix .. ':group:' .. group, id) end
    redis.call('DEL', job_key(id), job_key(id) .. ':dependents', prefix .. ':job::' .. id .. ':dependencies',
               prefix .. ':results:' .. id, prefix .. ':executions:' .. id)
    results[#results + 1] = 'ok'
  end
end
return results
