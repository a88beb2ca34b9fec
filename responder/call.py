"""One call: the ``AgentSession`` plus tandem's delegation, floor control and measurements.

:class:`CallServices` are shared by every call of a process (Redis, the bus, latency history,
tools, Prometheus series); a :class:`Call` wires one session to them and ends cleanly however the
call ends: hang-up, a fatal realtime error, or worker shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from livekit import rtc
from livekit.agents import Agent, AgentSession, ModelSettings, RunContext, stt
from livekit.agents.llm import ChatMessage, RawFunctionTool
from livekit.agents.types import TimedString
from livekit.agents.voice import SpeechHandle
from redis.asyncio import Redis

from responder.backchannel import Verdict, classify
from responder.delegation import Delegator
from responder.floor import FloorArbiter, Utterance
from responder.latency import LatencyHistory
from responder.metrics import CallMetrics, ResponderMetrics
from responder.prompts import instructions_for, say_verbatim
from responder.session.budget import BudgetPolicy, SessionBudget
from responder.session.capture import follow_session, thinker_event
from responder.session.guard import CallGuard
from responder.session.idle import IdlePolicy, IdleWatch
from responder.session.journal import SessionJournal
from responder.session.recorder import call_record, save_call
from responder.session.state import SessionState
from responder.session.store import SessionStore
from responder.session.writer import JournalWriter
from shared.bus import ResponderBus
from shared.config import Settings
from shared.guardrails import Guardrails, RuleContext, load_classifier
from shared.keys import Keys
from shared.profile import Profile
from shared.redact import Redactor
from shared.wire import ContextTurn, Event
from tools import Tool, ToolContext, ToolRegistry, ToolStore, to_livekit

log = logging.getLogger("tandem.responder")

RECORD_TIMEOUT_S = 5.0
"""Longest the call record may take to store when a call ends (it is skipped, logged, after)."""


@dataclass
class CallServices:
    """What every call of one responder process shares."""

    settings: Settings
    redis: Redis
    bus: ResponderBus
    history: LatencyHistory
    registry: ToolRegistry
    http: httpx.AsyncClient
    profile: Profile
    """The agent profile this process serves: persona, tools, knowledge."""
    metrics: ResponderMetrics = field(default_factory=ResponderMetrics)

    def local_tools(self, session_id: str) -> list[RawFunctionTool[Any, Any]]:
        """The fast, read-only tools the responder runs itself instead of delegating: those of
        the profile's tools that are safe to run here."""

        def context_for(tool: Tool) -> Callable[[RunContext[Any]], ToolContext]:
            def make(run: RunContext[Any]) -> ToolContext:
                call_id = run.function_call.call_id
                return ToolContext(
                    session_id=session_id,
                    task_id=call_id,
                    idempotency_key=call_id,
                    http=self.http,
                    store=ToolStore(self.redis, self.settings.bus.prefix, tool.name),
                    profile=self.profile,
                )

            return make

        allowed = set(self.profile.allowed_tools)
        local = [tool for tool in self.registry.responder_tools() if tool.name in allowed]
        return [to_livekit(tool, context_for(tool)) for tool in local]


def call_guardrails(settings: Settings, profile: Profile) -> Guardrails:
    """The guardrails of a call for ``profile``: the built-in rules over the profile (and the
    call's whole instructions, so the agent reciting them is caught), plus the classifier
    ``TANDEM_SESSION_GUARDRAIL_CLASSIFIER`` names, if any."""
    target = settings.session.guardrail_classifier
    context = dataclasses.replace(
        RuleContext.for_profile(profile),
        instructions=instructions_for(profile, settings.responder.instructions),
    )
    return Guardrails(context, classifier=load_classifier(target) if target else None)


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
    ) -> None:
        """``greeting``: said first (None: the agent waits for the caller); ``literal_speech``:
        the session has its own TTS, so the greeting goes through ``say``."""
        super().__init__(instructions=instructions, tools=list(tools))
        self._greeting = greeting
        self._literal_speech = literal_speech
        self.guard: CallGuard | None = None
        """The call's guardrails on what the agent says (set by the call)."""
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


class Call:
    """One caller's conversation: delegation, the floor arbiter and metrics on one session."""

    def __init__(
        self,
        session: AgentSession[Any],
        services: CallServices,
        *,
        session_id: str | None = None,
        literal_speech: bool = False,
        greet: bool = True,
        resources: contextlib.AsyncExitStack | None = None,
    ) -> None:
        """``literal_speech``: the session has a TTS, so fixed lines are said exactly as written;
        ``greet``: say the profile's greeting first; ``resources``: what the call owns (its
        services, its model connection), closed last when the call ends."""
        self.session = session
        self.services = services
        self.session_id = session_id or uuid.uuid4().hex
        settings = services.settings
        self.journal = SessionJournal(self.session_id)
        """Every event of the call, in order (see :mod:`responder.session`)."""
        self.state = SessionState()
        """What the call is doing now, derived from the journal."""
        self.journal.handlers.append(self.state.apply)
        self._redactor = Redactor()
        self._writer = JournalWriter(
            services.redis, settings.bus, self.session_id, redact=self._live_copy
        )
        self.journal.handlers.append(self._writer.add)
        self.metrics = CallMetrics(process=services.metrics)
        self.metrics.listeners.append(self._journal_metric)
        vad_options = getattr(session.vad, "_opts", None)
        if vad_options is not None and hasattr(vad_options, "min_silence_duration"):
            self.metrics.vad_hangover_s = float(vad_options.min_silence_duration)
        self.floor = FloorArbiter(
            session,
            literal_speech=literal_speech,
            max_repeats=settings.responder.max_repeats,
        )
        self.delegator = Delegator(
            link=services.bus.session(self.session_id),
            floor=self.floor,
            history=services.history,
            settings=settings.responder,
            metrics=self.metrics,
            agent=lambda: session.current_agent,
            conversation=self._conversation,
            slow_tools=frozenset(t.name for t in services.registry if t.latency == "slow"),
        )
        persona = services.profile.persona
        self.agent = TandemAgent(
            instructions=instructions_for(services.profile, settings.responder.instructions),
            tools=services.local_tools(self.session_id) + self.delegator.tools(),
            greeting=persona.greeting if greet else None,
            literal_speech=literal_speech,
        )
        self.agent.on_backchannel = lambda _text: self.metrics.emit("backchannel_ignored")
        self.delegator.event_listeners.append(self._on_thinker_event)
        follow_session(session, self.journal)
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.end_listeners: list[Callable[[str], None]] = []
        """Called with the reason once the call has ended and everything is closed."""
        self._resources = resources or contextlib.AsyncExitStack()
        self._closing: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()
        self.budget = SessionBudget(
            BudgetPolicy.for_call(settings, services.profile),
            post=self.floor.post,
            emit=self.journal.emit,
            end_call=self.end,
            goodbye=persona.goodbye,
            busy=lambda: bool(self.delegator.tasks.running()),
        )
        """The session budget: wrap-up, goodbye and hard stop (the profile's ``[session]``)."""
        self.idle = IdleWatch(
            IdlePolicy.for_call(settings, services.profile),
            post=self.floor.post,
            emit=self.journal.emit,
            end_call=self.end,
            reset_timer=session.reset_away_timer,
            busy=self._busy_for_caller,
        )
        """Nudges a silent caller; closes the call when they stay silent."""
        self.guard = CallGuard(
            call_guardrails(settings, services.profile),
            redirect_line=services.profile.spec.guardrails.redirect,
            post=self.floor.post,
            emit=self.journal.emit,
            end_call=self.end,
            closing_grace_s=settings.session.goodbye_grace_s,
        )
        """Guardrails on the caller's words and the agent's (see :mod:`responder.session.guard`)."""
        self.agent.guard = self.guard
        self.agent.on_guardrail_correction = lambda: self.floor.post(self.guard.correction())
        self.floor.listeners.append(self._on_floor)
        session.on("user_state_changed", self._on_user_state)
        session.on("agent_state_changed", self._on_agent_state)
        session.on("conversation_item_added", self._on_item)
        session.on("user_input_transcribed", self._on_transcript)
        session.on("speech_created", self._on_speech_created)
        session.on("error", self._on_error)
        session.on("close", self._on_close)

    async def start(self, **start_options: Any) -> None:
        """Start the session (``room=`` and friends pass through) and the call's machinery."""
        self.journal.start_clock()
        self._writer.start()
        self.floor.start()
        self.delegator.start()
        self.metrics.emit("call_started", session_id=self.session_id)
        await self.session.start(self.agent, **start_options)
        self.budget.start()

    def end(self, reason: str) -> None:
        """End the call soon with ``reason`` (from a callback: the closing runs as a task)."""
        task = asyncio.get_running_loop().create_task(self.aclose(reason))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    def hold_started(self) -> None:
        """The caller was put on hold (or waits for a transfer): that time is not call time,
        and nobody nudges them meanwhile."""
        self.journal.emit("responder", "hold_started")
        self.budget.hold_started()
        self.idle.hold_started()

    def hold_ended(self) -> None:
        """The caller is back from hold."""
        self.journal.emit("responder", "hold_ended")
        self.budget.hold_ended()
        self.idle.hold_ended()

    async def aclose(self, reason: str = "ended") -> None:
        """End the call: stop speaking, cancel open tasks, close the session (idempotent)."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(reason))
        await asyncio.shield(self._closing)

    async def _close(self, reason: str) -> None:
        self.end_reason = reason
        await self.budget.aclose()
        await self.idle.aclose()
        await self.guard.aclose()
        await self.floor.aclose()
        try:
            await self.delegator.aclose()
        except Exception:  # Redis gone: the tasks' deadlines end them anyway
            log.warning("could not cancel the call's open tasks", exc_info=True)
        with contextlib.suppress(RuntimeError):
            await self.session.aclose()
        self.metrics.close()
        self.metrics.emit("call_ended", reason=reason, summary=self.metrics.summary())
        await self._write_record(reason)
        try:
            await self._resources.aclose()
        except Exception:  # a connection that will not close cleanly must not keep the call open
            log.warning("could not release the call's resources", exc_info=True)
        log.info("call ended", extra={"session_id": self.session_id, "reason": reason})
        self.ended.set()
        for listener in self.end_listeners:
            listener(reason)

    async def _write_record(self, reason: str) -> None:
        """The journal's last events to its live stream, then the call record (redacted)."""
        await self._writer.aclose()
        s = self.services.settings
        if not s.session.records:
            return
        store = SessionStore(
            self.services.redis, Keys(s.bus.prefix), s.session.retention_days * 86_400
        )
        record = call_record(
            self.journal,
            self.state,
            profile=self.services.profile.id,
            end_reason=reason,
            figures=self.metrics.summary(),
            usage=self.session.usage,
        )
        await save_call(store, record, self.journal.events, timeout_s=RECORD_TIMEOUT_S)

    def _live_copy(self, event: dict[str, Any]) -> dict[str, Any]:
        """What of ``event`` may be stored while the call runs: its redacted copy (names the
        caller gave so far are learnt; the record at the end redacts with all of them)."""
        self._redactor.learn(event)
        return self._redactor.redact_event(event)

    # -- session events -------------------------------------------------------------------------

    def _journal_metric(self, record: dict[str, Any]) -> None:
        fields = {k: v for k, v in record.items() if k not in ("t", "event")}
        self.journal.emit("responder", str(record["event"]), **fields)

    def _on_user_state(self, event: Any) -> None:
        if event.old_state == "speaking" and event.new_state != "speaking":
            self.floor.caller_turn_ended()
        if event.new_state == "speaking":
            self.idle.caller_spoke()
        elif event.new_state == "away" and self._closing is None:
            self.idle.caller_away()
        self.metrics.user_speaking(event.new_state == "speaking")

    def _on_transcript(self, event: Any) -> None:
        if event.is_final:
            self.guard.caller_said(event.transcript)

    def _on_thinker_event(self, event: Event) -> None:
        thinker_event(self.journal, event)
        rules = getattr(event, "data", {}).get("guardrails")
        if isinstance(rules, list):
            self.guard.thinker_rules([str(rule) for rule in rules])

    def _busy_for_caller(self) -> str | None:
        """Why a silent caller is not idle: a task runs for them, they are on hold, the agent
        speaks, or something waits for the floor (None: they are idle)."""
        if self.budget.stage in ("goodbye", "ended", "hard_stop"):
            return "closing"
        if self.delegator.tasks.running():
            return "task"
        if self.state.on_hold:
            return "transfer"
        if self.session.current_speech is not None:
            return "speaking"
        return "floor" if self.floor.pending else None

    def _on_speech_created(self, _event: Any) -> None:
        self.floor.reply_started()

    def _on_agent_state(self, event: Any) -> None:
        self.metrics.agent_speaking(event.new_state == "speaking")

    def _on_item(self, event: Any) -> None:
        item = event.item
        role = getattr(item, "role", None)
        if role == "user":
            self.delegator.caller_turn_committed()
        if role in ("user", "assistant"):
            self.metrics.emit(
                "message",
                role="caller" if role == "user" else "agent",
                text=item.text_content or "",
                interrupted=bool(getattr(item, "interrupted", False)),
            )

    def _on_error(self, event: Any) -> None:
        error = event.error
        if getattr(error, "recoverable", True):
            log.warning("recoverable session error", extra={"session_id": self.session_id})
            return
        # a dead realtime connection never emits "close" (see the LiveKit notes): end it here
        log.error(
            "non-recoverable session error: ending the call",
            extra={"session_id": self.session_id, "source": type(event.source).__name__},
        )
        self.metrics.emit("fatal_error", source=type(event.source).__name__)
        asyncio.get_running_loop().create_task(self.aclose("fatal_error"))

    def _on_close(self, event: Any) -> None:
        reason = getattr(event, "reason", "closed")
        reason = getattr(reason, "value", reason)  # a CloseReason enum: its plain name
        asyncio.get_running_loop().create_task(self.aclose(str(reason)))

    def _on_floor(self, what: str, utterance: Utterance) -> None:
        if what == "requested" and utterance.attempts > 1:
            self.metrics.count_respoken()
        elif what == "stale" and utterance.kind == "result":
            self.metrics.count_stale()
        tasks = (self.delegator.tasks.get(task_id) for task_id in utterance.task_ids)
        self.metrics.emit(
            f"floor_{what}",
            kind=utterance.kind,
            attempt=utterance.attempts,
            tasks=[task.number for task in tasks if task is not None],
        )

    def _conversation(self) -> list[ContextTurn]:
        turns: list[ContextTurn] = []
        for item in self.session.history.items:
            role = getattr(item, "role", None)
            text = getattr(item, "text_content", None)
            if role in ("user", "assistant") and text:
                turns.append(
                    ContextTurn(role="caller" if role == "user" else "agent", text=text[:4000])
                )
        return turns
