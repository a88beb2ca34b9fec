"""What a running tool gets: :class:`ToolContext` and its :class:`ToolStore`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from shared.profile import Profile


class ToolStore:
    """A small key-value store for a tool's own state, kept in Redis under its own namespace.

    Values are strings, or JSON through :meth:`get_json`/:meth:`set_json`. :meth:`lock` serialises
    read-modify-write sequences across every worker process.
    """

    def __init__(self, redis: Redis, prefix: str, namespace: str = "") -> None:
        self.redis = redis
        self._prefix = prefix
        self.namespace = namespace

    def scoped(self, namespace: str) -> ToolStore:
        """The store of another namespace (one per tool, or per family of tools)."""
        return ToolStore(self.redis, self._prefix, namespace)

    def key(self, key: str) -> str:
        """The Redis key behind ``key`` (a tool's keys share one hash slot)."""
        return f"{self._prefix}:tool:{{{self.namespace}}}:{key}"

    async def get(self, key: str) -> str | None:
        """The value of ``key``, or None."""
        value = await self.redis.get(self.key(key))
        return None if value is None else str(value)

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        """Set ``key``; with ``ttl_s`` it disappears after that many seconds."""
        await self.redis.set(self.key(key), value, px=_ms(ttl_s))

    async def set_if_absent(self, key: str, value: str, *, ttl_s: float | None = None) -> bool:
        """Set ``key`` only if it does not exist; True if this call set it."""
        return bool(await self.redis.set(self.key(key), value, px=_ms(ttl_s), nx=True))

    async def set_json_many(self, values: Mapping[str, Any], *, ttl_s: float | None = None) -> None:
        """Store several JSON values at once: all of them or, if the process dies, none."""
        async with self.redis.pipeline(transaction=True) as transaction:
            for key, value in values.items():
                transaction.set(
                    self.key(key), json.dumps(value, separators=(",", ":")), px=_ms(ttl_s)
                )
            await transaction.execute()

    async def delete(self, key: str) -> None:
        """Remove ``key``."""
        await self.redis.delete(self.key(key))

    async def get_json(self, key: str) -> Any:
        """The JSON value of ``key``, or None."""
        raw = await self.get(key)
        return None if raw is None else json.loads(raw)

    async def set_json(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        """Store ``value`` as JSON."""
        await self.set(key, json.dumps(value, separators=(",", ":")), ttl_s=ttl_s)

    @asynccontextmanager
    async def lock(self, name: str, *, timeout_s: float = 10.0) -> AsyncIterator[None]:
        """Hold a lock shared by every process (released at exit, or after ``timeout_s``)."""
        async with self.redis.lock(
            self.key(f"lock:{name}"), timeout=timeout_s, blocking_timeout=timeout_s
        ):
            yield


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(1, int(seconds * 1000))


async def _no_progress(message: str) -> None:
    """Progress goes nowhere when nobody listens (tests, local calls)."""


def derive_idempotency_key(task_key: str, tool_name: str, ordinal: int) -> str:
    """The key of the ``ordinal``-th call of ``tool_name`` within a task.

    A redelivered task replays its tool calls in the same order, so each call gets the same key
    again and a side effect that already happened is not repeated.
    """
    digest = hashlib.sha256(f"{task_key}\x1f{tool_name}\x1f{ordinal}".encode()).hexdigest()
    return digest[:32]


@dataclass
class ToolContext:
    """Everything a tool may use while it runs."""

    session_id: str
    task_id: str
    idempotency_key: str
    """Stable across redeliveries of the same task: use it for anything with side effects."""
    http: httpx.AsyncClient
    """Shared HTTP client (connection pooling); set per-request timeouts within your tool's own."""
    store: ToolStore
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("tandem.tools"))
    progress: Callable[[str], Awaitable[None]] = _no_progress
    """``await ctx.progress("checking availability...")``: a short line the caller may hear."""
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the task is cancelled; long loops can check it (the call is also cancelled)."""
    confirmed: bool = False
    """Whether the caller explicitly confirmed this action (for ``needs_confirmation`` tools)."""
    profile: Profile | None = None
    """The agent profile the call is for (its business name, time zone, knowledge); None when a
    tool runs outside any call (``tandem tools call`` without a profile)."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)

    def now(self) -> datetime:
        """The current time, timezone-aware (tests can pass a fixed ``clock``)."""
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("ToolContext.clock must return a timezone-aware datetime")
        return moment
