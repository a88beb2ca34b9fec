"""The session budget: a call may run ``max_duration_s`` of call time (time on hold or waiting for
a transfer does not count). ``wrap_up_before_s`` before the limit the agent is asked to steer the
call to a close; at the limit it says the profile's goodbye and the call ends, cut after
``goodbye_grace_s`` if the goodbye is not heard by then.

Stages, each reported to the session journal once, in this order::

    running -> wrap_up -> goodbye -> ended        ("budget", "wrap_up", remaining_s=...)
                                  \\-> hard_stop   ("budget", "goodbye")
                                                   ("budget", "ended", reason="max_duration")
                                                   ("budget", "hard_stop")

A budget that starts (or comes back from a hold) already past the wrap-up point wraps up at once;
past the limit, it says goodbye at once and skips the wrap-up. A wrap-up of 0 seconds means no
wrap-up stage; a limit of 0 means no budget at all: no task, no events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from responder.floor import Priority, Utterance
from responder.prompts import wrap_up_instructions
from responder.session.closing import Emit, GracefulClose, Sleep
from shared.config import Settings
from shared.errors import ConfigError
from shared.profile import Profile

Stage = Literal["running", "wrap_up", "goodbye", "ended", "hard_stop"]
"""Where a call is in its budget."""

SOURCE = "budget"
"""The journal source of every budget event."""

_ON_TIME_S = 1e-3
"""A wake-up this close to a deadline counts as on time (a sleep's length is rounded)."""


@dataclass(frozen=True)
class BudgetPolicy:
    """How long a call may run and when it starts to wrap up, in seconds of call time."""

    max_duration_s: float
    """0: no limit."""
    wrap_up_before_s: float
    """Seconds before the limit at which the agent is asked to steer to a close (0: none)."""
    goodbye_grace_s: float
    """How long the goodbye may take before the call is cut."""

    def __post_init__(self) -> None:
        if self.max_duration_s < 0 or self.wrap_up_before_s < 0 or self.goodbye_grace_s <= 0:
            raise ValueError("durations must not be negative, and the grace must be positive")
        if self.limited and self.wrap_up_before_s >= self.max_duration_s:
            raise ValueError("wrap_up_before_s must be shorter than max_duration_s")

    @property
    def limited(self) -> bool:
        """The call has a time limit."""
        return self.max_duration_s > 0

    @property
    def wrap_up_at_s(self) -> float:
        """Call time at which the wrap-up starts."""
        return self.max_duration_s - self.wrap_up_before_s

    @classmethod
    def for_call(cls, settings: Settings, profile: Profile) -> BudgetPolicy:
        """The profile's ``[session]``, with the settings' overrides applied;
        :class:`ConfigError` naming the variables if the wrap-up is not shorter than the limit."""
        spec, overrides = profile.spec.session, settings.session
        limit, limit_from = spec.max_duration_s, "the profile's [session] max_duration_s"
        if overrides.max_duration_s is not None:
            limit, limit_from = overrides.max_duration_s, "TANDEM_SESSION_MAX_DURATION_S"
        wrap_up, wrap_up_from = spec.wrap_up_before_s, "the profile's [session] wrap_up_before_s"
        if overrides.wrap_up_before_s is not None:
            wrap_up, wrap_up_from = overrides.wrap_up_before_s, "TANDEM_SESSION_WRAP_UP_BEFORE_S"
        if limit and wrap_up >= limit:
            raise ConfigError(
                f"{wrap_up_from} must be shorter than {limit_from} (profile {profile.id!r}): "
                "change one, or set the limit to 0 for none"
            )
        return cls(limit, wrap_up, overrides.goodbye_grace_s)


class SessionBudget:
    """Watches one call's time and closes it at its limit (see the module's docstring)."""

    def __init__(
        self,
        policy: BudgetPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        post: Callable[[Utterance], None],
        emit: Emit,
        end_call: Callable[[str], None],
        goodbye: str,
        busy: Callable[[], bool],
        sleep: Sleep = asyncio.sleep,
        started_at: float | None = None,
    ) -> None:
        """``post``: the floor arbiter's; ``emit``: the session journal's; ``end_call`` ends the
        call with a reason; ``goodbye``: the profile's goodbye line; ``busy``: a delegated task
        is running. ``started_at``: when the call started on ``clock`` (default: now)."""
        self.policy = policy
        self._clock = clock
        self._post = post
        self._emit = emit
        self._goodbye = goodbye
        self._busy = busy
        self._sleep = sleep
        self._started_at = clock() if started_at is None else started_at
        self._held_s = 0.0
        self._hold_since: float | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._stage: Stage = "running"
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._close = GracefulClose(
            source=SOURCE,
            reason="max_duration",
            hard_stop_reason="max_duration_hard_stop",
            grace_s=policy.goodbye_grace_s,
            post=post,
            emit=emit,
            end_call=end_call,
            clock=clock,
            sleep=sleep,
        )

    @property
    def stage(self) -> Stage:
        """Where the call is in its budget."""
        outcome = self._close.outcome
        if outcome == "ended" or outcome == "hard_stop":
            return outcome
        return self._stage

    @property
    def on_hold(self) -> bool:
        """The call's time is stopped (on hold, or waiting for a transfer)."""
        return self._hold_since is not None

    def call_time(self) -> float:
        """Seconds the call has run, not counting time on hold."""
        now = self._clock()
        held = self._held_s + (now - self._hold_since if self._hold_since is not None else 0.0)
        return now - self._started_at - held

    def start(self) -> None:
        """Start watching the clock (idempotent; nothing to watch without a limit)."""
        if self._task is None and self.policy.limited and not self._closed:
            self._task = asyncio.create_task(self._run(), name="tandem-budget")

    async def aclose(self) -> None:
        """The call is ending: stop the budget (no further events, nothing ends the call)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close.aclose()

    def hold_started(self) -> None:
        """The caller is on hold or waiting for a transfer: call time stops."""
        if self._hold_since is None:
            self._hold_since = self._clock()
            self._resumed.clear()

    def hold_ended(self) -> None:
        """The hold is over: call time runs again, every deadline moved by the hold's length."""
        if self._hold_since is not None:
            self._held_s += self._clock() - self._hold_since
            self._hold_since = None
            self._resumed.set()

    def tick(self) -> None:
        """Act on the call time now: wrap up, say goodbye, or cut a goodbye that took too long."""
        if self._closed or not self.policy.limited:
            return
        if self._stage == "goodbye":
            self._close.check()
            return
        elapsed = self.call_time() + _ON_TIME_S
        if elapsed >= self.policy.max_duration_s:
            self._say_goodbye()
        elif self._stage == "running" and elapsed >= self.policy.wrap_up_at_s:
            self._wrap_up(self.policy.max_duration_s - self.call_time())

    def _until_next(self) -> float | None:
        """Seconds (on the clock) until the next stage, or None if no deadline runs."""
        if self._stage == "goodbye" or self._closed or self.on_hold:
            return None
        due = self.policy.max_duration_s
        if self._stage == "running" and self.policy.wrap_up_before_s > 0:
            due = self.policy.wrap_up_at_s
        return max(due - self.call_time(), 0.0)

    async def _run(self) -> None:
        while not self._closed and self._stage != "goodbye":
            self.tick()
            delay = self._until_next()
            if delay is None:
                await self._resumed.wait()  # on hold: no deadline runs until it ends
            else:
                await self._sleep(delay)
        # from here the goodbye's own grace timer ends the call

    def _wrap_up(self, remaining_s: float) -> None:
        self._stage = "wrap_up"
        self._emit(SOURCE, "wrap_up", remaining_s=round(remaining_s, 1))
        self._post(
            Utterance(
                kind="wrap_up",
                priority=Priority.GUIDANCE,
                instructions=wrap_up_instructions(remaining_s, self._busy()),
                repeat_if_cut=True,
                is_stale=lambda: self._stage != "wrap_up" or self._closed,
            )
        )

    def _say_goodbye(self) -> None:
        self._stage = "goodbye"
        self._emit(SOURCE, "goodbye")
        self._close.begin(self._goodbye, kind="goodbye")
