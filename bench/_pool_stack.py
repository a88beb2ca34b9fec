"""The processes of a pool benchmark run: one Redis, the fake Messages API, N thinkers.

:class:`Stack` starts a private ``redis-server`` (:class:`~shared.embedded_redis.EmbeddedRedis`,
unix socket), the fake (``python -m bench._pool_fake``) and thinker processes exactly as the
product starts them (:class:`~shared.thinker_process.ThinkerProcess`: ``python -m thinker``,
ready once its ``/healthz`` answers 200), and stops every one of them in :meth:`Stack.close`,
which the benchmark runs on any exit it can see (an error, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.thinker_capacity import cpu_s, machine_info, spawn, stop
from shared.bus import ResponderBus
from shared.bus._replies import range_entries
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.errors import WireFormatError
from shared.keys import GROUP, Keys
from shared.redis_client import connect
from shared.thinker_process import ThinkerProcess
from shared.wire import Event, TaskRequest, decode_event

PROFILE = "restaurant"
"""The agent profile every benchmark task names (its tools include ``book_table``)."""
REQUEST = "Is there a table for two at eight tonight?"
"""What a scaling task asks (the fake answers every such request alike)."""
STARTUP_S = 90.0
"""Longest several thinkers may take to start together on a busy 2-core machine."""


class Stack:
    """Redis, the fake and the thinkers of one benchmark run."""

    def __init__(self, fake_args: list[str], lease_ms: int, sweep_ms: int) -> None:
        self.redis_server = EmbeddedRedis()
        self.fake_args = fake_args
        self.lease_ms = lease_ms
        self.sweep_ms = sweep_ms
        self.children: list[subprocess.Popen[bytes]] = []
        self.thinkers: list[ThinkerProcess] = []
        self.logs = Path(tempfile.mkdtemp(prefix="tandem-bench-pool-"))
        self.redis: Redis | None = None
        self.url = ""
        self.fake_url = ""

    async def start(self) -> Redis:
        """Start Redis and the fake; returns a client of that Redis."""
        self.url = self.redis_server.start()
        self.redis = connect(self.url, name="bench-pool")
        fake = spawn(self.children, [sys.executable, "-m", "bench._pool_fake", *self.fake_args])
        assert fake.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(fake.stdout.readline), 30)
        if not line.startswith(b"http"):
            raise RuntimeError(f"the fake Messages API did not start (exit {fake.poll()})")
        self.fake_url = line.decode().strip()
        return self.redis

    @property
    def fake_pid(self) -> int:
        """The fake's process id."""
        return self.children[0].pid

    async def redis_pid(self) -> int:
        """redis-server's process id."""
        assert self.redis is not None
        return int((await self.redis.info("server"))["process_id"])

    async def machine(self) -> dict[str, Any]:
        """What the run is measured on (cores usable by this process included)."""
        assert self.redis is not None
        info = machine_info((await self.redis.info("server"))["redis_version"])
        return info | {"nproc": len(os.sched_getaffinity(0))}

    async def start_thinkers(self, count: int, prefix: str, concurrency: int) -> list[int]:
        """Start ``count`` thinkers on ``prefix`` at once; their pids once every one is ready."""
        env = {
            "ANTHROPIC_API_KEY": "bench",
            "ANTHROPIC_BASE_URL": self.fake_url,
            "TANDEM_BUS_PREFIX": prefix,
            "TANDEM_BUS_CONCURRENCY": str(concurrency),
            "TANDEM_BUS_LEASE_MS": str(self.lease_ms),
            "TANDEM_BUS_SWEEP_INTERVAL_MS": str(self.sweep_ms),
            "TANDEM_THINKER_REQUEST_TIMEOUT_S": "30",
            "TANDEM_LOG_LEVEL": "WARNING",
            "TANDEM_LOG_FORMAT": "text",
        }
        started = [
            ThinkerProcess(self.url, self.logs / f"{prefix}-{i}.log", env) for i in range(count)
        ]
        self.thinkers.extend(started)
        await asyncio.gather(*(asyncio.to_thread(t.start, STARTUP_S) for t in started))
        return [t.process.pid for t in started if t.process is not None]

    def kill(self, pid: int) -> None:
        """SIGKILL the thinker with ``pid`` (no drain, no hand-back: a crash)."""
        for thinker in self.thinkers:
            if thinker.process is not None and thinker.process.pid == pid:
                thinker.process.kill()
                thinker.process.wait()
                return
        raise LookupError(f"no thinker with pid {pid}")

    async def stop_thinkers(self) -> None:
        """SIGTERM every thinker (each drains), SIGKILL any that lingers."""
        thinkers, self.thinkers = self.thinkers, []
        await asyncio.gather(*(asyncio.to_thread(t.stop) for t in thinkers))

    async def close(self) -> None:
        """Stop everything this stack started."""
        with contextlib.suppress(Exception):
            await self.stop_thinkers()
        for child in list(self.children):
            stop(self.children, child)
        if self.redis is not None:
            await self.redis.aclose()
        self.redis_server.close()
        if not any(log.stat().st_size for log in self.logs.iterdir()):
            shutil.rmtree(self.logs, ignore_errors=True)  # the thinkers had nothing to say

    @property
    def kept_logs(self) -> str | None:
        """The thinkers' logs, if any of them wrote something (kept after :meth:`close`)."""
        return str(self.logs) if self.logs.exists() else None


def bus_settings(prefix: str, lease_ms: int, sweep_ms: int) -> BusSettings:
    """The bench's bus settings: the defaults, ``prefix``, lease and sweep; no environment."""
    return BusSettings(_env_file=None, prefix=prefix, lease_ms=lease_ms, sweep_interval_ms=sweep_ms)


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process (0 for one that has exited)."""
    used: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            used[name] = cpu_s(pid)
        except OSError:
            used[name] = 0.0
    return used


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (``/proc/stat``): with the
    benchmark's own processes' CPU subtracted, what other work took from the cores meanwhile."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def drained(redis: Redis, keys: Keys, *, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Wait until every task entry has been delivered and acked (True), or ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        group = next(g for g in await redis.xinfo_groups(keys.tasks) if g["name"] == GROUP)
        last = (await redis.xinfo_stream(keys.tasks))["last-generated-id"]
        if group["pending"] == 0 and group["last-delivered-id"] == last:
            return True
        await asyncio.sleep(poll_s)
    return False


async def session_events(redis: Redis, keys: Keys) -> list[Event]:
    """Every event of every session stream under ``keys.prefix`` (found with SCAN, so a terminal
    event written to any session is counted), each stream in order."""
    pattern = keys.events("*")
    names = [name async for name in redis.scan_iter(match=pattern, count=1000, _type="stream")]
    events: list[Event] = []
    for at in range(0, len(names), 500):
        async with redis.pipeline(transaction=False) as pipe:
            for name in names[at : at + 500]:
                pipe.xrange(name)
            replies = await pipe.execute()
        for reply in replies:
            for _entry_id, fields in range_entries(reply):
                with contextlib.suppress(WireFormatError):
                    events.append(decode_event(fields))
    return events


async def delete_prefix(redis: Redis, patterns: Iterable[str]) -> None:
    """Delete every key matching each pattern (the run's own prefix only)."""
    for pattern in patterns:
        batch = [name async for name in redis.scan_iter(match=pattern, count=1000)]
        for at in range(0, len(batch), 1000):
            await redis.delete(*batch[at : at + 1000])


async def warm_up(bus: ResponderBus, processes: int) -> None:
    """A few tasks per thinker, answered and forgotten: connections made, code paths warm."""
    link = bus.session(f"warmup-{uuid.uuid4().hex[:8]}")
    for _ in range(4 * processes):
        await link.submit(
            TaskRequest.create(
                session_id=link.session_id, request=REQUEST, epoch=0, timeout_s=60, profile=PROFILE
            )
        )
    if not await drained(bus.redis, bus.keys, timeout_s=60.0):
        raise RuntimeError("the thinkers did not answer the warm-up tasks")
    await bus.redis.delete(bus.keys.events(link.session_id))
