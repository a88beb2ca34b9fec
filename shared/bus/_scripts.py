"""Lua scripts that make the bus's check-then-write steps atomic on one session's keys."""

from __future__ import annotations

# KEYS: done, claims, cancels, events
# ARGV: task_id, entry_id, marker_ttl_s, events_maxlen, events_ttl_s, started-event field pairs...
# Returns {verdict, detail}: done | duplicate | cancelled (detail: reason) | run, and on run
# writes the "started" event.
PICKUP = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'done', ''} end
local owner = redis.call('HGET', KEYS[2], ARGV[1])
if owner and owner ~= ARGV[2] then return {'duplicate', owner} end
if not owner then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
local reason = redis.call('HGET', KEYS[3], ARGV[1])
if reason then return {'cancelled', reason} end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[4], ARGV[5])
return {'run', ''}
"""

# KEYS: done, events
# ARGV: task_id, terminal type, marker_ttl_s, events_maxlen, events_ttl_s, event field pairs...
# Writes the terminal event only if the task has none yet: exactly one per task. Returns 1 or 0.
FINISH = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""

# KEYS: done, events
# ARGV: task_id, events_maxlen, events_ttl_s, event field pairs...
# Writes a non-terminal event unless the task already ended (a stalled worker's late progress).
EMIT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
