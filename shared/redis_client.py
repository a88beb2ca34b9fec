"""Creating Redis clients with the retry policy the bus relies on."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

SOCKET_TIMEOUT_S = 5.0
"""Must stay above the longest ``BLOCK`` the bus uses (``TANDEM_BUS_BLOCK_MS`` <= 4000)."""


def connect(url: str, *, name: str = "tandem") -> Redis:
    """An asyncio client for ``url`` (``redis://``, ``rediss://`` or ``unix://``).

    Commands that hit a dropped connection are retried a few times with jittered backoff; loops
    above this ride out longer outages themselves.
    """
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.25), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
        client_name=name,
    )
