"""The Lua scripts that make each shared-store operation one atomic round trip on Redis.

Times come from the server (``TIME``), so every process and host shares one clock.
Keys of one limit: ``<base>:log`` (sorted set: request id by time), ``<base>:tok`` (hash:
tokens by request id, the running ``_sum``, and ``x:<id>`` once an id's count is
corrected), ``<base>:fl`` (sorted set: requests in flight by lease end), ``<base>:blk``
(set while an upstream 429 holds the limit shut).
"""

from __future__ import annotations

__all__ = ["ADMIT", "RELEASE", "BUDGET_RESERVE", "BUDGET_SETTLE", "BUDGET_COMMITTED", "CACHE_GET", "CACHE_PUT"]

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: one base per limit. ARGV: rid, tokens, lease_ms, window_ms, then per limit
# rpm, tpm, concurrency (-1: uncapped). Returns {wait_ms, waits_for_release}.
ADMIT = (
    _NOW
    + """
local rid, tokens, lease, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local wait, slot = 0, 0
for i, base in ipairs(KEYS) do
  local rpm, tpm, conc = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i]), tonumber(ARGV[4 + 3 * i])
  local log, tok, fl = base .. ':log', base .. ':tok', base .. ':fl'
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
  for _, member in ipairs(old) do
    local spent = redis.call('HGET', tok, member)
    if spent then
      redis.call('HINCRBY', tok, '_sum', -tonumber(spent))
      redis.call('HDEL', tok, member, 'x:' .. member)
    end
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window) end
  redis.call('ZREMRANGEBYSCORE', fl, '-inf', now)
  local blocked = redis.call('PTTL', base .. ':blk')
  if blocked > 0 then wait = math.max(wait, blocked) end
  if rpm >= 0 then
    local count = redis.call('ZCARD', log)
    if count + 1 > rpm then
      local oldest = redis.call('ZRANGE', log, count - rpm, count - rpm, 'WITHSCORES')
      wait = math.max(wait, tonumber(oldest[2]) + window - now, 1)
    end
  end
  if tpm >= 0 then
    local sum = tonumber(redis.call('HGET', tok, '_sum') or '0')
    if sum + tokens > tpm then
      local excess, freed, until_ms = sum + tokens - tpm, 0, window
      local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
      for j = 1, #entries, 2 do
        freed = freed + tonumber(redis.call('HGET', tok, entries[j]) or '0')
        if freed >= excess then until_ms = tonumber(entries[j + 1]) + window - now break end
      end
      wait = math.max(wait, until_ms, 1)
    end
  end
  if conc >= 0 and redis.call('ZCARD', fl) >= conc then slot = 1 end
end
if wait > 0 then return {wait, 0} end
if slot == 1 then return {0, 1} end
for i, base in ipairs(KEYS) do
  local log, tok, fl = base .. ':log', base .. ':tok', base .. ':fl'
  redis.call('ZADD', log, now, rid)
  redis.call('HSET', tok, rid, tokens)
  redis.call('HINCRBY', tok, '_sum', tokens)
  redis.call('PEXPIRE', log, window + lease)
  redis.call('PEXPIRE', tok, window + lease)
  if tonumber(ARGV[4 + 3 * i]) >= 0 then
    redis.call('ZADD', fl, now + lease, rid)
    redis.call('PEXPIRE', fl, lease)
  end
end
return {0, 0}
"""
)

# KEYS: limit bases. ARGV: rid, token delta, refund (1/0). Idempotent: the slot is freed,
# the refund made (its tokens leave) and the correction made (marked by x:<rid>) once.
RELEASE = """
local rid, delta, refund = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
for _, base in ipairs(KEYS) do
  local log, tok = base .. ':log', base .. ':tok'
  redis.call('ZREM', base .. ':fl', rid)
  local spent = redis.call('HGET', tok, rid)
  if spent then
    if refund then
      redis.call('ZREM', log, rid)
      redis.call('HDEL', tok, rid, 'x:' .. rid)
      redis.call('HINCRBY', tok, '_sum', -tonumber(spent))
    elseif delta ~= 0 and redis.call('HSETNX', tok, 'x:' .. rid, 1) == 1 then
      local fixed = math.max(delta, -tonumber(spent))
      redis.call('HINCRBY', tok, rid, fixed)
      redis.call('HINCRBY', tok, '_sum', fixed)
    end
  end
end
return 0
"""

# Budget keys: a hash (fields s = spent, r = reserved, nano-USD; h:<rid> = what reservation
# rid holds, until it settles or its lease ends), <key>:leases (sorted set: reservation id
# by lease end, ms), <key>:lapsed:<rid> (set for a day once rid's lease ended unsettled,
# so its settle still counts what it spent) and <key>:gone:<rid> (an hour: rid settled
# before its reserve came).
#
# Frees the reservations of one budget whose lease has ended: held by a process that died
# (or a request that outlived the lease), they would otherwise hold the budget for good.
_SWEEP = """
local function sweep(key)
  local leases = key .. ':leases'
  local ended = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  for _, rid in ipairs(ended) do
    local held = redis.call('HGET', key, 'h:' .. rid)
    if held then
      redis.call('HINCRBY', key, 'r', -tonumber(held))
      redis.call('HDEL', key, 'h:' .. rid)
      redis.call('SET', key .. ':lapsed:' .. rid, 1, 'EX', 86400)
    end
  end
  if #ended > 0 then redis.call('ZREMRANGEBYSCORE', leases, '-inf', now) end
end
"""

# KEYS: budget hashes. ARGV: rid, amount, lease_ms, then per budget cap and ttl seconds (0:
# none). Returns {0, 0}, {index that breaks, committed}, or {-1, 0} for a reservation
# settled before it arrived (its reserve's connection dropped, the settle came on
# another), which takes nothing.
BUDGET_RESERVE = (
    _NOW
    + _SWEEP
    + """
local rid, amount, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1] .. ':gone:' .. rid) == 1 then return {-1, 0} end
for i, key in ipairs(KEYS) do
  sweep(key)
  local committed = tonumber(redis.call('HGET', key, 's') or '0') + tonumber(redis.call('HGET', key, 'r') or '0')
  if committed + amount > tonumber(ARGV[2 + 2 * i]) then return {i, committed} end
end
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'r', amount)
  redis.call('HSET', key, 'h:' .. rid, amount)
  redis.call('ZADD', key .. ':leases', now + lease, rid)
  local ttl = tonumber(ARGV[3 + 2 * i])
  if ttl > 0 then
    redis.call('EXPIRE', key, ttl)
    redis.call('EXPIRE', key .. ':leases', ttl)
  end
end
return {0, 0}
"""
)

# KEYS: budget hashes. ARGV: rid, reserved, actual. Settles once: a reservation already
# settled, or not (yet) taken, changes nothing (for the latter a marker keeps a reserve
# arriving late from taking it); one whose lease ended first (less than a day before)
# adds what it spent.
BUDGET_SETTLE = """
local rid = ARGV[1]
for i, key in ipairs(KEYS) do
  if redis.call('HDEL', key, 'h:' .. rid) == 1 then
    redis.call('HINCRBY', key, 'r', -tonumber(ARGV[2]))
    redis.call('HINCRBY', key, 's', tonumber(ARGV[3]))
    redis.call('ZREM', key .. ':leases', rid)
  elseif redis.call('DEL', key .. ':lapsed:' .. rid) == 1 then
    -- Unless the budget's counters expired meanwhile (its day is over): not brought back.
    if redis.call('EXISTS', key) == 1 then redis.call('HINCRBY', key, 's', tonumber(ARGV[3])) end
  elseif i == 1 then
    redis.call('SET', key .. ':gone:' .. rid, 1, 'EX', 3600)
  end
end
return 0
"""

# KEYS: one budget hash. Returns spent plus reserved (nano-USD), ended leases freed first.
BUDGET_COMMITTED = (
    _NOW
    + _SWEEP
    + """
sweep(KEYS[1])
return tonumber(redis.call('HGET', KEYS[1], 's') or '0') + tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
"""
)

# KEYS: entry, LRU index (sorted set by last use). Returns the value, touching its use.
CACHE_GET = (
    _NOW
    + """
local value = redis.call('GET', KEYS[1])
if value then redis.call('ZADD', KEYS[2], now, KEYS[1]) end
return value
"""
)

# KEYS: entry, LRU index, sizes hash, total bytes. ARGV: value, ttl_ms (0: none), max_bytes.
CACHE_PUT = (
    _NOW
    + """
local value, ttl, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[3], KEYS[1])
if old then redis.call('DECRBY', KEYS[4], tonumber(old)) end
if ttl > 0 then redis.call('SET', KEYS[1], value, 'PX', ttl) else redis.call('SET', KEYS[1], value) end
redis.call('ZADD', KEYS[2], now, KEYS[1])
redis.call('HSET', KEYS[3], KEYS[1], #value)
local total = redis.call('INCRBY', KEYS[4], #value)
while total > limit do
  local victim = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not victim then break end
  local size = tonumber(redis.call('HGET', KEYS[3], victim) or '0')
  redis.call('DEL', victim)
  redis.call('ZREM', KEYS[2], victim)
  redis.call('HDEL', KEYS[3], victim)
  total = redis.call('DECRBY', KEYS[4], size)
end
return total
"""
)
