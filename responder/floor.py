"""The floor-control arbiter: the one place that decides when the agent says something the caller
did not just ask for (thinker results, fillers, failure notices, guidance, wrap-up).

Rules it enforces:

* never while the caller speaks, never over the agent's own speech: it waits for the session to be
  idle (the framework's ``wait_for_idle``: no speech playing or queued, no caller speech, no end
  of turn in flight) and then asks for speech with no await in between;
* an utterance that is interrupted or dropped by a barge-in (the framework drops queued replies)
  is kept and re-spoken, whole, when the floor is free again (:data:`RETRY_NOTE`): whatever cut
  it off, it is still owed unless it became stale meanwhile (superseded), the model's replies
  since had said all of it (it answers with nothing: "covered"), or it was re-spoken
  :attr:`max_repeats` times;
* everything pending of the result class is coalesced into one utterance;
* priority classes: a filler is only spoken when nothing better is waiting; ``URGENT`` (safety,
  session end) interrupts the agent's own speech and does not wait for the caller;
* a caller turn that just ended is answered first: until the model has started its reply to it
  (or ``turn_settle_s`` passed with none), nothing is injected. That turn may be a correction that
  makes a pending answer stale, and with server-side turn detection the reply is not yet visible
  to the session when the caller goes quiet.

Content goes into the conversation context before the arbiter is asked to speak it (see
:mod:`responder.delegation`); the arbiter only adds per-response instructions, so the session
instructions are never rewritten (prompt caching stays warm, realtime audio is not reset).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from livekit.agents.voice.agent_activity import ActivityClosedError
from opentelemetry import trace
from opentelemetry.context import Context

from responder.prompts import say_verbatim

log = logging.getLogger("tandem.responder.floor")
_tracer = trace.get_tracer("tandem.responder")


class Priority(enum.IntEnum):
    """Who may take the floor first; only ``URGENT`` may cut into the agent's own speech."""

    FILLER = 0
    RESULT = 1
    GUIDANCE = 2
    URGENT = 3


UtteranceKind = Literal[
    "nudge",
    "ack",
    "filler",
    "result",
    "failure",
    "late_notice",
    "guidance",
    "safety",
    "wrap_up",
    "goodbye",
    "correction",
]


def _never_stale() -> bool:
    return False


_ids = itertools.count(1)


@dataclass
class Utterance:
    """Something the agent should say when the floor is free.

    Exactly one of ``text`` (said as written) and ``instructions`` (the model phrases it from the
    conversation context) is set. ``is_stale`` is checked right before speaking and after an
    interruption: a stale utterance is dropped and counted, never spoken.
    """

    kind: UtteranceKind
    priority: Priority
    text: str | None = None
    instructions: str | None = None
    task_ids: tuple[str, ...] = ()
    is_stale: Callable[[], bool] = _never_stale
    repeat_if_cut: bool = True
    """Re-speak when a barge-in cut it off (fillers and acknowledgements are not worth it)."""
    on_spoken: Callable[[Utterance], None] | None = None
    """Called once the utterance was heard to the end."""
    trace: Context | None = None
    """The trace context it belongs to (a task's answer): its speech is traced as a child."""
    id: int = field(default_factory=lambda: next(_ids))
    posted_at: float = field(default_factory=time.monotonic)
    attempts: int = 0

    def __post_init__(self) -> None:
        if (self.text is None) == (self.instructions is None):
            raise ValueError("an utterance needs exactly one of text or instructions")


class SpeechLike(Protocol):
    """What the arbiter needs of a LiveKit ``SpeechHandle``."""

    @property
    def interrupted(self) -> bool: ...

    @property
    def chat_items(self) -> list[Any]: ...

    def done(self) -> bool: ...

    def exception(self) -> BaseException | None: ...

    def add_done_callback(self, callback: Callable[[Any], None]) -> None: ...


class FloorSession(Protocol):
    """What the arbiter needs of a LiveKit ``AgentSession``."""

    async def wait_for_idle(self) -> Any: ...

    def generate_reply(self, *, instructions: str, allow_interruptions: bool) -> Any: ...

    def say(self, text: str, *, allow_interruptions: bool) -> Any: ...

    def interrupt(self, *, force: bool = False) -> Any: ...


@dataclass
class FloorStats:
    """What the arbiter did in one call."""

    spoken: int = 0
    respoken: int = 0
    """Utterances spoken again after a barge-in cut them off."""
    stale_dropped: int = 0
    covered: int = 0
    """Re-speaks the model judged already covered (it answered with nothing)."""
    coalesced: int = 0
    """Utterances merged into another one."""
    abandoned: int = 0
    """Interrupted utterances not re-spoken: not worth it or out of attempts."""
    action_latency_s: list[float] = field(default_factory=list)
    """Floor became free (or the utterance arrived on a free floor) to speech requested."""


class FloorArbiter:
    """Speaks queued :class:`Utterance` objects one turn at a time, by the rules above."""

    def __init__(
        self,
        session: FloorSession,
        *,
        literal_speech: bool,
        max_repeats: int = 2,
        turn_settle_s: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``literal_speech``: the session has a TTS, so texts are spoken with ``say()`` exactly
        as written; otherwise (a realtime audio model) the model is asked to say them."""
        self._session = session
        self._literal = literal_speech
        self._max_repeats = max_repeats
        self._turn_settle_s = turn_settle_s
        self._turn_unanswered = asyncio.Event()
        self._turn_ended_at = 0.0
        self._turn_answered = asyncio.Event()
        self._clock = clock
        self._pending: list[Utterance] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._open = asyncio.Event()
        self._open.set()
        self.stats = FloorStats()
        self.listeners: list[Callable[[str, Utterance], None]] = []
        """Called with ("requested" | "spoken" | "interrupted" | "stale" | "covered" |
        "abandoned", utterance): the call log and metrics hang off this."""

    def start(self) -> None:
        """Start the arbiter's loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tandem-floor")

    async def aclose(self) -> None:
        """Stop speaking anything further; pending utterances are dropped."""
        self._closed = True
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def pending(self) -> tuple[Utterance, ...]:
        """Utterances waiting for the floor, highest priority first."""
        return tuple(sorted(self._pending, key=lambda u: (-u.priority, u.posted_at)))

    def post(self, utterance: Utterance) -> None:
        """Queue ``utterance``; an ``URGENT`` one also cuts the agent's current speech."""
        if self._closed:
            return
        self._pending.append(utterance)
        if utterance.priority is Priority.URGENT:
            with contextlib.suppress(RuntimeError):  # nothing is playing, or the session closed
                self._session.interrupt(force=True)
        self._wake.set()

    def caller_turn_ended(self) -> None:
        """The caller stopped speaking: hold injections until the model starts its reply."""
        self._turn_ended_at = self._clock()
        self._turn_answered.clear()
        self._turn_unanswered.set()

    def reply_started(self) -> None:
        """The session started a reply (call it from ``speech_created``)."""
        self._turn_unanswered.clear()
        self._turn_answered.set()

    async def _let_the_caller_turn_settle(self) -> bool:
        """Wait for the reply to a just-ended caller turn; True if the floor must be re-checked."""
        if not self._turn_unanswered.is_set():
            return False
        remaining = self._turn_settle_s - (self._clock() - self._turn_ended_at)
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._turn_answered.wait(), remaining)
        self._turn_unanswered.clear()
        return True

    def hold(self) -> None:
        """The caller is on hold: nothing is spoken until :meth:`release` (it stays queued)."""
        self._open.clear()

    def release(self) -> None:
        """The caller is back: queued utterances are spoken again."""
        self._open.set()

    def withdraw(self, predicate: Callable[[Utterance], bool]) -> list[Utterance]:
        """Drop pending utterances matching ``predicate``; returns them."""
        dropped = [u for u in self._pending if predicate(u)]
        self._pending = [u for u in self._pending if not predicate(u)]
        return dropped

    async def _run(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            while self._pending and not self._closed:
                await self._open.wait()
                if not any(u.priority is Priority.URGENT for u in self._pending):
                    try:
                        await self._session.wait_for_idle()
                        if await self._let_the_caller_turn_settle():
                            continue  # a reply may be under way now: check the floor again
                    except (ActivityClosedError, RuntimeError):  # the session is closing
                        log.debug("floor: session closing, pending utterances dropped")
                        self._pending.clear()
                        return
                # no await from here until the speech is requested: the floor is ours
                floor_free_at = self._clock()
                batch = self._take_batch()
                if not batch:
                    break
                with _speech_span(batch) as span:
                    handle = self._speak(batch)
                    self.stats.action_latency_s.append(
                        self._clock() - max(floor_free_at, max(u.posted_at for u in batch))
                    )
                    await self._settle(batch, handle)
                    span.set_attribute("tandem.interrupted", bool(handle.interrupted))

    def _take_batch(self) -> list[Utterance]:
        fresh: list[Utterance] = []
        for utterance in self._pending:
            if utterance.is_stale():
                self.stats.stale_dropped += 1
                self._notify("stale", utterance)
            else:
                fresh.append(utterance)
        self._pending = fresh
        if not fresh:
            return []
        top = max(u.priority for u in fresh)
        if top is Priority.RESULT:
            # every result-class utterance goes out together; fillers are moot once a result
            # is about to be spoken
            batch = [u for u in fresh if u.priority is Priority.RESULT]
            batch.sort(key=lambda u: u.posted_at)
            for filler in (u for u in fresh if u.priority is Priority.FILLER):
                self.stats.stale_dropped += 1
                self._notify("stale", filler)
            self._pending = [u for u in fresh if u.priority > Priority.RESULT]
            self.stats.coalesced += len(batch) - 1
            return batch
        first = min((u for u in fresh if u.priority is top), key=lambda u: u.posted_at)
        self._pending.remove(first)
        return [first]

    def _speak(self, batch: list[Utterance]) -> Any:
        for utterance in batch:
            utterance.attempts += 1
            if utterance.attempts > 1:
                self.stats.respoken += 1
            self._notify("requested", utterance)
        allow_interruptions = batch[0].priority is not Priority.URGENT
        if len(batch) == 1 and batch[0].text is not None:
            text = batch[0].text
            if self._literal:
                return self._session.say(text, allow_interruptions=allow_interruptions)
            return self._session.generate_reply(
                instructions=say_verbatim(text),
                allow_interruptions=allow_interruptions,
            )
        return self._session.generate_reply(
            instructions=compose_instructions(batch), allow_interruptions=allow_interruptions
        )

    async def _settle(self, batch: list[Utterance], handle: Any) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def finished(_: Any) -> None:
            if not done.done():
                done.set_result(None)

        handle.add_done_callback(finished)
        await done
        failed = handle.exception() is not None
        if not handle.interrupted and not failed:
            said_something = any(
                getattr(item, "role", None) == "assistant" for item in handle.chat_items
            )
            for utterance in batch:
                if utterance.attempts > 1 and not said_something:
                    self.stats.covered += 1
                    self._notify("covered", utterance)
                    continue
                self.stats.spoken += 1
                self._notify("spoken", utterance)
                if utterance.on_spoken is not None:
                    utterance.on_spoken(utterance)
            return
        for utterance in batch:
            self._notify("interrupted", utterance)
            if utterance.is_stale():
                self.stats.stale_dropped += 1
                self._notify("stale", utterance)
            elif utterance.repeat_if_cut and utterance.attempts <= self._max_repeats:
                self._pending.append(utterance)
            else:
                self.stats.abandoned += 1
                self._notify("abandoned", utterance)
        if self._pending:
            self._wake.set()

    def _notify(self, what: str, utterance: Utterance) -> None:
        for listener in self.listeners:
            try:
                listener(what, utterance)
            except Exception:
                log.exception("floor listener failed")


def _speech_span(batch: list[Utterance]) -> Any:
    """``responder.speech`` while the floor says ``batch``: a child of the first traced
    utterance's context (a task's answer), linked to the others' (answers said together)."""
    traced = [u for u in batch if u.trace is not None]
    if not traced:  # a filler or a notice of no task: nothing to trace it in
        return contextlib.nullcontext(trace.INVALID_SPAN)
    contexts = [u.trace for u in traced if u.trace is not None]
    links = [trace.Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:]]
    attributes: dict[str, str | int] = {
        "tandem.kind": batch[0].kind,
        "tandem.utterances": len(batch),
    }
    if traced[0].task_ids:
        attributes["tandem.task_id"] = traced[0].task_ids[0]
    return _tracer.start_as_current_span(
        "responder.speech", context=contexts[0], links=links, attributes=attributes
    )


RETRY_NOTE = (
    "\nYou were cut off before you finished saying this, and the caller is still owed it: say "
    "it again now, whole, even if they talked about something else meanwhile (then say first "
    "what it answers). Leave out only what your replies since then have already told them."
)
"""Added to an utterance said again after a barge-in cut it off. It was not superseded (a stale
one is dropped, never re-said), so it is owed: whatever the caller said in between, a listening
noise misheard as a turn or a question of their own, does not excuse the agent from it."""


def compose_instructions(batch: list[Utterance]) -> str:
    """One instruction for the model covering every utterance in ``batch``."""
    retry = any(u.attempts > 1 for u in batch)
    parts = [u.instructions if u.instructions is not None else f'Say: "{u.text}"' for u in batch]
    if len(parts) == 1:
        body = parts[0] or ""
    else:
        listed = "\n".join(f"{n}. {part}" for n, part in enumerate(parts, 1))
        body = f"Cover all of these in one short, natural turn, most important first:\n{listed}"
    if retry:
        body += RETRY_NOTE
    return body
