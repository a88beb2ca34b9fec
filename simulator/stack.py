"""Everything a simulated call runs on, started the way production starts it: a Redis (the
project's own private ``redis-server`` unless ``REDIS_URL`` is set), a real thinker process
(``python -m thinker``, waited for through its ``/healthz``) per call, and the responder's
per-process models loaded once, by the same function LiveKit's prewarm uses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from livekit.plugins import silero  # noqa: F401  (plugins must register on the main thread)
from pydantic import SecretStr
from redis.asyncio import Redis

from responder.assembly import ProcessModels, load_process_models
from shared.config import Settings
from shared.embedded_redis import EmbeddedRedis
from shared.profile import Profile
from shared.redis_client import check_redis, connect
from shared.thinker_process import ThinkerProcess

_REDIS_WAIT_S = 5.0
"""How long a demo waits for the Redis of ``REDIS_URL`` to answer."""

Progress = Callable[[str], None]
"""Told the name of each loading step as it starts."""


@dataclass
class Stack:
    """Process-wide pieces shared by every call of a demo or evaluation."""

    settings: Settings
    """The settings calls run with (``redis_url`` is the Redis in use, private or not)."""
    redis: Redis
    models: ProcessModels
    embedded: EmbeddedRedis | None

    @property
    def redis_url(self) -> str:
        """The Redis every call and thinker of this stack uses."""
        assert self.settings.redis_url is not None
        return self.settings.redis_url.get_secret_value()

    @property
    def profile(self) -> Profile:
        """The agent profile whose calls are played."""
        return self.models.profile

    @property
    def profile_name(self) -> str:
        """The speech profile (``offline``, ``realtime`` or ``half-cascade``), for reports."""
        return self.settings.responder.mode


def loading_steps(settings: Settings) -> int:
    """How many steps :func:`open_stack` reports for ``settings``."""
    return 1 + (settings.redis_url is None)


@contextlib.asynccontextmanager
async def open_stack(
    settings: Settings, profile: Profile, progress: Progress
) -> AsyncIterator[Stack]:
    """Start Redis and load the models for calls of ``profile``; everything is stopped on exit.
    ``settings`` must name the speech mode to run (see
    :func:`responder.models.resolve_speech_mode`)."""
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        progress("starting a private redis-server")
        embedded = EmbeddedRedis()
        url = await asyncio.to_thread(embedded.start)
        settings = settings.model_copy(update={"redis_url": SecretStr(url)})
    else:  # REDIS_URL: it must answer (one line if not) before anything is loaded
        await check_redis(settings.redis_url.get_secret_value(), timeout_s=_REDIS_WAIT_S)
    try:
        offline = settings.responder.mode == "offline"
        progress(
            "loading the silero VAD, Whisper tiny.en and the hibari voice"
            if offline
            else "loading the silero VAD"
        )
        models = await asyncio.to_thread(load_process_models, settings, profile)
        assert settings.redis_url is not None
        redis = connect(settings.redis_url.get_secret_value(), name="tandem-simulator")
        try:
            yield Stack(settings, redis, models, embedded)
        finally:
            await redis.aclose()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.close)


@contextlib.asynccontextmanager
async def running_thinker(
    stack: Stack, *, prefix: str, think_s: float, log_path: Path
) -> AsyncIterator[ThinkerProcess]:
    """A real thinker process on ``prefix``, taking tasks (its ``/healthz`` says so) when this
    yields; its log goes to ``log_path``. SIGTERM on exit (it drains), then kill if it lingers."""
    thinker = ThinkerProcess(
        stack.redis_url,
        log_path,
        env={
            "TANDEM_PROFILE": str(stack.profile.root),
            "TANDEM_BUS_PREFIX": prefix,
            "TANDEM_THINKER_DEMO_THINK_S": str(think_s),
            "TANDEM_THINKER_DRAIN_S": "2",
        },
    )
    await asyncio.to_thread(thinker.start)
    try:
        yield thinker
    finally:
        await asyncio.to_thread(thinker.stop)
