"""``tandem responder start`` as a user starts it: it registers with LiveKit (a protocol fake of
its agent endpoint), its job processes initialise, it says so once per line in tandem's format,
and its health endpoint is 200 only while it can take a call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from responder.runner import serve
from responder.worker import build_server
from shared.config import ResponderSettings, Settings
from shared.embedded_redis import EmbeddedRedis
from tests.fakes.livekit_server import FakeLiveKit
from tests.worker_process import (
    TANDEM,
    LoggedProcess,
    clean_env,
    free_port,
    http_get,
    logged_process,
)

pytestmark = pytest.mark.timeout(180)

SECRET = "a-livekit-secret-long-enough-for-hs256-signing"


def start_env(livekit: FakeLiveKit, redis_url: str, health: int, **extra: str) -> dict[str, str]:
    return clean_env(
        LIVEKIT_URL=livekit.url,
        LIVEKIT_API_KEY="devkey",
        LIVEKIT_API_SECRET=SECRET,
        OPENAI_API_KEY="sk-test",
        REDIS_URL=redis_url,
        TANDEM_BUS_PREFIX=f"start{uuid.uuid4().hex[:6]}",
        TANDEM_RESPONDER_HTTP_PORT=str(health),
        TANDEM_RESPONDER_METRICS_PORT=str(free_port()),
        TANDEM_RESPONDER_AGENT_NAME="front-desk",
        TANDEM_PROFILE="restaurant",
        **extra,
    )


async def health_of(port: int) -> tuple[int, str] | None:
    response = await http_get(f"http://127.0.0.1:{port}/")
    return None if response is None else (response.status_code, response.text)


async def worker_summary(port: int) -> dict[str, Any]:
    response = await http_get(f"http://127.0.0.1:{port}/worker")
    return {} if response is None else dict(response.json())


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as the kernel lists them) of TCP sockets listening on ``port``
    on this machine (Linux: ``/proc/net/tcp`` and ``tcp6``)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


async def until_summary(worker: LoggedProcess, port: int, key: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal summary
        summary = await worker_summary(port)
        return bool(summary.get(key))

    deadline = asyncio.get_running_loop().time() + 120
    while not await check():
        if worker.process.poll() is not None or asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"/worker never had {key}: {summary}\n{worker.text()}")
        await asyncio.sleep(0.1)
    return summary


async def test_start_registers_initialises_its_job_processes_and_is_healthy(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    health = free_port()
    async with FakeLiveKit() as livekit:
        env = start_env(livekit, redis_server.url, health)
        with logged_process([str(TANDEM), "responder", "start"], env, tmp_path) as worker:
            summary = await until_summary(worker, health, "healthy")
            assert summary["registered"]
            assert summary["processes_ready"] >= 1
            assert await health_of(health) == (200, "ok")
            assert [r.agent_name for r in livekit.registrations] == ["front-desk"]
            output = worker.text()
            for failure in ("pickle", "timed out waiting for idle processes", "error initializing"):
                assert failure not in output
            # LiveKit's lines, once each, in tandem's JSON format
            assert len(worker.find("starting worker")) == 1
            assert len(worker.find("registered worker")) == 1
            assert all({"ts", "level", "logger", "message"} <= set(line) for line in worker.lines)
            assert SECRET not in output
            # the worker process's own series (LiveKit's) are in the merged scrape, not only
            # its job processes'
            metrics = int(env["TANDEM_RESPONDER_METRICS_PORT"])
            scrape = await http_get(f"http://127.0.0.1:{metrics}/metrics")
            assert scrape is not None
            assert "lk_agents_proc_initialize_duration_seconds_count{" in scrape.text
            assert "lk_agents_child_process_count{" in scrape.text
            # both ports answer on every interface, not loopback only: Prometheus and probes
            # reach the worker from another machine, pod or container
            for port in (health, metrics):
                assert listening_addresses(port) & {"00000000", "0" * 32}, port
            assert await worker.stop() == 0


async def test_health_is_503_while_the_worker_is_not_registered(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    health = free_port()
    async with FakeLiveKit(refuse=True) as livekit:
        env = start_env(livekit, redis_server.url, health)
        with logged_process([str(TANDEM), "responder", "start"], env, tmp_path) as worker:
            summary = await until_summary(worker, health, "processes_ready")
            assert not summary["registered"]
            # its job processes can be ready before it first tries LiveKit (a busy machine)
            await asyncio.wait_for(livekit.handshake_seen.wait(), 120)
            assert await health_of(health) == (503, "not registered with LiveKit")
            assert await worker.stop() == 0


def unpicklable_prewarm_server(health: int, redis_url: str) -> Any:
    settings = Settings(
        _env_file=None,
        redis_url=redis_url,
        openai_api_key="sk-test",
        profile="restaurant",
        responder=ResponderSettings(_env_file=None, http_port=health, metrics_port=0),
    )
    server = build_server(settings)
    server.setup_fnc = lambda _proc: None  # the job pool cannot pickle this for a job process
    return server


@pytest.fixture
async def broken_worker(redis_server: EmbeddedRedis) -> AsyncIterator[int]:
    """A worker whose job processes can never start, running in this test's loop; its health
    port."""
    health = free_port()
    server = unpicklable_prewarm_server(health, redis_server.url)
    running = asyncio.create_task(serve(server, register=False))
    try:
        yield health
    finally:
        await server.aclose()
        await asyncio.wait_for(running, 60)


async def test_health_is_503_while_job_processes_fail_to_initialise(broken_worker: int) -> None:
    reply: tuple[int, str] | None = None
    for _ in range(600):
        reply = await health_of(broken_worker)
        if reply is not None and "fail to initialise" in reply[1]:
            break
        await asyncio.sleep(0.1)
    assert reply is not None
    assert reply[0] == 503
    assert reply[1].startswith("job processes fail to initialise")


async def test_dev_with_only_livekit_settings_runs_its_own_stack_offline(tmp_path: Path) -> None:
    health = free_port()
    async with FakeLiveKit() as livekit:
        env = clean_env(
            LIVEKIT_URL=livekit.url,
            LIVEKIT_API_KEY="devkey",
            LIVEKIT_API_SECRET=SECRET,
            TANDEM_RESPONDER_HTTP_PORT=str(health),
            TANDEM_RESPONDER_METRICS_PORT="0",
        )
        with logged_process([str(TANDEM), "responder", "dev"], env, tmp_path) as worker:
            summary = await until_summary(worker, health, "healthy")
            assert summary["registered"]
            notices = [line for line in worker.raw if "REDIS_URL is not set" in line]
            assert len(notices) == 1
            assert "a private Redis and a thinker" in notices[0]
            offline = [r for r in worker.lines if "OFFLINE speech profile" in r.get("message", "")]
            assert len(offline) == 1  # said, once
            assert await worker.stop() == 0
