"""Rules on the agent's own sentences: reciting its instructions, insulting or swearing."""

from __future__ import annotations

import functools
import re

from shared.guardrails._patterns import APOSTROPHE as A
from shared.guardrails._patterns import first_span, hits, phrases
from shared.guardrails._types import Hit, RuleContext, Side

_AGENT: frozenset[Side] = frozenset({"agent"})
OVERLAP_WORDS = 12
"""Consecutive words shared with the instructions that make a sentence a recital."""

_LEAK = phrases(
    r"my (?:system prompt|prompt|instructions|programming|guidelines|directives|system message)"
    r" (?:say|says|said|are|is|tells? me|state|states|were|read)",
    r"according to my (?:system prompt|prompt|instructions|programming|guidelines)",
    rf"i(?:{A}ve| have| was| am|{A}m) (?:been )?(?:instructed|programmed|prompted|configured) to",
    r"system prompt",
    r"here (?:are|is) my (?:instructions|prompt|guidelines|rules)",
    rf"i{A}m not (?:supposed|allowed) to (?:tell|share|reveal) (?:you )?my (?:instructions|prompt)",
)
_WORD = re.compile(r"[a-z0-9]+(?:['\u2019][a-z]+)?", re.IGNORECASE)

_RUDE = phrases(
    rf"(?:you{A}re|you are|you) (?:such |so |a |an |really |completely |totally ){{0,3}}"
    r"(?:idiot|stupid|moron|dumb|pathetic|useless|clueless|an? pain|annoying|ridiculous|"
    r"incompetent|rude)",
    r"(?:stupid|dumb|silly|idiotic|ridiculous) question",
    rf"shut up|calm the \w+ down|what{A}s wrong with you|are you deaf|listen to me",
    r"f+u+c+k\w*|shit\w*|bullshit|bitch\w*|bastard\w*|asshole\w*|arsehole\w*|cunt\w*|"
    r"damn|dammit|goddamn\w*|crap|crappy|piss(?:ed)? off|wtf|bloody hell|hell no|twat|prick|"
    r"dickhead|screw you|go to hell",
)


class InstructionLeak:
    """The agent reciting its instructions: a long verbatim run of them, or "my instructions
    say", "I was programmed to", "my system prompt"."""

    name = "instruction_leak"
    sides = _AGENT

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """The first phrase, else the first long run shared with ``ctx.instructions``."""
        found = first_span(_LEAK, text) or _overlap(text, ctx.instructions)
        return hits(
            found,
            rule=self.name,
            side="agent",
            action="correct",
            severity="high",
            reason="recites its instructions",
        )


class Rudeness:
    """The agent insulting the caller or swearing."""

    name = "rudeness"
    sides = _AGENT

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """The first insult or swear word."""
        return hits(
            first_span(_RUDE, text),
            rule=self.name,
            side="agent",
            action="correct",
            severity="high",
            reason="insults the caller or swears",
        )


def _overlap(text: str, instructions: str) -> list[tuple[int, int]]:
    grams = _ngrams(instructions)
    if not grams:
        return []
    words = [(m.group().lower(), m.span()) for m in _WORD.finditer(text)]
    for index in range(len(words) - OVERLAP_WORDS + 1):
        window = words[index : index + OVERLAP_WORDS]
        if tuple(word for word, _ in window) in grams:
            return [(window[0][1][0], window[-1][1][1])]
    return []


_QUOTED = re.compile(r'"[^"]*"|\u201c[^\u201d]*\u201d')
"""Quoted lines in the instructions: examples of what the agent should say (a read-back),
which it is meant to echo, not instructions it would be reciting."""


@functools.lru_cache(maxsize=32)
def _ngrams(instructions: str) -> frozenset[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for prose in _QUOTED.split(instructions.lower()):
        words = [m.group() for m in _WORD.finditer(prose)]
        grams.update(
            tuple(words[i : i + OVERLAP_WORDS]) for i in range(len(words) - OVERLAP_WORDS + 1)
        )
    return frozenset(grams)
