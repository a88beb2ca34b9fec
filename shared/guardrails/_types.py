"""The vocabulary of guardrails: sides, actions, hits, the context rules read, the rule and
classifier protocols."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from shared.profile import OffDomainTopic

if TYPE_CHECKING:
    from shared.profile import Profile

Side = Literal["caller", "thinker", "agent"]
"""Whose text is checked: what the caller said (a transcript), a thinker's result before it is
said, or the agent's own sentence before or while it is spoken."""

Action = Literal["redirect", "end_call", "redact", "drop", "correct"]
"""What a hit asks for. Caller: ``redirect`` (steer back) or ``end_call`` (threats). Thinker:
``redact`` (replace a span) or ``drop`` (remove the sentence at ``span``, or the whole result
when the hit has no span). Agent: ``correct`` (hold back or interrupt the sentence)."""

Severity = Literal["low", "high"]

_DIGITS = re.compile(r"\d")
_NUMBER_RUN = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True)
class Hit:
    """One rule's finding in one text. ``reason`` is a short phrase safe to log: it never
    contains the matched text. ``span``: the characters found, when the rule located them."""

    rule: str
    side: Side
    action: Action
    severity: Severity
    reason: str
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class RuleContext:
    """What rules may know beyond the text: the business, its off-domain topics, the tool
    outputs a thinker answer was built from, the agent's instructions, and the business's own
    phone numbers (digits only) and e-mail addresses (which are fine to say)."""

    business: str
    off_domain: tuple[OffDomainTopic, ...] = ()
    tool_outputs: tuple[str, ...] = ()
    instructions: str = ""
    allowed_numbers: tuple[str, ...] = ()
    allowed_emails: tuple[str, ...] = ()

    @classmethod
    def for_profile(cls, profile: Profile) -> RuleContext:
        """The context of a profile: its name, off-domain topics, persona instructions, and the
        phone numbers and e-mail addresses its knowledge gives."""
        knowledge = "\n".join(section.text() for section in profile.sections)
        numbers = {
            digits
            for run in _NUMBER_RUN.findall(knowledge)
            if 9 <= len(digits := "".join(_DIGITS.findall(run))) <= 15
        }
        emails = {email.lower() for email in _EMAIL.findall(knowledge)}
        return cls(
            business=profile.name,
            off_domain=profile.spec.guardrails.off_domain,
            instructions=profile.persona.instructions,
            allowed_numbers=tuple(sorted(numbers)),
            allowed_emails=tuple(sorted(emails)),
        )


@runtime_checkable
class Rule(Protocol):
    """A built-in or custom check: synchronous, pure and fast (regular expressions, keywords;
    microseconds to a millisecond), run on every text of its sides."""

    name: str
    sides: frozenset[Side]

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """The hits in ``text`` (empty: nothing found)."""
        ...


@runtime_checkable
class Classifier(Protocol):
    """An extra check run asynchronously beside the rules (e.g. a model call)."""

    async def classify(self, side: Side, text: str, ctx: RuleContext) -> list[Hit]:
        """The hits in ``text``, seen from ``side``."""
        ...
