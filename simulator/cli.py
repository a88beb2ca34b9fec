"""``tandem demo`` and ``tandem eval``: simulated phone calls against the real responder and
thinker, offline by default (no keys, no LiveKit server)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import click
from anthropic import AsyncAnthropic
from rich.console import Console

from shared.config import Settings
from shared.errors import ConfigError
from simulator.claude import anthropic_from_env
from simulator.console import LiveTranscript, eval_table, loading, run_table
from simulator.evaluate import scenario_row, targets, write_report
from simulator.judge import judge_call, passed
from simulator.run import PersonaMode, RunResult, run_call, run_directory, write_metrics
from simulator.scenario import Scenario, find_scenarios, load_scenario
from simulator.stack import Stack, loading_steps, open_stack
from simulator.voice import CallerVoice

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
"""The scenarios shipped with tandem."""

DEMO_SCENARIO = "booking-with-barge-in"

_runs_option = click.option(
    "--runs",
    "runs_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Where each call's artifacts go.",
)
_persona_option = click.option(
    "--persona",
    is_flag=True,
    help="Claude plays each scenario's persona after its goals instead of the scripted steps "
    "(needs ANTHROPIC_API_KEY).",
)
NO_KEY = "--persona needs ANTHROPIC_API_KEY: Claude plays the caller and judges the goals"


@click.command("demo")
@click.argument("scenario", required=False, default=DEMO_SCENARIO)
@_runs_option
@_persona_option
@click.option("--verbose", is_flag=True, help="Also show what the agent heard (the STT).")
def demo_command(scenario: str, runs_dir: Path, persona: bool, verbose: bool) -> None:
    """Run one simulated phone call and show it live (default: a booking with a barge-in).

    SCENARIO is a name from scenarios/ or a path to a scenario file. Offline without keys:
    Whisper, a rule-based demo brain and the hibari voice stand in for the realtime model, and a
    rule-based brain for Claude.
    """
    settings, console = _prepare()
    (loaded,) = _selection((scenario,), persona=persona)
    result = asyncio.run(_demo(settings, loaded, runs_dir, console, verbose, persona))
    console.print(run_table(result))
    if not result.passed:
        raise SystemExit(1)


@click.command("eval")
@click.argument("scenarios", nargs=-1)
@click.option("--repeat", "-k", type=click.IntRange(1, 50), default=1, show_default=True)
@_runs_option
@_persona_option
def eval_command(scenarios: tuple[str, ...], repeat: int, runs_dir: Path, persona: bool) -> None:
    """Run scenarios (all of scenarios/ by default) REPEAT times each and report.

    Prints a table per scenario (checks passed, pass^k: every run passed, latency) and checks
    the targets; writes report.md and report.json under RUNS/eval-<timestamp>/. With --persona
    every named scenario needs a persona and goals; without names, the scenarios that have them
    run.
    """
    settings, console = _prepare()
    loaded = _selection(scenarios, persona=persona)
    ok = asyncio.run(_eval(settings, loaded, repeat, runs_dir, console, persona))
    if not ok:
        raise SystemExit(1)


@contextlib.asynccontextmanager
async def _ready(settings: Settings, console: Console) -> AsyncIterator[tuple[Stack, CallerVoice]]:
    """The stack (loaded under a progress display) and the caller's voice; stopped on exit."""
    async with contextlib.AsyncExitStack() as exits:
        with loading(console, loading_steps(settings)) as progress:
            stack = await exits.enter_async_context(open_stack(settings, progress))
        _announce(console, stack.profile_name)
        yield stack, _voice(stack)


async def _demo(
    settings: Settings,
    scenario: Scenario,
    runs_dir: Path,
    console: Console,
    verbose: bool,
    persona: bool,
) -> RunResult:
    async with contextlib.AsyncExitStack() as exits:
        claude = await _claude(exits, required=True) if persona else None
        stack, voice = await exits.enter_async_context(_ready(settings, console))
        console.rule(f"[bold]{scenario.name}[/]: {scenario.description.strip()}")
        return await run_call(
            stack,
            scenario,
            voice,
            run_directory(runs_dir, scenario),
            listeners=[LiveTranscript(console, verbose=verbose)],
            persona=_persona_mode(claude, settings, persona),
        )


async def _eval(
    settings: Settings,
    scenarios: list[Scenario],
    repeat: int,
    runs_dir: Path,
    console: Console,
    persona: bool,
) -> bool:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = runs_dir / f"eval-{stamp}"
    rows = []
    async with contextlib.AsyncExitStack() as exits:
        # with a key, Claude also judges each call against its goals
        judge = await _claude(exits, required=persona)
        stack, voice = await exits.enter_async_context(_ready(settings, console))
        mode = _persona_mode(judge, settings, persona)
        for scenario in scenarios:
            runs: list[RunResult] = []
            for attempt in range(1, repeat + 1):
                console.print(f"[bold]{scenario.name}[/] run {attempt}/{repeat} …")
                directory = run_directory(root, scenario)
                runs.append(await run_call(stack, scenario, voice, directory, persona=mode))
                last = runs[-1]
                verdict = "[green]passed[/]" if last.passed else "[red]failed[/]"
                console.print(f"  {verdict}  {last.directory}")
                if judge is not None and scenario.goals:
                    await judge_run(judge, settings.thinker.strong_model, last, console)
            rows.append(scenario_row(scenario.name, runs))
    found = targets(rows)
    console.print(eval_table(rows))
    for target in found:
        mark = "[green]✓[/]" if target.met else "[red]✗[/]"
        console.print(f"{mark} {target.name}: {target.measured}")
    report = write_report(root, rows, found, machine=_machine(stack.profile_name))
    console.print(f"report: {report}")
    return all(row["pass_k"] for row in rows)


async def judge_run(client: AsyncAnthropic, model: str, run: RunResult, console: Console) -> None:
    """Claude's yes/no verdict per goal of the finished call, added to its metrics."""
    transcript = [(s.who, s.text) for s in sorted(run.record.speech, key=lambda s: s.start)]
    verdicts = await judge_call(
        client, model, goals=run.scenario.goals, transcript=transcript, final=True
    )
    run.metrics["judge"] = [v.__dict__ for v in verdicts]
    write_metrics(run)
    for verdict in verdicts:
        console.print(f"  judge: {verdict.verdict} - {verdict.goal} ({verdict.reason})")
    if not passed(verdicts):
        run.error = run.error or "the judge found a goal not met"


async def _claude(exits: contextlib.AsyncExitStack, *, required: bool) -> AsyncAnthropic | None:
    """The Claude client (closed with ``exits``), or None without ``ANTHROPIC_API_KEY``; when
    ``required`` (``--persona``) a missing key ends the command with one line, before any model
    loads."""
    client = anthropic_from_env()
    if client is None:
        if required:
            raise click.ClickException(NO_KEY)
        return None
    return await exits.enter_async_context(client)


def _persona_mode(
    client: AsyncAnthropic | None, settings: Settings, persona: bool
) -> PersonaMode | None:
    """With ``--persona``: Claude as the caller and the mid-call judge, on the final judge's
    model."""
    if not persona or client is None:
        return None
    return PersonaMode(client, settings.thinker.strong_model)


def _prepare() -> tuple[Settings, Console]:
    from shared.cli import settings_or_exit

    settings = settings_or_exit()
    # the live transcript is the output: only warnings (the offline notice) and errors besides
    logging.getLogger().setLevel(logging.WARNING)
    for noisy in ("livekit", "livekit.agents", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    return settings, Console()


def _scenario_paths(selection: list[str]) -> list[Path]:
    try:
        return find_scenarios(selection, SCENARIOS)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _selection(names: tuple[str, ...], *, persona: bool) -> list[Scenario]:
    """The scenarios to play. With ``persona`` each named one needs a persona and goals; with no
    names, every shipped scenario (only those that have both, with ``persona``)."""
    paths = _scenario_paths(list(names))
    if persona and not names:
        return [s for s in map(_load, paths) if s.missing_for_persona is None]
    return [_load(path, persona=persona) for path in paths]


def _load(path: Path, *, persona: bool = False) -> Scenario:
    try:
        return load_scenario(path, persona=persona)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _voice(stack: Stack) -> CallerVoice:
    from responder.offline import HibariTTS

    tts = stack.offline.tts if stack.offline is not None else HibariTTS()
    assert isinstance(tts, HibariTTS)
    return CallerVoice(tts)


def _announce(console: Console, profile: str) -> None:
    if profile == "offline":
        console.print(
            "[yellow]offline profile:[/] Whisper tiny.en → rule-based demo brain → hibari voice "
            "(no OPENAI_API_KEY). The demo brains follow fixed patterns; they are not language "
            "models."
        )
    else:
        console.print(f"[green]{profile} profile[/] (OpenAI realtime model)")


def _machine(profile: str) -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, " + (
        f"{profile} profile"
    )
