"""The thinker's backlog gauges against a real redis-server: what ``read_backlog`` sees of the
``thinkers`` group, and what a scrape of ``/metrics`` shows, also when Redis does not answer."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from shared.build_info import build_labels
from shared.bus import Backlog, ResponderBus, read_backlog
from shared.bus._replies import range_entries
from shared.keys import GROUP, Keys
from shared.redis_client import connect
from shared.wire import TaskRequest
from tests.worker_process import free_port
from thinker.app import _Probe
from thinker.metrics import HealthServer, ThinkerMetrics

TASKS = 3


def make_task(n: int) -> TaskRequest:
    return TaskRequest.create(session_id="call-1", request=f"question {n}", epoch=1, timeout_s=60)


async def submit(bus: ResponderBus, count: int) -> None:
    link = bus.session("call-1")
    for n in range(count):
        await link.submit(make_task(n))


async def reports_lag(redis: Redis) -> bool:
    """Whether this Redis has the group ``lag`` field (7.0 and newer)."""
    major = int(str((await redis.info("server"))["redis_version"]).split(".")[0])
    return major >= 7


async def until(
    read: Callable[[], Awaitable[Backlog]], check: Callable[[Backlog], bool]
) -> Backlog:
    async with asyncio.timeout(10):
        while not check(backlog := await read()):  # noqa: ASYNC110 (state in Redis: poll it)
            await asyncio.sleep(0.01)
    return backlog


def scraped(text: str) -> dict[str, float]:
    """Every sample of an exposition, by name and labels."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


async def test_tasks_no_thinker_has_read_are_lag_not_pending(
    redis: Redis, bus: ResponderBus
) -> None:
    await submit(bus, TASKS)
    backlog = await read_backlog(redis, bus.keys)
    assert backlog.pending == 0
    assert backlog.oldest_pending_age_s is None
    assert backlog.lag == (TASKS if await reports_lag(redis) else None)  # None: Redis 6.2


async def test_tasks_read_but_not_acknowledged_are_pending_and_age(
    redis: Redis, bus: ResponderBus
) -> None:
    await submit(bus, TASKS)
    await redis.xreadgroup(GROUP, "a-thinker", {bus.keys.tasks: ">"}, count=TASKS)
    backlog = await until(
        lambda: read_backlog(redis, bus.keys), lambda b: (b.oldest_pending_age_s or 0) > 0
    )
    assert backlog.pending == TASKS
    assert backlog.lag == (0 if await reports_lag(redis) else None)
    entry_ids = [entry_id for entry_id, _ in range_entries(await redis.xrange(bus.keys.tasks))]
    await redis.xack(bus.keys.tasks, GROUP, *entry_ids)
    cleared = await read_backlog(redis, bus.keys)
    assert (cleared.pending, cleared.oldest_pending_age_s) == (0, None)


async def test_no_stream_yet_is_an_empty_backlog_and_no_group_an_unknown_lag(redis: Redis) -> None:
    keys = Keys("nothing-yet")
    assert await read_backlog(redis, keys) == Backlog(0, 0, None, 0)
    await redis.xadd(keys.tasks, {"v": "1"})
    assert await read_backlog(redis, keys) == Backlog(0, None, None, 0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def scrape(probe: _Probe, http: httpx.AsyncClient) -> dict[str, float]:
    server = HealthServer(probe.metrics, probe.healthy, probe.before_scrape)
    await server.start("127.0.0.1", 0)
    try:
        response = await http.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        await server.stop()
    assert response.status_code == 200
    return scraped(response.text)


async def test_a_scrape_shows_the_backlog(
    redis: Redis, bus: ResponderBus, http: httpx.AsyncClient
) -> None:
    await submit(bus, TASKS)
    await redis.xreadgroup(GROUP, "a-thinker", {bus.keys.tasks: ">"}, count=1)
    await redis.xadd(bus.keys.dlq, {"dlq_reason": "test"})
    probe = _Probe(ThinkerMetrics(), bus.keys)
    probe.redis = redis
    values = await scrape(probe, http)
    assert values["tandem_bus_pending_tasks"] == 1
    assert values["tandem_bus_dead_letters"] == 1
    assert values["tandem_bus_oldest_pending_age_seconds"] >= 0
    lag = values["tandem_bus_group_lag"]
    assert lag == TASKS - 1 if await reports_lag(redis) else math.isnan(lag)
    assert values["process_resident_memory_bytes"] > 0
    labels = ",".join(f"{k}={v}" for k, v in sorted(build_labels().items()))
    assert values[f"tandem_build_info{{{labels}}}"] == 1
    assert "version=unknown" not in labels  # the installed tandem-voice distribution was found


async def test_redis_failing_during_a_scrape_leaves_metrics_up_and_the_backlog_unknown(
    redis: Redis, bus: ResponderBus, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    probe = _Probe(ThinkerMetrics(), bus.keys)
    probe.redis = redis
    await submit(bus, 1)
    assert (await scrape(probe, http))["tandem_bus_dead_letters"] == 0
    secret = "hunter2-not-logged"
    dead = connect(f"redis://:{secret}@127.0.0.1:{free_port()}/0")
    probe.redis = dead
    try:
        with caplog.at_level(logging.INFO, logger="tandem.thinker"):
            first = await scrape(probe, http)
            second = await scrape(probe, http)
    finally:
        await dead.aclose()
    for values in (first, second):
        for name in (
            "tandem_bus_pending_tasks",
            "tandem_bus_group_lag",
            "tandem_bus_oldest_pending_age_seconds",
            "tandem_bus_dead_letters",
        ):
            assert math.isnan(values[name]), name
    assert second["tandem_thinker_errors_total{kind=metrics_redis}"] == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the first failure in a row, not every scrape
    # what the thinker logged of the failure (other records, such as the metrics server's
    # "listening on 127.0.0.1", are not about it)
    about_it = [r for r in caplog.records if r.name == "tandem.thinker"]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in about_it)
    assert secret not in logged
    assert "127.0.0.1" not in logged

    probe.redis = redis  # Redis answers again: values come back
    assert (await scrape(probe, http))["tandem_bus_pending_tasks"] == 0
