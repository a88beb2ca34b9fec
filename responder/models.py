"""Speech models of the responder, built from configuration.

The default is the OpenAI Realtime speech-to-speech model with an explicit local silero VAD: the
VAD is what makes injected speech wait for the caller to finish (without it the framework sends
injected replies at once, over a speaking caller). ``half-cascade`` keeps the realtime model for
understanding and reasoning but has it write text that a separate TTS speaks, for deployments
that want their own voice.

``offline`` is the labelled offline demo profile: a cascade in the same ``AgentSession`` of the
silero VAD, Whisper tiny.en (faster-whisper, weights from a registry package), the rule-based
front-desk brain and the hibari voice. Everything else (the thinker, the tools, the bus, the
floor) is the production code path. It is only ever used when the settings say so:
:func:`resolve_speech_mode` is where a command that allows it (``dev``, ``console``, ``demo``,
``eval``) switches to it for want of ``OPENAI_API_KEY``, saying so; ``start`` never does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from livekit.agents import AgentSession, stt, tts, vad
from livekit.plugins import openai
from openai.types.realtime.realtime_audio_input_turn_detection import SemanticVad, ServerVad

from responder.listening import transcript_prompt
from responder.turns import CompletenessTurnDetector, audio_turn_detector, endpointing
from shared.config import ResponderSettings, Settings
from shared.errors import ConfigError
from shared.profile import Profile, offline_factory

log = logging.getLogger("tandem.responder")

ProfileName = Literal["realtime", "half-cascade", "offline"]

OFFLINE_PROFILE = (
    "the OFFLINE speech profile (silero VAD -> Whisper tiny.en -> rule-based demo brain -> hibari "
    "TTS): the demo brain follows fixed patterns and answers from the profile's knowledge; it is "
    "not a language model"
)
NO_KEY_FOR_START = (
    "OPENAI_API_KEY is not set: `start` serves real callers with the OpenAI realtime model. Set "
    "it, or set TANDEM_RESPONDER_MODE=offline to serve the offline demo profile on purpose"
)


@dataclass(frozen=True)
class SpeechProfile:
    """The models one call's session runs on."""

    name: ProfileName
    llm: Any
    """A realtime model, or an ``llm.LLM`` in a cascade."""
    stt: stt.STT[Any] | None = None
    tts: tts.TTS[Any] | None = None

    @property
    def literal_speech(self) -> bool:
        """The session has its own TTS, so fixed lines are said exactly as written."""
        return self.tts is not None


@dataclass(frozen=True)
class OfflineSpeech:
    """The offline profile's speech models, loaded once per process and shared by its calls."""

    stt: stt.STT[Any]
    tts: tts.TTS[Any]


def load_offline_speech() -> OfflineSpeech:
    """Load Whisper tiny.en and the hibari voice (both ship inside their packages).

    Blocking, about a second: call it at start-up (a worker's prewarm), not during a call."""
    from responder.offline import HibariTTS, WhisperSTT

    stt, tts = WhisperSTT(), HibariTTS()
    stt.load()
    tts.load()
    return OfflineSpeech(stt=stt, tts=tts)


def resolve_speech_mode(settings: Settings, *, allow_offline: bool) -> Settings:
    """The settings a command runs with: unchanged when the configured mode can run; without
    ``OPENAI_API_KEY`` switched to the offline profile when ``allow_offline`` (logged loudly),
    else :class:`ConfigError` (production never falls back to the demo silently)."""
    r = settings.responder
    if r.mode == "offline":
        log.warning("using " + OFFLINE_PROFILE + " (TANDEM_RESPONDER_MODE=offline)")
        return settings
    if settings.openai_api_key is not None:
        return settings
    if not allow_offline:
        raise ConfigError(NO_KEY_FOR_START)
    log.warning("OPENAI_API_KEY is not set: using " + OFFLINE_PROFILE)
    offline = r.model_copy(update={"mode": "offline"})
    return settings.model_copy(update={"responder": offline})


def speech_profile(
    settings: Settings, profile: Profile, offline: OfflineSpeech | None = None
) -> SpeechProfile:
    """The models of one call in the configured mode. ``offline``: the offline profile's models,
    already loaded by this process (required in offline mode); its rule-based brain is the one
    the agent ``profile`` brings, or the generic one that answers from its knowledge."""
    if settings.responder.mode == "offline":
        if offline is None:
            raise ConfigError("the offline speech models are not loaded in this process")
        brain = offline_brain(profile)
        return SpeechProfile("offline", llm=brain, stt=offline.stt, tts=offline.tts)
    return SpeechProfile(
        settings.responder.mode, llm=realtime_model(settings), tts=cascade_tts(settings)
    )


def offline_brain(profile: Profile) -> Any:
    """The offline profile's rule-based ``llm.LLM`` for ``profile``: its own, if it names one
    (``[offline] responder_brain``), else the generic offline front desk."""
    factory = offline_factory(profile, "responder")
    if factory is None:
        from responder.offline import OfflineFrontDesk

        factory = OfflineFrontDesk
    return factory(profile)


def load_vad(min_silence_s: float | None = None) -> vad.VAD:
    """The local silero VAD (its weights ship in the wheel: no download); ``min_silence_s``:
    silence before it reports the end of speech (silero's default when None)."""
    from livekit.plugins import silero

    if min_silence_s is None:
        return silero.VAD.load()
    return silero.VAD.load(min_silence_duration=min_silence_s)


def profile_vad(settings: Settings) -> vad.VAD:
    """The VAD for this process's profile: quicker to end a turn in the offline cascade."""
    offline = settings.responder.mode == "offline"
    return load_vad(settings.responder.offline_vad_silence_s if offline else None)


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


def session_options(r: ResponderSettings, profile: ProfileName = "realtime") -> dict[str, Any]:
    """``AgentSession`` keyword arguments for turn taking, interruptions and idle nudges.

    Local turn detection (the offline cascade, or ``turn_detection="local"``) waits longer when
    the caller's words so far are unfinished ("a table for um..."), up to a cap: see
    :mod:`responder.turns`."""
    turn_handling: dict[str, Any] = {
        "interruption": {
            "min_duration": r.min_interruption_s,
            "resume_false_interruption": True,
            "false_interruption_timeout": 1.5,
        }
    }
    if profile == "offline":  # the cascade transcribes as the caller speaks: weigh the words
        turn_handling["turn_detection"] = CompletenessTurnDetector()
        turn_handling["endpointing"] = endpointing(r.endpointing_s)
    elif r.turn_detection == "local":  # no words before the turn ends: the audio model
        turn_handling["turn_detection"] = audio_turn_detector()
        turn_handling["endpointing"] = endpointing(r.endpointing_s)
    return {"turn_handling": turn_handling, "user_away_timeout": r.idle_nudge_s}


def build_session(
    settings: Settings,
    *,
    profile: SpeechProfile,
    vad_model: vad.VAD,
    **overrides: Any,
) -> AgentSession[Any]:
    """An ``AgentSession`` wired the tandem way (explicit VAD, turn options from settings).

    A non-streaming STT (Whisper) is wrapped in :class:`~responder.offline.SpeculativeSTT`, which
    transcribes during the VAD's end-of-speech silence rather than after it. An STT that can be
    primed (``primed(prompt)``: Whisper) is told what the caller is likely to say next
    (:func:`responder.listening.transcript_prompt`: letters, after the agent asked for a
    spelling)."""
    options = session_options(settings.responder, profile.name) | overrides
    if profile.stt is not None:
        model = profile.stt
        primed = getattr(model, "primed", None)
        if callable(primed):
            model = primed(lambda: transcript_prompt(session.history.items))
        options["stt"] = _streaming(model, vad_model)
    if profile.tts is not None:
        options["tts"] = profile.tts
    session: AgentSession[Any] = AgentSession(llm=profile.llm, vad=vad_model, **options)
    return session


def _streaming(model: stt.STT[Any], vad_model: vad.VAD) -> stt.STT[Any]:
    """``model`` if it streams, else wrapped in a :class:`~responder.offline.SpeculativeSTT`."""
    if model.capabilities.streaming:
        return model
    from responder.offline import SpeculativeSTT

    return SpeculativeSTT(stt=model, vad=vad_model)
