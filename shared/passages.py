"""Picking the passages of a long text that answer a question, without a language model.

A phone answer is a sentence or two, not a document read aloud. The offline stand-ins on both
sides use this: the thinker's demo brain to answer from the knowledge sections it looked up, and
the responder's rule-based brain to keep any long answer to phone length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SENTENCE_END = re.compile(r"(?<=[.?!])\s+|\n+")
_STOP_WORDS = (
    "about and any anything are can could does for has have hello know like need please some "
    "tell that the their there this want what when where which will with would you your"
)
_STOP_STEMS = {word[:4] for word in _STOP_WORDS.split()}
_FOCUS_WEIGHT = 2
"""What a passage that starts with a focus word (say, the weekday asked about) gains."""


def stems(text: str) -> list[str]:
    """The words of ``text`` cut to four letters ("opening", "opens" -> "open"), in order."""
    return [word[:4] for word in re.findall(r"[a-z]{3,}", text.lower())]


def split_passages(text: str) -> list[str]:
    """List items whole; prose joined across wrapped lines and cut into sentences. Left out:
    short headings (a line of at most 40 characters with no closing punctuation) and lead-ins to
    a list (a passage ending with ":"), which say nothing on their own."""
    passages: list[str] = []
    prose: list[str] = []
    for line in [*text.splitlines(), ""]:
        line = line.strip()
        heading = bool(line) and len(line) <= 40 and line[-1].isalnum() and not prose
        if line.startswith("- ") or not line or heading:
            passages += _SENTENCE_END.split(" ".join(prose)) if prose else []
            prose = []
            if line.startswith("- "):
                passages.append(line[2:])
        else:
            prose.append(line)
    return [p.strip() for p in passages if p.strip() and not p.rstrip().endswith(":")]


def best_passages(
    text: str, question: str, *, limit: int = 2, focus: Iterable[str] = ()
) -> list[str]:
    """The (at most ``limit``) passages of ``text`` that share the most words with
    ``question``, in their order in the text; an empty list if none shares any.

    A passage that starts with one of the question's words counts one extra (it is about it); one
    that starts with a ``focus`` word counts two extra (the caller asked about that day, dish,
    ...). Passages are those of :func:`split_passages`.
    """
    asked = set(stems(question)) - _STOP_STEMS
    focused = {word[:4] for word in stems(" ".join(focus))}
    asked |= focused
    passages = split_passages(text)

    def score(passage: str) -> int:
        first = re.match(r"\W*([a-z]+)", passage.lower())
        lead = first.group(1)[:4] if first else ""
        bonus = (1 if lead in asked else 0) + (_FOCUS_WEIGHT if lead in focused else 0)
        return len(asked & set(stems(passage))) + bonus

    scores = [score(passage) for passage in passages]
    best = max(scores, default=0)
    if best == 0:
        return []
    return [p for p, value in zip(passages, scores, strict=True) if value == best][:limit]
