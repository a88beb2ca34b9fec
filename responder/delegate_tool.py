"""The tools the responder model calls to hand work to the thinker: ``delegate`` and
``cancel_request``.

This module only adapts: it reads the model's arguments (forgiving about how a task number is
written), refuses unusable ones with a :class:`~livekit.agents.llm.ToolError` the model can act
on, asks the call's :class:`TaskDesk` to do the work, and words what the tool returns (the texts
live in :mod:`responder.prompts`). ``delegate`` releases the turn at once
(``ctx.update(..., silent=True)``): the model learns the task number and nothing more is spoken.
"""

from __future__ import annotations

from typing import Any, Protocol

from livekit.agents import RunContext, function_tool, llm
from livekit.agents.llm import RawFunctionTool

from responder import prompts
from responder.tasks import DelegatedTask, TaskBook, TaskState


def delegate_schema() -> dict[str, Any]:
    """The raw JSON schema of the ``delegate`` tool."""
    types = {
        "request": "string",
        "replaces_task": "integer",
        "needs_planning": "boolean",
        "caller_confirmed": "boolean",
    }
    return {
        "name": "delegate",
        "description": prompts.DELEGATE_DESCRIPTION,
        "parameters": {
            "type": "object",
            "properties": {
                name: {"type": kind, "description": prompts.DELEGATE_PARAMETERS[name]}
                for name, kind in types.items()
            },
            "required": ["request"],
            "additionalProperties": False,
        },
    }


def cancel_schema() -> dict[str, Any]:
    """The raw JSON schema of the ``cancel_request`` tool."""
    return {
        "name": "cancel_request",
        "description": prompts.CANCEL_DESCRIPTION,
        "parameters": {
            "type": "object",
            "properties": {
                "task": {"type": "integer", "description": prompts.CANCEL_TASK_PARAMETER}
            },
            "required": ["task"],
            "additionalProperties": False,
        },
    }


class TaskDesk(Protocol):
    """What the tools need of the call's delegation: the
    :class:`~responder.delegation.Delegator`."""

    @property
    def tasks(self) -> TaskBook: ...

    async def delegate(
        self,
        request: str,
        *,
        replaces: int | None = None,
        tier: str = "fast",
        confirmed: bool = False,
        call_id: str = "",
        arguments: str = "{}",
    ) -> DelegatedTask: ...

    async def stop(self, task: DelegatedTask, state: TaskState, reason: str) -> None: ...

    def response_finished(self, task: DelegatedTask, handle: Any) -> None: ...


class DelegateTools:
    """The ``delegate`` and ``cancel_request`` tools of one call."""

    def __init__(self, desk: TaskDesk) -> None:
        self._desk = desk

    def tools(self) -> list[RawFunctionTool[Any, Any]]:
        """The LiveKit tools, ready for an ``Agent``."""
        return [
            function_tool(self.delegate, raw_schema=delegate_schema()),
            function_tool(self.cancel_request, raw_schema=cancel_schema()),
        ]

    async def delegate(self, raw_arguments: dict[str, Any], context: RunContext[Any]) -> None:
        """Submit the caller's request; tell the model its task number (nothing is spoken)."""
        request = str(raw_arguments.get("request") or "").strip()
        if not request:
            raise llm.ToolError(prompts.DELEGATE_NEEDS_REQUEST)
        replaces = task_number(raw_arguments.get("replaces_task"))
        task = await self._desk.delegate(
            request,
            replaces=replaces,
            tier="strong" if raw_arguments.get("needs_planning") else "fast",
            confirmed=bool(raw_arguments.get("caller_confirmed")),
            call_id=context.function_call.call_id,
            arguments=context.function_call.arguments,
        )
        context.speech_handle.add_done_callback(
            lambda handle: self._desk.response_finished(task, handle)
        )
        # the task it stopped: the one the model named, or the fragment the caller's turn
        # finished (responder.delegation.Delegator.continued_task)
        stopped = next(
            (t.number for t in self._desk.tasks.all() if t.replaced_by == task.number), None
        )
        await context.update(prompts.task_started(task.number, stopped), silent=True)

    async def cancel_request(self, raw_arguments: dict[str, Any], context: RunContext[Any]) -> str:
        """Stop a running task the caller no longer wants."""
        number = task_number(raw_arguments.get("task"))
        task = self._desk.tasks.by_number(number) if number is not None else None
        if task is None:
            raise llm.ToolError(prompts.no_such_task(number))
        if not task.running:
            return prompts.task_already_finished(task.number, task.state.value)
        await self._desk.stop(task, TaskState.CANCELLED, "caller cancelled")
        return prompts.task_cancelled(task.number)


def task_number(value: object) -> int | None:
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
