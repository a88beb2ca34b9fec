"""Caller silence: after ``idle_nudge_s`` with nothing said (LiveKit's ``user_away_timeout``
turns the caller "away"), ask whether they are still there, unless the agent is busy for them;
after ``max_nudges`` unanswered nudges, say goodbye and end the call.

Journal events (source ``"idle"``)::

    ("idle", "nudge_suppressed", because="task" | "transfer" | "speaking" | "floor" | "hold")
    ("idle", "nudge", number=n)
    ("idle", "closing")
    ("idle", "ended", reason="caller_silent")   the goodbye was heard
    ("idle", "hard_stop")                       it was not heard within goodbye_grace_s
    ("idle", "close_cancelled")                 the caller spoke up before it was said
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from responder.floor import Priority, Utterance
from responder.prompts import goodbye_after_silence
from responder.session.closing import Emit, GracefulClose, Sleep
from shared.config import Settings
from shared.profile import Profile

SOURCE = "idle"
"""The journal source of every idle event."""

REASON = "caller_silent"
"""Why a call closed for silence ends (hard stop included)."""


@dataclass(frozen=True)
class IdlePolicy:
    """How the agent treats a silent caller."""

    max_nudges: int
    """Nudges in a row without an answer before the goodbye; 0: never nudge, never close."""
    goodbye_grace_s: float
    """How long the goodbye may take before the call is cut."""
    still_there: str
    """The first nudge (and every odd one)."""
    still_there_again: str
    """The second nudge (and every even one), worded unlike the first."""
    goodbye: str
    """Said before the call ends for silence."""

    @classmethod
    def for_call(cls, settings: Settings, profile: Profile) -> IdlePolicy:
        """The responder's nudge count, the session's grace and the profile's persona lines."""
        persona = profile.persona
        return cls(
            max_nudges=settings.responder.max_nudges,
            goodbye_grace_s=settings.session.goodbye_grace_s,
            still_there=persona.still_there,
            still_there_again=persona.still_there_again,
            goodbye=goodbye_after_silence(profile),
        )

    def nudge_text(self, number: int) -> str:
        """What nudge ``number`` (from 1) says: the two wordings alternate."""
        return self.still_there if number % 2 == 1 else self.still_there_again


class IdleWatch:
    """Nudges a silent caller and closes the call when they stay silent (module docstring)."""

    def __init__(
        self,
        policy: IdlePolicy,
        *,
        post: Callable[[Utterance], None],
        emit: Emit,
        end_call: Callable[[str], None],
        reset_timer: Callable[[], None],
        busy: Callable[[], str | None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``reset_timer``: the session's ``reset_away_timer`` (watch the next silence);
        ``busy``: why the agent is busy for the caller ("task", "transfer", "speaking",
        "floor"), or None."""
        self.policy = policy
        self._post = post
        self._emit = emit
        self._reset_timer = reset_timer
        self._busy = busy
        self._nudges = 0
        self._heard = 0
        """Caller turns so far: a nudge posted before the latest one is moot."""
        self._on_hold = False
        self._close = GracefulClose(
            source=SOURCE,
            reason=REASON,
            hard_stop_reason=REASON,
            grace_s=policy.goodbye_grace_s,
            post=post,
            emit=emit,
            end_call=end_call,
            clock=clock,
            sleep=sleep,
        )

    @property
    def nudges(self) -> int:
        """Unanswered nudges so far."""
        return self._nudges

    @property
    def closing(self) -> bool:
        """The goodbye for silence was posted, and not called off."""
        return self._close.begun

    def caller_away(self) -> None:
        """The caller has been silent for the away timeout: nudge, hold off, or close."""
        if self._close.begun:
            return  # already saying goodbye
        if self.policy.max_nudges == 0:
            self._reset_timer()
            return
        because = "hold" if self._on_hold else self._busy()
        if because is not None:
            self._emit(SOURCE, "nudge_suppressed", because=because)
            self._reset_timer()
            return
        if self._nudges >= self.policy.max_nudges:
            self._emit(SOURCE, "closing")
            self._close.begin(self.policy.goodbye, kind="goodbye")
            return
        self._nudges += 1
        self._emit(SOURCE, "nudge", number=self._nudges)
        heard = self._heard
        self._post(
            Utterance(
                kind="nudge",
                priority=Priority.GUIDANCE,
                text=self.policy.nudge_text(self._nudges),
                repeat_if_cut=False,
                is_stale=lambda: self._heard != heard,
                on_spoken=lambda _: self._reset_timer(),
            )
        )

    def caller_spoke(self) -> None:
        """The caller said something: they are there; a goodbye not yet said is called off."""
        self._heard += 1
        self._nudges = 0
        if self._close.cancel():
            self._emit(SOURCE, "close_cancelled")

    def hold_started(self) -> None:
        """The caller is on hold or waiting for a transfer: their silence is expected."""
        self._on_hold = True

    def hold_ended(self) -> None:
        """The hold is over: count silence afresh from now."""
        if self._on_hold:
            self._on_hold = False
            self._nudges = 0
            self._reset_timer()

    async def aclose(self) -> None:
        """The call is ending: end nothing further."""
        await self._close.aclose()
