"""The responder worker's health endpoint: 200 only while the worker can take a call.

LiveKit's own endpoint answers 200 as long as its process runs, even when every job process fails
to start (a worker that cannot take a single call looked healthy) or before it is registered.
tandem serves ``GET /`` and ``GET /worker`` on ``TANDEM_RESPONDER_HTTP_PORT`` itself, from what
:class:`WorkerHealth` observes of the worker:

* registered with LiveKit (and not reconnecting), unless the worker runs unregistered;
* job processes initialise: at least one has initialised and the latest attempt did not fail
  (a prewarm that raises, a pickling error, an initialisation timeout), or none is wanted yet;
* not draining (SIGTERM): a draining worker takes no new calls.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from livekit.agents import AgentServer

log = logging.getLogger("tandem.responder.health")


@dataclass(frozen=True)
class HealthStatus:
    """Whether the worker can take a call now, and why not."""

    ok: bool
    reason: str


class WorkerHealth:
    """Observes an ``AgentServer``: registration and its job processes' initialisation.

    Reads the process pool's events (``process_created`` / ``process_ready`` /
    ``process_closed``), which LiveKit's pool emits but does not expose otherwise; the pool is
    found on the server once it has started (livekit-agents is pinned, and tests cover this)."""

    def __init__(self, server: AgentServer) -> None:
        self._server = server
        self.requires_registration = True
        """False for a worker that runs unregistered (console, simulated jobs)."""
        self._pool: Any = None
        self._attempts: set[str] = set()
        self._ready: set[str] = set()
        self.failures_in_a_row = 0
        """Job processes that failed to initialise since the last one that did."""
        self.initialised = 0
        """Job processes initialised so far."""
        self._registered = False
        server.on("worker_started", self._watch_pool)
        server.on("worker_registered", self._on_registered)

    def status(self) -> HealthStatus:
        """Healthy, or the first reason the worker cannot take a call."""
        server = self._server
        if self._pool is None:
            return HealthStatus(False, "starting")
        if server.draining:
            return HealthStatus(False, "draining: no new calls")
        if self.requires_registration:
            if getattr(server, "_connection_failed", False):
                return HealthStatus(False, "could not connect to LiveKit")
            if not self._registered or getattr(server, "_connecting", False):
                return HealthStatus(False, "not registered with LiveKit")
        if self.failures_in_a_row:
            return HealthStatus(
                False, f"job processes fail to initialise ({self.failures_in_a_row} in a row)"
            )
        if not self._ready and self._pool.target_idle_processes > 0:
            return HealthStatus(False, "no job process has initialised yet")
        return HealthStatus(True, "ok")

    def summary(self) -> dict[str, Any]:
        """What ``GET /worker`` shows."""
        server = self._server
        status = self.status()
        return {
            "healthy": status.ok,
            "reason": status.reason,
            "worker_id": server.id,
            "registered": self._registered,
            "draining": server.draining,
            "active_jobs": len(server.active_jobs) if self._pool is not None else 0,
            "processes_ready": len(self._ready),
            "processes_initialised": self.initialised,
            "initialisation_failures_in_a_row": self.failures_in_a_row,
        }

    def _on_registered(self, *_: Any) -> None:
        self._registered = True

    def _watch_pool(self) -> None:
        pool = self._server._proc_pool
        self._pool = pool
        # processes the pool started before it announced the worker: its idle, warmed ones
        self._ready = {proc.id for proc in pool.processes if proc.started}
        self.initialised = len(self._ready)
        pool.on("process_created", self._on_created)
        pool.on("process_ready", self._on_ready)
        pool.on("process_closed", self._on_closed)

    def _on_created(self, proc: Any) -> None:
        self._attempts.add(proc.id)

    def _on_ready(self, proc: Any) -> None:
        self._ready.add(proc.id)
        self.initialised += 1
        self.failures_in_a_row = 0

    def _on_closed(self, proc: Any) -> None:
        if proc.id in self._attempts and proc.id not in self._ready:
            self.failures_in_a_row += 1
        self._attempts.discard(proc.id)
        self._ready.discard(proc.id)


class HealthServer:
    """``GET /`` (200 "OK", or 503 with the reason) and ``GET /worker`` (JSON)."""

    def __init__(self, health: WorkerHealth) -> None:
        self._health = health
        self._runner: web.AppRunner | None = None
        self._listener: socket.socket | None = None
        self.port = 0

    def bind(self, host: str, port: int) -> None:
        """Take the port now (``OSError`` if it is in use), before the worker starts."""
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]

    async def start(self) -> None:
        """Serve on the bound port."""
        if self._listener is None:
            raise RuntimeError("HealthServer.bind() first")
        app = web.Application()
        app.router.add_get("/", self._health_check)
        app.router.add_get("/worker", self._worker)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._listener).start()
        log.info("health endpoint listening", extra={"port": self.port})

    async def aclose(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def _health_check(self, _request: web.Request) -> web.Response:
        status = self._health.status()
        return web.Response(status=200 if status.ok else 503, text=status.reason)

    async def _worker(self, _request: web.Request) -> web.Response:
        summary = self._health.summary()
        return web.json_response(summary, status=200 if summary["healthy"] else 503)
