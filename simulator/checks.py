"""A scenario's outcome checks, evaluated against what really happened: the bookings in the
restaurant's store (the same Redis the tools wrote), what the agent said and the call's events.

What the agent said is every stretch of its audio with the text of the message it played (see
:mod:`simulator.record`), lines cut off by the caller included. The two text checks read a
cut-off line each on its safe side, since where the cut fell in the text is only estimated:

- ``agent_never_said`` reads the whole text of every line the agent started, so a stale answer
  that began to play and was cut off is caught even if the cut came before the matching words;
- ``agent_mentioned`` reads what was heard: complete lines, and of a cut-off line the share of its
  text that played (:attr:`~simulator.record.Speech.heard_text`), so words the caller never
  heard do not count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from simulator.record import CallRecord
from simulator.scenario import BookingCheck, Check
from tools import ToolStore

_CLOCK_TIME = re.compile(
    r"\b(?:\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|o'?clock)|\d{1,2}:\d{2}|noon|midnight)",
    re.IGNORECASE,
)
_DAY = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tonight|tomorrow)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CheckResult:
    """One check: what it asked, whether it held, and what was found."""

    name: str
    passed: bool
    detail: str


async def read_bookings(store: ToolStore) -> list[dict[str, Any]]:
    """Every booking in the bookings tool's store (cancelled ones included)."""
    pattern = store.key("booking:*")
    bookings: list[dict[str, Any]] = []
    async for key in store.redis.scan_iter(match=pattern, count=500):
        name = str(key).removeprefix(store.key(""))
        value = await store.get_json(name)
        if isinstance(value, dict):
            bookings.append(value)
    return sorted(bookings, key=lambda b: str(b.get("reference", "")))


def evaluate(
    checks: Sequence[Check],
    *,
    record: CallRecord,
    events: Sequence[dict[str, Any]],
    bookings: Sequence[dict[str, Any]],
) -> list[CheckResult]:
    """Each check's result, in the scenario's order."""
    agent = record.said_by("agent")
    started = [(s.text, s.interrupted) for s in agent if s.text]
    heard = [(s.heard_text, s.interrupted) for s in agent if s.heard_text]
    live = [b for b in bookings if b.get("status", "confirmed") != "cancelled"]
    results: list[CheckResult] = []
    for check in checks:
        if check.booking is not None:
            results.append(_booking(check.booking, live))
        elif check.no_booking is not None:
            results.append(
                CheckResult("no booking", not live, f"{len(live)} live booking(s): {_brief(live)}")
            )
        elif check.no_duplicate_bookings is not None:
            results.append(_no_duplicates(live))
        elif check.agent_mentioned is not None:
            results.append(_mentioned(check.agent_mentioned, heard))
        elif check.agent_never_said is not None:
            pattern = re.compile(check.agent_never_said, re.IGNORECASE)
            said = next((line for line in started if pattern.search(line[0])), None)
            results.append(
                CheckResult(
                    f"agent never said /{check.agent_never_said}/",
                    said is None,
                    f"said: {_quote(said)}" if said else "never said",
                )
            )
        elif check.events is not None:
            results.append(_in_order(check.events, events))
        elif check.nudged is not None:
            nudged = any((e.get("source"), e.get("event")) == ("idle", "nudge") for e in events)
            results.append(
                CheckResult(
                    "agent nudged the silent caller" if check.nudged else "agent did not nudge",
                    nudged == check.nudged,
                    "nudged" if nudged else "no nudge",
                )
            )
        elif check.ended is not None:
            results.append(_ended(check.ended, events))
    return results


def _ended(reason: str, events: Sequence[dict[str, Any]]) -> CheckResult:
    ended = next(
        (e for e in events if (e.get("source"), e.get("event")) == ("responder", "call_ended")),
        None,
    )
    said = str(ended.get("reason")) if ended is not None else None
    return CheckResult(
        f"agent ended the call ({reason})",
        said == reason,
        f"ended: {said}" if said is not None else "the call did not end",
    )


def _booking(want: BookingCheck, live: Sequence[dict[str, Any]]) -> CheckResult:
    wanted = want.model_dump(exclude_none=True)
    label = "booking " + ", ".join(f"{k}={v}" for k, v in wanted.items())
    for booking in live:
        if all(_field_matches(booking, key, value) for key, value in wanted.items()):
            return CheckResult(label, True, f"found {booking.get('reference')}")
    return CheckResult(label, False, f"no such booking; live: {_brief(live) or 'none'}")


def _field_matches(booking: dict[str, Any], key: str, value: object) -> bool:
    if key == "weekday":
        try:
            return date.fromisoformat(str(booking.get("date"))).strftime("%A").lower() == value
        except ValueError:
            return False
    if key == "name":
        return str(booking.get("name", "")).casefold() == str(value).casefold()
    found: object = booking.get(key)
    return found == value


def _no_duplicates(live: Sequence[dict[str, Any]]) -> CheckResult:
    slots = Counter((str(b.get("name", "")).casefold(), b.get("date"), b.get("time")) for b in live)
    twice = [slot for slot, count in slots.items() if count > 1]
    detail = f"booked more than once: {twice}" if twice else f"{len(live)} booking(s), all distinct"
    return CheckResult("no booking made twice", not twice, detail)


def _mentioned(what: str, lines: Sequence[tuple[str, bool]]) -> CheckResult:
    pattern = {"time": _CLOCK_TIME, "date": _DAY}.get(what) or re.compile(what, re.IGNORECASE)
    hit = next((line for line in lines if pattern.search(line[0])), None)
    return CheckResult(
        f"agent mentioned {what if what in ('time', 'date') else f'/{what}/'}",
        hit is not None,
        f"in: {_quote(hit)}" if hit else "never said",
    )


def _quote(line: tuple[str, bool]) -> str:
    """A line as the check's detail shows it: quoted, and marked if it was cut off."""
    text, cut_off = line
    return f"{text!r} (cut off)" if cut_off else repr(text)


def _in_order(wanted: Sequence[str], events: Sequence[dict[str, Any]]) -> CheckResult:
    names = iter(str(e.get("event")) for e in events)
    missing = next((name for name in wanted if name not in names), None)
    return CheckResult(
        "events in order: " + " → ".join(wanted),
        missing is None,
        "all seen in order" if missing is None else f"{missing!r} not seen (in order)",
    )


def _brief(bookings: Sequence[dict[str, Any]]) -> str:
    return "; ".join(
        f"{b.get('name')} x{b.get('party_size')} {b.get('date')} {b.get('time')}" for b in bookings
    )
