"""The bus with workers in this process: round trips, ordering, deadlines, duplicates,
cancellation, bad entries, failures and hang-up."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from shared.bus import ResponderBus, SessionLink
from shared.bus._replies import range_entries, writable
from shared.config import BusSettings
from shared.wire import (
    CancelledEvent,
    ErrorEvent,
    Event,
    ExpiredEvent,
    ResultEvent,
    TaskRequest,
    encode,
)
from tests.conftest import all_events, events_until_final, running_worker
from tests.fakes.scripted_worker import ScriptedHandler, runs_key


def make_task(request: str, session_id: str = "call-1", timeout_s: float = 10) -> TaskRequest:
    return TaskRequest.create(session_id=session_id, request=request, epoch=1, timeout_s=timeout_s)


async def runs(redis: Redis, task: TaskRequest) -> int:
    return int(await redis.get(runs_key(task.task_id)) or 0)


async def next_events(link: SessionLink, limit_s: float = 30) -> list[Event]:
    """The session's next events, however long a busy machine takes to write them (one read
    blocks only ``block_ms``, 200 ms in these tests)."""
    async with asyncio.timeout(limit_s):
        while not (events := await link.read()):
            pass
    return events


async def test_round_trip_returns_the_answer(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("echo a table for two at eight")
    async with running_worker(redis, ScriptedHandler(redis), settings):
        await link.submit(task)
        events = await events_until_final(link, task.task_id)
    assert [e.type for e in events] == ["started", "result"]
    result = events[-1]
    assert isinstance(result, ResultEvent)
    assert result.text == "a table for two at eight"
    assert (result.epoch, result.attempt, result.final) == (1, 1, True)
    assert link.open_tasks == set()


async def test_events_of_a_task_arrive_in_order(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("progress 3")
    async with running_worker(redis, ScriptedHandler(redis), settings):
        await link.submit(task)
        events = await events_until_final(link, task.task_id)
    assert [e.type for e in events] == [
        *("started", "progress", "progress", "progress", "partial", "result")
    ]
    assert [e.seq for e in events] == list(range(6))
    assert [e.final for e in events].count(True) == 1
    assert [getattr(e, "message", None) for e in events[1:4]] == ["step 0", "step 1", "step 2"]


async def test_reading_never_loses_events_between_reads(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    """Events written while nobody is reading are still delivered by the next read."""
    link = bus.session("call-1")
    tasks = [make_task(f"echo {n}") for n in range(20)]
    async with running_worker(redis, ScriptedHandler(redis), settings):
        for task in tasks:
            await link.submit(task)
        while link.open_tasks:
            await asyncio.sleep(0.05)  # nobody reads: events pile up in the stream
            await link.read(block_ms=0, count=3)
    finals = [e for e in await all_events(bus.session("call-1")) if e.final]
    assert sorted(e.task_id for e in finals) == sorted(t.task_id for t in tasks)


async def test_past_deadline_task_expires_without_running(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("echo too late", timeout_s=-1)
    await link.submit(task)
    async with running_worker(redis, ScriptedHandler(redis), settings):
        events = await events_until_final(link, task.task_id)
    assert [e.type for e in events] == ["expired"]
    assert isinstance(events[0], ExpiredEvent)
    assert events[0].deadline_ms == task.deadline_ms
    assert await runs(redis, task) == 0


async def test_deadline_during_a_task_ends_it_with_expired(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("sleep 30", timeout_s=3)  # time for a busy machine to start it first
    handler = ScriptedHandler(redis)
    async with running_worker(redis, handler, settings):
        await link.submit(task)
        events = await events_until_final(link, task.task_id)
    assert [e.type for e in events] == ["started", "expired"]
    assert handler.cancelled == [task.task_id]


async def test_duplicate_submissions_are_answered_once(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("sleep 0.3")
    await link.submit(task)
    await link.submit(task)  # a retry while the first copy is pending
    async with running_worker(redis, ScriptedHandler(redis), settings):
        await events_until_final(link, task.task_id)
        await link.submit(task)  # a retry after the answer
        events = await all_events(link, settle_s=0.5)
    assert [e for e in events if e.final] == []
    assert await runs(redis, task) == 1
    everything = await all_events(bus.session("call-1"))
    assert [e.type for e in everything] == ["started", "result"]


async def test_cancel_before_pickup_never_runs(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("echo never")
    await link.submit(task)
    await link.cancel(task.task_id, reason="caller changed the request")
    async with running_worker(redis, ScriptedHandler(redis), settings):
        events = await events_until_final(link, task.task_id)
    assert [e.type for e in events] == ["cancelled"]
    assert isinstance(events[0], CancelledEvent)
    assert events[0].reason == "caller changed the request"
    assert await runs(redis, task) == 0


async def test_cancel_during_a_task_stops_it(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("sleep 30")
    handler = ScriptedHandler(redis)
    async with running_worker(redis, handler, settings):
        await link.submit(task)
        started = await next_events(link)
        assert [e.type for e in started] == ["started"]
        await link.cancel(task.task_id)
        events = await events_until_final(link, task.task_id, timeout_s=5)
    assert [e.type for e in events] == ["cancelled"]
    assert handler.cancelled == [task.task_id]


async def test_a_cancel_marker_over_200_characters_is_cut_not_dead_lettered(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    """docs/protocol.md 5.3: a marker another client wrote too long still cancels the task, its
    reason cut to the first 200 characters, whether the worker finds it at pick-up or at a
    lease renewal while the task runs."""
    link = bus.session("call-1")
    reason = "the caller changed their mind " * 10  # 300 characters
    queued, running = make_task("echo never"), make_task("sleep 30")
    handler = ScriptedHandler(redis)
    await link.submit(queued)
    await redis.hset(bus.keys.cancels("call-1"), queued.task_id, reason)
    async with running_worker(redis, handler, settings):
        before = await events_until_final(link, queued.task_id)
        await link.submit(running)
        started = await next_events(link)
        assert [e.type for e in started] == ["started"]
        await redis.hset(bus.keys.cancels("call-1"), running.task_id, reason)  # no broadcast
        during = await events_until_final(link, running.task_id)
    for events in (before, during):
        assert [e.type for e in events] == ["cancelled"]
        assert isinstance(events[0], CancelledEvent)
        assert events[0].reason == reason[:200]
    assert handler.cancelled == [running.task_id]
    assert await runs(redis, queued) == 0
    assert await redis.xlen(bus.keys.dlq) == 0
    assert (await redis.xpending(bus.keys.tasks, "thinkers"))["pending"] == 0


async def test_handler_failures_become_error_events_and_the_worker_goes_on(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    failing, crashing, fine = make_task("fail"), make_task("boom"), make_task("echo still here")
    async with running_worker(redis, ScriptedHandler(redis), settings):
        for task in (failing, crashing, fine):
            await link.submit(task)
        async with asyncio.timeout(30):
            while link.open_tasks:
                await link.read()
        finals = {e.task_id: e for e in await all_events(bus.session("call-1")) if e.final}
    failed, internal, answer = (
        finals[failing.task_id],
        finals[crashing.task_id],
        finals[fine.task_id],
    )
    assert isinstance(failed, ErrorEvent)
    assert (failed.code, failed.message, failed.retryable) == (
        "failed",
        "the kitchen is closed",
        True,
    )
    assert isinstance(internal, ErrorEvent)
    assert internal.code == "internal"
    assert "secret" not in internal.message
    assert isinstance(answer, ResultEvent)
    assert await runs(redis, failing) == 1  # an application error is answered, not redelivered
    assert failed.done == ()  # it had done nothing


async def test_a_failure_after_a_side_effect_says_what_was_done(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("book-then-fail TT-9QX2M")
    async with running_worker(redis, ScriptedHandler(redis), settings):
        await link.submit(task)
        events = await events_until_final(link, task.task_id)
    failed = events[-1]
    assert isinstance(failed, ErrorEvent)
    assert (failed.code, failed.done) == ("failed", ("Booked TT-9QX2M",))


async def test_an_answer_the_wire_cannot_carry_is_an_error_not_a_redelivery(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    async with running_worker(redis, ScriptedHandler(redis), settings):
        for request in ("huge", "nothing"):
            task = make_task(request)
            await link.submit(task)
            final = (await events_until_final(link, task.task_id))[-1]
            assert isinstance(final, ErrorEvent)
            assert (final.code, final.message) == ("internal", "the task's answer was invalid")
            assert await runs(redis, task) == 1


async def test_bad_entries_go_to_the_dead_letter_queue_and_the_worker_goes_on(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    keys = bus.keys
    future = encode(make_task("echo from the future")) | {"v": "2"}
    await redis.xadd(keys.tasks, writable(future))
    await redis.xadd(
        keys.tasks,
        {"v": "1", "type": "task", "task_id": "bad", "session_id": "call-1", "body": "{"},
    )
    await redis.xadd(keys.tasks, {"garbage": "\x00\xff"})
    await redis.xadd(keys.tasks, {"v": "1", "type": "task", "task_id": "t", "body": b"\xff\xfe"})
    misrouted = {"v": "1", "type": "cancel", "task_id": "t", "session_id": "call-1", "body": "{}"}
    await redis.xadd(keys.tasks, writable(misrouted))
    good = make_task("echo fine")
    async with running_worker(redis, ScriptedHandler(redis), settings):
        await link.submit(good)
        await events_until_final(link, good.task_id)
        dead = range_entries(await redis.xrange(keys.dlq))
    reasons = sorted(fields["dlq_reason"] for _, fields in dead)
    assert reasons == [*["malformed"] * 4, "unsupported_version"]
    assert any(fields.get("body") == "{" for _, fields in dead)  # the original is kept
    not_utf8 = b"\xff\xfe".decode("utf-8", "surrogateescape")
    assert any(fields.get("body") == not_utf8 for _, fields in dead)  # bytes kept as they were
    told = [e for e in await all_events(bus.session("call-1")) if isinstance(e, ErrorEvent)]
    assert sorted(e.code for e in told) == ["malformed", "unsupported_version"]
    assert await redis.xpending(keys.tasks, "thinkers") == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }


async def test_ending_a_session_cancels_open_tasks_and_expires_its_keys(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("sleep 30")
    async with running_worker(redis, ScriptedHandler(redis), settings):
        await link.submit(task)
        assert [e.type for e in await next_events(link)] == ["started"]
        await link.end()
        events = await events_until_final(bus.session("call-1"), task.task_id)
    assert events[-1].type == "cancelled"
    assert await runs(redis, task) == 1
    # the events (what was said) go soon; the markers stay to stop a late redelivery running
    assert 0 < await redis.ttl(bus.keys.events("call-1")) <= settings.session_ttl_s
    assert await redis.ttl(bus.keys.cancels("call-1")) > settings.end_grace_s


async def test_graceful_stop_hands_unfinished_tasks_to_another_worker(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    link = bus.session("call-1")
    task = make_task("sleep-first 30")
    async with running_worker(redis, ScriptedHandler(redis), settings, drain_s=0.1):
        await link.submit(task)
        assert [e.type for e in await next_events(link)] == ["started"]
    async with running_worker(redis, ScriptedHandler(redis), settings):
        events = await events_until_final(link, task.task_id)
    assert [(e.type, e.attempt) for e in events] == [("started", 2), ("result", 2)]
    result = events[-1]
    assert isinstance(result, ResultEvent)
    assert result.text == "quick on attempt 2"


async def test_submit_rejects_a_task_of_another_session(bus: ResponderBus) -> None:
    link = bus.session("call-1")
    with pytest.raises(ValueError, match="call-2"):
        await link.submit(make_task("echo x", session_id="call-2"))
