-- Scheduled or deferred jobs: onto their queue now (a deferred job's unfinished parents are ignored,
-- and it leaves their dependents so it does not run a second time when they finish). Front or back
-- and the ttl as RQ's scheduler or its release of dependents would do when their time came.
return for_each_job(option, function(id, origin, status, limit)
  if status == 'deferred' then detach_from_parents(id) end
  apply_ttl(id)
  return queued_outcome(push(id, origin, limit, wants_front(id)))
end)
