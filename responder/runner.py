"""Running the worker process: start, serve, and on SIGTERM/SIGINT drain, then exit.

What ``tandem responder start`` and ``dev`` run (LiveKit's own CLI runner would add a second
copy of every log line in its own format; this one uses only the public ``AgentServer`` API and
tandem's logging). Before the worker starts, Redis must answer within
``TANDEM_REDIS_STARTUP_WAIT_S``: calls cannot delegate without it. On the first SIGTERM or SIGINT
(also during that wait) the worker stops taking calls and live calls get
``TANDEM_RESPONDER_DRAIN_S`` to end; then (or at a second signal) live calls are shut down cleanly
and the process exits 0. A worker that cannot run (Redis unreachable, a port in use, LiveKit
unreachable after its retries) ends with the error, and the command exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from responder.worker import TandemServer
from shared.redis_client import check_redis

log = logging.getLogger("tandem.responder")

OnStarted = Callable[[TandemServer], Awaitable[None]]
"""Called once the worker has started (e.g. to simulate a job in an unregistered run)."""


async def serve(
    server: TandemServer,
    *,
    devmode: bool = False,
    register: bool = True,
    on_started: OnStarted | None = None,
) -> None:
    """Run ``server`` until a signal, then drain and close it (see the module docstring)."""
    loop = asyncio.get_running_loop()
    stop, force = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (force if stop.is_set() else stop).set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await _redis_answers(server, stop)
    except BaseException:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        raise
    started = asyncio.Event()
    server.on("worker_started", started.set)
    running = asyncio.create_task(server.run(devmode=devmode, unregistered=not register))
    helpers: set[asyncio.Task[None]] = set()
    if on_started is not None:
        helpers.add(asyncio.create_task(_when(started, server, on_started)))
    try:
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if running.done():
            running.result()  # a worker only ends by itself on an error: raise it
            return
        await _drain(server, force)
        await server.aclose()
        await running
    finally:
        for task in helpers:
            task.cancel()
        with contextlib.suppress(Exception):
            await server.aclose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _redis_answers(server: TandemServer, stop: asyncio.Event) -> None:
    settings = server.settings
    assert settings.redis_url is not None  # build_server checked it
    url = settings.redis_url.get_secret_value()
    await check_redis(url, timeout_s=settings.redis_startup_wait_s, stop=stop)


async def _when(started: asyncio.Event, server: TandemServer, action: OnStarted) -> None:
    await started.wait()
    await action(server)


async def _drain(server: TandemServer, force: asyncio.Event) -> None:
    drain_s = server.settings.responder.drain_s
    log.info(
        "draining: no new calls; live calls have until the drain timeout to end",
        extra={"live_calls": len(server.active_jobs), "drain_s": drain_s},
    )
    draining = asyncio.create_task(server.drain(timeout=int(drain_s) or None))
    forced = asyncio.create_task(force.wait())
    await asyncio.wait({draining, forced}, return_when=asyncio.FIRST_COMPLETED)
    forced.cancel()
    if not draining.done():
        draining.cancel()
        log.warning("asked again to stop: ending live calls now")
    elif draining.exception() is not None:
        log.warning("drain timed out: ending live calls now")
