"""Everything a simulated call runs on, started the way production starts it: a Redis (the
project's own private ``redis-server`` unless ``REDIS_URL`` is set), a real thinker process
(``python -m thinker``) per call, and the responder's speech models loaded once per process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from livekit.agents import vad
from livekit.plugins import silero  # noqa: F401  (plugins must register on the main thread)
from redis.asyncio import Redis

from responder.models import OfflineSpeech, load_offline_speech, profile_vad
from shared.config import Settings
from shared.embedded_redis import EmbeddedRedis
from shared.errors import ConfigError
from shared.redis_client import connect

THINKER_START_S = 30.0
"""Longest a thinker process may take to join the task group."""

_READY = '"message": "worker started"'
"""The thinker's log line once its worker takes tasks."""

Progress = Callable[[str], None]
"""Told the name of each loading step as it starts."""


@dataclass
class Stack:
    """Process-wide pieces shared by every call of a demo or evaluation."""

    settings: Settings
    redis_url: str
    redis: Redis
    vad: vad.VAD
    offline: OfflineSpeech | None
    """The offline speech models (None when the realtime model is used)."""
    embedded: EmbeddedRedis | None

    @property
    def profile_name(self) -> str:
        """``offline`` or the realtime mode, for reports."""
        return "offline" if self.offline is not None else self.settings.responder.mode


def loading_steps(settings: Settings) -> int:
    """How many steps :func:`open_stack` reports for ``settings``."""
    return 1 + (settings.redis_url is None) + (settings.openai_api_key is None)


@contextlib.asynccontextmanager
async def open_stack(settings: Settings, progress: Progress) -> AsyncIterator[Stack]:
    """Start Redis and load the models; everything is stopped on exit."""
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        progress("starting a private redis-server")
        embedded = EmbeddedRedis()
        url = await asyncio.to_thread(embedded.start)
    try:
        progress("loading the silero VAD")
        vad_model = await asyncio.to_thread(profile_vad, settings)
        offline = None
        if settings.openai_api_key is None:
            progress("loading Whisper tiny.en and the hibari voice")
            offline = await asyncio.to_thread(load_offline_speech)
        redis = connect(url, name="tandem-simulator")
        try:
            yield Stack(settings, url, redis, vad_model, offline, embedded)
        finally:
            await redis.aclose()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.close)


@contextlib.asynccontextmanager
async def running_thinker(
    stack: Stack, *, prefix: str, think_s: float, log_path: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A real thinker process on ``prefix``, ready (in the task group) when this yields; its
    log goes to ``log_path``. SIGTERM on exit (it drains), then kill if it lingers."""
    env = {
        **os.environ,
        "REDIS_URL": stack.redis_url,
        "TANDEM_BUS_PREFIX": prefix,
        "TANDEM_THINKER_DEMO_THINK_S": str(think_s),
        "TANDEM_THINKER_HTTP_PORT": "0",
        "TANDEM_THINKER_DRAIN_S": "2",
    }
    process = await asyncio.to_thread(_spawn_thinker, env, log_path)
    try:
        await _joined(process, log_path)
        yield process
    finally:
        await asyncio.to_thread(_stop, process)


def _spawn_thinker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "thinker"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _ready(log_path: Path) -> bool:
    return _READY in log_path.read_text(encoding="utf-8", errors="replace")


async def _joined(process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until the thinker's log says its worker loops run (Redis keeps no record of an idle
    consumer before it has read a task)."""
    deadline = time.monotonic() + THINKER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"the thinker exited at start; see {log_path}: {_tail(log_path)}")
        if await asyncio.to_thread(_ready, log_path):
            return
        await asyncio.sleep(0.05)
    raise ConfigError(f"the thinker did not start in {THINKER_START_S:g} s; see {log_path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 3) -> str:
    with contextlib.suppress(OSError):
        text = path.read_text(encoding="utf-8", errors="replace")
        return " | ".join(line.strip() for line in text.splitlines()[-lines:])
    return ""
