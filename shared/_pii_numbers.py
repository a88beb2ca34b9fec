"""Phone numbers, payment cards and email addresses in text, written or spoken, found by pattern.

Private to :mod:`shared.redact`. Numbers are found as *runs*: digit groups joined by one space,
hyphen or dot, or wrapped in parentheses ("+1 (415) 555-0134", "4111 1111 1111 1111"), and as
digits said one by one ("four one five, five five five, oh one three four"). A run holding a
Luhn-valid stretch of 13 to 19 digits is a card; a run of 7 to 15 digits is a phone number
unless it is a date ("2024-05-12", "12.05.2024") or a span of years ("1990-2000"). Shorter
numbers (prices, times, party sizes, years, the digits of a booking reference like "TT-4821")
are never touched.
"""

from __future__ import annotations

import re

PHONE, EMAIL, CARD = "[phone]", "[email]", "[card]"

_TLD = r"[A-Za-z]{2,24}"
_EMAIL = re.compile(
    rf"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.{_TLD}(?!\w)"
    # spoken: "john at gmail dot com", "j o h n dot smith at mail dot co dot uk"
    r"|(?<![\w'.+-])(?:[a-z0-9]\s+){0,40}[\w+-]+"
    r"(?:\s+(?:dot|underscore|dash|hyphen)\s+[\w+-]+){0,8}"
    r"\s+(?:at|@)\s+[\w-]+(?:\s+dot\s+[\w-]+){0,8}"
    rf"\s+dot\s+{_TLD}\b",
    re.IGNORECASE,
)
"""An email address, written or spoken (the spoken form needs "at" and "dot")."""

_GROUP = r"(?:\(\d{1,5}\)|\d+)"
_MAX_GROUPS = 24
"""Groups in one run at most: a card written digit by digit has 19; the bound keeps a page of
numbers from costing quadratic time."""
_RUN = re.compile(
    rf"(?<![\w$€£¥])(?<!\w-)(?:\+\s?)?{_GROUP}"
    rf"(?:(?:\s?-\s?|\.|\s|(?<=\)))(?:\(\d{{1,5}}\)|\d+(?![\d:]))){{0,{_MAX_GROUPS - 1}}}"
)
"""Digit groups joined by one separator; a group before a colon ("20:00") ends the run."""
_DATE = re.compile(r"\d{1,2}([./-])\d{1,2}\1\d{2,4}|\d{4}([./-])\d{1,2}\2\d{1,2}")
_YEARS = re.compile(r"(?:19|20)\d\d\s?[-\u2013]\s?(?:19|20)\d\d")

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_REPEAT = {"double": 2, "triple": 3}
_WORD_ALTERNATIVES = "|".join(sorted({*_DIGIT_WORDS, *_REPEAT}, key=len, reverse=True))
_SPOKEN = re.compile(
    rf"\b(?:(?:{_WORD_ALTERNATIVES})\b|\d+)(?:[\s,.-]+(?:(?:{_WORD_ALTERNATIVES})\b|\d+))*",
    re.IGNORECASE,
)
"""Digits said one at a time, possibly mixed with written groups ("four one five 555 0134")."""
_SPOKEN_TOKEN = re.compile(rf"\b(?:{_WORD_ALTERNATIVES})\b|\d+", re.IGNORECASE)
_LEADING_OH = re.compile(r"(?:o|oh)\b[\s,.-]*", re.IGNORECASE)

MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15
"""E.164's longest number."""
CARD_DIGITS = range(13, 20)


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (digits only) passes the Luhn check payment card numbers carry."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def redact_emails(text: str) -> str:
    """``text`` with every email address, written or spoken, replaced by ``[email]``."""
    return _EMAIL.sub(EMAIL, text)


def redact_numbers(text: str) -> str:
    """``text`` with card numbers and phone numbers, written or spoken digit by digit,
    replaced by ``[card]`` and ``[phone]``."""
    return _RUN.sub(_written_run, _SPOKEN.sub(_spoken_run, text))


def _written_run(match: re.Match[str]) -> str:
    run = match.group()
    stripped = run.strip()
    if re.match(r"\w", match.string[match.end() :]):  # part of an identifier ("41d4", "12ab")
        return run
    if _DATE.fullmatch(stripped) or _YEARS.fullmatch(stripped):
        return run
    groups = [(found.start(), found.end()) for found in re.finditer(r"\d+", run)]
    return _numbers_in(run, groups, international=run.startswith("+"))


def _numbers_in(run: str, groups: list[tuple[int, int]], *, international: bool) -> str:
    """``run`` with its card number (the widest Luhn-valid stretch of whole groups) and the
    phone numbers around it replaced."""
    card = _card_window(run, groups)
    if card is not None:
        first, last = card
        before = _numbers_in(run[: groups[first][0]], groups[:first], international=international)
        after_start = groups[last][1]
        after = [(start - after_start, end - after_start) for start, end in groups[last + 1 :]]
        return before + CARD + _numbers_in(run[after_start:], after, international=False)
    digits = sum(end - start for start, end in groups)
    if MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        lead = len(run) - len(run.lstrip(" .-"))
        tail = len(run.rstrip(" .-"))
        start = 0 if international else lead
        return run[:start] + PHONE + run[tail:]
    return run


def _card_window(run: str, groups: list[tuple[int, int]]) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for first in range(len(groups)):
        digits = ""
        for last in range(first, len(groups)):
            digits += run[groups[last][0] : groups[last][1]]
            if len(digits) > CARD_DIGITS.stop - 1:
                break
            wider = best is None or last - first > best[1] - best[0]
            if len(digits) in CARD_DIGITS and wider and luhn_valid(digits):
                best = (first, last)
    return best


def _spoken_run(match: re.Match[str]) -> str:
    run = match.group()
    lead = _LEADING_OH.match(run)  # "Oh, four one five ...": an interjection, not a zero
    kept = lead.group() if lead else ""
    tokens = [found.group() for found in _SPOKEN_TOKEN.finditer(run, len(kept))]
    if all(token.isdigit() for token in tokens):
        return run  # written digits: the written-run pass decides
    digits = _spoken_digits(tokens)
    if len(digits) in CARD_DIGITS and luhn_valid(digits):
        return kept + CARD
    if len(digits) >= MIN_PHONE_DIGITS:
        return kept + PHONE
    return run


def _spoken_digits(tokens: list[str]) -> str:
    digits: list[str] = []
    repeat = 1
    for token in tokens:
        lowered = token.lower()
        if lowered in _REPEAT:
            repeat = _REPEAT[lowered]
            continue
        value = token if token.isdigit() else _DIGIT_WORDS[lowered]
        digits.append(value[0] * repeat + value[1:] if repeat > 1 else value)
        repeat = 1
    return "".join(digits)
