"""A thinker's start-up as an operator sees it (`python -m thinker` in its own process, a
minimal environment, no .env): one line and a non-zero exit when Redis does not answer or the
health port is taken, a prompt exit on SIGTERM while it waits for Redis, and a /healthz that says
200 only while it takes tasks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from shared.embedded_redis import EmbeddedRedis

PATIENCE_S = 45.0
"""Generous: a thinker imports Claude's SDK and the tools first, slow on a busy machine."""

Start = Callable[..., Awaitable[asyncio.subprocess.Process]]


def free_port() -> int:
    """A TCP port nothing listens on now (so connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lines(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if line.strip()]


@pytest.fixture
async def start_thinker(tmp_path: Path) -> AsyncIterator[Start]:
    """Start `python -m thinker` with PATH, HOME and the given variables, in an empty directory."""
    started: list[asyncio.subprocess.Process] = []

    async def start(**env: str) -> asyncio.subprocess.Process:
        base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "thinker",
            cwd=tmp_path,
            env=base | {"TANDEM_THINKER_HTTP_HOST": "127.0.0.1"} | env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def log_line_with(process: asyncio.subprocess.Process, text: str) -> str:
    """The first stderr line containing ``text`` (the process keeps running)."""
    assert process.stderr is not None
    async with asyncio.timeout(PATIENCE_S):
        while line := (await process.stderr.readline()).decode():
            if text in line:
                return line
    raise AssertionError(f"the thinker exited without logging {text!r}")


async def health(port: int) -> int | None:
    """The status of GET /healthz, or None while nothing listens."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code
    except httpx.TransportError:
        return None


@pytest.mark.parametrize("level", ["ERROR", "INFO"])
async def test_an_unreachable_redis_ends_the_thinker_with_one_line(
    start_thinker: Start, level: str
) -> None:
    port = free_port()
    process = await start_thinker(
        REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0",
        TANDEM_REDIS_STARTUP_WAIT_S="1",
        TANDEM_THINKER_HTTP_PORT="0",
        TANDEM_LOG_LEVEL=level,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), PATIENCE_S)
    assert process.returncode == 1
    error = f"Error: cannot reach Redis at 127.0.0.1:{port} (Connection refused)"
    if level == "ERROR":
        assert lines(stderr) == [error]
    else:  # its log says what it was doing, then the same one line ends it
        assert lines(stderr)[-1] == error
        assert b"waiting for Redis" in stderr
    assert b"Traceback" not in stderr
    assert b"hunter2" not in stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_thinker_waiting_for_redis_stops_when_asked(
    start_thinker: Start, sig: signal.Signals
) -> None:
    http_port = free_port()
    process = await start_thinker(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        TANDEM_REDIS_STARTUP_WAIT_S="3600",
        TANDEM_THINKER_HTTP_PORT=str(http_port),
        TANDEM_LOG_FORMAT="json",
    )
    await log_line_with(process, '"waiting for Redis"')
    assert await health(http_port) == 503  # up, but not taking tasks
    process.send_signal(sig)
    assert await asyncio.wait_for(process.wait(), PATIENCE_S) == 0  # far from the hour it waits


async def test_a_taken_health_port_ends_the_thinker_with_one_line(
    start_thinker: Start, redis_server: EmbeddedRedis
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await start_thinker(
            REDIS_URL=redis_server.url, TANDEM_THINKER_HTTP_PORT=str(port)
        )
        _, stderr = await asyncio.wait_for(process.communicate(), PATIENCE_S)
    assert process.returncode == 1
    assert lines(stderr) == [
        f"Error: TANDEM_THINKER_HTTP_PORT: port {port} on 127.0.0.1 is already in use; "
        "choose another, or 0 to turn the health server off"
    ]


async def test_healthz_says_200_once_the_thinker_takes_tasks(
    start_thinker: Start, redis_server: EmbeddedRedis
) -> None:
    http_port = free_port()
    process = await start_thinker(
        REDIS_URL=redis_server.url,
        TANDEM_THINKER_HTTP_PORT=str(http_port),
        TANDEM_BUS_PREFIX="startup-health",
        TANDEM_RESPONDER_PATIENCE_S="99",  # invalid for a responder; no business of a thinker
        TANDEM_LOG_FORMAT="json",
    )
    await log_line_with(process, '"worker started"')
    async with asyncio.timeout(PATIENCE_S):
        while await health(http_port) != 200:  # noqa: ASYNC110 (another process: poll it)
            await asyncio.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), PATIENCE_S) == 0
