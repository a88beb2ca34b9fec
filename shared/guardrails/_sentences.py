"""Sentences in agent and thinker text, for holding speech back one sentence at a time.

A full stop ends a sentence only when whitespace (or the end) follows it, and not after a title
or an abbreviation ("Mr.", "St.", "e.g."), a single initial ("J. Smith") or "No." before a
number; so "12.50", "8.30" and "e.g. pasta" stay whole. "a.m."/"p.m." and "etc." end a sentence
only when a capitalised word follows.
"""

from __future__ import annotations

import re

_END = re.compile(r"(?:\.{3}|…|[.!?]+)[\"'\u201d\u2019)\]]*(?=\s|$)")
_TITLES = (
    "mr mrs ms dr prof st ave rd blvd mt ft jr sr vs approx appt dept est e.g i.e cf n.b tel ext"
)
_NEVER_END = frozenset(_TITLES.split())
_FINAL = "!?\"')]\u201d\u2019"
"""A mark that ends a sentence even at the very end of a stream."""
_END_IF_CAPITAL = frozenset({"a.m", "p.m", "am", "pm", "etc"})
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_NEXT_WORD = re.compile(r"\s+(\S)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where each sentence of ``text`` is (start, end), whitespace trimmed; a trailing fragment
    without an end mark is a span too."""
    spans: list[tuple[int, int]] = []
    start = 0
    for end in _boundaries(text):
        _add(text, start, end, spans)
        start = end
    _add(text, start, len(text), spans)
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` with their end punctuation; a trailing incomplete fragment is
    its own item."""
    return [text[a:b] for a, b in sentence_spans(text)]


def complete_sentences(buffer: str) -> tuple[list[str], str]:
    """The finished sentences of a streaming ``buffer`` and the unfinished rest. A full stop at
    the very end of the buffer does not finish a sentence yet ("8." may become "8.30", "Mr."
    waits for a name); "!" and "?" do. The end of the stream is the caller's to declare: then
    the rest is the last sentence."""
    ends = [
        end
        for end in _boundaries(buffer)
        if end < len(buffer) or buffer[end - 1] in "!?\"')]\u201d\u2019"
    ]
    if not ends:
        return [], buffer
    cut = ends[-1]
    return split_sentences(buffer[:cut]), buffer[cut:].lstrip()


def _boundaries(text: str) -> list[int]:
    return [match.end() for match in _END.finditer(text) if _ends_sentence(text, match)]


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    mark = match.group()
    if not mark.startswith(".") or mark.startswith("..."):
        return True
    before = _WORD_BEFORE.search(text, 0, match.start())
    word = before.group(1).lower().rstrip(".") if before else ""
    following = _NEXT_WORD.match(text, match.end())
    nxt = following.group(1) if following else ""
    if word in _NEVER_END:
        return False
    if len(word) == 1 and word.isalpha() and before is not None and before.group(1).isupper():
        return False  # an initial: "J. Smith"
    if word == "no" and nxt.isdigit():
        return False
    if word in _END_IF_CAPITAL:
        return not nxt or nxt.isupper()
    return True


def _add(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        offset = start + len(piece) - len(piece.lstrip())
        spans.append((offset, offset + len(stripped)))
