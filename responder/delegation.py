"""Delegation to the thinker: the ``delegate`` and ``cancel_request`` tools, the event pump that
brings answers back, supersession, deadlines and latency masking.

The model calls ``delegate`` in the same response in which it acknowledges the caller ("let me
check Friday at eight"), so no extra round trip is spent on the acknowledgement. The tool submits a
durable task over the bus and releases the turn at once (``ctx.update(..., silent=True)``: the
model learns the task number, nothing more is spoken). Thinker events come back on the session's
stream: each answer is appended to the conversation context as the task's tool output, then handed
to the :class:`~responder.floor.FloorArbiter`, which speaks it when the floor is free.

Stale answers are never spoken: a task the caller corrected (``replaces_task``) or dropped is
cancelled on the bus, its pending utterances are withdrawn, and anything it still produces is
counted and discarded. A plain barge-in changes none of this: backend work goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from livekit.agents import Agent, RunContext, function_tool, llm
from livekit.agents.llm import RawFunctionTool

from responder.floor import FloorArbiter, Priority, Utterance
from responder.latency import LatencyHistory
from responder.masking import FillerWriter, first_filler_delay
from responder.metrics import CallMetrics
from responder.tasks import DelegatedTask, TaskBook, TaskState
from shared.bus import SessionLink
from shared.config import ResponderSettings
from shared.errors import WireFormatError
from shared.tracing import inject_current, tracer
from shared.wire import (
    CancelledEvent,
    ContextTurn,
    ErrorEvent,
    Event,
    ExpiredEvent,
    PartialEvent,
    ProgressEvent,
    ResultEvent,
    StartedEvent,
    TaskRequest,
)

log = logging.getLogger("tandem.responder.delegation")
_tracer = tracer("tandem.responder")

DELEGATE_SCHEMA: dict[str, Any] = {
    "name": "delegate",
    "description": (
        "Hand work you cannot do instantly to the back office: anything that needs a lookup, "
        "availability, a booking or its cancellation, facts you do not have, or several steps. "
        "In the SAME response, first say one short sentence telling the caller what you are "
        "doing (e.g. 'Let me check Friday at eight for four.'), then call this. It returns at "
        "once with a task number; the answer arrives later as a separate tool output and you "
        "will be asked to tell the caller. Never guess the answer yourself."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "request": {
                "type": "string",
                "description": "The caller's request, complete and self-contained, with every "
                "detail they gave (names, dates, times, party size, phone number).",
            },
            "replaces_task": {
                "type": "integer",
                "description": "Number of a running task that this request corrects or "
                "replaces because the caller changed their mind. Omit for a new request.",
            },
            "needs_planning": {
                "type": "boolean",
                "description": "True for multi-step planning or comparison; false for a lookup "
                "or a booking.",
            },
            "caller_confirmed": {
                "type": "boolean",
                "description": "True only if the caller explicitly confirmed an action that "
                "changes something (making or cancelling a booking).",
            },
        },
        "required": ["request"],
        "additionalProperties": False,
    },
}

CANCEL_SCHEMA: dict[str, Any] = {
    "name": "cancel_request",
    "description": "Stop a running task because the caller no longer wants it.",
    "parameters": {
        "type": "object",
        "properties": {"task": {"type": "integer", "description": "The task number."}},
        "required": ["task"],
        "additionalProperties": False,
    },
}


class Delegator:
    """One call's delegated work: submit, follow, mask, speak through the floor, supersede."""

    def __init__(
        self,
        *,
        link: SessionLink,
        floor: FloorArbiter,
        history: LatencyHistory,
        settings: ResponderSettings,
        metrics: CallMetrics,
        agent: Callable[[], Agent],
        conversation: Callable[[], Sequence[ContextTurn]] = tuple,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._link = link
        self._floor = floor
        self._history = history
        self._settings = settings
        self._metrics = metrics
        self._agent = agent
        self._conversation = conversation
        self._clock = clock
        self._book = TaskBook()
        self._writer = FillerWriter()
        self._context_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._pump: asyncio.Task[None] | None = None
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
        """Stop following events and cancel every open task on the bus."""
        for task in [self._pump, *self._background]:
            if task is not None:
                task.cancel()
        for task in [self._pump, *self._background]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._link.end(cancel_open=True)

    def caller_turn_committed(self) -> None:
        """A caller turn was committed to the conversation: a new epoch begins."""
        self.epoch += 1

    def tools(self) -> list[RawFunctionTool[Any, Any]]:
        """The LiveKit tools the responder model uses to delegate and cancel."""
        return [
            function_tool(self._delegate_tool, raw_schema=DELEGATE_SCHEMA),
            function_tool(self._cancel_tool, raw_schema=CANCEL_SCHEMA),
        ]

    # -- the tools ----------------------------------------------------------------------------

    async def _delegate_tool(self, raw_arguments: dict[str, Any], context: RunContext[Any]) -> None:
        request = str(raw_arguments.get("request") or "").strip()
        if not request:
            raise llm.ToolError("say what the caller asked for in 'request'")
        replaces = _task_number(raw_arguments.get("replaces_task"))
        task = await self.delegate(
            request,
            replaces=replaces,
            tier="strong" if raw_arguments.get("needs_planning") else "fast",
            confirmed=bool(raw_arguments.get("caller_confirmed")),
            call_id=context.function_call.call_id,
            arguments=context.function_call.arguments,
        )
        context.speech_handle.add_done_callback(lambda handle: self._acknowledged(task, handle))
        note = f"Task {task.number} started."
        old = self._book.by_number(replaces) if replaces is not None else None
        if old is not None and old.replaced_by == task.number:
            note += f" Task {old.number} was stopped; nothing from it will be said."
        await context.update(
            note + " Its answer will arrive as a separate tool output; do not guess it.",
            silent=True,
        )

    async def _cancel_tool(self, raw_arguments: dict[str, Any], context: RunContext[Any]) -> str:
        number = _task_number(raw_arguments.get("task"))
        task = self._book.by_number(number) if number is not None else None
        if task is None:
            raise llm.ToolError(f"there is no task {number}")
        if not task.running:
            return f"Task {task.number} had already finished ({task.state.value})."
        await self._stop(task, TaskState.CANCELLED, "caller cancelled")
        return f"Task {task.number} is cancelled; nothing from it will be said."

    # -- delegation ---------------------------------------------------------------------------

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
        """Submit ``request`` to the thinker (superseding task ``replaces``); returns the task."""
        with _tracer.start_as_current_span("responder.delegate", attributes={"tier": tier}):
            expected = await self._history.expected(f"tier:{tier}")
            task_request = TaskRequest.create(
                session_id=self._link.session_id,
                request=request,
                epoch=self.epoch,
                timeout_s=self._settings.task_timeout_s,
                context=tuple(self._conversation())[-self._settings.context_turns :]
                if self._settings.context_turns
                else (),
                tier=tier,
                confirmed=confirmed,
                trace=inject_current(),
            )
        task = DelegatedTask(
            task_id=task_request.task_id,
            number=self._book.next_number(),
            request=request,
            epoch=self.epoch,
            tier=tier,
            call_id=call_id or task_request.task_id,
            arguments=arguments,
            expected_wait_s=expected if expected is not None else self._settings.default_wait_s,
            submitted_at=self._clock(),
        )
        old = self._book.by_number(replaces) if replaces is not None else None
        self._book.add(task)
        turn_ended_at = self._metrics.turn_delegated()
        await self._link.submit(task_request)
        self._metrics.owed_changed()
        self._metrics.emit(
            "task_submitted", task=task.number, task_id=task.task_id, tier=tier, epoch=self.epoch
        )
        if old is not None and old.relevant and old is not task:
            old.replaced_by = task.number
            await self._stop(old, TaskState.SUPERSEDED, f"superseded by task {task.number}")
        self._spawn(self._mask(task, turn_ended_at))
        return task

    async def _stop(self, task: DelegatedTask, state: TaskState, reason: str) -> None:
        was_running = task.running
        task.state = state
        task.touch()
        for utterance in self._floor.withdraw(lambda u: task.task_id in u.task_ids):
            if utterance.kind == "result":
                self._metrics.count_stale()
        self._metrics.count_task(state.value)
        self._metrics.emit("task_stopped", task=task.number, state=state.value)
        self._metrics.owed_changed()
        if was_running:
            await self._link.cancel(task.task_id, reason[:200])

    def _acknowledged(self, task: DelegatedTask, handle: Any) -> None:
        """The response that called ``delegate`` finished: acknowledge now if it was silent."""
        task.acknowledged_at = self._clock()
        task.touch()
        said = any(
            getattr(item, "role", None) == "assistant" and getattr(item, "text_content", None)
            for item in handle.chat_items
        )
        if said or not task.running:
            return
        self._metrics.emit("ack_fallback", task=task.number)
        self._floor.post(
            Utterance(
                kind="ack",
                priority=Priority.RESULT,
                text=self._writer.acknowledgement(),
                task_ids=(task.task_id,),
                is_stale=lambda: not task.running,
                repeat_if_cut=False,
            )
        )

    # -- latency masking ------------------------------------------------------------------------

    async def _mask(self, task: DelegatedTask, turn_ended_at: float | None) -> None:
        """Fillers while ``task`` runs long, then one honest notice at the patience limit."""
        s = self._settings
        patience_at = task.submitted_at + s.patience_s
        # the acknowledgement is being spoken: plan from its end (or a bound, if it never ends)
        ack_bound = task.submitted_at + 5.0
        while task.running and task.acknowledged_at is None and self._clock() < ack_bound:
            await self._wait_change(task, ack_bound - self._clock())
        start = task.acknowledged_at or self._clock()
        waited = start - task.submitted_at
        next_filler = start + first_filler_delay(task.expected_wait_s, waited, s.filler_threshold_s)
        while task.running:
            now = self._clock()
            if not task.late_notice_given and now >= patience_at:
                task.late_notice_given = True  # after this, fillers would only repeat it
                self._post_late_notice(task)
                continue
            filler_allowed = task.fillers < s.max_fillers and not task.late_notice_given
            if filler_allowed and now >= next_filler:
                self._post_filler(task, turn_ended_at if task.fillers == 0 else None)
                task.fillers += 1
                next_filler = now + s.filler_interval_s
                continue
            due = None if task.late_notice_given else patience_at
            if filler_allowed:
                due = min(next_filler, patience_at)
            await self._wait_change(task, None if due is None else max(0.0, due - now))
            if task.tool and task.fillers == 0 and task.tool_started_at is not None:
                # a tool known to be slow just started: the filler need not wait for the tier's
                # expectation to run out
                expected_tool = await self._history.expected(f"tool:{task.tool}")
                if expected_tool is not None and expected_tool > s.filler_threshold_s:
                    next_filler = min(next_filler, task.tool_started_at + s.filler_threshold_s)

    @staticmethod
    async def _wait_change(task: DelegatedTask, limit_s: float | None) -> None:
        task.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task.changed.wait(), limit_s)

    def _post_filler(self, task: DelegatedTask, turn_ended_at: float | None) -> None:
        text = self._writer.filler(task.progress)
        first = task.fillers == 0

        def spoken(_: Utterance) -> None:
            self._metrics.emit("filler", task=task.number, text=text)

        utterance = Utterance(
            kind="filler",
            priority=Priority.FILLER,
            text=text,
            task_ids=(task.task_id,),
            is_stale=lambda: not task.running,
            repeat_if_cut=False,
            on_spoken=spoken,
        )
        if first:
            self._floor.listeners.append(self._first_filler_watch(utterance, turn_ended_at))
        self._floor.post(utterance)

    def _first_filler_watch(
        self, utterance: Utterance, turn_ended_at: float | None
    ) -> Callable[[str, Utterance], None]:
        def watch(what: str, candidate: Utterance) -> None:
            if candidate is utterance and what == "requested":
                self._metrics.filler_requested(turn_ended_at)

        return watch

    def _post_late_notice(self, task: DelegatedTask) -> None:
        self._metrics.emit("late_notice", task=task.number)
        self._floor.post(
            Utterance(
                kind="late_notice",
                priority=Priority.RESULT,
                instructions=(
                    f"Task {task.number} ({task.request}) is taking longer than it should. Tell "
                    "the caller honestly, in one short sentence, that you are still on it, and "
                    "offer to let them know as soon as it is ready or to help with something "
                    "else meanwhile. Do not guess the answer."
                ),
                task_ids=(task.task_id,),
                is_stale=lambda: not task.running,
            )
        )

    # -- events from the thinker ----------------------------------------------------------------

    async def _follow_events(self) -> None:
        while True:
            try:
                async for event in self._link.events():
                    await self.handle_event(event)
            except asyncio.CancelledError:
                raise
            except (WireFormatError, ConnectionError, OSError):
                log.warning("event stream interrupted; resuming", exc_info=True)
                await asyncio.sleep(0.2)

    async def handle_event(self, event: Event) -> None:
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
        elif isinstance(event, PartialEvent):
            await self._answer(task, event.text, final=False)
        elif isinstance(event, ResultEvent):
            await self._answer(task, event.text, final=True)
        elif isinstance(event, ErrorEvent | ExpiredEvent):
            await self._failed(task, event)
        elif isinstance(event, CancelledEvent) and task.running:
            task.state = TaskState.CANCELLED
            task.touch()
            self._metrics.owed_changed()

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

    async def _answer(self, task: DelegatedTask, text: str, *, final: bool) -> None:
        now = self._clock()
        late = task.late_notice_given
        if final:
            await self._record_tool_end(task, now)
            await self._history.record(f"tier:{task.tier}", now - task.submitted_at)
            was_running = task.running
            task.state = TaskState.ANSWERED
            task.touch()
            self._metrics.count_task("answered")
            self._metrics.owed_changed()
            if not was_running:  # answered after the caller was told it failed: a follow-up
                late = True
            # an early fact not yet spoken is covered by the full answer
            self._floor.withdraw(lambda u: task.task_id in u.task_ids and u.kind == "result")
        else:
            task.partials += 1
        suffix = "_result" if final else f"_partial_{task.partials}"
        where = (
            f"the tool output with call id {task.call_id}{suffix}"
            if await self._insert_output(task, suffix, text)
            else f"this: {text!r}"
        )
        self._metrics.emit("task_answer", task=task.number, final=final, late=late)
        if final:
            what = (
                f"Follow-up: the answer to task {task.number} ({task.request}) has arrived, "
                "after you told the caller it was taking long. Tell them now, briefly."
                if late
                else f"Task {task.number} ({task.request}) is done."
            )
            instructions = (
                f"{what} Its answer is {where}. "
                "Tell the caller the answer now in your own words, briefly and naturally, using "
                "only the facts in it. If it needs a decision from the caller, ask for it."
            )
        else:
            instructions = (
                f"An early fact for task {task.number} ({task.request}) is {where}. Tell the "
                "caller that fact in one short sentence and say you are finishing the rest."
            )

        def stale() -> bool:  # superseded, or an early fact the full answer now covers
            return not task.relevant or (not final and task.state is TaskState.ANSWERED)

        self._floor.post(
            Utterance(
                kind="result",
                priority=Priority.RESULT,
                instructions=instructions,
                task_ids=(task.task_id,),
                is_stale=stale,
            )
        )

    async def _failed(self, task: DelegatedTask, event: ErrorEvent | ExpiredEvent) -> None:
        if not task.running:
            return
        task.state = TaskState.FAILED
        task.touch()
        outcome = "expired" if isinstance(event, ExpiredEvent) else "failed"
        self._metrics.count_task(outcome)
        self._metrics.owed_changed()
        self._metrics.emit("task_failed", task=task.number, outcome=outcome)
        self._floor.withdraw(lambda u: task.task_id in u.task_ids)
        reason = (
            "it ran out of time"
            if isinstance(event, ExpiredEvent)
            else "the system it needs had a problem"
        )
        self._floor.post(
            Utterance(
                kind="failure",
                priority=Priority.RESULT,
                instructions=(
                    f"Task {task.number} ({task.request}) could not be finished: {reason}. "
                    "Tell the caller honestly in one short sentence that you could not get "
                    "that done just now, and offer to try again. Do not guess an answer."
                ),
                task_ids=(task.task_id,),
                is_stale=lambda: not task.relevant or task.state is TaskState.ANSWERED,
            )
        )

    async def _insert_output(self, task: DelegatedTask, suffix: str, text: str) -> bool:
        """Append the answer to the conversation as the task's tool output (not to the session
        instructions), so the model can speak it and later turns can refer to it."""
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
                return False
        return True

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _task_number(value: object) -> int | None:
    """A task number from model-written arguments (an int, or digits in a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("#").isdigit():
        return int(value.strip().lstrip("#"))
    return None
