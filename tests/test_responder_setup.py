"""Responder set-up: models from configuration, the join token, and refusals with clear advice."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from livekit import api
from livekit.plugins import silero

from responder.cli import token_command
from responder.listening import SPELLING_PROMPT
from responder.models import (
    OfflineSpeech,
    build_session,
    cascade_tts,
    realtime_model,
    resolve_speech_mode,
    session_options,
    speech_profile,
)
from responder.offline import HibariTTS, OfflineFrontDesk, SpeculativeSTT, WhisperSTT
from responder.offline.whisper_stt import PrimedWhisperSTT
from responder.turns import CompletenessTurnDetector, audio_turn_detector, endpointing
from responder.worker import build_server
from shared.config import ResponderSettings, Settings
from shared.errors import ConfigError
from shared.profile import find_profile
from tests.responder_harness import desk_profile


def settings(**responder: object) -> Settings:
    return Settings(
        _env_file=None,
        openai_api_key="sk-test",
        responder=ResponderSettings(_env_file=None, **responder),  # type: ignore[arg-type]
    )


def test_the_half_cascade_has_the_model_write_text_for_a_separate_voice() -> None:
    plain = settings()
    assert realtime_model(plain).capabilities.audio_output
    assert cascade_tts(plain) is None
    cascade = settings(mode="half-cascade", tts_voice="ash")
    assert not realtime_model(cascade).capabilities.audio_output
    assert cascade_tts(cascade) is not None


def test_local_turn_detection_hands_turns_to_livekits_audio_end_of_turn_model() -> None:
    local = settings(turn_detection="local")
    assert realtime_model(local).capabilities.turn_detection is False
    handling = session_options(local.responder)["turn_handling"]
    assert handling["turn_detection"] is audio_turn_detector()  # no words in time: the audio
    assert handling["endpointing"] == endpointing(local.responder.endpointing_s)
    assert realtime_model(settings()).capabilities.turn_detection is True


def test_the_worker_refuses_to_start_without_a_shared_redis() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        build_server(settings())
    no_key = Settings(_env_file=None, redis_url="redis://localhost:6379")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        realtime_model(no_key)


def test_without_an_openai_key_only_commands_that_allow_it_switch_to_offline_and_say_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    no_key = Settings(_env_file=None, redis_url="redis://localhost:6379")
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY.*TANDEM_RESPONDER_MODE=offline"):
        resolve_speech_mode(no_key, allow_offline=False)  # `start`: never the demo by accident
    with caplog.at_level(logging.WARNING, logger="tandem.responder"):
        fallback = resolve_speech_mode(no_key, allow_offline=True)  # dev, console, demo, eval
    assert fallback.responder.mode == "offline"
    assert "OPENAI_API_KEY is not set: using the OFFLINE speech profile" in caplog.text
    asked = Settings(_env_file=None, responder=ResponderSettings(_env_file=None, mode="offline"))
    assert resolve_speech_mode(asked, allow_offline=False) is asked  # on purpose: allowed
    assert resolve_speech_mode(settings(), allow_offline=False).responder.mode == "realtime"


def test_the_offline_profile_is_the_cascade_of_local_models_with_the_profiles_brain() -> None:
    offline_settings = Settings(
        _env_file=None, responder=ResponderSettings(_env_file=None, mode="offline")
    )
    offline = OfflineSpeech(stt=WhisperSTT(), tts=HibariTTS())
    speech = speech_profile(offline_settings, desk_profile(), offline)
    assert speech.name == "offline"
    assert type(speech.llm) is OfflineFrontDesk  # a profile without its own: the generic brain
    assert speech.stt is offline.stt
    assert speech.tts is offline.tts
    assert speech.literal_speech
    restaurant = speech_profile(offline_settings, find_profile("restaurant"), offline)
    assert type(restaurant.llm).__name__ == "FrontDeskBrain"  # the demo brings its own
    with pytest.raises(ConfigError, match="not loaded"):
        speech_profile(offline_settings, desk_profile())
    options = session_options(offline_settings.responder, "offline")
    # the cascade transcribes as the caller speaks: unfinished words wait longer
    assert isinstance(options["turn_handling"]["turn_detection"], CompletenessTurnDetector)
    assert options["turn_handling"]["endpointing"] == endpointing(
        offline_settings.responder.endpointing_s
    )
    assert speech_profile(settings(), desk_profile()).name == "realtime"
    assert speech_profile(settings(mode="half-cascade"), desk_profile()).literal_speech


async def test_the_offline_session_primes_whisper_with_what_the_agent_last_asked() -> None:
    offline_settings = Settings(
        _env_file=None, responder=ResponderSettings(_env_file=None, mode="offline")
    )
    offline = OfflineSpeech(stt=WhisperSTT(), tts=HibariTTS())
    speech = speech_profile(offline_settings, desk_profile(), offline)
    session = build_session(offline_settings, profile=speech, vad_model=silero.VAD.load())
    assert isinstance(session.stt, SpeculativeSTT)
    primed = session.stt.wrapped_stt
    assert isinstance(primed, PrimedWhisperSTT)  # over the process's one Whisper model
    assert primed._prompt() is None
    session.history.add_message(role="assistant", content="Could you spell the name, please?")
    assert primed._prompt() == SPELLING_PROMPT


def test_a_join_token_dispatches_the_agent_into_the_room(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "a-test-secret-that-is-long-enough-for-hs256"
    monkeypatch.setenv("LIVEKIT_API_KEY", "devkey")
    monkeypatch.setenv("LIVEKIT_API_SECRET", secret)
    monkeypatch.setenv("TANDEM_RESPONDER_AGENT_NAME", "front-desk")
    result = CliRunner().invoke(token_command, ["--room", "r1", "--identity", "alice"])
    assert result.exit_code == 0, result.output
    claims = api.TokenVerifier("devkey", secret).verify(result.output.strip().splitlines()[0])
    assert claims.identity == "alice"
    assert claims.video is not None
    assert claims.video.room == "r1"
    assert claims.room_config is not None
    assert [a.agent_name for a in claims.room_config.agents] == ["front-desk"]
    assert secret not in result.output


def test_a_join_token_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVEKIT_API_KEY", raising=False)
    monkeypatch.delenv("LIVEKIT_API_SECRET", raising=False)
    result = CliRunner().invoke(token_command, ["--room", "r1", "--identity", "alice"])
    assert result.exit_code != 0
    assert "LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be set" in result.output
