-- Set one concurrency limit's `concurrency` (the limit key is ARGV[FIRST_ID]; option is
-- "<concurrency>:<expected or empty>:<most>"), then fill the slots that frees with held-back jobs,
-- oldest first, as RQ's own release does (at most `most` entries popped: the caller repeats for more).
-- RQ's release scripts read `concurrency` each time, so the new value holds from the next release;
-- RQ's next enqueue with a RateLimit of this key writes its own value back.
-- Returns {'ok', before, entries popped, promoted ids...} or {'missing'}, {'broken'}, {'changed', before}.
local wanted, expected, most = string.match(option, '^(%d+):(%d*):(%d+)$')
local limit = ARGV[FIRST_ID]
if not wanted or not limit then return {'invalid'} end
if not holds(rl_keys_key(), 'set') or not holds(rl_key(limit), 'hash')
   or not holds(rl_allowed_key(limit), 'zset') or not holds(rl_held_key(limit), 'zset') then
  return {'broken'}
end
if redis.call('SISMEMBER', rl_keys_key(), limit) == 0 and redis.call('EXISTS', rl_key(limit)) == 0 then
  return {'missing'}
end
local before = redis.call('HGET', rl_key(limit), 'concurrency') or ''
if expected ~= '' and before ~= expected then return {'changed', before} end
redis.call('HSET', rl_key(limit), 'concurrency', wanted)
redis.call('SADD', rl_keys_key(), limit)
local promoted, popped = rl_fill(limit, tonumber(most))
local result = {'ok', before, tostring(popped)}
for _, id in ipairs(promoted) do result[#result + 1] = id end
return result
