"""A bus worker whose handler follows instructions in the task's request text.

Runs in-process (``ScriptedHandler``) or as its own process
(``python -m tests.fakes.scripted_worker``) so tests can kill it. Every call is counted in
Redis (``test:runs:<task_id>``), so tests can assert how many times a task really ran, across
processes.

Instructions: ``echo TEXT`` | ``sleep S`` | ``sleep-first S`` (sleeps on attempt 1 only) |
``progress N`` | ``fail`` | ``boom`` | ``huge`` (an answer too large for the wire) |
``nothing`` (returns None) | ``crash`` (kills the whole process) | ``book-then-crash REF`` and
``book-then-fail REF`` (record "Booked REF" as done, then crash or fail) | ``meet N NAME``
(sleeps on attempt 1; on a redelivery, waits until N redeliveries named NAME run at once).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from redis.asyncio import Redis

from shared.bus import TaskContext, TaskFailed, TaskOutcome, TaskWorker
from shared.config import BusSettings
from shared.redis_client import connect


def runs_key(task_id: str) -> str:
    """Where the number of handler calls for ``task_id`` is counted."""
    return f"test:runs:{task_id}"


def meet_key(name: str) -> str:
    """Where the redeliveries of ``meet N NAME`` tasks running at once are counted."""
    return f"test:meet:{name}"


class ScriptedHandler:
    """Interprets the request text; records calls and cancellations."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.cancelled: list[str] = []

    async def __call__(self, ctx: TaskContext) -> TaskOutcome:
        task = ctx.task
        verb, _, arg = task.request.partition(" ")
        try:
            await self.redis.incr(runs_key(task.task_id))
            if verb == "echo":
                return TaskOutcome(text=arg)
            if verb == "sleep" or (verb == "sleep-first" and ctx.attempt == 1):
                await asyncio.sleep(float(arg))
                return TaskOutcome(text=f"slept {arg}")
            if verb == "sleep-first":
                return TaskOutcome(text=f"quick on attempt {ctx.attempt}")
            if verb == "progress":
                for step in range(int(arg)):
                    await ctx.progress(f"step {step}")
                await ctx.partial("first fact")
                return TaskOutcome(text="all steps done", data={"steps": int(arg)})
            if verb == "fail":
                raise TaskFailed("the kitchen is closed", retryable=True)
            if verb == "boom":
                raise RuntimeError("secret internal detail")
            if verb == "huge":
                return TaskOutcome(text="ok", data={"blob": "x" * 70_000})
            if verb == "meet":
                if ctx.attempt == 1:
                    await asyncio.sleep(3600)
                count, name = arg.split()
                if await self.redis.incr(meet_key(name)) == int(count):  # the last to arrive
                    await self.redis.rpush(f"{meet_key(name)}:go", *["go"] * int(count))
                while not await self.redis.blpop([f"{meet_key(name)}:go"], timeout=1):
                    pass  # until all have arrived (1 s blocks: under the client's socket timeout)
                return TaskOutcome(text=f"met on attempt {ctx.attempt}")
            if verb == "nothing":
                return None  # type: ignore[return-value]
            if verb == "crash":
                os._exit(3)
            if verb.startswith("book-then-"):
                await ctx.done(f"Booked {arg}", key="book-1")
                await ctx.done(f"Already booked {arg}", key="book-1")  # a replay keeps the first
                if verb == "book-then-crash":
                    os._exit(3)
                raise TaskFailed("the confirmation could not be sent", retryable=True)
        except asyncio.CancelledError:
            self.cancelled.append(task.task_id)
            raise
        raise TaskFailed(f"unknown instruction {verb!r}")


async def _serve(args: argparse.Namespace) -> None:
    settings = BusSettings(
        _env_file=None,
        prefix=args.prefix,
        lease_ms=args.lease_ms,
        sweep_interval_ms=args.sweep_ms,
        block_ms=200,
        concurrency=args.concurrency,
    )
    redis = connect(args.redis_url)
    worker = TaskWorker(redis, ScriptedHandler(redis), settings)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.request_stop, args.drain_s)
    await worker.run()
    await redis.aclose()


def main() -> None:
    """Run one scripted worker process until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--lease-ms", type=int, default=600)
    parser.add_argument("--sweep-ms", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--drain-s", type=float, default=5.0)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
