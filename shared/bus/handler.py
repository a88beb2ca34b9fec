"""What a worker's task handler sees and returns: the seam between the bus and the thinker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import JsonValue

from shared.wire import ResultKind, TaskRequest


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """A finished task: what the responder should say, its kind, and structured data.

    ``kind`` tells the responder how to say it: ``"answer"``, facts that answer the request;
    ``"unknown"``, the information is not there (or it can't be done here), said plainly with an
    offer to take a message and never an offer to try again; ``"needs_detail"``, a detail only
    the caller can give is missing, and ``text`` asks for exactly that (after any fact the caller
    needs first: "A table for 4 is free. What name is it under?"). A failure that may go away on
    another try is not an outcome: raise :class:`TaskFailed` with ``retryable=True``.
    """

    text: str
    data: dict[str, JsonValue] = field(default_factory=dict)
    kind: ResultKind = "answer"


def overall_kind(kinds: Iterable[ResultKind]) -> ResultKind:
    """The kind of one outcome that answers several parts of a request, given each part's: an
    answer if any part was answered (its text says what was not), else a question if a part
    needs a detail, else unknown (``"answer"`` for no parts)."""
    found = set(kinds)
    if not found or "answer" in found:
        return "answer"
    return "needs_detail" if "needs_detail" in found else "unknown"


class TaskFailed(Exception):
    """Raised by a handler for a failure the caller should hear about (becomes an ``error`` event
    with code ``failed``). The message must be safe to show; it is not redelivered.

    ``retryable``: the same request, asked again, may well succeed (a model or a service was
    down, or too slow); the caller is offered another try only then. Not knowing the answer or
    missing a detail is not a failure: return a :class:`TaskOutcome` of that kind instead."""

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
        remember: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        """``emit(kind, text, tool)`` writes progress and partial events; ``remember(key,
        text)`` keeps what the task did (None: kept nowhere, as outside a worker)."""
        self.task = task
        self.attempt = attempt
        self._emit = emit
        self._remember = remember

    async def progress(self, message: str, *, tool: str = "") -> None:
        """Tell the caller's session what is happening ("checking availability..."); ``tool``
        names the tool that just started, which lets the responder time tools."""
        await self._emit("progress", message, tool)

    async def partial(self, text: str) -> None:
        """Hand the responder a fact as soon as it is known, before the task ends."""
        await self._emit("partial", text, "")

    async def done(self, text: str, *, key: str) -> None:
        """Record something the task did that cannot be undone (a booking made, as the tool
        said it), under ``key`` (the tool call's idempotency key: a retry that replays the call
        keeps the first words). Should the task then end without an answer (failed, expired,
        dead-lettered after its worker died), its terminal event carries this in ``done``, so
        the caller is told what happened rather than that nothing did."""
        if self._remember is not None:
            await self._remember(key, text)


class TaskHandler(Protocol):
    """Runs one task. Return a :class:`TaskOutcome`; raise :class:`TaskFailed` for a failure to
    report. The worker cancels the call (``asyncio.CancelledError``) on cancel or deadline."""

    def __call__(self, ctx: TaskContext, /) -> Awaitable[TaskOutcome]: ...
