"""Fixtures for testing a tandem tool: a :class:`ToolContext` backed by a real private Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from shared.embedded_redis import EmbeddedRedis
from shared.redis_client import connect
from tools import ToolContext, ToolStore


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server for the test run (the one tandem itself starts when unset)."""
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
async def ctx(redis_url: str) -> AsyncIterator[ToolContext]:
    """What tandem hands a tool while it runs, for a pretend call."""
    redis = connect(redis_url)
    async with httpx.AsyncClient() as http:
        yield ToolContext(
            session_id="test-session",
            task_id="test-task",
            idempotency_key="test-key",
            http=http,
            store=ToolStore(redis, prefix="test"),
        )
    await redis.aclose()
