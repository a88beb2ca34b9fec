"""A tool in the shapes the SDKs want: Anthropic's tool list and LiveKit's function tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tools._context import ToolContext
from tools._definition import Tool
from tools._invoke import invoke

if TYPE_CHECKING:
    from livekit.agents import RunContext
    from livekit.agents.llm import RawFunctionTool


def to_anthropic(tool: Tool) -> dict[str, Any]:
    """``{"name", "description", "input_schema"}`` for the Messages API ``tools`` list."""
    return {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema()}


def to_livekit(
    tool: Tool, make_context: Callable[[RunContext[Any]], ToolContext]
) -> RawFunctionTool[Any, Any]:
    """A LiveKit function tool that runs ``tool`` in the responder.

    ``make_context`` builds the :class:`ToolContext` for a call from LiveKit's ``RunContext``.
    Errors reach the model as LiveKit ``ToolError`` results. Only ``responder_safe`` tools may run
    in the responder.
    """
    from livekit.agents import RunContext as LiveKitRunContext
    from livekit.agents import ToolError as LiveKitToolError
    from livekit.agents import function_tool

    if not tool.responder_safe:
        raise ValueError(f"tool {tool.name} is not responder_safe; delegate it to the thinker")

    async def run(raw_arguments: dict[str, object], context: RunContext[Any]) -> str:
        result = await invoke(tool, make_context(context), raw_arguments)
        if result.is_error:
            raise LiveKitToolError(result.content)
        return result.content

    # LiveKit finds the parameter to pass its RunContext to by the resolved type hints; this
    # module imports livekit lazily, so the postponed annotations above would not resolve
    run.__annotations__ = {
        "raw_arguments": dict[str, object],
        "context": LiveKitRunContext[Any],
        "return": str,
    }

    schema = {"name": tool.name, "description": tool.description, "parameters": tool.input_schema()}
    return function_tool(run, raw_schema=schema)
