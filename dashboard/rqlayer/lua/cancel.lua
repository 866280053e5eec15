-- Cancel jobs that have not started: they move to the canceled registry (dependents stay, as in RQ).
return for_each_job(option, function(id, origin, status, limit)
  redis.call('ZADD', registry_key('canceled', origin), now_ts, id)
  redis.call('HSET', job_key(id), 'status', 'canceled')
  rl_release(id, limit)
  return 'ok'
end)
