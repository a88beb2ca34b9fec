"""Creating Redis clients with the retry policy the bus relies on, and waiting for Redis to
answer at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,
    RedisError,
    TimeoutError,
)

from shared.errors import StopRequested, UpstreamError

log = logging.getLogger(__name__)

_KEEPALIVE = {
    option: value
    for option, value in (
        ("TCP_KEEPIDLE", 5),
        ("TCP_KEEPINTVL", 2),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", 15_000),  # unacknowledged writes to a vanished peer fail in 15 s
    )
    if hasattr(socket, option)
}


MAX_CONNECTIONS = 4096
"""Connections one client may open. Blocking reads each hold one (a worker's loops, a responder's
live sessions) and every in-flight command needs one; past this a command waits for a free one."""
POOL_WAIT_S = 10.0


def connect(url: str, *, name: str = "tandem", max_connections: int = MAX_CONNECTIONS) -> Redis:
    """An asyncio client for ``url`` (``redis://``, ``rediss://`` or ``unix://``).

    Commands that hit a dropped connection are retried a few times with jittered backoff; loops
    above this ride out longer outages themselves.

    There is deliberately no read timeout: with one, redis-py (8.1, on Python 3.11) wraps every
    read in ``asyncio.timeout`` and a task cancelled during a command keeps running about 40% of
    the time (a cancelled tool or task would not stop). Dead TCP peers are found by keepalive
    probes instead (about 11 s); blocking reads end on their own through ``BLOCK``.
    """
    options: dict[str, Any] = {}
    if not url.startswith("unix://"):
        options = {
            "socket_keepalive": True,
            "socket_keepalive_options": {getattr(socket, k): v for k, v in _KEEPALIVE.items()},
        }
    # redis-py's default pool refuses the 101st concurrent command outright (MaxConnectionsError,
    # a ConnectionError): a busy worker mistook that for Redis being down and dropped tasks.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT_S,
        decode_responses=True,
        encoding_errors="surrogateescape",  # invalid UTF-8 reaches the decoder (and the DLQ) intact
        socket_timeout=None,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.25), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
        client_name=name,
        **options,
    )
    return Redis.from_pool(pool)


def describe_redis_url(url: str) -> str:
    """Where ``url`` points, safe to print: ``host:port`` (``[v6]:port``) or the unix socket's
    path, without the scheme, user, password, database or options."""
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() == "unix":
            return parts.path or "a unix socket"
        host = parts.hostname or "localhost"
        port = parts.port or 6379
    except ValueError:
        return "the configured REDIS_URL"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _short_reason(error: BaseException) -> str:
    """Why a connection failed, from the operating system's words where there are some
    ("Connection refused"), never from a message that could quote the URL."""
    cause: BaseException | None = error
    for _ in range(10):  # the chain of causes is short; never follow a cycle
        if cause is None:
            break
        if isinstance(cause, OSError) and not isinstance(cause, socket.gaierror) and cause.errno:
            return os.strerror(cause.errno)  # asyncio's own strerror quotes the address
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    return type(error).__name__


async def _wait_or_stop(stop: asyncio.Event | None, timeout_s: float) -> None:
    if stop is None:
        await asyncio.sleep(timeout_s)
        return
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout_s)


async def _ping(client: Redis, stop: asyncio.Event | None, timeout_s: float) -> bool:
    """One PING within ``timeout_s``: True if answered, False if it timed out; raises what the
    ping raised, or :class:`StopRequested` when ``stop`` is set first."""
    ping = asyncio.ensure_future(client.ping())
    stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
    try:
        await asyncio.wait(
            {ping} if stopped is None else {ping, stopped},
            timeout=timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        if stopped is not None:
            stopped.cancel()
        if not ping.done():
            ping.cancel()
            await asyncio.gather(ping, return_exceptions=True)
    if not ping.cancelled() and ping.done():
        ping.result()
        return True
    if stop is not None and stop.is_set():
        raise StopRequested("asked to stop while waiting for Redis")
    return False


async def wait_for_redis(
    client: Redis,
    url: str,
    *,
    timeout_s: float,
    stop: asyncio.Event | None = None,
    announce: bool = True,
) -> None:
    """Ping ``client`` until Redis answers; call at start-up, before anything else uses it.

    Makes at least one attempt, however small ``timeout_s``. With ``announce``, logs one
    warning ("waiting for Redis") when the first attempt fails (a one-shot command, which says
    only its final line, passes False). Raises :class:`UpstreamError` (``retryable=True``)
    ``"cannot reach Redis at <where> (<reason>)"`` after ``timeout_s`` (``<where>`` is
    :func:`describe_redis_url`: no password), or at once and not retryable when Redis refuses the
    credentials; raises :class:`StopRequested` as soon as ``stop`` is set.
    """
    where = describe_redis_url(url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    warned = False
    while True:
        if stop is not None and stop.is_set():
            raise StopRequested("asked to stop while waiting for Redis")
        try:
            if await _ping(client, stop, max(deadline - loop.time(), 1.0)):
                return
            reason = "no answer"
        except (AuthenticationError, AuthorizationError) as error:
            raise UpstreamError(
                f"Redis at {where} refused the credentials in REDIS_URL ({type(error).__name__})",
                retryable=False,
            ) from None
        except (ConnectionError, TimeoutError, OSError) as error:
            reason = _short_reason(error)
        except RedisError as error:
            raise UpstreamError(
                f"Redis at {where} answered PING with an error ({type(error).__name__})",
                retryable=False,
            ) from None
        if loop.time() >= deadline:
            raise UpstreamError(f"cannot reach Redis at {where} ({reason})", retryable=True)
        if announce and not warned:
            warned = True
            log.warning(
                "waiting for Redis",
                extra={"redis": where, "reason": reason, "give_up_after_s": timeout_s},
            )
        await _wait_or_stop(stop, min(0.25, max(deadline - loop.time(), 0.0)))


async def check_redis(
    url: str, *, timeout_s: float, stop: asyncio.Event | None = None, announce: bool = True
) -> None:
    """:func:`wait_for_redis` with a client of its own, closed after: for a command that must
    know Redis answers before it starts anything that needs it."""
    client = connect(url, name="tandem-startup-check")
    try:
        await wait_for_redis(client, url, timeout_s=timeout_s, stop=stop, announce=announce)
    finally:
        await client.aclose()
