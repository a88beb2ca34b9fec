"""Lua scripts that make the bus's check-then-write steps atomic.

An event travels into a script as one argument, a JSON array ``[name, value, name, value, ...]``
of its stream fields: one argument instead of twenty keeps redis-py's command packing (pure
Python, the largest cost of a round trip) small.

PICKUP and EMIT touch only one session's keys (one hash slot). FINISH also acknowledges the task
entry, so the terminal event and the ack can never be separated by a failure: that makes the bus
require a standalone (or Sentinel-managed) Redis, not Redis Cluster.
"""

from __future__ import annotations

# KEYS: done, claims, cancels, events
# ARGV: task_id, entry_id, marker_ttl_s, events_maxlen, events_ttl_s, expired ("1"/"0"),
#       started event (a JSON array of field-name, value pairs, flattened)
# Returns {verdict, detail}: done | duplicate (detail: owning entry) | cancelled (detail: reason)
# | expired | run; on run the "started" event is written.
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
if ARGV[6] == '1' then return {'expired', ''} end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', unpack(cjson.decode(ARGV[7])))
redis.call('EXPIRE', KEYS[4], ARGV[5])
return {'run', ''}
"""

# KEYS: done, events, tasks
# ARGV: task_id, terminal type, marker_ttl_s, events_maxlen, events_ttl_s, group, entry_id
#       ("" for none), event (a JSON array of field-name, value pairs, flattened)
# Writes the terminal event only if the task has none yet (exactly one per task), then acks the
# entry (a vanished group after a Redis restart is not an error). Returns 1 if it wrote the event.
FINISH = """
local written = 0
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(cjson.decode(ARGV[8])))
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  written = 1
end
if ARGV[7] ~= '' then redis.pcall('XACK', KEYS[3], ARGV[6], ARGV[7]) end
return written
"""

# KEYS: done, events
# ARGV: task_id, events_maxlen, events_ttl_s, event (JSON array of field-name, value pairs)
# Writes a non-terminal event unless the task already ended (a stalled worker's late progress).
EMIT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(cjson.decode(ARGV[4])))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
