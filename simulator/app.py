"""What ``tandem demo`` and ``tandem eval`` do once their arguments are parsed: open the stack,
play the calls, judge and report (the command line is :mod:`simulator.cli`)."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import click
from anthropic import AsyncAnthropic
from rich.console import Console

from shared.config import Settings
from shared.profile import Profile
from simulator.claude import anthropic_client
from simulator.console import LiveTranscript, eval_table, loading, run_table
from simulator.evaluate import scenario_row, targets, write_report
from simulator.judge import judge_call, passed
from simulator.phone import PhoneLine
from simulator.run import PersonaMode, RunResult, run_call, run_directory, write_metrics
from simulator.scenario import Scenario
from simulator.stack import Stack, loading_steps, open_stack
from simulator.voice import CallerVoice

NO_KEY = "--persona needs ANTHROPIC_API_KEY: Claude plays the caller and judges the goals"

__all__ = ["NO_KEY", "demo", "evaluate", "judge_run", "run_table"]


@contextlib.asynccontextmanager
async def _ready(
    settings: Settings, profile: Profile, console: Console
) -> AsyncIterator[tuple[Stack, CallerVoice]]:
    """The stack (loaded under a progress display) and the caller's voice; stopped on exit."""
    async with contextlib.AsyncExitStack() as exits:
        with loading(console, loading_steps(settings)) as progress:
            stack = await exits.enter_async_context(open_stack(settings, profile, progress))
        _announce(console, stack)
        yield stack, _voice(stack)


async def demo(
    settings: Settings,
    profile: Profile,
    scenario: Scenario,
    runs_dir: Path,
    console: Console,
    verbose: bool,
    persona: bool,
    *,
    phone: bool = False,
) -> RunResult:
    """Play ``scenario`` once, printing it live (over a simulated phone line with ``phone``)."""
    async with contextlib.AsyncExitStack() as exits:
        claude = await _claude(exits, settings, required=True) if persona else None
        stack, voice = await exits.enter_async_context(_ready(settings, profile, console))
        console.rule(f"[bold]{scenario.name}[/]: {scenario.description.strip()}")
        return await run_call(
            stack,
            scenario,
            voice,
            run_directory(runs_dir, scenario),
            listeners=[LiveTranscript(console, verbose=verbose)],
            persona=_persona_mode(claude, settings, persona),
            phone=_phone_line(phone),
        )


async def evaluate(
    settings: Settings,
    profile: Profile,
    scenarios: list[Scenario],
    repeat: int,
    runs_dir: Path,
    console: Console,
    persona: bool,
    *,
    phone: bool = False,
) -> bool:
    """Play every scenario ``repeat`` times, print the table and the targets and write the
    report; True if every run passed. With ``phone`` every call is over a simulated phone
    line."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = runs_dir / f"eval-{stamp}"
    rows = []
    async with contextlib.AsyncExitStack() as exits:
        # with a key, Claude also judges each call against its goals
        judge = await _claude(exits, settings, required=persona)
        stack, voice = await exits.enter_async_context(_ready(settings, profile, console))
        mode = _persona_mode(judge, settings, persona)
        for scenario in scenarios:
            runs: list[RunResult] = []
            for attempt in range(1, repeat + 1):
                console.print(f"[bold]{scenario.name}[/] run {attempt}/{repeat} …")
                directory = run_directory(root, scenario)
                line = _phone_line(phone, seed=attempt)
                runs.append(
                    await run_call(stack, scenario, voice, directory, persona=mode, phone=line)
                )
                last = runs[-1]
                verdict = "[green]passed[/]" if last.passed else "[red]failed[/]"
                console.print(f"  {verdict}  {last.directory}")
                if judge is not None and scenario.goals:
                    await judge_run(judge, settings.thinker.strong_model, last, console)
            rows.append(scenario_row(scenario.name, runs))
    found = targets(rows)
    console.print(eval_table(rows))
    for target in found:
        colour = {True: "green", False: "red", None: "dim"}[target.met]
        mark = f"[{colour}]{target.mark}[/]"
        console.print(f"{mark} {target.name}: {target.measured}")
    report = write_report(root, rows, found, machine=_machine(stack))
    console.print(f"report: {report}")
    return all(row["pass_k"] for row in rows)


async def judge_run(client: AsyncAnthropic, model: str, run: RunResult, console: Console) -> None:
    """Claude's yes/no verdict per goal of the finished call, added to its metrics."""
    transcript = [(s.who, s.heard_text) for s in sorted(run.record.speech, key=lambda s: s.start)]
    verdicts = await judge_call(
        client, model, goals=run.scenario.goals, transcript=transcript, final=True
    )
    run.metrics["judge"] = [v.__dict__ for v in verdicts]
    write_metrics(run)
    for verdict in verdicts:
        console.print(f"  judge: {verdict.verdict} - {verdict.goal} ({verdict.reason})")
    if not passed(verdicts):
        run.error = run.error or "the judge found a goal not met"


async def _claude(
    exits: contextlib.AsyncExitStack, settings: Settings, *, required: bool
) -> AsyncAnthropic | None:
    """The Claude client (closed with ``exits``), or None without ``ANTHROPIC_API_KEY``; when
    ``required`` (``--persona``) a missing key ends the command with one line, before any model
    loads."""
    client = anthropic_client(settings)
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


def _phone_line(phone: bool, *, seed: int = 1) -> PhoneLine | None:
    """With ``--phone``: a fresh line for one call, its jitter seeded by ``seed`` (the attempt),
    so the k-th run of a scenario always gets the same jitter."""
    return PhoneLine(seed=seed) if phone else None


def _voice(stack: Stack) -> CallerVoice:
    from responder.offline import HibariTTS

    offline = stack.models.offline
    tts = offline.tts if offline is not None else HibariTTS()
    assert isinstance(tts, HibariTTS)
    return CallerVoice(tts)


def _announce(console: Console, stack: Stack) -> None:
    profile = stack.models.profile
    console.print(f"[bold]{profile.name}[/] (profile {profile.id!r}, {profile.root})")
    if stack.profile_name == "offline":
        console.print(
            "[yellow]offline profile:[/] Whisper tiny.en → rule-based demo brain → hibari voice "
            "(no OPENAI_API_KEY). The demo brains follow fixed patterns; they are not language "
            "models."
        )
    else:
        console.print(f"[green]{stack.profile_name} speech[/] (OpenAI realtime model)")


def _machine(stack: Stack) -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"profile {stack.models.profile.id}, {stack.profile_name} speech"
    )
