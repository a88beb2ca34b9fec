"""Harbor Bikes' offline thinker brain: repair questions go to its ``repair_status`` tool,
everything else to the generic knowledge brain (real tools, a real Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from redis.asyncio import Redis

from profiles.harbor_bikes.thinker_brain import (
    ASK_FOR_TICKET,
    HarborBikesBrain,
    wants_repair_status,
)
from shared.bus import TaskFailed, TaskOutcome
from shared.profile import Profile, find_profile
from shared.wire import ContextTurn, TaskRequest
from tests.tool_helpers import closed_redis, make_context
from thinker.brain import BrainContext
from tools import ToolContext, ToolRegistry, ToolResult, invoke


@pytest.fixture
async def ctx(redis: Redis) -> AsyncIterator[ToolContext]:
    context = make_context(redis)
    yield context
    await context.http.aclose()


@pytest.fixture(scope="module")
def profile() -> Profile:
    return find_profile("harbor_bikes")


@pytest.mark.parametrize(
    ("request_text", "to_tool"),
    [
        ("Hi, I'm calling about my repair. The ticket number is 4127.", True),
        ("Is my bike ready yet?", True),
        ("What's the status of ticket 4133?", True),
        ("How much is a basic tune-up?", False),
        ("How do I find my ticket number?", False),
        ("What time do you open on Saturday?", False),
    ],
)
def test_routes_repair_questions_to_the_tool(request_text: str, to_tool: bool) -> None:
    assert wants_repair_status(request_text) is to_tool


class Desk:
    """Asks the brain with a real :class:`BrainContext` whose tools run through ``invoke``."""

    def __init__(self, profile: Profile, ctx: ToolContext) -> None:
        self.brain = HarborBikesBrain(profile)
        self.profile = profile
        self.ctx = ctx
        self.calls: list[str] = []

    async def ask(self, request: str, *, earlier: tuple[str, ...] = ()) -> TaskOutcome:
        task = TaskRequest.create(
            session_id="call-1",
            request=request,
            epoch=0,
            timeout_s=30,
            context=tuple(ContextTurn(role="caller", text=text) for text in earlier),
            profile=self.profile.id,
        )
        registry = ToolRegistry.discover()
        tools = [t for name in self.profile.allowed_tools if (t := registry.get(name))]

        async def call_tool(name: str, arguments: Mapping[str, Any] | str) -> ToolResult:
            self.calls.append(name)
            chosen = next(t for t in tools if t.name == name)
            return await invoke(chosen, self.ctx, arguments)

        async def nothing(text: str) -> None:
            return None

        return await self.brain.answer(
            BrainContext(task, tools, call_tool, nothing, nothing, lambda: 30.0, self.profile)
        )


async def test_the_brain_answers_a_ticket_from_the_tool(profile: Profile, ctx: ToolContext) -> None:
    desk = Desk(profile, ctx)
    outcome = await desk.ask("Hi. I'm calling about my repair. The ticket number is 4127.")
    assert desk.calls == ["repair_status"]
    assert "ready to pick up" in outcome.text


async def test_the_brain_asks_for_the_ticket_then_uses_an_earlier_turn(
    profile: Profile, ctx: ToolContext
) -> None:
    desk = Desk(profile, ctx)
    assert (await desk.ask("Is my bike ready yet?")).text == ASK_FOR_TICKET
    assert desk.calls == []
    outcome = await desk.ask("Is my bike ready?", earlier=("It's ticket 4140.",))
    assert "working on it now" in outcome.text


async def test_the_brain_says_an_unknown_ticket_plainly(profile: Profile, ctx: ToolContext) -> None:
    outcome = await Desk(profile, ctx).ask("Can you check repair ticket 4199?")
    assert outcome.text.startswith("I can't find a repair ticket 4 1 9 9.")


async def test_other_questions_go_to_the_knowledge(profile: Profile, ctx: ToolContext) -> None:
    desk = Desk(profile, ctx)
    outcome = await desk.ask("How much is a basic tune-up?")
    assert "repair_status" not in desk.calls
    assert "79" in outcome.text


async def test_a_repair_lookup_that_could_not_run_is_no_unknown_ticket(profile: Profile) -> None:
    """With the store down the tool cannot run: the task fails (retryable), and the caller is not
    told their ticket does not exist."""
    async with closed_redis() as down:
        ctx = make_context(down)
        with pytest.raises(TaskFailed) as failed:
            await Desk(profile, ctx).ask("Can you check repair ticket 4127?")
        await ctx.http.aclose()
    assert failed.value.retryable
