"""Writes a worker's events and acknowledgements through the bus's Lua scripts."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Literal

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from shared.bus._faults import is_poison
from shared.bus._patience import Wait
from shared.bus._replies import writable
from shared.bus._scripts import EMIT, FINISH, PICKUP
from shared.config import BusSettings
from shared.keys import GROUP, Keys
from shared.wire import ErrorEvent, Event, ExpiredEvent, TaskRequest, encode, now_ms, peek_ids

log = logging.getLogger(__name__)

DLQ_MESSAGES = {
    "dead_letter": "the task failed on every attempt and was set aside",
    "malformed": "the task could not be read and was set aside",
    "unsupported_version": "the task was written by a newer version and was set aside",
    "wrong_type": "the task could not be answered and was set aside",
}
"""What a session is told when its task is dead-lettered, by reason."""

_MAX_DONE, _DONE_CHARS = 5, 500
"""At most this many things done, this long each, go with a terminal event (the wire's limits)."""

_EVENT_CODES: dict[str, Literal["dead_letter", "malformed", "unsupported_version"]] = {
    "dead_letter": "dead_letter",
    "malformed": "malformed",
    "unsupported_version": "unsupported_version",
    "wrong_type": "dead_letter",
}
"""The ``error`` event's code for each reason (``wrong_type`` is not a wire code)."""


def _packed(event: Event) -> str:
    """An event's stream fields as the scripts take them: ``[name, value, ...]`` in JSON."""
    return json.dumps([item for pair in encode(event).items() for item in pair], ensure_ascii=False)


class EventWriter:
    """The worker's only way to write to Redis: pick-up checks, events, acks and dead letters."""

    def __init__(self, redis: Redis, keys: Keys, settings: BusSettings) -> None:
        self._redis = redis
        self._keys = keys
        self._settings = settings
        self._sha: dict[str, str] = {}

    async def _load_scripts(self) -> None:
        """(Re)load the scripts: at first use, and after Redis lost its script cache (restart)."""
        for script in (PICKUP, FINISH, EMIT):
            self._sha[script] = str(await self._redis.script_load(script))

    async def _eval(self, script: str, keys: list[str], args: list[Any]) -> Any:
        if script not in self._sha:
            await self._load_scripts()
        try:
            return await self._redis.evalsha(self._sha[script], len(keys), *keys, *args)
        except NoScriptError:
            await self._load_scripts()
            return await self._redis.evalsha(self._sha[script], len(keys), *keys, *args)

    async def pickup(
        self, task: TaskRequest, entry_id: str, started: Event, *, expired: bool
    ) -> tuple[str, str]:
        """Claim ``task`` for ``entry_id`` and, if it is to run, write ``started``, atomically.

        Returns ``(verdict, detail)``: ``done`` (already answered), ``duplicate`` (another entry
        owns the task), ``cancelled`` (detail: the reason), ``expired`` (past its deadline) or
        ``run``.
        """
        k, s = self._keys, self._settings
        sid = task.session_id
        verdict, detail = await self._eval(
            PICKUP,
            [k.done(sid), k.claims(sid), k.cancels(sid), k.events(sid)],
            [
                task.task_id,
                entry_id,
                s.done_ttl_s,
                s.session_maxlen,
                s.session_ttl_s,
                "1" if expired else "0",
                _packed(started),
            ],
        )
        return str(verdict), str(detail)

    async def emit(self, event: Event) -> bool:
        """Write a non-terminal event; False if the task already ended."""
        k, s = self._keys, self._settings
        written = await self._eval(
            EMIT,
            [k.done(event.session_id), k.events(event.session_id)],
            [event.task_id, s.session_maxlen, s.session_ttl_s, _packed(event)],
        )
        return bool(written)

    async def finish(self, event: Event, entry_id: str) -> bool:
        """Write the terminal ``event`` (unless the task has one) and ack ``entry_id``, atomically.
        An event that ends the task without an answer carries what the task had already done
        (:meth:`record_done`). Returns whether this call wrote the terminal event."""
        event = await self._with_done(event)
        written = await self._eval(FINISH, *self._finish_call(event, entry_id))
        return bool(written)

    async def record_done(self, task: TaskRequest, key: str, text: str) -> None:
        """Remember that ``task`` did ``text`` under ``key`` (the first words for a key stay: a
        retry replaying the same call says "already booked"), as long as its terminal record."""
        effects = self._keys.effects(task.session_id, task.task_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(effects, key, text[:_DONE_CHARS])
            pipe.expire(effects, self._settings.done_ttl_s)
            await pipe.execute()

    async def _with_done(self, event: Event) -> Event:
        if not isinstance(event, ErrorEvent | ExpiredEvent):
            return event
        effects = self._keys.effects(event.session_id, event.task_id)
        done = tuple(await self._redis.hvals(effects))[:_MAX_DONE]
        return event.model_copy(update={"done": done}) if done else event

    async def ack(self, entry_id: str) -> None:
        """Acknowledge an entry that needs no event (already answered, or a duplicate)."""
        await self._redis.xack(self._keys.tasks, GROUP, entry_id)

    async def dead_letter(
        self,
        entry_id: str,
        fields: Mapping[str, Any],
        *,
        code: str,
        message: str,
        deliveries: int,
        epoch: int = 0,
        wait: Wait,
        tell_session: bool = True,
    ) -> None:
        """Copy an entry to the DLQ, then tell its session (if it names one) and ack it.

        ``code`` is a key of :data:`DLQ_MESSAGES`. Each step runs through ``wait`` (which waits
        out Redis refusing or unreachable) on its own, so an outage never copies the entry
        twice. A crash between them leaves the entry pending: it is dead-lettered again, never
        lost. When the session cannot be told because one of its keys holds the wrong kind of
        value, the entry is only acked.
        """
        record = {str(key): str(value) for key, value in fields.items()}
        record |= {
            "dlq_reason": code,
            "dlq_message": message,
            "dlq_deliveries": str(deliveries),
            "dlq_source_id": entry_id,
            "dlq_ms": str(now_ms()),
        }
        await wait(
            lambda: self._redis.xadd(
                self._keys.dlq, writable(record), maxlen=self._settings.dlq_maxlen, approximate=True
            )
        )
        session_id, task_id = peek_ids(fields)
        acked = False
        if tell_session and session_id is not None and task_id is not None:
            event = ErrorEvent(
                task_id=task_id,
                session_id=session_id,
                seq=0,
                attempt=max(deliveries, 1),
                epoch=epoch,
                code=_EVENT_CODES.get(code, "dead_letter"),
                message=DLQ_MESSAGES.get(code, "the task was set aside"),
            )
            try:
                await wait(lambda: self.finish(event, entry_id))
                acked = True  # FINISH acks, with or without writing the event
            except ResponseError as error:
                if not is_poison(error):
                    raise
        if not acked:
            await wait(lambda: self.ack(entry_id))
        log.warning(
            "task dead-lettered",
            extra={
                "entry_id": entry_id,
                "reason": code,
                "deliveries": deliveries,
                "detail": message,
            },
        )

    def _finish_call(self, event: Event, entry_id: str) -> tuple[list[str], list[Any]]:
        k, s = self._keys, self._settings
        keys = [k.done(event.session_id), k.events(event.session_id), k.tasks]
        args = [
            event.task_id,
            event.type,
            s.done_ttl_s,
            s.session_maxlen,
            s.session_ttl_s,
            GROUP,
            entry_id,
            _packed(event),
        ]
        return keys, args
