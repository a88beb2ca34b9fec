"""The one place a call is put together.

A LiveKit job (:mod:`responder.worker`), ``tandem demo``/``tandem eval``, the benchmarks and the
tests all get their call from :func:`assemble_call`, so what is measured and tested is what
production runs:

1. once per process, :func:`load_process_models` loads what every call of the process shares (the
   silero VAD, the offline speech models in offline mode, the Prometheus series): LiveKit's
   prewarm does it in each job process, the simulator once for all its calls;
2. per call, :func:`assemble_call` opens the call's services (Redis, the bus, latency history,
   tools), builds the speech profile and the ``AgentSession`` from the settings, and wires
   delegation, the floor arbiter and the metrics on it (:class:`~responder.call.Call`).

The only difference between a production call and a simulated one is where the audio goes: a
LiveKit room (``call.start(room=ctx.room)``), or :class:`RoomlessAudio` that the simulator and the
tests plug in.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import httpx
from livekit.agents import vad
from livekit.agents.voice import io
from livekit.plugins import silero  # noqa: F401  (LiveKit plugins register on the main thread)

from responder.call import Call
from responder.metrics import ResponderMetrics
from responder.models import (
    OfflineSpeech,
    SpeechProfile,
    build_session,
    load_offline_speech,
    profile_vad,
    speech_profile,
)
from responder.prompts import outbound_instructions
from responder.services import open_services
from responder.telephony.dispatch import DispatchInfo
from responder.telephony.phone import PhoneHookup
from shared.config import Settings
from shared.errors import ConfigError
from shared.profile import Profile
from tools import ToolRegistry


@dataclass(frozen=True)
class ProcessModels:
    """What every call of one process shares, loaded once (prewarm, or the simulator's stack)."""

    profile: Profile
    """The agent profile the process serves."""
    vad: vad.VAD
    offline: OfflineSpeech | None
    """The offline profile's STT and TTS (None unless the settings' mode is ``offline``)."""
    metrics: ResponderMetrics
    tools: ToolRegistry
    """The tools offered (discovered once: plugins are imported at start-up, not per call)."""
    http: httpx.AsyncClient
    """The HTTP client of the tools the responder runs itself (its TLS set-up, tens of
    milliseconds, is paid at start-up rather than when a call starts)."""


def load_process_models(
    settings: Settings, profile: Profile, metrics: ResponderMetrics | None = None
) -> ProcessModels:
    """Load the VAD (and in offline mode Whisper and the hibari voice) and discover the tools,
    for calls of ``profile`` that record into ``metrics`` (a private set of series when None).
    Blocking, about a second offline: call it at start-up, never during a call."""
    offline = load_offline_speech() if settings.responder.mode == "offline" else None
    return ProcessModels(
        profile,
        profile_vad(settings),
        offline,
        metrics if metrics is not None else ResponderMetrics(),
        discover_tools(settings, profile),
        httpx.AsyncClient(timeout=httpx.Timeout(5.0)),
    )


def discover_tools(settings: Settings, profile: Profile) -> ToolRegistry:
    """The tools ``settings`` allow (``TANDEM_TOOLS_*``); raises ``ToolRegistryError`` in strict
    mode when a plugin is broken, and :class:`ConfigError` when ``profile`` names a tool that
    is not there."""
    t = settings.tools
    registry = ToolRegistry.discover(enabled=t.enabled, disabled=t.disabled, strict=t.strict)
    missing = [name for name in profile.allowed_tools if name not in registry.tools]
    if missing:
        raise ConfigError(
            f"profile {profile.id!r} allows {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed or not enabled "
            "(`tandem tools list` shows the tools there are)"
        )
    return registry


@dataclass(frozen=True)
class RoomlessAudio:
    """The call's audio without a LiveKit room: what the caller says and where the agent's
    speech goes (the simulator's and the tests' audio I/O)."""

    input: io.AudioInput
    output: io.AudioOutput


async def assemble_call(
    settings: Settings,
    models: ProcessModels,
    *,
    session_id: str,
    audio: RoomlessAudio | None = None,
    greet: bool = True,
    speech: SpeechProfile | None = None,
    dispatch: DispatchInfo | None = None,
    phone: PhoneHookup | None = None,
) -> Call:
    """A ready-to-start call for ``settings`` and the process's profile (start it with
    ``call.start(room=...)``, or plain ``call.start()`` with ``audio``); ``call.aclose()``
    releases everything it opened.

    ``audio`` replaces the room's audio; the framework's echo-cancellation warm-up (which mutes
    the caller during the agent's first reply, for speakerphones) is then off, since no echo
    exists. ``greet``: say the profile's greeting first (False: the agent waits for the caller).
    ``speech``: speech models to use instead of the ones the settings name (tests script the
    model this way; production never passes it). ``dispatch``: what the dispatch said about
    the call (an outbound call has no greeting: the agent speaks once the callee answers,
    :meth:`Call.open_outbound`). ``phone``: the phone line the call is on (the profile's phone
    greeting and ``[telephony.turns]`` apply; None: a browser or app caller)."""
    resources = contextlib.AsyncExitStack()
    try:
        services = await resources.enter_async_context(
            open_services(settings, models.profile, models.metrics, models.tools, models.http)
        )
        if phone is not None:
            settings = phone_settings(settings, models.profile)
        speech = speech or speech_profile(settings, models.profile, models.offline)
        resources.push_async_callback(_aclose_model, speech.llm)
        overrides: dict[str, Any] = {"aec_warmup_duration": None} if audio is not None else {}
        session = build_session(settings, profile=speech, vad_model=models.vad, **overrides)
        if audio is not None:
            session.input.audio = audio.input
            session.output.audio = audio.output
        outbound = dispatch is not None and dispatch.direction == "outbound"
        return Call(
            session,
            services,
            session_id=session_id,
            literal_speech=speech.literal_speech,
            greet=greet and not outbound,
            resources=resources,
            extra_instructions=(
                outbound_instructions(models.profile.name, dispatch.purpose)
                if dispatch is not None and outbound
                else None
            ),
            phone=phone,
        )
    except BaseException:
        await resources.aclose()
        raise


def phone_settings(settings: Settings, profile: Profile) -> Settings:
    """``settings`` with the profile's ``[telephony.turns]`` in place of the worker's turn
    settings (the fields it sets), for a call on a phone line."""
    turns = profile.spec.telephony.turns.model_dump(exclude_none=True)
    if not turns:
        return settings
    responder = settings.responder.model_copy(update=turns)
    return settings.model_copy(update={"responder": responder})


async def _aclose_model(model: Any) -> None:
    close = getattr(model, "aclose", None)
    if close is not None:
        await close()
