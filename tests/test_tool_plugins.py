"""Tool plugins as a third-party developer ships them: installed distributions with
``tandem.tools`` entry points, found by :meth:`ToolRegistry.discover`.

The example plugin (``examples/tool-plugin``) is really built and installed with pip, into a
private directory, and discovered in a fresh interpreter. Broken plugins are fake installed
distributions (a ``*.dist-info`` directory next to a module) put on ``sys.path``.

Built-in tools are discovered too but never asserted on, so these tests hold whether or not every
built-in module imports.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.embedded_redis import EmbeddedRedis
from tools import PluginProblem, ToolRegistry, ToolRegistryError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tool-plugin"
EXAMPLE_SOURCE = "tandem-example-plugin"

# Run in a fresh interpreter: discover, then call wine_pairing the way the thinker would.
DISCOVER = textwrap.dedent(
    """
    import asyncio, json, sys

    import httpx

    from shared.redis_client import connect
    from tools import ToolContext, ToolRegistry, ToolStore, invoke

    async def main() -> None:
        registry = ToolRegistry.discover(**json.loads(sys.argv[2]))
        report = {
            "problems": [p.message for p in registry.problems if p.source == sys.argv[3]],
            "tool": None,
        }
        tool = registry.get("wine_pairing")
        if tool is not None:
            redis = connect(sys.argv[1])
            async with httpx.AsyncClient() as http:
                ctx = ToolContext(
                    session_id="s1",
                    task_id="t1",
                    idempotency_key="k1",
                    http=http,
                    store=ToolStore(redis, "plugins"),
                )
                result = await invoke(tool, ctx, {"dish": "grilled sea bass"})
                empty = await invoke(tool, ctx, {"dish": ""})
            await redis.aclose()
            report["tool"] = {
                "source": tool.source,
                "file": sys.modules[tool.function.__module__].__file__,
                "description": tool.description,
                "schema": tool.input_schema(),
                "responder_safe": tool.responder_safe,
                "side_effects": tool.side_effects,
                "needs_confirmation": tool.needs_confirmation,
                "latency": tool.latency,
                "result": [result.content, result.is_error],
                "empty": [empty.content, empty.is_error],
            }
        print(json.dumps(report))

    asyncio.run(main())
    """
)


def discover_in_subprocess(
    redis_url: str, site: Path | None, **discover_options: Any
) -> dict[str, Any]:
    """What a fresh interpreter discovers, with ``site`` (if any) on ``PYTHONPATH``."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            DISCOVER,
            redis_url,
            json.dumps(discover_options),
            EXAMPLE_SOURCE,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin built and installed (offline) into a directory of its own.

    A copy is built, so the build leaves no ``build/`` or ``*.egg-info`` in the repository.
    """
    work = tmp_path_factory.mktemp("example-plugin")
    source = work / "source"
    shutil.copytree(
        EXAMPLE,
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    site = work / "site"
    completed = subprocess.run(
        [
            sys.executable,
            *("-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir"),
            *("--target", str(site), str(source)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(
            "pip could not build the example plugin offline; the venv needs a setuptools that "
            "builds wheels by itself (setuptools>=70.1, or the `wheel` package):\n"
            + "\n".join((completed.stdout + completed.stderr).splitlines()[-12:]),
            pytrace=False,
        )
    return site


def _installed_in_this_environment() -> bool:
    try:
        importlib.metadata.distribution(EXAMPLE_SOURCE)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_installing_the_example_plugin_adds_its_tool(
    example_site: Path, redis_server: EmbeddedRedis
) -> None:
    if not _installed_in_this_environment():
        before = discover_in_subprocess(redis_server.url, None)
        assert before["tool"] is None, "wine_pairing is discoverable before the install"

    after = discover_in_subprocess(redis_server.url, example_site)

    assert after["problems"] == []
    tool = after["tool"]
    assert tool is not None, "the installed plugin's tool was not discovered"
    assert tool["source"] == EXAMPLE_SOURCE
    assert Path(tool["file"]).is_relative_to(example_site)
    assert tool["description"].startswith("Suggest a wine to go with a dish.")
    assert tool["schema"]["required"] == ["dish"]
    assert tool["schema"]["properties"]["dish"]["description"]
    assert tool["responder_safe"] is True
    assert tool["side_effects"] is False
    assert tool["needs_confirmation"] is False
    assert tool["latency"] == "fast"
    assert tool["result"] == ["Try an Alvarinho: its crisp acidity lifts white fish.", False]
    content, is_error = tool["empty"]
    assert is_error
    assert "which dish" in content


def test_an_installed_plugin_can_be_disabled(
    example_site: Path, redis_server: EmbeddedRedis
) -> None:
    report = discover_in_subprocess(redis_server.url, example_site, disabled=["wine_pairing"])
    assert report["tool"] is None
    assert report["problems"] == []


# --- fake installed distributions -------------------------------------------------------------

GOOD = """
from tools import ToolContext, tool

@tool
async def fake_echo(ctx: ToolContext, text: str) -> str:
    \"\"\"Repeat the text.\"\"\"
    return text

@tool(name="fake_shout")
async def shout(ctx: ToolContext, text: str) -> str:
    \"\"\"Repeat the text loudly.\"\"\"
    return text.upper()

@tool
async def fake_whisper(ctx: ToolContext, text: str) -> str:
    \"\"\"Repeat the text quietly.\"\"\"
    return text.lower()

FAMILY = [shout, fake_whisper]
"""

BROKEN = """
raise RuntimeError("the plugin exploded on import")
"""

RIVAL = """
from tools import ToolContext, tool

@tool
async def fake_echo(ctx: ToolContext, text: str) -> str:
    \"\"\"Another tool that happens to have the same name.\"\"\"
    return text
"""

UNDECORATED = """
async def fake_forgotten(ctx, text):
    \"\"\"A function whose author forgot @tool.\"\"\"
    return text
"""

UNDOCUMENTED = """
from tools import ToolContext, tool

@tool
async def fake_silent(ctx: ToolContext, text: str) -> str:
    return text
"""


class FakeSite:
    """A directory on ``sys.path`` holding fake installed distributions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.modules: list[str] = []

    def add(self, name: str, module_source: str, entry_points: dict[str, str]) -> str:
        """Install distribution ``name`` (module ``name`` with ``-`` as ``_``); returns the
        distribution name the registry reports as the source."""
        module = name.replace("-", "_")
        dist_info = self.path / f"{module}-0.1.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8"
        )
        lines = [f"{ep} = {module}:{attribute}\n" for ep, attribute in entry_points.items()]
        (dist_info / "entry_points.txt").write_text(
            "[tandem.tools]\n" + "".join(lines), encoding="utf-8"
        )
        (self.path / f"{module}.py").write_text(module_source, encoding="utf-8")
        self.modules.append(module)
        return name

    def add_good(self) -> str:
        """A working plugin: one tool, and a family of two registered as a list."""
        return self.add(
            "good-tandem-plugin", GOOD, {"fake_echo": "fake_echo", "fake_family": "FAMILY"}
        )


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSite]:
    """An empty fake site-packages at the front of ``sys.path``; its modules are unloaded after."""
    site = FakeSite(tmp_path / "site")
    site.path.mkdir()
    monkeypatch.syspath_prepend(str(site.path))
    yield site
    for module in site.modules:
        sys.modules.pop(module, None)


def problems_from(registry: ToolRegistry, sources: set[str]) -> dict[str, PluginProblem]:
    """The registry's problems caused by ``sources``, by source (one each here)."""
    found = [problem for problem in registry.problems if problem.source in sources]
    by_source = {problem.source: problem for problem in found}
    assert len(by_source) == len(found), found
    return by_source


def test_broken_plugins_are_skipped_and_reported(
    fake_site: FakeSite, caplog: pytest.LogCaptureFixture
) -> None:
    good = fake_site.add_good()
    broken = fake_site.add("broken-tandem-plugin", BROKEN, {"fake_broken": "fake_broken"})
    rival = fake_site.add("rival-tandem-plugin", RIVAL, {"fake_echo": "fake_echo"})
    undecorated = fake_site.add(
        "undecorated-tandem-plugin", UNDECORATED, {"fake_forgotten": "fake_forgotten"}
    )
    undocumented = fake_site.add(
        "undocumented-tandem-plugin", UNDOCUMENTED, {"fake_silent": "fake_silent"}
    )
    bad = {broken, rival, undecorated, undocumented}

    with caplog.at_level(logging.ERROR, logger="tandem.tools"):
        registry = ToolRegistry.discover()

    for name in ("fake_echo", "fake_shout", "fake_whisper"):
        found = registry.get(name)
        assert found is not None, name
        assert found.source == good
    assert registry.get("fake_forgotten") is None
    assert registry.get("fake_silent") is None

    problems = problems_from(registry, bad | {good})
    assert set(problems) == bad

    assert problems[broken].entry_point == "fake_broken = broken_tandem_plugin:fake_broken"
    assert problems[broken].message == (
        "failed to import: RuntimeError: the plugin exploded on import"
    )

    clash = problems[rival]
    shown = f"{clash.entry_point} ({clash.source}): {clash.message}"
    assert "'fake_echo'" in shown
    assert rival in shown
    assert good in shown
    assert "@tool(name=...)" in shown
    assert "TANDEM_TOOLS_DISABLED" in shown

    assert problems[undecorated].message == "is not a @tool or an iterable of them (function)"
    assert problems[undocumented].message.startswith("failed to import: ToolDefinitionError:")
    assert "add a docstring" in problems[undocumented].message

    logged = {getattr(record, "source", None) for record in caplog.records}
    assert bad <= logged


def test_strict_mode_fails_on_broken_plugins(fake_site: FakeSite) -> None:
    fake_site.add_good()
    fake_site.add("broken-tandem-plugin", BROKEN, {"fake_broken": "fake_broken"})
    fake_site.add("rival-tandem-plugin", RIVAL, {"fake_echo": "fake_echo"})

    with pytest.raises(ToolRegistryError) as raised:
        ToolRegistry.discover(strict=True)

    message = str(raised.value)
    assert "fake_broken = broken_tandem_plugin:fake_broken (broken-tandem-plugin)" in message
    assert "RuntimeError: the plugin exploded on import" in message
    assert "fake_echo = rival_tandem_plugin:fake_echo (rival-tandem-plugin)" in message
    assert "taken by good-tandem-plugin" in message


def test_a_healthy_plugin_causes_no_problems(fake_site: FakeSite) -> None:
    good = fake_site.add_good()
    registry = ToolRegistry.discover()
    assert problems_from(registry, {good, "configuration"}) == {}
    assert {"fake_echo", "fake_shout", "fake_whisper"} <= set(registry.tools)


def test_enabled_is_an_allowlist(fake_site: FakeSite) -> None:
    fake_site.add_good()
    registry = ToolRegistry.discover(enabled=["fake_echo", "fake_shout"])
    assert set(registry.tools) == {"fake_echo", "fake_shout"}
    assert [tool.name for tool in registry] == ["fake_echo", "fake_shout"]
    assert problems_from(registry, {"configuration"}) == {}


def test_disabled_tools_are_not_offered(fake_site: FakeSite) -> None:
    fake_site.add_good()
    registry = ToolRegistry.discover(disabled=["fake_shout"])
    assert registry.get("fake_shout") is None
    assert {"fake_echo", "fake_whisper"} <= set(registry.tools)

    both = ToolRegistry.discover(enabled=["fake_echo", "fake_shout"], disabled=["fake_shout"])
    assert set(both.tools) == {"fake_echo"}


def test_an_enabled_tool_that_does_not_exist_is_a_problem(fake_site: FakeSite) -> None:
    fake_site.add_good()
    registry = ToolRegistry.discover(enabled=["fake_echo", "fake_missing"])
    assert set(registry.tools) == {"fake_echo"}
    assert problems_from(registry, {"configuration"}) == {
        "configuration": PluginProblem(
            "fake_missing", "configuration", "enabled tool 'fake_missing' was not found"
        )
    }

    with pytest.raises(ToolRegistryError, match="enabled tool 'fake_missing' was not found"):
        ToolRegistry.discover(enabled=["fake_echo", "fake_missing"], strict=True)


def test_a_disabled_name_that_does_not_exist_is_a_problem(fake_site: FakeSite) -> None:
    """A typo in the deny list would leave the tool on: say so."""
    fake_site.add_good()
    registry = ToolRegistry.discover(disabled=["fake_shuot"])
    assert registry.get("fake_shout") is not None
    assert problems_from(registry, {"configuration"}) == {
        "configuration": PluginProblem(
            "fake_shuot", "configuration", "disabled tool 'fake_shuot' was not found"
        )
    }
    with pytest.raises(ToolRegistryError, match="disabled tool 'fake_shuot' was not found"):
        ToolRegistry.discover(disabled=["fake_shuot"], strict=True)
