"""The session journal: every event of one call, in order, on the call's clock.

An event is a plain JSON-able dict::

    {"t": 12.345, "ts": 1765000000123, "source": "responder", "event": "floor_spoken", ...}

``t`` is seconds since the call started (monotonic), ``ts`` the same instant as wall-clock epoch
milliseconds; ``source`` says which part of the call it comes from: ``session`` (LiveKit's own
session events), ``responder`` (delegation, the floor, metrics), ``thinker`` (the thinker's
events, as the responder applied them), ``budget`` and ``idle`` (session stages), ``guardrail``
(rule hits), ``hangup`` (the agent ending the call), ``phone`` (the phone line: keys, transfers,
an outbound call's answer and voicemail screening), and in simulated calls ``caller`` and
``simulator``.

Emitting is synchronous and cheap: the event is appended to :attr:`SessionJournal.events` and
handed to each handler in turn. Handlers must be light (deriving state); anything that waits
(Redis, redaction, storage) queues the event and works in a background task
(:class:`~responder.session.writer.JournalWriter`), so a journal never delays audio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tandem.responder.session")

STAGE_SOURCES = ("budget", "idle", "guardrail", "hangup")
"""Sources whose events are the session's stages (a guardrail's ``hit`` events are hits, its
closing of a call a stage)."""

JournalEvent = dict[str, Any]
"""One event of the journal (see the module docstring for its keys)."""
Handler = Callable[[JournalEvent], None]


class SessionJournal:
    """The ordered events of one call, and the call's one clock."""

    def __init__(
        self,
        session_id: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.session_id = session_id
        self.events: list[JournalEvent] = []
        """Every event so far, in order (the call record is built from these)."""
        self.handlers: list[Handler] = []
        """Called with each event as it is emitted; must not block."""
        self._clock = clock
        self._wall = wall
        self.origin = clock()
        """The call's start on the monotonic clock (``t`` = 0)."""
        self.wall_origin = wall()
        """The call's start as wall-clock epoch seconds."""
        self._started = False

    def start_clock(self) -> None:
        """Set ``t`` = 0 to now; only the first call counts (the simulator starts the clock
        before the call, so its recording and the journal share one origin)."""
        if not self._started:
            self._started = True
            self.origin = self._clock()
            self.wall_origin = self._wall()

    def now(self) -> float:
        """Seconds since the call started."""
        return self._clock() - self.origin

    def at(self, monotonic: float) -> float:
        """A monotonic instant as seconds since the call started."""
        return monotonic - self.origin

    def at_wall(self, epoch_s: float) -> float:
        """A wall-clock instant (epoch seconds) as seconds since the call started."""
        return epoch_s - self.wall_origin

    def emit(self, source: str, event: str, /, **fields: Any) -> JournalEvent:
        """Append one event now and hand it to the handlers; returns it."""
        t = round(self.now(), 3)
        record: JournalEvent = {
            "t": t,
            "ts": round((self.wall_origin + t) * 1000),
            "source": source,
            "event": event,
            **fields,
        }
        self.events.append(record)
        for handler in list(self.handlers):
            try:
                handler(record)
            except Exception:  # one broken handler must not stop the call or the others
                log.exception("journal handler failed", extra={"event": event})
        return record
