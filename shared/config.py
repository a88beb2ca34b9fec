"""Configuration from the environment (and an optional ``.env`` file), read only by entry points.

Variables use the ``TANDEM_`` prefix, except the names the ecosystem already uses: ``REDIS_URL``,
``LIVEKIT_*``, ``OPENAI_*`` and ``ANTHROPIC_*``. Secrets are ``SecretStr``. :func:`load_settings`
turns any invalid value into one :class:`~shared.errors.ConfigError` line that names the variable
and never echoes its value.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigError

_S = TypeVar("_S", bound=BaseSettings)
_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class BusSettings(BaseSettings):
    """Tuning of the Redis Streams bus (``TANDEM_BUS_*``). Defaults follow the measured design."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_BUS_", env_file=".env", extra="ignore")

    prefix: str = Field(
        "tandem", description="Key prefix; several deployments can share one Redis."
    )
    lease_ms: int = Field(
        2000, ge=100, le=600_000, description="Idle time before a task is reclaimed."
    )
    sweep_interval_ms: int = Field(
        250, ge=20, le=60_000, description="How often to look for orphans."
    )
    max_deliveries: int = Field(3, ge=1, le=100, description="Deliveries before dead-lettering.")
    block_ms: int = Field(
        1000, ge=10, le=4000, description="Longest blocking read (also bounds shutdown)."
    )
    concurrency: int = Field(
        64, ge=1, le=100_000, description="Tasks one worker process runs at once."
    )
    tasks_maxlen: int = Field(100_000, ge=1000, description="Approximate cap of the task stream.")
    session_maxlen: int = Field(1000, ge=10, description="Approximate cap of one session's events.")
    session_ttl_s: int = Field(3600, ge=10, description="Idle lifetime of a session's events.")
    done_ttl_s: int = Field(86_400, ge=60, description="How long a task is remembered as answered.")
    dlq_maxlen: int = Field(
        10_000, ge=100, description="Approximate cap of the dead-letter stream."
    )
    control_maxlen: int = Field(10_000, ge=100, description="Approximate cap of the cancel stream.")
    end_grace_s: int = Field(30, ge=1, description="Lifetime of a session's events after hang-up.")

    @field_validator("prefix")
    @classmethod
    def _prefix_is_plain(cls, value: str) -> str:
        if not _PREFIX_PATTERN.match(value):
            raise ValueError("must be 1-32 letters, digits, '_', '.' or '-'")
        return value


class ToolSettings(BaseSettings):
    """Which tools a process offers (``TANDEM_TOOLS_*``)."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_TOOLS_", env_file=".env", extra="ignore")

    enabled: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Comma-separated allowlist; empty offers every discovered tool."
    )
    disabled: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Comma-separated names never offered."
    )
    strict: bool = Field(
        False, description="Fail on plugins that do not load or collide (for CI), not just log."
    )

    @field_validator("enabled", "disabled", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value


class ThinkerSettings(BaseSettings):
    """The thinker worker (``TANDEM_THINKER_*``)."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_THINKER_", env_file=".env", extra="ignore")

    fast_model: str = Field("claude-haiku-4-5", description="Model for lookups (tier 'fast').")
    strong_model: str = Field("claude-sonnet-4-6", description="Model for planning ('strong').")
    max_tokens: int = Field(1024, ge=64, le=64_000, description="Longest answer per model call.")
    max_steps: int = Field(6, ge=1, le=50, description="Model calls per task (tool loop turns).")
    request_timeout_s: float = Field(8.0, gt=0, le=600, description="Per model request.")
    max_retries: int = Field(1, ge=0, le=5, description="Retries of a failed model request.")
    http_port: int = Field(
        8082, ge=0, le=65535, description="Health and /metrics port; 0 turns it off."
    )
    http_host: str = Field("0.0.0.0", description="Interface of the health/metrics server.")  # noqa: S104
    drain_s: float = Field(20.0, ge=0, le=3600, description="Grace for in-flight tasks on SIGTERM.")
    demo_think_s: float = Field(
        0.0,
        ge=0,
        le=30,
        description="Offline demo brain only: model latency it simulates per task (0: instant), "
        "so demos show how waits are masked.",
    )


class ResponderSettings(BaseSettings):
    """The realtime voice worker (``TANDEM_RESPONDER_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="TANDEM_RESPONDER_", env_file=".env", extra="ignore"
    )

    agent_name: str = Field("tandem", min_length=1, description="Explicit-dispatch agent name.")
    realtime_model: str = Field("gpt-realtime", description="OpenAI realtime model.")
    voice: str = Field("marin", description="Realtime voice (audio mode).")
    mode: Literal["realtime", "half-cascade"] = Field(
        "realtime",
        description="'half-cascade': the realtime model writes text and a separate TTS speaks it.",
    )
    tts_model: str = Field("gpt-4o-mini-tts", description="TTS model of the half-cascade mode.")
    tts_voice: str = Field("ash", description="TTS voice of the half-cascade mode.")
    turn_detection: Literal["semantic", "server", "local"] = Field(
        "semantic",
        description="End of turn: OpenAI semantic VAD, OpenAI server VAD, or local (silero VAD "
        "and LiveKit's offline end-of-turn model; keeps false-interruption resume).",
    )
    eagerness: Literal["low", "medium", "high", "auto"] = Field(
        "medium", description="Semantic VAD eagerness."
    )
    min_interruption_s: float = Field(
        0.5, ge=0, le=5, description="Caller speech needed to interrupt the agent."
    )
    offline_vad_silence_s: float = Field(
        0.3,
        ge=0.1,
        le=2.0,
        description="Offline profile: silence the VAD needs before it reports the end of speech "
        "(silero's default is 0.55 s; shorter answers sooner, longer waits out pauses).",
    )
    endpointing_s: float = Field(
        0.15,
        ge=0.0,
        le=3.0,
        description="Local turn detection (offline profile, 'local'): silence after the VAD's "
        "end of speech before the caller's turn is final.",
    )
    idle_nudge_s: float = Field(
        8.0,
        ge=2.0,
        le=120.0,
        description="Caller silence (nothing owed to them) before the agent asks if they are "
        "still there.",
    )
    max_nudges: int = Field(
        2, ge=0, le=5, description="Nudges in a row without an answer before saying goodbye."
    )
    task_timeout_s: float = Field(
        30.0, gt=0, le=600, description="Deadline of a delegated task (after it, it is dropped)."
    )
    patience_s: float = Field(
        9.0, gt=0, le=600, description="Wait after which the caller is told a task runs long."
    )
    filler_threshold_s: float = Field(
        1.2, ge=0, le=30, description="Expected waits above this get a filler line."
    )
    filler_interval_s: float = Field(
        4.0, gt=0, le=60, description="Silence between two fillers while a task still runs."
    )
    max_fillers: int = Field(3, ge=0, le=20, description="Fillers per task at most.")
    default_wait_s: float = Field(
        2.5, gt=0, le=120, description="Expected wait of a task before any history exists."
    )
    max_repeats: int = Field(
        2, ge=0, le=10, description="Times an interrupted result is re-spoken at most."
    )
    context_turns: int = Field(
        12, ge=0, le=64, description="Recent conversation lines a delegated task carries."
    )
    instructions: str | None = Field(
        None, description="Extra instructions appended to the built-in persona."
    )
    http_port: int = Field(
        8081, ge=0, le=65535, description="Health port of the LiveKit worker (0: any free port)."
    )
    metrics_port: int = Field(
        9101, ge=0, le=65535, description="Prometheus /metrics port; 0 turns it off."
    )
    drain_s: float = Field(
        600.0, ge=0, le=7200, description="Grace for live calls on SIGTERM before exit."
    )

    @model_validator(mode="after")
    def _patience_within_deadline(self) -> ResponderSettings:
        if self.patience_s >= self.task_timeout_s:
            raise ValueError(
                "TANDEM_RESPONDER_PATIENCE_S must be shorter than TANDEM_RESPONDER_TASK_TIMEOUT_S"
            )
        return self


class Settings(BaseSettings):
    """Everything a tandem process reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="TANDEM_", env_file=".env", extra="ignore", populate_by_name=True
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="'auto' writes JSON unless stderr is a terminal."
    )
    redis_url: SecretStr | None = Field(
        None,
        validation_alias=_env("REDIS_URL", "TANDEM_REDIS_URL"),
        description="Unset: a private redis-server is started for this process.",
    )
    livekit_url: str | None = Field(None, validation_alias=_env("LIVEKIT_URL"))
    livekit_api_key: SecretStr | None = Field(None, validation_alias=_env("LIVEKIT_API_KEY"))
    livekit_api_secret: SecretStr | None = Field(None, validation_alias=_env("LIVEKIT_API_SECRET"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))
    bus: BusSettings = Field(default_factory=BusSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    thinker: ThinkerSettings = Field(default_factory=ThinkerSettings)
    responder: ResponderSettings = Field(default_factory=ResponderSettings)


def _variable_name(model: type[BaseSettings], field_name: str) -> str:
    field = model.model_fields.get(field_name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    prefix = str(model.model_config.get("env_prefix", ""))
    return f"{prefix}{field_name}".upper()


def _config_error(model: type[BaseSettings], error: ValidationError) -> ConfigError:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        if not item["loc"]:  # a check across fields names its variables in the message
            problems.append(item["msg"].removeprefix("Value error, "))
            continue
        name = str(item["loc"][0]) if item["loc"] else "?"
        # a loc that is not a field name is an alias, which is already the variable's name
        variable = _variable_name(model, name) if name in model.model_fields else name
        problems.append(f"{variable}: {item['msg']}")
    return ConfigError("invalid configuration: " + "; ".join(problems))


def _load(model: type[_S], env_file: str | None, **values: Any) -> _S:
    try:
        return model(_env_file=env_file, **values)
    except ValidationError as error:
        raise _config_error(model, error) from None


def load_settings(env_file: str | None = ".env") -> Settings:
    """Read :class:`Settings`; raise :class:`ConfigError` naming any bad variable."""
    return _load(
        Settings,
        env_file,
        bus=_load(BusSettings, env_file),
        tools=_load(ToolSettings, env_file),
        thinker=_load(ThinkerSettings, env_file),
        responder=_load(ResponderSettings, env_file),
    )
