"""``tandem profile new|check``: start an agent profile of your own, and see what it will do.

Light to import (the profile loader, the tool registry and the prompts are imported when a
command runs), so ``--help`` is instant and needs no settings.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from shared.phone_profile import TelephonySpec
    from shared.profile import Profile
    from tools import ToolRegistry

_INDENT = "    "


@click.group("profile")
def profile_command() -> None:
    """Start an agent profile of your own, and check what the agent will do with it.

    A profile is a directory: profile.toml (the business, the persona, its tools and knowledge
    files), knowledge/*.md and scenarios/*.yaml.
    """


@profile_command.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Where to create it (default: here).",
)
def new_command(name: str, parent: Path) -> None:
    """Create a profile to edit in DIR/NAME: profile.toml, example knowledge and a scenario.

    NAME is also the profile's id (lowercase letters, digits, '-', '_' and '.'). The example
    passes `tandem profile check` and `tandem eval --profile` as it is; replace its facts with
    yours.
    """
    from shared.profile import ID_PATTERN

    if not re.match(ID_PATTERN, name):
        raise click.ClickException(
            f"{name!r} is not a usable profile name: use lowercase letters, digits, '-', '_' "
            "and '.', starting with a letter or digit (at most 64), e.g. 'my-shop'"
        )
    root = parent / name
    if root.exists():
        raise click.ClickException(f"{root} already exists: pick another NAME or --dir")
    title = _title(name)
    files = {
        "profile.toml": _PROFILE_TOML.format(title=title, name=name),
        f"knowledge/{name}.md": _KNOWLEDGE_MD.format(title=title),
        "scenarios/example.yaml": _SCENARIO_YAML.format(title=title),
    }
    try:
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot create {root}: {error.strerror or error}") from None
    shown = {
        "profile.toml": "the business, persona, greeting, tools and knowledge files",
        f"knowledge/{name}.md": "example facts to look up: replace them with yours",
        "scenarios/example.yaml": "a simulated call: a question it can answer, one it can't",
    }
    width = max(len(str(root / relative)) for relative in shown)
    click.echo(f"Created {root}/ for {title!r}:")
    for relative, what in shown.items():
        click.echo(f"  {root / relative!s:<{width}}  {what}")
    click.echo(
        f"\nNext: set the name, timezone and persona in profile.toml, and put your own facts in\n"
        f"knowledge/{name}.md (one '## ' section per topic). Then try it:"
    )
    for command in (
        f"tandem profile check {root}",
        f"tandem eval --profile {root}",
        f"tandem responder console --text --profile {root}",
    ):
        click.echo(f"  {command}")


@profile_command.command("check")
@click.argument("selector", metavar="PATH_OR_NAME")
def check_command(selector: str) -> None:
    """Validate a profile and print what the agent will be told, say and use.

    PATH_OR_NAME is a profile directory or an installed profile's name. Checks profile.toml,
    that every tool it allows is installed, its knowledge files, its offline brains and its
    scenarios; any problem is one line naming the file and the field, and exit status 1.
    """
    from shared.cli import settings_or_exit
    from shared.profile import ProfileError, find_profile
    from tools import ToolRegistry

    settings_or_exit(sections=())  # logging as every command has it; reads no setting
    try:
        profile = find_profile(selector)
    except ProfileError as error:
        raise click.ClickException(str(error)) from None
    registry = ToolRegistry.discover()
    problems = [*_tool_problems(profile, registry), *_brain_problems(profile)]
    scenarios, scenario_problems = _scenarios(profile)
    problems += scenario_problems
    if problems:
        for problem in problems:
            click.echo(f"Error: {problem}", err=True)
        raise SystemExit(1)
    _report(profile, registry, scenarios)


def _tool_problems(profile: Profile, registry: ToolRegistry) -> list[str]:
    missing = [name for name in profile.allowed_tools if registry.get(name) is None]
    if not missing:
        return []
    skipped = "".join(
        f"; skipped plugin {p.entry_point} ({p.source}): {p.message}" for p in registry.problems
    )
    return [
        f"{_toml(profile)}: tools.allow: no tool named "
        f"{', '.join(repr(name) for name in missing)} is installed "
        f"(installed: {', '.join(sorted(registry.tools)) or 'none'}; see `tandem tools list`)"
        + skipped
    ]


def _brain_problems(profile: Profile) -> list[str]:
    from shared.profile import ProfileError, offline_factory

    problems = []
    for side in ("responder", "thinker"):
        try:
            factory = offline_factory(profile, side)
        except ProfileError as error:
            problems.append(str(error))
            continue
        if factory is not None and not callable(factory):
            target = getattr(profile.spec.offline, f"{side}_brain")
            problems.append(f"{_toml(profile)}: offline.{side}_brain: {target!r} is not callable")
    return problems


def _scenarios(profile: Profile) -> tuple[list[str], list[str]]:
    """The names of the profile's scenarios, and one line for each file that does not load."""
    from shared.errors import ConfigError
    from simulator.scenario import load_scenario

    names, problems = [], []
    for path in sorted(profile.scenarios_dir.glob("*.yaml")):
        try:
            names.append(load_scenario(path).name)
        except ConfigError as error:
            problems.append(str(error))
    return names, problems


def _report(profile: Profile, registry: ToolRegistry, scenarios: list[str]) -> None:
    from responder.prompts import instructions_for

    spec = profile.spec
    echo = click.echo
    echo(f"{profile.name} (profile {profile.id!r}, {profile.root})")
    echo(f"{_INDENT}time zone {spec.timezone}, language {spec.language}")
    echo(f"\nKnowledge: {len(profile.sections)} sections")
    for name in spec.knowledge.files:
        count = sum(1 for section in profile.sections if section.source == name)
        echo(f"{_INDENT}{name}: {count} section{'s' * (count != 1)}")
    echo(f"\nTools ({len(profile.allowed_tools)}):")
    width = max((len(name) for name in profile.allowed_tools), default=0)
    for name in profile.allowed_tools:
        tool = registry.tools[name]
        summary = " ".join(tool.description.split("\n\n")[0].split())
        echo(f"{_INDENT}{name:<{width}}  {summary}")
    if not profile.allowed_tools:
        echo(f"{_INDENT}none: the agent can only talk")
    echo("\nOffline (without API keys):")
    responder_brain = spec.offline.responder_brain or "the generic offline front desk"
    thinker_brain = spec.offline.thinker_brain or "the generic knowledge brain (its knowledge)"
    echo(f"{_INDENT}responder brain: {responder_brain}")
    echo(f"{_INDENT}thinker brain:   {thinker_brain}")
    echo(f"\nGreeting: {spec.persona.greeting}")
    echo(f"Goodbye:  {spec.persona.goodbye}")
    budget = spec.session
    if budget.max_duration_s:
        echo(
            f"Calls last at most {budget.max_duration_s:g} s; the agent starts to wrap up "
            f"{budget.wrap_up_before_s:g} s before."
        )
    else:
        echo("Calls have no time limit.")
    topics = ", ".join(topic.topic for topic in spec.guardrails.off_domain)
    echo(f"Declines (besides the built-in guardrails): {topics or 'nothing else'}")
    _phone_report(spec.telephony)
    echo("\nWhat the agent will be told:")
    for paragraph in instructions_for(profile).strip().split("\n"):
        echo(textwrap.fill(paragraph, 100, initial_indent=_INDENT, subsequent_indent=_INDENT))
    listed = ", ".join(scenarios) if scenarios else f"none in {profile.scenarios_dir}"
    echo(f"\nScenarios ({len(scenarios)}): {listed}")
    echo(f"\nOK: {profile.id} is ready.")
    if scenarios:
        echo(f"Try it: tandem eval --profile {_selector(profile)}")


def _phone_report(phone: TelephonySpec) -> None:
    """What the agent does on a phone call (``[telephony]``)."""
    echo = click.echo
    echo("\nOn the phone:")
    echo(f"{_INDENT}greeting: {phone.greeting or 'the greeting above'}")
    places = [f"{t.name} ({'warm or cold' if t.warm else 'cold'})" for t in phone.transfer]
    echo(f"{_INDENT}transfers to: {', '.join(places) or 'nowhere'}")
    echo(f"{_INDENT}presses keys: {'yes' if phone.keypad.send else 'no'}")
    if phone.voicemail.action == "leave_message" and phone.voicemail.message:
        echo(f'{_INDENT}on a voicemail box: leaves "{phone.voicemail.message}"')
    else:
        echo(f"{_INDENT}on a voicemail box: hangs up")


def _toml(profile: Profile) -> Path:
    from shared.profile import PROFILE_FILE

    return profile.root / PROFILE_FILE


def _selector(profile: Profile) -> str:
    """How to name ``profile`` on the command line: its installed name, or its directory."""
    from shared.profile import installed_profiles

    return profile.id if profile.id in installed_profiles() else str(profile.root)


def _title(name: str) -> str:
    """A business name to start from: ``my-shop`` becomes ``My Shop``."""
    words = re.split(r"[-_.]+", name)
    return " ".join(word[:1].upper() + word[1:] for word in words if word) or name


_PROFILE_TOML = '''\
# {title}: a tandem agent profile. `language`, [tools] and [knowledge] may be left out; the
# rest is required.
# Check it with `tandem profile check`, try it with `tandem eval --profile` (the simulated calls
# in scenarios/) and `tandem responder console --text --profile`.

name = "{title}"  # the business the agent speaks for
timezone = "UTC"  # the business's IANA time zone, e.g. "America/Halifax" or "Europe/Lisbon"
language = "en"

[persona]
# Who the agent is and its tone. tandem adds its own rules (when to look something up, how to
# speak an answer, never to make up facts), so describe the business and the manner here.
instructions = """
You are the friendly receptionist who answers the phone for {title}. Callers ask about opening
hours, prices and where to find us. Be warm and brief; when you don't know something, say so
and offer to take a message.
"""
greeting = "Thanks for calling {title}. How can I help you?"  # said first, verbatim
goodbye = "Thanks for calling {title}. Goodbye!"  # said at the end of the call, verbatim

[tools]
# Tool names from the registry (`tandem tools list`): built in, or from installed plugins.
allow = ["search_knowledge", "current_time"]

[knowledge]
# Markdown files, relative to this directory. Each "## " section is one passage the agent can
# look up: one topic each, in plain sentences a caller could be told.
files = ["knowledge/{name}.md"]

[session]
# How long a call may run (seconds of call time; time on hold does not count; 0: no limit), and
# how long before that the agent starts to steer to a close. At the limit it says the goodbye
# above and the call ends. TANDEM_SESSION_MAX_DURATION_S / _WRAP_UP_BEFORE_S override these.
max_duration_s = 1800
wrap_up_before_s = 60

[guardrails]
# Topics the agent declines, with words callers would use; the agent steers back with
# `redirect` ({{business}} is the name above). The built-in rules (attempts to get its
# instructions, abuse, threats, personal data, instructions inside looked-up text) always apply.
off_domain = [
    {{ topic = "medical advice", keywords = ["diagnosis", "prescription", "what medicine"] }},
]
redirect = """That's not something I can help with on this line, but I'm happy to help with \
anything about {{business}}."""

# Phone calls (LiveKit SIP; deploy/sip/). All optional: without this section a phone caller
# hears the greeting above, nobody can be transferred and a voicemail box is hung up on.
# [telephony]
# greeting = "Thanks for calling {title}, this is the assistant."  # phone greeting, verbatim
#
# [telephony.turns]              # a phone line is noisier than a browser microphone
# min_interruption_s = 0.8       # seconds of caller speech that interrupt the agent
#
# [telephony.keypad]
# entry_timeout_s = 2.0          # a pause this long ends keys the caller presses ("#" at once)
# send = false                   # true: the agent may press keys (another system's menu)
#
# [[telephony.transfer]]         # the only places the agent can transfer a caller to
# name = "front desk"
# to = "tel:+15550100000"        # or "sip:desk@pbx.example.com"
# when = "the caller asks for a person"
# warm = false                   # true: the agent may brief the person first (needs
#                                # TANDEM_SIP_OUTBOUND_TRUNK_ID)
#
# [telephony.voicemail]          # `tandem call` answered by a machine
# action = "leave_message"       # or "hang_up"
# message = "Hello, this is {{business}}. Please call us back. Goodbye."
'''

_KNOWLEDGE_MD = """\
# {title}: what the agent knows

These are examples: replace them with your own facts. Each "## " heading starts one passage the
agent can look up; anything above the first heading (like this note) is left out.

## Opening hours

{title} is open Monday to Friday from 9:00 to 17:00 and on Saturday from 10:00 to 14:00. We
are closed on Sunday and on public holidays.

## Prices

- A standard appointment: $40 for 30 minutes.
- A long appointment: $70 for an hour.

## Address and parking

We are at 12 Main Street, next to the post office. There is free parking behind the building.
"""

_SCENARIO_YAML = """\
# A simulated call for `tandem eval --profile`: the caller's lines, then what must be true.
# Format: simulator/scenario.py in tandem. Change the questions and checks with your facts.
name: example-questions
description: A question the knowledge answers, then one it doesn't (the agent must say so).
steps:
  - say: Hi. What are your opening hours on Saturday?
  - say: Do you sell gift cards?
checks:
  - agent_mentioned: time  # a clock time, from the opening hours
  - agent_mentioned: "don't have|don't know|do not have|not sure|no information|take a message"
  - agent_never_said: "gift cards? (are|cost|start)|\\\\$\\\\d"  # nothing made up
goals:
  - The caller learns when {title} is open on Saturday.
  - The agent says it doesn't know about gift cards instead of making something up.
"""
