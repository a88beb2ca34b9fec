"""Fixtures: a real private redis-server (never fakeredis: it breaks blocking stream reads),
bus settings with short leases, and helpers to run workers in-process or as killable processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.bus import ResponderBus, SessionLink, TaskHandler, TaskWorker
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.redis_client import connect
from shared.wire import Event

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One private redis-server for the whole run."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    """A client on an emptied database."""
    client = connect(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def settings() -> BusSettings:
    """Short leases and sweeps so crash recovery happens within a test's patience."""
    return BusSettings(
        _env_file=None,
        prefix=f"t{uuid.uuid4().hex[:8]}",
        lease_ms=600,
        sweep_interval_ms=100,
        block_ms=200,
        concurrency=8,
    )


@pytest.fixture
async def bus(redis: Redis, settings: BusSettings) -> ResponderBus:
    """The responder side of the bus, started."""
    responder_bus = ResponderBus(redis, settings)
    await responder_bus.start()
    return responder_bus


@asynccontextmanager
async def running_worker(
    redis: Redis, handler: TaskHandler, settings: BusSettings, drain_s: float = 1.0
) -> AsyncIterator[TaskWorker]:
    """A :class:`TaskWorker` serving in this event loop for the duration of the block."""
    worker = TaskWorker(redis, handler, settings)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.request_stop(drain_s)
        await asyncio.wait_for(task, timeout=30)


async def events_until_final(link: SessionLink, task_id: str, timeout_s: float = 15) -> list[Event]:
    """Every event of ``task_id`` up to and including its terminal one."""
    collected: list[Event] = []
    async with asyncio.timeout(timeout_s):
        while True:
            for event in await link.read():
                if event.task_id == task_id:
                    collected.append(event)
                    if event.final:
                        return collected


async def all_events(link: SessionLink, settle_s: float = 0.3) -> list[Event]:
    """Every event of the session until none arrives for ``settle_s``."""
    collected: list[Event] = []
    while batch := await link.read(block_ms=int(settle_s * 1000)):
        collected.extend(batch)
    return collected


class WorkerProcesses:
    """Scripted workers in their own processes, so tests can SIGKILL them."""

    def __init__(self, url: str, settings: BusSettings) -> None:
        self.url = url
        self.settings = settings
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, *, concurrency: int | None = None) -> subprocess.Popen[bytes]:
        """Start one more worker process, with ``concurrency`` slots (default: the settings')."""
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.scripted_worker",
                *("--redis-url", self.url, "--prefix", self.settings.prefix),
                *("--lease-ms", str(self.settings.lease_ms)),
                *("--sweep-ms", str(self.settings.sweep_interval_ms)),
                *("--concurrency", str(concurrency or self.settings.concurrency)),
            ],
            cwd=ROOT,
        )
        self.processes.append(process)
        return process

    def by_pid(self, pid: int) -> subprocess.Popen[bytes]:
        """The process with ``pid``."""
        return next(p for p in self.processes if p.pid == pid)

    def stop_all(self) -> None:
        """Kill whatever is still running."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def worker_processes(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> Iterator[WorkerProcesses]:
    """A factory of killable worker processes, all killed at the end of the test."""
    processes = WorkerProcesses(redis_server.url, settings)
    yield processes
    processes.stop_all()


def worker_pid(worker_name: str) -> int:
    """The pid inside a consumer name ``<host>-<pid>-<hex>``."""
    return int(worker_name.rsplit("-", 2)[-2])
