"""Speech models of the responder, built from configuration.

The default is the OpenAI Realtime speech-to-speech model with an explicit local silero VAD: the
VAD is what makes injected speech wait for the caller to finish (without it the framework sends
injected replies at once, over a speaking caller). ``half-cascade`` keeps the realtime model for
understanding and reasoning but has it write text that a separate TTS speaks, for deployments
that want their own voice.
"""

from __future__ import annotations

from typing import Any

from livekit.agents import AgentSession, tts, vad
from livekit.plugins import openai
from openai.types.realtime.realtime_audio_input_turn_detection import SemanticVad, ServerVad

from shared.config import ResponderSettings, Settings
from shared.errors import ConfigError


def load_vad() -> vad.VAD:
    """The local silero VAD (its weights ship in the wheel: no download)."""
    from livekit.plugins import silero

    return silero.VAD.load()


def realtime_model(
    settings: Settings, *, base_url: str | None = None
) -> openai.realtime.RealtimeModel:
    """The OpenAI realtime model; ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are honoured."""
    if settings.openai_api_key is None:
        raise ConfigError("OPENAI_API_KEY is not set: the realtime responder needs it")
    r = settings.responder
    options: dict[str, Any] = {"model": r.realtime_model, "voice": r.voice}
    url = base_url or settings.openai_base_url
    if url:
        options["base_url"] = url
    if r.mode == "half-cascade":
        options["modalities"] = ["text"]
    if r.turn_detection == "semantic":
        options["turn_detection"] = SemanticVad(
            type="semantic_vad",
            eagerness=r.eagerness,
            create_response=True,
            interrupt_response=True,
        )
    elif r.turn_detection == "server":
        options["turn_detection"] = ServerVad(
            type="server_vad", create_response=True, interrupt_response=True
        )
    else:
        options["turn_detection"] = None
    return openai.realtime.RealtimeModel(
        api_key=settings.openai_api_key.get_secret_value(), **options
    )


def cascade_tts(settings: Settings) -> tts.TTS[Any] | None:
    """The separate TTS of the half-cascade mode (None in plain realtime mode)."""
    if settings.responder.mode != "half-cascade":
        return None
    assert settings.openai_api_key is not None  # realtime_model() checked it
    r = settings.responder
    url: dict[str, Any] = {"base_url": settings.openai_base_url} if settings.openai_base_url else {}
    return openai.TTS(
        model=r.tts_model,
        voice=r.tts_voice,
        api_key=settings.openai_api_key.get_secret_value(),
        **url,
    )


def session_options(r: ResponderSettings) -> dict[str, Any]:
    """``AgentSession`` keyword arguments for turn taking and interruptions."""
    turn_handling: dict[str, Any] = {
        "interruption": {
            "min_duration": r.min_interruption_s,
            "resume_false_interruption": True,
            "false_interruption_timeout": 1.5,
        }
    }
    if r.turn_detection == "local":
        turn_handling["turn_detection"] = "vad"
    return {"turn_handling": turn_handling}


def build_session(
    settings: Settings,
    *,
    llm: Any,
    vad_model: vad.VAD,
    tts_model: tts.TTS[Any] | None = None,
    **overrides: Any,
) -> AgentSession[Any]:
    """An ``AgentSession`` wired the tandem way (explicit VAD, turn options from settings)."""
    options = session_options(settings.responder) | overrides
    if tts_model is not None:
        options["tts"] = tts_model
    return AgentSession(llm=llm, vad=vad_model, **options)
