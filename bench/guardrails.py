"""Guardrails benchmark (issue 16): the built-in rules on a labelled set, and what a check costs.

Run from the repository root: ``python -m bench.guardrails [--repeat N] [--verbose] [--json]``.

``bench/guardrails_labelled.yaml`` holds caller transcripts (as STT writes them), thinker results
with the tool outputs they were built from, and agent sentences, each labelled with the rule(s)
that should fire or none, hard negatives included. Every text is checked with the rules of its
side in its profile's context (``Guardrails.check``). Reported:

* **precision / recall** per rule, per side and over all (a label is a (text, rule) pair: a
  rule that fires where it should not is a false positive, one that stays quiet a miss);
* **check time** per text, each text checked ``--repeat`` times: mean, p99 and max, per side
  (the thinker side includes the contradiction check against the tool outputs).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from bench._machine import describe, labelled_set_main, microseconds
from shared.guardrails import BUILT_IN_RULES, Guardrails, RuleContext, Side
from shared.profile import OffDomainTopic, find_profile

LABELLED = Path(__file__).resolve().parent / "guardrails_labelled.yaml"
SIDES: tuple[Side, ...] = ("caller", "thinker", "agent")


@dataclass(frozen=True)
class Item:
    """One labelled text."""

    side: Side
    text: str
    expect: frozenset[str]
    profile: str
    tools: tuple[str, ...]


def load(path: Path = LABELLED) -> tuple[dict[str, Guardrails], list[Item]]:
    """The guardrails of each profile the set names, and its items."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    guardrails = {}
    for name, spec in data["profiles"].items():
        topics = tuple(OffDomainTopic.model_validate(t) for t in spec.get("off_domain", ()))
        context = RuleContext.for_profile(find_profile(spec["profile"]))
        guardrails[name] = Guardrails(replace(context, off_domain=topics))
    items = []
    for raw in data["items"]:
        expect = raw.get("expect") or "none"
        labels = [expect] if isinstance(expect, str) else list(expect)
        items.append(
            Item(
                side=raw["side"],
                text=str(raw["text"]),
                expect=frozenset(label for label in labels if label != "none"),
                profile=raw.get("profile", "restaurant"),
                tools=tuple(raw.get("tools", ())),
            )
        )
    return guardrails, items


@dataclass
class Score:
    """True positives, false positives and misses."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, expected: frozenset[str], found: frozenset[str], rule: str) -> None:
        """Count one text for ``rule``."""
        if rule in expected and rule in found:
            self.tp += 1
        elif rule in found:
            self.fp += 1
        elif rule in expected:
            self.fn += 1

    def as_dict(self) -> dict[str, Any]:
        """Counts, precision and recall (None when undefined)."""
        found, labelled = self.tp + self.fp, self.tp + self.fn
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.tp / found, 3) if found else None,
            "recall": round(self.tp / labelled, 3) if labelled else None,
        }


def run(repeat: int, path: Path = LABELLED) -> dict[str, Any]:
    """Check every item ``repeat`` times; score the first check, time them all."""
    guardrails, items = load(path)
    by_rule: dict[str, Score] = {}
    by_side = {side: Score() for side in SIDES}
    overall = Score()
    timings: dict[Side, list[float]] = {side: [] for side in SIDES}
    wrong = []
    for item in items:
        g = guardrails[item.profile]
        found = frozenset(h.rule for h in g.check(item.side, item.text, tool_outputs=item.tools))
        for _ in range(repeat):
            started = time.perf_counter()
            g.check(item.side, item.text, tool_outputs=item.tools)
            timings[item.side].append(time.perf_counter() - started)
        rules = {r.name for r in BUILT_IN_RULES if item.side in r.sides}
        for rule in rules | item.expect:
            by_rule.setdefault(rule, Score()).add(item.expect, found, rule)
            by_side[item.side].add(item.expect, found, rule)
            overall.add(item.expect, found, rule)
        if found != item.expect:
            wrong.append(
                {
                    "side": item.side,
                    "text": item.text,
                    "expected": sorted(item.expect),
                    "found": sorted(found),
                }
            )
    return {
        "texts": dict(Counter(item.side for item in items)),
        "rules": {rule: score.as_dict() for rule, score in sorted(by_rule.items())},
        "sides": {side: score.as_dict() for side, score in by_side.items()},
        "overall": overall.as_dict(),
        "check_time": {side: microseconds(values) for side, values in timings.items()},
        "wrong": wrong,
    }


def render(result: dict[str, Any], *, verbose: bool) -> str:
    """Readable tables."""
    lines = [f"{'rule / side':<26}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>9}"]
    rows = [*result["rules"].items(), *result["sides"].items(), ("overall", result["overall"])]
    for name, s in rows:
        if name == "caller":
            lines.append("-" * 61)
        precision = "-" if s["precision"] is None else f"{s['precision']:.0%}"
        recall = "-" if s["recall"] is None else f"{s['recall']:.0%}"
        lines.append(f"{name:<26}{s['tp']:>5}{s['fp']:>5}{s['fn']:>5}{precision:>11}{recall:>9}")
    lines.append("")
    heading = f"{'check time per text':<26}{'texts':>7}"
    lines.append(heading + "".join(f"{c:>10}" for c in ("mean µs", "p99 µs", "max µs")))
    for side, t in result["check_time"].items():
        texts = result["texts"].get(side, 0)
        lines.append(f"{side:<26}{texts:>7}{t['mean_us']:>10}{t['p99_us']:>10}{t['max_us']:>10}")
    if verbose:
        lines.append("")
        for w in result["wrong"]:
            lines.append(f"{w['side']}: expected {w['expected']}, found {w['found']}: {w['text']}")
    lines.append("")
    lines.append(f"{describe(result['machine'])}, CPU {result['machine']['cpu_model']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    return labelled_set_main(
        argv,
        description="The guardrail rules on a labelled set.",
        repeat=50,
        run=run,
        render=render,
    )


if __name__ == "__main__":
    raise SystemExit(main())
