"""Ending a call politely, but surely: say a goodbye, end the call once it has been heard, and end
it anyway when the goodbye is not over within a grace period (withdrawn, dropped or cut off by the
floor, or stuck behind the caller's speech).

The session budget (:mod:`responder.session.budget`) and the idle watch
(:mod:`responder.session.idle`) both close a call this way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from responder.floor import Priority, Utterance, UtteranceKind

Sleep = Callable[[float], Awaitable[None]]
"""Waits the given seconds (``asyncio.sleep``; tests pass a virtual clock's)."""

Outcome = Literal["ended", "hard_stop"]
"""How a close finished: the goodbye was heard, or the grace ran out first."""


class Emit(Protocol):
    """The session journal's ``emit``: appends one timestamped event of ``source``."""

    def __call__(self, source: str, event: str, /, **fields: object) -> object: ...


class GracefulClose:
    """One goodbye that ends the call: heard to the end, the call ends with ``reason``; not heard
    within ``grace_s`` of :meth:`begin` (on ``clock``), it ends with ``hard_stop_reason``.

    Emits ``(source, "ended", reason=reason)`` or ``(source, "hard_stop")``, once, right before
    calling ``end_call``. A close called off (:meth:`cancel`) or shut down (:meth:`aclose`)
    before either ends nothing, and its goodbye turns stale so the floor drops it; a close
    called off may :meth:`begin` again.
    """

    def __init__(
        self,
        *,
        source: str,
        reason: str,
        hard_stop_reason: str,
        grace_s: float,
        post: Callable[[Utterance], None],
        emit: Emit,
        end_call: Callable[[str], None],
        clock: Callable[[], float],
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``post``: the floor arbiter's; ``end_call`` ends the call with a reason."""
        if grace_s <= 0:
            raise ValueError("grace_s must be positive")
        self._source = source
        self._reason = reason
        self._hard_stop_reason = hard_stop_reason
        self._grace_s = grace_s
        self._post = post
        self._emit = emit
        self._end_call = end_call
        self._clock = clock
        self._sleep = sleep
        self._deadline: float | None = None
        self._outcome: Outcome | None = None
        self._closed = False
        self._round = 0
        """Bumped by every begin and cancel: a goodbye of an earlier round is stale."""
        self._timer: asyncio.Task[None] | None = None

    @property
    def begun(self) -> bool:
        """The goodbye was posted (and not called off)."""
        return self._deadline is not None

    @property
    def outcome(self) -> Outcome | None:
        """How the close finished, or None while the goodbye is owed (or before :meth:`begin`)."""
        return self._outcome

    @property
    def deadline(self) -> float | None:
        """When (on the clock) the call is cut if the goodbye is not over by then."""
        return self._deadline

    def begin(self, text: str, *, kind: UtteranceKind) -> None:
        """Post the goodbye ``text`` (said verbatim, not repeated if cut off) and start the grace
        timer. Nothing while a goodbye is owed or after the close finished."""
        if self.begun or self._outcome is not None or self._closed:
            return
        self._round += 1
        this_round = self._round
        self._deadline = self._clock() + self._grace_s
        self._post(
            Utterance(
                kind=kind,
                priority=Priority.GUIDANCE,
                text=text,
                repeat_if_cut=False,
                is_stale=lambda: (
                    self._round != this_round or self._outcome is not None or self._closed
                ),
                on_spoken=lambda _: self._spoken(this_round),
            )
        )
        self._timer = asyncio.get_running_loop().create_task(
            self._expire(), name=f"tandem-{self._source}-goodbye"
        )

    def check(self) -> None:
        """Cut the call now if the grace is over and the goodbye was not heard."""
        if self._outcome is not None or self._closed or self._deadline is None:
            return
        if self._clock() >= self._deadline:
            self._finish("hard_stop")

    def cancel(self) -> bool:
        """Call the close off (the caller spoke up after all); True if it was still owed."""
        if not self.begun or self._outcome is not None or self._closed:
            return False
        self._deadline = None
        self._round += 1
        self._stop_timer()
        return True

    async def aclose(self) -> None:
        """The call ended some other way: end nothing further."""
        self._closed = True
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    def _spoken(self, this_round: int) -> None:
        if self._round == this_round and self._outcome is None and not self._closed:
            self._finish("ended")

    def _finish(self, outcome: Literal["ended", "hard_stop"]) -> None:
        self._outcome = outcome
        self._stop_timer()
        if outcome == "ended":
            self._emit(self._source, "ended", reason=self._reason)
            self._end_call(self._reason)
        else:
            self._emit(self._source, "hard_stop")
            self._end_call(self._hard_stop_reason)

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _expire(self) -> None:
        while self._outcome is None and not self._closed and self._deadline is not None:
            remaining = self._deadline - self._clock()
            if remaining <= 0:
                self.check()
                return
            await self._sleep(remaining)
