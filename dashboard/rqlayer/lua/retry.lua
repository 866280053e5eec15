-- Retry (failed, stopped, canceled) or re-run (finished). option = "<expected statuses>|front|back".
local expected, where = string.match(option, '^([^|]*)|(%a+)$')
return for_each_job(expected, function(id, origin, status, limit)
  redis.call('HDEL', job_key(id), 'started_at', 'ended_at', 'exc_info', 'last_heartbeat')
  -- As RQ's requeue: the job's own ttl applies again. Without one, RQ would leave the failure TTL
  -- (a year) or the result TTL (minutes) on it, so a job waiting to run again could expire: removed.
  if not apply_ttl(id) then redis.call('PERSIST', job_key(id)) end
  -- RQ's requeue of a limited job writes its position (0 or 1): promotion reads it later, and a
  -- stale 1 from an earlier front retry would make a back retry jump the queue.
  if limit and limit ~= '' and redis.call('HEXISTS', job_key(id), 'rate_limit_concurrency') == 1 then
    redis.call('HSET', job_key(id), 'enqueue_at_front', where == 'front' and '1' or '0')
  end
  if status == 'canceled' then detach_from_parents(id) end
  return queued_outcome(push(id, origin, limit, where == 'front'))
end)
