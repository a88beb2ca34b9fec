"""How late a call's event loop runs: the first thing a busy machine takes from a call.

Every part of a call (the realtime websocket, the agent's audio playout, turn handling, the floor,
the bus) runs on its job's one event loop. When the CPU is short, or something blocks the loop,
timers fire late and so does every audio frame. :class:`LoopLagProbe` asks to wake every
``interval_s`` and records how late it woke in ``tandem_responder_event_loop_lag_seconds``: its
p99 rising is the sign that a responder holds more calls than its CPU serves (see
BENCHMARKS.md, "Calls one responder machine holds"). It costs one timer per interval per call.
LiveKit's own loop monitor (``LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS``) reports only blocks of 100 ms
and more, with a stack: this one records every wake-up, so a scrape has the whole distribution.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

INTERVAL_S = 0.1
"""How often the probe wakes (10 samples a second per call)."""


class Observer(Protocol):
    """Where the probe's samples go: a Prometheus ``Histogram``, or a benchmark's list."""

    def observe(self, amount: float) -> None: ...


class LoopLagProbe:
    """Samples the lateness of the running event loop into ``histogram`` until :meth:`aclose`."""

    def __init__(self, histogram: Observer, interval_s: float = INTERVAL_S) -> None:
        self._histogram = histogram
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tandem-loop-lag")

    async def aclose(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._interval_s
            await asyncio.sleep(self._interval_s)
            self._histogram.observe(max(0.0, loop.time() - due))
