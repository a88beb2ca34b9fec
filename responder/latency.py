"""Measured waits per tool and per model tier, shared by every responder through Redis.

Whether a delegated turn needs a filler depends on how long it will take. That is not a constant:
it is the recent history of the same kind of work (``tier:fast``, ``tool:check_availability``),
kept as a short list of durations in Redis so that every responder process learns from every call.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.keys import Keys

log = logging.getLogger("tandem.responder.latency")

MIN_SAMPLES = 3
"""Below this many measurements an estimate falls back to the configured default."""


class LatencyHistory:
    """Recent durations per kind of work; :meth:`expected` is their 75th percentile."""

    def __init__(
        self, redis: Redis, keys: Keys, *, samples: int = 50, ttl_s: int = 7 * 86_400
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._samples = samples
        self._ttl_s = ttl_s

    async def record(self, name: str, seconds: float) -> None:
        """Add one measurement; a Redis failure only loses the sample (it is logged)."""
        key = self._keys.latency(name)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(key, max(0, round(seconds * 1000)))
                pipe.ltrim(key, 0, self._samples - 1)
                pipe.expire(key, self._ttl_s)
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("latency sample lost: Redis unreachable", extra={"work": name})

    async def expected(self, name: str) -> float | None:
        """The wait to expect in seconds, or None without enough history (or Redis)."""
        try:
            raw = await self._redis.lrange(self._keys.latency(name), 0, self._samples - 1)
        except (RedisError, OSError):
            log.warning("latency history unavailable: Redis unreachable", extra={"work": name})
            return None
        values = sorted(int(value) for value in raw)
        if len(values) < MIN_SAMPLES:
            return None
        return values[min(len(values) - 1, (len(values) * 3) // 4)] / 1000
