"""The production worker with one simulated job: ``python -m tests.fakes.simulated_job ROOM``.

Reads its settings from the environment like ``tandem responder start``, builds the worker with
:func:`responder.worker.build_server`, runs it with the production runner
(:func:`responder.runner.serve`) unregistered, and once it has started asks LiveKit's pool for
one job with ``simulate_job(ROOM, fake_job=True)``: the call runs in a real job process, as a
dispatched call would, only without a LiveKit server. SIGTERM drains like ``start``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from responder.metrics_dir import use_multiprocess_metrics
from shared.cli import settings_or_exit

if TYPE_CHECKING:
    from responder.worker import TandemServer


def main(room: str) -> None:
    """Run the worker and one simulated job in ``room`` until SIGTERM."""
    settings = settings_or_exit(sections=("bus", "tools", "responder"))
    if settings.responder.metrics_port:
        use_multiprocess_metrics()  # as `tandem responder start` does, before LiveKit's import
    from responder.runner import serve
    from responder.worker import build_server

    server = build_server(settings)

    async def one_job(started: TandemServer) -> None:
        await started.simulate_job(room, fake_job=True)

    asyncio.run(serve(server, register=False, on_started=one_job))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "simulated-room")
