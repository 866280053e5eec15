-- One job execution ended: count it in its series and its queue's total for the minute and in their
-- monotonic totals, remember both series in the indexes, and append its event. Every call is
-- redis.pcall: a telemetry problem (a key of the wrong type, an old Redis without MINID) must never
-- fail the worker's transaction. Buckets, the totals ids and the event are built here, not in the
-- worker: a forked work horse pays for every line of Python it runs for the first time.
-- KEYS: 1 series minute hash, 2 queue-total minute hash, 3 series index, 4 event stream,
--       5 totals hash, 6 totals index
-- ARGV: 1 ttl seconds, 2 minute, 3 series member, 4 queue-total member, 5 index cap,
--       6 oldest minute kept in the index, 7 outcome field, 8 run us ('' = unknown),
--       9 wait us ('' = unknown), 10 stream maxlen, 11 stream max age ms, 12 ended at ms,
--       13 event type ('' = no event), 14 job id, 15 queue, 16 function, 17 worker, 18 exc type,
--       19 started at ms ('' = unknown), 20 enqueued at ms ('' = unknown)
-- __RUN_EDGES__, __WAIT_EDGES__ and __TOTAL_FIELDS__ are filled in from layout.py by metrics.py.
local RUN_EDGES = {__RUN_EDGES__}
local WAIT_EDGES = {__WAIT_EDGES__}
local TOTAL_FIELDS = {__TOTAL_FIELDS__}

local function bucket(us, edges)
  for i = 1, #edges do
    if us <= edges[i] then return i - 1 end
  end
  return #edges
end

local run_us, wait_us = tonumber(ARGV[8]), tonumber(ARGV[9])
local run_field = run_us and ('b' .. bucket(run_us, RUN_EDGES))
local wait_field = wait_us and ('q' .. bucket(wait_us, WAIT_EDGES))

local function count(key, prefix)
  redis.pcall('HINCRBY', key, prefix .. ARGV[7], 1)
  if run_us then
    redis.pcall('HINCRBY', key, prefix .. 'rs', ARGV[8])
    redis.pcall('HINCRBY', key, prefix .. run_field, 1)
  end
  if wait_us then
    redis.pcall('HINCRBY', key, prefix .. 'ws', ARGV[9])
    redis.pcall('HINCRBY', key, prefix .. wait_field, 1)
  end
end

local function raise_max(key, field, us)
  local current = tonumber(redis.pcall('HGET', key, field))
  if current == nil or us > current then redis.pcall('HSET', key, field, us) end
end

local function totals_id(member)
  return string.sub(redis.sha1hex(member), 1, 16) .. ':'
end

for k = 1, 2 do
  local key = KEYS[k]
  count(key, '')
  if run_us then raise_max(key, 'rm', run_us) end
  if wait_us then raise_max(key, 'wm', wait_us) end
  redis.pcall('EXPIRE', key, ARGV[1])
  count(KEYS[5], totals_id(ARGV[2 + k]))
end

redis.pcall('ZADD', KEYS[3], ARGV[2], ARGV[3], ARGV[2], ARGV[4])
redis.pcall('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[6])
redis.pcall('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))

-- The totals index forgets the least recently written series beyond the cap, and their totals with them.
redis.pcall('ZADD', KEYS[6], ARGV[2], ARGV[3], ARGV[2], ARGV[4])
local excess = (tonumber(redis.pcall('ZCARD', KEYS[6])) or 0) - tonumber(ARGV[5])
if excess > 0 then
  local gone = redis.pcall('ZRANGE', KEYS[6], 0, excess - 1)
  for _, member in ipairs(gone) do
    local fields, prefix = {}, totals_id(member)
    for i, name in ipairs(TOTAL_FIELDS) do fields[i] = prefix .. name end
    redis.pcall('HDEL', KEYS[5], unpack(fields))
  end
  redis.pcall('ZREMRANGEBYRANK', KEYS[6], 0, excess - 1)
end

if ARGV[13] ~= '' then
  local event = {'type', ARGV[13], 'job_id', ARGV[14], 'queue', ARGV[15], 'function', ARGV[16],
                 'at', ARGV[12], 'worker', ARGV[17], 'exc_type', ARGV[18]}
  local extra = {{'started_at', ARGV[19]}, {'enqueued_at', ARGV[20]}, {'run_us', ARGV[8]}, {'wait_us', ARGV[9]}}
  for _, pair in ipairs(extra) do
    if pair[2] ~= '' then
      event[#event + 1] = pair[1]
      event[#event + 1] = pair[2]
    end
  end
  redis.pcall('XADD', KEYS[4], 'MAXLEN', '~', ARGV[10], '*', unpack(event))
  redis.pcall('XTRIM', KEYS[4], 'MINID', '~', string.format('%.0f-0', math.max(0, tonumber(ARGV[12]) - tonumber(ARGV[11]))))
end
return 1
