"""Settings: every problem at once, only the sections a command uses, REDIS_URL's form, and a
warning for TANDEM_ variables nothing reads. Values never appear in a message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.config import known_variables, load_settings, unknown_variables
from shared.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in known_variables():
        monkeypatch.delenv(name, raising=False)


def problems(**env: str) -> str:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with pytest.raises(ConfigError) as raised:
            load_settings(env_file=None)
    return str(raised.value)


def test_every_problem_of_every_section_is_reported_at_once() -> None:
    message = problems(
        TANDEM_LOG_FORMAT="xml-please",
        TANDEM_BUS_LEASE_MS="soon-ish",
        TANDEM_BUS_PREFIX="a{b}",
        TANDEM_TOOLS_STRICT="perhaps",
        TANDEM_THINKER_MAX_STEPS="900",
        TANDEM_RESPONDER_PATIENCE_S="99",
    )
    for variable in (
        "TANDEM_LOG_FORMAT",
        "TANDEM_BUS_LEASE_MS",
        "TANDEM_BUS_PREFIX",
        "TANDEM_TOOLS_STRICT",
        "TANDEM_THINKER_MAX_STEPS",
        "TANDEM_RESPONDER_PATIENCE_S",
    ):
        assert variable in message
    for value in ("xml-please", "soon-ish", "a{b}", "perhaps", "900", "99"):
        assert value not in message
    assert "Value error" not in message
    assert "\n" not in message


def test_a_check_across_fields_reads_without_pydantic_prefixes() -> None:
    message = problems(TANDEM_RESPONDER_PATIENCE_S="99")
    assert message == (
        "invalid configuration: TANDEM_RESPONDER_PATIENCE_S must be shorter than "
        "TANDEM_RESPONDER_TASK_TIMEOUT_S"
    )


def test_a_thinker_does_not_refuse_to_start_over_a_responder_only_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TANDEM_RESPONDER_PATIENCE_S", "99")
    monkeypatch.setenv("TANDEM_THINKER_MAX_STEPS", "3")
    settings = load_settings(env_file=None, sections=("bus", "tools", "thinker"))
    assert settings.thinker.max_steps == 3
    assert settings.responder.patience_s == 9.0  # not read: the defaults stand in
    with pytest.raises(ConfigError, match="TANDEM_RESPONDER_PATIENCE_S"):
        load_settings(env_file=None, sections=("responder",))
    with pytest.raises(ConfigError, match="TANDEM_RESPONDER_PATIENCE_S"):
        load_settings(env_file=None)  # every section, as before


def test_the_top_level_settings_are_always_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError, match="TANDEM_LOG_LEVEL"):
        load_settings(env_file=None, sections=())


def test_a_section_name_that_does_not_exist_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="thinkr"):
        load_settings(env_file=None, sections=("thinkr",))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        load_settings(env_file=None, sections="bus")  # type: ignore[arg-type]


def test_sections_are_read_from_the_env_file_too(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TANDEM_BUS_LEASE_MS=5\nTANDEM_THINKER_MAX_STEPS=4\n")
    with pytest.raises(ConfigError, match="TANDEM_BUS_LEASE_MS"):
        load_settings(env_file=str(env_file))
    env_file.write_text("TANDEM_THINKER_MAX_STEPS=4\n")
    assert load_settings(env_file=str(env_file)).thinker.max_steps == 4


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://:s3cret@redis.internal:6379/0", "must start with redis://, rediss:// or unix://"),
        ("redis.internal:6379", "must start with redis://, rediss:// or unix://"),
        ("redis://:s3cret@/0", "has no host"),
        ("redis://:s3cret@redis.internal:63790000/0", "has a port that is not a number"),
        ("redis://:s3cret@redis.internal:sixty/0", "has a port that is not a number"),
        ("redis://:s3cret@redis.internal:6379/zero", "has a database that is not a number"),
        ("redis://:s3cret@redis.internal:6379?db=zero", "has a database that is not a number"),
        ("unix://", "has no socket path"),
    ],
)
def test_a_malformed_redis_url_is_named_and_never_shown(url: str, problem: str) -> None:
    message = problems(REDIS_URL=url)
    assert message.startswith(f"invalid configuration: REDIS_URL: {problem}")
    assert "s3cret" not in message
    assert "redis.internal" not in message


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "redis://:s3cret@redis.internal",
        "rediss://user:s3cret@cache.example.com:6380/2?ssl_cert_reqs=none",
        "redis://[::1]:6379",
        "unix:///run/redis/redis.sock?db=1",
    ],
)
def test_well_formed_redis_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    settings = load_settings(env_file=None)
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == url


def test_an_empty_redis_url_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    assert load_settings(env_file=None).redis_url is None


def test_the_start_up_wait_for_redis_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(env_file=None, sections=()).redis_startup_wait_s == 30.0
    monkeypatch.setenv("TANDEM_REDIS_STARTUP_WAIT_S", "2.5")
    assert load_settings(env_file=None, sections=()).redis_startup_wait_s == 2.5


def test_the_offline_speech_profile_is_a_responder_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_RESPONDER_MODE", "offline")
    assert load_settings(env_file=None).responder.mode == "offline"
    description = type(load_settings(env_file=None).responder).model_fields["mode"].description
    assert description is not None
    assert "offline" in description


def test_an_unknown_tandem_variable_is_found_with_the_name_it_probably_meant(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TANDEM_BUS_LEASE=5000\nTANDEM_BUS_PREFIX=acme\n# TANDEM_NOT_READ=1\n")
    environ = {
        "TANDEM_THINKER_HTTP_PORTT": "8082",
        "TANDEM_SOMETHING_ELSE": "1",
        "TANDEM_THINKER_MAX_STEPS": "4",
        "tandem_log_level": "INFO",  # names are not case-sensitive
        "HOME": "/root",
    }
    assert unknown_variables(environ, env_file) == [
        ("TANDEM_BUS_LEASE", "TANDEM_BUS_LEASE_MS"),
        ("TANDEM_SOMETHING_ELSE", None),
        ("TANDEM_THINKER_HTTP_PORTT", "TANDEM_THINKER_HTTP_PORT"),
    ]


def test_the_example_env_file_lists_exactly_the_variables_tandem_reads() -> None:
    example = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert listed <= known_variables()
    assert known_variables() - {"TANDEM_REDIS_URL"} <= listed  # REDIS_URL's alias
