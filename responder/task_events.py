"""The applier of thinker events: what each event on the session's stream does to its task, to
the conversation and to what the agent says next.

* ``started``: nothing to say (a redelivery is noted);
* ``progress``: the task's latest line (fillers are worded from it) and which tool runs (slow
  tools hurry the first filler; tool durations feed the latency history);
* ``partial`` / ``result``: the text is appended to the conversation as the task's tool output
  (``<call_id>_partial_N`` / ``<call_id>_result``; the session instructions are never
  rewritten), then the floor is asked to have the model say it, as the result's ``kind`` asks:
  an answer; "I don't have that information" with an offer to take a message (``unknown``); or
  the question for the missing detail (``needs_detail``). A result ends the task, and none of
  its kinds is followed by an offer to try again: asking again would get the same reply;
* ``error`` / ``expired``: the task failed; pending lines about it are withdrawn and the caller
  gets one honest message. Only a failure that may go away (``expired``, or an ``error`` the
  thinker marks ``retryable``) comes with an offer to try again; any other is said as something
  that can't be done;
* ``cancelled``: the thinker stopped it; nothing is said.

Events of a task the caller corrected or dropped are counted and discarded, never spoken.

The turn epoch decides how an answer is introduced: each task carries the epoch (caller turns
committed so far) it was delegated in. When the answer, early fact or failure arrives after the
caller has moved on (the call's epoch is :data:`MOVED_ON_TURNS` or more past the task's), the
model is told to say first what it answers ("About the opening hours you asked about earlier:
..."), because a caller who changed topic needs the context back; an answer to the current
exchange is said plainly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from livekit.agents import llm
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from responder import prompts
from responder.floor import Priority, Utterance
from responder.latency import LatencyHistory
from responder.metrics import CallMetrics
from responder.tasks import DelegatedTask, TaskBook, TaskState
from shared.tracing import extract, task_attributes, tracer
from shared.wire import (
    CancelledEvent,
    ErrorEvent,
    Event,
    ExpiredEvent,
    PartialEvent,
    ProgressEvent,
    ResultEvent,
    StartedEvent,
)

log = logging.getLogger("tandem.responder.task_events")
_tracer = tracer("tandem.responder")

MOVED_ON_TURNS = 2
"""Caller turns after the one that asked, from which an answer is introduced with its subject."""


def moved_on(task_epoch: int, call_epoch: int) -> bool:
    """The caller has taken :data:`MOVED_ON_TURNS` or more turns since delegating the task."""
    return call_epoch - task_epoch >= MOVED_ON_TURNS


class AnswerFloor(Protocol):
    """What the applier needs of the :class:`~responder.floor.FloorArbiter`."""

    def post(self, utterance: Utterance) -> None: ...

    def withdraw(self, predicate: Callable[[Utterance], bool]) -> list[Utterance]: ...


class ContextOwner(Protocol):
    """What the applier needs of the LiveKit ``Agent``: its conversation, to add answers to."""

    @property
    def chat_ctx(self) -> llm.ChatContext: ...

    async def update_chat_ctx(self, chat_ctx: llm.ChatContext) -> None: ...


class TaskEventApplier:
    """Applies one call's thinker events to its tasks, its conversation and its floor."""

    def __init__(
        self,
        *,
        book: TaskBook,
        floor: AnswerFloor,
        history: LatencyHistory,
        metrics: CallMetrics,
        agent: Callable[[], ContextOwner],
        epoch: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``agent``: the session's current agent; ``epoch``: the call's turn epoch now."""
        self._book = book
        self._floor = floor
        self._history = history
        self._metrics = metrics
        self._agent = agent
        self._epoch = epoch
        self._clock = clock
        self._context_lock = asyncio.Lock()

    async def apply(self, event: Event) -> None:
        """Apply one thinker event to its task and, when something should be said, the floor."""
        task = self._book.get(event.task_id)
        if task is None:
            return
        if isinstance(event, StartedEvent):
            if event.attempt > 1:
                self._metrics.emit("task_redelivered", task=task.number, attempt=event.attempt)
            return
        if not task.relevant:
            if isinstance(event, ResultEvent | PartialEvent):
                self._metrics.count_stale()
                self._metrics.emit("stale_suppressed", task=task.number, kind=event.type)
            return
        if isinstance(event, ProgressEvent):
            await self._progress(task, event)
            return
        attributes = {**task_attributes(event.session_id, task.task_id), "tandem.event": event.type}
        # the answer's way back continues the task's trace: the thinker's bus.publish when the
        # event carries it, else the task's own bus.submit
        with _tracer.start_as_current_span(
            "responder.result",
            context=extract(event.trace or task.trace),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ):
            await self._answer(task, event)

    async def _answer(self, task: DelegatedTask, event: Event) -> None:
        if isinstance(event, PartialEvent):
            await self._partial(task, event.text)
        elif isinstance(event, ResultEvent):
            await self._result(task, event)
        elif isinstance(event, ExpiredEvent):
            self._failed(task, expired=True, done=event.done)
        elif isinstance(event, ErrorEvent):
            reason = event.message if event.code == "failed" else ""
            self._failed(task, retryable=event.retryable, reason=reason, done=event.done)
        elif isinstance(event, CancelledEvent):
            self._book.transition(task, TaskState.CANCELLED, reason=event.reason)

    async def _progress(self, task: DelegatedTask, event: ProgressEvent) -> None:
        now = self._clock()
        await self._record_tool_end(task, now)
        task.progress = event.message
        if event.tool:
            task.tool, task.tool_started_at = event.tool, now
        task.touch()

    async def _record_tool_end(self, task: DelegatedTask, now: float) -> None:
        if task.tool and task.tool_started_at is not None:
            await self._history.record(f"tool:{task.tool}", now - task.tool_started_at)
            task.tool_started_at = None

    async def _partial(self, task: DelegatedTask, text: str) -> None:
        task.partials += 1
        where = await self._insert_output(task, f"_partial_{task.partials}", text)
        self._metrics.emit(
            "task_answer", task=task.number, final=False, late=task.late_notice_given
        )
        self._post(
            task,
            "result",
            prompts.partial_instructions(
                task.number, task.request, where, moved_on=self._moved_on(task)
            ),
            # an early fact the full answer now covers is not worth saying
            stale=lambda: not task.relevant or task.state is TaskState.ANSWERED,
        )

    async def _result(self, task: DelegatedTask, event: ResultEvent) -> None:
        late = task.late_notice_given or task.state is TaskState.FAILED
        if not self._book.transition(task, TaskState.ANSWERED, reason="result"):
            return  # a second answer to the same task: the first one stands
        now = self._clock()
        await self._record_tool_end(task, now)
        await self._history.record(f"tier:{task.tier}", now - task.submitted_at)
        # an early fact not yet spoken is covered by the full answer
        self._floor.withdraw(lambda u: task.task_id in u.task_ids and u.kind == "result")
        where = await self._insert_output(task, "_result", event.text)
        instructions = prompts.answer_instructions(
            task.number,
            task.request,
            where,
            late=late,
            moved_on=self._moved_on(task),
            kind=event.kind,
        )
        self._post(task, "result", instructions, stale=lambda: not task.relevant)

    def _failed(
        self,
        task: DelegatedTask,
        *,
        expired: bool = False,
        retryable: bool = False,
        reason: str = "",
        done: Sequence[str] = (),
    ) -> None:
        outcome = "expired" if expired else "failed"
        if not self._book.transition(task, TaskState.FAILED, outcome=outcome):
            return  # it had already ended
        self._floor.withdraw(lambda u: task.task_id in u.task_ids)
        instructions = prompts.failure_instructions(
            task.number,
            task.request,
            expired=expired,
            retryable=retryable,
            reason=reason,
            done=done,
            moved_on=self._moved_on(task),
        )
        self._post(
            task,
            "failure",
            instructions,
            stale=lambda: not task.relevant or task.state is TaskState.ANSWERED,
        )

    def _moved_on(self, task: DelegatedTask) -> bool:
        return moved_on(task.epoch, self._epoch())

    def _post(
        self,
        task: DelegatedTask,
        kind: Literal["result", "failure"],
        instructions: str,
        *,
        stale: Callable[[], bool],
    ) -> None:
        self._floor.post(
            Utterance(
                kind=kind,
                priority=Priority.RESULT,
                instructions=instructions,
                task_ids=(task.task_id,),
                is_stale=stale,
                trace=otel_context.get_current(),  # the speech span is the result span's child
            )
        )

    async def _insert_output(self, task: DelegatedTask, suffix: str, text: str) -> str:
        """Append the answer to the conversation as the task's tool output (not to the session
        instructions), so the model can speak it and later turns can refer to it; returns where
        the model finds it (the answer itself if the context could not be updated)."""
        call = llm.FunctionCall(
            call_id=f"{task.call_id}{suffix}", name="delegate", arguments=task.arguments
        )
        output = llm.FunctionCallOutput(
            call_id=call.call_id, name="delegate", output=text, is_error=False
        )
        async with self._context_lock:  # concurrent diffs of the context would undo each other
            agent = self._agent()
            chat_ctx = agent.chat_ctx.copy()
            chat_ctx.insert([call, output])
            try:
                await agent.update_chat_ctx(chat_ctx)
            except Exception:  # the answer must still be spoken: it rides in the instructions
                log.warning("could not add a task answer to the context", exc_info=True)
                return prompts.answer_inline(text)
        return prompts.answer_in_output(call.call_id)
