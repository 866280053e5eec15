-- Delete jobs with all their keys. option = expected statuses ('*': any). A running job is refused: stop
-- it first. The one deletion path for every caller: job actions, bulk, emptying, schedules.
-- "queue-head:<queue>:<n>" instead of ids empties a queue from its head (LPOP, no O(N) LREM): an id
-- whose job is not queued there (a stale leftover) is only dropped from the list, its job kept.
local ids = {}
local head_queue, head_count = string.match(option, '^queue%-head:(.*):(%d+)$')
local expected = option
if head_queue then
  expected = 'queued'
  for _ = 1, tonumber(head_count) do
    local id = redis.call('LPOP', queue_key(head_queue))
    if not id then break end
    ids[#ids + 1] = id
  end
else
  for i = FIRST_ID, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local results = {}
for _, id in ipairs(ids) do
  local kind = redis.call('TYPE', job_key(id))['ok']
  local f = {}
  if kind == 'hash' then f = redis.call('HMGET', job_key(id), 'origin', 'status', 'rate_limit_key', 'group_id') end
  local origin, status, limit, group = f[1], f[2], f[3], f[4]
  if kind ~= 'hash' and kind ~= 'none' then
    results[#results + 1] = 'broken'
  elseif origin and broken_places(id, origin, status) then
    results[#results + 1] = 'broken'
  elseif not origin then
    results[#results + 1] = head_queue and 'stale' or 'missing'
  elseif head_queue and (status ~= 'queued' or origin ~= head_queue) then
    results[#results + 1] = 'stale'
  elseif status == 'started' or (expected ~= '*' and not allowed(status or '', expected)) then
    results[#results + 1] = status or 'unknown'
  elseif not head_queue and not take_out(id, status, origin, limit) and status == 'queued' then
    -- Popped by a worker a moment ago: it is about to run, and its slot must stay held.
    results[#results + 1] = 'moved'
  else
    for _, segment in pairs(STATUS_REGISTRY) do
      if holds(registry_key(segment, origin), 'zset') then redis.call('ZREM', registry_key(segment, origin), id) end
    end
    if rqs_key ~= '' then redis.call('ZREM', rqs_key, id) end  -- '' on a Redis Cluster
    rl_release(id, limit)
    if group and group ~= '' then redis.call('SREM', group_key(group), id) end
    redis.call('DEL', job_key(id), job_dependents_key(id), job_dependencies_key(id),
               results_key(id), executions_key(id))
    results[#results + 1] = 'ok'
  end
end
return results
