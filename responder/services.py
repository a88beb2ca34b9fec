"""Opening and closing what one call shares with the rest of its process's work."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from responder.call import CallServices
from responder.latency import LatencyHistory
from responder.metrics import ResponderMetrics
from shared.bus import ResponderBus
from shared.config import Settings
from shared.errors import ConfigError
from shared.keys import Keys
from shared.profile import Profile
from shared.redis_client import connect
from tools import ToolRegistry


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    profile: Profile,
    metrics: ResponderMetrics,
    registry: ToolRegistry,
    http: httpx.AsyncClient,
) -> AsyncIterator[CallServices]:
    """Redis (``settings.redis_url``, shared with the thinkers), the bus (its tasks name
    ``profile``) and latency history for one call, closed on exit; the rest is the process's."""
    if settings.redis_url is None:
        raise ConfigError("REDIS_URL is not set: a call needs the Redis its thinkers read")
    redis = connect(settings.redis_url.get_secret_value(), name="tandem-responder")
    bus = ResponderBus(redis, settings.bus, profile=profile.id)
    try:
        await bus.start()
        yield CallServices(
            settings=settings,
            redis=redis,
            bus=bus,
            history=LatencyHistory(redis, Keys(settings.bus.prefix)),
            registry=registry,
            http=http,
            profile=profile,
            metrics=metrics,
        )
    finally:
        await redis.aclose()
