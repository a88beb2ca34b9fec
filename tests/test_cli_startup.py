"""The `tandem` command as a user runs it: help with no setup (and without importing the
commands), and one clear line with a non-zero exit for a bad or unreachable Redis."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest

from shared.cli import COMMAND_HELP, main
from shared.embedded_redis import EmbeddedRedis

TANDEM = str(Path(sys.executable).with_name("tandem"))
HEAVY = ("anthropic", "livekit", "thinker.app", "responder.worker", "simulator.run", "redis")


def run(
    args: list[str], cwd: Path, timeout_s: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """A command with a minimal environment, in a directory without a .env file."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(cwd))}
    return subprocess.run(
        args,
        cwd=cwd,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [[], ["thinker"], ["tools"], ["tools", "call"], ["bus"], ["bus", "status"], ["redis"]],
)
def test_help_works_with_an_empty_environment(tmp_path: Path, command: list[str]) -> None:
    result = subprocess.run(
        [TANDEM, *command, "--help"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: tandem")
    assert "Traceback" not in result.stderr


def test_python_m_thinker_help_works_with_an_empty_environment(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "thinker", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "TANDEM_REDIS_STARTUP_WAIT_S" in result.stdout


def test_the_top_level_help_imports_no_command(tmp_path: Path) -> None:
    """What made `tandem --help` take 5-7 s: every command's module was imported for its line."""
    script = (
        "import sys\n"
        "from shared.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    result = run([sys.executable, "-c", script], tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("thinker", "responder", "tools", "demo", "eval", "bus", "redis"):
        assert f"\n  {name} " in result.stdout
    loaded = set(result.stdout.split("MODULES", 1)[1].split())
    imported = sorted(m for m in loaded if m.startswith(HEAVY) or m.endswith(".cli"))
    assert imported == ["shared.cli"]


def test_the_help_table_matches_each_command_s_own_help() -> None:
    """`tandem --help` shows COMMAND_HELP instead of importing the commands: keep them equal
    (update COMMAND_HELP in shared/cli.py when a command's first sentence changes)."""
    ours = {
        ep.name: ep
        for ep in importlib.metadata.entry_points(group="tandem.cli")
        if ep.dist is not None and ep.dist.name == "tandem-voice"
    }
    assert set(ours) == set(COMMAND_HELP)
    for name, entry_point in ours.items():
        command = entry_point.load()
        assert isinstance(command, click.Command)
        stand_in = click.Command(name, help=COMMAND_HELP[name])
        for limit in (45, 1000):
            assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), name


def test_a_command_still_runs_through_the_lazy_group() -> None:
    context = click.Context(main)
    command = main.get_command(context, "thinker")
    assert isinstance(command, click.Command)
    assert command.name == "thinker"
    assert main.get_command(context, "no-such-command") is None


@pytest.mark.parametrize(
    "command",
    [["bus", "status"], ["bus", "dlq"], ["tools", "call", "calculate", '{"expression": "1+1"}']],
)
def test_an_unreachable_redis_is_one_line_and_a_failure(tmp_path: Path, command: list[str]) -> None:
    port = closed_port()
    result = run([TANDEM, *command], tmp_path, REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0")
    assert result.returncode == 1
    assert lines(result.stderr) == [
        f"Error: cannot reach Redis at 127.0.0.1:{port} (Connection refused)"
    ]
    assert "hunter2" not in result.stderr + result.stdout


def test_a_malformed_redis_url_is_one_line_and_a_failure(tmp_path: Path) -> None:
    result = run([TANDEM, "bus", "status"], tmp_path, REDIS_URL="http://:hunter2@redis.internal/0")
    assert result.returncode == 1
    assert lines(result.stderr) == [
        "Error: invalid configuration: REDIS_URL: must start with redis://, rediss:// or unix://"
    ]


def test_bus_status_answers_with_a_reachable_redis(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    result = run([TANDEM, "bus", "status"], tmp_path, REDIS_URL=redis_server.url)
    assert result.returncode == 0, result.stderr
    assert "tasks" in result.stdout


def test_a_mistyped_variable_is_named_in_a_warning_with_the_likely_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TANDEM_TOOLS_DISABLE=get_weather\n")
    result = run(
        [TANDEM, "tools", "show", "calculate"],
        tmp_path,
        TANDEM_LOG_FORMAT="text",
        TANDEM_BUS_LEASE="5000",
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in lines(result.stderr) if "unknown TANDEM_ variable" in line]
    assert len(warnings) == 2
    assert "variable=TANDEM_BUS_LEASE" in warnings[0]
    assert "did_you_mean=TANDEM_BUS_LEASE_MS" in warnings[0]
    assert "variable=TANDEM_TOOLS_DISABLE" in warnings[1]
    assert "did_you_mean=TANDEM_TOOLS_DISABLED" in warnings[1]
    assert "5000" not in result.stderr
    assert "get_weather" not in result.stderr
