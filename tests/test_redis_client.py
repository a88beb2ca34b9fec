"""The client the bus uses: cancelling a task mid-command must really stop it; waiting for Redis
at start-up gives up with one clear error, ends on a stop, and never shows a password."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.asyncio import Redis

from shared.bus import TaskContext, TaskOutcome, TaskWorker
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.errors import StopRequested, UpstreamError
from shared.redis_client import connect, describe_redis_url, wait_for_redis


async def test_a_task_cancelled_during_a_redis_command_stops(redis: Redis) -> None:
    """With a socket read timeout, redis-py 8.1 on Python 3.11 loses such cancels about 40% of
    the time, so a cancelled tool call kept running; our client must never do that."""
    still_running = 0
    for attempt in range(150):

        async def job() -> None:
            await redis.incr("counter")
            await asyncio.sleep(30)

        task = asyncio.create_task(job())
        for _ in range(attempt % 7):  # land the cancel at different points of the command
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1)
        if not done:
            still_running += 1
            task.cancel()
    assert still_running == 0
    assert await redis.ping()


async def test_hundreds_of_blocking_reads_at_once_all_get_a_connection(redis: Redis) -> None:
    """A responder follows one event stream per live call and a busy thinker has hundreds of
    commands in flight; redis-py's default pool refused the 101st outright."""
    replies = await asyncio.gather(
        *(redis.xread({f"stream-{n}": "0-0"}, block=200) for n in range(300))
    )
    assert replies == [[]] * 300


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@redis.internal:6380/3", "redis.internal:6380"),
        ("rediss://app:hunter2@cache.example.com/0?ssl_cert_reqs=none", "cache.example.com:6379"),
        ("redis://[::1]:7000", "[::1]:7000"),
        ("unix://:hunter2@/run/redis/redis.sock?db=2", "/run/redis/redis.sock"),
        ("redis://:hunter2@host:notaport/0", "the configured REDIS_URL"),
    ],
)
def test_a_described_url_says_where_without_credentials(url: str, shown: str) -> None:
    described = describe_redis_url(url)
    assert described == shown
    assert "hunter2" not in described
    assert "app" not in described


def closed_port() -> int:
    """A TCP port on this machine that nothing listens on (refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_waiting_for_a_redis_that_answers_returns(redis_server: EmbeddedRedis) -> None:
    client = connect(redis_server.url)
    try:
        await wait_for_redis(client, redis_server.url, timeout_s=5)
    finally:
        await client.aclose()


async def test_waiting_for_an_unreachable_redis_gives_up_naming_it_without_the_password() -> None:
    url = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    client = connect(url)
    try:
        with pytest.raises(UpstreamError) as raised:
            await wait_for_redis(client, url, timeout_s=0.5, announce=False)
    finally:
        await client.aclose()
    message = str(raised.value)
    assert message.startswith(f"cannot reach Redis at {describe_redis_url(url)} (")
    assert "hunter2" not in message
    assert raised.value.retryable


async def test_a_stop_ends_the_wait_for_redis_at_once() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    client = connect(url)
    stop = asyncio.Event()
    try:
        waiting = asyncio.create_task(wait_for_redis(client, url, timeout_s=600, stop=stop))
        await asyncio.sleep(0.3)  # a few failed attempts; the outcome does not depend on it
        assert not waiting.done()
        stop.set()
        with pytest.raises(StopRequested):
            await asyncio.wait_for(waiting, timeout=30)  # far below the 600 s it would wait
    finally:
        await client.aclose()


async def test_a_worker_waiting_for_redis_at_start_up_stops_when_asked() -> None:
    """It used to retry forever and ignore the stop: only SIGKILL ended such a thinker."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    client = connect(url)
    worker = TaskWorker(client, _never_called, BusSettings(_env_file=None))
    try:
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(0.5)  # it is retrying by now; the outcome does not depend on it
        assert not running.done()
        assert not worker.running
        worker.request_stop()
        await asyncio.wait_for(running, timeout=30)
        assert not worker.running
    finally:
        await client.aclose()


async def test_a_worker_is_running_only_between_taking_its_first_task_and_its_stop(
    redis: Redis,
) -> None:
    worker = TaskWorker(redis, _never_called, BusSettings(_env_file=None, block_ms=100))
    assert not worker.running
    running = asyncio.create_task(worker.run())
    async with asyncio.timeout(30):
        while not worker.running:  # noqa: ASYNC110 (a property; nothing to await)
            await asyncio.sleep(0.01)
    assert await redis.xinfo_groups(worker.keys.tasks)  # the group exists by then
    worker.request_stop(0)
    assert not worker.running  # at once, not when the loops have ended
    await asyncio.wait_for(running, timeout=30)
    assert not worker.running


async def _never_called(_ctx: TaskContext) -> TaskOutcome:
    raise AssertionError("no task was submitted")
