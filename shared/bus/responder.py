"""The responder side of the bus: submit and cancel tasks, follow a session's events.

One :class:`ResponderBus` per process; one :class:`SessionLink` per call. A link reads its session's
event stream strictly from the last ID it has seen, so no event is lost between reads, and it keeps
track of which of its tasks have not ended yet so hanging up cancels them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from shared.bus._group import ensure_group
from shared.bus._replies import read_entries, writable
from shared.config import BusSettings
from shared.errors import WireFormatError
from shared.keys import Keys
from shared.wire import CancelRequest, Event, TaskRequest, decode_event, encode

log = logging.getLogger(__name__)


class ResponderBus:
    """Process-wide handle on the bus for responders. ``profile``: the id of the agent profile
    the process serves, stamped on every task that names none (thinkers answer each task with
    its profile's tools and knowledge)."""

    def __init__(self, redis: Redis, settings: BusSettings, *, profile: str | None = None) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.prefix)
        self.profile = profile

    async def start(self) -> None:
        """Make sure the task stream and its group exist, so no early task is skipped."""
        await ensure_group(self.redis, self.keys)

    def session(self, session_id: str, *, last_id: str = "0-0") -> SessionLink:
        """A link to one session; ``last_id`` resumes reading after a responder restart."""
        return SessionLink(self, session_id, last_id=last_id)


class SessionLink:
    """Submit, cancel and follow the tasks of one session (one call)."""

    def __init__(self, bus: ResponderBus, session_id: str, *, last_id: str = "0-0") -> None:
        self._bus = bus
        self.session_id = session_id
        self.last_id = last_id
        self.open_tasks: set[str] = set()
        self.closed = False

    async def submit(self, task: TaskRequest) -> str:
        """Append ``task`` to the task stream; returns its entry ID. Submitting the same
        ``task_id`` again is safe: the task is answered once."""
        if task.session_id != self.session_id:
            raise ValueError(f"task belongs to session {task.session_id!r}, not this link's")
        bus = self._bus
        if task.profile is None and bus.profile is not None:
            task = task.model_copy(update={"profile": bus.profile})
        entry_id = await bus.redis.xadd(
            bus.keys.tasks,
            writable(encode(task)),
            maxlen=bus.settings.tasks_maxlen,
            approximate=True,
        )
        self.open_tasks.add(task.task_id)
        return str(entry_id)

    async def cancel(self, task_id: str, reason: str = "cancelled") -> None:
        """Cancel a task wherever it is: not yet picked up, running, or held by a dead worker.

        A durable marker is written first (honoured at pick-up and at lease renewal), then a
        broadcast reaches the worker running it at once. The task ends with a ``cancelled`` event
        unless it had already ended.
        """
        bus, s = self._bus, self._bus.settings
        cancel = CancelRequest(task_id=task_id, session_id=self.session_id, reason=reason)
        async with bus.redis.pipeline(transaction=False) as pipe:
            pipe.hset(bus.keys.cancels(self.session_id), task_id, reason)
            pipe.expire(bus.keys.cancels(self.session_id), s.done_ttl_s)
            pipe.xadd(
                bus.keys.control,
                writable(encode(cancel)),
                maxlen=s.control_maxlen,
                approximate=True,
            )
            await pipe.execute()

    async def read(self, *, block_ms: int | None = None, count: int = 100) -> list[Event]:
        """Events after the last one seen, waiting up to ``block_ms`` (default: the bus's) for the
        first. Unreadable events are logged and skipped; the position still advances."""
        bus = self._bus
        block = bus.settings.block_ms if block_ms is None else block_ms
        reply = await bus.redis.xread(
            {bus.keys.events(self.session_id): self.last_id}, count=count, block=block or None
        )
        events: list[Event] = []
        for entry_id, fields in read_entries(reply):
            self.last_id = entry_id
            try:
                event = decode_event(fields)
            except WireFormatError as error:
                log.warning(
                    "skipped an unreadable event",
                    extra={"entry_id": entry_id, "detail": str(error)},
                )
                continue
            if event.final:
                self.open_tasks.discard(event.task_id)
            events.append(event)
        return events

    async def events(self) -> AsyncIterator[Event]:
        """Every event of the session, in order, until :meth:`end` is called."""
        while not self.closed:
            for event in await self.read():
                yield event

    async def end(self, *, cancel_open: bool = True) -> None:
        """Hang up: cancel the tasks that have not ended and let the event stream (which holds
        what was said) expire after a short grace. The done, claim and cancel markers keep their
        own lifetime, so a late redelivery is still answered once, or not at all if cancelled.
        A worker that writes a last event after this extends the stream to ``session_ttl_s``."""
        self.closed = True
        if cancel_open:
            for task_id in sorted(self.open_tasks):
                await self.cancel(task_id, reason="session ended")
        bus = self._bus
        await bus.redis.expire(bus.keys.events(self.session_id), bus.settings.end_grace_s)
