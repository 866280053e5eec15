-- Scheduled or deferred jobs: onto their queue now (a deferred job's unfinished parents are ignored).
return for_each_job(option, function(id, origin, status, limit)
  return queued_outcome(push(id, origin, limit, false))
end)
