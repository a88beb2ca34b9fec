"""The bus when Redis answers with an error instead of data.

A key of the wrong type where a session's keys should be spoils that session's task only: its entry
is dead-lettered once, other tasks go on, the worker lives. Redis out of memory with
``noeviction`` is an outage: a worker waits (alive, reported unhealthy), keeps its tasks, and
finishes them once memory frees; a worker started meanwhile waits too. Workers run in this event
loop; the thinker started during an outage runs as ``python -m thinker``, probed on ``/healthz``.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

from shared.bus import (
    ResponderBus,
    SessionLink,
    TaskContext,
    TaskHandler,
    TaskOutcome,
    TaskWorker,
)
from shared.bus._replies import range_entries, read_entries, writable
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.errors import UpstreamError
from shared.keys import GROUP, Keys
from shared.redis_client import connect
from shared.wire import Event, TaskRequest, encode
from tests.conftest import ROOT, all_events, events_until_final
from tests.fakes.scripted_worker import ScriptedHandler, runs_key
from tests.worker_process import clean_env, free_port, http_get, logged_process
from thinker.app import _Probe
from thinker.metrics import ThinkerMetrics

PATIENCE_S = 30.0
"""A ceiling on waiting for what happens by itself (a lease running out, a process starting)."""


def make_task(request: str, session_id: str = "call-1") -> TaskRequest:
    return TaskRequest.create(session_id=session_id, request=request, epoch=1, timeout_s=120)


class GatedHandler:
    """``echo TEXT`` answers TEXT; ``gated TEXT`` reports progress and answers it once
    :attr:`gate` is set. Counts its calls in memory: a handler writing to Redis would meet the
    out-of-memory errors itself."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.runs: Counter[str] = Counter()

    async def __call__(self, ctx: TaskContext) -> TaskOutcome:
        self.runs[ctx.task.task_id] += 1
        verb, _, text = ctx.task.request.partition(" ")
        if verb == "gated":
            await self.gate.wait()
            await ctx.progress("almost there")  # best effort: dropped if Redis cannot take it
        return TaskOutcome(text=text)


@asynccontextmanager
async def serving(
    redis: Redis, settings: BusSettings, handler: TaskHandler
) -> AsyncIterator[tuple[TaskWorker, asyncio.Task[None]]]:
    """A worker serving in this event loop, and the task running it (done = the worker exited)."""
    worker = TaskWorker(redis, handler, settings)
    run = asyncio.create_task(worker.run())
    try:
        yield worker, run
    finally:
        worker.request_stop(1.0)
        await asyncio.wait_for(run, timeout=PATIENCE_S)


def alive(run: asyncio.Task[None]) -> None:
    """Fail, saying why, if the worker has exited."""
    if run.done():
        error = None if run.cancelled() else run.exception()
        raise AssertionError(f"the worker exited: {error!r}")


async def until(check: Callable[[], object], run: asyncio.Task[None]) -> None:
    """Wait until ``check()`` (awaited if it returns an awaitable) is true, failing at once if the
    worker exits meanwhile."""
    async with asyncio.timeout(PATIENCE_S):
        while True:
            alive(run)
            verdict = check()
            if await verdict if inspect.isawaitable(verdict) else verdict:
                return
            await asyncio.sleep(0.05)


async def outlives(run: asyncio.Task[None], seconds: float) -> None:
    """The worker is still serving ``seconds`` from now (several leases: longer than a worker
    that gave up on these errors lasted)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        alive(run)
        await asyncio.sleep(0.1)
    alive(run)


async def dead_letters(redis: Redis, keys: Keys) -> list[dict[str, str]]:
    return [fields for _, fields in range_entries(await redis.xrange(keys.dlq))]


async def deliveries(redis: Redis, keys: Keys) -> dict[str, int]:
    """Pending entries of the task stream and how many times each was delivered."""
    pending = await redis.xpending_range(keys.tasks, GROUP, min="-", max="+", count=100)
    return {str(p["message_id"]): int(p["times_delivered"]) for p in pending}


async def first_events(link: SessionLink) -> list[Event]:
    async with asyncio.timeout(PATIENCE_S):
        while not (events := await link.read()):
            pass
    return events


# -- a key of the wrong type -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["done", "claims", "cancels", "events"])
async def test_a_session_key_of_the_wrong_type_dead_letters_that_entry_once_and_work_goes_on(
    redis: Redis, bus: ResponderBus, settings: BusSettings, role: str
) -> None:
    keys = bus.keys
    key_of: Callable[[str], str] = getattr(keys, role)
    await redis.set(key_of("poisoned"), "not a hash, not a stream")
    poisoned = make_task("echo never", session_id="poisoned")
    await redis.xadd(keys.tasks, writable(encode(poisoned)))  # its session could not submit it
    link = bus.session("call-1")
    async with serving(redis, settings, ScriptedHandler(redis)) as (_worker, run):
        await until(lambda: dead_letters(redis, keys), run)
        for n in range(3):
            task = make_task(f"echo task {n}")
            await link.submit(task)
            assert (await events_until_final(link, task.task_id))[-1].type == "result"
        await outlives(run, 4 * settings.lease_ms / 1000)  # no redelivery, no second dead letter
        dead = await dead_letters(redis, keys)
        pending = await deliveries(redis, keys)
    assert [(d["task_id"], d["dlq_reason"], d["dlq_deliveries"]) for d in dead] == [
        (poisoned.task_id, "wrong_type", "1")
    ]
    assert "WRONGTYPE" in dead[0]["dlq_message"]
    assert pending == {}
    assert await redis.get(runs_key(poisoned.task_id)) is None  # never ran
    if role in ("claims", "cancels"):  # its events and done marker work: the session is told
        told = [e for e in await all_events(bus.session("poisoned")) if e.final]
        assert [(e.type, getattr(e, "code", None)) for e in told] == [("error", "dead_letter")]


@pytest.mark.parametrize("role", ["done", "events"])
async def test_a_session_key_turning_to_the_wrong_type_mid_task_dead_letters_it_at_the_answer(
    redis: Redis, bus: ResponderBus, settings: BusSettings, role: str
) -> None:
    keys = bus.keys
    link = bus.session("call-2")
    task = make_task("gated an answer nobody can store", session_id="call-2")
    handler = GatedHandler()
    async with serving(redis, settings, handler) as (_worker, run):
        await link.submit(task)
        assert [e.type for e in await first_events(link)] == ["started"]
        key: str = getattr(keys, role)("call-2")
        await redis.delete(key)
        await redis.set(key, "not a hash, not a stream")
        handler.gate.set()
        await until(lambda: dead_letters(redis, keys), run)
        other = make_task("echo still answering")
        await bus.session("call-1").submit(other)
        events = await events_until_final(bus.session("call-1"), other.task_id)
        assert events[-1].type == "result"
        await outlives(run, 4 * settings.lease_ms / 1000)
        dead = await dead_letters(redis, keys)
        pending = await deliveries(redis, keys)
    assert [(d["task_id"], d["dlq_reason"]) for d in dead] == [(task.task_id, "wrong_type")]
    assert pending == {}
    assert handler.runs[task.task_id] == 1


async def test_a_cancels_key_turning_to_the_wrong_type_mid_task_leaves_the_task_to_finish(
    redis: Redis, bus: ResponderBus, settings: BusSettings
) -> None:
    """Lease renewal reads the cancels key of every running task; the answer does not need it."""
    link = bus.session("call-2")
    task = make_task("gated answered all the same", session_id="call-2")
    handler = GatedHandler()
    async with serving(redis, settings, handler) as (_worker, run):
        await link.submit(task)
        assert [e.type for e in await first_events(link)] == ["started"]
        await redis.set(bus.keys.cancels("call-2"), "not a hash")
        await outlives(run, 3 * settings.lease_ms / 1000)  # a dozen lease renewals
        handler.gate.set()
        events = await events_until_final(link, task.task_id, timeout_s=PATIENCE_S)
        alive(run)
    assert [(e.type, e.attempt) for e in events] == [("progress", 1), ("result", 1)]
    assert await dead_letters(redis, bus.keys) == []


# -- Redis out of memory -----------------------------------------------------------------------


@pytest.fixture
def own_server() -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own: its memory limit and users are changed."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
async def own_redis(own_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    """A client of :func:`own_server`."""
    client = connect(own_server.url)
    yield client
    await client.aclose()


BALLAST = [f"test:ballast:{n}" for n in range(200)]


async def fill_memory(redis: Redis) -> None:
    """Redis at ``maxmemory`` with ``noeviction``: every command that needs memory gets OOM.

    The limit is set 1 MB below what the data uses (2 MB of ballast, written in small pieces so
    that no client buffer shrinking later brings Redis back under it)."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in BALLAST:
            pipe.set(key, "x" * 10_000)
        await pipe.execute()
    used = int((await redis.info("memory"))["used_memory"])
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", used - 1_000_000)
    with pytest.raises(OutOfMemoryError):
        await redis.set("test:probe", "x")


async def free_memory(redis: Redis) -> None:
    await redis.config_set("maxmemory", 0)
    await redis.delete(*BALLAST)


async def test_a_running_worker_waits_while_redis_is_out_of_memory_then_answers_everything(
    own_redis: Redis, settings: BusSettings
) -> None:
    redis = own_redis
    settings = settings.model_copy(update={"lease_ms": 2000, "concurrency": 2})
    lease_s = settings.lease_ms / 1000
    bus = ResponderBus(redis, settings)
    await bus.start()
    keys = bus.keys
    orphan = make_task("echo left by a worker that died", session_id="call-2")
    await bus.session("call-2").submit(orphan)
    taken = await redis.xreadgroup(GROUP, "dead-worker", {keys.tasks: ">"}, count=1)
    orphan_entry = read_entries(taken)[0][0]
    handler = GatedHandler()
    probe = _Probe(ThinkerMetrics(), keys)
    link = bus.session("call-1")
    slow = make_task("gated answered after the outage")
    async with serving(redis, settings, handler) as (worker, run):
        probe.redis, probe.worker = redis, worker
        await until(probe.healthy, run)
        await link.submit(slow)
        started = await first_events(link)
        # the dead worker's last lease renewal, then Redis runs out of memory
        await redis.xclaim(keys.tasks, GROUP, "dead-worker", 0, [orphan_entry], justid=True)
        await fill_memory(redis)
        handler.gate.set()  # its progress and its answer are ready; Redis refuses to store them
        # the sweep takes the orphan over (XAUTOCLAIM needs no memory); its PICKUP is refused
        await until(lambda: owner_of(redis, keys, orphan_entry, worker.consumer), run)
        await outlives(run, 4 * lease_s)
        assert worker.running
        assert worker.waiting_for_redis
        assert not await probe.healthy()  # /healthz: 503
        assert sorted((await deliveries(redis, keys)).values()) == [1, 2]  # no redelivery
        assert handler.runs == {slow.task_id: 1}
        await free_memory(redis)
        slow_events = await events_until_final(link, slow.task_id, timeout_s=PATIENCE_S)
        orphan_events = await events_until_final(
            bus.session("call-2"), orphan.task_id, timeout_s=PATIENCE_S
        )
        await until(probe.healthy, run)
        pending = await deliveries(redis, keys)
    assert [(e.type, e.attempt) for e in started + slow_events] == [
        ("started", 1),
        ("result", 1),  # the progress was dropped; the answer was kept until Redis took it
    ]
    assert [(e.type, e.attempt) for e in orphan_events] == [("started", 2), ("result", 2)]
    assert handler.runs == {slow.task_id: 1, orphan.task_id: 1}
    assert pending == {}
    assert await dead_letters(redis, keys) == []


async def owner_of(redis: Redis, keys: Keys, entry_id: str, consumer: str) -> bool:
    pending = await redis.xpending_range(keys.tasks, GROUP, min=entry_id, max=entry_id, count=1)
    return bool(pending) and pending[0]["consumer"] == consumer


async def test_a_worker_started_while_redis_is_out_of_memory_waits_then_serves(
    own_redis: Redis, settings: BusSettings
) -> None:
    redis = own_redis
    bus = ResponderBus(redis, settings)
    await bus.start()
    link = bus.session("call-1")
    task = make_task("echo queued before the outage")
    await link.submit(task)
    await fill_memory(redis)
    async with serving(redis, settings, GatedHandler()) as (worker, run):
        await outlives(run, 4 * settings.lease_ms / 1000)
        assert worker.waiting_for_redis
        assert not worker.running  # joining the group needs memory: /healthz says 503
        await free_memory(redis)
        events = await events_until_final(link, task.task_id, timeout_s=PATIENCE_S)
        await until(lambda: worker.running and not worker.waiting_for_redis, run)
    assert [(e.type, e.attempt) for e in events] == [("started", 1), ("result", 1)]


@pytest.mark.timeout(180)
async def test_a_thinker_started_while_redis_is_out_of_memory_stays_up_unhealthy_then_serves(
    own_server: EmbeddedRedis, own_redis: Redis, settings: BusSettings
) -> None:
    redis = own_redis
    bus = ResponderBus(redis, settings)
    await bus.start()
    await fill_memory(redis)
    port = free_port()
    env = clean_env(
        REDIS_URL=own_server.url,
        TANDEM_BUS_PREFIX=settings.prefix,
        TANDEM_BUS_LEASE_MS=str(settings.lease_ms),
        TANDEM_THINKER_HTTP_PORT=str(port),
    )
    healthz = f"http://127.0.0.1:{port}/healthz"
    with logged_process([sys.executable, "-m", "thinker"], env, ROOT) as thinker:

        async def health() -> int | None:
            assert thinker.process.poll() is None, f"the thinker exited:\n{thinker.text()}"
            response = await http_get(healthz)
            return None if response is None else response.status_code

        async def health_until(wanted: Callable[[int | None], bool], limit_s: float) -> int | None:
            async with asyncio.timeout(limit_s):
                while True:
                    if wanted(status := await health()):
                        return status
                    await asyncio.sleep(0.1)

        # a thinker process takes seconds to start
        assert await health_until(lambda status: status is not None, 120) == 503
        for _ in range(30):  # three seconds and more: up, and unhealthy
            assert await health() == 503
            await asyncio.sleep(0.1)
        await free_memory(redis)
        await health_until(lambda status: status == 200, PATIENCE_S)
        link = bus.session("call-1")
        task = TaskRequest.create(
            session_id="call-1",
            request="what time is it in Tokyo?",
            epoch=1,
            timeout_s=60,
            profile="restaurant",
        )
        await link.submit(task)
        events = await events_until_final(link, task.task_id, timeout_s=PATIENCE_S)
        assert events[-1].type == "result"
        assert await thinker.stop() == 0
        assert thinker.find("waiting for Redis; retrying")


# -- an error no wait cures --------------------------------------------------------------------


async def test_an_error_no_wait_cures_stops_the_worker_with_one_line_and_no_secret(
    own_server: EmbeddedRedis, own_redis: Redis, settings: BusSettings
) -> None:
    """A Redis user that may not run the bus's scripts (NOPERM) stops the worker; it says so
    without the reply's text, which quotes the session's keys."""
    redis = own_redis
    bus = ResponderBus(redis, settings)
    await bus.start()
    await redis.acl_setuser(
        "thinker",
        enabled=True,
        passwords=["+s3cret-pass"],
        keys=["*"],
        commands=["+@all", "-evalsha"],
    )
    limited = connect(own_server.url.replace("unix://", "unix://thinker:s3cret-pass@"))
    task = make_task("echo never answered", session_id="secret-session")
    await bus.session("secret-session").submit(task)
    try:
        worker = TaskWorker(limited, GatedHandler(), settings)
        with pytest.raises(UpstreamError) as stopped:
            await asyncio.wait_for(worker.run(), PATIENCE_S)
    finally:
        await limited.aclose()
    line = str(stopped.value)
    assert "NOPERM" in line
    assert "\n" not in line
    assert "secret-session" not in line
    assert "s3cret" not in line
    assert not stopped.value.retryable
    assert await all_events(bus.session("secret-session")) == []  # it waits for a worker
