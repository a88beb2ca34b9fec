"""Finished calls' records in Redis: a record and its redacted timeline, kept for the retention.

Each call is one JSON value ``{"record": {...}, "events": [...]}`` at :meth:`Keys.record`, with
a time to live of the retention, and one member of the sorted set :attr:`Keys.records` scored by
when the call ended. The index is pruned as it is used: entries older than the retention on every
save, entries whose record has expired whenever a read meets one.

The store keeps what it is given: the responder redacts the events (:mod:`shared.redact`) before
it saves them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.errors import RecordError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from shared.keys import Keys

__all__ = ["REQUIRED_KEYS", "Events", "Record", "SessionStore"]

log = logging.getLogger(__name__)

Record = dict[str, Any]
"""A call's record: ids, times, figures (``deploy/README.md``, call records); stored as given."""
Events = list[dict[str, Any]]
"""A call's timeline: journal events, redacted."""
Ids = list[str]

REQUIRED_KEYS = ("session_id", "ended_at")
"""The record fields the store needs: the key, and the score in the index."""
_GLOB_SPECIAL = "\\*?[]"


class SessionStore:
    """Call records of one deployment (``keys``), each kept ``retention_s`` seconds."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        retention_s: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention_s <= 0:
            raise ValueError("retention_s must be positive")
        self._redis = redis
        self._keys = keys
        self._retention_s = retention_s
        self._clock = clock

    async def save(self, record: Record, events: Events) -> None:
        """Store a finished call: ``record`` (with ``session_id`` and ``ended_at``, epoch
        seconds) and its already redacted ``events``; raises :class:`ValueError` without them."""
        missing = [key for key in REQUIRED_KEYS if record.get(key) in (None, "")]
        if missing:
            raise ValueError(f"a call record needs {' and '.join(missing)}")
        session_id = str(record["session_id"])
        ended_at = float(record["ended_at"])
        value = json.dumps({"record": record, "events": events}, ensure_ascii=False)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.record(session_id), value, px=max(1, int(self._retention_s * 1000)))
            pipe.zadd(self._keys.records, {session_id: ended_at})
            pipe.zremrangebyscore(self._keys.records, "-inf", f"({self._oldest_kept()}")
            await pipe.execute()

    async def list(self, limit: int = 20, *, since: float | None = None) -> list[Record]:
        """Up to ``limit`` records, the most recently ended first, ended at or after ``since``
        (epoch seconds) if given. Records that expired are dropped from the index on the way;
        an unreadable one is skipped with a warning."""
        found: list[Record] = []
        low = "-inf" if since is None else since
        offset = 0
        while len(found) < limit:
            ids = _strings(
                await self._redis.zrevrangebyscore(
                    self._keys.records, "+inf", low, start=offset, num=limit - len(found)
                )
            )
            if not ids:
                break
            offset += len(ids)
            values = _values(await self._redis.mget([self._keys.record(sid) for sid in ids]))
            gone = [sid for sid, value in zip(ids, values, strict=True) if value is None]
            if gone:
                await self._redis.zrem(self._keys.records, *gone)
                offset -= len(gone)
            for sid, value in zip(ids, values, strict=True):
                if value is not None:
                    found.extend(_readable(sid, value))
        return found

    async def load(self, session_id: str) -> tuple[Record, Events] | None:
        """The record and events of ``session_id`` or of the one session whose id starts with
        it; None when there is none. Raises :class:`RecordError` when the prefix fits several
        sessions (naming them) or the stored value is unreadable."""
        if not session_id:
            raise RecordError("give a session id (or the start of one)")
        value = _value(await self._redis.get(self._keys.record(session_id)))
        if value is None:
            matches = await self._matching(session_id)
            if len(matches) > 1:
                shown = ", ".join(matches[:10]) + (", ..." if len(matches) > 10 else "")
                raise RecordError(
                    f"session id {session_id!r} is ambiguous: {len(matches)} records start with "
                    f"it ({shown}); give more of it"
                )
            if not matches:
                return None
            session_id = matches[0]
            value = _value(await self._redis.get(self._keys.record(session_id)))
            if value is None:
                return None
        return _decode(session_id, value)

    async def _matching(self, prefix: str) -> Ids:
        """Ids in the index that start with ``prefix`` and whose record still exists."""
        pattern = "".join(f"\\{char}" if char in _GLOB_SPECIAL else char for char in prefix)
        scan = self._redis.zscan_iter(self._keys.records, match=f"{pattern}*")
        ids = sorted([str(sid) async for sid, _ in scan])
        if not ids:
            return []
        exists = _values(await self._redis.mget([self._keys.record(sid) for sid in ids]))
        gone = [sid for sid, value in zip(ids, exists, strict=True) if value is None]
        if gone:
            await self._redis.zrem(self._keys.records, *gone)
        return [sid for sid in ids if sid not in gone]

    def _oldest_kept(self) -> float:
        return self._clock() - self._retention_s


def _readable(session_id: str, value: str) -> list[Record]:
    """The record in ``value``, or nothing (and a warning) when it cannot be read."""
    try:
        return [_decode(session_id, value)[0]]
    except RecordError:
        log.warning("unreadable call record skipped", extra={"session_id": session_id})
        return []


def _strings(reply: Any) -> Ids:
    return [str(item) for item in reply or ()]


def _value(reply: Any) -> str | None:
    """A ``GET`` reply (the client decodes responses: str or None)."""
    return None if reply is None else str(reply)


def _values(reply: Any) -> list[str | None]:
    return [_value(item) for item in reply or ()]


def _decode(session_id: str, value: str) -> tuple[Record, Events]:
    """A stored value as (record, events); :class:`RecordError` when it is not one."""
    try:
        stored = json.loads(value)
    except ValueError:
        raise RecordError(f"the record of session {session_id} is not valid JSON") from None
    record = stored.get("record") if isinstance(stored, dict) else None
    events = stored.get("events") if isinstance(stored, dict) else None
    if not isinstance(record, dict) or not isinstance(events, list):
        raise RecordError(
            f"the record of session {session_id} is not a call record (no record and events)"
        )
    return record, events
