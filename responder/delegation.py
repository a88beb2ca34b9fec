"""Delegation to the thinker, wired for one call.

The pieces, each in its own module:

* :mod:`responder.delegate_tool`: the ``delegate`` and ``cancel_request`` tools the model calls;
* :mod:`responder.task_events`: the applier of thinker events (answers into the conversation and
  onto the floor, failures, staleness, and the turn epoch's one decision: an answer that arrives
  after the caller moved on is introduced with what it answers);
* :mod:`responder.fillers`: the filler scheduler (fallback acknowledgement, fillers, the one
  honest late notice);
* :mod:`responder.tasks`: the call's tasks and the one function that changes their state.

:class:`Delegator` owns them for one call: it submits tasks (with the turn epoch and recent
context), stops the ones the caller corrects (``replaces_task``) or drops (cancelled on the bus,
pending lines withdrawn, anything they still produce discarded), follows the session's event
stream and advances the turn epoch on every committed caller turn. A plain barge-in changes none
of this: backend work goes on. A caller turn that only finishes the previous one's sentence
("a table for um…" (pause) "…four people on Saturday") replaces the task the fragment started,
whatever the model asked for: the fragment's answer is never said and counts as superseded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from livekit.agents.llm import RawFunctionTool
from opentelemetry.trace import SpanKind

from responder.delegate_tool import DelegateTools
from responder.fillers import FillerScheduler
from responder.floor import FloorArbiter
from responder.latency import LatencyHistory
from responder.metrics import CallMetrics
from responder.task_events import ContextOwner, TaskEventApplier
from responder.tasks import DelegatedTask, TaskBook, TaskState
from responder.turns import CONTINUATION_TASK_AGE_S, caller_turns, continues, joined
from shared.bus import SessionLink
from shared.config import ResponderSettings
from shared.errors import WireFormatError
from shared.tracing import inject_current, task_attributes, tracer
from shared.wire import ContextTurn, Event, TaskRequest

log = logging.getLogger("tandem.responder.delegation")
_tracer = tracer("tandem.responder")


class Delegator:
    """One call's delegated work: submit, stop, follow events; the tools, event applier and
    filler scheduler are wired here."""

    def __init__(
        self,
        *,
        link: SessionLink,
        floor: FloorArbiter,
        history: LatencyHistory,
        settings: ResponderSettings,
        metrics: CallMetrics,
        agent: Callable[[], ContextOwner],
        conversation: Callable[[], Sequence[ContextTurn]] = tuple,
        slow_tools: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``agent``: the session's current agent; ``conversation``: the call's turns so far
        (the latest ``context_turns`` go with each task)."""
        self._link = link
        self._floor = floor
        self._history = history
        self._settings = settings
        self._metrics = metrics
        self._conversation = conversation
        self._agent = agent
        self._clock = clock
        self._book = TaskBook(metrics)
        self._fillers = FillerScheduler(
            floor=floor,
            history=history,
            settings=settings,
            metrics=metrics,
            slow_tools=slow_tools,
            clock=clock,
        )
        self._events = TaskEventApplier(
            book=self._book,
            floor=floor,
            history=history,
            metrics=metrics,
            agent=agent,
            epoch=lambda: self.epoch,
            clock=clock,
        )
        self._tools = DelegateTools(self)
        self._pump: asyncio.Task[None] | None = None
        self.event_listeners: list[Callable[[Event], None]] = []
        """Called with each thinker event of the session as it arrives, before it is applied."""
        self.epoch = 0
        """The turn epoch: advanced on every committed caller turn."""
        metrics.owed = lambda: bool(self._book.running())

    @property
    def tasks(self) -> TaskBook:
        """The tasks of this call."""
        return self._book

    def start(self) -> None:
        """Start following the session's event stream."""
        if self._pump is None:
            self._pump = asyncio.create_task(self._follow_events(), name="tandem-events")

    async def aclose(self) -> None:
        """Stop following events and masking, and cancel every open task on the bus."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        await self._fillers.aclose()
        await self._link.end(cancel_open=True)

    def caller_turn_committed(self) -> None:
        """A caller turn was committed to the conversation: a new epoch begins."""
        self.epoch += 1

    def tools(self) -> list[RawFunctionTool[Any, Any]]:
        """The LiveKit tools the responder model uses to delegate and cancel."""
        return self._tools.tools()

    async def delegate(
        self,
        request: str,
        *,
        replaces: int | None = None,
        tier: str = "fast",
        confirmed: bool = False,
        call_id: str = "",
        arguments: str = "{}",
    ) -> DelegatedTask:
        """Submit ``request`` to the thinker (superseding task ``replaces``); returns the task.

        A request that continues the previous caller turn's fragment (see
        :meth:`continued_task`) replaces that fragment's task, fragment and rest as one."""
        if replaces is None and (fragment := self.continued_task()) is not None:
            replaces, request = fragment.number, joined(fragment.request, request)
            self._metrics.emit("turn_continued", task=fragment.number)
        s = self._settings
        session_id = self._link.session_id
        with _tracer.start_as_current_span(
            "responder.delegate", attributes={"tandem.session_id": session_id, "tandem.tier": tier}
        ) as span:
            expected = await self._history.expected(f"tier:{tier}")
            with _tracer.start_as_current_span("bus.submit", kind=SpanKind.PRODUCER) as submit:
                task_request = TaskRequest.create(
                    session_id=session_id,
                    request=request,
                    epoch=self.epoch,
                    timeout_s=s.task_timeout_s,
                    context=tuple(self._conversation())[-s.context_turns :]
                    if s.context_turns
                    else (),
                    tier=tier,
                    confirmed=confirmed,
                    trace=inject_current(),  # the thinker's spans are this span's children
                )
                ids = task_attributes(session_id, task_request.task_id)
                span.set_attributes(ids)
                submit.set_attributes(ids)
                task = DelegatedTask(
                    task_id=task_request.task_id,
                    number=self._book.next_number(),
                    request=request,
                    epoch=self.epoch,
                    tier=tier,
                    call_id=call_id or task_request.task_id,
                    arguments=arguments,
                    expected_wait_s=expected if expected is not None else _default_wait(s, tier),
                    submitted_at=self._clock(),
                    trace=task_request.trace,
                )
                old = self._book.by_number(replaces) if replaces is not None else None
                self._book.add(task)
                turn_ended_at = self._metrics.turn_delegated()
                await self._link.submit(task_request)
        self._metrics.owed_changed()
        self._metrics.emit(
            "task_submitted",
            task=task.number,
            task_id=task.task_id,
            tier=tier,
            epoch=self.epoch,
            request=request,
        )
        if old is not None and old.relevant and old is not task:
            old.replaced_by = task.number
            await self.stop(old, TaskState.SUPERSEDED, f"superseded by task {task.number}")
        self._fillers.watch(task, turn_ended_at)
        return task

    def continued_task(self) -> DelegatedTask | None:
        """The task the previous caller turn started, when the latest turn carries that turn's
        words on (:func:`responder.turns.continues`: "a table for um…" then "…four people on
        Saturday") and its answer has not been said: still running, or answered and waiting for
        the floor. None otherwise."""
        unsaid = [
            task
            for task in self._book.all()
            if task.epoch == self.epoch - 1
            and self._clock() - task.submitted_at <= CONTINUATION_TASK_AGE_S
            and (task.running or (task.relevant and self._waiting_for_floor(task)))
        ]
        if not unsaid:
            return None
        said = caller_turns(self._agent().chat_ctx.items)
        if len(said) < 2 or not continues(said[-2], said[-1]):
            return None
        return unsaid[-1]

    def _waiting_for_floor(self, task: DelegatedTask) -> bool:
        return any(task.task_id in utterance.task_ids for utterance in self._floor.pending)

    async def stop(self, task: DelegatedTask, state: TaskState, reason: str) -> None:
        """End ``task`` for the caller (``SUPERSEDED`` or ``CANCELLED``): nothing more of it is
        said, and the thinker is told to stop if it still works on it."""
        was_running = task.running
        if not self._book.transition(task, state, reason=reason):
            return
        for utterance in self._floor.withdraw(lambda u: task.task_id in u.task_ids):
            if utterance.kind == "result":
                self._metrics.count_stale()
        if was_running:
            await self._link.cancel(task.task_id, reason[:200])

    def response_finished(self, task: DelegatedTask, handle: Any) -> None:
        """The model's response that delegated ``task`` finished playing (see the fillers)."""
        self._fillers.response_finished(task, handle)

    async def handle_event(self, event: Event) -> None:
        """Apply one thinker event (see :mod:`responder.task_events`)."""
        await self._events.apply(event)

    async def _follow_events(self) -> None:
        while True:
            try:
                async for event in self._link.events():
                    for listener in self.event_listeners:
                        listener(event)
                    await self._events.apply(event)
            except asyncio.CancelledError:
                raise
            except (WireFormatError, ConnectionError, OSError):
                log.warning("event stream interrupted; resuming", exc_info=True)
                await asyncio.sleep(0.2)


def _default_wait(settings: ResponderSettings, tier: str) -> float:
    """What a task of ``tier`` is expected to take before its history says."""
    return settings.default_planning_wait_s if tier == "strong" else settings.default_wait_s
