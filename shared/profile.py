"""Agent profiles: a deployed agent (its business, persona, tools and knowledge) as configuration.

A profile is a directory::

    my-agent/
      profile.toml          the business, the persona, the tools it may use, its knowledge files
      knowledge/*.md        what it can look up (each ``## `` section is a passage)
      scenarios/*.yaml      simulated calls for ``tandem eval --profile``

or an installed package that registers such a directory under the ``tandem.profiles`` entry
point group (``my_agent = "my_package.my_agent"``: the module's directory holds the files).

``TANDEM_PROFILE`` (or ``--profile``) selects one by path or by installed name. A profile's ``id``
(the installed name, or the directory's name) is what a task carries over the bus, so one
thinker pool serves every profile it can load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.errors import ConfigError
from shared.knowledge import Section, split_sections
from shared.phone_profile import TelephonySpec

log = logging.getLogger(__name__)

PROFILE_FILE = "profile.toml"
ENTRY_POINT_GROUP = "tandem.profiles"
DEFAULT_GROUP = "tandem.default_profile"
"""Where a distribution names the profile demos and laptop commands use when none is named."""
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
"""What a profile id looks like (it travels on the wire with every task)."""
_ID = re.compile(ID_PATTERN)


class ProfileError(ConfigError):
    """A profile that cannot be found or loaded; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PersonaSpec(_Strict):
    """Who the agent is and what it says first and last."""

    instructions: str = Field(
        min_length=1, description="Who the agent is and its tone; tandem adds its own rules."
    )
    greeting: str = Field(min_length=1, description="Said first, verbatim.")
    goodbye: str = Field(min_length=1, description="Said when the call ends, verbatim.")
    still_there: str = Field(
        "Are you still there?", min_length=1, description="Said after a long silence."
    )
    still_there_again: str = Field(
        "Sorry, I can't hear you. Are you still on the line?",
        min_length=1,
        description="Said after a second long silence (worded unlike the first).",
    )


class SessionSpec(_Strict):
    """How long a call may run, and when the agent starts to wrap it up (settings may override
    both: ``TANDEM_SESSION_MAX_DURATION_S``, ``TANDEM_SESSION_WRAP_UP_BEFORE_S``)."""

    max_duration_s: float = Field(
        1800.0,
        ge=0,
        le=86_400,
        description="Longest call, in seconds of call time (time on hold does not count); "
        "0: no limit.",
    )
    wrap_up_before_s: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="Seconds before the limit at which the agent is asked to steer to a close.",
    )

    @model_validator(mode="after")
    def _wrap_up_within_the_limit(self) -> SessionSpec:
        if self.max_duration_s and self.wrap_up_before_s >= self.max_duration_s:
            raise ValueError("wrap_up_before_s must be shorter than max_duration_s")
        return self


class OffDomainTopic(_Strict):
    """Something the agent does not discuss, recognised by words a caller would use."""

    topic: str = Field(min_length=1, description="What it is, e.g. 'medical advice'.")
    keywords: tuple[str, ...] = Field(
        min_length=1, description="Words or phrases that mark a request as this topic."
    )


class GuardrailsSpec(_Strict):
    """What this agent steers away from (the built-in rules apply to every profile)."""

    off_domain: tuple[OffDomainTopic, ...] = Field(
        (), description="Topics the agent declines and redirects from."
    )
    redirect: str = Field(
        "That's not something I can help with on this line, but I'm happy to help with "
        "anything about {business}.",
        min_length=1,
        description="What the agent says to steer back ({business} is the profile's name).",
    )


class ToolsSpec(_Strict):
    """The tools the agent may use, by registry name (built-in or plugins)."""

    allow: tuple[str, ...] = Field((), description="Tool names; empty: no tools.")


class KnowledgeSpec(_Strict):
    """The agent's knowledge files, relative to the profile's directory."""

    files: tuple[str, ...] = ()


class ScenariosSpec(_Strict):
    """How the profile's simulated calls are played."""

    demo: str | None = Field(
        None, description="The scenario `tandem demo` plays by default (a file name, no .yaml)."
    )


class OfflineSpec(_Strict):
    """Rule-based stand-ins a profile may bring for the offline demo (``module:attribute``
    factories); without them the generic offline brains answer from the knowledge files."""

    responder_brain: str | None = None
    thinker_brain: str | None = None


class ProfileSpec(_Strict):
    """The contents of ``profile.toml``."""

    name: str = Field(min_length=1, max_length=200, description="The business the agent is for.")
    timezone: str = Field(description="IANA time zone of the business, e.g. 'America/Halifax'.")
    language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    persona: PersonaSpec
    tools: ToolsSpec = ToolsSpec()
    knowledge: KnowledgeSpec = KnowledgeSpec()
    offline: OfflineSpec = OfflineSpec()
    scenarios: ScenariosSpec = ScenariosSpec()
    session: SessionSpec = SessionSpec()
    guardrails: GuardrailsSpec = GuardrailsSpec()
    telephony: TelephonySpec = TelephonySpec()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


@dataclass(frozen=True)
class Profile:
    """A loaded profile: its spec, where it lives and its knowledge, read and split."""

    id: str
    root: Path
    spec: ProfileSpec
    sections: tuple[Section, ...] = ()
    """Every ``## `` section of its knowledge files, in file order."""
    _zone: ZoneInfo | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The business the agent speaks for."""
        return self.spec.name

    @property
    def timezone(self) -> ZoneInfo:
        """The business's time zone."""
        return self._zone or ZoneInfo(self.spec.timezone)

    @property
    def persona(self) -> PersonaSpec:
        """Who the agent is."""
        return self.spec.persona

    @property
    def allowed_tools(self) -> tuple[str, ...]:
        """The tool names the agent may use."""
        return self.spec.tools.allow

    @property
    def scenarios_dir(self) -> Path:
        """Where its simulated calls are (may not exist)."""
        return self.root / "scenarios"


def load_profile(path: Path | str, *, profile_id: str | None = None) -> Profile:
    """The profile in directory ``path`` (or at ``path/profile.toml``); :class:`ProfileError`
    naming the file and the field for anything wrong. ``profile_id`` defaults to the directory's
    name."""
    root = Path(path)
    if root.name == PROFILE_FILE:
        root = root.parent
    file = root / PROFILE_FILE
    if not file.is_file():
        raise ProfileError(f"{file}: no such file (a profile is a directory with {PROFILE_FILE})")
    profile_id = profile_id or _id_from(root.resolve().name)
    if not _ID.match(profile_id):
        raise ProfileError(
            f"{root}: {profile_id!r} is not a usable profile id (lowercase letters, digits, '-', "
            "'_' and '.', at most 64): rename the directory"
        )
    spec = _read_spec(file)
    sections = tuple(s for name in spec.knowledge.files for s in _read_knowledge(root, file, name))
    return Profile(profile_id, root, spec, sections, ZoneInfo(spec.timezone))


def installed_profiles() -> dict[str, importlib.metadata.EntryPoint]:
    """Profiles registered by installed packages, by id."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def find_profile(selector: str) -> Profile:
    """The profile ``selector`` names: a directory (or its ``profile.toml``), else an installed
    profile's id. :class:`ProfileError` says which exist when it names neither."""
    path = Path(selector).expanduser()
    if path.is_dir() or path.name == PROFILE_FILE or selector.startswith((".", "/", "~")):
        return load_profile(path)
    installed = installed_profiles()
    entry_point = installed.get(selector)
    if entry_point is None:
        known = ", ".join(sorted(installed)) or "none"
        raise ProfileError(
            f"no profile {selector!r}: not a directory with {PROFILE_FILE} and not an installed "
            f"profile (installed: {known})"
        )
    return load_installed(entry_point)


def default_profile() -> Profile:
    """The profile ``tandem demo``, ``eval`` and the laptop commands (``console``, ``dev``) use
    when neither ``--profile`` nor ``TANDEM_PROFILE`` names one: the one an installed
    distribution registers under ``tandem.default_profile`` (tandem's own: its demo). Production
    commands never fall back to it."""
    entries = sorted(importlib.metadata.entry_points(group=DEFAULT_GROUP), key=lambda ep: ep.name)
    if not entries:
        known = ", ".join(sorted(installed_profiles())) or "none"
        raise ProfileError(
            f"no profile named: set TANDEM_PROFILE or pass --profile (installed: {known})"
        )
    entry = entries[0]
    return load_profile(_module_directory(entry), profile_id=entry.name)


def load_installed(entry_point: importlib.metadata.EntryPoint) -> Profile:
    """The profile an installed package registered (its module's directory holds the files)."""
    return load_profile(_module_directory(entry_point), profile_id=entry_point.name)


def _module_directory(entry_point: importlib.metadata.EntryPoint) -> Path:
    try:
        module = importlib.import_module(entry_point.value.partition(":")[0])
    except Exception as error:
        raise ProfileError(
            f"installed profile {entry_point.name!r} ({entry_point.value}) failed to import: "
            f"{type(error).__name__}: {error}"
        ) from None
    return Path(getattr(module, "__file__", "") or "").parent


def load_all(selectors: list[str]) -> dict[str, Profile]:
    """Every installed profile plus those ``selectors`` name, by id. A broken installed profile
    is logged and skipped (a third party's mistake must not stop a worker); a named one that
    fails raises, as does an id that two of them share."""
    profiles: dict[str, Profile] = {}
    for name, entry_point in sorted(installed_profiles().items()):
        try:
            profiles[name] = load_installed(entry_point)
        except ProfileError as error:
            log.error("installed profile skipped", extra={"profile": name, "error": str(error)})
    for selector in selectors:
        profile = find_profile(selector)
        other = profiles.get(profile.id)
        if other is not None and other.root.resolve() != profile.root.resolve():
            raise ProfileError(
                f"two profiles have the id {profile.id!r}: {other.root} and {profile.root}"
            )
        profiles[profile.id] = profile
    return profiles


def _id_from(directory_name: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", directory_name.lower()).strip("-._") or "profile"


def _read_spec(file: Path) -> ProfileSpec:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{file}: not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"{file}: cannot be read ({error})") from None
    try:
        return ProfileSpec.model_validate(data)
    except ValidationError as error:
        raise ProfileError(f"{file}: {_problems(error)}") from None


def _problems(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _read_knowledge(root: Path, file: Path, name: str) -> tuple[Section, ...]:
    path = (root / name).resolve()
    where = f"{file}: knowledge.files: {name}"
    if not path.is_relative_to(root.resolve()):
        raise ProfileError(f"{where} is outside the profile's directory")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"{where} cannot be read ({error})") from None
    sections = split_sections(text, source=name)
    if not sections:
        raise ProfileError(f"{where} has no '## ' sections with text (each one is a passage)")
    return sections


def offline_factory(profile: Profile, side: str) -> Any | None:
    """The factory ``profile`` names for its offline ``side`` brain (``"responder"`` or
    ``"thinker"``), imported; None when it names none. :class:`ProfileError` naming the file
    and the field when it cannot be imported."""
    target = getattr(profile.spec.offline, f"{side}_brain")
    if target is None:
        return None
    module_name, _, attribute = target.partition(":")
    where = f"{profile.root / PROFILE_FILE}: offline.{side}_brain"
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute) if attribute else module
    except Exception as error:
        raise ProfileError(
            f"{where}: {target!r} cannot be imported ({type(error).__name__}: {error})"
        ) from None


def describe(profile: Profile) -> dict[str, Any]:
    """What ``tandem profile check`` and the logs say about a profile."""
    return {
        "id": profile.id,
        "name": profile.name,
        "root": str(profile.root),
        "timezone": profile.spec.timezone,
        "language": profile.spec.language,
        "tools": list(profile.allowed_tools),
        "knowledge_sections": len(profile.sections),
    }
