"""Waiting out Redis: retrying a step while Redis refuses it or cannot be reached, and knowing
which parts of a worker are waiting (the worker is unhealthy while any is)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from shared.bus._faults import FaultKind, classify

log = logging.getLogger(__name__)

_T = TypeVar("_T")

BACKOFF = wait_exponential(multiplier=0.05, max=1.0) + wait_random(0, 0.05)
"""The wait after the n-th failed repeat: ``min(1 s, 50 ms * 2^(n-1)) + uniform(0, 50 ms)``."""

_LOG_EVERY_S = 5.0


class Wait(Protocol):
    """How a caller runs one Redis step (a :class:`RedisWait`, in the worker)."""

    def __call__(self, step: Callable[[], Awaitable[_T]], /) -> Awaitable[_T]: ...


class Outage:
    """The parts of one worker (a loop, a task's step) now waiting for Redis, and why.

    Says "waiting for Redis" once when the first part starts waiting (at most every 5 s) and
    "Redis answers again" when the last one stops.
    """

    def __init__(self, consumer: str) -> None:
        self._consumer = consumer
        self._waiting: dict[str, str] = {}
        self._last_warning = float("-inf")

    @property
    def waiting(self) -> bool:
        """True while some part of the worker waits for Redis."""
        return bool(self._waiting)

    def begin(self, part: str, code: str) -> None:
        """``part`` waits because Redis answered ``code`` (or could not be reached)."""
        now = asyncio.get_running_loop().time()
        if not self._waiting and now - self._last_warning > _LOG_EVERY_S:
            self._last_warning = now
            log.warning(
                "waiting for Redis; retrying", extra={"consumer": self._consumer, "code": code}
            )
        self._waiting[part] = code

    def end(self, part: str) -> None:
        """``part`` no longer waits (its step went through, or it gave up)."""
        if self._waiting.pop(part, None) is not None and not self._waiting:
            log.info("Redis answers again", extra={"consumer": self._consumer})


class RedisWait:
    """Runs a step against Redis for one part of a worker, repeating it while it fails with a
    ``RETRY`` fault (backoff: :data:`BACKOFF`), until it goes through, fails otherwise, or
    ``give_up()`` says to stop waiting (then the last error is raised)."""

    def __init__(self, outage: Outage, part: str, *, give_up: Callable[[], bool]) -> None:
        self._outage = outage
        self._part = part
        self._give_up = give_up

    async def __call__(self, step: Callable[[], Awaitable[_T]]) -> _T:
        """``await step()``, repeated as described above. The first try costs nothing extra."""
        try:
            return await step()
        except Exception as error:
            if not self._worth_waiting(error):
                raise
            self._begin(error)
        retrying = AsyncRetrying(
            retry=retry_if_exception(self._worth_waiting),
            wait=BACKOFF,
            before_sleep=self._note,
            reraise=True,
        )

        async def again() -> _T:  # a coroutine function: tenacity awaits only those
            return await step()

        try:
            result: _T = await retrying(again)
            return result
        finally:
            self._outage.end(self._part)

    def _worth_waiting(self, error: BaseException) -> bool:
        fault = classify(error)
        return fault is not None and fault.kind is FaultKind.RETRY and not self._give_up()

    def _note(self, state: RetryCallState) -> None:
        if state.outcome is not None and (error := state.outcome.exception()) is not None:
            self._begin(error)

    def _begin(self, error: BaseException) -> None:
        fault = classify(error)
        self._outage.begin(self._part, fault.code if fault is not None else "")
