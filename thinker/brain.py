"""The seam between the worker and whatever does the reasoning.

A :class:`Brain` answers one task with a :class:`~shared.bus.TaskOutcome`: short, plain facts for
the responder to say, with numbers and names exact, not a finished speech. It sees the task (with
the conversation context it carries) and uses tools only through :class:`BrainContext`, which
applies the task's tool allowlist, idempotency keys, confirmation and progress events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from shared.bus import TaskFailed, TaskOutcome
from shared.profile import Profile
from shared.wire import TaskRequest
from tools import Tool, ToolResult


class BrainContext:
    """What a brain gets for one task."""

    def __init__(
        self,
        task: TaskRequest,
        tools: Sequence[Tool],
        call_tool: Callable[[str, Mapping[str, Any] | str], Awaitable[ToolResult]],
        progress: Callable[[str], Awaitable[None]],
        partial: Callable[[str], Awaitable[None]],
        remaining_s: Callable[[], float],
        profile: Profile | None = None,
    ) -> None:
        self.task = task
        self.profile = profile
        """The agent profile the task is for: whose business, instructions and knowledge."""
        self.tools = list(tools)
        self._call_tool = call_tool
        self._progress = progress
        self._partial = partial
        self._remaining_s = remaining_s

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | str) -> ToolResult:
        """Run one of :attr:`tools`; every failure comes back as an error result (for a model,
        which reads the error and words the answer itself)."""
        return await self._call_tool(name, arguments)

    async def run_tool(self, name: str, arguments: Mapping[str, Any] | str) -> ToolResult:
        """Run one of :attr:`tools` for a brain that puts its results into words by rule: a
        tool that did not finish (:attr:`ToolResult.failed`: it crashed, timed out, or what it
        stands on is down) fails the task, retryable, so its error text is never said as an
        answer. Refusals (no such booking, bad arguments) come back as error results."""
        result = await self._call_tool(name, arguments)
        if result.failed:
            raise TaskFailed(f"the {name} tool could not be run just now", retryable=True)
        return result

    async def progress(self, message: str) -> None:
        """A short line the caller may hear while the task runs."""
        await self._progress(message)

    async def partial(self, text: str) -> None:
        """A fact known before the answer is complete."""
        await self._partial(text)

    def remaining_s(self) -> float:
        """Seconds left before the task's deadline."""
        return self._remaining_s()


class Brain(Protocol):
    """Answers tasks. ``name`` appears in logs and metrics."""

    name: str

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        """The facts that answer ``ctx.task``; raise ``TaskFailed`` for a failure to report."""
        ...
