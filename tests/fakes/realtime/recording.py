"""What the fake did and saw: responses, failures, handshakes, and the knobs it runs with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.realtime.script import Call, Reply, ReplyRequest, Script, Trigger


@dataclass(frozen=True)
class Options:
    """How the fake speaks and listens (see :class:`~tests.fakes.realtime.FakeRealtime`)."""

    ms_per_char: float = 60.0
    min_say_ms: float = 300.0
    chunk_ms: int = 100
    stream_speed: float = 10.0
    vad_threshold: float = 500.0
    silence_ms: int = 300
    prefix_padding_ms: int = 300
    transcription_delay_s: float = 0.0
    check_tools: bool = True

    def say_ms(self, text: str, duration_s: float | None) -> float:
        """Audio duration of a :class:`~tests.fakes.realtime.Say`."""
        if duration_s is not None:
            return duration_s * 1000
        return max(self.min_say_ms, self.ms_per_char * len(text))


@dataclass
class ResponseRecord:
    """One response the fake produced. Times are ``time.monotonic()`` values."""

    id: str
    trigger: Trigger
    request: ReplyRequest
    reply: Reply
    connection: int
    client_event_id: str | None
    created_at: float
    status: Literal["in_progress", "completed", "cancelled"] = "in_progress"
    cancel_reason: Literal["client_cancelled", "turn_detected"] | None = None
    said: list[str] = field(default_factory=list)
    """The transcript sent for each Say started (cut short by a cancel)."""
    calls: list[Call] = field(default_factory=list)
    """The calls sent, with their ``call_id`` filled in."""
    item_ids: list[str] = field(default_factory=list)
    audio_sent_ms: float = 0.0
    """Audio streamed before the response ended (all of it unless cancelled)."""
    audio_planned_ms: float = 0.0
    truncated_at_ms: int | None = None
    """``audio_end_ms`` of a client ``conversation.item.truncate`` on one of its messages."""
    first_output_at: float | None = None
    """When the first delta (audio, transcript, text) or function call went out."""
    audio_late_s: float = 0.0
    """How far behind its schedule (``stream_speed`` x real time from the first delta) the
    latest audio delta went out: the fake's own pacing error, near 0 unless its loop is busy."""
    done_at: float | None = None

    @property
    def says(self) -> list[str]:
        """The scripted Say texts (what would have been said without a cancel)."""
        return self.reply.says

    @property
    def cancelled(self) -> bool:
        """Whether the response ended with status ``cancelled``."""
        return self.status == "cancelled"

    @property
    def transcript(self) -> str:
        """Everything said, joined by spaces."""
        return " ".join(text for text in self.said if text)


@dataclass(frozen=True)
class Failure:
    """Something the script did not account for (or a client event the fake does not know)."""

    reason: str
    connection: int
    client_event: str | None = None

    def __str__(self) -> str:
        where = f" (answering {self.client_event})" if self.client_event else ""
        return f"connection #{self.connection}: {self.reason}{where}"


@dataclass(frozen=True)
class Handshake:
    """A websocket connection attempt."""

    path: str
    model: str | None
    authorization: bool
    accepted: bool


@dataclass
class Shared:
    """State every connection of one fake writes to."""

    script: Script
    options: Options
    notify: Callable[[], None]
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    responses: list[ResponseRecord] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    errors_sent: list[dict[str, Any]] = field(default_factory=list)
