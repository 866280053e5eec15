-- Shared by every action script, after the header scripts.py generates (ARGV as its ARGS: prefix, now
-- in epoch seconds and in RQ's ISO-Z format, rq-scheduler's jobs zset, the action option; job ids follow
-- from ARGV[FIRST_ID]; every key function). Every job moves between places in this one atomic step, so
-- after any crash it is in exactly one place.

-- Concurrency limits (RQ 3): promote held-back jobs into free slots, oldest first (as RQ does).
-- `most` (optional) bounds the entries popped in one call (a raised limit fills in chunks); returns
-- the promoted ids and how many entries it popped (stale ones are dropped, as RQ drops them).
local function rl_fill(limit, most)
  local promoted = {}
  local concurrency = tonumber(redis.call('HGET', rl_key(limit), 'concurrency') or '0')
  local popped_count = 0
  if not concurrency or concurrency < 1 then return promoted, popped_count end
  while redis.call('ZCARD', rl_allowed_key(limit)) < concurrency and (not most or popped_count < most) do
    local popped = redis.call('ZPOPMIN', rl_held_key(limit))
    if #popped == 0 then break end
    popped_count = popped_count + 1
    local id = popped[1]
    -- A planted job key or queue of another type would fail the script after its writes: drop it too.
    local f = {}
    if redis.call('TYPE', job_key(id))['ok'] == 'hash' then
      f = redis.call('HMGET', job_key(id), 'origin', 'status', 'enqueue_at_front')
    end
    local queue_type = f[1] and redis.call('TYPE', queue_key(f[1]))['ok']
    if f[2] == 'rate_limited' and (queue_type == 'list' or queue_type == 'none') then
      redis.call('ZADD', rl_allowed_key(limit), now_ts, id)
      if f[3] == '1' then redis.call('LPUSH', queue_key(f[1]), id) else redis.call('RPUSH', queue_key(f[1]), id) end
      redis.call('HSET', job_key(id), 'status', 'queued', 'enqueued_at', now_iso)
      promoted[#promoted + 1] = id
    end
  end
  return promoted, popped_count
end

-- A job leaves queued/started without running: give its slot back and promote the next one.
local function rl_release(id, limit)
  if limit and limit ~= '' then
    redis.call('ZREM', rl_held_key(limit), id)
    if redis.call('ZREM', rl_allowed_key(limit), id) == 1 then rl_fill(limit) end
  end
end

-- Put a job on its queue, through its concurrency limit when it has one: like RQ, it joins the
-- held-back line and free slots are filled oldest first, so it never jumps ahead of waiting jobs.
local function push(id, origin, limit, at_front)
  redis.call('SADD', queues_key(), queue_key(origin))
  if limit and limit ~= '' and redis.call('EXISTS', rl_key(limit)) == 0 then
    -- RQ drops an idle limit's config; the job still knows its concurrency, as RQ's enqueue does.
    local own = redis.call('HGET', job_key(id), 'rate_limit_concurrency')
    if own then
      redis.call('HSET', rl_key(limit), 'concurrency', own)
      redis.call('SADD', rl_keys_key(), limit)
    end
  end
  if limit and limit ~= '' and redis.call('EXISTS', rl_key(limit)) == 1
     and redis.call('ZSCORE', rl_allowed_key(limit), id) == false then
    if at_front then redis.call('HSET', job_key(id), 'enqueue_at_front', '1') end
    redis.call('ZADD', rl_held_key(limit), now_ts, id)
    redis.call('HSET', job_key(id), 'status', 'rate_limited')
    rl_fill(limit)
    return redis.call('HGET', job_key(id), 'status')
  end
  if at_front then redis.call('LPUSH', queue_key(origin), id) else redis.call('RPUSH', queue_key(origin), id) end
  redis.call('HSET', job_key(id), 'status', 'queued', 'enqueued_at', now_iso)
  return 'queued'
end

-- RQ's Queue._persist_job -> Job.cleanup(ttl): whenever RQ puts a job on a queue it EXPIREs the job
-- (and its dependency sets) after its `ttl`, the longest it may wait. Returns whether it has one.
local function apply_ttl(id)
  local ttl = tonumber(redis.call('HGET', job_key(id), 'ttl') or '')
  if not ttl or ttl <= 0 then return false end
  redis.call('EXPIRE', job_key(id), ttl)
  redis.call('EXPIRE', job_dependents_key(id), ttl)
  redis.call('EXPIRE', job_dependencies_key(id), ttl)
  return true
end

-- RQ's Job.should_enqueue_at_front(), which its scheduler and its release of dependents use: a
-- Retry(enqueue_at_front=True) job that has run once, or a job saved with enqueue_at_front
-- (enqueue_at/in(at_front=True), Dependency(enqueue_at_front=True)).
local function wants_front(id)
  local f = redis.call('HMGET', job_key(id), 'enqueue_at_front', 'enqueue_at_front_on_retry', 'ended_at')
  if f[2] == '1' and f[3] and f[3] ~= '' then return true end
  return f[1] == '1'
end

-- A job about to run on its own must no longer be a dependent of its parents: RQ would enqueue it
-- again when they finish (it skips only canceled dependents).
local function detach_from_parents(id)
  local parents = redis.call('SMEMBERS', job_dependencies_key(id))
  local listed = redis.call('HGET', job_key(id), 'dependency_ids')
  if listed and listed ~= '' then
    local ok, decoded = pcall(cjson.decode, listed)
    if ok and type(decoded) == 'table' then
      for _, parent in ipairs(decoded) do parents[#parents + 1] = tostring(parent) end
    end
  end
  for _, parent in ipairs(parents) do redis.call('SREM', job_dependents_key(parent), id) end
end

-- Take a job out of the place its status says it is in. Returns false when it is not there.
local function take_out(id, status, origin, limit)
  if status == 'queued' then
    return redis.call('LREM', queue_key(origin), 1, id) > 0
  elseif status == 'rate_limited' then
    if not limit or limit == '' then return false end
    return redis.call('ZREM', rl_held_key(limit), id) > 0
  elseif status == 'scheduled' then
    -- Only RQ's own scheduled registry: a job of rq-scheduler (it says "scheduled" too) is a
    -- recurring schedule, managed on the Schedules page; taking it out here would end it for good.
    return redis.call('ZREM', registry_key('scheduled', origin), id) > 0
  end
  local segment = STATUS_REGISTRY[status]
  return segment ~= nil and redis.call('ZREM', registry_key(segment, origin), id) > 0
end

-- expected: a comma list of statuses the operator saw; a job in another one is left untouched.
local function allowed(status, expected)
  for s in string.gmatch(expected, '[^,]+') do if s == status then return true end end
  return false
end

-- Runs `move(id, origin, status, limit)` for each job id (from ARGV[FIRST_ID] on) that is in one of
-- the expected statuses and still where its status says, after taking it out of there. Returns one
-- outcome per id: what `move` returned, or why the job was left alone.
-- A key of the wrong type (planted or corrupt) would make a later call fail with WRONGTYPE after
-- earlier writes of this script, which Redis does not roll back: such jobs are refused up front.
local function holds(key, kind)
  local actual = redis.call('TYPE', key)['ok']
  return actual == kind or actual == 'none'
end

local function broken_places(id, origin, status)
  if not holds(queue_key(origin), 'list') then return true end
  local segment = STATUS_REGISTRY[status or '']
  return segment ~= nil and not holds(registry_key(segment, origin), 'zset')
end

local function for_each_job(expected, move)
  local results = {}
  for i = FIRST_ID, #ARGV do
    local id = ARGV[i]
    local kind = redis.call('TYPE', job_key(id))['ok']
    local f = {}
    if kind == 'hash' then f = redis.call('HMGET', job_key(id), 'origin', 'status', 'rate_limit_key') end
    local origin, status, limit = f[1], f[2], f[3]
    if kind ~= 'hash' and kind ~= 'none' then
      results[#results + 1] = 'broken'
    elseif not origin then
      results[#results + 1] = 'missing'
    elseif broken_places(id, origin, status) then
      results[#results + 1] = 'broken'
    elseif not allowed(status or '', expected) then
      results[#results + 1] = status or 'unknown'
    elseif not take_out(id, status, origin, limit) then
      results[#results + 1] = 'moved'
    else
      results[#results + 1] = move(id, origin, status, limit)
    end
  end
  return results
end

local function queued_outcome(where) return where == 'queued' and 'ok' or 'ok:rate_limited' end
