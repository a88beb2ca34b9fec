"""The delegated tasks of one call: what was asked, on which turn, and where each one stands."""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field


class TaskState(enum.Enum):
    """Where a delegated task stands, from the responder's side."""

    RUNNING = "running"
    ANSWERED = "answered"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    """The caller corrected or replaced the request: nothing from this task may be spoken."""
    CANCELLED = "cancelled"


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
    """The tasks of one call, by id and by number."""

    def __init__(self) -> None:
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
