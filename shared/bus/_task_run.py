"""One delivery of one task entry, from decoding to its terminal event."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from redis.exceptions import ConnectionError, TimeoutError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from shared.bus._writer import EventWriter
from shared.bus.handler import TaskContext, TaskFailed, TaskHandler, TaskOutcome
from shared.errors import WireFormatError
from shared.wire import (
    CancelledEvent,
    ErrorEvent,
    Event,
    ExpiredEvent,
    PartialEvent,
    ProgressEvent,
    ResultEvent,
    StartedEvent,
    TaskRequest,
    decode_command,
    encode,
    now_ms,
)

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """Counters a worker keeps; exported as metrics by the process that runs it."""

    received: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    reclaimed: int = 0
    handed_back: int = 0
    lost: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    """Terminal events written by this worker, by type (result, error, expired, cancelled)."""


@dataclass
class TaskRun:
    """The worker's view of one delivered entry while it is being processed."""

    entry_id: str
    attempt: int
    task: TaskRequest | None = None
    handler_task: asyncio.Task[Any] | None = None
    cancel_reason: str | None = None
    lost: bool = False
    handing_back: bool = False
    finishing: bool = False
    _seq: int = 0

    def request_cancel(self, reason: str) -> None:
        """Honour a cancel request: stop the handler if it is running."""
        if self.finishing or self.cancel_reason is not None:
            return
        self.cancel_reason = reason
        self._stop_handler()

    def abandon(self, *, lost: bool) -> None:
        """Stop without an answer: another worker owns the entry (``lost``) or we shut down."""
        if lost:
            self.lost = True
        else:
            self.handing_back = True
        self._stop_handler()

    def _stop_handler(self) -> None:
        if self.handler_task is not None and not self.handler_task.done():
            self.handler_task.cancel()

    def event(self, cls: type[Event], **fields: Any) -> Event:
        """A new event of this run, numbered in order."""
        assert self.task is not None
        event = cls(
            task_id=self.task.task_id,
            session_id=self.task.session_id,
            epoch=self.task.epoch,
            attempt=self.attempt,
            seq=self._seq,
            **fields,
        )
        self._seq += 1
        return event


async def process_entry(
    run: TaskRun,
    fields: Mapping[str, Any],
    *,
    writer: EventWriter,
    handler: TaskHandler,
    worker_name: str,
    stats: WorkerStats,
) -> None:
    """Decode, check, run and answer one entry. Returns without acking only when the entry must be
    redelivered (this worker lost it or is handing it back)."""
    try:
        task = decode_command(fields)
    except WireFormatError as error:
        await writer.dead_letter(
            run.entry_id, fields, code=error.code, message=str(error), deliveries=run.attempt
        )
        stats.dead_lettered += 1
        return
    if not isinstance(task, TaskRequest):  # a misrouted cancel: keep it, end no task over it
        await writer.dead_letter(
            run.entry_id,
            fields,
            code="malformed",
            message="a cancel entry on the task stream",
            deliveries=run.attempt,
            tell_session=False,
        )
        stats.dead_lettered += 1
        return
    run.task = task
    verdict, detail = await writer.pickup(
        task,
        run.entry_id,
        run.event(StartedEvent, worker=worker_name),
        expired=now_ms() >= task.deadline_ms,
    )
    if verdict in ("done", "duplicate"):
        stats.duplicates += 1
        await writer.ack(run.entry_id)
        return
    if verdict == "expired":
        await _finish(run, writer, stats, run.event(ExpiredEvent, deadline_ms=task.deadline_ms))
        return
    if verdict == "cancelled" or run.cancel_reason is not None:
        reason = detail if verdict == "cancelled" else str(run.cancel_reason)
        await _finish(run, writer, stats, run.event(CancelledEvent, reason=reason[:200]))
        return
    outcome = await _execute(run, task, writer, handler)
    if outcome is not None:
        await _finish(run, writer, stats, outcome)


async def _execute(
    run: TaskRun, task: TaskRequest, writer: EventWriter, handler: TaskHandler
) -> Event | None:
    if run.lost or run.handing_back:
        return None

    async def emit(kind: str, text: str, tool: str = "") -> None:
        """Best effort: progress lost to a Redis blip must not fail the task."""
        event = (
            run.event(ProgressEvent, message=text[:500], tool=tool[:128])
            if kind == "progress"
            else run.event(PartialEvent, text=text[:4000])
        )
        try:
            await writer.emit(event)
        except (ConnectionError, TimeoutError, OSError):
            log.warning(
                "dropped a progress event: Redis unreachable", extra={"task_id": task.task_id}
            )

    ctx = TaskContext(task, run.attempt, emit)
    remaining_s = max(0.0, (task.deadline_ms - now_ms()) / 1000)
    handler_task = asyncio.ensure_future(handler(ctx))
    run.handler_task = handler_task
    try:
        done, _ = await asyncio.wait({handler_task}, timeout=remaining_s)
    except asyncio.CancelledError:
        handler_task.cancel()
        raise
    if not done:
        handler_task.cancel()
        await asyncio.gather(handler_task, return_exceptions=True)
    if run.lost or run.handing_back:
        return None
    if not done:
        return run.event(ExpiredEvent, deadline_ms=task.deadline_ms)
    if handler_task.cancelled():
        if run.cancel_reason is not None:
            return run.event(CancelledEvent, reason=run.cancel_reason[:200])
        return run.event(ErrorEvent, code="internal", message="the task stopped unexpectedly")
    return _answer(run, task, handler_task)


def _answer(run: TaskRun, task: TaskRequest, handler_task: asyncio.Future[Any]) -> Event:
    """The terminal event for a handler that returned or raised."""
    error = handler_task.exception()
    if isinstance(error, TaskFailed):
        return run.event(
            ErrorEvent, code="failed", message=str(error)[:1000], retryable=error.retryable
        )
    ids = {"task_id": task.task_id, "session_id": task.session_id}
    if error is not None:
        log.error("task handler raised", exc_info=error, extra=ids)
        return run.event(ErrorEvent, code="internal", message="the task failed unexpectedly")
    outcome = handler_task.result()
    try:
        if not isinstance(outcome, TaskOutcome):
            raise TypeError(f"handler returned {type(outcome).__name__}, not a TaskOutcome")
        result = run.event(ResultEvent, text=outcome.text, data=outcome.data, kind=outcome.kind)
        encode(result)  # too large, or not JSON: fail here, not in every reader
    except (ValidationError, WireFormatError, TypeError) as invalid:
        log.error("task answer does not fit the wire schema", exc_info=invalid, extra=ids)
        return run.event(ErrorEvent, code="internal", message="the task's answer was invalid")
    return result


FINISH_RETRY_S = 30.0
"""How long a worker keeps trying to write an answer while Redis is unreachable."""


async def _finish(run: TaskRun, writer: EventWriter, stats: WorkerStats, event: Event) -> None:
    run.finishing = True
    try:
        written = await writer.finish(event, run.entry_id)
    except (ConnectionError, TimeoutError):  # Redis away: keep the answer until it is back
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((ConnectionError, TimeoutError)),
            wait=wait_exponential(multiplier=0.05, max=1.0) + wait_random(0, 0.05),
            stop=stop_after_delay(FINISH_RETRY_S),
            reraise=True,
        ):
            with attempt:
                written = await writer.finish(event, run.entry_id)
    if written:
        stats.answered[event.type] += 1
