-- One job execution ended: count it in its series and its queue's total for the minute, remember
-- both series in the index, and append its event. Every call is redis.pcall: a telemetry problem
-- (a key of the wrong type, an old Redis without MINID) must never fail the worker's transaction.
-- KEYS: 1 series minute hash, 2 queue-total minute hash, 3 series index, 4 event stream
-- ARGV: 1 ttl seconds, 2 minute, 3 series member, 4 queue-total member, 5 index cap,
--       6 oldest minute kept in the index, 7 outcome field, 8 run us ('' = unknown), 9 run bucket field,
--       10 wait us ('' = unknown), 11 wait bucket field, 12 stream maxlen, 13 stream min id,
--       14.. event field/value pairs (none = no event)
local function observe(key, us, bucket_field, sum_field, max_field)
  if us == '' then return end
  redis.pcall('HINCRBY', key, sum_field, us)
  redis.pcall('HINCRBY', key, bucket_field, 1)
  local current = tonumber(redis.pcall('HGET', key, max_field))
  if current == nil or tonumber(us) > current then
    redis.pcall('HSET', key, max_field, us)
  end
end

for k = 1, 2 do
  local key = KEYS[k]
  redis.pcall('HINCRBY', key, ARGV[7], 1)
  observe(key, ARGV[8], ARGV[9], 'rs', 'rm')
  observe(key, ARGV[10], ARGV[11], 'ws', 'wm')
  redis.pcall('EXPIRE', key, ARGV[1])
end

redis.pcall('ZADD', KEYS[3], ARGV[2], ARGV[3], ARGV[2], ARGV[4])
redis.pcall('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[6])
redis.pcall('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))

if #ARGV > 13 then
  redis.pcall('XADD', KEYS[4], 'MAXLEN', '~', ARGV[12], '*', unpack(ARGV, 14))
  redis.pcall('XTRIM', KEYS[4], 'MINID', '~', ARGV[13])
end
return 1
