"""Stand-ins for what session control talks to: a virtual clock (time moves only when a test
says so), the session journal (records events with the clock's time) and the floor (records
posted utterances; a test "speaks" or drops them by hand)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from responder.floor import Utterance


class VirtualClock:
    """Monotonic seconds that advance only in :meth:`advance`; :meth:`sleep` waits on them."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.slept: list[float] = []
        """Every delay asked of :meth:`sleep`, in order."""

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        """Wait until the clock has advanced by ``delay``."""
        self.slept.append(delay)
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(delay, 0.0), next(self._order), waiter))
        await waiter

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own time and letting it run."""
        until = self.now + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= until:
            due, _, waiter = heapq.heappop(self._sleepers)
            self.now = max(self.now, due)
            if not waiter.done():
                waiter.set_result(None)
            await settle()
        self.now = until
        await settle()


async def settle() -> None:
    """Let every task that is ready run until it waits again (no time passes)."""
    for _ in range(10):
        await asyncio.sleep(0)


@dataclass(frozen=True)
class Entry:
    """One journal event."""

    at: float
    source: str
    event: str
    fields: dict[str, Any]


@dataclass
class Journal:
    """Records ``emit`` calls with the clock's time."""

    clock: VirtualClock
    entries: list[Entry] = field(default_factory=list)

    def emit(self, source: str, event: str, /, **fields: object) -> None:
        """The journal's ``emit``."""
        self.entries.append(Entry(self.clock(), source, event, dict(fields)))

    def events(self) -> list[str]:
        """``"source.event"`` of every entry, in order."""
        return [f"{e.source}.{e.event}" for e in self.entries]

    def one(self, source: str, event: str) -> Entry:
        """The only entry of ``source``/``event``."""
        found = [e for e in self.entries if (e.source, e.event) == (source, event)]
        assert len(found) == 1, f"{source}.{event}: {len(found)} entries"
        return found[0]


@dataclass
class Floor:
    """Keeps what was posted; nothing is spoken unless a test says so."""

    posted: list[Utterance] = field(default_factory=list)

    def post(self, utterance: Utterance) -> None:
        """The arbiter's ``post``."""
        self.posted.append(utterance)

    def speak(self, utterance: Utterance) -> None:
        """Say ``utterance`` to the end, as the arbiter would (stale ones are dropped)."""
        assert utterance in self.posted, "never posted"
        assert not utterance.is_stale(), "the arbiter would have dropped it"
        utterance.attempts += 1
        if utterance.on_spoken is not None:
            utterance.on_spoken(utterance)

    def last(self) -> Utterance:
        """The latest posted utterance."""
        assert self.posted, "nothing was posted"
        return self.posted[-1]


@dataclass
class Ends:
    """Records ``end_call`` reasons."""

    reasons: list[str] = field(default_factory=list)

    def end_call(self, reason: str) -> None:
        """The call's ``end_call``."""
        self.reasons.append(reason)
