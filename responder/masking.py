"""Latency masking: when a wait deserves a filler, and what the filler says.

A filler is only worth saying when the caller would otherwise sit in silence: the expected wait
(measured history, see :mod:`responder.latency`) must exceed a threshold, and the wording must say
what is being done ("still checking Friday at 8 pm...") and never repeat the previous filler.
"""

from __future__ import annotations

import re
from datetime import date

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")

_WITH_PROGRESS = (
    "Still {what}, one moment.",
    "Bear with me, I'm {what}.",
    "Nearly there, just {what}.",
    "Thanks for waiting, still {what}.",
)
_WITHOUT_PROGRESS = (
    "Still working on that, one moment.",
    "Bear with me a second.",
    "Nearly there.",
    "Thanks for waiting, almost done.",
)
_ACKS = (
    "Let me check that for you.",
    "One moment, I'll look into that.",
    "Sure, let me find out.",
)


def first_filler_delay(expected_wait_s: float, waited_s: float, threshold_s: float) -> float:
    """Seconds after the acknowledgement ends before a filler is due.

    A wait expected to outlast the threshold gets its filler once the silence reaches the
    threshold; a wait expected to be short gets none unless it overruns its expectation by the
    threshold (then the silence has become noticeable after all).
    """
    remaining = max(0.0, expected_wait_s - waited_s)
    if remaining > threshold_s:
        return threshold_s
    return remaining + threshold_s


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _say_date(match: re.Match[str]) -> str:
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return match[0]
    return f"{day.strftime('%A')} the {_ordinal(day.day)}"


def _say_time(match: re.Match[str]) -> str:
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (12, 0):
        return "noon"
    if (hour, minute) == (0, 0):
        return "midnight"
    suffix = "am" if hour < 12 else "pm"
    hour12 = hour % 12 or 12
    return f"{hour12} {suffix}" if minute == 0 else f"{hour12}:{minute:02d} {suffix}"


def speakable(line: str) -> str:
    """A progress line as it should sound: ISO dates and 24 h times said the way people say them."""
    line = _ISO_DATE.sub(_say_date, line)
    return _CLOCK.sub(_say_time, line).strip().rstrip(".…")


class FillerWriter:
    """Words fillers and fallback acknowledgements for one call, never the same line twice in a
    row."""

    def __init__(self) -> None:
        self._turn = 0
        self._last = ""

    def filler(self, progress: str) -> str:
        """A filler about ``progress`` (the thinker's latest line; may be empty)."""
        what = speakable(progress)
        templates = _WITH_PROGRESS if what else _WITHOUT_PROGRESS
        return self._pick([t.format(what=what) for t in templates])

    def acknowledgement(self) -> str:
        """A short acknowledgement for a delegation the model started silently."""
        return self._pick(list(_ACKS))

    def _pick(self, options: list[str]) -> str:
        for offset in range(len(options)):
            line = options[(self._turn + offset) % len(options)]
            if line != self._last:
                break
        self._turn += 1
        self._last = line
        return line
