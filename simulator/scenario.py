"""Scenario files: what the simulated caller says and does, and what must be true afterwards.

A scenario is a YAML file in a profile's ``scenarios/`` directory (the demo restaurant's:
``profiles/restaurant/scenarios/``)::

    name: booking-with-barge-in
    description: Books a table, then cuts into the read-back to change the party size.
    thinker: {think_s: 1.5}          # simulated model latency of the offline demo brain
    steps:
      - say: Hi. I'd like a table for four on Friday at eight under the name Rivera.
      - barge_in: Sorry make it five people.
        after_agent_ms: 900          # 0.9 s into the agent's next speech
      - say: Yes please book it.
    checks:
      - booking: {name: Rivera, party_size: 5, time: "20:00", weekday: friday}
      - no_duplicate_bookings: true
      - agent_mentioned: time
    goals: [The caller has a table for five on Friday at eight under Rivera.]
    persona: Ana Rivera, brisk and friendly; says four people, then corrects it to five.

Steps, in order (each waits for its moment, then acts):

- ``say``: wait until the agent is done (it answered since the caller's last line, has nothing
  running or queued, and has been silent ``after_silence_ms``), then speak. With
  ``after_caller_ms`` it waits for nothing but that long after the caller's own last line ended:
  a pause mid-sentence ("a table for, um…" (1.6 s) "…four of us on Saturday").
- ``barge_in``: speak ``after_agent_ms`` into the agent's next speech (it interrupts);
  ``during: answer`` waits for speech that delivers a task's answer.
- ``backchannel``: like ``barge_in`` but a listening noise ("mm-hm") that must not interrupt.
- ``correct``: speak while a delegated task is running, ``after_silence_ms`` after the agent's
  acknowledgement: the caller corrects themselves mid-task.
- ``silence_s``: wait until the agent is done, then stay silent that long.

``goals`` are for the Claude judge; ``persona`` (with ``goals``) lets Claude play the caller
instead of the steps (``tandem eval --persona``).

Bad files fail with one message naming the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.errors import ConfigError

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    """One thing the caller does; exactly one of the action fields is set."""

    say: str | None = None
    barge_in: str | None = None
    backchannel: str | None = None
    correct: str | None = None
    silence_s: Annotated[float, Field(gt=0, le=120)] | None = None
    after_silence_ms: Annotated[int, Field(ge=0, le=10_000)] = 600
    """``say``/``correct``/``silence_s``: agent silence to wait for first."""
    after_agent_ms: Annotated[int, Field(ge=0, le=30_000)] = 800
    """``barge_in``/``backchannel``: how far into the agent's next speech to start."""
    after_caller_ms: Annotated[int, Field(ge=0, le=30_000)] | None = None
    """``say``: speak this long after the caller's previous line ended, whatever the agent
    does (the caller pausing mid-sentence); ``after_silence_ms`` is then not used."""
    during: Literal["any", "answer"] = "any"
    """``barge_in``/``backchannel``: any agent speech, or only one that delivers a task's
    answer."""
    wait_s: Annotated[float, Field(gt=0, le=120)] = 30.0
    """Longest wait for the step's moment; past it the run fails with a clear reason."""

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [name for name in _ACTIONS if getattr(self, name) is not None]
        if len(actions) != 1:
            raise ValueError(
                f"a step needs exactly one of {', '.join(_ACTIONS)}; got {actions or 'none'}"
            )
        text = getattr(self, actions[0])
        if isinstance(text, str) and not text.strip():
            raise ValueError(f"'{actions[0]}' needs the words the caller says")
        if self.after_caller_ms is not None and actions[0] != "say":
            raise ValueError("'after_caller_ms' is for a 'say' step")
        return self

    @property
    def action(self) -> str:
        """Which action this step is."""
        return next(name for name in _ACTIONS if getattr(self, name) is not None)

    @property
    def text(self) -> str:
        """What the caller says in this step ("" for silence)."""
        value = getattr(self, self.action)
        return value if isinstance(value, str) else ""


_ACTIONS = ("say", "barge_in", "backchannel", "correct", "silence_s")


class BookingCheck(_Strict):
    """A booking with these fields exists (fields left out are not checked)."""

    name: str | None = None
    party_size: Annotated[int, Field(ge=1, le=50)] | None = None
    time: str | None = Field(None, pattern=r"^\d{2}:\d{2}$")
    weekday: Literal[*_WEEKDAYS] | None = None  # type: ignore[valid-type]


class Check(_Strict):
    """One outcome check; exactly one field is set."""

    booking: BookingCheck | None = None
    no_booking: bool | None = None
    """True: no booking was made at all."""
    no_duplicate_bookings: bool | None = None
    """True: no two live bookings share a name, day and time."""
    agent_mentioned: str | None = None
    """``time`` (a clock time), ``date`` (a day), or a regular expression the agent said."""
    agent_never_said: str | None = None
    """A regular expression no agent line may match (e.g. a superseded detail)."""
    events: list[str] | None = None
    """These call events happened, in this order (others may come in between)."""
    nudged: bool | None = None
    """True: the agent asked whether the caller was still there."""
    ended: str | None = None
    """The agent ended the call, for this reason (``max_duration``, ``caller_silent`` ...)."""

    @model_validator(mode="after")
    def _one_check(self) -> Check:
        chosen = [name for name, value in self if value is not None]
        if len(chosen) != 1:
            raise ValueError(f"a check needs exactly one kind; got {chosen or 'none'}")
        pattern = self.agent_mentioned or self.agent_never_said
        if pattern and pattern not in ("time", "date"):
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"not a regular expression: {pattern!r} ({error})") from None
        return self

    @property
    def kind(self) -> str:
        """Which check this is."""
        return next(name for name, value in self if value is not None)


class ThinkerOptions(_Strict):
    """How the scenario's thinker behaves (offline demo brain)."""

    think_s: Annotated[float, Field(ge=0, le=30)] = 1.5
    """Model latency the demo brain simulates per task."""


class SessionOptions(_Strict):
    """The call's session budget, instead of the profile's ``[session]``."""

    max_duration_s: Annotated[float, Field(gt=0, le=3600)] | None = None
    wrap_up_before_s: Annotated[float, Field(ge=0, le=600)] | None = None


class Scenario(_Strict):
    """One simulated call."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = ""
    steps: list[Step] = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list)
    goals: list[str] = Field(default_factory=list)
    """For the Claude judge (with keys): what the caller should get from the call."""
    persona: str = ""
    """For a language-model caller (with keys): who the caller is and how they talk."""
    thinker: ThinkerOptions = Field(default_factory=ThinkerOptions)
    session: SessionOptions = Field(default_factory=SessionOptions)
    tail_s: Annotated[float, Field(ge=0, le=60)] = 2.0
    """Silence recorded after the last step once the agent is done."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 120.0
    """Longest the whole call may take."""

    @property
    def missing_for_persona(self) -> str | None:
        """The first field a persona caller needs that is not given (``persona``, ``goals``)."""
        if not self.persona.strip():
            return "persona"
        return None if self.goals else "goals"


def load_scenario(path: str | Path, *, persona: bool = False) -> Scenario:
    """Read and validate one scenario file; ``ConfigError`` names the file and the problem.

    ``persona``: the call is to be played by the persona caller, so ``persona`` and ``goals``
    must be given.
    """
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the scenario ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({_first_line(error)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a scenario is a mapping with 'name' and 'steps'")
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}: {where}: {message}") from None
    if persona and (missing := scenario.missing_for_persona):
        raise ConfigError(f"{path}: {missing}: needed to play the call with a persona")
    return scenario


def find_scenarios(selection: list[str], directory: Path) -> list[Path]:
    """Scenario files for names or paths in ``selection`` (all of ``directory`` if empty)."""
    if not selection:
        found = sorted(directory.glob("*.yaml"))
        if not found:
            raise ConfigError(f"no scenarios in {directory}")
        return found
    paths: list[Path] = []
    for item in selection:
        candidate = Path(item)
        if not candidate.exists():
            candidate = directory / f"{item}.yaml"
        if not candidate.exists():
            known = ", ".join(p.stem for p in sorted(directory.glob("*.yaml")))
            raise ConfigError(f"no scenario {item!r} (known: {known})")
        paths.append(candidate)
    return paths


def _first_line(error: yaml.YAMLError) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
