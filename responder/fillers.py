"""The filler scheduler: what fills the silence while a delegated task runs, and when.

For each task, from the end of the model's acknowledgement (or, if the model delegated silently,
a short acknowledgement said for it):

* the first filler is due when the silence reaches ``filler_threshold_s``, unless the answer is
  expected by then (the tier's measured history, or its default before there is any: see
  :func:`responder.masking.first_filler_delay`), or sooner once a tool known to be slow (by its
  history, or its declared latency) has started;
* further fillers every ``filler_interval_s``, at most ``max_fillers``, each worded from the
  thinker's latest progress line, or the caller's request before there is one, and never the same
  line twice in a row;
* at ``patience_s`` after submission one honest late notice, after which no filler is said
  (it would only repeat it).

:class:`FillerPlan` makes these decisions from the clock alone; :class:`FillerScheduler` runs one
plan per task, waking on the task's changes, and posts what is due to the floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from responder import prompts
from responder.floor import Priority, Utterance
from responder.latency import LatencyHistory
from responder.masking import FillerWriter, first_filler_delay
from responder.metrics import CallMetrics
from responder.tasks import DelegatedTask
from shared.config import ResponderSettings

ACK_BOUND_S = 5.0
"""How long after submission the plan waits for the acknowledgement to end, at most."""


class FillerFloor(Protocol):
    """What the scheduler needs of the :class:`~responder.floor.FloorArbiter`."""

    @property
    def listeners(self) -> list[Callable[[str, Utterance], None]]: ...

    def post(self, utterance: Utterance) -> None: ...


@dataclass
class FillerPlan:
    """When the next filler and the late notice of one task are due (seconds on the clock)."""

    patience_at: float
    next_filler: float
    interval_s: float
    max_fillers: int

    def fillers_allowed(self, task: DelegatedTask) -> bool:
        """Another filler may still be said."""
        return task.fillers < self.max_fillers and not task.late_notice_given

    def due(self, task: DelegatedTask, now: float) -> Literal["late_notice", "filler"] | None:
        """What should be said at ``now``, if anything."""
        if not task.late_notice_given and now >= self.patience_at:
            return "late_notice"
        if self.fillers_allowed(task) and now >= self.next_filler:
            return "filler"
        return None

    def filler_said(self, now: float) -> None:
        """A filler was posted at ``now``: the next one waits an interval."""
        self.next_filler = now + self.interval_s

    def wake_in(self, task: DelegatedTask, now: float) -> float | None:
        """Seconds until something may be due (None: nothing ever, unless the task changes)."""
        due = None if task.late_notice_given else self.patience_at
        if self.fillers_allowed(task):
            due = min(self.next_filler, self.patience_at)
        return None if due is None else max(0.0, due - now)

    def hurry(self, by: float) -> None:
        """A slow tool started: the next filler is due by ``by`` at the latest."""
        self.next_filler = min(self.next_filler, by)


class FillerScheduler:
    """Masks the waits of one call's tasks: fallback acknowledgements, fillers, late notices."""

    def __init__(
        self,
        *,
        floor: FillerFloor,
        history: LatencyHistory,
        settings: ResponderSettings,
        metrics: CallMetrics,
        slow_tools: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``slow_tools``: the tools declared slow (``latency="slow"``), expected to take
        ``slow_tool_wait_s`` until their own history says otherwise."""
        self._floor = floor
        self._slow_tools = slow_tools
        self._history = history
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._writer = FillerWriter()
        self._loops: set[asyncio.Task[None]] = set()
        self._closed = False

    def watch(self, task: DelegatedTask, turn_ended_at: float | None) -> None:
        """Mask ``task`` until it stops running; ``turn_ended_at`` times the first filler.
        Nothing once closed: a task delegated as the call ends is not masked."""
        if self._closed:
            return
        loop = asyncio.create_task(self._mask(task, turn_ended_at), name="tandem-fillers")
        self._loops.add(loop)
        loop.add_done_callback(self._loops.discard)

    async def aclose(self) -> None:
        """Stop every masking loop, and start no more."""
        self._closed = True
        loops = list(self._loops)
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    def response_finished(self, task: DelegatedTask, handle: Any) -> None:
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

    def plan(self, task: DelegatedTask) -> FillerPlan:
        """The plan for ``task`` from now (its acknowledgement has ended, or never will)."""
        s = self._settings
        start = task.acknowledged_at or self._clock()
        waited = start - task.submitted_at
        return FillerPlan(
            patience_at=task.submitted_at + s.patience_s,
            next_filler=start
            + first_filler_delay(task.expected_wait_s, waited, s.filler_threshold_s),
            interval_s=s.filler_interval_s,
            max_fillers=s.max_fillers,
        )

    async def _mask(self, task: DelegatedTask, turn_ended_at: float | None) -> None:
        # the acknowledgement is being spoken: plan from its end (or a bound, if it never ends)
        ack_bound = task.submitted_at + ACK_BOUND_S
        while task.running and task.acknowledged_at is None and self._clock() < ack_bound:
            await _wait_change(task, ack_bound - self._clock())
        plan = self.plan(task)
        while task.running:
            now = self._clock()
            action = plan.due(task, now)
            if action == "late_notice":
                task.late_notice_given = True
                self._post_late_notice(task)
                continue
            if action == "filler":
                self._post_filler(task, turn_ended_at if task.fillers == 0 else None)
                task.fillers += 1
                plan.filler_said(now)
                continue
            await _wait_change(task, plan.wake_in(task, now))
            await self._hurry_for_slow_tool(task, plan)

    async def _hurry_for_slow_tool(self, task: DelegatedTask, plan: FillerPlan) -> None:
        """A tool known to be slow just started: the first filler need not wait for the tier's
        expectation to run out."""
        if not task.tool or task.fillers or task.tool_started_at is None:
            return
        threshold = self._settings.filler_threshold_s
        expected_tool = await self._history.expected(f"tool:{task.tool}")
        if expected_tool is None and task.tool in self._slow_tools:
            expected_tool = self._settings.slow_tool_wait_s
        if expected_tool is not None and expected_tool > threshold:
            plan.hurry(task.tool_started_at + threshold)

    def _post_filler(self, task: DelegatedTask, turn_ended_at: float | None) -> None:
        text = self._writer.filler(task.progress, task.request)

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
        if task.fillers == 0:
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
                instructions=prompts.late_notice_instructions(task.number, task.request),
                task_ids=(task.task_id,),
                is_stale=lambda: not task.running,
            )
        )


async def _wait_change(task: DelegatedTask, limit_s: float | None) -> None:
    task.changed.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(task.changed.wait(), limit_s)
