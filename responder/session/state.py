"""What a call is doing now, derived from its journal by one lightweight handler.

:class:`SessionState` reads each journal event as it is emitted (and a stored journal replays
into the same state, see :func:`replay_state`): who holds the floor, how many caller turns there
were, elapsed, talk and hold time, the delegated tasks still running, the session's stage and,
once it ended, why. It only reads events; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from responder.session.journal import STAGE_SOURCES, JournalEvent

Floor = Literal["nobody", "caller", "agent", "both"]
Stage = Literal["starting", "conversation", "wrap_up", "goodbye", "closing", "ended"]

_TASK_ENDS = {"task_answer", "task_failed", "task_stopped"}


@dataclass
class SessionState:
    """The live state of one call (times in seconds on the call's clock)."""

    caller_speaking: bool = False
    agent_speaking: bool = False
    turns: int = 0
    """Caller turns that ended."""
    elapsed_s: float = 0.0
    caller_talk_s: float = 0.0
    agent_talk_s: float = 0.0
    on_hold_s: float = 0.0
    """Time on hold or waiting for a transfer (not call time)."""
    pending_tasks: set[int] = field(default_factory=set)
    """Delegated tasks (by number) submitted and not yet ended."""
    stage: Stage = "starting"
    end_reason: str | None = None
    guardrail_hits: int = 0
    _caller_since: float | None = None
    _agent_since: float | None = None
    _hold_since: float | None = None

    @property
    def floor(self) -> Floor:
        """Who is speaking now."""
        if self.caller_speaking and self.agent_speaking:
            return "both"
        if self.caller_speaking:
            return "caller"
        return "agent" if self.agent_speaking else "nobody"

    @property
    def on_hold(self) -> bool:
        """The caller is on hold or waiting for a transfer."""
        return self._hold_since is not None

    @property
    def call_time_s(self) -> float:
        """Elapsed time minus time on hold: what the session budget counts."""
        open_hold = 0.0 if self._hold_since is None else self.elapsed_s - self._hold_since
        held = self.on_hold_s + open_hold
        return self.elapsed_s - held

    def apply(self, event: JournalEvent) -> None:
        """Advance the state by one journal event (events must come in order)."""
        t = float(event.get("t", self.elapsed_s))
        self.elapsed_s = max(self.elapsed_s, t)
        source, name = event.get("source"), event.get("event")
        if source == "session":
            self._session_event(str(name), event.get("data"), t)
        elif source == "responder":
            self._responder_event(str(name), event, t)
        elif source == "guardrail" and name == "hit":
            self.guardrail_hits += 1
        elif source in STAGE_SOURCES:  # a guardrail may close the call too
            self._stage_event(str(name), event)
        if name == "hold_started" and self._hold_since is None:
            self._hold_since = t
        elif name == "hold_ended" and self._hold_since is not None:
            self.on_hold_s += t - self._hold_since
            self._hold_since = None

    def summary(self) -> dict[str, Any]:
        """The state as plain JSON-able values."""
        return {
            "floor": self.floor,
            "turns": self.turns,
            "elapsed_s": round(self.elapsed_s, 3),
            "call_time_s": round(self.call_time_s, 3),
            "caller_talk_s": round(self.caller_talk_s, 3),
            "agent_talk_s": round(self.agent_talk_s, 3),
            "on_hold_s": round(self.on_hold_s, 3),
            "pending_tasks": sorted(self.pending_tasks),
            "stage": self.stage,
            "end_reason": self.end_reason,
            "guardrail_hits": self.guardrail_hits,
        }

    def _session_event(self, name: str, data: Any, t: float) -> None:
        if not isinstance(data, dict):
            return
        if name == "user_state_changed":
            speaking = data.get("new_state") == "speaking"
            if speaking and not self.caller_speaking:
                self._caller_since = t
            elif not speaking and self.caller_speaking and self._caller_since is not None:
                self.caller_talk_s += t - self._caller_since
                self._caller_since = None
            self.caller_speaking = speaking
        elif name == "agent_state_changed":
            speaking = data.get("new_state") == "speaking"
            if speaking and not self.agent_speaking:
                self._agent_since = t
            elif not speaking and self.agent_speaking and self._agent_since is not None:
                self.agent_talk_s += t - self._agent_since
                self._agent_since = None
            self.agent_speaking = speaking

    def _responder_event(self, name: str, event: JournalEvent, t: float) -> None:
        task = event.get("task")
        if name == "call_started":
            self.stage = "conversation"
        elif name == "caller_turn_end":
            self.turns += 1
        elif name == "task_submitted" and isinstance(task, int):
            self.pending_tasks.add(task)
        elif name in _TASK_ENDS and isinstance(task, int):
            self.pending_tasks.discard(task)
        elif name == "call_ended":
            self.stage = "ended"
            self.end_reason = str(event.get("reason") or "ended")
            # LiveKit resets its states on close without an event: speech under way ends here
            if self.caller_speaking and self._caller_since is not None:
                self.caller_talk_s += t - self._caller_since
            if self.agent_speaking and self._agent_since is not None:
                self.agent_talk_s += t - self._agent_since
            self._caller_since = self._agent_since = None
            self.agent_speaking = self.caller_speaking = False

    def _stage_event(self, name: str, event: JournalEvent) -> None:
        if name == "wrap_up":
            self.stage = "wrap_up"
        elif name == "goodbye":
            self.stage = "goodbye"
        elif name == "closing":
            self.stage = "closing"
        elif name in ("ended", "hard_stop"):
            self.end_reason = str(event.get("reason") or name)


def replay_state(events: Iterable[JournalEvent]) -> SessionState:
    """The state a call had after ``events`` (a stored journal, in order)."""
    state = SessionState()
    for event in events:
        state.apply(event)
    return state
