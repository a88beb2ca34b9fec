"""``tandem eval``: several scenarios, each run ``repeat`` times, summarised per scenario
(checks, pass^k, latency) and against the project's targets, written as a report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responder.metrics import percentiles
from simulator.run import RunResult

DIRECT_P50_S = 0.45
"""First audio after a direct turn, p50: no slower than issue 14 found it (2 cores, offline)."""
ACK_P50_S = 0.5
"""First audio (the acknowledgement) after a delegated turn, p50."""
P95_S = 1.0
"""First audio, p95, for either."""
"""The targets: caller end of turn to first agent audio, for direct turns and for the
acknowledgement of delegated ones."""
PHONE_NOTE = (
    " (caller audio through 8 kHz G.711 μ-law with 0-40 ms packet jitter; the agent's audio "
    "through the codec in call.wav)"
)
"""What ``--phone`` did to the calls, for the report."""


@dataclass(frozen=True)
class Target:
    """One target and whether the evaluation met it."""

    name: str
    measured: str
    met: bool | None
    """None: not measured (no call had such a turn)."""

    @property
    def mark(self) -> str:
        """✓ met, ✗ missed, · not measured."""
        return {True: "✓", False: "✗", None: "·"}[self.met]


def scenario_row(name: str, runs: Sequence[RunResult]) -> dict[str, Any]:
    """One scenario's runs, pooled: the line they were played over (``"phone"`` or
    ``"wideband"``, several joined by ``+``), checks, pass^k (every run passed) and the figures
    (first audio and first relevant answer by turn type: see :mod:`simulator.analysis`)."""
    pooled = _pooled(runs, "first_audio_samples")
    answers = _pooled(runs, "first_answer_samples")
    return {
        "scenario": name,
        "line": "+".join(sorted({run.metrics.get("line", "wideband") for run in runs})),
        "runs": len(runs),
        "passed_runs": sum(run.passed for run in runs),
        "pass_k": all(run.passed for run in runs),
        "checks_passed": sum(run.metrics["checks"]["passed"] for run in runs),
        "checks_total": sum(run.metrics["checks"]["total"] for run in runs),
        "first_audio_s": {kind: percentiles(values) for kind, values in sorted(pooled.items())},
        "first_audio_samples": pooled,
        "first_answer_s": {kind: percentiles(values) for kind, values in sorted(answers.items())},
        "first_answer_samples": answers,
        "unanswered_delegated": sum(run.metrics.get("unanswered_delegated", 0) for run in runs),
        "talk_over": sum(run.metrics["talk_over"]["count"] for run in runs),
        "stale_suppressed": sum(run.metrics["stale_suppressed"] for run in runs),
        "duplicate_results": sum(run.metrics["duplicate_results"] for run in runs),
        "dead_air_s": round(sum(run.metrics["dead_air_s"] for run in runs), 3),
        "errors": [run.error for run in runs if run.error],
        "directories": [str(run.directory) for run in runs],
    }


def _pooled(runs: Sequence[RunResult], key: str) -> dict[str, list[float]]:
    pooled: dict[str, list[float]] = {}
    for run in runs:
        for kind, values in run.metrics.get(key, {}).items():
            pooled.setdefault(kind, []).extend(values)
    return pooled


def answer_times(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float] | None]:
    """Time to the first relevant answer over every run, by turn type (delegated turns only)."""
    pooled: dict[str, list[float]] = {}
    for row in rows:
        for kind, values in row["first_answer_samples"].items():
            pooled.setdefault(kind, []).extend(values)
    return {kind: percentiles(values) for kind, values in sorted(pooled.items())}


def measured_line(rows: Sequence[dict[str, Any]]) -> str:
    """The line(s) an evaluation's calls were played over, e.g. ``"phone line"``."""
    lines = sorted({part for row in rows for part in row.get("line", "wideband").split("+")})
    return " + ".join(lines or ["wideband"]) + (" line" if len(lines) <= 1 else " lines")


def targets(rows: Sequence[dict[str, Any]]) -> list[Target]:
    """The project's targets, judged on every run of the evaluation; the latency targets name
    the line they were measured on (phone calls are slower to hear: they are judged apart)."""
    line = measured_line(rows)
    direct = [v for row in rows for v in row["first_audio_samples"].get("direct", [])]
    ack = [v for row in rows for v in row["first_audio_samples"].get("delegated", [])]
    found: list[Target] = []
    for label, values, p50 in (
        ("direct turns", direct, DIRECT_P50_S),
        ("delegated turns (acknowledgement)", ack, ACK_P50_S),
    ):
        figures = percentiles(values)
        if figures is None:
            found.append(
                Target(f"first audio, {label}, {line}", "not measured (no such turns)", None)
            )
            continue
        found.append(
            Target(
                f"first audio, {label}, {line}: p50 ≤ {p50 * 1000:.0f} ms, "
                f"p95 ≤ {P95_S * 1000:.0f} ms",
                f"p50 {figures['p50'] * 1000:.0f} ms, p95 {figures['p95'] * 1000:.0f} ms "
                f"(n={figures['n']})",
                figures["p50"] <= p50 and figures["p95"] <= P95_S,
            )
        )
    talk_over = sum(row["talk_over"] for row in rows)
    found.append(Target("zero talk-over by the agent", str(talk_over), talk_over == 0))
    duplicates = sum(row["duplicate_results"] for row in rows)
    found.append(Target("zero duplicate answers", str(duplicates), duplicates == 0))
    failed = [row["scenario"] for row in rows if not row["pass_k"]]
    found.append(
        Target(
            "every scenario passes every run (stale answers never spoken are among the checks)",
            "all passed" if not failed else "failed: " + ", ".join(failed),
            not failed,
        )
    )
    return found


def write_report(
    directory: Path, rows: Sequence[dict[str, Any]], found: Sequence[Target], *, machine: str
) -> Path:
    """``report.md`` and ``report.json`` in ``directory``; returns the Markdown path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "line": measured_line(rows),
                "scenarios": list(rows),
                "first_answer_s": answer_times(rows),
                "targets": [t.__dict__ for t in found],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    lines = [
        "# tandem eval",
        "",
        f"Machine: {machine}",
        "",
        f"Line: {measured_line(rows)}{PHONE_NOTE if _phone(rows) else ''}",
        "",
        "| scenario | line | checks | pass^k | direct p50 / p95 | ack p50 / p95 | "
        "answer p50 / p95 | answer after barge-in p50 / p95 | talk-over | stale suppressed | "
        "duplicates | "
        "dead air |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['scenario']} | {row.get('line', 'wideband')} | "
            f"{row['checks_passed']}/{row['checks_total']} | "
            f"{row['passed_runs']}/{row['runs']} | {_pair(row, 'direct')} | "
            f"{_pair(row, 'delegated')} | {_pair(row, 'delegated', 'first_answer_s')} | "
            f"{_pair(row, 'after_interruption', 'first_answer_s')} | {row['talk_over']} | "
            f"{row['stale_suppressed']} | {row['duplicate_results']} | "
            f"{row['dead_air_s']:.1f} s |"
        )
    lines += [
        "",
        "*answer*: the caller's end of turn to the first audio of the answer, in delegated turns "
        "(acknowledgements and fillers excluded).",
        "",
        "## Time to the first relevant answer",
        "",
    ]
    lines += _answer_lines(rows)
    lines += ["", f"## Targets ({measured_line(rows)})", ""]
    lines += [f"- {t.mark} {t.name}: {t.measured}" for t in found]
    errors = [(row["scenario"], e) for row in rows for e in row["errors"]]
    if errors:
        lines += ["", "## Runs that could not play out", ""]
        lines += [f"- {name}: {error}" for name, error in errors]
    path = directory / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _phone(rows: Sequence[dict[str, Any]]) -> bool:
    return any("phone" in row.get("line", "") for row in rows)


def _answer_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Pooled over every run, by turn type, and how many delegated turns got no answer."""
    found = [
        f"- {kind.replace('_', ' ')} turns: p50 {figures['p50'] * 1000:.0f} ms, "
        f"p95 {figures['p95'] * 1000:.0f} ms (n={figures['n']})"
        for kind, figures in answer_times(rows).items()
        if figures
    ]
    missing = sum(row["unanswered_delegated"] for row in rows)
    found.append(f"- delegated turns never answered: {missing}")
    return found


def _pair(row: dict[str, Any], kind: str, figure: str = "first_audio_s") -> str:
    figures = row[figure].get(kind)
    if not figures:
        return "-"
    return f"{figures['p50'] * 1000:.0f} / {figures['p95'] * 1000:.0f} ms"
