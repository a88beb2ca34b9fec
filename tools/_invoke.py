"""Running a tool the way the thinker and the responder do: never a crash, always a result."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.errors import ToolError
from tools._context import ToolContext
from tools._definition import Tool

log = logging.getLogger("tandem.tools")


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What the model gets back from a tool call."""

    content: str
    is_error: bool = False


async def invoke(tool: Tool, ctx: ToolContext, arguments: Mapping[str, Any] | str) -> ToolResult:
    """Validate ``arguments``, run ``tool`` within its timeout, and return its output as text.

    Bad arguments, a refused confirmation, :class:`ToolError`, timeouts and unexpected exceptions
    all become an error result the model can read; output longer than the tool's cap is cut.
    Cancellation propagates (the task was cancelled). The timeout interrupts the tool at its next
    ``await``: CPU-bound work must bound itself (or run in a thread).
    """
    try:
        if isinstance(arguments, str):
            args = tool.args_model.model_validate_json(arguments or "{}")
        else:
            args = tool.args_model.model_validate(arguments)
    except ValidationError as error:
        return ToolResult(_describe(error), is_error=True)
    if tool.needs_confirmation and not ctx.confirmed:
        return ToolResult(
            f"{tool.name} needs the caller's explicit confirmation first: read the details back "
            "to the caller, and call it again once they have said yes",
            is_error=True,
        )
    ctx = dataclasses.replace(
        ctx, store=ctx.store.scoped(tool.store_namespace), log=log.getChild(tool.name)
    )
    line = tool.progress_line(args)
    try:
        if line:
            await ctx.progress(line)
        async with asyncio.timeout(tool.timeout_s) as deadline:
            output = await tool.call(ctx, args)
    except asyncio.CancelledError:
        ctx.cancelled.set()  # for work the tool handed to threads or other tasks
        raise
    except ToolError as error:
        return ToolResult(str(error) or f"{tool.name} failed", is_error=True)
    except TimeoutError:
        if deadline.expired():
            return ToolResult(
                f"{tool.name} took longer than {tool.timeout_s:g} s and was stopped", is_error=True
            )
        log.exception("tool failed", extra={"tool": tool.name, "task_id": ctx.task_id})
        return ToolResult(f"{tool.name} failed unexpectedly", is_error=True)
    except Exception:
        log.exception("tool failed", extra={"tool": tool.name, "task_id": ctx.task_id})
        return ToolResult(f"{tool.name} failed unexpectedly", is_error=True)
    return ToolResult(_cap(_render(output), tool.max_output_chars))


def _describe(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'arguments'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)[:5]
    ]
    return "invalid arguments: " + "; ".join(problems)


def _render(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    return json.dumps(output, default=str, ensure_ascii=False)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    kept = text[: limit - 60]
    return f"{kept} [output cut: {len(text) - len(kept)} more characters]"
