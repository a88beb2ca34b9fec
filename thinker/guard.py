"""Guardrails on what a thinker publishes: every partial and final result is cleaned against
the tool outputs of its task before it reaches the call (:meth:`Guardrails.clean`).

Personal data is redacted and sentences that read as instructions to the assistant are removed.
A result that contradicts its tool outputs, or has nothing left, is not published as an answer:
a partial is held back, and a final result becomes an honest ``unknown`` ("I could not confirm
that"), or, when a tool already did something that cannot be undone (a booking), that tool's
own words. Hits are logged by rule and reason with the task id, never with the text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import JsonValue

from shared.bus import TaskOutcome
from shared.guardrails import Cleaned, Guardrails, Hit, RuleContext
from shared.profile import Profile
from thinker.metrics import ThinkerMetrics

log = logging.getLogger(__name__)
Publish = Callable[[str], Awaitable[None]]

NOT_CONFIRMED = "I could not confirm that from the business's information."
"""The text of a final result dropped by the guardrails (kind ``unknown``)."""


class GuardrailSet:
    """One :class:`Guardrails` per profile served (and one for tasks without a profile)."""

    def __init__(self) -> None:
        self._by_profile: dict[str | None, Guardrails] = {}

    def for_profile(self, profile: Profile | None) -> Guardrails:
        """The guardrails of ``profile``, made once."""
        key = profile.id if profile is not None else None
        guardrails = self._by_profile.get(key)
        if guardrails is None:
            guardrails = (
                Guardrails.for_profile(profile)
                if profile is not None
                else Guardrails(RuleContext(business=""))
            )
            self._by_profile[key] = guardrails
        return guardrails


class ResultGuard:
    """The guardrails of one task: it hears every tool result, then cleans what is published."""

    def __init__(self, guardrails: Guardrails, metrics: ThinkerMetrics, task_id: str) -> None:
        self._guardrails = guardrails
        self._metrics = metrics
        self._task_id = task_id
        self.tool_outputs: list[str] = []
        """Every tool result of the task so far (errors included: "no table at 20:00")."""
        self.done: list[str] = []
        """What tools with side effects reported doing (a booking made)."""

    def heard(self, content: str, *, did_something: bool) -> None:
        """A tool result; ``did_something``: a side effect happened (it cannot be undone)."""
        self.tool_outputs.append(content)
        if did_something:
            self.done.append(content)

    def partial(
        self, publish: Callable[[str], Awaitable[None]]
    ) -> Callable[[str], Awaitable[None]]:
        """``publish`` for partial results, behind the guardrails (a dropped one is not sent)."""

        async def guarded(text: str) -> None:
            cleaned = self._clean(text, "partial")
            if not cleaned.dropped:
                await publish(cleaned.text)

        return guarded

    def outcome(self, outcome: TaskOutcome) -> TaskOutcome:
        """The final result as it may be published."""
        cleaned = self._clean(outcome.text, "result")
        if not cleaned.hits:
            return outcome
        rules: list[JsonValue] = [*sorted({hit.rule for hit in cleaned.hits})]
        data: dict[str, JsonValue] = {**outcome.data, "guardrails": rules}
        if not cleaned.dropped:
            return TaskOutcome(cleaned.text, data, outcome.kind)
        if self.done:
            said = self._guardrails.clean(" ".join(self.done))  # the tools' words, not checked
            if not said.dropped:  # against themselves
                return TaskOutcome(said.text, data, "answer")
        return TaskOutcome(NOT_CONFIRMED, data, "unknown")

    def _clean(self, text: str, what: str) -> Cleaned:
        cleaned = self._guardrails.clean(text, tool_outputs=self.tool_outputs)
        for hit in cleaned.hits:
            self._record(hit, what, dropped=cleaned.dropped)
        return cleaned

    def _record(self, hit: Hit, what: str, *, dropped: bool) -> None:
        self._metrics.guardrail_hits.labels(hit.rule, hit.action).inc()
        log.warning(
            "guardrail hit on a thinker result",
            extra={
                "task_id": self._task_id,
                "rule": hit.rule,
                "reason": hit.reason,
                "action": hit.action,
                "result": what,
                "dropped": dropped,
            },
        )
