"""What the worker does about each error Redis can answer with: the one place that decides.

Every Redis error the bus does not act on itself (``NOGROUP``, ``BUSYGROUP``, a first
``NOSCRIPT``) is one of three kinds of :class:`Fault`:

* ``RETRY``: Redis is unreachable or refuses for now (``OOM``, ``LOADING``, ``BUSY``,
  ``MASTERDOWN``, ``TRYAGAIN``, ``READONLY``, ``MISCONF``, ``NOREPLICAS``, ``CLUSTERDOWN``, a
  connection error or timeout): wait with backoff and repeat the same step; the worker reports
  unhealthy meanwhile.
* ``POISON``: a key the command touched holds the wrong kind of value (``WRONGTYPE``). In a
  session's keys that spoils one task: its entry is dead-lettered once. In one of the bus's own
  keys (the task, control or dead-letter stream) it spoils every task: the worker stops.
* ``FATAL``: trying again cannot help (``NOAUTH``/``WRONGPASS``, ``NOPERM``, ``NOSCRIPT`` right
  after the scripts were loaded, an unknown command, any reply not listed here): the worker stops
  with one line (:func:`stop_error`) that names the error code, never the reply's text.

redis-py strips the code from the replies it has a class for (``OutOfMemoryError`` says only
"command not allowed when used memory > 'maxmemory'."); other replies keep it at the start. Inside a
Lua script, Redis 6.2 wraps the error of the failing command ("Error running script (call to
f_...): @user_script:12: -OOM command not allowed ..."), Redis 7 passes it on unwrapped.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    ClusterDownError,
    ConnectionError,
    ExecAbortError,
    MasterDownError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from shared.errors import UpstreamError


class FaultKind(enum.Enum):
    """What to do about an error (see the module's docstring)."""

    RETRY = "retry"
    POISON = "poison"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class Fault:
    """One classified error: its kind, and the Redis error code (or exception name) behind it."""

    kind: FaultKind
    code: str


_RETRY_CODES = frozenset(
    {"OOM", "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY", "MISCONF", "NOREPLICAS"}
    | {"CLUSTERDOWN"}
)
_POISON_CODES = frozenset({"WRONGTYPE"})

_CODE_OF_CLASS: tuple[tuple[type[RedisError], str], ...] = (
    (OutOfMemoryError, "OOM"),
    (BusyLoadingError, "LOADING"),
    (ReadOnlyError, "READONLY"),
    (TryAgainError, "TRYAGAIN"),
    (MasterDownError, "MASTERDOWN"),  # before its base class, ClusterDownError
    (ClusterDownError, "CLUSTERDOWN"),
    (NoScriptError, "NOSCRIPT"),
    (NoPermissionError, "NOPERM"),
    (ExecAbortError, "EXECABORT"),
)
"""Replies redis-py gives a class of their own (and strips the code from)."""

_CODE_IN_TEXT = re.compile(r"(?:^|: -?)([A-Z][A-Z_]+)(?= |$)")
"""An error code at the start of a reply, or where a script's error quotes its command's."""

_UNKNOWN_COMMAND = re.compile(r"^(?:ERR )?unknown (?:sub)?command")


def classify(error: BaseException) -> Fault | None:
    """The :class:`Fault` behind ``error``; None if it is not an error of Redis or the network."""
    if isinstance(error, AuthenticationError | AuthorizationError):
        return Fault(FaultKind.FATAL, "NOAUTH")  # connection errors too, but retrying cannot help
    for cls, code in _CODE_OF_CLASS:
        if isinstance(error, cls):
            return Fault(_kind_of(code), code)
    if isinstance(error, ConnectionError | TimeoutError | OSError):
        return Fault(FaultKind.RETRY, type(error).__name__)
    if isinstance(error, ResponseError):
        code = reply_code(error)
        return Fault(_kind_of(code), code)
    if isinstance(error, RedisError):
        return Fault(FaultKind.FATAL, type(error).__name__)
    return None


def reply_code(error: ResponseError) -> str:
    """The error code of a reply redis-py has no class for: ``WRONGTYPE``, ``BUSY``,
    ``NOGROUP``...; ``ERR unknown command`` for a command the server does not know; ``ERR``
    when the reply names none."""
    text = str(error)
    if _UNKNOWN_COMMAND.match(text):
        return "ERR unknown command"
    found = _CODE_IN_TEXT.search(text)
    return found.group(1) if found else "ERR"


def _kind_of(code: str) -> FaultKind:
    if code in _RETRY_CODES:
        return FaultKind.RETRY
    if code in _POISON_CODES:
        return FaultKind.POISON
    return FaultKind.FATAL


def is_retryable(error: BaseException) -> bool:
    """Whether waiting and repeating the same step may succeed."""
    fault = classify(error)
    return fault is not None and fault.kind is FaultKind.RETRY


def is_poison(error: BaseException) -> bool:
    """Whether a key the failed command touched holds the wrong kind of value."""
    fault = classify(error)
    return fault is not None and fault.kind is FaultKind.POISON


_WHY_STOP = {
    "NOAUTH": "Redis refused the credentials in REDIS_URL",
    "NOPERM": "the Redis user may not run a command the bus needs",
    "NOSCRIPT": "Redis lost the bus's Lua scripts again right after they were loaded",
    "WRONGTYPE": "one of the bus's own keys, the task, control or dead-letter stream, holds the "
    "wrong kind of value",
    "ERR unknown command": "this Redis lacks a command the bus needs; it needs Redis 6.2 or newer",
}


def stop_error(error: RedisError) -> UpstreamError:
    """The one-line error a worker stops with after ``error``: the code and what it means here,
    never the reply's own text (which can quote keys or arguments)."""
    fault = classify(error)
    code = fault.code if fault is not None else type(error).__name__
    why = _WHY_STOP.get(code, "an error reply the bus cannot act on")
    return UpstreamError(f"the task worker stopped: Redis answered {code}: {why}", retryable=False)
