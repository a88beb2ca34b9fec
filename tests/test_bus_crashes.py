"""The bus when things die: workers killed with SIGKILL, poison tasks, Redis restarting (with and
without persistence), and cancellation of a task whose worker died. Workers run in their own
processes here."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.bus import ResponderBus, SessionLink
from shared.bus._replies import range_entries
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.keys import Keys
from shared.redis_client import connect
from shared.wire import ErrorEvent, Event, StartedEvent, TaskRequest
from tests.conftest import (
    WorkerProcesses,
    all_events,
    events_until_final,
    running_worker,
    worker_pid,
)
from tests.fakes.scripted_worker import ScriptedHandler, meet_key, runs_key


def make_task(request: str, timeout_s: float = 60) -> TaskRequest:
    return TaskRequest.create(session_id="call-1", request=request, epoch=1, timeout_s=timeout_s)


PATIENCE_S = 30
"""A ceiling on waiting for what happens by itself (a worker process starting, a lease running
out): generous, so that a busy machine does not fail the test."""


async def first_started(link: SessionLink) -> StartedEvent:
    """The session's next events, which must begin with a started event."""
    async with asyncio.timeout(PATIENCE_S):
        while not (events := await link.read()):
            pass
    started = [e for e in events if isinstance(e, StartedEvent)]
    assert started, f"expected a started event, got {events}"
    return started[0]


async def test_sigkill_mid_task_still_gives_exactly_one_terminal_event(
    redis: Redis, bus: ResponderBus, worker_processes: WorkerProcesses
) -> None:
    worker_processes.spawn()
    worker_processes.spawn()
    link = bus.session("call-1")
    task = make_task("sleep-first 60")
    await link.submit(task)
    started = await first_started(link)
    victim = worker_processes.by_pid(worker_pid(started.worker))
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    events = await events_until_final(link, task.task_id, timeout_s=PATIENCE_S)
    assert [(e.type, e.attempt) for e in events] == [("started", 2), ("result", 2)]
    assert isinstance(events[0], StartedEvent)
    assert worker_pid(events[0].worker) != victim.pid
    everything = await all_events(bus.session("call-1"), settle_s=1.5)
    assert [e.final for e in everything].count(True) == 1


async def test_a_dead_workers_tasks_are_taken_over_together(
    redis: Redis, bus: ResponderBus, worker_processes: WorkerProcesses
) -> None:
    """A worker dies holding several tasks: the survivor runs them at once (each of the five
    waits until all five run, so one after another would never finish), each once more."""
    victim = worker_processes.spawn()
    link = bus.session("call-1")
    tasks = [make_task("meet 5 orphans") for _ in range(5)]
    for task in tasks:
        await link.submit(task)
    events: list[Event] = []
    async with asyncio.timeout(PATIENCE_S):
        while sum(isinstance(e, StartedEvent) for e in events) < len(tasks):
            events.extend(await link.read())  # every task started on the victim
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    worker_processes.spawn()
    async with asyncio.timeout(PATIENCE_S):
        while sum(e.final for e in events) < len(tasks):
            events.extend(await link.read())
    finals = [(e.task_id, e.type, e.attempt) for e in events if e.final]
    assert sorted(finals) == sorted((t.task_id, "result", 2) for t in tasks)
    assert await redis.get(meet_key("orphans")) == str(len(tasks))


async def test_task_three_times_longer_than_the_lease_runs_once(
    redis: Redis, bus: ResponderBus, settings: BusSettings, worker_processes: WorkerProcesses
) -> None:
    worker_processes.spawn()
    worker_processes.spawn()
    link = bus.session("call-1")
    task = make_task(f"sleep {3 * settings.lease_ms / 1000}")
    await link.submit(task)
    events = await events_until_final(link, task.task_id, timeout_s=PATIENCE_S)
    assert [(e.type, e.attempt) for e in events] == [("started", 1), ("result", 1)]
    assert await redis.get(runs_key(task.task_id)) == "1"


async def test_task_that_kills_every_worker_is_dead_lettered_and_the_session_told(
    redis: Redis, bus: ResponderBus, settings: BusSettings, worker_processes: WorkerProcesses
) -> None:
    link = bus.session("call-1")
    task = make_task("crash")
    await link.submit(task)
    final: list[Event] = []
    async with asyncio.timeout(45):  # three crashes and restarts; pytest stops a test at 60 s
        while not final:
            if all(p.poll() is not None for p in worker_processes.processes):
                worker_processes.spawn()  # a supervisor restarting the crashed worker
            final = [e for e in await link.read(block_ms=300) if e.final]
    assert isinstance(final[0], ErrorEvent)
    assert final[0].code == "dead_letter"
    assert await redis.get(runs_key(task.task_id)) == str(settings.max_deliveries)
    dead = range_entries(await redis.xrange(bus.keys.dlq))
    assert [(f["task_id"], f["dlq_reason"]) for _, f in dead] == [(task.task_id, "dead_letter")]
    assert int(dead[0][1]["dlq_deliveries"]) == settings.max_deliveries + 1


async def test_a_dead_letter_says_what_the_task_had_already_done(
    bus: ResponderBus, worker_processes: WorkerProcesses
) -> None:
    """Every attempt booked (the same booking, by its idempotency key), then the worker died:
    the dead letter tells the session the booking was made, once."""
    link = bus.session("call-1")
    task = make_task("book-then-crash TT-4F7K2")
    await link.submit(task)
    final: list[Event] = []
    async with asyncio.timeout(45):
        while not final:
            if all(p.poll() is not None for p in worker_processes.processes):
                worker_processes.spawn()
            final = [e for e in await link.read(block_ms=300) if e.final]
    assert isinstance(final[0], ErrorEvent)
    assert final[0].code == "dead_letter"
    assert final[0].done == ("Booked TT-4F7K2",)


async def test_cancel_is_honoured_after_the_worker_holding_the_task_died(
    redis: Redis, bus: ResponderBus, worker_processes: WorkerProcesses
) -> None:
    first = worker_processes.spawn()
    link = bus.session("call-1")
    task = make_task("sleep-first 60")
    await link.submit(task)
    await first_started(link)
    first.send_signal(signal.SIGKILL)
    first.wait()
    await link.cancel(task.task_id, reason="caller hung up")
    runs_before = await redis.get(runs_key(task.task_id))
    worker_processes.spawn()
    events = await events_until_final(link, task.task_id, timeout_s=PATIENCE_S)
    assert [e.type for e in events] == ["cancelled"]
    assert await redis.get(runs_key(task.task_id)) == runs_before  # the reclaimed copy never ran


async def test_the_bus_survives_redis_restarting_mid_run(settings: BusSettings) -> None:
    with EmbeddedRedis() as server:
        redis = connect(server.url)
        bus = ResponderBus(redis, settings)
        await bus.start()
        link = bus.session("call-1")
        async with running_worker(redis, ScriptedHandler(redis), settings):
            before = make_task("echo before")
            await link.submit(before)
            assert (await events_until_final(link, before.task_id))[-1].type == "result"
            server.stop()
            await asyncio.sleep(0.5)  # the worker's loops now see a dead server
            server.start()  # a fresh, empty Redis on the same socket (no persistence)
            after = make_task("echo after")
            async with asyncio.timeout(PATIENCE_S):
                while True:
                    try:
                        await link.submit(after)
                        break
                    except (RedisConnectionError, OSError):
                        await asyncio.sleep(0.1)
            link.last_id = "0-0"  # the restarted server has a new, empty stream
            events = await events_until_final(link, after.task_id, timeout_s=PATIENCE_S)
        await redis.aclose()
    assert [e.type for e in events] == ["started", "result"]


async def group_progress(redis: Redis, keys: Keys) -> tuple[str, int]:
    """The task group's last delivered entry and how many entries are pending."""
    (group,) = await redis.xinfo_groups(keys.tasks)
    return str(group["last-delivered-id"]), int(group["pending"])


async def until(read: Callable[[], Awaitable[object]], wanted: object) -> None:
    """Poll ``read()`` until it returns ``wanted``: state that other processes change in Redis,
    with nothing to await."""
    async with asyncio.timeout(PATIENCE_S):
        while await read() != wanted:  # noqa: ASYNC110 (another process's state)
            await asyncio.sleep(0.05)


async def finals_of(link: SessionLink, *tasks: TaskRequest) -> None:
    """Read the session until each of ``tasks`` has a terminal event."""
    waiting = {task.task_id for task in tasks}
    async with asyncio.timeout(PATIENCE_S):
        while waiting:
            waiting -= {event.task_id for event in await link.read() if event.final}


def attempts(history: list[Event], task: TaskRequest) -> list[tuple[str, int]]:
    """``(type, attempt)`` of every event of ``task``, in order."""
    return [(e.type, e.attempt) for e in history if e.task_id == task.task_id]


@dataclass
class Restarted:
    """The bus right after Redis restarted mid-run (:func:`redis_restarted_mid_run`)."""

    redis: Redis
    bus: ResponderBus
    link: SessionLink
    workers: WorkerProcesses
    finished: TaskRequest
    in_flight: TaskRequest
    queued: TaskRequest

    async def history(self) -> list[Event]:
        """Every event in the session's stream, from its start."""
        return await all_events(self.bus.session("call-1"), settle_s=1.0)

    async def runs(self) -> list[object]:
        """How many times the handler ran finished, queued and in_flight (counted in Redis)."""
        tasks = (self.finished, self.queued, self.in_flight)
        return [await self.redis.get(runs_key(t.task_id)) for t in tasks]


@asynccontextmanager
async def redis_restarted_mid_run(
    settings: BusSettings, *, persistent: bool
) -> AsyncIterator[Restarted]:
    """One task answered, one queued (not yet delivered) and one in flight, its handler running;
    then Redis stopped with SIGTERM, the in-flight task's worker killed during the outage, and
    Redis started again on the same directory. No worker runs when this yields."""
    finished, in_flight, queued = (
        make_task("echo before"),
        make_task("sleep-first 60"),  # sleeps on attempt 1 only: a redelivery answers at once
        make_task("echo queued"),
    )
    with EmbeddedRedis(persistent=persistent) as server:
        redis = connect(server.url)
        bus = ResponderBus(redis, settings)
        await bus.start()
        link = bus.session("call-1")
        workers = WorkerProcesses(server.url, settings)
        try:
            first = workers.spawn(concurrency=1)  # busy with in_flight, it leaves queued queued
            await link.submit(finished)
            await events_until_final(link, finished.task_id, timeout_s=PATIENCE_S)
            in_flight_entry = await link.submit(in_flight)
            await until(lambda: redis.get(runs_key(in_flight.task_id)), "1")  # handler running
            await link.submit(queued)
            assert await group_progress(redis, bus.keys) == (in_flight_entry, 1)
            server.stop()  # SIGTERM, as a restart does
            first.send_signal(signal.SIGKILL)  # the worker holding in_flight dies meanwhile
            first.wait()
            server.start()
            yield Restarted(redis, bus, link, workers, finished, in_flight, queued)
        finally:
            workers.stop_all()
            await redis.aclose()


async def test_nothing_is_lost_when_redis_restarts_with_append_only_persistence(
    settings: BusSettings,
) -> None:
    """With an append-only file (as deploy/redis.conf; synced on every write here) every task
    ends exactly once, and the done and claims markers still absorb resubmissions."""
    async with redis_restarted_mid_run(settings, persistent=True) as r:
        await r.link.submit(r.finished)  # answered before the restart: the done marker holds
        last_entry = await r.link.submit(r.in_flight)  # pending: the claims marker holds
        second = r.workers.spawn()
        await finals_of(r.link, r.queued, r.in_flight)  # the same link: the events are kept
        await until(lambda: group_progress(r.redis, r.bus.keys), (last_entry, 0))  # all acked
        history, runs = await r.history(), await r.runs()
        dead_letters = await r.redis.xlen(r.bus.keys.dlq)
    assert attempts(history, r.finished) == [("started", 1), ("result", 1)]
    assert attempts(history, r.queued) == [("started", 1), ("result", 1)]
    assert attempts(history, r.in_flight) == [("started", 1), ("started", 2), ("result", 2)]
    redelivered = [e for e in history if e.task_id == r.in_flight.task_id][1]
    assert isinstance(redelivered, StartedEvent)
    assert worker_pid(redelivered.worker) == second.pid
    assert runs == ["1", "1", "2"]
    assert dead_letters == 0


async def test_a_redis_restart_without_persistence_loses_queued_and_in_flight_tasks(
    settings: BusSettings,
) -> None:
    """The embedded default keeps nothing on disk: the queued and in-flight tasks are gone (never
    answered), and so are the markers: a resubmitted answered task runs again."""
    async with redis_restarted_mid_run(settings, persistent=False) as r:
        assert await r.redis.xlen(r.bus.keys.tasks) == 0
        last_entry = await r.link.submit(r.finished)
        r.workers.spawn()
        await finals_of(r.link, r.finished)  # the same link: new event IDs are higher
        await until(lambda: group_progress(r.redis, r.bus.keys), (last_entry, 0))  # all acked
        history, runs = await r.history(), await r.runs()
    assert attempts(history, r.finished) == [("started", 1), ("result", 1)]  # run again
    assert attempts(history, r.queued) == attempts(history, r.in_flight) == []
    assert runs == ["1", None, None]  # counted since the restart
