"""Opening and closing what the calls of one responder process share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from responder.call import CallServices
from responder.latency import LatencyHistory
from responder.metrics import ResponderMetrics
from shared.bus import ResponderBus
from shared.config import Settings
from shared.keys import Keys
from shared.redis_client import connect
from tools import ToolRegistry


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, redis_url: str, metrics: ResponderMetrics
) -> AsyncIterator[CallServices]:
    """Redis, the bus, latency history, the tool registry and an HTTP client, closed on exit."""
    redis = connect(redis_url, name="tandem-responder")
    bus = ResponderBus(redis, settings.bus)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        try:
            await bus.start()
            yield CallServices(
                settings=settings,
                redis=redis,
                bus=bus,
                history=LatencyHistory(redis, Keys(settings.bus.prefix)),
                registry=ToolRegistry.discover(
                    enabled=settings.tools.enabled,
                    disabled=settings.tools.disabled,
                    strict=settings.tools.strict,
                ),
                http=http,
                metrics=metrics,
            )
        finally:
            await redis.aclose()
