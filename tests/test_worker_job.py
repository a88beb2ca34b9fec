"""The production path, end to end: the worker from ``build_server()``, run by the production
runner, takes a call in a real job process from LiveKit's pool (``simulate_job(fake_job=True)``:
everything but the LiveKit server), against the fake Realtime server and a real thinker process
on a real redis-server; SIGTERM drains and the job process exits cleanly."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.embedded_redis import EmbeddedRedis
from shared.thinker_process import ThinkerProcess
from tests.fakes.realtime import Call, FakeRealtime, Reply, ReplyRequest, Say, Script
from tests.worker_process import (
    LoggedProcess,
    clean_env,
    free_port,
    http_get,
    logged_process,
    pid_alive,
)

pytestmark = pytest.mark.timeout(240)

QUESTION = "What time do you open on Friday?"
_CALL_ID = re.compile(r"call id (\S+?)[.,\s]")


def model_policy(request: ReplyRequest) -> Reply | None:
    """The greeting delegates a question (no caller audio reaches a simulated job); a reply the
    floor asks for speaks the task output it names."""
    instructions = request.instructions or ""
    wanted = _CALL_ID.findall(instructions)
    if wanted:
        outputs = {item.call_id: item.output for item in request.conversation if item.output}
        return Reply(Say(" ".join(outputs.get(call_id) or "" for call_id in wanted)))
    if request.trigger == "client" and not any(
        i.type == "function_call" for i in request.conversation
    ):
        return Reply(
            Say("Good evening, let me check that."), Call("delegate", {"request": QUESTION})
        )
    return Reply(Say("Of course."))


def responder_env(
    env: dict[str, str], fake: FakeRealtime, health: int, metrics: int, **extra: str
) -> dict[str, str]:
    """The worker's environment: ``env`` (Redis, bus prefix, profile), the fake Realtime server,
    server turn detection, the health and metrics ports, a 2 s drain, and ``extra``."""
    return (
        env
        | {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake.base_url,
            "TANDEM_RESPONDER_TURN_DETECTION": "server",
            "TANDEM_RESPONDER_HTTP_PORT": str(health),
            "TANDEM_RESPONDER_METRICS_PORT": str(metrics),
            "TANDEM_RESPONDER_DRAIN_S": "2",
        }
        | extra
    )


def _session_tools(session: dict[str, Any]) -> set[str]:
    return {tool.get("name") for tool in session.get("tools", [])}


@dataclass
class RunningWorker:
    """The worker process with simulated jobs, the fake realtime model its calls talk to, and
    its health and metrics ports."""

    worker: LoggedProcess
    fake: FakeRealtime
    health: int
    metrics: int


@asynccontextmanager
async def worker_with_a_thinker(
    tmp_path: Path, redis_url: str, rooms: list[str], **extra: str
) -> AsyncIterator[RunningWorker]:
    """A real thinker and ``python -m tests.fakes.simulated_job ROOMS...`` on one bus (a prefix
    of their own) against the fake realtime model; ``extra``: more worker environment."""
    env = clean_env(
        REDIS_URL=redis_url,
        TANDEM_BUS_PREFIX=f"job{uuid.uuid4().hex[:8]}",
        TANDEM_PROFILE="restaurant",
    )
    health, metrics = free_port(), free_port()
    thinker = ThinkerProcess(redis_url, tmp_path / "thinker.log", env=env)
    async with FakeRealtime(Script(policy=model_policy), strict=False) as fake:
        worker_env = responder_env(env, fake, health, metrics, **extra)
        args = [sys.executable, "-m", "tests.fakes.simulated_job", *rooms]
        await asyncio.to_thread(thinker.start)
        try:
            with logged_process(args, worker_env, tmp_path) as worker:
                yield RunningWorker(worker, fake, health, metrics)
        finally:
            await asyncio.to_thread(thinker.stop)


async def test_a_simulated_job_runs_the_call_in_a_job_process_and_drains_on_sigterm(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    async with worker_with_a_thinker(tmp_path, redis_server.url, ["room-7"]) as running:
        worker, fake = running.worker, running.fake
        health, metrics = running.health, running.metrics
        started = await worker.until_logged("call starting", limit_s=120)
        job_pid = int(started["pid"])
        assert job_pid != worker.pid  # the call runs in a job process of LiveKit's pool

        # the job reached the realtime model with tandem's session
        await fake.wait_until(lambda: "delegate" in _session_tools(fake.session), limit_s=30)
        assert {"delegate", "cancel_request"} <= _session_tools(fake.session)
        assert "call the `delegate` tool" in fake.session.get("instructions", "")

        # the greeting delegated; the thinker's answer came back over Redis and was spoken
        def answered() -> bool:
            return any("Friday" in " ".join(r.said) for r in fake.responses[1:])

        await fake.wait_until(answered, limit_s=60)
        outputs = [i.output or "" for i in fake.conversation if i.type == "function_call_output"]
        assert any("Friday" in output for output in outputs), outputs

        probe = await http_get(f"http://127.0.0.1:{health}/worker")
        assert probe is not None
        assert probe.json()["active_jobs"] == 1
        scrape = await http_get(f"http://127.0.0.1:{metrics}/metrics")
        assert scrape is not None
        assert 'tandem_responder_tasks_total{outcome="answered"} 1.0' in scrape.text
        assert "tandem_responder_calls_active 1.0" in scrape.text.splitlines()
        # job processes' own series reach the merged scrape: memory per pid, the build
        assert f'tandem_responder_job_resident_memory_bytes{{pid="{job_pid}"}}' in (scrape.text)
        assert "tandem_build_info{" in scrape.text
        # and the worker's own process's: LiveKit's count of its running jobs
        assert re.search(r"^lk_agents_active_job_count\{[^}]*\} 1\.0$", scrape.text, re.M)

        status = await worker.stop()
        assert status == 0, worker.text()
        assert worker.find("draining: no new calls; live calls have until the drain timeout to end")
        ended = worker.find("call ended")
        assert [int(record["pid"]) for record in ended] == [job_pid]
        assert not pid_alive(job_pid)
        assert "non-zero exit code" not in worker.text()
        assert "Traceback" not in worker.text()


async def test_with_the_thread_executor_calls_run_in_the_worker_process_and_share_its_series(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    """``TANDEM_RESPONDER_JOB_EXECUTOR=thread``: two calls in job threads of the worker process
    (each prewarmed, with one set of metric series for the process: registering them twice
    would fail the second prewarm), both delegating through the thinker, both ended cleanly on
    SIGTERM."""
    rooms = ["room-a", "room-b"]
    thread = {"TANDEM_RESPONDER_JOB_EXECUTOR": "thread"}
    async with worker_with_a_thinker(tmp_path, redis_server.url, rooms, **thread) as running:
        worker, fake, metrics = running.worker, running.fake, running.metrics
        await worker.until_logged("call started", limit_s=120)

        def both_answered() -> bool:
            spoken = [" ".join(r.said) for r in fake.responses]
            return len(fake.connections) == 2 and sum("Friday" in s for s in spoken) == 2

        await fake.wait_until(both_answered, limit_s=90)
        starting = worker.find("call starting")
        assert [int(record["pid"]) for record in starting] == [worker.pid] * 2

        scrape = await http_get(f"http://127.0.0.1:{metrics}/metrics")
        assert scrape is not None
        lines = scrape.text.splitlines()
        assert 'tandem_responder_tasks_total{outcome="answered"} 2.0' in lines
        assert "tandem_responder_calls_active 2.0" in lines
        memory = [line for line in lines if "job_resident_memory_bytes{" in line]
        assert [line.split("}")[0] for line in memory] == [
            f'tandem_responder_job_resident_memory_bytes{{pid="{worker.pid}"'
        ]

        status = await worker.stop()
        assert status == 0, worker.text()
        assert len(worker.find("call ended")) == 2
        assert "Duplicated timeseries" not in worker.text()
        assert "Traceback" not in worker.text()
