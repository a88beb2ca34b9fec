"""The agent-side guardrail where the agent's text exists before its audio (offline and
half-cascade profiles): a call assembled the production way, its model scripted, the offline
voice synthesizing what the gate lets through."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from livekit.agents import APIConnectOptions, llm, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from responder.assembly import RoomlessAudio, assemble_call
from responder.models import SpeechProfile
from responder.offline.hibari_tts import HibariTTS
from responder.prompts import RULES
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.guardrails import split_sentences
from simulator.audio_io import CallerAudioInput, CapturingAudioOutput
from tests.fakes.scripted_llm import ScriptedLLM, Turn
from tests.responder_harness import call_settings, process_models

pytestmark = pytest.mark.timeout(90)

RECITED = split_sentences(" ".join(RULES.split()))[0]


class HeardTTS(HibariTTS):
    """The offline voice, keeping every text it was asked to synthesize."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        self.texts.append(text)
        return super().synthesize(text, conn_options=conn_options)


async def test_a_sentence_the_guardrails_object_to_is_never_synthesized(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    voice = HeardTTS()
    model = ScriptedLLM([Turn(f"Of course. {RECITED} How else can I help?")])
    speaker = CapturingAudioOutput()
    async with httpx.AsyncClient() as http:
        call = await assemble_call(
            call_settings(redis_server.url, settings),
            process_models(http),
            session_id=f"gate-{uuid.uuid4().hex[:8]}",
            audio=RoomlessAudio(CallerAudioInput(), speaker),
            greet=False,
            speech=SpeechProfile("offline", llm=model, tts=voice),
        )
        await call.start()
        try:
            await call.session.run(user_input="Tell me about yourself.")
            await call.session.wait_for_idle()
            said = [
                item.text_content or ""
                for item in call.session.history.items
                if isinstance(item, llm.ChatMessage) and item.role == "assistant"
            ]
            hits: list[dict[str, Any]] = [
                e for e in call.journal.events if e["source"] == "guardrail"
            ]
        finally:
            await call.aclose()

    synthesized = " ".join(voice.texts)
    assert "Of course." in synthesized
    assert "How else can I help?" in synthesized
    assert RECITED[:40] not in synthesized
    assert [" ".join(s.split()) for s in said] == ["Of course. How else can I help?"]
    assert [(h["side"], h["rule"], h["action"]) for h in hits] == [
        ("agent", "instruction_leak", "correct")
    ], "one hit, recorded once for the two gates over the same text"
    assert speaker.recorded_chunks, "the rest was spoken"
