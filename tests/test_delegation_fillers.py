"""The filler scheduler with an injected clock: the first filler from the expected wait, fillers
at intervals up to a limit, one honest late notice and nothing after it, a fallback
acknowledgement when the model delegated silently."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from livekit.agents import llm
from redis.asyncio import Redis

from responder.fillers import FillerPlan, FillerScheduler
from responder.floor import Utterance
from responder.latency import LatencyHistory
from responder.metrics import CallMetrics
from responder.tasks import DelegatedTask, TaskBook, TaskState
from shared.config import ResponderSettings
from shared.keys import Keys

SETTINGS = ResponderSettings(
    _env_file=None, patience_s=9.0, filler_threshold_s=1.2, filler_interval_s=4.0, max_fillers=2
)


class FakeFloor:
    def __init__(self) -> None:
        self.pending: list[Utterance] = []
        self.listeners: list[Callable[[str, Utterance], None]] = []

    def post(self, utterance: Utterance) -> None:
        self.pending.append(utterance)

    def kinds(self) -> list[str]:
        return [u.kind for u in self.pending]


@dataclass
class Handle:
    """The finished response that called ``delegate``."""

    chat_items: list[Any]


def task(expected_wait_s: float = 3.0) -> DelegatedTask:
    return DelegatedTask(
        task_id="t1",
        number=1,
        request="the wine list",
        epoch=1,
        tier="fast",
        call_id="call_1",
        arguments="{}",
        expected_wait_s=expected_wait_s,
        submitted_at=0.0,
    )


SAID_ACK = Handle([llm.ChatMessage(role="assistant", content=["Let me look."])])


def test_a_long_wait_gets_its_first_filler_at_the_threshold_then_at_intervals() -> None:
    plan = FillerPlan(patience_at=9.0, next_filler=1.0 + 1.2, interval_s=4.0, max_fillers=2)
    t = task()
    assert plan.due(t, 2.1) is None
    assert plan.wake_in(t, 2.1) == pytest.approx(0.1)
    assert plan.due(t, 2.2) == "filler"
    t.fillers += 1
    plan.filler_said(2.2)
    assert plan.due(t, 6.1) is None
    assert plan.due(t, 6.2) == "filler"
    t.fillers += 1
    plan.filler_said(6.2)
    assert plan.due(t, 8.9) is None  # out of fillers; only the notice is left
    assert plan.wake_in(t, 8.9) == pytest.approx(0.1)
    assert plan.due(t, 9.0) == "late_notice"
    t.late_notice_given = True
    assert plan.due(t, 60.0) is None
    assert plan.wake_in(t, 60.0) is None  # nothing more, unless the task changes


def test_the_plan_starts_after_the_acknowledgement_and_from_the_expected_wait(
    redis: Redis,
) -> None:
    history = LatencyHistory(redis, Keys("fillers"))
    scheduler = FillerScheduler(
        floor=FakeFloor(), history=history, settings=SETTINGS, metrics=CallMetrics()
    )
    long_wait, short_wait = task(expected_wait_s=3.0), task(expected_wait_s=0.5)
    long_wait.acknowledged_at = short_wait.acknowledged_at = 1.0
    assert scheduler.plan(long_wait).next_filler == pytest.approx(1.0 + 1.2)
    # expected to be over 0.5 s after submission: a filler only if it is still running a short
    # grace after the silence became noticeable
    assert scheduler.plan(short_wait).next_filler == pytest.approx(1.0 + 1.2 + 0.2)
    short_wait.acknowledged_at = 0.2
    assert scheduler.plan(short_wait).next_filler == pytest.approx(0.2 + 1.2 + 0.2)
    assert scheduler.plan(long_wait).patience_at == 9.0


@dataclass
class Rig:
    scheduler: FillerScheduler
    floor: FakeFloor
    metrics: CallMetrics
    book: TaskBook
    now: list[float]
    history: LatencyHistory

    async def at(self, seconds: float, t: DelegatedTask) -> None:
        """Move the clock and let the task's loop look at it."""
        self.now[0] = seconds
        t.touch()
        await settle()


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0.001)


@pytest.fixture
async def rig(redis: Redis) -> AsyncIterator[Rig]:
    now = [0.0]
    floor, metrics = FakeFloor(), CallMetrics()
    history = LatencyHistory(redis, Keys("fillers"))
    scheduler = FillerScheduler(
        floor=floor, history=history, settings=SETTINGS, metrics=metrics, clock=lambda: now[0]
    )
    yield Rig(scheduler, floor, metrics, TaskBook(metrics), now, history)
    await scheduler.aclose()


async def test_fillers_then_one_late_notice_then_silence_until_the_answer(rig: Rig) -> None:
    t = task(expected_wait_s=3.0)
    rig.book.add(t)
    rig.scheduler.watch(t, turn_ended_at=None)
    await rig.at(0.5, t)
    assert rig.floor.pending == []  # the acknowledgement is still playing
    rig.scheduler.response_finished(t, SAID_ACK)  # ...and ended at 0.5 s
    await rig.at(1.6, t)
    assert rig.floor.pending == []
    await rig.at(1.7, t)
    assert rig.floor.kinds() == ["filler"]
    await rig.at(5.6, t)
    assert rig.floor.kinds() == ["filler"]
    await rig.at(5.7, t)
    assert rig.floor.kinds() == ["filler", "filler"]
    await rig.at(8.9, t)
    assert rig.floor.kinds() == ["filler", "filler"]  # max_fillers reached
    await rig.at(9.0, t)
    assert rig.floor.kinds() == ["filler", "filler", "late_notice"]
    notice = rig.floor.pending[-1].instructions or ""
    assert notice.startswith("Task 1 (the wine list) is taking longer than it should.")
    await rig.at(30.0, t)
    assert len(rig.floor.pending) == 3
    rig.book.transition(t, TaskState.ANSWERED)
    await rig.at(60.0, t)
    assert len(rig.floor.pending) == 3
    assert all(u.is_stale() for u in rig.floor.pending)  # the answer made them moot


async def test_a_slow_tool_starting_brings_the_first_filler_forward(rig: Rig) -> None:
    for _ in range(3):
        await rig.history.record("tool:slow_lookup", 4.0)
    t = task(expected_wait_s=0.5)  # the tier is usually quick: first filler at 1.7 s
    rig.book.add(t)
    rig.scheduler.watch(t, turn_ended_at=None)
    rig.scheduler.response_finished(t, SAID_ACK)
    await rig.at(0.1, t)
    t.tool, t.tool_started_at = "slow_lookup", 0.1
    await rig.at(0.1, t)
    await rig.at(1.2, t)
    assert rig.floor.pending == []
    await rig.at(1.3, t)
    assert rig.floor.kinds() == ["filler"]


async def test_a_tool_declared_slow_brings_the_first_filler_forward_before_any_history(
    redis: Redis,
) -> None:
    now = [0.0]
    floor = FakeFloor()
    scheduler = FillerScheduler(
        floor=floor,
        history=LatencyHistory(redis, Keys(f"fresh{id(floor)}")),  # no history at all
        settings=SETTINGS,
        metrics=CallMetrics(),
        slow_tools=frozenset({"slow_lookup"}),
        clock=lambda: now[0],
    )
    rig = Rig(scheduler, floor, CallMetrics(), TaskBook(CallMetrics()), now, scheduler._history)
    t = task(expected_wait_s=0.5)
    rig.book.add(t)
    scheduler.watch(t, turn_ended_at=None)
    scheduler.response_finished(t, SAID_ACK)
    t.tool, t.tool_started_at = "slow_lookup", 0.1
    await rig.at(0.1, t)
    await rig.at(1.2, t)
    assert floor.pending == []
    await rig.at(1.3, t)
    assert floor.kinds() == ["filler"]  # not at 1.6 s, the tier's expectation
    await scheduler.aclose()


async def test_a_silent_delegation_is_acknowledged_for_the_model_once(rig: Rig) -> None:
    events: list[dict[str, Any]] = []
    rig.metrics.listeners.append(events.append)
    silent, spoken = task(), task()
    rig.scheduler.response_finished(silent, Handle([]))
    rig.scheduler.response_finished(spoken, SAID_ACK)
    assert rig.floor.kinds() == ["ack"]
    assert rig.floor.pending[0].text
    assert [e["event"] for e in events] == ["ack_fallback"]


async def test_a_task_delegated_as_the_call_ends_is_not_masked(rig: Rig) -> None:
    await rig.scheduler.aclose()
    t = task(expected_wait_s=3.0)
    rig.book.add(t)
    rig.scheduler.watch(t, turn_ended_at=None)  # after the call closed: no loop left behind
    await rig.at(5.0, t)
    assert rig.floor.kinds() == []
    assert not rig.scheduler._loops
