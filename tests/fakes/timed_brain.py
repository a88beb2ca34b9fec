"""A thinker brain for responder tests: answers by rule after a chosen delay, through the real
thinker handler and real tools (so progress events carry real tool names)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from shared.bus import TaskFailed, TaskOutcome
from thinker.brain import BrainContext
from tools import ToolContext, tool


class LookupArgs(BaseModel):
    topic: str = Field(description="What to look up.")
    seconds: float = Field(0.0, ge=0, le=30, description="How long the lookup takes.")


@tool(progress="looking up {topic}", timeout_s=30)
async def slow_lookup(ctx: ToolContext, args: LookupArgs) -> str:
    """A lookup that takes as long as it is told to (test tool)."""
    await asyncio.sleep(args.seconds)
    return f"found {args.topic}"


@dataclass
class Plan:
    """How to answer requests containing ``match`` (case-insensitive)."""

    match: str
    answer: str
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0
    fail: str | None = None
    retryable: bool = False
    """With ``fail``: whether the failure says another try may work."""
    partial: str | None = None


class TimedBrain:
    """Answers each task by the first plan whose ``match`` is in the request."""

    name = "timed"

    def __init__(self, plans: list[Plan]) -> None:
        self.plans = plans
        self.requests: list[str] = []
        self.cancelled = 0

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        request = ctx.task.request
        self.requests.append(request)
        plan = next((p for p in self.plans if p.match.lower() in request.lower()), None)
        if plan is None:
            raise AssertionError(f"unscripted request: {request!r}")
        if plan.tool is not None:
            await ctx.call_tool(plan.tool, plan.arguments)
        if plan.partial is not None:
            await ctx.partial(plan.partial)
        try:
            await asyncio.sleep(plan.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if plan.fail is not None:
            raise TaskFailed(plan.fail, retryable=plan.retryable)
        return TaskOutcome(plan.answer)
