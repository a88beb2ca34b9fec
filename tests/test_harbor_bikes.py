"""Harbor Bikes, the second shipped profile: its ``repair_status`` tool plugin on a real Redis,
and the profile as tandem finds it installed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from profiles.harbor_bikes.tools import (
    RepairStatusArgs,
    Ticket,
    repair_status,
    save_ticket,
    seed_tickets,
    ticket_number,
)
from shared.profile import Profile, find_profile
from tests.tool_helpers import make_context
from tools import ToolContext, ToolRegistry, invoke


@pytest.fixture
async def ctx(redis: Redis) -> AsyncIterator[ToolContext]:
    context = make_context(redis)
    yield context
    await context.http.aclose()


@pytest.fixture(scope="module")
def profile() -> Profile:
    return find_profile("harbor_bikes")


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("The ticket number is 4127.", "4127"),
        ("#4127", "4127"),
        ("my ticket is 4,127 thanks", "4127"),
        ("ticket 41 27", "4127"),
        ("ticket four one two seven", "4127"),
        ("Can you check Repair Ticket for 127?", "4127"),  # Whisper's "four" -> "for"
        ("ticket number for 133", "4133"),
        ("it's 4140", "4140"),
        ("I lost my ticket", None),
        ("the tune-up was $79", None),
    ],
)
def test_finds_the_ticket_number_in_what_the_caller_said(said: str, number: str | None) -> None:
    assert ticket_number(said) == number


async def test_a_ready_bike_is_reported_with_its_total(ctx: ToolContext) -> None:
    result = await invoke(repair_status, ctx, {"ticket": "4127"})
    assert not result.is_error, result.content
    assert result.content.startswith("Ticket 4127 is a blue Trek hybrid. ")
    assert "ready to pick up" in result.content
    assert "$179" in result.content


async def test_a_spoken_ticket_number_is_understood(ctx: ToolContext) -> None:
    result = await invoke(repair_status, ctx, '{"ticket": "four one three three"}')
    assert "waiting for the new rear wheel" in result.content


async def test_an_unknown_ticket_is_an_error_the_model_can_act_on(ctx: ToolContext) -> None:
    result = await invoke(repair_status, ctx, {"ticket": "4199"})
    assert result.is_error
    assert "no repair ticket 4199" in result.content
    assert "read the number" in result.content


@pytest.mark.parametrize("ticket", ["", "my bike", "12"])
async def test_no_ticket_number_asks_for_one(ctx: ToolContext, ticket: str) -> None:
    result = await invoke(repair_status, ctx, {"ticket": ticket})
    assert result.is_error
    assert "four digits" in result.content


async def test_the_shop_s_updates_win_over_the_seed(ctx: ToolContext) -> None:
    store = ctx.store.scoped(repair_status.store_namespace)
    assert "ready" in (await invoke(repair_status, ctx, {"ticket": "4140"})).content  # seeds
    moved = Ticket(
        ticket="4140",
        bike="a black Brompton folding bike",
        work="a basic tune-up and a brake adjustment",
        status="ready",
        note="It's ready to pick up.",
        total="$104 before tax",
    )
    await save_ticket(store, moved)
    again = await invoke(repair_status, ctx, {"ticket": "4140"})
    assert "It's ready to pick up." in again.content
    assert "working on it" not in again.content


async def test_called_directly_like_any_tool(ctx: ToolContext) -> None:
    answer = await repair_status(ctx, RepairStatusArgs(ticket="4152"))
    assert "picked up already" in answer


def test_is_described_for_the_model() -> None:
    assert repair_status.name == "repair_status"
    assert repair_status.description.startswith("Look up a Harbor Bikes repair")
    assert not repair_status.side_effects
    assert repair_status.input_schema()["required"] == ["ticket"]


def test_the_seed_tickets_are_valid_and_distinct() -> None:
    tickets = seed_tickets()
    assert len(tickets) >= 4
    assert len({t.ticket for t in tickets}) == len(tickets)
    assert {t.status for t in tickets} >= {"ready", "in_progress", "waiting_for_parts"}


def test_is_registered_as_a_plugin_and_the_profile_allows_it(profile: Profile) -> None:
    registry = ToolRegistry.discover()
    assert registry.get("repair_status") is not None
    assert profile.id == "harbor_bikes"
    assert profile.allowed_tools == ("search_knowledge", "current_time", "repair_status")
    assert all(registry.get(name) is not None for name in profile.allowed_tools)


def test_the_profile_ships_its_knowledge_and_scenarios(profile: Profile) -> None:
    sources = {section.source for section in profile.sections}
    assert {f"knowledge/{name}.md" for name in ("hours", "prices", "services")} <= sources
    headings = {section.heading for section in profile.sections}
    assert {"Opening hours", "Repair and tune-up prices", "Rental prices"} <= headings
    scenarios = {path.stem for path in profile.scenarios_dir.glob("*.yaml")}
    assert {"opening-hours", "tune-up-price", "not-in-the-knowledge", "repair-status"} <= scenarios
