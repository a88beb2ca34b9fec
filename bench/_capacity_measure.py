"""What the capacity benchmark reads at the edges of each measuring window: CPU time of the
responder's processes and of everything else, their memory, the calls' event-loop lag histogram
from the worker's ``/metrics``, and the delegated tasks' own times from Redis."""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from bench._pool_stack import cpu_of, machine_busy_s, session_events
from bench.worker_dispatch import smaps_mb
from shared.bus._replies import range_entries
from shared.errors import WireFormatError
from shared.keys import Keys
from shared.wire import ResultEvent, StartedEvent, TaskRequest, decode_command

LAG_SERIES = "tandem_responder_event_loop_lag_seconds"


def family(pid: int) -> list[int]:
    """``pid`` and every live process under it (a worker's forkserver and job processes), from
    Linux's ``/proc``."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def talks_to(pid: int, port: int) -> bool:
    """Whether ``pid`` holds a TCP connection to ``port`` on this machine (``/proc/net/tcp``)."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    if not inodes:
        return False
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                return True
    return False


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far, by role, and the machine's busy seconds."""

    at: float
    responder: float
    by_role: dict[str, float]
    machine: float

    @classmethod
    def take(cls, at: float, worker: int, others: Mapping[str, int]) -> CpuSnapshot:
        """Now: the worker and its descendants, each of ``others`` (name to pid), the machine."""
        by_role = cpu_of(dict(others))
        responder = sum(cpu_of({str(pid): pid for pid in family(worker)}).values())
        return cls(at, responder, by_role, machine_busy_s())

    def cores_since(self, before: CpuSnapshot) -> dict[str, float]:
        """Cores used on average between ``before`` and this snapshot: the responder (worker and
        job processes), each other role, and ``other`` (work outside the benchmark)."""
        span = self.at - before.at
        used = {"responder": (self.responder - before.responder) / span}
        for name, value in self.by_role.items():
            used[name] = (value - before.by_role.get(name, value)) / span
        machine = (self.machine - before.machine) / span
        used["other"] = max(0.0, machine - sum(used.values()))
        return {name: round(value, 3) for name, value in used.items()}


def memory(worker: int, fake_port: int) -> dict[str, float]:
    """Memory of the worker and its descendants in MiB: totals (PSS counts shared pages once, so
    its total is what the processes take together), and, for job processes holding a call (a
    socket to the fake Realtime server on ``fake_port``), the median RSS and private (USS)."""
    totals = {"rss": 0.0, "pss": 0.0, "uss": 0.0}
    busy_rss: list[float] = []
    busy_uss: list[float] = []
    pids = family(worker)
    for pid in pids:
        used = smaps_mb(pid)
        for name in totals:
            totals[name] += used[name]
        if pid != worker and talks_to(pid, fake_port):
            busy_rss.append(used["rss"])
            busy_uss.append(used["uss"])
    return {
        "processes": len(pids),
        "rss_total": round(totals["rss"], 1),
        "pss_total": round(totals["pss"], 1),
        "uss_total": round(totals["uss"], 1),
        "worker_rss": round(smaps_mb(worker)["rss"], 1),
        "busy_job_processes": len(busy_uss),
        "busy_job_rss_p50": round(median(busy_rss) if busy_rss else 0.0, 1),
        "busy_job_uss_p50": round(median(busy_uss) if busy_uss else 0.0, 1),
    }


async def lag_buckets(client: httpx.AsyncClient, metrics_url: str) -> dict[float, float]:
    """Cumulative counts of the calls' loop-lag histogram by upper bound (all series summed)."""
    response = await client.get(metrics_url)
    response.raise_for_status()
    buckets: dict[float, float] = {}
    for metric in text_string_to_metric_families(response.text):
        if metric.name != LAG_SERIES:
            continue
        for sample in metric.samples:
            if sample.name == f"{LAG_SERIES}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """The ``q`` quantile (0..1) of the samples observed between two scrapes, interpolated
    linearly inside a bucket as Prometheus's ``histogram_quantile`` does; NaN without samples.
    A quantile in the ``+Inf`` bucket is the highest finite bound."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return math.nan
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def share_above(limit: float, before: dict[float, float], after: dict[float, float]) -> float:
    """The share of the window's samples above ``limit`` (a bucket bound)."""
    total = after.get(math.inf, 0.0) - before.get(math.inf, 0.0)
    within = after.get(limit, 0.0) - before.get(limit, 0.0)
    return (total - within) / total if total > 0 else math.nan


@dataclass(frozen=True)
class TaskTimes:
    """One delegated task as Redis saw it (Unix ms): submitted by the responder, picked up and
    answered by the thinker; ``ref`` is the benchmark turn its request names."""

    ref: str
    created_ms: int
    started_ms: int | None
    result_ms: int | None


async def task_times(redis: Redis, prefix: str, ref: re.Pattern[str]) -> dict[str, TaskTimes]:
    """Every task on the bus under ``prefix`` whose request names a turn (group 1 of ``ref``),
    by that turn's reference."""
    keys = Keys(prefix)
    created: dict[str, tuple[str, int]] = {}
    for _entry_id, fields in range_entries(await redis.xrange(keys.tasks)):
        try:
            command = decode_command(fields)
        except WireFormatError:
            continue
        if isinstance(command, TaskRequest) and (found := ref.search(command.request)):
            created[command.task_id] = (found.group(1), command.created_ms)
    started: dict[str, int] = {}
    answered: dict[str, int] = {}
    for event in await session_events(redis, keys):
        if isinstance(event, StartedEvent):
            started.setdefault(event.task_id, event.ts_ms)
        elif isinstance(event, ResultEvent):
            answered.setdefault(event.task_id, event.ts_ms)
    return {
        turn: TaskTimes(turn, created_ms, started.get(task_id), answered.get(task_id))
        for task_id, (turn, created_ms) in created.items()
    }
