"""What a worker's task handler sees and returns: the seam between the bus and the thinker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import JsonValue

from shared.wire import TaskRequest


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """A finished task: facts for the responder to say, and structured data."""

    text: str
    data: dict[str, JsonValue] = field(default_factory=dict)


class TaskFailed(Exception):
    """Raised by a handler for a failure the caller should hear about (becomes an ``error`` event
    with code ``failed``). The message must be safe to show; it is not redelivered."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class TaskContext:
    """Handed to a handler for one attempt of one task."""

    def __init__(
        self,
        task: TaskRequest,
        attempt: int,
        emit: Callable[[str, str, str], Awaitable[None]],
    ) -> None:
        self.task = task
        self.attempt = attempt
        self._emit = emit

    async def progress(self, message: str, *, tool: str = "") -> None:
        """Tell the caller's session what is happening ("checking availability..."); ``tool``
        names the tool that just started, which lets the responder time tools."""
        await self._emit("progress", message, tool)

    async def partial(self, text: str) -> None:
        """Hand the responder a fact as soon as it is known, before the task ends."""
        await self._emit("partial", text, "")


class TaskHandler(Protocol):
    """Runs one task. Return a :class:`TaskOutcome`; raise :class:`TaskFailed` for a failure to
    report. The worker cancels the call (``asyncio.CancelledError``) on cancel or deadline."""

    def __call__(self, ctx: TaskContext, /) -> Awaitable[TaskOutcome]: ...
