"""Running a tool the way the thinker and the responder do: never a crash, always a result."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.errors import ToolError
from tools._context import ToolContext
from tools._definition import Tool
from tools._text import strip_control_characters

log = logging.getLogger("tandem.tools")


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What the model gets back from a tool call (from :func:`invoke`: plain text, without
    control characters, within the tool's ``max_output_chars``)."""

    content: str
    is_error: bool = False
    failed: bool = False
    """The tool did not finish (it crashed or ran out of time): the text says so, and is no
    answer to anything; asked again, it may well work. A refusal (bad arguments, a
    :class:`~shared.errors.ToolError`) is an error but not a failure."""


async def invoke(tool: Tool, ctx: ToolContext, arguments: Mapping[str, Any] | str) -> ToolResult:
    """Validate ``arguments``, run ``tool`` within its timeout, and return its output as text.

    Arguments are validated strictly, as the JSON they are: no ``true`` or ``"3"`` for an
    integer, no number for a string (a field that should accept more says so with its own
    validator). Bad arguments, a refused confirmation, :class:`ToolError`, timeouts and
    unexpected exceptions all become an error result the model can read. Everything the model
    reads back (output, errors, progress lines) goes through :func:`strip_control_characters`;
    output longer than the tool's cap is cut. Cancellation propagates (the task was cancelled).
    The timeout interrupts the tool at its next ``await``: CPU-bound work must bound itself (or
    run in a thread).
    """
    try:
        args = _validate(tool, arguments)
    except ValidationError as error:
        return _result(tool, _describe(error), is_error=True)
    except (TypeError, ValueError):  # a mapping that is not JSON
        return _result(tool, "invalid arguments: they must be a JSON object", is_error=True)
    if tool.needs_confirmation and not ctx.confirmed:
        return _result(
            tool,
            f"{tool.name} needs the caller's explicit confirmation first: read the details back "
            "to the caller, and call it again once they have said yes",
            is_error=True,
        )
    ctx = dataclasses.replace(
        ctx,
        store=ctx.store.scoped(tool.store_namespace),
        log=log.getChild(tool.name),
        progress=_plain_progress(ctx.progress),
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
        return _result(tool, str(error) or f"{tool.name} failed", is_error=True)
    except TimeoutError:
        if deadline.expired():
            stopped = f"{tool.name} took longer than {tool.timeout_s:g} s and was stopped"
            return _result(tool, stopped, is_error=True, failed=True)
        log.exception("tool failed", extra={"tool": tool.name, "task_id": ctx.task_id})
        return _result(tool, f"{tool.name} failed unexpectedly", is_error=True, failed=True)
    except Exception:
        log.exception("tool failed", extra={"tool": tool.name, "task_id": ctx.task_id})
        return _result(tool, f"{tool.name} failed unexpectedly", is_error=True, failed=True)
    return _result(tool, _render(output))


def _validate(tool: Tool, arguments: Mapping[str, Any] | str) -> BaseModel:
    """The arguments as the tool's model, validated in strict JSON mode (a mapping is the
    decoded JSON the model sent, so it is encoded again: JSON mode still reads dates, enums and
    UUIDs from their strings, where Python-mode strictness would refuse them)."""
    text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
    return tool.args_model.model_validate_json(text or "{}", strict=True)


def _result(tool: Tool, text: str, is_error: bool = False, failed: bool = False) -> ToolResult:
    """The one way text leaves a tool for the model: control characters out, then the cap."""
    return ToolResult(_cap(strip_control_characters(text), tool.max_output_chars), is_error, failed)


def _plain_progress(progress: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[None]]:
    async def say(message: str) -> None:
        await progress(" ".join(strip_control_characters(message).split()))

    return say


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
