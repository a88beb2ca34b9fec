"""Numbers that matter in a sentence (times, prices, dates, quantities with units), read into
comparable values: "8 pm" == "20:00" == "8:00 PM"; "€12.50" == "12.50 euros"; "11 December" ==
"2026-12-11". Numbers written as words are not read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from shared.guardrails._patterns import FLAGS

_MERIDIEM = r"(?P<m>a\.?\s?m\.?|p\.?\s?m\.?)"
_CLOCK = re.compile(
    rf"(?<![\w:.,])(?P<h>\d{{1,2}}):(?P<min>[0-5]\d)(?![\d:])(?:\s*{_MERIDIEM}(?!\w))?", FLAGS
)
_HOUR = re.compile(
    rf"(?<![\w:.,€$£])(?P<h>\d{{1,2}})(?:\.(?P<min>[0-5]\d))?\s*(?:{_MERIDIEM}(?!\w)|o['\u2019]?clock\b)",
    FLAGS,
)
_DOTTED = re.compile(
    r"\b(?:at|from|until|till|til|to|by|around|before|after|between|and)\s+"
    r"(?P<h>\d{1,2})\.(?P<min>[0-5]\d)(?![\d.,]*\s*(?:€|euros?|dollars?|pounds?|eur|usd|cad))",
    FLAGS,
)
_NOON = re.compile(r"\b(?:noon|midday|midnight)\b", FLAGS)

_AMOUNT = r"(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
_CURRENCY_WORD = r"(?:euros?|eur|dollars?|bucks|usd|cad|pounds?|gbp|quid)"
_PRICE = re.compile(
    rf"(?:[€$£]|\b(?:eur|usd|cad|gbp)\s?)\s?{_AMOUNT}(?!\d)|(?<![\w.,]){_AMOUNT}\s?(?:€|{_CURRENCY_WORD}\b)",
    FLAGS,
)

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(?P<mo>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)?"
_DATES = (
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?!\w)", FLAGS),
    re.compile(rf"\b{_MONTH}\s+(?:the\s+)?{_DAY}(?!\w)", FLAGS),
    re.compile(r"\b\d{4}-(?P<mo>[01]\d)-(?P<d>[0-3]\d)\b"),
)

_UNITS = {
    "people": "people",
    "persons": "people",
    "person": "people",
    "guests": "people",
    "adults": "people",
    "diners": "people",
    "seats": "people",
    "pax": "people",
    "minutes": "minutes",
    "minute": "minutes",
    "mins": "minutes",
    "min": "minutes",
    "hours": "hours",
    "hour": "hours",
    "hrs": "hours",
    "days": "days",
    "day": "days",
    "weeks": "weeks",
    "week": "weeks",
    "km": "km",
    "kilometres": "km",
    "kilometers": "km",
    "miles": "miles",
    "%": "percent",
    "percent": "percent",
    "per cent": "percent",
}
_QUANTITY = re.compile(
    r"(?<![\w.,:])(?P<n>\d+(?:\.\d+)?)\s?(?P<u>"
    + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    + r")(?!\w)"
    r"|\b(?:table|booking|reservation)s? for (?P<t>\d{1,2})\b|\bparty of (?P<p>\d{1,2})\b",
    FLAGS,
)
_BARE = re.compile(r"(?<![\w])\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Value:
    """One number that matters: its kind (``time``, ``price``, ``date``, ``quantity:<unit>``)
    and the values it may stand for (a time without am/pm may be morning or evening)."""

    kind: str
    candidates: frozenset[object]


def values(text: str, *, words: bool = True) -> list[Value]:
    """The numbers that matter in ``text``, in no particular order; ``words``: "noon" and
    "midnight" too."""
    return [*_times(text, words), *_prices(text), *_dates(text), *_quantities(text)]


def bare_numbers(text: str) -> set[Decimal]:
    """Every number written with digits in ``text`` (a calculator's "42.25", a JSON "4")."""
    return {Decimal(match.group()) for match in _BARE.finditer(text)}


def _times(text: str, words: bool) -> Iterator[Value]:
    taken: list[tuple[int, int]] = []
    for pattern in (_CLOCK, _HOUR, _DOTTED):
        for match in pattern.finditer(text):
            if any(a < match.end() and match.start() < b for a, b in taken):
                continue
            hour, minute = int(match["h"]), int(match["min"] or 0)
            if hour > 24:
                continue
            taken.append(match.span())
            meridiem = (match.groupdict().get("m") or "").lower()[:1]
            yield Value("time", frozenset(_clock(hour, minute, meridiem)))
    for match in _NOON.finditer(text) if words else ():
        yield Value("time", frozenset({0 if match.group().lower() == "midnight" else 720}))


def _clock(hour: int, minute: int, meridiem: str) -> set[int]:
    if meridiem and 1 <= hour <= 12:
        hour = hour % 12 + (12 if meridiem == "p" else 0)
        return {hour * 60 + minute}
    if 1 <= hour <= 11:
        return {hour * 60 + minute, (hour + 12) * 60 + minute}
    return {(hour % 24) * 60 + minute}


def _prices(text: str) -> Iterator[Value]:
    for match in _PRICE.finditer(text):
        amount = _decimal(next(g for g in match.groups() if g is not None))
        if amount is not None:
            yield Value("price", frozenset({amount}))


def _decimal(number: str) -> Decimal | None:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", number):
        number = number.replace(",", "")
    try:
        return Decimal(number.replace(",", "."))
    except InvalidOperation:
        return None


def _dates(text: str) -> Iterator[Value]:
    for pattern in _DATES:
        for match in pattern.finditer(text):
            month_name = match["mo"].lower().rstrip(".")
            month = int(month_name) if month_name.isdigit() else _MONTHS[month_name]
            day = int(match["d"])
            if 1 <= month <= 12 and 1 <= day <= 31:
                yield Value("date", frozenset({(month, day)}))


def _quantities(text: str) -> Iterator[Value]:
    for match in _QUANTITY.finditer(text):
        if match["n"] is not None:
            unit = _UNITS[re.sub(r"\s+", " ", match["u"].lower())]
            yield Value(f"quantity:{unit}", frozenset({Decimal(match["n"])}))
        else:
            yield Value("quantity:people", frozenset({Decimal(match["t"] or match["p"])}))
