"""The session layer of one call, in one place: its journal and derived state, the journal's
live copy in Redis, the session budget, idle handling, guardrails, and the record written when
the call ends. :class:`~responder.call.Call` owns one and feeds it the session's events.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from responder.floor import FloorArbiter
from responder.prompts import instructions_for
from responder.session.budget import BudgetPolicy, SessionBudget
from responder.session.capture import thinker_event
from responder.session.guard import CallGuard
from responder.session.idle import IdlePolicy, IdleWatch
from responder.session.journal import JournalEvent, SessionJournal
from responder.session.recorder import call_record, save_call
from responder.session.state import SessionState
from responder.session.store import SessionStore
from responder.session.writer import JournalWriter
from shared.config import Settings
from shared.guardrails import Guardrails, RuleContext, load_classifier
from shared.keys import Keys
from shared.profile import Profile
from shared.redact import Redactor
from shared.wire import Event

RECORD_TIMEOUT_S = 5.0
"""Longest the call record may take to store when a call ends (it is skipped, logged, after)."""
_CLOSING = ("goodbye", "ended", "hard_stop")


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


class SessionControl:
    """One call's journal, state, budget, idle watch, guardrails and record."""

    def __init__(
        self,
        session_id: str,
        *,
        settings: Settings,
        profile: Profile,
        redis: Redis,
        floor: FloorArbiter,
        end_call: Callable[[str], None],
        reset_away_timer: Callable[[], None],
        busy: Callable[[], str | None],
    ) -> None:
        """``end_call``: ends the call with a reason; ``busy``: why a silent caller is not idle
        as the call sees it ("task", "speaking", "floor"), None when they are."""
        self._settings = settings
        self._profile = profile
        self._redis = redis
        self._busy = busy
        self.journal = SessionJournal(session_id)
        """Every event of the call, in order."""
        self.state = SessionState()
        """What the call is doing now, derived from the journal."""
        self._redactor = Redactor()
        self._writer = JournalWriter(redis, settings.bus, session_id, redact=self._live_copy)
        self.journal.handlers += [self.state.apply, self._writer.add]
        emit = self.journal.emit
        self.budget = SessionBudget(
            BudgetPolicy.for_call(settings, profile),
            post=floor.post,
            emit=emit,
            end_call=end_call,
            goodbye=profile.persona.goodbye,
            busy=lambda: busy() == "task",
        )
        """The session budget: wrap-up, goodbye and hard stop (the profile's ``[session]``)."""
        self.idle = IdleWatch(
            IdlePolicy.for_call(settings, profile),
            post=floor.post,
            emit=emit,
            end_call=end_call,
            reset_timer=reset_away_timer,
            busy=self._busy_for_caller,
        )
        """Nudges a silent caller; closes the call when they stay silent."""
        self.guard = CallGuard(
            call_guardrails(settings, profile),
            redirect_line=profile.spec.guardrails.redirect,
            post=floor.post,
            emit=emit,
            end_call=end_call,
            closing_grace_s=settings.session.goodbye_grace_s,
        )
        """Guardrails on the caller's words and the agent's."""

    def start(self) -> None:
        """Start the clock and the journal's live copy (before the session starts)."""
        self.journal.start_clock()
        self._writer.start()

    def hold_started(self) -> None:
        """The caller was put on hold (or waits for a transfer): not call time, no nudges."""
        self.journal.emit("responder", "hold_started")
        self.budget.hold_started()
        self.idle.hold_started()

    def hold_ended(self) -> None:
        """The caller is back from hold."""
        self.journal.emit("responder", "hold_ended")
        self.budget.hold_ended()
        self.idle.hold_ended()

    def caller_state(self, state: str) -> None:
        """The caller's state changed (``speaking``, ``listening``, ``away``)."""
        if state == "speaking":
            self.idle.caller_spoke()
        elif state == "away":
            self.idle.caller_away()

    def caller_said(self, text: str) -> None:
        """A final transcript of the caller."""
        self.guard.caller_said(text)

    def thinker_said(self, event: Event) -> None:
        """One thinker event of the call, as it arrived."""
        thinker_event(self.journal, event)
        rules = getattr(event, "data", {}).get("guardrails")
        if isinstance(rules, list):
            self.guard.thinker_rules([str(rule) for rule in rules])

    async def aclose(self) -> None:
        """Stop the budget, the idle watch and the guardrails' timers (the call is ending)."""
        await self.budget.aclose()
        await self.idle.aclose()
        await self.guard.aclose()

    async def write_record(self, reason: str, figures: dict[str, Any], usage: Any) -> None:
        """The journal's last events to its live copy, then the call's record, redacted
        (``figures``: the call's measurements; ``usage``: LiveKit's ``session.usage``)."""
        await self._writer.aclose()
        s = self._settings.session
        if not s.records:
            return
        store = SessionStore(
            self._redis, Keys(self._settings.bus.prefix), s.retention_days * 86_400
        )
        record = call_record(
            self.journal,
            self.state,
            profile=self._profile.id,
            end_reason=reason,
            figures=figures,
            usage=usage,
        )
        await save_call(store, record, self.journal.events, timeout_s=RECORD_TIMEOUT_S)

    def _busy_for_caller(self) -> str | None:
        if self.budget.stage in _CLOSING:
            return "closing"
        if self.state.on_hold:
            return "transfer"
        return self._busy()

    def _live_copy(self, event: JournalEvent) -> JournalEvent:
        """What of ``event`` may be stored while the call runs: its redacted copy (names the
        caller gave so far are learnt; the record at the end redacts with all of them)."""
        self._redactor.learn(event)
        return self._redactor.redact_event(event)
