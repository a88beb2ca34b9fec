"""Honest outcomes end to end: the offline thinker brains say what kind of reply they give
("I don't have that information", "which day and how many?", an answer), the kind rides the
``result`` event over the real bus, and the responder has the agent say it as such, never
offering to try again what would only fail the same way.

The thinker side runs the real worker, handler, offline brains and tools on a private Redis; the
responder side applies the event with the real :class:`TaskEventApplier` and speaks the floor's
instructions with the profile's real offline front desk.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from livekit.agents import llm
from redis.asyncio import Redis

from profiles.restaurant.front_desk import FrontDeskBrain
from profiles.restaurant.thinker_brain import DONT_KNOW
from responder.floor import Utterance
from responder.latency import LatencyHistory
from responder.metrics import CallMetrics
from responder.offline.brain import TAKE_A_MESSAGE, OfflineFrontDesk
from responder.task_events import TaskEventApplier
from responder.tasks import DelegatedTask, TaskBook
from shared.bus import ResponderBus, TaskOutcome, TaskWorker, overall_kind
from shared.config import BusSettings
from shared.keys import Keys
from shared.profile import Profile, find_profile
from shared.wire import ContextTurn, ErrorEvent, Event, ExpiredEvent, ResultEvent, TaskRequest
from tests.conftest import events_until_final
from thinker.handler import ThinkerHandler
from thinker.metrics import ThinkerMetrics
from thinker.profiles import OfflineBrains, ProfileCatalog
from tools import ToolRegistry

RETRY = re.compile(r"\btry again\b", re.IGNORECASE)


def test_several_parts_make_one_kind() -> None:
    assert overall_kind([]) == "answer"
    assert overall_kind(["unknown", "answer"]) == "answer"  # its text says what is not known
    assert overall_kind(["unknown", "needs_detail"]) == "needs_detail"
    assert overall_kind(["unknown", "unknown"]) == "unknown"
    assert TaskOutcome("x").kind == "answer"


# --- the thinker: real worker, handler, offline brains and tools ------------------------------


@dataclass
class Thinker:
    bus: ResponderBus
    metrics: ThinkerMetrics

    async def ask(self, profile: str, request: str, *earlier: str) -> Event:
        link = self.bus.session(f"s-{uuid.uuid4().hex[:8]}")
        task = TaskRequest.create(
            session_id=link.session_id,
            request=request,
            epoch=1,
            timeout_s=20,
            profile=profile,
            context=tuple(ContextTurn(role="caller", text=text) for text in earlier),
        )
        await link.submit(task)
        return (await events_until_final(link, task.task_id, timeout_s=30))[-1]


@pytest.fixture
async def thinker(redis: Redis, settings: BusSettings) -> AsyncIterator[Thinker]:
    def no_network(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("tests have no network", request=request)

    catalog = ProfileCatalog.load(["restaurant", "harbor_bikes"])
    metrics = ThinkerMetrics()
    async with httpx.AsyncClient(transport=httpx.MockTransport(no_network)) as http:
        handler = ThinkerHandler(
            OfflineBrains(),
            ToolRegistry.discover(),
            redis,
            http,
            metrics,
            prefix=settings.prefix,
            catalog=catalog,
        )
        bus = ResponderBus(redis, settings)
        await bus.start()
        worker = TaskWorker(redis, handler, settings)
        running = asyncio.create_task(worker.run())
        try:
            yield Thinker(bus, metrics)
        finally:
            worker.request_stop(1)
            await asyncio.wait_for(running, 30)


@pytest.mark.parametrize(
    ("profile", "request_", "kind"),
    [
        ("restaurant", "Do you have live music on Fridays?", "unknown"),
        ("restaurant", "Can I bring my own wine?", "unknown"),
        ("restaurant", "Is there a dress code?", "unknown"),
        ("restaurant", "Sing me a song about the sea", "unknown"),
        ("restaurant", "I'd like to book a table", "needs_detail"),
        ("restaurant", "Can I reserve a table for Saturday?", "needs_detail"),
        ("restaurant", "Can you find my booking?", "needs_detail"),
        ("restaurant", "Can you split the bill?", "needs_detail"),
        ("restaurant", "Do you have vegan dishes?", "answer"),
        ("harbor_bikes", "Do you have showers?", "unknown"),
        ("harbor_bikes", "Can I bring my own wine?", "unknown"),
        ("harbor_bikes", "Do you have live music?", "unknown"),
        ("harbor_bikes", "Yes, please.", "needs_detail"),
        ("harbor_bikes", "How much is a basic tune-up?", "answer"),
    ],
)
async def test_the_thinker_says_what_kind_of_reply_it_gives(
    thinker: Thinker, profile: str, request_: str, kind: str
) -> None:
    final = await thinker.ask(profile, request_)
    assert isinstance(final, ResultEvent), final  # not knowing is no failure
    assert final.kind == kind, final.text
    assert not RETRY.search(final.text)


async def test_a_question_the_restaurant_cannot_answer_is_said_so_not_read_from_elsewhere(
    thinker: Thinker,
) -> None:
    wine = await thinker.ask("restaurant", "Can I bring my own wine?")
    assert isinstance(wine, ResultEvent)
    assert wine.text == DONT_KNOW  # not the house wine's price
    table = await thinker.ask("restaurant", "I'd like to book a table")
    assert isinstance(table, ResultEvent)
    assert table.text == (
        "To check for a table I still need to know how many people and which day and what time."
    )
    given = await thinker.ask("restaurant", "Saturday at 8, for four", "I'd like to book a table")
    assert isinstance(given, ResultEvent)
    assert "still need to know" not in given.text  # the details go with the earlier request
    assert given.text.startswith("Yes: a table for 4 is free on Saturday")


async def test_the_thinker_counts_what_it_could_not_answer(thinker: Thinker) -> None:
    await thinker.ask("harbor_bikes", "Do you have showers?")
    await thinker.ask("harbor_bikes", "Yes, please.")
    await thinker.ask("harbor_bikes", "How much is a basic tune-up?")
    tasks = thinker.metrics.tasks
    counts = {o: tasks.labels(o)._value.get() for o in ("answered", "unknown", "needs_detail")}
    assert counts == {"answered": 1, "unknown": 1, "needs_detail": 1}


# --- the responder: the event applied, the floor's instructions spoken by the offline desk ----


class _Floor:
    def __init__(self) -> None:
        self.pending: list[Utterance] = []

    def post(self, utterance: Utterance) -> None:
        self.pending.append(utterance)

    def withdraw(self, predicate: Any) -> list[Utterance]:
        self.pending = [u for u in self.pending if not predicate(u)]
        return []


class _Agent:
    def __init__(self, items: list[llm.ChatItem]) -> None:
        self._ctx = llm.ChatContext(items)

    @property
    def chat_ctx(self) -> llm.ChatContext:
        return self._ctx

    async def update_chat_ctx(self, chat_ctx: llm.ChatContext) -> None:
        self._ctx = chat_ctx


async def spoken(redis: Redis, desk: OfflineFrontDesk, event: Event, request: str) -> str:
    """What the desk says when the floor hands it the instructions for ``event``."""
    arguments = f'{{"request": "{request}"}}'
    delegated: list[llm.ChatItem] = [
        llm.ChatMessage(role="user", content=[request]),
        llm.FunctionCall(call_id="call_1", name="delegate", arguments=arguments),
        llm.FunctionCallOutput(
            call_id="call_1", name="delegate", output="Task 1 started.", is_error=False
        ),
    ]
    agent, floor, metrics = _Agent(delegated), _Floor(), CallMetrics()
    book = TaskBook(metrics)
    book.add(
        DelegatedTask(
            task_id=event.task_id,
            number=1,
            request=request,
            epoch=1,
            tier="fast",
            call_id="call_1",
            arguments=arguments,
            expected_wait_s=1.0,
            submitted_at=0.0,
        )
    )
    applier = TaskEventApplier(
        book=book,
        floor=floor,
        history=LatencyHistory(redis, Keys("honest")),
        metrics=metrics,
        agent=lambda: agent,
        epoch=lambda: 1,
    )
    await applier.apply(event)
    (utterance,) = floor.pending
    instructions = llm.ChatMessage(role="system", content=[utterance.instructions or ""])
    return desk.decide([*agent.chat_ctx.items, instructions]).text


def _result(text: str, kind: Any) -> ResultEvent:
    return ResultEvent(task_id="t1", session_id="s1", seq=1, epoch=1, text=text, kind=kind)


@pytest.fixture
def restaurant() -> Profile:
    return find_profile("restaurant")


async def test_the_desk_says_i_dont_know_with_a_message_offer_and_no_retry(
    redis: Redis, restaurant: Profile
) -> None:
    desk = FrontDeskBrain(restaurant)
    said = await spoken(redis, desk, _result(DONT_KNOW, "unknown"), "live music on Fridays?")
    assert said.startswith("Sorry, I don't have that information")
    assert "take a message" in said
    assert not RETRY.search(said)
    # a thinker whose "I don't know" forgets the offer still gets it said
    bare = await spoken(redis, desk, _result("Nothing about music.", "unknown"), "music?")
    assert bare == f"Nothing about music. {TAKE_A_MESSAGE}"


async def test_the_desk_asks_for_the_missing_detail_and_nothing_else(
    redis: Redis, restaurant: Profile
) -> None:
    asks = _result(
        "To check for a table I still need to know how many people and which day.", "needs_detail"
    )
    said = await spoken(redis, FrontDeskBrain(restaurant), asks, "a table please")
    assert said == "Could you tell me how many people and which day?"


async def test_only_a_failure_worth_another_try_gets_the_offer(
    redis: Redis, restaurant: Profile
) -> None:
    desk = OfflineFrontDesk(restaurant)

    def error(retryable: bool) -> ErrorEvent:
        return ErrorEvent(
            task_id="t1",
            session_id="s1",
            seq=1,
            epoch=1,
            code="failed",
            message="down",
            retryable=retryable,
        )

    transient = await spoken(redis, desk, error(True), "weather?")
    expired = await spoken(
        redis, desk, ExpiredEvent(task_id="t1", session_id="s1", seq=1, epoch=1, deadline_ms=1), "?"
    )
    permanent = await spoken(redis, desk, error(False), "weather?")
    assert RETRY.search(transient)
    assert RETRY.search(expired)
    assert permanent == f"Sorry, I can't get that done. {TAKE_A_MESSAGE}"
