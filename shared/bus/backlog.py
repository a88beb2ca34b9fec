"""How far behind the thinkers are: the task stream's consumer group read in one round trip.

Every thinker reads the same group, so every thinker reports the same backlog: aggregate it
across thinkers with ``max()``, never ``sum()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.keys import GROUP, Keys


@dataclass(frozen=True, slots=True)
class Backlog:
    """The ``thinkers`` group of the task stream at one moment."""

    pending: int
    """Tasks delivered to a thinker and not yet acknowledged (running, or held by a thinker
    that died and not yet reclaimed)."""
    lag: int | None
    """Tasks in the stream no thinker has been given yet; None when Redis cannot tell (before
    Redis 7.0, or when entries were deleted or trimmed past the group's position)."""
    oldest_pending_age_s: float | None
    """Seconds since the oldest pending task was submitted (its entry id's time, against the
    Redis clock), whatever thinker holds it and however often its lease was renewed; None when
    nothing is pending."""
    dead_letters: int
    """Entries in the dead-letter stream."""


async def read_backlog(redis: Redis, keys: Keys) -> Backlog:
    """The backlog of ``keys``' task stream in one pipelined round trip (XLEN of the dead
    letters, TIME, XINFO GROUPS, XPENDING summary). Raises ``RedisError`` like any command; a
    task stream that does not exist yet reads as an empty backlog, a missing group as an unknown
    lag."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(keys.dlq)
        pipe.time()
        pipe.xinfo_groups(keys.tasks)
        pipe.xpending(keys.tasks, GROUP)
        dead_letters, now, groups, summary = await pipe.execute(raise_on_error=False)
    for reply in (dead_letters, now):
        if isinstance(reply, Exception):
            raise reply
    if _missing(groups, "no such key"):  # nothing was ever submitted
        return Backlog(pending=0, lag=0, oldest_pending_age_s=None, dead_letters=dead_letters)
    group = _our_group(groups)
    if group is None or _missing(summary, "NOGROUP"):  # no thinker has made the group yet
        return Backlog(pending=0, lag=None, oldest_pending_age_s=None, dead_letters=dead_letters)
    if isinstance(summary, Exception):
        raise summary
    now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
    return Backlog(
        pending=int(group["pending"]),
        lag=None if group.get("lag") is None else int(group["lag"]),
        oldest_pending_age_s=_age_s(summary.get("min"), now_ms),
        dead_letters=int(dead_letters),
    )


def _missing(reply: Any, marker: str) -> bool:
    return isinstance(reply, ResponseError) and marker in str(reply)


def _our_group(groups: Any) -> dict[str, Any] | None:
    if isinstance(groups, Exception):
        raise groups
    return next((g for g in groups if g["name"] == GROUP), None)


def _age_s(entry_id: str | None, now_ms: int) -> float | None:
    if not entry_id:
        return None
    return max(0.0, (now_ms - int(str(entry_id).split("-", 1)[0])) / 1000)
