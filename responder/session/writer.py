"""The journal's live copy in Redis: each event, redacted, appended to the session's stream.

The stream (``<prefix>:{s:<session id>}:journal``) is the call's state for anyone watching it
live; it is capped (ten times ``TANDEM_BUS_SESSION_MAXLEN`` entries) and expires
``TANDEM_BUS_SESSION_TTL_S`` after its last event (``TANDEM_BUS_END_GRACE_S`` once the call
ended). What outlives the call is its record (:mod:`responder.session.recorder`).

The journal hands events to :meth:`JournalWriter.add`, which only queues them; a background task
redacts and writes them in batches (one pipeline round trip per batch), so Redis never delays
the call. While Redis is unreachable the queue holds up to :data:`MAX_BACKLOG` events and the
oldest beyond that are dropped from the live copy only (the record is built from the call's
own memory, not from this stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from responder.session.journal import JournalEvent
from shared.config import BusSettings
from shared.keys import Keys

log = logging.getLogger("tandem.responder.session")

MAX_BACKLOG = 5000
"""Events held for the live stream while Redis does not answer."""
RETRY_S = 0.5


class JournalWriter:
    """Writes one call's journal events to its Redis stream in the background."""

    def __init__(
        self,
        redis: Redis,
        settings: BusSettings,
        session_id: str,
        *,
        redact: Callable[[JournalEvent], JournalEvent],
    ) -> None:
        """``redact``: the copy of an event that may be stored (personal data removed)."""
        self._redis = redis
        self._settings = settings
        self._key = Keys(settings.prefix).journal(session_id)
        self._redact = redact
        self._queue: deque[JournalEvent] = deque(maxlen=MAX_BACKLOG)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.written = 0
        """Events written so far."""

    @property
    def key(self) -> str:
        """The stream's key."""
        return self._key

    def add(self, event: JournalEvent) -> None:
        """Queue ``event`` (a journal handler: never blocks)."""
        self._queue.append(event)
        self._wake.set()

    def start(self) -> None:
        """Start the background writer (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tandem-journal")

    async def aclose(self, timeout_s: float = 2.0) -> None:
        """Write what is queued (for at most ``timeout_s``), then let the stream expire
        ``end_grace_s`` from now."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            await asyncio.wait_for(self._flush(), timeout_s)
            await self._redis.expire(self._key, self._settings.end_grace_s)

    def _copy(self, event: JournalEvent) -> JournalEvent:
        """The redacted copy of ``event``; if redaction fails, only what carries no text (the
        redacted copy is never skipped in favour of the original)."""
        try:
            return self._redact(event)
        except Exception:
            log.exception("session journal: an event could not be redacted; its text is left out")
            return {k: event[k] for k in ("t", "ts", "source", "event") if k in event} | {
                "redaction_failed": True
            }

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except (RedisError, OSError):
                if not self._failing:
                    log.warning("session journal: Redis unavailable; retrying")
                self._failing = True
                await asyncio.sleep(RETRY_S)
                self._wake.set()

    async def _flush(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(len(self._queue))]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for event in batch:
                        stored = json.dumps(self._copy(event), ensure_ascii=False, default=str)
                        pipe.xadd(
                            self._key,
                            {"event": stored},
                            maxlen=self._settings.session_maxlen * 10,
                            approximate=True,
                        )
                    pipe.expire(self._key, self._settings.session_ttl_s)
                    await pipe.execute()
            except BaseException:
                self._queue.extendleft(reversed(batch))  # kept, in order, for the next try
                raise
            self.written += len(batch)
            self._failing = False
