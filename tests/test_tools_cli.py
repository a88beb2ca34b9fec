"""`tandem tools list | show | call`, as a developer uses them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from shared.cli import main
from shared.embedded_redis import EmbeddedRedis


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis) -> CliRunner:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "ERROR")
    for name in ("TANDEM_TOOLS_ENABLED", "TANDEM_TOOLS_DISABLED", "TANDEM_TOOLS_STRICT"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_list_shows_the_built_in_booking_tools_with_how_they_are_treated(runner: CliRunner) -> None:
    result = runner.invoke(main, ["tools", "list"])
    assert result.exit_code == 0, result.output
    book_row = next(line for line in result.output.splitlines() if "book_table" in line)
    assert "tandem-voice" in book_row
    assert "yes, confirm first" in book_row
    assert "thinker" in book_row


def test_list_honours_the_allowlist(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_TOOLS_ENABLED", "find_booking, check_availability")
    result = runner.invoke(main, ["tools", "list"])
    assert "check_availability" in result.output
    assert "book_table" not in result.output


def test_show_prints_the_schema_and_settings(runner: CliRunner) -> None:
    result = runner.invoke(main, ["tools", "show", "book_table"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["name"] == "book_table"
    assert shown["side_effects"] is True
    assert set(shown["input_schema"]["required"]) == {"date", "time", "party_size", "name"}
    missing = runner.invoke(main, ["tools", "show", "teleport"])
    assert missing.exit_code == 1
    assert "no tool named 'teleport'" in missing.output


def test_call_runs_a_tool_locally_and_reports_errors_by_exit_code(runner: CliRunner) -> None:
    found = runner.invoke(main, ["tools", "call", "find_booking", '{"reference": "TT-ABCDE"}'])
    assert found.exit_code == 1
    assert "there is no booking TT-ABCDE" in found.output
    bad = runner.invoke(main, ["tools", "call", "find_booking", '{"reference": 5}'])
    assert bad.exit_code == 1
    assert "invalid arguments" in bad.output
    refused = runner.invoke(main, ["tools", "call", "cancel_booking", '{"reference": "TT-ABCDE"}'])
    assert "confirmation" in refused.output
