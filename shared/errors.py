"""The small exception tree of tandem, caught only at process boundaries."""

from __future__ import annotations


class TandemError(Exception):
    """Base class of every error tandem raises on purpose."""


class ConfigError(TandemError):
    """A configuration value is missing or invalid.

    The message names the variable, never its value.
    """


class WireFormatError(TandemError):
    """An entry read from Redis is not a valid entry of a supported wire version.

    ``code`` is ``"malformed"`` or ``"unsupported_version"`` (an entry from a newer writer).
    """

    def __init__(self, message: str, *, code: str = "malformed") -> None:
        super().__init__(message)
        self.code = code


class UpstreamError(TandemError):
    """A remote service (Redis, a model API, a tool's HTTP API) failed.

    ``retryable`` tells the caller whether trying again may succeed.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ToolError(TandemError):
    """A tool failed in a way the model should see and can recover from ("which city?").

    The message is shown to the model as the tool's result; keep it short and actionable.
    """


class StopRequested(TandemError):
    """A start-up wait ended because the process was asked to stop (SIGTERM, SIGINT).

    Not a failure: a process that gets it exits quietly with status 0.
    """


class RecordError(TandemError):
    """A stored call record cannot be read (corrupt JSON), or a short session id matches more
    than one record. The message says which, in one line."""
