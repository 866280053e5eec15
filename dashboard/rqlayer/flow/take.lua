-- A worker popped job ARGV[2] from queue ARGV[1], whose flow state says it must ask first (paused or rate
-- limited, as far as the worker knew). Decide atomically, from the state as it is now:
--   paused (no end, or its end not reached)  -> put the job back at the head of its queue: {0, wait_ms, 'paused'}
--   rate limited and no token (GCRA)         -> put it back:                               {0, wait_ms, 'limited'}
--   otherwise                                -> take a token if limited, count it:         {1, 0, ''}
-- wait_ms: how long the worker should leave the queue alone (-1: until the state changes).
-- "Put back" = LREM from RQ's intermediate list (a one-queue worker BLMOVEd it there) + LPUSH to the head:
-- the job is where it was, first in line, its hash untouched. Every read comes before any write, so an
-- error (a planted key of another type) fails the script before it changed anything.
-- GCRA (virtual scheduling): the limiter's `tat` is the theoretical arrival time of the next job; a job may
-- start when now >= tat - tolerance, and then tat = max(tat, now) + interval. The limit is shared by every
-- worker of the queue because the state is here, and this script is the only writer.
-- Clock: Redis's TIME, the same for every worker whatever its machine's clock.
-- KEYS: 1 flow state hash, 2 this queue's limiter hash, 3 the queue list, 4 its intermediate list
-- ARGV: 1 queue name, 2 job id, 3 tolerance ms, 4 rate window ms, 5 limiter ttl ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function decoded(raw)
  if not raw then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then return value end
  return nil
end

local state = redis.call('HMGET', KEYS[1], 'pause:' .. ARGV[1], 'limit:' .. ARGV[1])
local pause, limit = decoded(state[1]), decoded(state[2])

local function put_back(wait_ms, reason)
  redis.call('LREM', KEYS[4], -1, ARGV[2])
  redis.call('LPUSH', KEYS[3], ARGV[2])
  return {0, wait_ms, reason}
end

if pause and type(pause['at']) == 'number' then
  local ends = pause['until']
  if ends == nil or ends == cjson.null then return put_back(-1, 'paused') end
  if type(ends) == 'number' and ends * 1000 > now then return put_back(math.ceil(ends * 1000 - now), 'paused') end
end

local rate = limit and tonumber(limit['per_second'])
if not rate or rate <= 0 then return {1, 0, ''} end

local interval = 1000 / rate
local tolerance = math.min(interval, tonumber(ARGV[3]))
local window = tonumber(ARGV[4])
local held = redis.call('HMGET', KEYS[2], 'tat', 'win', 'cur', 'prev', 'taken')
local tat = tonumber(held[1]) or now
if tat - tolerance > now then
  redis.call('HSET', KEYS[2], 'denied_at', now)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  return put_back(math.ceil(tat - tolerance - now), 'limited')
end

-- The rate shown on the queue page: tokens taken in the current and the previous window (a sliding
-- window estimate is computed by the reader from these).
local win, cur, prev = tonumber(held[2]) or 0, tonumber(held[3]) or 0, tonumber(held[4]) or 0
if now - win >= 2 * window then
  win, cur, prev = now - (now % window), 0, 0
elseif now - win >= window then
  win, prev, cur = win + window, cur, 0
end
redis.call('HSET', KEYS[2], 'tat', string.format('%.3f', math.max(tat, now) + interval), 'win', win,
  'cur', cur + 1, 'prev', prev, 'taken', (tonumber(held[5]) or 0) + 1)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {1, 0, ''}
