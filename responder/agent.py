"""The responder's LiveKit ``Agent``: the persona and tools, the greeting, and what it does with
speech on the way in and out.

* In: caller speech said over the agent is judged by :func:`responder.backchannel.classify` (its
  words, how long it was, how sure the transcript is): a backchannel neither interrupts the
  agent nor starts a reply.
* Out: the agent's text goes through the call's guardrails (:mod:`responder.session.guard`):
  held back a sentence at a time before a TTS speaks it, or, with the audio model, watched as
  its transcript streams.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine
from typing import Any

from livekit import rtc
from livekit.agents import Agent, AgentSession, ModelSettings, stt
from livekit.agents.llm import ChatMessage, RawFunctionTool
from livekit.agents.types import TimedString
from livekit.agents.voice import SpeechHandle

from responder.backchannel import Verdict, classify
from responder.prompts import say_verbatim
from responder.session.guard import CallGuard

log = logging.getLogger("tandem.responder")


class TandemAgent(Agent):
    """The responder's agent: persona, local tools plus ``delegate``/``cancel_request``, and the
    profile's greeting, said word for word, when the call starts."""

    def __init__(
        self,
        *,
        instructions: str,
        tools: list[RawFunctionTool[Any, Any]],
        greeting: str | None,
        literal_speech: bool,
        guard: CallGuard | None = None,
    ) -> None:
        """``greeting``: said first (None: the agent waits for the caller); ``literal_speech``:
        the session has its own TTS, so the greeting goes through ``say``; ``guard``: the
        call's guardrails on what the agent says."""
        super().__init__(instructions=instructions, tools=list(tools))
        self._greeting = greeting
        self._literal_speech = literal_speech
        self.guard = guard
        self.on_guardrail_correction: Callable[[], None] = lambda: None
        """Called when the audio model said a sentence the guardrails object to."""

        self.on_backchannel: Callable[[str], None] = lambda _text: None
        """Called with each backchannel heard (and ignored) while the agent was speaking."""

    async def on_enter(self) -> None:
        """Greet the caller, word for word."""
        if not self._greeting:
            return
        if self._literal_speech:
            self.session.say(self._greeting)
        else:
            self.session.generate_reply(instructions=say_verbatim(self._greeting))

    async def stt_node(
        self, audio: AsyncIterable[rtc.AudioFrame], model_settings: ModelSettings
    ) -> AsyncIterator[stt.SpeechEvent | str]:
        """The session's speech-to-text (cascade profiles), with caller speech said over the
        agent judged by :func:`responder.backchannel.classify` (its words, how long it was, how
        sure the transcript is). A backchannel ("mm-hm", however Whisper spells it) neither
        interrupts the agent nor starts a reply, and a pause the VAD already made for it ends at
        once; a barge-in goes on to the session, which stops the agent and answers it."""
        overlapped: SpeechHandle | None = None  # the agent speech the caller started over
        async for event in Agent.default.stt_node(self, audio, model_settings):
            if isinstance(event, stt.SpeechEvent):
                if event.type is stt.SpeechEventType.START_OF_SPEECH:
                    overlapped = self._agent_speech()
                elif self._backchannel_over_agent(event, overlapped):
                    continue
            yield event

    def tts_node(
        self, text: AsyncIterable[str], model_settings: ModelSettings
    ) -> AsyncIterable[rtc.AudioFrame] | Coroutine[Any, Any, AsyncIterable[rtc.AudioFrame]]:
        """The session's TTS (half-cascade and offline profiles) on the agent's text held back
        a sentence at a time: a sentence the guardrails object to is never synthesized."""
        if self.guard is not None:
            text = self.guard.gate(text)
        return Agent.default.tts_node(self, text, model_settings)

    def transcription_node(
        self, text: AsyncIterable[str | TimedString], model_settings: ModelSettings
    ) -> AsyncIterable[str | TimedString]:
        """The agent's transcript: with a TTS, the same sentences the TTS was given (what the
        call's history keeps); with the audio model, its transcript as it streams, watched:
        a sentence the guardrails object to interrupts the agent, who corrects itself."""
        if self.guard is None:
            return text
        if self._literal_speech:
            return self.guard.gate(_plain(text), record=False)
        return self.guard.watch(text, correct=self.on_guardrail_correction)

    def _agent_speech(self) -> SpeechHandle | None:
        """The agent's speech now (playing, paused by the caller, or about to play), if any."""
        speech = self.session.current_speech
        return speech if speech is not None and not speech.done() else None

    def _backchannel_over_agent(
        self, event: stt.SpeechEvent, overlapped: SpeechHandle | None
    ) -> bool:
        """True if ``event`` transcribes a backchannel said over the agent's speech: still
        playing, or ``overlapped`` (what the caller started to speak over) unless it ended
        with a question, which the caller's words may answer. Calls :attr:`on_backchannel` and
        resumes a paused speech for a final one."""
        if (
            event.type
            not in (stt.SpeechEventType.FINAL_TRANSCRIPT, stt.SpeechEventType.INTERIM_TRANSCRIPT)
            or not event.alternatives
        ):
            return False
        if self._agent_speech() is None and not _statement(overlapped):
            return False
        verdict = judge_overlap(event.alternatives[0])
        if event.type is not stt.SpeechEventType.FINAL_TRANSCRIPT:
            return verdict.backchannel
        if verdict.barge_in:
            return False
        self.on_backchannel(event.alternatives[0].text)
        _resume_paused_speech(self.session)
        return True


async def _plain(text: AsyncIterable[str | TimedString]) -> AsyncIterator[str]:
    async for chunk in text:
        yield str(chunk)


def judge_overlap(heard: stt.SpeechData) -> Verdict:
    """:func:`~responder.backchannel.classify` on a transcript of caller speech over the agent,
    with its duration (``start_time``/``end_time``, when the STT gives them) and confidence
    (when it gives one)."""
    duration = heard.end_time - heard.start_time if heard.end_time > heard.start_time else None
    verdict = classify(
        heard.text,
        duration_s=duration,
        confidence=heard.confidence if heard.confidence > 0 else None,
    )
    log.debug(
        "caller spoke over the agent",
        extra={
            "backchannel": verdict.backchannel,
            "reason": verdict.reason,
            "duration_s": duration,
            "confidence": heard.confidence,
        },
    )
    return verdict


def _statement(speech: SpeechHandle | None) -> bool:
    """``speech`` exists and did not end with a question."""
    if speech is None:
        return False
    said = " ".join(
        item.text_content or ""
        for item in speech.chat_items
        if isinstance(item, ChatMessage) and item.role == "assistant"
    )
    return not said.rstrip().endswith("?")


def _resume_paused_speech(session: AgentSession[Any]) -> None:
    """Resume the agent's speech now if the session paused it for caller speech that turned
    out to be a backchannel, rather than after the false-interruption timeout (1.5 s after the
    caller stopped): the framework's own resume, started at once (the agent's state, its audio,
    the ``agent_false_interruption`` event). Until the session's VAD has seen the end of that
    speech it would pause again, so then it waits for that. This reaches into livekit-agents'
    ``AgentActivity`` (1.8.9, pinned); should that change, the timeout still resumes."""
    activity = getattr(session, "_activity", None)
    start_resume = getattr(activity, "_start_false_interruption_timer", None)
    if getattr(activity, "_paused_speech", None) is None or not callable(start_resume):
        return
    if session.user_state == "speaking":
        loop = asyncio.get_running_loop()
        # after the session's own end-of-speech handling, which arms the slow timer
        session.once("user_state_changed", lambda _ev: loop.call_soon(_resume_now, session))
        return
    start_resume(0.0)


def _resume_now(session: AgentSession[Any]) -> None:
    if session.user_state != "speaking":
        _resume_paused_speech(session)
