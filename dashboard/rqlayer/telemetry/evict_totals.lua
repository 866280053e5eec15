-- The totals index forgets the least recently written series beyond the cap, and their totals with them:
-- every field layout.TOTAL_FIELDS names. Included by record_end.lua and flush.lua (metrics.py fills in
-- __EVICT_TOTALS__); needs `call`, RUN and WAIT.
local function evict_totals(index, totals, cap)
  local excess = (tonumber(call('ZCARD', index)) or 0) - cap
  if excess > 0 then
    for _, member in ipairs(call('ZRANGE', index, 0, excess - 1)) do
      local p = string.sub(redis.sha1hex(member), 1, 16) .. ':'
      local fields = {p .. 'f', p .. 'x', p .. 'r', p .. 's', p .. 'rs', p .. 'ws'}
      for i = 0, #RUN do fields[#fields + 1] = p .. 'b' .. i end
      for i = 0, #WAIT do fields[#fields + 1] = p .. 'q' .. i end
      call('HDEL', totals, unpack(fields))
    end
    call('ZREMRANGEBYRANK', index, 0, excess - 1)
  end
end
