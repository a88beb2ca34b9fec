"""Thinker processes as they run in production (`python -m thinker`): a worker killed mid-task,
SIGTERM drain and hand-back, and the offline demo brain announcing itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from redis.asyncio import Redis

from shared.bus import ResponderBus
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.wire import Event, ResultEvent, StartedEvent, TaskRequest
from tests.conftest import ROOT, events_until_final, worker_pid
from tests.fakes.anthropic import FakeAnthropic, RecordedRequest, Turn
from tests.tool_helpers import friday_next_week

FRIDAY = friday_next_week()
BOOKING = {"date": FRIDAY, "time": "20:00", "party_size": 4, "name": "Ana"}
PATIENCE_S = 45
"""A ceiling on waiting for what happens by itself (a thinker process starting takes seconds on
a busy machine); what a test depends on is ordered by events, not by delays."""


class Thinkers:
    """`python -m thinker` processes on the test's Redis and fake Claude."""

    def __init__(self, redis_url: str, settings: BusSettings) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "ANTHROPIC_"))},
            "REDIS_URL": redis_url,
            "TANDEM_BUS_PREFIX": settings.prefix,
            "TANDEM_BUS_LEASE_MS": str(settings.lease_ms),
            "TANDEM_BUS_SWEEP_INTERVAL_MS": str(settings.sweep_interval_ms),
            "TANDEM_BUS_BLOCK_MS": str(settings.block_ms),
            "TANDEM_THINKER_HTTP_PORT": "0",
            "TANDEM_LOG_FORMAT": "json",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "thinker"],
            cwd=ROOT,
            env=self.env | env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        return process

    def by_worker(self, started: StartedEvent) -> subprocess.Popen[bytes]:
        return next(p for p in self.processes if p.pid == worker_pid(started.worker))

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stderr is not None:
                process.stderr.close()


@pytest.fixture
def thinkers(redis_server: EmbeddedRedis, settings: BusSettings) -> Iterator[Thinkers]:
    pool = Thinkers(redis_server.url, settings)
    yield pool
    pool.stop_all()


def claude_env(fake: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake.url}


def has_tool_result(request: RecordedRequest) -> bool:
    """Whether ``request`` carries a tool's result (the model's second step)."""
    return any(
        isinstance(m["content"], list) and m["content"][0].get("type") == "tool_result"
        for m in request.messages
    )


def book_then_answer_after(event: asyncio.Event) -> Callable[[RecordedRequest], Turn]:
    """Claude calls book_table, then phrases the answer only once ``event`` is set."""

    def reply(request: RecordedRequest) -> Turn:
        if not has_tool_result(request):
            return Turn.call("book_table", BOOKING)
        return Turn.say("Booked for 4 on Friday at 20:00.", headers_after=event.wait)

    return reply


def answer_after(event: asyncio.Event) -> Callable[[RecordedRequest], Turn]:
    """Claude answers only once ``event`` is set: a task still running when the test acts."""
    return lambda _request: Turn.say("We open at noon.", headers_after=event.wait)


async def submit(
    bus: ResponderBus, request: str, *, confirmed: bool = False
) -> tuple[TaskRequest, Event]:
    link = bus.session("call-1")
    task = TaskRequest.create(
        session_id="call-1",
        request=request,
        epoch=1,
        timeout_s=30,
        confirmed=confirmed,
        profile="restaurant",  # the demo profile: its rule-based brain and booking tools
    )
    await link.submit(task)
    async with asyncio.timeout(PATIENCE_S):  # the thinker process may still be starting
        while not (events := await link.read()):
            pass
    return task, events[0]


async def test_a_worker_killed_after_a_booking_is_finished_by_another_without_booking_twice(
    redis: Redis, bus: ResponderBus, thinkers: Thinkers
) -> None:
    killed = asyncio.Event()
    async with FakeAnthropic() as fake:
        fake.set_fallback(book_then_answer_after(killed))
        thinkers.start(**claude_env(fake))
        thinkers.start(**claude_env(fake))
        task, started = await submit(bus, "book Friday at 8 for 4, Ana", confirmed=True)
        assert isinstance(started, StartedEvent)
        # booked, and asking Claude for the answer, which waits for the kill: mid-task for sure
        await fake.wait_until(lambda: any(map(has_tool_result, fake.requests)), limit_s=PATIENCE_S)
        victim = thinkers.by_worker(started)
        victim.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait)
        killed.set()
        events = await events_until_final(bus.session("call-1"), task.task_id, PATIENCE_S)
        final = events[-1]
        assert isinstance(final, ResultEvent)
        assert final.attempt == 2
        day = await redis.keys(f"*bookings*day:{FRIDAY}")
        assert len(json.loads(str(await redis.get(day[0])))) == 1  # booked once
        replayed = [r for r in fake.requests if "Already booked" in str(r.messages)]
        seen = [(type(e).__name__, e.attempt, getattr(e, "worker", "")) for e in events]
        results = [str(r.messages[-1]["content"])[:120] for r in fake.requests]
        assert replayed, (
            "the second attempt should have found the booking already made; "
            f"killed {started.worker}, then saw {seen}; tool results sent to Claude: {results}"
        )


async def test_sigterm_lets_the_running_task_finish(bus: ResponderBus, thinkers: Thinkers) -> None:
    terminated = asyncio.Event()
    async with FakeAnthropic() as fake:
        fake.set_fallback(answer_after(terminated))
        process = thinkers.start(**claude_env(fake))
        task, started = await submit(bus, "when do you open?")
        assert started.type == "started"
        process.send_signal(signal.SIGTERM)
        terminated.set()  # the answer comes after SIGTERM, well within the 20 s drain
        events = await events_until_final(bus.session("call-1"), task.task_id, PATIENCE_S)
        assert (events[-1].type, events[-1].attempt) == ("result", 1)
        assert await asyncio.to_thread(process.wait, PATIENCE_S) == 0


async def test_sigterm_hands_back_what_does_not_finish_within_the_drain(
    bus: ResponderBus, thinkers: Thinkers
) -> None:
    first_gone = asyncio.Event()
    async with FakeAnthropic() as fake:
        fake.set_fallback(answer_after(first_gone))  # never within the first thinker's drain
        first = thinkers.start(TANDEM_THINKER_DRAIN_S="0.2", **claude_env(fake))
        task, _ = await submit(bus, "when do you open?")
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, PATIENCE_S) == 0
        first_gone.set()
        thinkers.start(**claude_env(fake))
        events = await events_until_final(bus.session("call-1"), task.task_id, PATIENCE_S)
    assert (events[-1].type, events[-1].attempt) == ("result", 2)


async def test_without_a_key_the_demo_brain_answers_and_the_log_says_so(
    bus: ResponderBus, thinkers: Thinkers
) -> None:
    process = thinkers.start()
    task, _ = await submit(bus, "what time is it in Tokyo?")
    events = await events_until_final(bus.session("call-1"), task.task_id, PATIENCE_S)
    assert isinstance(events[-1], ResultEvent)
    assert "Asia/Tokyo" in events[-1].text
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.to_thread(process.communicate, None, PATIENCE_S)
    assert b"offline rule-based brains answer tasks" in stderr
    assert b"not a language model" in stderr
