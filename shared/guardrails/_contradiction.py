"""A thinker answer whose numbers are in none of the tool outputs it was built from."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal

from shared.guardrails._numbers import bare_numbers, values
from shared.guardrails._types import Hit, RuleContext, Side

_THINKER: frozenset[Side] = frozenset({"thinker"})
_LOOSE_KINDS = ("price", "quantity:")
"""Kinds a bare number in a tool output supports (a calculator's "42.25", a JSON ``4``)."""


class Contradiction:
    """Drops a result when a time, price, date or quantity in it appears in no tool output
    while the tool outputs do give numbers of that kind: the answer contradicts its sources.
    Conservative: no tool outputs, no numbers in the answer, or no numbers of that kind in the
    tool outputs, and it stays quiet; numbers said as words ("noon", "eight") are not read in
    the answer, and the agent's instructions (which the thinker also reads) support a number
    too."""

    name = "contradiction"
    sides = _THINKER

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """At most one hit, for the first kind contradicted."""
        if not ctx.tool_outputs:
            return []
        said = values(text, words=False)
        if not said:
            return []
        sources = "\n".join(ctx.tool_outputs)
        known = _by_kind(sources)
        supported = _instruction_values(ctx.instructions)
        bare: set[Decimal] | None = None
        for value in said:
            given = known.get(value.kind)
            if not given or value.candidates & (given | supported.get(value.kind, frozenset())):
                continue
            if value.kind.startswith(_LOOSE_KINDS):
                bare = bare_numbers(sources) if bare is None else bare
                if not bare.isdisjoint(value.candidates):
                    continue
            kind = value.kind.removeprefix("quantity:")
            return [
                Hit(
                    self.name,
                    "thinker",
                    "drop",
                    "high",
                    f"a {kind} in the answer is in no tool output",
                )
            ]
        return []


def _by_kind(text: str) -> Mapping[str, frozenset[object]]:
    """The values of each kind in ``text``."""
    found: dict[str, set[object]] = {}
    for value in values(text):
        found.setdefault(value.kind, set()).update(value.candidates)
    return {kind: frozenset(candidates) for kind, candidates in found.items()}


_instruction_values = functools.lru_cache(maxsize=32)(_by_kind)
"""The instructions' values, read once per instructions (they are the same for every result)."""
