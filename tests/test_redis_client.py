"""The client the bus uses: cancelling a task mid-command must really stop it."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis


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
