"""The applier of thinker events against a fake floor and a fake agent: what each event does to
its task, to the conversation and to what the agent is asked to say."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from livekit.agents import llm
from redis.asyncio import Redis

from responder.floor import Priority, Utterance
from responder.latency import LatencyHistory
from responder.metrics import CallMetrics
from responder.task_events import MOVED_ON_TURNS, TaskEventApplier, moved_on
from responder.tasks import DelegatedTask, TaskBook, TaskState
from shared.keys import Keys
from shared.wire import (
    CancelledEvent,
    ErrorEvent,
    ExpiredEvent,
    PartialEvent,
    ProgressEvent,
    ResultEvent,
)

ANSWER = "Friday at 8 pm is free for four."


class FakeFloor:
    """Holds what is posted; withdraws like the arbiter."""

    def __init__(self) -> None:
        self.pending: list[Utterance] = []

    def post(self, utterance: Utterance) -> None:
        self.pending.append(utterance)

    def withdraw(self, predicate: Callable[[Utterance], bool]) -> list[Utterance]:
        dropped = [u for u in self.pending if predicate(u)]
        self.pending = [u for u in self.pending if not predicate(u)]
        return dropped


class FakeAgent:
    """An agent's conversation; ``refuse`` makes every update fail like a closed session."""

    def __init__(self, *, refuse: bool = False) -> None:
        self._ctx = llm.ChatContext.empty()
        self.refuse = refuse

    @property
    def chat_ctx(self) -> llm.ChatContext:
        return self._ctx

    async def update_chat_ctx(self, chat_ctx: llm.ChatContext) -> None:
        if self.refuse:
            raise RuntimeError("the session is closing")
        self._ctx = chat_ctx

    def outputs(self) -> dict[str, str]:
        return {
            item.call_id: item.output
            for item in self._ctx.items
            if isinstance(item, llm.FunctionCallOutput)
        }


@dataclass
class Rig:
    applier: TaskEventApplier
    book: TaskBook
    floor: FakeFloor
    agent: FakeAgent
    metrics: CallMetrics
    task: DelegatedTask
    events: list[dict[str, Any]]
    epoch: list[int] = field(default_factory=lambda: [1])
    now: list[float] = field(default_factory=lambda: [0.0])

    def said(self) -> list[str]:
        return [u.instructions or u.text or "" for u in self.floor.pending]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


@pytest.fixture
def rig(redis: Redis) -> Rig:
    metrics = CallMetrics()
    events: list[dict[str, Any]] = []
    metrics.listeners.append(events.append)
    book = TaskBook(metrics)
    task = DelegatedTask(
        task_id="t1",
        number=1,
        request="table for 4 Friday 20:00",
        epoch=1,
        tier="fast",
        call_id="call_1",
        arguments='{"request": "table for 4 Friday 20:00"}',
        expected_wait_s=1.0,
        submitted_at=0.0,
    )
    book.add(task)
    floor, agent = FakeFloor(), FakeAgent()
    epoch, now = [1], [0.0]
    applier = TaskEventApplier(
        book=book,
        floor=floor,
        history=LatencyHistory(redis, Keys("events")),
        metrics=metrics,
        agent=lambda: agent,
        epoch=lambda: epoch[0],
        clock=lambda: now[0],
    )
    return Rig(applier, book, floor, agent, metrics, task, events, epoch, now)


def result(text: str = ANSWER, seq: int = 2) -> ResultEvent:
    return ResultEvent(task_id="t1", session_id="s1", seq=seq, epoch=1, text=text)


async def test_an_answer_becomes_the_tasks_tool_output_and_is_put_to_the_floor(rig: Rig) -> None:
    await rig.applier.apply(result())
    assert rig.agent.outputs() == {"call_1_result": ANSWER}
    (utterance,) = rig.floor.pending
    assert (utterance.kind, utterance.priority) == ("result", Priority.RESULT)
    assert utterance.instructions is not None
    assert utterance.instructions.startswith("Task 1 (table for 4 Friday 20:00) is done.")
    assert "the tool output with call id call_1_result." in utterance.instructions
    assert rig.task.state is TaskState.ANSWERED
    assert rig.metrics.tasks == {"answered": 1}
    (answered,) = rig.named("task_answer")
    assert (answered["task"], answered["final"], answered["late"]) == (1, True, False)


@pytest.mark.parametrize("turns_since", [0, 1, MOVED_ON_TURNS, MOVED_ON_TURNS + 3])
async def test_an_answer_after_the_caller_moved_on_is_introduced_with_what_it_answers(
    rig: Rig, turns_since: int
) -> None:
    rig.epoch[0] = rig.task.epoch + turns_since
    await rig.applier.apply(result())
    (instructions,) = rig.said()
    reminded = "moved on" in instructions and "asked about earlier" in instructions
    assert reminded == (turns_since >= MOVED_ON_TURNS)
    assert moved_on(rig.task.epoch, rig.epoch[0]) == reminded


async def test_early_facts_and_failures_after_the_caller_moved_on_are_introduced_too(
    rig: Rig,
) -> None:
    rig.epoch[0] = rig.task.epoch + MOVED_ON_TURNS
    await rig.applier.apply(
        PartialEvent(task_id="t1", session_id="s1", seq=1, epoch=1, text="Friday is open.")
    )
    await rig.applier.apply(
        ErrorEvent(
            task_id="t1",
            session_id="s1",
            seq=2,
            epoch=1,
            code="failed",
            message="down",
            retryable=True,
        )
    )
    (failure,) = rig.said()  # the failure withdrew the early fact
    assert "could not be finished" in failure
    assert "moved on" in failure


async def test_an_early_fact_is_said_until_the_full_answer_covers_it(rig: Rig) -> None:
    await rig.applier.apply(
        PartialEvent(task_id="t1", session_id="s1", seq=1, epoch=1, text="Friday is open.")
    )
    (early,) = rig.floor.pending
    assert early.instructions is not None
    assert early.instructions.startswith("An early fact for task 1")
    assert "call id call_1_partial_1." in early.instructions
    assert rig.task.running
    await rig.applier.apply(result())
    assert early.is_stale()
    assert [u.instructions and u.instructions.split(".")[0] for u in rig.floor.pending] == [
        "Task 1 (table for 4 Friday 20:00) is done"
    ]
    assert set(rig.agent.outputs()) == {"call_1_partial_1", "call_1_result"}


async def test_anything_a_superseded_task_still_produces_is_counted_and_never_said(
    rig: Rig,
) -> None:
    rig.book.transition(rig.task, TaskState.SUPERSEDED, reason="superseded by task 2")
    await rig.applier.apply(
        PartialEvent(task_id="t1", session_id="s1", seq=1, epoch=1, text="Friday is open.")
    )
    await rig.applier.apply(result())
    assert rig.floor.pending == []
    assert rig.agent.outputs() == {}
    assert rig.metrics.stale_suppressed == 2
    assert [e["kind"] for e in rig.named("stale_suppressed")] == ["partial", "result"]


async def test_an_expired_task_gets_one_honest_message_and_a_late_answer_a_follow_up(
    rig: Rig,
) -> None:
    rig.floor.post(
        Utterance(kind="filler", priority=Priority.FILLER, text="Still checking.", task_ids=("t1",))
    )
    await rig.applier.apply(
        ExpiredEvent(task_id="t1", session_id="s1", seq=1, epoch=1, deadline_ms=1)
    )
    (failure,) = rig.floor.pending  # the filler was withdrawn
    assert failure.kind == "failure"
    assert failure.instructions is not None
    assert "it ran out of time" in failure.instructions
    assert rig.named("task_failed")[0]["outcome"] == "expired"
    await rig.applier.apply(result())
    assert failure.is_stale()  # the answer came after all
    assert rig.said()[-1].startswith("Follow-up: the answer to task 1")
    assert rig.named("task_answer")[0]["late"] is True
    assert rig.metrics.tasks == {"expired": 1, "answered": 1}


async def test_a_task_the_thinker_cancelled_is_counted_and_nothing_is_said(rig: Rig) -> None:
    await rig.applier.apply(CancelledEvent(task_id="t1", session_id="s1", seq=1, epoch=1))
    assert rig.task.state is TaskState.CANCELLED
    assert rig.metrics.tasks == {"cancelled": 1}
    assert rig.named("task_stopped")[0]["state"] == "cancelled"
    assert rig.floor.pending == []


async def test_a_second_answer_to_the_same_task_is_not_said_again(rig: Rig) -> None:
    await rig.applier.apply(result())
    await rig.applier.apply(result("Friday is full.", seq=3))
    assert len(rig.floor.pending) == 1
    assert rig.agent.outputs() == {"call_1_result": ANSWER}
    assert rig.metrics.tasks == {"answered": 1}


async def test_an_answer_the_conversation_refused_rides_in_the_instructions(rig: Rig) -> None:
    rig.agent.refuse = True
    await rig.applier.apply(result())
    (instructions,) = rig.said()
    assert f"Its answer is this: {ANSWER!r}." in instructions


async def test_progress_words_the_fillers_and_times_the_tools(rig: Rig, redis: Redis) -> None:
    await rig.applier.apply(
        ProgressEvent(
            task_id="t1", session_id="s1", seq=1, epoch=1, message="checking", tool="lookup"
        )
    )
    assert (rig.task.progress, rig.task.tool, rig.task.tool_started_at) == (
        "checking",
        "lookup",
        0.0,
    )
    assert rig.task.changed.is_set()
    rig.now[0] = 2.0
    await rig.applier.apply(result())
    assert await redis.lrange(Keys("events").latency("tool:lookup"), 0, -1) == ["2000"]
    assert await redis.lrange(Keys("events").latency("tier:fast"), 0, -1) == ["2000"]


# --- what each kind of reply and failure makes the agent say --------------------------------------

_RETRY_OFFER = "offer to try again."
"""The instruction that has the model offer another try (and "Do not offer to try again" not)."""


def kinded(kind: Any, text: str) -> ResultEvent:
    return ResultEvent(task_id="t1", session_id="s1", seq=2, epoch=1, text=text, kind=kind)


async def test_an_unknown_is_said_plainly_with_an_offer_to_take_a_message_and_no_retry(
    rig: Rig,
) -> None:
    await rig.applier.apply(kinded("unknown", "Nothing about live music."))
    (said,) = rig.said()
    assert rig.agent.outputs() == {"call_1_result": "Nothing about live music."}
    assert said.startswith("Task 1 (table for 4 Friday 20:00) has no answer")
    assert "the tool output with call id call_1_result." in said
    assert "you don't have that information" in said
    assert "offer to take a message" in said
    assert "Do not offer to try again" in said
    assert _RETRY_OFFER not in said.replace("Do not offer to try again", "")
    assert rig.task.state is TaskState.ANSWERED  # a reply, not a failure
    assert rig.metrics.tasks == {"answered": 1}


async def test_a_missing_detail_is_asked_for_and_nothing_else(rig: Rig) -> None:
    await rig.applier.apply(kinded("needs_detail", "Which day, and for how many people?"))
    (said,) = rig.said()
    assert said.startswith("Task 1 (table for 4 Friday 20:00) needs a detail from the caller")
    assert "Its question is the tool output with call id call_1_result." in said
    assert "ask the caller for exactly the detail it asks for" in said
    assert "call `delegate` again with the whole request" in said
    assert _RETRY_OFFER not in said.replace("do not offer to try again", "")


async def test_only_a_failure_that_may_go_away_offers_another_try(rig: Rig) -> None:
    await rig.applier.apply(
        ErrorEvent(
            task_id="t1",
            session_id="s1",
            seq=1,
            epoch=1,
            code="failed",
            message="down",
            retryable=True,
        )
    )
    (retry,) = rig.said()
    assert "could not be finished: the system it needs had a problem" in retry
    assert "and offer to try again." in retry


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        ("failed", "that took too many steps to work out", "that took too many steps"),
        ("internal", "the task failed unexpectedly", None),
        ("dead_letter", "the task failed on every attempt and was set aside", None),
    ],
)
async def test_a_failure_another_try_would_not_mend_is_said_as_cannot_be_done(
    rig: Rig, code: Any, message: str, reason: str | None
) -> None:
    await rig.applier.apply(
        ErrorEvent(task_id="t1", session_id="s1", seq=1, epoch=1, code=code, message=message)
    )
    (said,) = rig.said()
    assert said.startswith("Task 1 (table for 4 Friday 20:00) cannot be done")
    assert "that you can't get that done, and offer to take a message" in said
    assert "Do not offer to try again" in said
    assert "could not be finished" not in said
    assert (reason is not None) == ("the back office says" in said)  # only a handler's reason
    assert rig.named("task_failed")[0]["outcome"] == "failed"


@pytest.mark.parametrize("code", ["dead_letter", "failed", "internal"])
async def test_a_task_that_ended_after_booking_is_told_as_booked_never_as_failed(
    rig: Rig, code: Any
) -> None:
    done = ("Booking TT-4F7K2: a table for 4 on Friday 27 November at 20:00, under Rivera.",)
    await rig.applier.apply(
        ErrorEvent(task_id="t1", session_id="s1", seq=1, epoch=1, code=code, message="x", done=done)
    )
    (said,) = rig.said()
    assert done[0] in said
    assert "Do not say it failed and do not offer to do it again" in said
    assert "cannot be done" not in said
    assert "could not be finished" not in said


async def test_an_expired_task_that_had_booked_is_told_as_booked(rig: Rig) -> None:
    done = ("Booking TT-4F7K2: a table for 4 on Friday 27 November at 20:00, under Rivera.",)
    await rig.applier.apply(
        ExpiredEvent(task_id="t1", session_id="s1", seq=1, epoch=1, deadline_ms=1, done=done)
    )
    (said,) = rig.said()
    assert done[0] in said
    assert "ran out of time" not in said


async def test_a_late_unknown_is_a_follow_up_too(rig: Rig) -> None:
    rig.task.late_notice_given = True
    await rig.applier.apply(kinded("unknown", "Nothing about live music."))
    (said,) = rig.said()
    assert said.startswith("Follow-up: the answer to task 1")
    assert "has no answer" in said
