"""The terminal side of ``tandem demo`` and ``tandem eval``: a progress display while models
load, the live transcript with timings as the call happens, and summary tables."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from simulator.run import RunResult
from simulator.stack import Progress as ProgressCallback
from simulator.transcript import clock


@contextlib.contextmanager
def loading(console: Console, total: int) -> Iterator[ProgressCallback]:
    """A progress bar over the ``total`` loading steps, naming the one under way, with the
    elapsed time; yields the step callback (the loaders themselves report no progress)."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("loading", total=total)
        started: list[str] = []

        def finish_step() -> None:
            if started:
                progress.advance(bar)
                console.print(f"[dim]  done: {started[-1]}[/]")

        def step(name: str) -> None:
            finish_step()
            started.append(name)
            progress.update(bar, description=name)

        yield step
        finish_step()


class LiveTranscript:
    """Prints a call's events as they happen (an event listener for :func:`run_call`)."""

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self._console = console
        self._verbose = verbose

    def __call__(self, event: dict[str, Any]) -> None:
        """Print ``event`` if it is worth a line."""
        line = self._line(event)
        if line:
            self._console.print(f"[dim]{clock(float(event['t']))}[/]  {line}", highlight=False)

    def _line(self, e: dict[str, Any]) -> str | None:
        name, source = e["event"], e["source"]
        if source == "caller" and name == "line":
            tag = "" if e["action"] == "say" else f" [dim]({e['action'].replace('_', '-')})[/]"
            return f"[bold cyan]caller[/]{tag}  {_escape(e['text'])}"
        heard = e.get("data", {})
        if name == "user_input_transcribed" and heard.get("is_final") and self._verbose:
            return f"[dim]        heard: {_escape(str(heard['transcript']))}[/]"
        if name == "message" and e.get("role") == "agent" and e.get("text"):
            cut = " [red](cut off)[/]" if e.get("interrupted") else ""
            return f"[bold green]agent[/]   {_escape(str(e['text']))}{cut}"
        task = f"task #{e.get('task')}"
        simple = {
            "task_submitted": f"[yellow]… {task} sent to the thinker[/]",
            "task_stopped": f"[yellow]✗ {task} stopped ({e.get('state')})[/]",
            "task_failed": f"[red]✗ {task} {e.get('outcome')}[/]",
            "stale_suppressed": f"[magenta]⊘ stale answer of {task} dropped[/]",
            "backchannel_ignored": "[dim]  backchannel heard, agent carries on[/]",
            "talk_over": "[red]! agent talked over the caller[/]",
        }
        if name in simple and source == "responder":
            return simple[name]
        stage = _stage_line(source, name, e)
        if stage:
            return stage
        if name == "task_answer" and e.get("final"):
            return f"[yellow]✓ {task} answered[/]"
        if name == "goal_verdicts":
            rulings = ", ".join(str(v["verdict"]) for v in e.get("verdicts", []))
            return f"[blue]  judge so far: {_escape(rulings)}[/]"
        if source == "caller" and name == "hang_up":
            return f"[bold cyan]caller[/]  hangs up [dim]({e.get('reason')})[/]"
        if source == "simulator" and name == "call_over" and e.get("error"):
            return f"[red]call stopped: {_escape(str(e['error']))}[/]"
        return None


def _stage_line(source: str, name: str, e: dict[str, Any]) -> str | None:
    """A session stage (budget, idle) or a guardrail hit, in a line."""
    if source == "idle":
        lines = {
            "nudge": f"[yellow]… caller silent: nudge {e.get('number')}[/]",
            "nudge_suppressed": f"[dim]  caller silent, not nudged ({e.get('because')})[/]",
            "closing": "[yellow]… caller still silent: saying goodbye[/]",
            "hard_stop": "[red]■ goodbye not heard in time: call cut[/]",
        }
        return lines.get(name)
    if source == "budget":
        lines = {
            "wrap_up": f"[yellow]⏱ call time nearly up ({e.get('remaining_s')} s): wrapping up[/]",
            "goodbye": "[yellow]⏱ call time up: saying goodbye[/]",
            "hard_stop": "[red]■ goodbye not heard in time: call cut[/]",
        }
        return lines.get(name)
    if source == "guardrail":
        return f"[magenta]⛨ guardrail {e.get('rule')} ({e.get('side')}): {e.get('action')}[/]"
    return None


def run_table(result: RunResult) -> Table:
    """One call's figures and checks."""
    m = result.metrics
    table = Table(title=f"{result.scenario.name}  ({m['profile']} profile)", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("line", m.get("line", "wideband"))
    for kind, figures in m["first_audio_s"].items():
        if figures:
            table.add_row(
                f"first audio, {kind.replace('_', ' ')}",
                f"p50 {_ms(figures['p50'])}  p95 {_ms(figures['p95'])}  (n={figures['n']})",
            )
    for kind, figures in m["first_answer_s"].items():
        if figures:
            table.add_row(
                f"first relevant answer, {kind.replace('_', ' ')}",
                f"p50 {_ms(figures['p50'])}  p95 {_ms(figures['p95'])}  (n={figures['n']})",
            )
    if m["unanswered_delegated"]:
        table.add_row("[red]delegated turns never answered[/]", str(m["unanswered_delegated"]))
    filler = m["first_filler_s"]
    table.add_row("first filler", f"p50 {_ms(filler['p50'])}" if filler else "none needed")
    table.add_row("dead air", f"{m['dead_air_s']:.2f} s")
    table.add_row("talk-over", f"{m['talk_over']['count']} ({m['talk_over']['seconds']:.2f} s)")
    table.add_row("stale answers suppressed", str(m["stale_suppressed"]))
    table.add_row("answers re-spoken", str(m["respoken"]))
    table.add_row("duplicate answers", str(m["duplicate_results"]))
    for check in result.checks:
        mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
        table.add_row(f"{mark} {_escape(check.name)}", _escape(check.detail))
    if result.error:
        table.add_row("[red]✗ call[/]", _escape(result.error))
    table.add_row("artifacts", str(result.directory))
    return table


def eval_table(rows: Sequence[dict[str, Any]]) -> Table:
    """One row per scenario of an evaluation (see :func:`simulator.evaluate.scenario_row`);
    *answer* is the time to the first relevant answer of delegated turns; *line* is the line
    the calls were played over (``--phone`` or not), so phone latency is never read as
    wideband latency."""
    table = Table(title="tandem eval")
    for column in (
        "scenario",
        "line",
        "checks",
        "pass^k",
        "direct p50/p95",
        "ack p50/p95",
        "after barge-in p50",
        "answer p50/p95",
        "answer after barge-in p50/p95",
        "talk-over",
        "stale",
        "dup",
        "dead air",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["scenario"],
            row.get("line", "wideband"),
            f"{row['checks_passed']}/{row['checks_total']}",
            ("[green]" if row["pass_k"] else "[red]") + f"{row['passed_runs']}/{row['runs']}[/]",
            _pair(row["first_audio_s"].get("direct")),
            _pair(row["first_audio_s"].get("delegated")),
            _single(row["first_audio_s"].get("after_interruption")),
            _pair(row["first_answer_s"].get("delegated")),
            _pair(row["first_answer_s"].get("after_interruption")),
            str(row["talk_over"]),
            str(row["stale_suppressed"]),
            str(row["duplicate_results"]),
            f"{row['dead_air_s']:.1f} s",
        )
    return table


def _pair(figures: dict[str, float] | None) -> str:
    return f"{_ms(figures['p50'])} / {_ms(figures['p95'])}" if figures else "-"


def _single(figures: dict[str, float] | None) -> str:
    return _ms(figures["p50"]) if figures else "-"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _escape(text: str) -> str:
    return text.replace("[", "\\[")
