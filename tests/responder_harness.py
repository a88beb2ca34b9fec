"""A whole call without LiveKit or keys, assembled by the production
:func:`~responder.assembly.assemble_call`: the real ``AgentSession`` and ``RealtimeModel`` against
the fake Realtime server, the caller's synthesized voice in through ``CallerAudioInput``, the
agent's audio out through ``CapturingAudioOutput``, and a real thinker (``TaskWorker`` +
``ThinkerHandler``, scripted brain, real tools) on a real redis-server."""

from __future__ import annotations

import asyncio
import functools
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from livekit.agents import vad
from redis.asyncio import Redis

from responder.assembly import ProcessModels, RoomlessAudio, assemble_call
from responder.call import Call
from responder.metrics import ResponderMetrics
from responder.models import load_vad
from responder.pcm import to_int16
from shared.config import BusSettings, ResponderSettings, Settings
from shared.profile import Profile, load_profile
from simulator.audio_io import CallerAudioInput, CapturingAudioOutput
from tests.conftest import running_worker
from tests.fakes.realtime import (
    FakeRealtime,
    Reply,
    ReplyRequest,
    Say,
    Script,
    by_user_text,
    first_of,
    speak_quoted_instructions,
)
from tests.fakes.timed_brain import TimedBrain, slow_lookup
from thinker.handler import ThinkerHandler
from thinker.metrics import ThinkerMetrics
from tools import ToolRegistry

_CALL_ID = re.compile(r"call id (\S+?)[.,\s]")


def speak_referenced_outputs(request: ReplyRequest) -> Reply | None:
    """Speak the task answers the floor's instructions point at (tool outputs, by call id)."""
    wanted = _CALL_ID.findall(request.instructions or "")
    outputs = {item.call_id: item.output for item in request.conversation if item.output}
    said = [outputs[call_id] for call_id in wanted if outputs.get(call_id)]
    return Reply(Say(" ".join(s for s in said if s))) if said else None


def honest_notices(request: ReplyRequest) -> Reply | None:
    """What the model says for a failed task or one running long."""
    instructions = request.instructions or ""
    if "could not be finished" in instructions:
        return Reply(Say("Sorry, I could not get that done just now. Shall I try again?"))
    if "cannot be done" in instructions:
        return Reply(Say("Sorry, I can't get that done. Can I take a message?"))
    if "taking longer than it should" in instructions:
        return Reply(Say("This is taking a little longer. I will tell you as soon as I have it."))
    return None


def agent_policy(replies: dict[str, Reply]) -> Script:
    """A script: the model answers caller turns from ``replies`` (by words heard) and speaks
    what the floor asks for like a model following tandem's instructions would."""
    return Script(
        policy=by_user_text(
            replies,
            otherwise=first_of(speak_referenced_outputs, honest_notices, speak_quoted_instructions),
        )
    )


@functools.cache
def caller_voice(text: str) -> np.ndarray[Any, np.dtype[np.int16]]:
    """``text`` spoken by the offline TTS at 24 kHz (real speech, so silero hears it)."""
    return to_int16(np.concatenate(list(_tts().stream(text, seed=7))))


@functools.cache
def _tts() -> Any:
    from hibari import Hibari

    return Hibari(threads=1)


TEST_PROFILE = Path(__file__).parent / "data" / "profiles" / "test-desk"
"""A small generic front desk: the profile whole-call tests run with."""


@functools.cache
def desk_profile() -> Profile:
    """The test profile, loaded once."""
    return load_profile(TEST_PROFILE)


@functools.cache
def shared_vad() -> vad.VAD:
    """One silero VAD for the whole test run (what prewarm does per process)."""
    return load_vad()


@dataclass
class CallUnderTest:
    """One running call and everything around it."""

    call: Call
    caller: CallerAudioInput
    speaker: CapturingAudioOutput
    fake: FakeRealtime
    brain: TimedBrain
    events: list[dict[str, Any]] = field(default_factory=list)

    async def say(self, text: str, *, heard_as: str | None = None) -> None:
        """The caller says ``text``; the fake's transcript of it is ``heard_as`` (or ``text``)."""
        self.fake.script.hears.append(heard_as or text)
        await self.caller.say(caller_voice(text))

    def start_saying(self, text: str, *, heard_as: str | None = None) -> None:
        """Like :meth:`say`, without waiting for the caller to finish."""
        self.fake.script.hears.append(heard_as or text)
        self.caller.play(caller_voice(text))

    async def until(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 20
    ) -> None:
        """Wait until ``predicate(events)`` holds."""
        deadline = time.monotonic() + timeout_s
        while not predicate(self.events):
            if time.monotonic() > deadline:
                names = [(e["event"], e.get("kind") or e.get("text")) for e in self.events]
                raise AssertionError(f"condition not reached; events: {names}")
            await asyncio.sleep(0.02)

    async def until_event(self, name: str, count: int = 1, **fields: Any) -> None:
        """Wait for ``count`` events called ``name`` whose fields match."""
        await self.until(lambda events: len(self.find(name, **fields)) >= count)

    def find(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        """The events called ``name`` whose fields match ``fields``."""
        return [
            e
            for e in self.events
            if e["event"] == name and all(e.get(k) == v for k, v in fields.items())
        ]

    async def agent_playing_started(self) -> None:
        """Wait until the agent's audio is playing."""
        await self.until(lambda _: self.speaker.playing, timeout_s=10)

    async def agent_stopped(self) -> None:
        """Wait until the agent's audio is not playing."""
        await self.until(lambda _: not self.speaker.playing, timeout_s=15)

    async def quiet(self, settle_s: float = 0.8, timeout_s: float = 30) -> None:
        """Wait until nothing has played and nothing was pending for ``settle_s``."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            busy = (
                self.speaker.playing
                or bool(self.call.floor.pending)
                or bool(self.call.delegator.tasks.running())
                or self.caller.speaking
            )
            now = time.monotonic()
            quiet_since = None if busy else (quiet_since or now)
            if quiet_since is not None and now - quiet_since >= settle_s:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the call never went quiet")

    def agent_said(self) -> list[str]:
        """Every text the fake model spoke, in order (including ones cut off)."""
        return [text for response in self.fake.responses for text in response.said]


def responder_settings(**overrides: Any) -> ResponderSettings:
    """Responder settings for tests: server VAD, quick patience, no env file, no nudges within a
    test unless ``idle_nudge_s`` is given."""
    values: dict[str, Any] = {
        "turn_detection": "server",
        "metrics_port": 0,
        "idle_nudge_s": 120.0,
    } | overrides
    return ResponderSettings(_env_file=None, **values)


def call_settings(redis_url: str, bus_settings: BusSettings) -> Settings:
    """The settings of a test call assembled the production way, without a model server."""
    return Settings(
        _env_file=None, redis_url=redis_url, bus=bus_settings, responder=responder_settings()
    )


def process_models(http: httpx.AsyncClient) -> ProcessModels:
    """What a test call's process shares: the test profile, the shared VAD, the tools."""
    return ProcessModels(
        desk_profile(), shared_vad(), None, ResponderMetrics(), ToolRegistry.discover(), http
    )


@asynccontextmanager
async def call_under_test(
    redis: Redis,
    redis_url: str,
    bus_settings: BusSettings,
    script: Script,
    brain: TimedBrain,
    *,
    greet: bool = False,
    **responder_overrides: Any,
) -> AsyncIterator[CallUnderTest]:
    """A started call; on exit the call is ended and the fake checked for unscripted requests."""
    registry = ToolRegistry.discover()
    registry.tools[slow_lookup.name] = slow_lookup
    async with (
        FakeRealtime(script, silence_ms=500) as fake,  # the real server VAD's default
        httpx.AsyncClient() as http,
    ):
        settings = Settings(
            _env_file=None,
            redis_url=redis_url,
            openai_api_key="test",
            openai_base_url=fake.base_url,
            bus=bus_settings,
            responder=responder_settings(**responder_overrides),
        )
        handler = ThinkerHandler(
            brain, registry, redis, http, ThinkerMetrics(), prefix=bus_settings.prefix
        )
        async with running_worker(redis, handler, bus_settings):
            caller, speaker = CallerAudioInput(), CapturingAudioOutput()
            models = ProcessModels(
                desk_profile(),
                shared_vad(),
                offline=None,
                metrics=ResponderMetrics(),
                tools=registry,
                http=http,
            )
            call = await assemble_call(
                settings,
                models,
                session_id=f"test-{uuid.uuid4().hex[:8]}",
                audio=RoomlessAudio(caller, speaker),
                greet=greet,
            )
            harness = CallUnderTest(call, caller, speaker, fake, brain)
            call.journal.handlers.append(harness.events.append)
            await call.start()
            try:
                yield harness
            finally:
                await call.aclose("test over")
                await caller.aclose()
                await speaker.aclose()
