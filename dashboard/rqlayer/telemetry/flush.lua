-- Counts a SimpleWorker kept in memory for up to a second (buffer.py), written in one call: the same
-- fields record_end.lua writes per execution, summed. Applied at most once per (worker token, number): a
-- flush whose reply was lost is sent again as it was, and skipped here if it had been applied.
-- Every call is redis.pcall: a telemetry key of the wrong type must never break the worker.
-- KEYS: 1 the worker's flush marker (string: the last number applied), 2 series index, 3 totals index,
--       4 totals hash, 5 event stream, 6.. minute hashes
-- ARGV: 1 number, 2 marker ttl, 3 minute-hash ttl, 4 index cap, 5 oldest minute kept in the series index,
--       6 the stream's oldest id to keep ('' = no trim by age); then, for KEYS[4], KEYS[6], KEYS[7], ...
--       in turn: n, n (field, increment) pairs, m, m (field, maximum) pairs; then n, n (minute, member)
--       pairs for the series index; then n, n (minute, member) pairs for the totals index.
local call = redis.pcall
local RUN, WAIT = {__RUN_EDGES__}, {__WAIT_EDGES__}
__EVICT_TOTALS__

if (tonumber(call('GET', KEYS[1])) or 0) >= tonumber(ARGV[1]) then return 0 end
call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])

local i = 7
local function take()
  local value = ARGV[i]
  i = i + 1
  return value
end

local function apply(key)
  for _ = 1, tonumber(take()) do
    local field = take()
    call('HINCRBY', key, field, take())
  end
  for _ = 1, tonumber(take()) do
    local field, value = take(), tonumber(take())
    local current = tonumber(call('HGET', key, field))
    if current == nil or value > current then call('HSET', key, field, value) end
  end
end

-- ZADD in slices: unpack() is bounded by Lua's C stack.
local function index(key)
  local args = {}
  for _ = 1, tonumber(take()) do
    args[#args + 1] = take()
    args[#args + 1] = take()
    if #args >= 1000 then call('ZADD', key, unpack(args)); args = {} end
  end
  if #args > 0 then call('ZADD', key, unpack(args)) end
end

apply(KEYS[4])
for k = 6, #KEYS do
  apply(KEYS[k])
  call('EXPIRE', KEYS[k], ARGV[3])
end
index(KEYS[2])
call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[4]) + 1))
index(KEYS[3])
evict_totals(KEYS[3], KEYS[4], tonumber(ARGV[4]))
if ARGV[6] ~= '' then call('XTRIM', KEYS[5], 'MINID', '~', ARGV[6]) end
return 1
