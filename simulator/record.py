"""What happened in one simulated call, on one clock: who spoke when, the thinker's tasks and the
moments worth marking. Built by the run from the audio endpoints and the call's events; read by
the transcript, the timeline picture and the metrics.

Times are seconds since the call started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Speaker = Literal["caller", "agent"]

MarkKind = Literal["interruption", "dead_air", "talk_over", "stale", "filler", "nudge"]


@dataclass(frozen=True)
class Speech:
    """One stretch of audio from one side.

    ``kind`` says what it was: for the caller ``line`` or ``backchannel``; for the agent
    ``reply`` (an answer to the caller), ``filler``, ``ack``, ``result``, ``notice`` or ``nudge``
    where the call's events tell which. ``interrupted``: cut off before its end.
    """

    who: Speaker
    start: float
    end: float
    text: str
    kind: str = "line"
    interrupted: bool = False

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.end - self.start


@dataclass(frozen=True)
class TaskSpan:
    """One delegated task: from submission to its end (``ended`` is None if it never ended)."""

    number: int
    request: str
    submitted: float
    ended: float | None
    outcome: str
    """``answered``, ``failed``, ``expired``, ``superseded``, ``cancelled`` or ``open``."""


@dataclass(frozen=True)
class Mark:
    """A moment (or, with ``seconds``, a stretch starting at ``t``) worth showing."""

    t: float
    kind: MarkKind
    seconds: float = 0.0
    label: str = ""


@dataclass
class CallRecord:
    """One call, ready to be drawn, written or measured."""

    scenario: str
    duration: float
    speech: list[Speech] = field(default_factory=list)
    tasks: list[TaskSpan] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    def said_by(self, who: Speaker) -> list[Speech]:
        """``who``'s speech in time order."""
        return sorted((s for s in self.speech if s.who == who), key=lambda s: s.start)
