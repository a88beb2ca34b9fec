"""Helpers shared by the built-in rules: compiled phrase lists and hit construction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from shared.guardrails._types import Action, Hit, Severity, Side

FLAGS = re.IGNORECASE
APOSTROPHE = "['\u2019]?"
"""An apostrophe STT may or may not write ("what's" / "whats")."""


def phrases(*patterns: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of ``patterns`` as whole words; a space in a
    pattern matches any run of whitespace or punctuation STT might put there."""
    joined = "|".join(f"(?:{p})" for p in patterns)
    flexible = joined.replace(" ", r"[\s,;:-]+")
    return re.compile(rf"(?<!\w)(?:{flexible})(?!\w)", FLAGS)


def spans_of(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    """Where ``pattern`` matches in ``text``."""
    for match in pattern.finditer(text):
        yield match.span()


def first_span(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """The first place ``pattern`` matches in ``text``, as a list (empty: nowhere)."""
    match = pattern.search(text)
    return [match.span()] if match else []


def hits(
    spans: Iterable[tuple[int, int]],
    *,
    rule: str,
    side: Side,
    action: Action,
    severity: Severity,
    reason: str,
) -> list[Hit]:
    """One :class:`Hit` per span."""
    return [Hit(rule, side, action, severity, reason, span) for span in spans]
