"""Consumer-group housekeeping shared by both sides of the bus."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.keys import GROUP, Keys


async def ensure_group(redis: Redis, keys: Keys) -> None:
    """Create the task stream and the ``thinkers`` group if missing (from the stream's start, so
    tasks submitted before any thinker existed are not skipped)."""
    try:
        await redis.xgroup_create(keys.tasks, GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def is_nogroup(error: BaseException) -> bool:
    """Whether ``error`` says the stream or its group is gone (deleted, or Redis restarted)."""
    return isinstance(error, ResponseError) and str(error).startswith("NOGROUP")
