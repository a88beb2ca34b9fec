"""The wire schema: every entry the responder and the thinker exchange through Redis.

An entry is a flat map of strings: header fields (``v``, ``type``, ``task_id``, ``session_id`` and,
on events, ``seq``, ``attempt``, ``epoch``, ``ts_ms``, ``final``) plus one JSON ``body`` holding the
rest. Models are frozen, carry an integer version ``v``, ignore fields they do not know, and decode
through one discriminated union per stream. Any decoding failure raises
:class:`~shared.errors.WireFormatError`; nothing else escapes :func:`decode_command` or
:func:`decode_event`. ``docs/protocol.md`` is the language-neutral description of this module.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, NoReturn, TypeAlias, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
)

from shared.errors import WireFormatError

WIRE_VERSION = 1
"""The version this code writes; it reads every version up to and including it."""

MAX_BODY_CHARS = 65_536
"""Entries whose ``body`` has more characters are rejected as malformed before parsing."""

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
"""Task and session ids: 1-128 letters, digits, ``_``, ``.``, ``:`` or ``-``."""

TERMINAL_TYPES = frozenset({"result", "error", "expired", "cancelled"})
"""Event types that end a task; exactly one of them is written per task."""


def now_ms() -> int:
    """Wall-clock time in Unix milliseconds, the time base of every ``*_ms`` field."""
    return time.time_ns() // 1_000_000


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    header_fields: ClassVar[frozenset[str]] = frozenset({"v", "type", "task_id", "session_id"})

    v: int = Field(WIRE_VERSION, ge=1)
    task_id: Identifier
    session_id: Identifier


class ContextTurn(BaseModel):
    """One line of the conversation a task carries, so the thinker sees what it needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    role: Literal["caller", "agent", "tool", "system"]
    text: str = Field(max_length=4000)


class TaskRequest(_Entry):
    """A piece of slow work handed from the responder to the thinker pool."""

    type: Literal["task"] = "task"
    epoch: int = Field(ge=0, description="The conversation's turn epoch when the task was made.")
    request: str = Field(min_length=1, max_length=8000)
    context: tuple[ContextTurn, ...] = Field((), max_length=64)
    deadline_ms: int = Field(ge=0, description="Unix ms after which the answer is useless.")
    idempotency_key: str = Field(min_length=1, max_length=200)
    tier: Literal["fast", "strong"] = "fast"
    priority: Literal["normal", "high"] = "normal"
    tools: tuple[str, ...] | None = Field(None, description="Allowed tools; None allows all.")
    confirmed: bool = Field(False, description="The caller explicitly confirmed side effects.")
    profile: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        description="The agent profile the task is for: the thinker answers it with that "
        "profile's tools, knowledge and instructions (added in wire version 1; None: the "
        "thinker's own default).",
    )
    trace: dict[str, str] = Field(default_factory=dict, description="W3C trace context carrier.")
    created_ms: int = Field(default_factory=now_ms)

    @classmethod
    def create(
        cls,
        *,
        session_id: str,
        request: str,
        epoch: int,
        timeout_s: float,
        task_id: str | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> TaskRequest:
        """A new task due ``timeout_s`` from now; ``task_id`` and the idempotency key default to a
        fresh id (re-submitting the same ``task_id`` is answered once)."""
        task_id = task_id or uuid.uuid4().hex
        created = now_ms()
        return cls(
            task_id=task_id,
            session_id=session_id,
            request=request,
            epoch=epoch,
            deadline_ms=created + int(timeout_s * 1000),
            idempotency_key=idempotency_key or task_id,
            created_ms=created,
            **fields,
        )


class CancelRequest(_Entry):
    """Asks whichever worker holds (or will pick up) a task to stop it."""

    type: Literal["cancel"] = "cancel"
    reason: str = Field("cancelled", max_length=200)


Command: TypeAlias = Annotated[TaskRequest | CancelRequest, Field(discriminator="type")]


class _Event(_Entry):
    header_fields: ClassVar[frozenset[str]] = _Entry.header_fields | {
        "seq",
        "attempt",
        "epoch",
        "ts_ms",
    }

    seq: int = Field(ge=0, description="Order of the event within one attempt of its task.")
    attempt: int = Field(1, ge=1, description="Delivery number of the task that produced it.")
    epoch: int = Field(ge=0, description="The epoch of the task the event belongs to.")
    ts_ms: int = Field(default_factory=now_ms)
    trace: dict[str, str] = Field(
        default_factory=dict,
        description="W3C trace context carrier of the span that wrote the event (added in wire "
        "version 1: the reference worker sets it on terminal events).",
    )

    @property
    def final(self) -> bool:
        """True on the one terminal event of a task."""
        return self.type in TERMINAL_TYPES  # type: ignore[attr-defined]


class StartedEvent(_Event):
    """A worker began (or, with ``attempt`` > 1, re-began) the task."""

    type: Literal["started"] = "started"
    worker: str = Field("", max_length=200)


class ProgressEvent(_Event):
    """A short line the caller may hear while the task runs ("checking availability...")."""

    type: Literal["progress"] = "progress"
    message: str = Field(max_length=500)
    tool: str = Field("", max_length=128, description="The tool that started, if any.")


class PartialEvent(_Event):
    """A fact known before the task ends, for the responder to use early."""

    type: Literal["partial"] = "partial"
    text: str = Field(max_length=4000)


ResultKind: TypeAlias = Literal["answer", "unknown", "needs_detail"]
"""What kind of answer a result is: ``answer`` (facts that answer the request), ``unknown`` (the
thinker does not have that information, or cannot do that here: nothing to retry) or
``needs_detail`` (it needs a detail only the caller can give; the text asks for it)."""
RESULT_KINDS: frozenset[str] = frozenset(get_args(ResultKind))


def _known_kind(value: object) -> object:
    """A kind this reader does not know (one added later within version 1) reads as an answer,
    which is what a reader that predates the field makes of every result."""
    return value if isinstance(value, str) and value in RESULT_KINDS else "answer"


class ResultEvent(_Event):
    """The answer: facts for the responder to say, plus structured data."""

    type: Literal["result"] = "result"
    text: str = Field(max_length=8000)
    data: dict[str, JsonValue] = Field(default_factory=dict)
    kind: Annotated[ResultKind, BeforeValidator(_known_kind)] = Field(
        "answer",
        description="What kind of answer the text is (added in wire version 1; readers take a "
        "kind they do not know as 'answer').",
    )


DoneSoFar: TypeAlias = Annotated[
    tuple[Annotated[str, Field(max_length=500)], ...],
    Field(max_length=5, description="What the task had already done (see docs/protocol.md §3.6)."),
]
"""What a task that ended without an answer had already done that cannot be undone (a booking
made), each as its tool reported it: the caller must be told, never that nothing happened."""


class ErrorEvent(_Event):
    """The task failed; ``message`` is safe to show, ``code`` says how; ``done``: what it had
    already done (side effects) before it failed."""

    type: Literal["error"] = "error"
    code: Literal["failed", "dead_letter", "malformed", "unsupported_version", "internal"]
    message: str = Field(max_length=1000)
    retryable: bool = False
    done: DoneSoFar = ()


class ExpiredEvent(_Event):
    """The task's deadline passed before it could finish; no further work happens."""

    type: Literal["expired"] = "expired"
    deadline_ms: int
    done: DoneSoFar = ()


class CancelledEvent(_Event):
    """The task was cancelled (before it ran, or while running)."""

    type: Literal["cancelled"] = "cancelled"
    reason: str = Field("cancelled", max_length=200)


Event: TypeAlias = Annotated[
    StartedEvent
    | ProgressEvent
    | PartialEvent
    | ResultEvent
    | ErrorEvent
    | ExpiredEvent
    | CancelledEvent,
    Field(discriminator="type"),
]
AnyEntry: TypeAlias = TaskRequest | CancelRequest | _Event

_COMMAND = TypeAdapter[TaskRequest | CancelRequest](Command)
_EVENT = TypeAdapter[Event](Event)
_HEADER_NAMES = _Event.header_fields


def encode(entry: AnyEntry) -> dict[str, str]:
    """Flatten an entry into the string fields written with ``XADD``.

    Raises :class:`WireFormatError` for an entry no reader would accept (a body over
    :data:`MAX_BODY_CHARS`, or NaN/infinity in its data), so the writer learns it, not the reader.
    """
    data = entry.model_dump(mode="json")
    fields = {name: _header_text(data.pop(name)) for name in entry.header_fields}
    if isinstance(entry, _Event):
        fields["final"] = "1" if entry.final else "0"
    try:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise WireFormatError("entry holds a number JSON cannot carry (NaN or infinity)") from None
    if len(body) > MAX_BODY_CHARS:
        raise WireFormatError(f"entry body is longer than {MAX_BODY_CHARS} characters")
    fields["body"] = body
    return fields


def decode_command(fields: Mapping[Any, Any]) -> TaskRequest | CancelRequest:
    """Decode a task-stream or control-stream entry; raise :class:`WireFormatError` if invalid."""
    return _decode(fields, _COMMAND)  # type: ignore[no-any-return]


def decode_event(fields: Mapping[Any, Any]) -> Event:
    """Decode a session-stream entry; raise :class:`WireFormatError` if invalid."""
    return _decode(fields, _EVENT)  # type: ignore[no-any-return]


def peek_ids(fields: Mapping[Any, Any]) -> tuple[str | None, str | None]:
    """Best-effort ``(session_id, task_id)`` of an entry that may not decode (None if unusable)."""
    ids: dict[str, str | None] = {"session_id": None, "task_id": None}
    if isinstance(fields, Mapping):
        for key, value in fields.items():
            with contextlib.suppress(WireFormatError):  # one bad field must not hide the ids
                name = _text(key)
                if name in ids:
                    ids[name] = _valid_id(_text(value))
    return ids["session_id"], ids["task_id"]


_ID_ADAPTER = TypeAdapter[str](Identifier)


def _valid_id(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return _ID_ADAPTER.validate_python(value)
    except ValidationError:
        return None


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise WireFormatError("entry field is not UTF-8") from None
    if isinstance(value, str):
        if not value.isascii():
            try:  # clients decode with surrogateescape: invalid UTF-8 shows up as surrogates
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise WireFormatError("entry field is not UTF-8") from None
        return value
    raise WireFormatError(f"entry field has type {type(value).__name__}, expected text")


def _flatten(fields: Mapping[Any, Any]) -> dict[str, str]:
    if not isinstance(fields, Mapping):
        raise WireFormatError("entry is not a field map")
    return {_text(key): _text(value) for key, value in fields.items()}


def _version(flat: Mapping[str, str]) -> int:
    raw = flat.get("v")
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise WireFormatError("entry has no valid integer version 'v'")
    version = int(raw)
    if version > WIRE_VERSION:
        raise WireFormatError(
            f"entry has wire version {version}; this reader supports up to {WIRE_VERSION}",
            code="unsupported_version",
        )
    if version < 1:
        raise WireFormatError("entry version must be at least 1")
    return version


class _NonFinite(ValueError):
    """A body number that is not finite: ``NaN``/``Infinity`` (which Python's ``json`` accepts
    but JSON has not) or a number beyond a double's range (``1e999``)."""


def _no_constant(name: str) -> NoReturn:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text)
    return value


def _decode(fields: Mapping[Any, Any], adapter: TypeAdapter[Any]) -> Any:
    flat = _flatten(fields)
    _version(flat)
    raw_body = flat.get("body", "{}")
    if len(raw_body) > MAX_BODY_CHARS:
        raise WireFormatError(f"entry body is longer than {MAX_BODY_CHARS} characters")
    try:
        body = json.loads(raw_body, parse_constant=_no_constant, parse_float=_finite_float)
    except _NonFinite:
        raise WireFormatError("entry body holds NaN or infinity, which JSON cannot carry") from None
    except (ValueError, RecursionError):
        raise WireFormatError("entry body is not valid JSON") from None
    if not isinstance(body, dict):
        raise WireFormatError("entry body is not a JSON object")
    merged = {**body, **{name: flat[name] for name in _HEADER_NAMES if name in flat}}
    try:
        return adapter.validate_python(merged)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'entry'}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)[:3]
        )
        raise WireFormatError(f"invalid entry: {problems}") from None
    except RecursionError:
        raise WireFormatError("entry body is nested too deeply") from None
