"""The Redis key layout of the bus, in one place (see ``docs/protocol.md``).

Global keys share the hash tag ``{<prefix>}``; a session's keys share ``{s:<session_id>}``: each
group stays together (locality today, a path to Redis Cluster later; the FINISH script spans
both groups, so the bus needs standalone or Sentinel Redis now).
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "thinkers"
"""The consumer group every thinker reads the task stream through."""


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one deployment prefix (default ``tandem``)."""

    prefix: str = "tandem"

    @property
    def tasks(self) -> str:
        """The task stream, read through the consumer group :data:`GROUP`."""
        return f"{{{self.prefix}}}:tasks"

    @property
    def dlq(self) -> str:
        """Dead letters: original fields plus ``dlq_*`` fields saying why."""
        return f"{{{self.prefix}}}:tasks:dlq"

    @property
    def control(self) -> str:
        """Broadcast stream of cancel requests, read by every worker without a group."""
        return f"{{{self.prefix}}}:control"

    def latency(self, name: str) -> str:
        """Recent measured durations (ms) of one kind of work (``tool:<name>``, ``tier:<tier>``),
        newest first: what responders use to decide whether a wait needs a filler."""
        return f"{{{self.prefix}}}:latency:{name}"

    def events(self, session_id: str) -> str:
        """One session's event stream."""
        return f"{self.prefix}:{{s:{session_id}}}:events"

    def done(self, session_id: str) -> str:
        """Hash task_id -> terminal type: written atomically with the terminal event."""
        return f"{self.prefix}:{{s:{session_id}}}:done"

    def claims(self, session_id: str) -> str:
        """Hash task_id -> the stream entry that owns the task (absorbs duplicate submissions)."""
        return f"{self.prefix}:{{s:{session_id}}}:claims"

    def cancels(self, session_id: str) -> str:
        """Hash task_id -> cancel reason: durable, honoured at pick-up and while running."""
        return f"{self.prefix}:{{s:{session_id}}}:cancels"

    def effects(self, session_id: str, task_id: str) -> str:
        """Hash tool-call key -> what one task did that cannot be undone (a booking made), as its
        tool reported it: read into the task's terminal event if it ends without an answer."""
        return f"{self.prefix}:{{s:{session_id}}}:effects:{task_id}"

    def journal(self, session_id: str) -> str:
        """One call's session journal: every session event in order (what was said, the floor,
        tasks, guardrails, budget stages), redacted, while the call runs and a grace after."""
        return f"{self.prefix}:{{s:{session_id}}}:journal"

    @property
    def records(self) -> str:
        """Sorted set of finished calls: session id scored by when the call ended (epoch s)."""
        return f"{{{self.prefix}}}:sessions"

    def record(self, session_id: str) -> str:
        """A finished call's record and redacted timeline (JSON), kept for the retention time."""
        return f"{{{self.prefix}}}:session:{session_id}"
