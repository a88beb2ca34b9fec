"""Logging set-up: stdlib ``logging``, JSON in production, readable lines in a terminal.

Messages are static; values go in ``extra=``. Fields that can carry personal data (transcripts,
request text, phone numbers, tool arguments) are redacted from every record above DEBUG, so a
production log never holds what a caller said. Each record written while a span is current
carries its ``trace_id`` and ``span_id``, and each record of a call or task carries its
``session_id`` (:class:`TraceContext`, :func:`session_scope`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from typing import Literal, TextIO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

PERSONAL_FIELDS = frozenset(
    {
        "transcript",
        "text",
        "request",
        "context",
        "phone",
        "phone_number",
        "caller",
        "tool_args",
        "room",  # LiveKit stamps every job line with the room name; SIP rooms carry the number
    }
)
PERSONAL_PREFIXES = ("lk.pii.",)
"""LiveKit marks the personal fields of its own records (participant identity, room name)."""
REDACTED = "[redacted]"
HTTP_CLIENT_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2")
"""The HTTP clients in tandem's processes (the tools' client: httpx; the Anthropic and OpenAI
SDKs: httpx2) log each request's URL at INFO, and a URL can carry what the caller said (the
weather tool's ``?name=`` is whatever place the caller named). :func:`configure_logging`, which
every tandem command calls (``settings_or_exit``), holds them at WARNING at every level, DEBUG
included. LiveKit's job processes copy the worker's logger levels, and the worker's handler
writes their records."""
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactPersonalData(logging.Filter):
    """Replace personal-data ``extra`` fields with ``[redacted]`` on records above DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            for name in list(record.__dict__):
                if name in PERSONAL_FIELDS or name.startswith(PERSONAL_PREFIXES):
                    setattr(record, name, REDACTED)
        return True


_SESSION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tandem_session_id", default=None
)


@contextlib.contextmanager
def session_scope(session_id: str) -> Iterator[None]:
    """Records logged in this block (and in tasks it starts) carry ``session_id``."""
    token = _SESSION.set(session_id)
    try:
        yield
    finally:
        _SESSION.reset(token)


def bind_session(session_id: str) -> None:
    """From now on in this context (and tasks it starts), records carry ``session_id``: for a
    job process's entry point, whose context ends with the job."""
    _SESSION.set(session_id)


class TraceContext(logging.Filter):
    """Stamp ``trace_id`` and ``span_id`` (hex, as trace back ends show them) on records logged
    while a span is current, and ``session_id`` on records of a call or task; a value the
    record already has is kept (a job process's record is stamped there, not again by the
    worker that writes it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        span = trace.get_current_span().get_span_context()
        if span.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        session_id = _SESSION.get()
        if session_id is not None and not hasattr(record, "session_id"):
            record.session_id = session_id
        return True


def stamp_handlers(logger: logging.Logger | None = None) -> None:
    """Add :class:`TraceContext` to every handler of ``logger`` (the root) that lacks it: in a
    LiveKit job process, whose records go to the worker through LiveKit's queue handler."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, TraceContext) for f in handler.filters):
            handler.addFilter(TraceContext())


class TerminalFormatter(logging.Formatter):
    """``12:00:00.123 INFO  shared.bus: message key=value ...`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S"
        )

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        return line


def configure_logging(
    level: str = "INFO",
    fmt: Literal["auto", "json", "text"] = "auto",
    stream: TextIO | None = None,
) -> None:
    """Send all logs to ``stream`` (stderr) as JSON or terminal text, replacing earlier handlers."""
    stream = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactPersonalData())
    handler.addFilter(TraceContext())
    if use_json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(TerminalFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
