-- One job execution ended: count it in its series and its queue's total for the minute and in the
-- series' monotonic totals, and append its event. Every call is redis.pcall: a telemetry problem (a key
-- of the wrong type, an old Redis without MINID) must never fail the worker's transaction. Buckets and
-- the event are built here, not in the worker: a forked work horse pays for every line of Python it
-- runs for the first time. Each Redis call from Lua costs a microsecond or more and this runs inside
-- RQ's transaction for every job, so the work that only needs doing once a minute (index scores, their
-- caps, trimming the stream by age) runs only when the worker says so (ARGV 14): on its first execution
-- of the series in a minute.
-- KEYS: 1 series minute hash, 2 queue-total minute hash, 3 series index, 4 event stream,
--       5 totals hash, 6 totals index
-- ARGV (1-14 are the same for every execution of a job: the worker prepares them before it forks):
--       1 ttl seconds, 2 minute, 3 series member, 4 queue-total member, 5 index cap,
--       6 oldest minute kept in the index, 7 stream maxlen, 8 stream max age ms, 9 job id, 10 queue,
--       11 function, 12 worker, 13 the series' prefix in the totals hash (layout.totals_id + ':'),
--       14 '1' = also maintain the indexes and trim the stream by age, '' = not,
--       15 outcome field, 16 run us ('' = unknown), 17 wait us ('' = unknown), 18 ended at ms,
--       19 event type ('' = no event), 20 exc type, 21 started at ms ('' = unknown),
--       22 enqueued at ms ('' = unknown)
-- __RUN_EDGES__ and __WAIT_EDGES__ are filled in from layout.py by metrics.py. The body is kept short
-- and builds no table it does not need: Redis hashes the whole script on every EVAL.
local call = redis.pcall
local RUN, WAIT = {__RUN_EDGES__}, {__WAIT_EDGES__}
__EVICT_TOTALS__

local function bucket(us, edges)
  for i = 1, #edges do
    if us <= edges[i] then return i - 1 end
  end
  return #edges
end

local run_us, wait_us = tonumber(ARGV[16]), tonumber(ARGV[17])
local run_field = run_us and ('b' .. bucket(run_us, RUN))
local wait_field = wait_us and ('q' .. bucket(wait_us, WAIT))

local function count(key, prefix)
  local n = call('HINCRBY', key, prefix .. ARGV[15], 1)
  if run_us then
    call('HINCRBY', key, prefix .. 'rs', ARGV[16])
    call('HINCRBY', key, prefix .. run_field, 1)
  end
  if wait_us then
    call('HINCRBY', key, prefix .. 'ws', ARGV[17])
    call('HINCRBY', key, prefix .. wait_field, 1)
  end
  return n
end

local function raise_max(key, field, us)
  local current = tonumber(call('HGET', key, field))
  if current == nil or us > current then
    call('HSET', key, field, us)
    return true
  end
  return false
end

local raised_run, raised_wait = false, false
for k = 1, 2 do
  local key = KEYS[k]
  -- Every write to a minute hash starts with its outcome field, so whichever call created the hash saw
  -- 1 there: setting the TTL then (and on a few later first-of-an-outcome calls) covers every hash
  -- without an EXPIRE per job.
  local new = count(key, '') == 1
  -- The queue's total is written with each of its series in the same call, so its maximum is at least
  -- every series' maximum: only a value that raised the series' can raise the total's.
  if run_us and (raised_run or k == 1) then raised_run = raise_max(key, 'rm', run_us) end
  if wait_us and (raised_wait or k == 1) then raised_wait = raise_max(key, 'wm', wait_us) end
  if new then call('EXPIRE', key, ARGV[1]) end
end
-- A queue's monotonic total is the sum of its series' (series.read_totals adds them up).
count(KEYS[5], ARGV[13])

if ARGV[14] == '1' then
  call('ZADD', KEYS[3], ARGV[2], ARGV[3], ARGV[2], ARGV[4])
  call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[6])
  call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))
  call('ZADD', KEYS[6], ARGV[2], ARGV[3])
  evict_totals(KEYS[6], KEYS[5], tonumber(ARGV[5]))
end

if ARGV[19] ~= '' then
  local e = {'type', ARGV[19], 'job_id', ARGV[9], 'queue', ARGV[10], 'function', ARGV[11],
             'at', ARGV[18], 'worker', ARGV[12], 'exc_type', ARGV[20]}
  if ARGV[21] ~= '' then e[#e + 1] = 'started_at'; e[#e + 1] = ARGV[21] end
  if ARGV[22] ~= '' then e[#e + 1] = 'enqueued_at'; e[#e + 1] = ARGV[22] end
  if run_us then e[#e + 1] = 'run_us'; e[#e + 1] = ARGV[16] end
  if wait_us then e[#e + 1] = 'wait_us'; e[#e + 1] = ARGV[17] end
  call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', unpack(e))
  if ARGV[14] == '1' then
    call('XTRIM', KEYS[4], 'MINID', '~', string.format('%.0f-0', math.max(0, tonumber(ARGV[18]) - tonumber(ARGV[8]))))
  end
end
return 1
