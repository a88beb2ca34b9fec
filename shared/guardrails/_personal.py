"""Personal data in text a caller would hear: payment card numbers (Luhn-valid), IBANs
(checksum-valid), US social security numbers, e-mail addresses and full phone numbers.

Not personal data: booking references ("TT-4821"), prices, times, dates, party sizes, years,
short numbers, and the business's own phone numbers and addresses (:class:`RuleContext`'s
``allowed_numbers`` and ``allowed_emails``). A phone number or address introduced as the
caller's own ("your number is ...") is read back, not leaked.
"""

from __future__ import annotations

import re
from typing import Literal

from shared._pii_numbers import luhn_valid
from shared.guardrails._patterns import FLAGS
from shared.guardrails._types import Action, Hit, RuleContext, Side

_CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?![\w])")
_IBAN = re.compile(r"(?<!\w)[a-z]{2}\d{2}(?:[ ]?[a-z0-9]){11,30}(?!\w)", FLAGS)
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?<!\w)[a-z0-9._-]+ at [a-z0-9-]+ dot (?:com|net|org|co|io|ca|uk|pt|de|fr|es|edu|gov)\b",
    FLAGS,
)
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d ().-]{7,20}\d(?![\w])")
_OWN = re.compile(
    r"(?:your|you(?:'| a)re on|reach you (?:on|at)|call you (?:on|at)|text you (?:on|at)|"
    r"you gave(?: me| us)?)(?: \w+){0,3}[\s:,]*$",
    FLAGS,
)
"""Words just before a number or address that make it the caller's own."""
_LOOKBACK = 40

Placeholder = Literal[
    "card number",
    "bank account number",
    "social security number",
    "e-mail address",
    "phone number",
]


class PersonalData:
    """Personal data the caller must not hear: on the thinker side the span is redacted (the
    result goes out without it), on the agent side the sentence is corrected."""

    name = "personal_data"

    def __init__(self, side: Literal["thinker", "agent"]) -> None:
        self.side: Literal["thinker", "agent"] = side
        self.sides: frozenset[Side] = frozenset({side})

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """Every span of personal data, longest kinds first (a card number is no phone)."""
        found: list[tuple[tuple[int, int], Placeholder]] = []
        for span, kind in _find(text, ctx):
            if not any(a < span[1] and span[0] < b for (a, b), _ in found):
                found.append((span, kind))
        action: Action = "redact" if self.side == "thinker" else "correct"
        return [
            Hit(self.name, self.side, action, "high", kind, span) for span, kind in sorted(found)
        ]


def _find(text: str, ctx: RuleContext) -> list[tuple[tuple[int, int], Placeholder]]:
    found: list[tuple[tuple[int, int], Placeholder]] = []
    for match in _CARD.finditer(text):
        if _luhn(_digits(match.group())):
            found.append((match.span(), "card number"))
    for match in _IBAN.finditer(text):
        if _iban_valid(match.group()):
            found.append((match.span(), "bank account number"))
    found.extend((m.span(), "social security number") for m in _SSN.finditer(text))
    allowed_emails = {e.lower() for e in ctx.allowed_emails}
    for match in _EMAIL.finditer(text):
        if match.group().lower() not in allowed_emails and not _callers_own(text, match.start()):
            found.append((match.span(), "e-mail address"))
    for match in _PHONE.finditer(text):
        if _is_phone(match.group(), ctx) and not _callers_own(text, match.start()):
            found.append((match.span(), "phone number"))
    return found


def _is_phone(candidate: str, ctx: RuleContext) -> bool:
    digits = _digits(candidate)
    if not 9 <= len(digits) <= 15:
        return False
    groups = re.findall(r"\d+", candidate)
    if max(len(g) for g in groups) < 3 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", candidate.strip()):
        return False  # "12 14 16 18 20" is a list of numbers; "2026-12-11" a date
    national = digits.lstrip("0")
    for allowed in ctx.allowed_numbers:
        shorter, longer = sorted((national, allowed.lstrip("0")), key=len)
        if len(shorter) >= 9 and longer.endswith(shorter):
            return False
    return True


def _callers_own(text: str, start: int) -> bool:
    return _OWN.search(text[max(0, start - _LOOKBACK) : start]) is not None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _luhn(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1
