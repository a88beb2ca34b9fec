"""Latency masking: when a wait deserves a filler, and what the filler says.

A filler is only worth saying when the caller would otherwise sit in silence: the expected wait
(measured history, see :mod:`responder.latency`, or a default per tier and tool before there is
any) decides whether the silence after the acknowledgement will outlast a threshold. The wording
says what is being done: the thinker's latest progress line, or, before one has come, the
details of the caller's own request ("still checking Thursday at 7:30 pm for 6..."), and it never
repeats the previous filler.
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
_ABOUT_REQUEST = (
    "Still checking {what}, one moment.",
    "Bear with me, I'm still on {what}.",
    "Thanks for waiting, still looking at {what}.",
)
_WITHOUT_PROGRESS = (
    "Still working on that, one moment.",
    "Bear with me a second.",
    "Nearly there.",
    "Thanks for waiting, almost done.",
)
FILLER_GRACE_S = 0.2
"""How long past the expected arrival an answer is waited for before the silence is filled."""

_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_DAY = re.compile(
    rf"\b(?:{_WEEKDAY}|today|tonight|tomorrow(?:\s+(?:night|morning|evening))?|"
    r"this\s+(?:evening|afternoon|morning|weekend)|next\s+week|"
    r"\d{4}-\d{2}-\d{2}|\d{1,2}(?:st|nd|rd|th)\b)",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\b(?:(?:half|quarter)\s+(?:past|to)\s+\w+|(?:[01]?\d|2[0-3]):[0-5]\d(?:\s*[ap]m)?|\d{1,2}\s*(?:am|pm|"
    r"o'?clock)|noon|midnight|(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
    r"(?:\s+(?:thirty|fifteen|forty-five))?\s*(?:am|pm|o'?clock))\b",
    re.IGNORECASE,
)
_COUNT = re.compile(
    r"\bfor\s+(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b"
    r"|\b(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+(?:people|"
    r"persons|guests|of us|adults)\b|\bparty of\s+(\d{1,2}|\w+)\b",
    re.IGNORECASE,
)
_ACKS = (
    "Let me check that for you.",
    "One moment, I'll look into that.",
    "Sure, let me find out.",
)


def first_filler_delay(expected_wait_s: float, waited_s: float, threshold_s: float) -> float:
    """Seconds after the acknowledgement ends before a filler is due (it is only said if the
    task is still running then).

    Silence becomes noticeable at ``threshold_s``. If the answer is expected later than that (less
    a short grace), the filler comes at the threshold; if it is expected sooner, the answer gets
    until just past the threshold, so a task that is a little late is not talked over by a filler
    and a task that is very late never leaves the caller in silence for long.
    """
    remaining = max(0.0, expected_wait_s - waited_s)
    if remaining > threshold_s - FILLER_GRACE_S:
        return threshold_s
    return threshold_s + FILLER_GRACE_S


def request_details(request: str) -> str:
    """The details of a request a caller would recognise in a filler: its day, time and count
    ("Thursday at 7:30 pm for 6"), said the way people say them; empty if it has none."""
    said = speakable(request)
    day = _DAY.search(said)
    time = _TIME.search(said)
    count = _COUNT.search(said)
    parts = []
    if day:
        parts.append(day.group(0))
    if time:
        parts.append(f"at {time.group(0)}" if parts else time.group(0))
    if count:
        number = next(group for group in count.groups() if group)
        parts.append(f"for {number}")
    return " ".join(parts)


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

    def filler(self, progress: str, request: str = "") -> str:
        """A filler about ``progress`` (the thinker's latest line; may be empty), else about the
        details of the caller's ``request``, else a plain one."""
        what = speakable(progress)
        if what:
            return self._pick([t.format(what=what) for t in _WITH_PROGRESS])
        details = request_details(request)
        if details:
            return self._pick([t.format(what=details) for t in _ABOUT_REQUEST])
        return self._pick(list(_WITHOUT_PROGRESS))

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
