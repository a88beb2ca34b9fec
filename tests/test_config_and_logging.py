"""Configuration errors name the variable and never its value; logs keep personal data out."""

from __future__ import annotations

import io
import json
import logging

import pytest
from click.testing import CliRunner

from shared.cli import main
from shared.config import load_settings
from shared.errors import ConfigError
from shared.log import configure_logging


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "TANDEM_REDIS_URL", "TANDEM_BUS_PREFIX", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(env_file=None)
    assert settings.redis_url is None
    assert settings.bus.prefix == "tandem"
    assert settings.bus.lease_ms == 2000


def test_standard_names_and_prefixed_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@redis.internal:6379/0")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-very-secret")
    monkeypatch.setenv("TANDEM_BUS_LEASE_MS", "5000")
    settings = load_settings(env_file=None)
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://:hunter2@redis.internal:6379/0"
    assert settings.bus.lease_ms == 5000
    shown = repr(settings) + str(settings)
    assert "hunter2" not in shown
    assert "very-secret" not in shown


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TANDEM_BUS_LEASE_MS", "soon-ish"),
        ("TANDEM_BUS_LEASE_MS", "5"),
        ("TANDEM_BUS_PREFIX", "a{b}"),
        ("TANDEM_LOG_FORMAT", "xml-please"),
    ],
)
def test_a_bad_value_gives_one_line_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings(env_file=None)
    message = str(raised.value)
    assert variable in message
    assert value not in message
    assert "\n" not in message
    assert "Value error" not in message


def test_the_cli_reports_bad_config_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_BUS_LEASE_MS", "soon-ish")
    result = CliRunner().invoke(main, ["bus", "status"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: invalid configuration: TANDEM_BUS_LEASE_MS")
    assert "soon-ish" not in result.output


def test_bus_commands_refuse_to_inspect_a_private_empty_redis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("TANDEM_REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["bus", "dlq"])
    assert result.exit_code == 1
    assert "REDIS_URL" in result.output


def _log_once(fmt: str, level: str, log_level: int) -> str:
    stream = io.StringIO()
    configure_logging(level, fmt, stream=stream)  # type: ignore[arg-type]
    logging.getLogger("tandem.test").log(
        log_level, "task submitted", extra={"task_id": "t-1", "request": "table for Ana, +351 912"}
    )
    return stream.getvalue()


def test_json_logs_redact_personal_data_above_debug() -> None:
    record = json.loads(_log_once("json", "DEBUG", logging.INFO))
    assert record["message"] == "task submitted"
    assert record["task_id"] == "t-1"
    assert record["request"] == "[redacted]"


def test_debug_logs_keep_personal_data_for_local_debugging() -> None:
    assert "+351 912" in _log_once("json", "DEBUG", logging.DEBUG)


def test_terminal_logs_are_readable_lines() -> None:
    line = _log_once("text", "INFO", logging.WARNING)
    assert "WARNING tandem.test: task submitted" in line
    assert "task_id=t-1" in line
    assert "912" not in line
