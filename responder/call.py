"""One call: the ``AgentSession`` plus tandem's delegation, floor control, measurements and
session layer (journal, budget, idle handling, guardrails, record: :mod:`responder.session`).

:class:`CallServices` are shared by every call of a process (Redis, the bus, latency history,
tools, Prometheus series); a :class:`Call` wires one session to them and ends cleanly however the
call ends: hang-up, a fatal realtime error, the session budget, a silent caller, a guardrail, or
worker shutdown; its record is written then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from livekit.agents import AgentSession, RunContext
from livekit.agents.llm import RawFunctionTool
from redis.asyncio import Redis

from responder.agent import TandemAgent
from responder.delegation import Delegator
from responder.floor import FloorArbiter, Priority, Utterance
from responder.latency import LatencyHistory
from responder.metrics import CallMetrics, ResponderMetrics
from responder.prompts import OPEN_OUTBOUND, instructions_for
from responder.session.capture import follow_session
from responder.session.control import SessionControl
from responder.session.hangup import HangUp
from responder.telephony.keypad import keyed_turn
from responder.telephony.phone import PhoneCall, PhoneHookup
from shared.bus import ResponderBus
from shared.config import Settings
from shared.profile import Profile
from shared.wire import ContextTurn
from tools import Tool, ToolContext, ToolRegistry, ToolStore, to_livekit

log = logging.getLogger("tandem.responder")


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


class Call:
    """One caller's conversation: delegation, the floor arbiter, metrics and the session layer
    (:class:`~responder.session.control.SessionControl`) on one session."""

    def __init__(
        self,
        session: AgentSession[Any],
        services: CallServices,
        *,
        session_id: str | None = None,
        literal_speech: bool = False,
        greet: bool = True,
        resources: contextlib.AsyncExitStack | None = None,
        extra_instructions: str | None = None,
        phone: PhoneHookup | None = None,
    ) -> None:
        """``literal_speech``: the session has a TTS, so fixed lines are said exactly as written;
        ``greet``: say the profile's greeting first (on a phone line, the profile's phone
        greeting); ``resources``: what the call owns (its services, its model connection),
        closed last when the call ends; ``extra_instructions``: added for this call (an
        outbound call's purpose); ``phone``: the phone line the call is on, if it is."""
        self.session = session
        self.services = services
        self.session_id = session_id or uuid.uuid4().hex
        settings = services.settings
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.end_listeners: list[Callable[[str], None]] = []
        """Called with the reason once the call has ended and everything is closed."""
        self._resources = resources or contextlib.AsyncExitStack()
        self._closing: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()
        self.floor = FloorArbiter(
            session,
            literal_speech=literal_speech,
            max_repeats=settings.responder.max_repeats,
        )
        self.control = SessionControl(
            self.session_id,
            settings=settings,
            profile=services.profile,
            redis=services.redis,
            floor=self.floor,
            end_call=self.end,
            reset_away_timer=session.reset_away_timer,
            busy=self._busy_for_caller,
        )
        """The session layer: journal, state, budget, idle handling, guardrails, record."""
        self.journal = self.control.journal
        """Every event of the call, in order (see :mod:`responder.session`)."""
        self.metrics = CallMetrics(process=services.metrics)
        self.metrics.listeners.append(self._journal_metric)
        vad_options = getattr(session.vad, "_opts", None)
        if vad_options is not None and hasattr(vad_options, "min_silence_duration"):
            self.metrics.vad_hangover_s = float(vad_options.min_silence_duration)
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
        self.delegator.event_listeners.append(self.control.thinker_said)
        profile = services.profile
        self.hang_up = HangUp(
            profile.persona.goodbye,
            grace_s=settings.session.goodbye_grace_s,
            post=self.floor.post,
            emit=self.journal.emit,
            end_call=self.end,
        )
        """The ``end_call`` tool: goodbye, then hang up."""
        self.phone = (
            PhoneCall(phone, profile.spec.telephony, business=profile.name, side=self)
            if phone is not None
            else None
        )
        """The call's phone side (None: not on a phone line)."""
        extra = "\n\n".join(
            part
            for part in (
                settings.responder.instructions,
                extra_instructions,
                self.phone.instructions() if self.phone else None,
            )
            if part
        )
        greeting = profile.persona.greeting
        if self.phone is not None:
            greeting = profile.spec.telephony.greeting or greeting
        self.agent = TandemAgent(
            instructions=instructions_for(profile, extra or None),
            tools=services.local_tools(self.session_id)
            + self.delegator.tools()
            + [self.hang_up.tool()]
            + (self.phone.tools() if self.phone else []),
            greeting=greeting if greet else None,
            literal_speech=literal_speech,
            guard=self.control.guard,
        )
        self.agent.on_backchannel = lambda _text: self.metrics.emit("backchannel_ignored")
        self.agent.on_guardrail_correction = lambda: self.floor.post(
            self.control.guard.correction()
        )
        follow_session(session, self.journal)
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
        self.control.start()
        self.floor.start()
        self.delegator.start()
        self.metrics.emit("call_started", session_id=self.session_id)
        if self.phone is not None:
            self.journal.emit("phone", "line", **self.phone.line.facts())
        await self.session.start(self.agent, **start_options)
        self.control.budget.start()

    def end(self, reason: str) -> None:
        """End the call soon with ``reason`` (from a callback: the closing runs as a task)."""
        task = asyncio.get_running_loop().create_task(self.aclose(reason))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    def open_outbound(self) -> None:
        """The callee of an outbound call answered: the agent opens the conversation."""
        self.journal.emit("responder", "callee_answered")
        self.floor.post(
            Utterance(kind="guidance", priority=Priority.GUIDANCE, instructions=OPEN_OUTBOUND)
        )

    def hold_started(self) -> None:
        """The caller was put on hold (or waits for a transfer): that time is not call time,
        nobody nudges them and nothing is said to them meanwhile."""
        self.control.hold_started()
        self.floor.hold()

    def hold_ended(self) -> None:
        """The caller is back from hold."""
        self.control.hold_ended()
        self.floor.release()

    # -- what the phone side asks of the call (responder.telephony.phone.PhoneSide) -------------

    def emit(self, source: str, event: str, /, **fields: object) -> object:
        """Journal one event of ``source``."""
        return self.journal.emit(source, event, **fields)

    def post(self, utterance: Utterance) -> None:
        """Queue ``utterance`` for the floor."""
        self.floor.post(utterance)

    def interrupt(self) -> None:
        """Stop the agent's current speech, if any."""
        with contextlib.suppress(RuntimeError):
            self.session.interrupt(force=True)

    def caller_active(self) -> None:
        """The caller did something (pressed a key): they are there; idle timers restart."""
        self.control.idle.caller_spoke()
        self.session.reset_away_timer()

    def caller_keyed(self, keys: str) -> None:
        """The caller keyed an entry: their turn, as if said (it cuts the agent short)."""
        self.journal.emit("phone", "keys", keys=keys)
        self.interrupt()
        self.floor.caller_turn_ended()
        self.session.generate_reply(user_input=keyed_turn(keys))

    async def aclose(self, reason: str = "ended") -> None:
        """End the call: stop speaking, cancel open tasks, close the session (idempotent)."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(reason))
        await asyncio.shield(self._closing)

    async def _close(self, reason: str) -> None:
        self.end_reason = reason
        await self.control.aclose()
        await self.hang_up.aclose()
        if self.phone is not None:
            await self.phone.aclose()
        await self.floor.aclose()
        try:
            await self.delegator.aclose()
        except Exception:  # Redis gone: the tasks' deadlines end them anyway
            log.warning("could not cancel the call's open tasks", exc_info=True)
        with contextlib.suppress(RuntimeError):
            await self.session.aclose()
        self.metrics.close()
        self.metrics.emit("call_ended", reason=reason, summary=self.metrics.summary())
        await self.control.write_record(reason, self.metrics.summary(), self.session.usage)
        try:
            await self._resources.aclose()
        except Exception:  # a connection that will not close cleanly must not keep the call open
            log.warning("could not release the call's resources", exc_info=True)
        log.info("call ended", extra={"session_id": self.session_id, "reason": reason})
        self.ended.set()
        for listener in self.end_listeners:
            listener(reason)

    # -- session events -------------------------------------------------------------------------

    def _journal_metric(self, record: dict[str, Any]) -> None:
        fields = {k: v for k, v in record.items() if k not in ("t", "event")}
        self.journal.emit("responder", str(record["event"]), **fields)

    def _on_user_state(self, event: Any) -> None:
        if event.old_state == "speaking" and event.new_state != "speaking":
            self.floor.caller_turn_ended()
        if self._closing is None:
            self.control.caller_state(event.new_state)
            if self.phone is not None:
                self.phone.pickup.callee_speaking(event.new_state == "speaking")
        self.metrics.user_speaking(event.new_state == "speaking")

    def _on_transcript(self, event: Any) -> None:
        if event.is_final:
            self.control.caller_said(event.transcript)
            if self.phone is not None:
                self.phone.pickup.callee_said(event.transcript)

    def _busy_for_caller(self) -> str | None:
        """Why a silent caller is not idle: a task runs for them, the agent speaks, or
        something waits for the floor (None: they are idle)."""
        if self.delegator.tasks.running():
            return "task"
        if self.session.current_speech is not None:
            return "speaking"
        return "floor" if self.floor.pending else None

    def _on_speech_created(self, _event: Any) -> None:
        self.floor.reply_started()

    def _on_agent_state(self, event: Any) -> None:
        self.metrics.agent_speaking(event.new_state == "speaking")
        if event.new_state == "speaking" and self.phone is not None:
            self.phone.pickup.agent_spoke()

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
