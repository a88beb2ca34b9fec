"""Building a real ToolContext for tests (a private Redis, an HTTP client, a fixed clock) and the
profiles it may be for: the demo restaurant's, or a small one written for the test."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import httpx
from redis.asyncio import Redis

from shared.profile import Profile, load_profile
from tools import ToolContext, ToolStore

ROOT = Path(__file__).resolve().parents[1]


@cache
def restaurant_profile() -> Profile:
    """The demo restaurant's profile, read from this checkout."""
    return load_profile(ROOT / "profiles" / "restaurant", profile_id="restaurant")


def write_profile(
    directory: Path,
    *,
    name: str,
    knowledge: str,
    timezone: str = "Europe/Lisbon",
    tools: tuple[str, ...] = ("search_knowledge",),
) -> Profile:
    """A profile in ``directory`` for the business ``name``, whose one knowledge file is
    ``knowledge`` (markdown with ``## `` sections), loaded as tandem loads any profile."""
    (directory / "knowledge").mkdir(parents=True, exist_ok=True)
    (directory / "knowledge" / "facts.md").write_text(knowledge, encoding="utf-8")
    (directory / "profile.toml").write_text(
        f"""name = {json.dumps(name)}
timezone = {json.dumps(timezone)}
[persona]
instructions = {json.dumps(f"You answer the phone for {name}.")}
greeting = {json.dumps(f"Hello, {name} here. How can I help?")}
goodbye = {json.dumps(f"Thanks for calling {name}. Bye now!")}
[tools]
allow = {json.dumps(list(tools))}
[knowledge]
files = ["knowledge/facts.md"]
""",
        encoding="utf-8",
    )
    return load_profile(directory)


def make_context(
    redis: Redis,
    *,
    http: httpx.AsyncClient | None = None,
    idempotency_key: str = "task-1-key",
    confirmed: bool = False,
    now: datetime = datetime(2026, 11, 24, 10, 0, tzinfo=UTC),  # a Tuesday morning
    progress: list[str] | None = None,
    profile: Profile | None = None,
) -> ToolContext:
    """A context for a call to ``profile`` (none by default) whose progress lines are appended
    to ``progress``."""
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
        profile=profile,
        clock=clock,
    )


def _no_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("tests have no network", request=request)


def friday_next_week() -> str:
    """A Friday 7-13 days from today (ISO): bookable on the real clock the thinker uses."""
    today = date.today()
    return (today + timedelta(days=(4 - today.weekday()) % 7 + 7)).isoformat()


@contextlib.asynccontextmanager
async def closed_redis() -> AsyncIterator[Redis]:
    """A Redis client on a port nothing listens on: every command fails to connect (the store
    of a tool whose Redis is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    client = Redis(port=port, socket_connect_timeout=1)
    try:
        yield client
    finally:
        await client.aclose()
