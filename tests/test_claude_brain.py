"""The Claude brain with the real anthropic SDK against the fake Messages API, through the real
bus: tool loops, early and parallel tool starts, events in order, retries, failures, deadlines
and cancellation."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
from redis.asyncio import Redis

from shared.bus import ResponderBus, TaskWorker
from shared.config import BusSettings, ThinkerSettings
from shared.wire import ErrorEvent, Event, ResultEvent, TaskRequest
from tests.conftest import events_until_final
from tests.fakes.anthropic import (
    FakeAnthropic,
    Hang,
    HttpError,
    Pause,
    StreamError,
    Text,
    ToolUse,
    Turn,
)
from tests.tool_helpers import friday_next_week
from thinker.claude_brain import SYSTEM_PROMPT, ClaudeBrain, read_kind
from thinker.handler import ThinkerHandler
from thinker.metrics import ThinkerMetrics
from tools import ToolRegistry

FRIDAY = friday_next_week()
SLOT = {"date": FRIDAY, "time": "20:00", "party_size": 4}
THINKER = ThinkerSettings(_env_file=None, request_timeout_s=5, max_retries=1)
PATIENCE_S = 30
"""A ceiling on waiting for something that happens by itself: generous, for a busy machine."""


class Harness:
    """A thinker (ClaudeBrain on the fake) serving the bus in this event loop."""

    def __init__(self, fake: FakeAnthropic, bus: ResponderBus, worker: TaskWorker) -> None:
        self.fake = fake
        self.bus = bus
        self.worker = worker
        self.link = bus.session("call-1")
        self.tool_starts: dict[str, float] = {}
        self._started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def tool_starting(self, name: str) -> None:
        """Record that tool ``name`` starts now."""
        self.tool_starts[name] = time.monotonic()
        self._started[name].set()

    async def tool_started(self, *names: str) -> None:
        """Wait until each of ``names`` has started (``TimeoutError`` after ``PATIENCE_S``)."""
        async with asyncio.timeout(PATIENCE_S):
            for name in names:
                await self._started[name].wait()

    async def ask(self, request: str, **fields: Any) -> list[Event]:
        task = TaskRequest.create(
            session_id="call-1",
            request=request,
            epoch=1,
            timeout_s=fields.pop("timeout_s", 10),
            **fields,
        )
        await self.link.submit(task)
        return await events_until_final(self.link, task.task_id)


@asynccontextmanager
async def thinker(
    redis: Redis,
    settings: BusSettings,
    *,
    http_handler: Callable[[httpx.Request], Coroutine[None, None, httpx.Response]] | None = None,
) -> AsyncIterator[Harness]:
    async def no_network(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("offline", request=request)

    async with (
        FakeAnthropic() as fake,
        httpx.AsyncClient(transport=httpx.MockTransport(http_handler or no_network)) as http,
    ):
        brain = ClaudeBrain(fake.client(max_retries=1), THINKER)
        handler = ThinkerHandler(
            brain, ToolRegistry.discover(), redis, http, ThinkerMetrics(), prefix=settings.prefix
        )
        bus = ResponderBus(redis, settings)
        await bus.start()
        worker = TaskWorker(redis, handler, settings)
        running = asyncio.create_task(worker.run())
        harness = Harness(fake, bus, worker)
        original = handler.registry.tools.copy()
        for name, tool in original.items():  # record when each tool starts
            handler.registry.tools[name] = _timed(tool, harness)
        try:
            yield harness
        finally:
            worker.request_stop(1)
            await asyncio.wait_for(running, 30)


def _timed(tool: Any, harness: Harness) -> Any:
    async def wrapped(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        harness.tool_starting(tool.name)
        return await tool.function(ctx, *args, **kwargs)

    return replace(tool, function=wrapped)


async def test_a_multi_step_tool_loop_ends_in_facts(redis: Redis, settings: BusSettings) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(
            Turn([Text("Let me check."), ToolUse("check_availability", SLOT)]),
            Turn.call("book_table", SLOT | {"name": "Ana"}),
            Turn.say("Booked a table for 4 on Friday at 20:00 under Ana."),
        )
        events = await t.ask("book Friday 8pm for 4, Ana", confirmed=True, tier="strong")
        final = events[-1]
        assert isinstance(final, ResultEvent)
        assert final.text == "Booked a table for 4 on Friday at 20:00 under Ana."
        assert final.data == {"model": THINKER.strong_model, "steps": 3}
        second, third = t.fake.request(1), t.fake.request(2)
        result = second.messages[-1]["content"][0]
        assert result["type"] == "tool_result"
        assert result["content"].startswith("Yes: a table for 4 is free")
        assert third.messages[-1]["content"][0]["content"].startswith("Booked. Booking TT-")
        assert t.fake.request(0).model == THINKER.strong_model
        assert t.fake.request(0).system_cache_control
        assert t.fake.request(0).tools_cache_control
        assert "Has the caller explicitly confirmed the action? yes" in str(
            t.fake.request(0).messages
        )


async def test_parallel_tools_start_before_the_message_ends(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        both_started = Pause(2, lambda: t.tool_started("current_time", "calculate"))
        t.fake.enqueue(
            Turn(  # the rest of the message waits for the tools: it never comes if they wait for it
                [
                    ToolUse("current_time", {"place": "Tokyo"}),
                    ToolUse("calculate", {"expression": "84.5 / 2"}),
                    Text("One moment while I check those."),
                ],
                pause=both_started,
            ),
            Turn.say("It is morning in Tokyo; 42.25 each."),
        )
        events = await t.ask("time in Tokyo and split 84.50 by two")
        assert events[-1].type == "result"
        finished = t.fake.request(0).finished_at
        assert finished is not None
        assert t.tool_starts["current_time"] < t.tool_starts["calculate"] < finished
        results = t.fake.request(1).messages[-1]["content"]
        assert [r["is_error"] for r in results] == [False, False]
        assert "42.25" in results[1]["content"]


async def test_progress_then_the_first_fact_then_the_result(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(
            Turn.call("check_availability", SLOT),
            Turn.say(
                "A table for 4 is free on Friday at 20:00. Shall I book it?", delta_delay_s=0.02
            ),
        )
        events = await t.ask("is there a table Friday 8pm for 4?")
    assert [e.type for e in events] == ["started", "progress", "partial", "result"]
    assert getattr(events[1], "message", "") == f"checking availability for 4 on {FRIDAY} at 20:00"
    assert getattr(events[2], "text", "") == "A table for 4 is free on Friday at 20:00."


async def test_an_overloaded_model_is_retried_once(redis: Redis, settings: BusSettings) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(HttpError(529, retry_after_ms=1), Turn.say("We open at noon."))
        events = await t.ask("when do you open?")
        assert events[-1].type == "result"
        assert [t.fake.request(n).retry_count for n in (0, 1)] == [0, 1]


async def test_a_model_that_stays_down_ends_in_an_error_event(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(HttpError(529, retry_after_ms=1), HttpError(529, retry_after_ms=1))
        events = await t.ask("when do you open?")
    final = events[-1]
    assert isinstance(final, ErrorEvent)
    assert (final.code, final.retryable) == ("failed", True)
    assert final.message == "the assistant could not answer just now"


async def test_a_mid_stream_error_ends_in_an_error_event(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(
            Turn.say("We open at noon every day.", interrupt=StreamError(after_deltas=1))
        )
        events = await t.ask("when do you open?")
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "failed"


async def test_a_hanging_model_meets_the_deadline_and_hangs_up(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(Hang())
        # 3 s: time for a busy machine to reach the model. The model's own timeout and retry
        # (5 s each) would end the task as failed, not expired: the deadline came first.
        events = await t.ask("when do you open?", timeout_s=3.0)
        assert events[-1].type == "expired"
        await t.fake.wait_until(lambda: t.fake.request(0).outcome == "client_disconnected")
        assert len(t.fake.requests) == 1
        async with asyncio.timeout(PATIENCE_S):  # nothing is left behind in the worker
            while t.worker.in_flight:  # noqa: ASYNC110 - polling a counter the worker owns
                await asyncio.sleep(0.01)


async def test_a_malformed_tool_input_goes_back_to_the_model_as_a_tool_error(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(
            Turn.call(
                "check_availability", {"date": FRIDAY, "time": "20:00", "party_size": "many"}
            ),
            Turn.say("How many people will there be?"),
        )
        events = await t.ask("a table Friday at eight")
        assert events[-1].type == "result"
        fed_back = t.fake.request(1).messages[-1]["content"][0]
        assert fed_back["is_error"] is True
        assert fed_back["content"].startswith("invalid arguments: party_size")


async def test_cancelling_mid_stream_closes_the_model_stream(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(Turn.say("Slowly...", first_byte_delay_s=10))
        task = TaskRequest.create(session_id="call-1", request="hi", epoch=1, timeout_s=20)
        await t.link.submit(task)
        await t.fake.wait_for_requests(1)
        await t.link.cancel(task.task_id, reason="caller changed the request")
        events = await events_until_final(t.link, task.task_id, timeout_s=PATIENCE_S)
        assert events[-1].type == "cancelled"
        await t.fake.wait_until(lambda: t.fake.request(0).outcome == "client_disconnected")


async def test_cancelling_mid_tool_skips_the_side_effect_not_yet_started(
    redis: Redis, settings: BusSettings
) -> None:
    weather_called = asyncio.Event()

    async def slow_weather(request: httpx.Request) -> httpx.Response:
        weather_called.set()
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    cancelled = asyncio.Event()
    async with thinker(redis, settings, http_handler=slow_weather) as t:
        t.fake.enqueue(
            Turn(  # the booking call comes only once the task is cancelled
                [
                    ToolUse("get_weather", {"city": "Lisbon"}),
                    ToolUse("book_table", SLOT | {"name": "Ana"}),
                ],
                pause=Pause(1, cancelled.wait),
            )
        )
        task = TaskRequest.create(
            session_id="call-1", request="weather, then book", epoch=1, timeout_s=30, confirmed=True
        )
        await t.link.submit(task)
        await asyncio.wait_for(weather_called.wait(), PATIENCE_S)
        await t.link.cancel(task.task_id)
        events = await events_until_final(t.link, task.task_id, timeout_s=PATIENCE_S)
        assert events[-1].type == "cancelled"
        cancelled.set()  # a thinker still reading the stream would now get the booking call
        await t.fake.wait_until(lambda: t.fake.request(0).outcome == "client_disconnected")
        assert "book_table" not in t.tool_starts
        assert not await redis.keys(f"*bookings*day:{FRIDAY}*")


# --- what kind of reply: the tag Claude starts it with ------------------------------------------


async def test_a_tagged_reply_becomes_a_result_of_that_kind_without_the_tag(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(
            Turn.call("search_knowledge", {"query": "live music"}),
            Turn.say(
                "[unknown] Trattoria Tandem's information says nothing about live music.",
                delta_delay_s=0.01,
            ),
            Turn.say("[needs_detail] Which day, and for how many people?"),
            Turn.call("current_time", {"place": "Lisbon"}),
            Turn.say("[ answer ]We open at noon. Sunday is lunch only.", delta_delay_s=0.01),
            Turn.say("We open at noon."),  # no tag: an answer
        )
        music = await t.ask("do you have live music on Fridays?")
        table = await t.ask("I'd like to book a table")
        tagged = await t.ask("when do you open?")
        untagged = await t.ask("when do you open?")
        fed_back = t.fake.request(1).messages[-1]["content"][0]
    assert fed_back["is_error"] is True  # nothing to look up: Claude is told so
    results = [events[-1] for events in (music, table, tagged, untagged)]
    assert all(isinstance(r, ResultEvent) for r in results)
    assert [(r.kind, r.text) for r in results if isinstance(r, ResultEvent)] == [
        ("unknown", "Trattoria Tandem's information says nothing about live music."),
        ("needs_detail", "Which day, and for how many people?"),
        ("answer", "We open at noon. Sunday is lunch only."),
        ("answer", "We open at noon."),
    ]
    # "I don't know" is no early fact; an answer's first sentence is, without its tag
    assert [e.type for e in music] == ["started", "result"]
    assert [getattr(e, "text", "") for e in tagged if e.type == "partial"] == ["We open at noon."]


async def test_a_reply_tagged_failed_is_a_failure_worth_another_try(
    redis: Redis, settings: BusSettings
) -> None:
    async with thinker(redis, settings) as t:
        t.fake.enqueue(
            Turn.call("get_weather", {"city": "Lisbon"}),
            Turn.say("[failed] The weather service did not answer."),
        )
        events = await t.ask("what's the weather in Lisbon?")
    final = events[-1]
    assert isinstance(final, ErrorEvent)
    assert (final.code, final.retryable) == ("failed", True)
    assert final.message == "The weather service did not answer."
    assert "partial" not in [e.type for e in events]


def test_the_kind_is_read_from_the_tag_however_claude_spaces_it() -> None:
    assert read_kind("[unknown] No idea.") == ("unknown", "No idea.")
    assert read_kind("  [Needs detail]  Which day?") == ("needs_detail", "Which day?")
    assert read_kind("[needs-details] Which day?") == ("needs_detail", "Which day?")
    assert read_kind("[FAILED] Down.") == ("failed", "Down.")
    assert read_kind("Open at noon. [answer]") == ("answer", "Open at noon.")
    assert read_kind("[sic] Open [at] noon.") == ("answer", "[sic] Open [at] noon.")
    assert read_kind("[unknown]") == ("unknown", "")


def test_the_system_prompt_asks_for_the_tags_and_never_for_a_retry_offer() -> None:
    for tag in ("[answer]", "[unknown]", "[needs_detail]", "[failed]"):
        assert tag in SYSTEM_PROMPT
    assert "Never ask the caller to try again" in SYSTEM_PROMPT
