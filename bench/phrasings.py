"""Booking language benchmark (issue 14): how well the demo restaurant's offline brains understand
requests worded as callers word them.

Run from the repository root: ``python -m bench.phrasings [--split all|dev|held-out] [--json]``.

The phrasing set (``profiles/restaurant/phrasings.yaml``) holds requests as a caller would say
them and Whisper would write them down ("can you fit six of us in around half past seven",
"we're four, Friday, eight-ish"), each with its intent and slots, written before the brains'
rules were read. Every third request is held out: the rules were never tuned on it, and its
figures are reported apart. Measured, per split:

* **intent**: the thinker brain's intent (book, availability, cancel, find, knowledge) equals the
  expected one; **action** counts book and availability as one (both check the table first).
* **slots**: each of party size, day, time and name (book, availability) or day, name and
  reference (cancel, find) equals the expected value exactly, a slot not in the request included
  (an invented slot is a miss). Per slot and over all.
* **delegated**: the restaurant's front desk hands the request to the thinker (none of these is
  small talk or off the restaurant's domain).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from bench._machine import describe, machine

PHRASINGS = Path(__file__).resolve().parent.parent / "profiles" / "restaurant" / "phrasings.yaml"
BOOKING_SLOTS = ("party_size", "day", "time", "name")
ACCOUNT_SLOTS = ("day", "name", "reference")
SLOTS_OF = {
    "book": BOOKING_SLOTS,
    "availability": BOOKING_SLOTS,
    "cancel": ACCOUNT_SLOTS,
    "find": ACCOUNT_SLOTS,
    "knowledge": (),
}
Split = Literal["all", "dev", "held-out"]


@dataclass(frozen=True)
class Phrasing:
    """One request of the set: what the caller said, the intent and the slots it carries."""

    say: str
    intent: str
    slots: dict[str, object]
    held_out: bool


@dataclass(frozen=True)
class Heard:
    """What a brain understood of one request (None: not found)."""

    intent: str | None
    slots: dict[str, object]


def load(path: Path = PHRASINGS) -> tuple[date, list[Phrasing]]:
    """The set's "today" and its requests."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    today = datetime.fromisoformat(str(data["now"])).date()
    requests = [
        Phrasing(
            say=str(item["say"]),
            intent=str(item["intent"]),
            slots={slot: _expected(slot, item.get(slot)) for slot in SLOTS_OF[str(item["intent"])]},
            held_out=bool(item.get("held_out", False)),
        )
        for item in data["requests"]
    ]
    return today, requests


def _expected(slot: str, value: object) -> object:
    if value is None:
        return None
    if slot == "day":
        return date.fromisoformat(str(value))
    if slot == "party_size":
        return int(str(value))
    return str(value)


def _action(intent: str | None) -> str | None:
    return "table" if intent in ("book", "availability") else intent


def score(
    requests: Sequence[Phrasing],
    understand: Callable[[str], Heard],
    delegates: Callable[[str], bool],
) -> dict[str, Any]:
    """Intent, action, per-slot and delegation accuracy over ``requests``, and the misses."""
    intents = actions = delegated = 0
    per_slot: dict[str, list[int]] = {slot: [0, 0] for slot in (*BOOKING_SLOTS, "reference")}
    misses: list[dict[str, Any]] = []
    for request in requests:
        heard = understand(request.say)
        intents += heard.intent == request.intent
        actions += _action(heard.intent) == _action(request.intent)
        passed = delegates(request.say)
        delegated += passed
        wrong: dict[str, Any] = {}
        for slot, want in request.slots.items():
            got = heard.slots.get(slot)
            per_slot[slot][1] += 1
            if got == want:
                per_slot[slot][0] += 1
            else:
                wrong[slot] = {"want": str(want), "got": str(got)}
        if wrong or heard.intent != request.intent or not passed:
            misses.append(
                {
                    "say": request.say,
                    "intent": {"want": request.intent, "got": heard.intent},
                    "slots": wrong,
                    "delegated": passed,
                }
            )
    slot_right = sum(right for right, _ in per_slot.values())
    slot_total = sum(total for _, total in per_slot.values())
    count = len(requests)
    return {
        "requests": count,
        "intent": _share(intents, count),
        "action": _share(actions, count),
        "slots": _share(slot_right, slot_total),
        "per_slot": {slot: _share(*counts) for slot, counts in per_slot.items() if counts[1]},
        "delegated": _share(delegated, count),
        "misses": misses,
    }


def _share(right: int, total: int) -> dict[str, Any]:
    return {"right": right, "total": total, "share": round(right / total, 3) if total else None}


def pick(requests: Sequence[Phrasing], split: Split) -> list[Phrasing]:
    """The requests of one split."""
    if split == "all":
        return list(requests)
    return [r for r in requests if r.held_out == (split == "held-out")]


def restaurant_understanding(today: date) -> Callable[[str], Heard]:
    """The demo restaurant's thinker brain's understanding, as the benchmark reads it."""
    from profiles.restaurant.language import understand

    def heard(text: str) -> Heard:
        request = understand(text, today)
        return Heard(request.intent, request.slots())

    return heard


def restaurant_front_desk() -> Callable[[str], bool]:
    """Whether the restaurant's front desk delegates a caller's turn to the thinker."""
    from profiles.restaurant.front_desk import FrontDeskBrain
    from shared.profile import find_profile

    desk = FrontDeskBrain(find_profile("restaurant"))
    return desk.is_request


def through_the_voice(requests: Sequence[Phrasing]) -> list[Phrasing]:
    """``requests`` as the offline agent hears them: each spoken by the simulated caller's voice
    and written down by Whisper tiny.en, as in a simulated call (needs the demo extra)."""
    import numpy as np

    from responder.offline import HibariTTS, WhisperSTT
    from responder.pcm import resample
    from simulator.voice import CallerVoice

    whisper, voice = WhisperSTT(), CallerVoice(HibariTTS())
    whisper.load()
    pad = np.zeros(4_800, dtype=np.float32)  # 0.3 s, as the VAD leaves around an utterance
    heard: list[Phrasing] = []
    for request in requests:
        audio = resample(voice.render(request.say), 24_000, 16_000) / 32768.0
        text, _confidence = whisper._transcribe(
            np.concatenate([pad, audio, pad]).astype(np.float32), "en"
        )
        heard.append(replace(request, say=text))
    return heard


def bench(split: Split = "all", path: Path = PHRASINGS, *, voice: bool = False) -> dict[str, Any]:
    """Score the restaurant's brains on the phrasing set: every split, misses of ``split``
    (with ``voice``, on what Whisper heard of each request rather than its text)."""
    today, requests = load(path)
    if voice:
        requests = through_the_voice(requests)
    understand, delegates = restaurant_understanding(today), restaurant_front_desk()
    splits: dict[str, Any] = {}
    names: tuple[Split, ...] = ("all", "dev", "held-out")
    for name in names:
        result = score(pick(requests, name), understand, delegates)
        if name != split:
            result.pop("misses")
        splits[name] = result
    heard = "through the caller's voice and Whisper tiny.en" if voice else "as text"
    return {"set": str(path.name), "heard": heard, "splits": splits, "machine": machine()}


def render(result: dict[str, Any]) -> str:
    """A readable report."""
    lines = [f"Booking language on {result['set']} ({result['heard']}), offline demo brains"]
    for name, split in result["splits"].items():
        per = ", ".join(f"{slot} {_pct(s)}" for slot, s in split["per_slot"].items())
        lines.append(
            f"  {name:<9} n={split['requests']:<3} intent {_pct(split['intent'])}  "
            f"action {_pct(split['action'])}  slots {_pct(split['slots'])} ({per})  "
            f"delegated {_pct(split['delegated'])}"
        )
    for name, split in result["splits"].items():
        if "misses" not in split:
            continue
        lines.append(f"misses ({name}): {len(split['misses'])}")
        for miss in split["misses"]:
            detail = [f"intent {miss['intent']['got']} (want {miss['intent']['want']})"]
            if miss["intent"]["got"] == miss["intent"]["want"]:
                detail = []
            detail += [f"{k} {v['got']} (want {v['want']})" for k, v in miss["slots"].items()]
            if not miss["delegated"]:
                detail.append("not delegated")
            lines.append(f"  {miss['say']!r}: {'; '.join(detail)}")
    lines.append(describe(result["machine"]))
    return "\n".join(lines)


def _pct(share: dict[str, Any]) -> str:
    return f"{share['right']}/{share['total']} ({100 * share['share']:.0f}%)"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description="Booking language, offline demo brains.")
    parser.add_argument(
        "--split",
        choices=("all", "dev", "held-out"),
        default="all",
        help="whose misses to list (tune on dev only: held-out stays unseen)",
    )
    parser.add_argument(
        "--voice",
        action="store_true",
        help="score what Whisper tiny.en hears of each request in the caller's voice (~1 min)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    result = bench(args.split, voice=args.voice)
    print(json.dumps(result, default=str) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
