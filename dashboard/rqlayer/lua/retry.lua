-- Retry (failed, stopped, canceled) or re-run (finished). option = "<expected statuses>|front|back".
local expected, where = string.match(option, '^([^|]*)|(%a+)$')
return for_each_job(expected, function(id, origin, status, limit)
  redis.call('HDEL', job_key(id), 'started_at', 'ended_at', 'exc_info', 'last_heartbeat')
  -- The failure TTL (a year) or result TTL (minutes) must not expire a job waiting to run again.
  redis.call('PERSIST', job_key(id))
  if status == 'canceled' then detach_from_parents(id) end
  return queued_outcome(push(id, origin, limit, where == 'front'))
end)
