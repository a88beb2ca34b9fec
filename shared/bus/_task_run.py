"""One delivery of one task entry, from decoding to its terminal event."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from redis.exceptions import RedisError

from shared.bus._faults import FaultKind, classify, is_poison
from shared.bus._patience import Wait
from shared.bus._writer import EventWriter
from shared.bus.handler import TaskContext, TaskFailed, TaskHandler, TaskOutcome
from shared.errors import WireFormatError
from shared.log import session_scope
from shared.tracing import extract, inject_current, task_attributes, tracer
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
_tracer = tracer("tandem.bus")


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

    @property
    def abandoned(self) -> bool:
        """True once the run is to stop without an answer (see :meth:`abandon`)."""
        return self.lost or self.handing_back

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
    wait: Wait,
) -> None:
    """Decode, check, run and answer one entry. Returns without acking only when the entry must be
    redelivered (this worker lost it or is handing it back).

    Every Redis step runs through ``wait``, which waits out Redis refusing (``OOM``...) or being
    unreachable until the run is abandoned. A session key of the wrong type (``WRONGTYPE`` from
    ``PICKUP`` or ``FINISH``) dead-letters the entry. Other Redis errors are raised.
    """
    try:
        task = decode_command(fields)
    except WireFormatError as error:
        await writer.dead_letter(
            run.entry_id,
            fields,
            code=error.code,
            message=str(error),
            deliveries=run.attempt,
            wait=wait,
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
            wait=wait,
            tell_session=False,
        )
        stats.dead_lettered += 1
        return
    run.task = task
    try:
        await _serve(
            run,
            task,
            writer=writer,
            handler=handler,
            worker_name=worker_name,
            stats=stats,
            wait=wait,
        )
    except RedisError as error:
        if not is_poison(error):
            raise
        await _set_aside(run, task, fields, writer, stats, wait)


async def _serve(
    run: TaskRun,
    task: TaskRequest,
    *,
    writer: EventWriter,
    handler: TaskHandler,
    worker_name: str,
    stats: WorkerStats,
    wait: Wait,
) -> None:
    """Pick up, run and answer a decoded task, in the trace the task carries (``bus.pickup``)."""
    attributes: dict[str, str | int] = {
        **task_attributes(task.session_id, task.task_id),
        "tandem.attempt": run.attempt,
    }
    with (
        session_scope(task.session_id),  # the task's log lines name its call
        _tracer.start_as_current_span(
            "bus.pickup",
            context=extract(task.trace),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ),
    ):
        await _serve_traced(
            run,
            task,
            writer=writer,
            handler=handler,
            worker_name=worker_name,
            stats=stats,
            wait=wait,
        )


async def _serve_traced(
    run: TaskRun,
    task: TaskRequest,
    *,
    writer: EventWriter,
    handler: TaskHandler,
    worker_name: str,
    stats: WorkerStats,
    wait: Wait,
) -> None:
    started = run.event(StartedEvent, worker=worker_name)
    verdict, detail = await wait(
        lambda: writer.pickup(task, run.entry_id, started, expired=now_ms() >= task.deadline_ms)
    )
    if verdict in ("done", "duplicate"):
        stats.duplicates += 1
        await wait(lambda: writer.ack(run.entry_id))
        return
    if verdict == "expired":
        event = run.event(ExpiredEvent, deadline_ms=task.deadline_ms)
    elif verdict == "cancelled" or run.cancel_reason is not None:
        reason = detail if verdict == "cancelled" else str(run.cancel_reason)
        event = run.event(CancelledEvent, reason=reason[:200])
    else:
        outcome = await _execute(run, task, writer, handler, wait)
        if outcome is None:
            return
        event = outcome
    run.finishing = True
    attributes = {**task_attributes(task.session_id, task.task_id), "tandem.event": event.type}
    with _tracer.start_as_current_span(
        "bus.publish", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        # the responder continues the trace from here (its answer span is this one's child)
        event = event.model_copy(update={"trace": inject_current()})
        # the answer is kept until Redis takes it; the run's lease is renewed meanwhile
        if await wait(lambda: writer.finish(event, run.entry_id)):
            stats.answered[event.type] += 1


async def _set_aside(
    run: TaskRun,
    task: TaskRequest,
    fields: Mapping[str, Any],
    writer: EventWriter,
    stats: WorkerStats,
    wait: Wait,
) -> None:
    """Dead-letter an entry whose session has a key of the wrong type: it can never be answered
    there, and it must not take the worker (or a delivery of another task) with it."""
    await writer.dead_letter(
        run.entry_id,
        fields,
        code="wrong_type",
        message="a key of the task's session holds the wrong kind of value (WRONGTYPE)",
        deliveries=run.attempt,
        epoch=task.epoch,
        wait=wait,
    )
    stats.dead_lettered += 1


async def _best_effort(task: TaskRequest, kind: str, write: Awaitable[Any]) -> None:
    """Best effort: progress (or a record of what was done) that Redis refuses or cannot take
    (an outage, a session key of the wrong type) is dropped; it must not fail the task. Fatal
    errors are raised."""
    try:
        await write
    except RedisError as error:
        fault = classify(error)
        if fault is None or fault.kind is FaultKind.FATAL:
            raise
        log.warning(
            f"dropped a {kind} record: Redis did not take it",
            extra={"task_id": task.task_id, "code": fault.code},
        )


async def _execute(
    run: TaskRun, task: TaskRequest, writer: EventWriter, handler: TaskHandler, wait: Wait
) -> Event | None:
    if run.abandoned:
        return None

    async def emit(kind: str, text: str, tool: str = "") -> None:
        event = (
            run.event(ProgressEvent, message=text[:500], tool=tool[:128])
            if kind == "progress"
            else run.event(PartialEvent, text=text[:4000])
        )
        await _best_effort(task, kind, writer.emit(event))

    async def remember(key: str, text: str) -> None:
        """Waits out an outage (the record matters most when things go wrong)."""
        await _best_effort(task, "done", wait(lambda: writer.record_done(task, key, text)))

    ctx = TaskContext(task, run.attempt, emit, remember)
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
    if run.abandoned:
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
