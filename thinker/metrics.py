"""Prometheus metrics of a thinker process, and the HTTP server for them and for health checks."""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from shared.build_info import build_labels
from shared.bus import Backlog

log = logging.getLogger(__name__)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)


_NAN = float("nan")


class ThinkerMetrics:
    """Every metric a thinker exports, on its own registry (no global state): tandem's series,
    ``tandem_build_info``, and the process (``process_*``: CPU, memory, open files; Linux only)
    and platform (``python_info``) series prometheus_client provides.

    The ``tandem_bus_*`` gauges describe the shared task stream, not this thinker: every
    thinker exports the same values, so aggregate them with ``max()``, never ``sum()``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.build_info = Gauge(
            "tandem_build_info",
            "Always 1; the labels say which tandem, Python and livekit-agents run.",
            list(build_labels()),
            registry=r,
        )
        self.build_info.labels(**build_labels()).set(1)
        self.in_flight = Gauge(
            "tandem_thinker_tasks_in_flight", "Tasks being processed.", registry=r
        )
        self.stage_seconds = Histogram(
            "tandem_thinker_stage_seconds",
            "Task latency by stage: pickup (submitted to started), answer (started to done).",
            ["stage"],
            buckets=_SECONDS,
            registry=r,
        )
        self.tasks = Counter(
            "tandem_thinker_tasks_total", "Tasks handled, by outcome.", ["outcome"], registry=r
        )
        self.model_first_token_seconds = Histogram(
            "tandem_thinker_model_first_token_seconds",
            "Model time to first token.",
            ["model"],
            buckets=_SECONDS,
            registry=r,
        )
        self.tool_seconds = Histogram(
            "tandem_thinker_tool_seconds",
            "Tool call durations.",
            ["tool", "outcome"],
            buckets=_SECONDS,
            registry=r,
        )
        self.errors = Counter(
            "tandem_thinker_errors_total", "Errors by kind.", ["kind"], registry=r
        )
        self.guardrail_hits = Counter(
            "tandem_thinker_guardrail_hits_total",
            "Guardrail hits on results before they are published, by rule and action "
            "(redact, drop).",
            ["rule", "action"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "tandem_bus_dead_letters",
            "Entries in the dead-letter stream (NaN when Redis did not answer the last scrape).",
            registry=r,
        )
        self.pending = Gauge(
            "tandem_bus_pending_tasks",
            "Tasks delivered to the thinkers group and not yet acknowledged (NaN when Redis did "
            "not answer the last scrape). The same on every thinker: use max().",
            registry=r,
        )
        self.lag = Gauge(
            "tandem_bus_group_lag",
            "Tasks in the stream not yet delivered to any thinker. NaN when Redis cannot tell "
            "(before 7.0, or entries trimmed past the group) or did not answer. Use max().",
            registry=r,
        )
        self.oldest_pending_age = Gauge(
            "tandem_bus_oldest_pending_age_seconds",
            "Seconds since the oldest pending task was submitted (from its entry id, by the "
            "Redis clock); 0 when nothing is pending, NaN when Redis did not answer. Use max().",
            registry=r,
        )

    def set_backlog(self, backlog: Backlog | None) -> None:
        """Show ``backlog``, or NaN everywhere when it could not be read (unknown, not zero)."""
        if backlog is None:
            for gauge in (self.dead_letters, self.pending, self.lag, self.oldest_pending_age):
                gauge.set(_NAN)
            return
        self.dead_letters.set(backlog.dead_letters)
        self.pending.set(backlog.pending)
        self.lag.set(_NAN if backlog.lag is None else backlog.lag)
        self.oldest_pending_age.set(backlog.oldest_pending_age_s or 0.0)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


class HealthServer:
    """``GET /healthz`` (200 while ``healthy()`` says so, else 503) and ``GET /metrics``."""

    def __init__(
        self,
        metrics: ThinkerMetrics,
        healthy: Callable[[], Awaitable[bool]],
        before_scrape: Callable[[], Awaitable[None]],
    ) -> None:
        self._metrics = metrics
        self._healthy = healthy
        self._before_scrape = before_scrape
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0: any free port, then see :attr:`port`).

        Raises :class:`OSError` if the port cannot be had (in use, not allowed, no such host).
        """
        listener = socket.create_server((host, port))  # first: a taken port fails before setup
        app = web.Application()
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/metrics", self._scrape)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener).start()
        log.info("health and metrics server listening", extra={"host": host, "port": self.port})

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, _request: web.Request) -> web.Response:
        ok = await self._healthy()
        return web.json_response({"status": "ok" if ok else "unhealthy"}, status=200 if ok else 503)

    async def _scrape(self, _request: web.Request) -> web.Response:
        await self._before_scrape()
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
