"""The production worker with simulated jobs: ``python -m tests.fakes.simulated_job ROOM...``.

Reads its settings from the environment like ``tandem responder start``, builds the worker with
:func:`responder.worker.build_server`, runs it with the production runner
(:func:`responder.runner.serve`) unregistered, and once it has started asks LiveKit's pool for
one job per room with ``simulate_job(ROOM, fake_job=True)``, then one per line read from
stdin until its end (a benchmark adds calls as it goes): each call runs in a real job process
(or, with ``TANDEM_RESPONDER_JOB_EXECUTOR=thread``, a job thread), as a dispatched call would,
only without a LiveKit server. SIGTERM drains like ``start``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TYPE_CHECKING

from responder.metrics_dir import use_multiprocess_metrics
from shared.cli import settings_or_exit

if TYPE_CHECKING:
    from responder.worker import TandemServer


def main(rooms: list[str]) -> None:
    """Run the worker and one simulated job in each of ``rooms`` until SIGTERM."""
    settings = settings_or_exit(sections=("bus", "tools", "responder"))
    # as `tandem responder start` does, before LiveKit's import
    use_multiprocess_metrics(settings.responder.metrics_port)
    from responder.runner import serve
    from responder.worker import build_server

    server = build_server(settings)

    async def jobs(started: TandemServer) -> None:
        for room in rooms:
            await started.simulate_job(room, fake_job=True)
        more: asyncio.Queue[str] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        threading.Thread(target=_read_rooms, args=(loop, more), daemon=True).start()
        while room := await more.get():
            await started.simulate_job(room, fake_job=True)

    asyncio.run(serve(server, register=False, on_started=jobs))


def _read_rooms(loop: asyncio.AbstractEventLoop, rooms: asyncio.Queue[str]) -> None:
    """Put each line of stdin on ``rooms``, then "" at its end (a daemon thread: a worker that
    is stopped while stdin is open does not wait for it)."""
    for line in sys.stdin:
        if line.strip():
            loop.call_soon_threadsafe(rooms.put_nowait, line.strip())
    loop.call_soon_threadsafe(rooms.put_nowait, "")


if __name__ == "__main__":
    main(sys.argv[1:] or ["simulated-room"])
