"""``tandem responder`` as a user runs it: help with no setup, one clear line and a non-zero exit
for each thing that stops ``start``, never the offline demo in production by accident, and
``console --text`` with nothing configured (a private Redis and thinker, the offline profile)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared.embedded_redis import EmbeddedRedis
from tests.worker_process import TANDEM, clean_env, free_port

pytestmark = pytest.mark.timeout(120)

LIVEKIT = {
    "LIVEKIT_URL": "ws://127.0.0.1:1",
    "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "a-livekit-secret-long-enough-for-hs256-signing",
    "TANDEM_PROFILE": "restaurant",
}


def tandem(
    tmp_path: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``tandem ARGS`` in an empty directory with a minimal environment (errors only)."""
    return subprocess.run(
        [str(TANDEM), *args],
        env=clean_env(TANDEM_LOG_LEVEL="ERROR", **env),
        cwd=tmp_path,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed (asserts it exited 1 with just that)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("responder", "--help"),
        ("responder", "start", "--help"),
        ("responder", "dev", "--help"),
        ("responder", "console", "--help"),
        ("responder", "connect", "--help"),
        ("token", "--help"),
    ],
)
def test_help_needs_no_setup(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = tandem(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_python_m_responder_is_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "responder", "--help"],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "console" in result.stdout


def test_start_without_livekit_settings_names_them(tmp_path: Path) -> None:
    line = one_error_line(tandem(tmp_path, "responder", "start"))
    assert "LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET are not set" in line
    partial = {k: v for k, v in LIVEKIT.items() if k != "LIVEKIT_API_SECRET"}
    line = one_error_line(tandem(tmp_path, "responder", "start", **partial))
    assert line.startswith("Error: LIVEKIT_API_SECRET is not set")


def test_start_needs_a_profile_and_names_a_bad_one(tmp_path: Path) -> None:
    livekit_only = {k: v for k, v in LIVEKIT.items() if k != "TANDEM_PROFILE"}
    line = one_error_line(tandem(tmp_path, "responder", "start", **livekit_only))
    assert line.startswith("Error: TANDEM_PROFILE is not set")
    line = one_error_line(tandem(tmp_path, "responder", "start", "--profile", "nope", **LIVEKIT))
    assert "no profile 'nope'" in line
    assert "restaurant" in line  # it says which are installed


def test_start_never_serves_the_offline_demo_by_accident(tmp_path: Path) -> None:
    line = one_error_line(tandem(tmp_path, "responder", "start", **LIVEKIT))
    assert "OPENAI_API_KEY is not set" in line
    assert "TANDEM_RESPONDER_MODE=offline" in line
    # asked for on purpose, the offline profile passes that check (and stops at the next one)
    asked = tandem(tmp_path, "responder", "start", TANDEM_RESPONDER_MODE="offline", **LIVEKIT)
    assert "REDIS_URL is not set" in one_error_line(asked)


def test_start_with_an_unreachable_redis_says_where_without_the_password(tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = tandem(
        tmp_path,
        "responder",
        "start",
        OPENAI_API_KEY="sk-test",
        REDIS_URL=url,
        TANDEM_REDIS_STARTUP_WAIT_S="1",
        **LIVEKIT,
    )
    line = one_error_line(result)
    assert line.startswith("Error: cannot reach Redis at 127.0.0.1:")
    assert "hunter2" not in result.stderr + result.stdout


def test_start_with_a_bad_redis_url_is_one_line(tmp_path: Path) -> None:
    result = tandem(
        tmp_path, "responder", "start", OPENAI_API_KEY="sk-test", REDIS_URL="http://x", **LIVEKIT
    )
    assert "REDIS_URL" in one_error_line(result)


@pytest.mark.parametrize(
    "variable", ["TANDEM_RESPONDER_HTTP_PORT", "TANDEM_RESPONDER_METRICS_PORT"]
)
def test_start_with_a_port_in_use_names_the_setting(
    tmp_path: Path, redis_server: EmbeddedRedis, variable: str
) -> None:
    with socket.create_server(("", 0)) as taken:
        port = taken.getsockname()[1]
        ports = {
            "TANDEM_RESPONDER_HTTP_PORT": str(free_port()),
            "TANDEM_RESPONDER_METRICS_PORT": str(free_port()),
        } | {variable: str(port)}
        result = tandem(
            tmp_path,
            "responder",
            "start",
            OPENAI_API_KEY="sk-test",
            REDIS_URL=redis_server.url,
            **LIVEKIT,
            **ports,
        )
    assert one_error_line(result) == f"Error: {variable}: port {port} is already in use"


@pytest.mark.timeout(240)
def test_console_text_with_nothing_configured_runs_its_own_stack(tmp_path: Path) -> None:
    said = "Hello there\nWhat time do you open on Friday?\nThanks, bye\n"
    result = tandem(tmp_path, "responder", "console", "--text", stdin=said)
    assert result.returncode == 0, result.stderr
    notice = [line for line in result.stderr.splitlines() if "REDIS_URL is not set" in line]
    assert len(notice) == 1
    assert "a private Redis and a thinker (the offline demo brain" in notice[0]
    agent = [line for line in result.stdout.splitlines() if line.startswith("agent: ")]
    assert len(agent) >= 4, result.stdout  # greeting, hello, the delegated answer, goodbye
    assert "task 1 delegated to the thinker" in result.stdout
    assert "task 1 answered" in result.stdout
    answer = result.stdout.index("task 1 answered")
    assert "Friday" in result.stdout[answer:]  # the thinker's answer was said after it came
    assert "Trattoria Tandem (restaurant), offline speech" in result.stdout.splitlines()[0]
    assert "serving the demo profile 'restaurant'" in result.stderr  # said, not silent
