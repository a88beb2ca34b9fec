"""Answering-machine detection benchmark (issue 17): the voicemail judge on a labelled set.

Run from the repository root: ``python -m bench.voicemail [--repeat N] [--verbose] [--json]``.

``bench/voicemail_labelled.yaml`` holds first utterances of answered outbound calls as STT writes
them (voicemail greetings, after-hours messages, phone menus, carrier intercepts, call screening,
and people answering), each with how long it was spoken and a label, machine or human. Each text
is read three ways:

* **judge**: ``judge_greeting(text, speech_s=...)`` on the whole utterance;
* **screen, one final**: a fresh ``VoicemailScreen`` hears the utterance as one final transcript
  (it may also settle ``machine`` on a long monologue), then is left to its timeout (the agent
  never speaks here, so a reply to it cannot settle anything sooner);
* **screen, per sentence**: the screen hears it sentence by sentence (split at ``. ! ?``, speech
  shared out by words, 0.6 s between finals), as STT endpointing may cut a greeting with pauses.

Reported for each: precision and recall of ``machine`` (``unsure`` and ``human`` both count as
not machine), humans judged machine (the calls the agent would wrongly treat as a machine), and
how many ended ``unsure`` (the judge only: the screen settles ``human`` at its timeout); then
the judge's time per text, each text judged ``--repeat`` times: mean, p99 and max.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from bench._machine import describe, labelled_set_main, microseconds
from responder.telephony.voicemail import (
    SCREEN_S,
    Judgement,
    Verdict,
    VoicemailScreen,
    judge_greeting,
)

LABELLED = Path(__file__).resolve().parent / "voicemail_labelled.yaml"
GAP_S = 0.6
"""Silence between two finals when an utterance is fed sentence by sentence."""

Label = Literal["machine", "human"]


@dataclass(frozen=True)
class Item:
    """One labelled first utterance."""

    text: str
    speech_s: float
    label: Label


def load(path: Path = LABELLED) -> list[Item]:
    """The labelled items."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Item(text=str(raw["text"]), speech_s=float(raw["speech_s"]), label=raw["label"])
        for raw in data["items"]
    ]


def judge(item: Item) -> Judgement:
    """``judge_greeting`` on the whole utterance."""
    return judge_greeting(item.text, speech_s=item.speech_s)


def screen_one_final(item: Item) -> Judgement:
    """A screen hearing the utterance as one final, then left to its timeout."""
    screen = VoicemailScreen()
    at_s = item.speech_s + GAP_S
    return screen.heard(item.text, speech_s=item.speech_s, at_s=at_s) or _time_out(screen, at_s)


def screen_per_sentence(item: Item) -> Judgement:
    """A screen hearing the utterance sentence by sentence, then left to its timeout."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", item.text.strip()) if p]
    words = sum(len(p.split()) for p in parts)
    screen, at_s = VoicemailScreen(), 0.0
    for part in parts:
        speech_s = item.speech_s * len(part.split()) / words
        at_s += speech_s + GAP_S
        verdict = screen.heard(part, speech_s=speech_s, at_s=at_s)
        if verdict is not None:
            return verdict
    return _time_out(screen, at_s)


def _time_out(screen: VoicemailScreen, at_s: float) -> Judgement:
    """The screen's verdict at its timeout, when the callee said nothing more (the agent never
    spoke: a reply to the agent would have settled it sooner)."""
    return screen.timed_out(max(at_s, SCREEN_S)) or Judgement("unsure", "not_settled")


WAYS: dict[str, Callable[[Item], Judgement]] = {
    "judge": judge,
    "screen, one final": screen_one_final,
    "screen, per sentence": screen_per_sentence,
}


def score(items: list[Item], verdicts: list[Judgement]) -> dict[str, Any]:
    """Precision and recall of ``machine``, humans judged machine, verdicts by label."""
    tp = sum(
        i.label == "machine" and v.verdict == "machine"
        for i, v in zip(items, verdicts, strict=True)
    )
    fp = sum(
        i.label == "human" and v.verdict == "machine" for i, v in zip(items, verdicts, strict=True)
    )
    machines = sum(i.label == "machine" for i in items)
    found = tp + fp
    counts: dict[str, dict[Verdict, int]] = {"machine": {}, "human": {}}
    for item, v in zip(items, verdicts, strict=True):
        counts[item.label][v.verdict] = counts[item.label].get(v.verdict, 0) + 1
    return {
        "tp": tp,
        "fp": fp,
        "fn": machines - tp,
        "precision": round(tp / found, 3) if found else None,
        "recall": round(tp / machines, 3) if machines else None,
        "humans_judged_machine": fp,
        "verdicts": counts,
    }


def run(repeat: int, path: Path = LABELLED) -> dict[str, Any]:
    """Score every way of reading on every item; time the judge ``repeat`` times per text."""
    items = load(path)
    results: dict[str, Any] = {}
    wrong = []
    reasons: Counter[str] = Counter()
    for name, way in WAYS.items():
        verdicts = [way(item) for item in items]
        results[name] = score(items, verdicts)
        for item, v in zip(items, verdicts, strict=True):
            if name == "judge":
                reasons[f"{item.label}: {v.verdict} ({v.reason})"] += 1
            if (v.verdict == "machine") != (item.label == "machine"):
                wrong.append({"way": name, "label": item.label, **vars(v), "text": item.text})
    timings = []
    for item in items:
        for _ in range(repeat):
            started = time.perf_counter()
            judge_greeting(item.text, speech_s=item.speech_s)
            timings.append(time.perf_counter() - started)
    return {
        "texts": dict(Counter(item.label for item in items)),
        "ways": results,
        "reasons": dict(sorted(reasons.items())),
        "judge_time": microseconds(timings),
        "wrong": wrong,
    }


def render(result: dict[str, Any], *, verbose: bool) -> str:
    """Readable tables."""
    texts = result["texts"]
    lines = [f"{texts.get('machine', 0)} machine and {texts.get('human', 0)} human texts", ""]
    head = f"{'machine verdicts':<24}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>9}"
    lines.append(head + f"{'humans → machine':>18}{'unsure':>8}")
    for name, s in result["ways"].items():
        precision = "-" if s["precision"] is None else f"{s['precision']:.0%}"
        recall = "-" if s["recall"] is None else f"{s['recall']:.0%}"
        unsure = s["verdicts"]["machine"].get("unsure", 0) + s["verdicts"]["human"].get("unsure", 0)
        lines.append(
            f"{name:<24}{s['tp']:>5}{s['fp']:>5}{s['fn']:>5}{precision:>11}{recall:>9}"
            f"{s['humans_judged_machine']:>18}{unsure:>8}"
        )
    lines.append("")
    t = result["judge_time"]
    lines.append(
        f"{'judge time per text':<24}{'calls':>7}{'mean µs':>10}{'p99 µs':>10}{'max µs':>10}"
    )
    lines.append(
        f"{'judge_greeting':<24}{t['n']:>7}{t['mean_us']:>10}{t['p99_us']:>10}{t['max_us']:>10}"
    )
    if verbose:
        lines.append("")
        lines.extend(f"{count:>4}  {key}" for key, count in result["reasons"].items())
        lines.append("")
        for w in result["wrong"]:
            lines.append(
                f"{w['way']}: {w['label']} read {w['verdict']} ({w['reason']}): {w['text']}"
            )
    lines.append("")
    lines.append(f"{describe(result['machine'])}, CPU {result['machine']['cpu_model']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    return labelled_set_main(
        argv,
        description="Answering-machine detection on a labelled set.",
        repeat=200,
        run=run,
        render=render,
    )


if __name__ == "__main__":
    raise SystemExit(main())
