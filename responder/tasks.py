"""The delegated tasks of one call: what was asked, on which turn, and where each one stands.

A task's state changes in one place, :meth:`TaskBook.transition`, which refuses what
:data:`TRANSITIONS` does not allow and does the bookkeeping every change needs: the outcome is
counted, the call's "caller is owed something" clock is told, timers waiting on the task wake,
and one call event says what happened (``task_answer``, ``task_failed`` or ``task_stopped``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from responder.metrics import CallMetrics

log = logging.getLogger("tandem.responder.tasks")


class TaskState(enum.Enum):
    """Where a delegated task stands, from the responder's side."""

    RUNNING = "running"
    ANSWERED = "answered"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    """The caller corrected or replaced the request: nothing from this task may be spoken."""
    CANCELLED = "cancelled"


TRANSITIONS: Mapping[TaskState, frozenset[TaskState]] = {
    TaskState.RUNNING: frozenset(
        {TaskState.ANSWERED, TaskState.FAILED, TaskState.SUPERSEDED, TaskState.CANCELLED}
    ),
    # an answer after the caller was told it failed is delivered as a follow-up
    TaskState.FAILED: frozenset({TaskState.ANSWERED, TaskState.SUPERSEDED}),
    # a finished task whose answer may not have been said yet can still be corrected away
    TaskState.ANSWERED: frozenset({TaskState.SUPERSEDED}),
    TaskState.SUPERSEDED: frozenset(),
    TaskState.CANCELLED: frozenset(),
}
"""The state changes a task may make; everything else (a second answer, anything out of
SUPERSEDED or CANCELLED, any way back to RUNNING) is refused."""


@dataclass
class DelegatedTask:
    """One piece of work handed to the thinker during this call."""

    task_id: str
    number: int
    """What the model and the caller call it ("task 2")."""
    request: str
    epoch: int
    """The conversation's turn epoch when the task was made."""
    tier: str
    call_id: str
    """The LiveKit function call that started it; results are inserted next to it."""
    arguments: str
    expected_wait_s: float
    submitted_at: float = field(default_factory=time.monotonic)
    state: TaskState = TaskState.RUNNING
    """Change it only through :meth:`TaskBook.transition`."""
    progress: str = ""
    """The latest progress line from the thinker, used to word fillers."""
    tool: str = ""
    tool_started_at: float | None = None
    acknowledged_at: float | None = None
    late_notice_given: bool = False
    fillers: int = 0
    partials: int = 0
    replaced_by: int | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on every change, so timers can re-plan."""
    trace: dict[str, str] = field(default_factory=dict)
    """The W3C trace context the task went out with (``bus.submit``): what comes back of it
    continues that trace when its events carry none."""

    @property
    def running(self) -> bool:
        """Still waiting for the thinker."""
        return self.state is TaskState.RUNNING

    @property
    def relevant(self) -> bool:
        """Its answer may still be spoken: neither superseded nor cancelled."""
        return self.state not in (TaskState.SUPERSEDED, TaskState.CANCELLED)

    def touch(self) -> None:
        """Wake whatever waits on :attr:`changed`."""
        self.changed.set()


class TaskBook:
    """The tasks of one call, by id and by number, and the one place their state changes."""

    def __init__(self, metrics: CallMetrics) -> None:
        self._metrics = metrics
        self._by_id: dict[str, DelegatedTask] = {}
        self._numbers = 0

    def next_number(self) -> int:
        """The number the next task gets (1, 2, ...)."""
        self._numbers += 1
        return self._numbers

    def add(self, task: DelegatedTask) -> None:
        """Start tracking ``task``."""
        self._by_id[task.task_id] = task

    def get(self, task_id: str) -> DelegatedTask | None:
        """The task with this id, if it belongs to this call."""
        return self._by_id.get(task_id)

    def by_number(self, number: int) -> DelegatedTask | None:
        """The task the model calls ``number``."""
        return next((t for t in self._by_id.values() if t.number == number), None)

    def running(self) -> list[DelegatedTask]:
        """Tasks still waiting for the thinker, oldest first."""
        return [t for t in self._by_id.values() if t.running]

    def all(self) -> list[DelegatedTask]:
        """Every task of the call, in the order they were delegated."""
        return sorted(self._by_id.values(), key=lambda t: t.number)

    def transition(
        self, task: DelegatedTask, to: TaskState, *, outcome: str | None = None, reason: str = ""
    ) -> bool:
        """Move ``task`` to ``to`` if :data:`TRANSITIONS` allows it; False (and nothing done) if
        not.

        ``outcome`` is what the metrics count (default: the state's value; ``"expired"`` for a
        failure by deadline); ``reason`` is logged. A task that changes twice (failed, then
        answered late) is counted under both outcomes, as before.
        """
        before = task.state
        if to not in TRANSITIONS[before]:
            log.debug(
                "task transition refused",
                extra={"task": task.number, "from": before.value, "to": to.value},
            )
            return False
        task.state = to
        task.touch()
        counted = outcome or to.value
        self._metrics.count_task(counted)
        self._metrics.owed_changed()
        if to is TaskState.ANSWERED:
            late = task.late_notice_given or before is TaskState.FAILED
            self._metrics.emit("task_answer", task=task.number, final=True, late=late)
        elif to is TaskState.FAILED:
            self._metrics.emit("task_failed", task=task.number, outcome=counted)
        else:
            self._metrics.emit("task_stopped", task=task.number, state=to.value)
        log.debug(
            "task transition",
            extra={"task": task.number, "from": before.value, "to": to.value, "reason": reason},
        )
        return True
