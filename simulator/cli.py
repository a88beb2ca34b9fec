"""``tandem demo`` and ``tandem eval``: simulated phone calls against the real responder and
thinker, offline by default (no keys, no LiveKit server).

Only the command line lives here (imports are light, so ``--help`` is instant); the work is in
:mod:`simulator.app`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

    from shared.config import Settings
    from shared.profile import Profile
    from simulator.scenario import Scenario

_profile_option = click.option(
    "--profile",
    "profile_selector",
    default=None,
    metavar="PATH_OR_NAME",
    help="The agent profile whose calls to play: a directory with profile.toml or an installed "
    "profile's name (default: TANDEM_PROFILE, else the installed demo profile).",
)

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
_phone_option = click.option(
    "--phone",
    is_flag=True,
    help="Play the calls over a simulated phone line: 8 kHz G.711 mu-law both ways and 0-40 ms "
    "of packet jitter on the caller's audio (latency is reported as the phone line's).",
)


@click.command("demo")
@click.argument("scenario", required=False)
@_profile_option
@_runs_option
@_persona_option
@_phone_option
@click.option("--verbose", is_flag=True, help="Also show what the agent heard (the STT).")
def demo_command(
    scenario: str | None,
    profile_selector: str | None,
    runs_dir: Path,
    persona: bool,
    phone: bool,
    verbose: bool,
) -> None:
    """Run one simulated phone call and show it live (default: the profile's demo call).

    SCENARIO is a name from the profile's scenarios/ or a path to a scenario file. Offline
    without keys: Whisper, a rule-based demo brain and the hibari voice stand in for the realtime
    model, and a rule-based brain for Claude.
    """
    settings, profile, console = _prepare("demo", profile_selector)
    (loaded,) = _selection(profile, (scenario or _demo_scenario(profile),), persona=persona)
    from shared.cli import errors_as_one_line
    from simulator.app import demo, run_table

    with errors_as_one_line():
        result = asyncio.run(
            demo(settings, profile, loaded, runs_dir, console, verbose, persona, phone=phone)
        )
    console.print(run_table(result))
    if not result.passed:
        raise SystemExit(1)


@click.command("eval")
@click.argument("scenarios", nargs=-1)
@click.option("--repeat", "-k", type=click.IntRange(1, 50), default=1, show_default=True)
@_profile_option
@_runs_option
@_persona_option
@_phone_option
def eval_command(
    scenarios: tuple[str, ...],
    repeat: int,
    profile_selector: str | None,
    runs_dir: Path,
    persona: bool,
    phone: bool,
) -> None:
    """Run scenarios (all of the profile's scenarios/ by default) REPEAT times each and report.

    Prints a table per scenario (checks passed, pass^k: every run passed, latency) and checks
    the targets; writes report.md and report.json under RUNS/eval-<timestamp>/. With --persona
    every named scenario needs a persona and goals; without names, the scenarios that have them
    run. With --phone every call is over a simulated phone line and the report says so.
    """
    settings, profile, console = _prepare("eval", profile_selector)
    loaded = _selection(profile, scenarios, persona=persona)
    from shared.cli import errors_as_one_line
    from simulator.app import evaluate

    with errors_as_one_line():
        ok = asyncio.run(
            evaluate(settings, profile, loaded, repeat, runs_dir, console, persona, phone=phone)
        )
    if not ok:
        raise SystemExit(1)


def _prepare(command: str, selector: str | None) -> tuple[Settings, Profile, Console]:
    """The settings (offline speech without OPENAI_API_KEY, said so), the profile and the
    console; a bad setting, a bad profile or a missing demo extra is one line."""
    from rich.console import Console

    from responder.models import resolve_speech_mode
    from responder.offline import require_demo_extra
    from shared.cli import settings_or_exit
    from shared.errors import ConfigError
    from shared.profile import default_profile, find_profile

    settings = settings_or_exit(sections=("bus", "tools", "thinker", "responder", "session"))
    # the live transcript is the output: only warnings (the offline notice) and errors besides
    root = logging.getLogger()
    root.setLevel(max(logging.WARNING, root.level))
    for noisy in ("livekit", "livekit.agents", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        require_demo_extra(f"tandem {command}")  # the caller's voice and the timeline need it
        selector = selector or settings.profile
        profile = find_profile(selector) if selector else default_profile()
        return resolve_speech_mode(settings, allow_offline=True), profile, Console()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _demo_scenario(profile: Profile) -> str:
    """The scenario ``tandem demo`` plays when none is named: the profile's choice, else its
    first one."""
    if profile.spec.scenarios.demo:
        return profile.spec.scenarios.demo
    first = sorted(profile.scenarios_dir.glob("*.yaml"))
    if not first:
        raise click.UsageError(
            f"profile {profile.id!r} has no scenarios in {profile.scenarios_dir}"
        )
    return first[0].stem


def _scenario_paths(profile: Profile, selection: list[str]) -> list[Path]:
    from shared.errors import ConfigError
    from simulator.scenario import find_scenarios

    try:
        return find_scenarios(selection, profile.scenarios_dir)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _selection(profile: Profile, names: tuple[str, ...], *, persona: bool) -> list[Scenario]:
    """The scenarios to play. With ``persona`` each named one needs a persona and goals; with no
    names, every scenario of the profile (only those that have both, with ``persona``)."""
    paths = _scenario_paths(profile, list(names))
    if persona and not names:
        return [s for s in map(_load, paths) if s.missing_for_persona is None]
    return [_load(path, persona=persona) for path in paths]


def _load(path: Path, *, persona: bool = False) -> Scenario:
    from shared.errors import ConfigError
    from simulator.scenario import load_scenario

    try:
        return load_scenario(path, persona=persona)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
