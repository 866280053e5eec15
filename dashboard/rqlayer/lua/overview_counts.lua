-- The overview's counts in one call (rqlayer/overview_counts.py): for each queue its length, the size of
-- each registry and the id of its head job; for each worker its hash and its executions. Read only.
-- ARGV from FIRST_ID: the number of registry states, the states (in the order the answer lists them),
-- the number of queues, the queue names, then the worker names.
-- A key of another type answers -1 (counts, head) or -1 instead of its array, never an error.
local function count(command, key)
  local n = redis.pcall(command, key)
  if type(n) == 'table' then return -1 end
  return n
end

local function items(command, key)
  local reply = redis.pcall(command, key)
  if reply['err'] then return -1 end
  return reply
end

local at = FIRST_ID
local states = {}
for i = 1, tonumber(ARGV[at]) do states[i] = ARGV[at + i] end
at = at + #states + 1
local queues = tonumber(ARGV[at])
local answer = {}
for i = at + 1, at + queues do
  local q = ARGV[i]
  local length = count('LLEN', queue_key(q))
  answer[#answer + 1] = length
  for _, state in ipairs(states) do answer[#answer + 1] = count('ZCARD', registry_key(state, q)) end
  -- An empty queue (most of them) has no head to ask for; a broken one answers -1 here too.
  local head = false
  if length == -1 then head = -1 elseif length > 0 then head = redis.call('LINDEX', queue_key(q), 0) end
  answer[#answer + 1] = head
end
for i = at + queues + 1, #ARGV do
  answer[#answer + 1] = items('HGETALL', worker_key(ARGV[i]))
  answer[#answer + 1] = items('SMEMBERS', worker_executions_key(ARGV[i]))
end
return answer
