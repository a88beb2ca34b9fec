"""Configuration from the environment (and an optional ``.env`` file), read only by entry points.

Variables use the ``TANDEM_`` prefix, except the names the ecosystem already uses: ``REDIS_URL``,
``LIVEKIT_*``, ``OPENAI_*`` and ``ANTHROPIC_*``. Secrets are ``SecretStr``. :func:`load_settings`
reads only the sections a command needs and turns every invalid value at once into one
:class:`~shared.errors.ConfigError` line that names each variable and never echoes a value;
:func:`unknown_variables` finds ``TANDEM_*`` names nothing reads (typos).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

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
    mode: Literal["realtime", "half-cascade", "offline"] = Field(
        "realtime",
        description="'half-cascade': the realtime model writes text and a separate TTS speaks it. "
        "'offline': the labelled offline demo speech profile (silero VAD, Whisper, the rule-based "
        "front-desk brain, the hibari voice), chosen explicitly; `start` runs it only when asked.",
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
        1.0,
        ge=0,
        le=30,
        description="Silence after the acknowledgement (while a task runs) that a filler ends, "
        "unless the answer is expected by then; beyond 1 s a caller hears dead air.",
    )
    filler_interval_s: float = Field(
        4.0, gt=0, le=60, description="Silence between two fillers while a task still runs."
    )
    max_fillers: int = Field(3, ge=0, le=20, description="Fillers per task at most.")
    default_wait_s: float = Field(
        2.5,
        gt=0,
        le=120,
        description="Expected wait of a lookup (fast tier) task before any history of it exists.",
    )
    default_planning_wait_s: float = Field(
        6.0,
        gt=0,
        le=300,
        description="Expected wait of a planning (strong tier) task before any history exists.",
    )
    slow_tool_wait_s: float = Field(
        3.0,
        gt=0,
        le=120,
        description="Expected run time of a tool declared slow before any history of it exists.",
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
    job_executor: Literal["process", "thread"] = Field(
        "process",
        description="Where LiveKit runs each call: 'process', a job process of its pool (a crash "
        "or a stalled event loop stays in one call); 'thread', a thread of the worker process "
        "(less memory per call; all calls share one interpreter and its GIL).",
    )

    @model_validator(mode="after")
    def _patience_within_deadline(self) -> ResponderSettings:
        if self.patience_s >= self.task_timeout_s:
            raise ValueError(
                "TANDEM_RESPONDER_PATIENCE_S must be shorter than TANDEM_RESPONDER_TASK_TIMEOUT_S"
            )
        return self


class SessionSettings(BaseSettings):
    """Live session control (``TANDEM_SESSION_*``): the call budget's overrides of the
    profile's ``[session]``, call records, guardrails."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_SESSION_", env_file=".env", extra="ignore")

    max_duration_s: float | None = Field(
        None,
        ge=0,
        le=86_400,
        description="Longest call in seconds of call time, overriding the profile's "
        "[session] max_duration_s (0: no limit).",
    )
    wrap_up_before_s: float | None = Field(
        None,
        ge=0,
        le=3600,
        description="Seconds before the limit to wrap up, overriding the profile's.",
    )
    goodbye_grace_s: float = Field(
        6.0,
        gt=0,
        le=60,
        description="At the limit: how long the goodbye may take before the call is cut.",
    )
    records: bool = Field(
        True, description="Write a call record and a redacted transcript when a call ends."
    )
    retention_days: float = Field(
        30.0, gt=0, le=3650, description="How long call records are kept."
    )
    guardrail_classifier: str | None = Field(
        None,
        description="'module:factory' of an extra guardrail classifier run asynchronously "
        "beside the built-in rules (e.g. a Claude call).",
    )


class SipSettings(BaseSettings):
    """Phone calls through LiveKit SIP (``TANDEM_SIP_*``)."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_SIP_", env_file=".env", extra="ignore")

    outbound_trunk_id: str | None = Field(
        None,
        description="The LiveKit outbound trunk `tandem call` dials through (its id, as "
        "`lk sip outbound create` printed it; deploy/sip/).",
    )
    ring_timeout_s: float = Field(
        30.0, gt=0, le=300, description="How long an outbound call rings before it is given up."
    )


REDIS_SCHEMES = ("redis", "rediss", "unix")


def redis_url_problem(url: str) -> str | None:
    """What is wrong with a Redis URL, in words that never repeat it (it may hold a password);
    ``None`` when it has the form redis-py accepts: ``redis://[[user]:password@]host[:port][/db]``,
    ``rediss://...`` (TLS) or ``unix:///path/to/socket[?db=N]``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    scheme = parts.scheme.lower()
    if scheme not in REDIS_SCHEMES:
        return "must start with redis://, rediss:// or unix://"
    if scheme == "unix":
        if not parts.path:
            return "has no socket path (unix:///path/to/redis.sock)"
        database = None
    else:
        if not parts.hostname:
            return "has no host (redis://host:6379/0)"
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port is not None and not 1 <= port <= 65535:
            return "has a port that is not a number from 1 to 65535"
        database = parts.path.lstrip("/") or None
    for value in parse_qs(parts.query).get("db", []):
        database = value
    if database is not None and not database.isdigit():
        return "has a database that is not a number (redis://host:6379/0)"
    return None


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
        description="Unset (or empty): a private redis-server is started for this process.",
    )
    redis_startup_wait_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="How long a long-running process (thinker, responder) waits for REDIS_URL to "
        "answer at start-up before it exits with an error. One-shot commands wait ~2.5 s.",
    )
    profile: str | None = Field(
        None,
        description="The agent profile: a directory with profile.toml, or an installed "
        "profile's name. The responder serves it; a thinker serves it besides every installed one.",
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
    session: SessionSettings = Field(default_factory=SessionSettings)
    sip: SipSettings = Field(default_factory=SipSettings)

    @field_validator("redis_url")
    @classmethod
    def _redis_url_has_a_usable_form(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # `REDIS_URL=` in a .env file means unset, as with most tools
        problem = redis_url_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return value


Section = Literal["bus", "tools", "thinker", "responder", "session", "sip"]
"""A part of :class:`Settings` that :func:`load_settings` can validate on its own."""

SECTIONS: tuple[Section, ...] = ("bus", "tools", "thinker", "responder", "session", "sip")
"""Every section: what :func:`load_settings` validates unless told otherwise."""

_SECTION_MODELS: dict[Section, type[BaseSettings]] = {
    "bus": BusSettings,
    "tools": ToolSettings,
    "thinker": ThinkerSettings,
    "responder": ResponderSettings,
    "session": SessionSettings,
    "sip": SipSettings,
}
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def _variable_names(model: type[BaseSettings], field_name: str) -> list[str]:
    field = model.model_fields.get(field_name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    prefix = str(model.model_config.get("env_prefix", ""))
    return [f"{prefix}{field_name}".upper()]


def _problems(model: type[BaseSettings], error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        message = item["msg"]
        for prefix in _PYDANTIC_PREFIXES:
            message = message.removeprefix(prefix)
        if not item["loc"]:  # a check across fields names its variables in the message
            problems.append(message)
            continue
        name = str(item["loc"][0])
        # a loc that is not a field name is an alias, which is already the variable's name
        variable = _variable_names(model, name)[0] if name in model.model_fields else name
        problems.append(f"{variable}: {message}")
    return problems


def _section(model: type[BaseSettings], env_file: str | None, problems: list[str]) -> Any:
    try:
        return model(_env_file=env_file)
    except ValidationError as error:
        problems.extend(_problems(model, error))
        return model.model_construct()


def load_settings(
    env_file: str | None = ".env", *, sections: Iterable[Section] = SECTIONS
) -> Settings:
    """Read :class:`Settings` from the environment and ``env_file``.

    The top-level settings (``REDIS_URL``, keys, logging) are always read; of the sections only
    those in ``sections`` are: a command validates what it uses, so a thinker does not refuse to
    start over a responder-only setting. A section not asked for holds its defaults and reads
    nothing (``settings.responder`` always exists).

    Raises :class:`ConfigError` listing every problem of everything read, each naming its
    variable and never its value.
    """
    if isinstance(sections, str):
        raise TypeError("sections must be a collection of section names, not one string")
    wanted = set(sections)
    if not wanted <= set(SECTIONS):
        raise ValueError(f"unknown settings sections: {sorted(wanted - set(SECTIONS))}")
    problems: list[str] = []
    parts: dict[str, Any] = {
        name: _section(model, env_file, problems) if name in wanted else model.model_construct()
        for name, model in _SECTION_MODELS.items()
    }
    try:
        settings = Settings(
            _env_file=env_file,
            bus=parts["bus"],
            tools=parts["tools"],
            thinker=parts["thinker"],
            responder=parts["responder"],
            session=parts["session"],
            sip=parts["sip"],
        )
    except ValidationError as error:
        problems[:0] = _problems(Settings, error)
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return settings


def known_variables() -> frozenset[str]:
    """Every variable name tandem reads (upper case), ``TANDEM_*`` and the ecosystem's own."""
    names: set[str] = set()
    models: tuple[type[BaseSettings], ...] = (Settings, *_SECTION_MODELS.values())
    for model in models:
        for field_name in model.model_fields:
            if model is Settings and field_name in _SECTION_MODELS:
                continue  # a section is read from its own variables, not one JSON variable
            names.update(_variable_names(model, field_name))
    return frozenset(names)


def _env_file_names(env_file: str | os.PathLike[str] | None) -> Iterable[str]:
    if env_file is None or not os.path.isfile(env_file):
        return ()
    from dotenv import dotenv_values  # installed with pydantic-settings, which reads .env with it

    return dotenv_values(env_file).keys()


def unknown_variables(
    environ: Mapping[str, str], env_file: str | os.PathLike[str] | None = ".env"
) -> list[tuple[str, str | None]]:
    """``TANDEM_*`` variables in ``environ`` or ``env_file`` that no setting reads (a typo is
    otherwise silently ignored), each with the closest real name when one is close, sorted by
    name. Only names are looked at, never values."""
    known = known_variables()
    candidates = sorted(name for name in known if name.startswith("TANDEM_"))
    found = {
        name
        for name in (*environ.keys(), *_env_file_names(env_file))
        if name.upper().startswith("TANDEM_") and name.upper() not in known
    }
    unknown = []
    for name in sorted(found):
        close = difflib.get_close_matches(name.upper(), candidates, n=1, cutoff=0.8)
        unknown.append((name, close[0] if close else None))
    return unknown
