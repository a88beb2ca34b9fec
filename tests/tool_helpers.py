"""Building a real ToolContext for tests: a private Redis, an HTTP client, a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import httpx
from redis.asyncio import Redis

from tools import ToolContext, ToolStore


def make_context(
    redis: Redis,
    *,
    http: httpx.AsyncClient | None = None,
    idempotency_key: str = "task-1-key",
    confirmed: bool = False,
    now: datetime = datetime(2026, 11, 24, 10, 0, tzinfo=UTC),  # a Tuesday morning
    progress: list[str] | None = None,
) -> ToolContext:
    """A context whose progress lines are appended to ``progress``."""
    lines = progress if progress is not None else []

    async def record(message: str) -> None:
        lines.append(message)

    clock: Callable[[], datetime] = lambda: now  # noqa: E731
    return ToolContext(
        session_id="call-1",
        task_id="task-1",
        idempotency_key=idempotency_key,
        http=http or httpx.AsyncClient(transport=httpx.MockTransport(_no_network)),
        store=ToolStore(redis, "test"),
        progress=record,
        confirmed=confirmed,
        clock=clock,
    )


def _no_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("tests have no network", request=request)


def friday_next_week() -> str:
    """A Friday 7-13 days from today (ISO): bookable on the real clock the thinker uses."""
    today = date.today()
    return (today + timedelta(days=(4 - today.weekday()) % 7 + 7)).isoformat()
