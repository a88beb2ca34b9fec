"""Creating Redis clients with the retry policy the bus relies on."""

from __future__ import annotations

import socket
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

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
