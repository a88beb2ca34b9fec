"""Thinker processes as they run in production (`python -m thinker`): a worker killed mid-task,
SIGTERM drain and hand-back, and the offline demo brain announcing itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

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


def book_then_answer_slowly(request: RecordedRequest) -> Turn:
    """Claude calls book_table, then takes 2 s to phrase the answer."""
    has_result = any(
        isinstance(m["content"], list) and m["content"][0].get("type") == "tool_result"
        for m in request.messages
    )
    if not has_result:
        return Turn.call("book_table", BOOKING)
    return Turn.say("Booked for 4 on Friday at 20:00.", first_byte_delay_s=2.0)


async def submit(
    bus: ResponderBus, request: str, *, confirmed: bool = False
) -> tuple[TaskRequest, Event]:
    link = bus.session("call-1")
    task = TaskRequest.create(
        session_id="call-1", request=request, epoch=1, timeout_s=30, confirmed=confirmed
    )
    await link.submit(task)
    first = (await link.read(block_ms=15_000))[0]
    return task, first


async def test_a_worker_killed_after_a_booking_is_finished_by_another_without_booking_twice(
    redis: Redis, bus: ResponderBus, thinkers: Thinkers
) -> None:
    async with FakeAnthropic() as fake:
        fake.set_fallback(book_then_answer_slowly)
        thinkers.start(**claude_env(fake))
        thinkers.start(**claude_env(fake))
        task, started = await submit(bus, "book Friday at 8 for 4, Ana", confirmed=True)
        assert isinstance(started, StartedEvent)
        async with asyncio.timeout(15):  # the booking exists: now the worker is mid-task
            while not await redis.keys(f"*bookings*day:{FRIDAY}"):  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # another process writes it: nothing to await
        victim = thinkers.by_worker(started)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        events = await events_until_final(bus.session("call-1"), task.task_id, timeout_s=20)
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
    async with FakeAnthropic() as fake:
        fake.set_fallback(lambda _request: Turn.say("We open at noon.", first_byte_delay_s=1.5))
        process = thinkers.start(**claude_env(fake))
        task, started = await submit(bus, "when do you open?")
        assert started.type == "started"
        process.send_signal(signal.SIGTERM)
        events = await events_until_final(bus.session("call-1"), task.task_id, timeout_s=15)
        assert (events[-1].type, events[-1].attempt) == ("result", 1)
        assert await asyncio.to_thread(process.wait, 15) == 0


async def test_sigterm_hands_back_what_does_not_finish_within_the_drain(
    bus: ResponderBus, thinkers: Thinkers
) -> None:
    async with FakeAnthropic() as fake:
        fake.set_fallback(lambda _request: Turn.say("We open at noon.", first_byte_delay_s=2.0))
        first = thinkers.start(TANDEM_THINKER_DRAIN_S="0.2", **claude_env(fake))
        task, _ = await submit(bus, "when do you open?")
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 15) == 0
        thinkers.start(**claude_env(fake))
        events = await events_until_final(bus.session("call-1"), task.task_id, timeout_s=20)
    assert (events[-1].type, events[-1].attempt) == ("result", 2)


async def test_without_a_key_the_demo_brain_answers_and_the_log_says_so(
    bus: ResponderBus, thinkers: Thinkers
) -> None:
    process = thinkers.start()
    task, _ = await submit(bus, "what time is it in Tokyo?")
    events = await events_until_final(bus.session("call-1"), task.task_id, timeout_s=15)
    assert isinstance(events[-1], ResultEvent)
    assert "Asia/Tokyo" in events[-1].text
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.to_thread(process.communicate, None, 15)
    assert b"offline demo brain" in stderr
    assert b"not a language model" in stderr
