"""The responder's process-level series: job failures counted at the entry point, job process
memory and CPU sampled into multiprocess gauges, and a closed job process's live series
dropped from what LiveKit's ``/metrics`` merges."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import pytest
from livekit.agents import JobContext
from livekit.rtc import EventEmitter
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from responder import worker
from responder.assembly import ProcessModels
from responder.metrics import ResponderMetrics
from responder.process_metrics import JobProcessSampler, forget_closed_processes
from shared.config import Settings
from tests.responder_harness import desk_profile, shared_vad
from tools import ToolRegistry


class RoomThatNeverJoins:
    """A job context whose caller never arrives: the room connection broke."""

    def __init__(self, models: ProcessModels) -> None:
        self.proc = SimpleNamespace(
            userdata={"tandem.settings": Settings(_env_file=None), "tandem.models": models}
        )
        self.job = SimpleNamespace(id="job-1", metadata="")

    async def wait_for_participant(self) -> None:
        raise ConnectionError("room closed")


async def test_an_entry_point_that_raises_is_counted_and_raised_on() -> None:
    metrics = ResponderMetrics()
    async with httpx.AsyncClient() as http:
        models = ProcessModels(
            desk_profile(), shared_vad(), None, metrics, ToolRegistry.discover(), http
        )
        ctx = cast(JobContext, RoomThatNeverJoins(models))
        with pytest.raises(ConnectionError):
            await worker.entrypoint(ctx)
    assert metrics.registry.get_sample_value("tandem_responder_job_failures_total") == 1


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_job_process_samples_its_own_memory_and_cpu() -> None:
    metrics = ResponderMetrics()
    JobProcessSampler(metrics).sample()
    memory = metrics.registry.get_sample_value("tandem_responder_job_resident_memory_bytes")
    cpu = metrics.registry.get_sample_value("tandem_responder_job_cpu_seconds")
    assert memory is not None
    assert memory > 1_000_000
    assert cpu is not None
    assert cpu > 0


JOB_PROCESS = """
from prometheus_client import REGISTRY
from responder.metrics import ResponderMetrics
from responder.process_metrics import JobProcessSampler
metrics = ResponderMetrics(REGISTRY)
JobProcessSampler(metrics).sample()
metrics.job_failures.inc()
metrics.calls_active.inc()
"""


def merged(metrics_dir: Path) -> dict[str, list[tuple[dict[str, str], float]]]:
    """What LiveKit's ``/metrics`` serves in multiprocess mode: the files merged."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in registry.collect():
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_job_process_series_reach_the_merged_scrape_and_leave_with_the_process(
    tmp_path: Path,
) -> None:
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):  # two job processes, each run to its end
        subprocess.run([sys.executable, "-c", JOB_PROCESS], env=env, check=True)
    pids = sorted({int(path.stem.rsplit("_", 1)[1]) for path in tmp_path.glob("gauge_live*")})
    assert len(pids) == 2
    before = merged(tmp_path)
    memory = before["tandem_responder_job_resident_memory_bytes"]
    assert sorted(int(labels["pid"]) for labels, _ in memory) == pids
    assert before["tandem_responder_calls_active"] == [({}, 2.0)]
    assert len(before["tandem_build_info"]) == 1  # one series, whatever the processes
    assert before["tandem_responder_job_failures_total"] == [({}, 2.0)]

    pool = EventEmitter[str]()
    forget_closed_processes(pool, str(tmp_path))
    pool.emit("process_closed", SimpleNamespace(pid=pids[0]))
    after = merged(tmp_path)
    left = after["tandem_responder_job_resident_memory_bytes"]
    assert [int(labels["pid"]) for labels, _ in left] == [pids[1]]
    assert after["tandem_responder_calls_active"] == [({}, 1.0)]  # the closed one's call left
    assert after["tandem_responder_job_failures_total"] == [({}, 2.0)]  # totals stay
