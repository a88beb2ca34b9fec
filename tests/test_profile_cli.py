"""``tandem profile new`` and ``tandem profile check``: a scaffold that passes its own check, and
one line naming the file and the field for each way a profile can be wrong."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from responder.profile_cli import profile_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """``check`` configures logging on CliRunner's stderr, which closes after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run(*args: str) -> Result:
    return CliRunner().invoke(profile_command, list(args))


def scaffold(parent: Path, name: str = "my-shop") -> Path:
    result = run("new", name, "--dir", str(parent))
    assert result.exit_code == 0, result.output
    return parent / name


def edit(profile: Path, old: str, new: str) -> None:
    toml = profile / "profile.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))


def one_error_line(result: Result) -> str:
    """The one error the command reports (log lines, such as a broken plugin's, aside)."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_new_scaffolds_a_profile_that_passes_check(tmp_path: Path) -> None:
    result = run("new", "my-shop", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    root = tmp_path / "my-shop"
    for relative in ("profile.toml", "knowledge/my-shop.md", "scenarios/example.yaml"):
        assert (root / relative).is_file(), relative
    for command in ("profile check", "eval --profile", "responder console --text --profile"):
        assert f"tandem {command} {root}" in result.output
    checked = run("check", str(root))
    assert checked.exit_code == 0, checked.output
    assert "My Shop (profile 'my-shop'" in checked.output
    assert "knowledge/my-shop.md: 3 sections" in checked.output
    assert "Greeting: Thanks for calling My Shop. How can I help you?" in checked.output
    assert "search_knowledge" in checked.output
    assert "current_time" in checked.output
    assert "Scenarios (1): example-questions" in checked.output
    assert "OK: my-shop is ready." in checked.output


def test_the_scaffold_uses_exactly_the_documented_keys(tmp_path: Path) -> None:
    import tomllib

    data = tomllib.loads((scaffold(tmp_path) / "profile.toml").read_text())
    assert set(data) == {
        "name",
        "timezone",
        "language",
        "persona",
        "tools",
        "knowledge",
        "session",
        "guardrails",
    }
    assert set(data["persona"]) == {"instructions", "greeting", "goodbye"}
    assert set(data["tools"]) == {"allow"}
    assert set(data["knowledge"]) == {"files"}
    assert set(data["session"]) == {"max_duration_s", "wrap_up_before_s"}
    assert set(data["guardrails"]) == {"off_domain", "redirect"}


def test_the_scaffolds_telephony_example_is_valid_once_uncommented(tmp_path: Path) -> None:
    root = scaffold(tmp_path)
    toml = root / "profile.toml"
    text = toml.read_text()
    start = text.index("# [telephony]")
    example = "\n".join(line.removeprefix("# ") for line in text[start:].splitlines())
    toml.write_text(text[:start] + example + "\n")

    result = run("check", str(root))

    assert result.exit_code == 0, result.output
    assert "transfers to: front desk (cold)" in result.output
    assert "presses keys: no" in result.output
    assert 'on a voicemail box: leaves "Hello, this is {business}.' in result.output


def test_new_refuses_to_overwrite(tmp_path: Path) -> None:
    existing = tmp_path / "my-shop"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    result = run("new", "my-shop", "--dir", str(tmp_path))
    assert "already exists" in one_error_line(result)
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("name", ["My Shop", "_shop", "shop/../../etc", ""])
def test_new_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    result = run("new", name, "--dir", str(tmp_path))
    assert "not a usable profile name" in one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_check_prints_what_the_shipped_bike_shop_will_do() -> None:
    result = run("check", str(ROOT / "profiles/harbor_bikes"))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Harbor Bikes (profile 'harbor_bikes'" in out
    assert "time zone America/Halifax, language en" in out
    for file, sections in (("hours", 3), ("prices", 2), ("location", 3), ("policies", 5)):
        assert f"knowledge/{file}.md: {sections} sections" in out
    assert "repair_status     Look up a Harbor Bikes repair by its ticket number" in out
    assert "thinker brain:   profiles.harbor_bikes.thinker_brain:HarborBikesBrain" in out
    assert "responder brain: the generic offline front desk" in out
    assert "Greeting: Harbor Bikes, this is Robin. How can I help?" in out
    assert "Goodbye:  Thanks for calling Harbor Bikes. Ride safe!" in out
    told = out.split("What the agent will be told:", 1)[1]
    assert "You are Robin" in told
    assert "delegate" in told  # tandem's own rules follow the persona
    scenarios = Path(__file__).resolve().parents[1] / "profiles" / "harbor_bikes" / "scenarios"
    shipped = len(list(scenarios.glob("*.yaml")))
    assert f"Scenarios ({shipped}):" in out


def test_check_finds_installed_profiles_by_name() -> None:
    restaurant = run("check", "restaurant")
    assert restaurant.exit_code == 0, restaurant.output
    assert "Trattoria Tandem (profile 'restaurant'" in restaurant.output
    assert "book_table" in restaurant.output
    assert "Try it: tandem eval --profile restaurant" in restaurant.output
    bikes = run("check", "harbor_bikes")
    assert bikes.exit_code == 0, bikes.output


def test_check_names_an_unknown_profile() -> None:
    line = one_error_line(run("check", "no-such-shop"))
    assert "no profile 'no-such-shop'" in line
    assert "restaurant" in line  # the installed ones are listed


def test_check_reports_bad_toml_with_its_file(tmp_path: Path) -> None:
    profile = scaffold(tmp_path)
    edit(profile, 'language = "en"', 'language = "en')
    line = one_error_line(run("check", str(profile)))
    assert f"{profile / 'profile.toml'}: not valid TOML" in line


def test_check_names_a_bad_field_and_its_file(tmp_path: Path) -> None:
    profile = scaffold(tmp_path)
    edit(profile, 'timezone = "UTC"', 'timezone = "Mars/Olympus_Mons"')
    line = one_error_line(run("check", str(profile)))
    assert str(profile / "profile.toml") in line
    assert "timezone: unknown time zone 'Mars/Olympus_Mons'" in line


def test_check_names_a_missing_required_field(tmp_path: Path) -> None:
    profile = scaffold(tmp_path)
    edit(profile, "greeting = ", "# greeting = ")
    line = one_error_line(run("check", str(profile)))
    assert f"{profile / 'profile.toml'}: persona.greeting: Field required" in line


def test_check_names_an_unknown_key(tmp_path: Path) -> None:
    profile = scaffold(tmp_path)
    edit(profile, "goodbye = ", "goodby = ")
    line = one_error_line(run("check", str(profile)))
    assert "persona.goodby: unknown key (check its spelling)" in line


def test_check_names_a_missing_knowledge_file(tmp_path: Path) -> None:
    profile = scaffold(tmp_path)
    edit(profile, 'files = ["knowledge/my-shop.md"]', 'files = ["knowledge/shop.md"]')
    line = one_error_line(run("check", str(profile)))
    assert f"{profile / 'profile.toml'}: knowledge.files: knowledge/shop.md does not exist" in line


def test_check_names_every_missing_tool(tmp_path: Path) -> None:
    profile = scaffold(tmp_path)
    edit(profile, 'allow = ["search_knowledge", "current_time"]', 'allow = ["teleport", "summon"]')
    line = one_error_line(run("check", str(profile)))
    assert f"{profile / 'profile.toml'}: tools.allow: no tool named 'teleport', 'summon'" in line
    assert "installed: " in line
    assert "search_knowledge" in line  # what could have been meant


def test_check_names_an_offline_brain_that_does_not_import(tmp_path: Path) -> None:
    profile = scaffold(tmp_path)
    with (profile / "profile.toml").open("a") as toml:
        toml.write('\n[offline]\nthinker_brain = "no_such_module:Brain"\n')
    line = one_error_line(run("check", str(profile)))
    assert "offline.thinker_brain" in line
    assert "no_such_module" in line


def test_check_names_a_broken_scenario(tmp_path: Path) -> None:
    profile = scaffold(tmp_path)
    (profile / "scenarios" / "broken.yaml").write_text("name: broken\nsteps: []\n")
    line = one_error_line(run("check", str(profile)))
    assert f"{profile / 'scenarios' / 'broken.yaml'}: steps" in line


def test_profile_help_imports_nothing_heavy() -> None:
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from responder.profile_cli import profile_command\n"
        "for args in (['--help'], ['new', '--help'], ['check', '--help']):\n"
        "    assert CliRunner().invoke(profile_command, args).exit_code == 0\n"
        "heavy = ('tools', 'shared.profile', 'simulator', 'responder.prompts', 'livekit')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
