"""A thinker process: the bus worker, the brain, the tools, health and metrics, and shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

import anthropic
import httpx
import httpx2

from shared.bus import TaskWorker
from shared.config import Settings
from shared.embedded_redis import redis_url_or_private
from shared.keys import Keys
from shared.redis_client import connect
from thinker.brain import Brain
from thinker.claude_brain import ClaudeBrain
from thinker.handler import ThinkerHandler
from thinker.metrics import HealthServer, ThinkerMetrics
from tools import ToolRegistry

log = logging.getLogger("tandem.thinker")

CONNECT_TIMEOUT_S = 5.0
"""A busy event loop can take more than a second to finish a TLS handshake."""


def choose_brain(settings: Settings, metrics: ThinkerMetrics) -> Brain:
    """Claude when ``ANTHROPIC_API_KEY`` is set; otherwise the offline demo brain, said loudly."""
    if settings.anthropic_api_key is None:
        from thinker.demo_brain import DemoBrain

        log.warning(
            "ANTHROPIC_API_KEY is not set: the offline demo brain answers tasks. It is rule-based, "
            "knows only the restaurant demo, and is not a language model",
            extra={"simulated_think_s": settings.thinker.demo_think_s},
        )
        return DemoBrain(think_s=settings.thinker.demo_think_s)
    t = settings.thinker
    client = anthropic.AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=t.max_retries,
        timeout=httpx2.Timeout(t.request_timeout_s, connect=CONNECT_TIMEOUT_S),
        # one connection per in-flight model request, kept alive between waves (no new TLS)
        http_client=anthropic.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(
                max_connections=settings.bus.concurrency + 16,
                max_keepalive_connections=settings.bus.concurrency,
            )
        ),
    )
    log.info(
        "Claude answers tasks", extra={"fast_model": t.fast_model, "strong_model": t.strong_model}
    )
    return ClaudeBrain(
        client,
        t,
        on_first_token=lambda model, s: metrics.model_first_token_seconds.labels(model).observe(s),
        on_model_error=lambda kind: metrics.errors.labels(f"model_{kind}").inc(),
    )


async def serve(settings: Settings, *, brain: Brain | None = None) -> None:
    """Run a thinker until SIGTERM/SIGINT, then drain: in-flight tasks get ``drain_s`` to finish
    and the rest are handed back to other workers, so none is lost."""
    metrics = ThinkerMetrics()
    t = settings.thinker
    registry = ToolRegistry.discover(
        enabled=settings.tools.enabled,
        disabled=settings.tools.disabled,
        strict=settings.tools.strict,
    )
    brain = brain or choose_brain(settings, metrics)
    with redis_url_or_private(settings.redis_url) as url:
        redis = connect(url, name="tandem-thinker")
        async with httpx.AsyncClient(timeout=10.0) as http:
            handler = ThinkerHandler(
                brain, registry, redis, http, metrics, prefix=settings.bus.prefix
            )
            worker = TaskWorker(redis, handler, settings.bus)
            metrics.in_flight.set_function(lambda: worker.in_flight)
            keys = Keys(settings.bus.prefix)

            async def healthy() -> bool:
                if worker.stopping:
                    return False
                try:
                    return bool(await asyncio.wait_for(redis.ping(), 1.0))
                except Exception:
                    return False

            async def before_scrape() -> None:
                try:
                    metrics.dead_letters.set(await asyncio.wait_for(redis.xlen(keys.dlq), 1.0))
                except Exception:
                    metrics.errors.labels("metrics_redis").inc()

            server = HealthServer(metrics, healthy, before_scrape)
            if t.http_port:
                await server.start(t.http_host, t.http_port)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, worker.request_stop, t.drain_s)
            gc.freeze()  # start-up objects leave the collector's view: no 100 ms full collections
            log.info(
                "thinker started",
                extra={
                    "brain": brain.name,
                    "tools": len(registry),
                    "concurrency": settings.bus.concurrency,
                    "consumer": worker.consumer,
                },
            )
            try:
                await worker.run()
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
                await server.stop()
                await redis.aclose()
    log.info("thinker stopped", extra={"answered": dict(worker.stats.answered)})
