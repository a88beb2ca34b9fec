"""The thinker side of the bus: a consumer-group worker that runs tasks durably.

One :class:`TaskWorker` per process runs up to ``concurrency`` tasks at once. Several processes
(or machines) share the work through the ``thinkers`` consumer group with no other coordination:

* intake: ``XREADGROUP ... COUNT <free slots> BLOCK`` on the task stream;
* leases: every ``lease/4`` the worker re-claims its in-flight entries (``XCLAIM ... JUSTID``,
  which resets their idle time without counting a delivery) and re-checks cancel markers;
* sweep: ``XAUTOCLAIM`` takes over entries idle for a whole lease (their worker died), as many
  at once as there are free slots, but an entry that outlived two workers alone (quarantine: it
  may be the task that killed them), and dead-letters those delivered more than
  ``max_deliveries`` times;
* control: cancel requests arrive on a broadcast stream and stop the matching running task.

Each task gets exactly one terminal event (enforced in Redis, see ``_scripts.FINISH``); an entry is
acked only after its terminal event is written, so a crash at any point leads to a redelivery that
the done marker absorbs.

Redis errors are handled as :mod:`shared.bus._faults` classifies them: every step waits out Redis
refusing or unreachable (the worker reports :attr:`TaskWorker.waiting_for_redis` meanwhile), an
entry whose session has a key of the wrong type is dead-lettered, and anything else stops the
worker: :meth:`TaskWorker.run` raises one :class:`~shared.errors.UpstreamError` saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.bus._faults import is_retryable, stop_error
from shared.bus._group import ensure_group, is_nogroup
from shared.bus._patience import Outage, RedisWait
from shared.bus._replies import StreamEntry, autoclaim, range_entries, read_entries
from shared.bus._task_run import TaskRun, WorkerStats, process_entry
from shared.bus._writer import EventWriter
from shared.bus.handler import TaskHandler
from shared.config import BusSettings
from shared.errors import WireFormatError
from shared.keys import GROUP, Keys
from shared.wire import CancelRequest, TaskRequest, decode_command

log = logging.getLogger(__name__)

SUSPECT_DELIVERIES = 3
"""A reclaimed entry delivered this many times has outlived two workers: it may be what killed
them, so it runs alone (no other reclaimed entry alongside) until it ends. Entries delivered
fewer times (one worker died holding them, the common crash) are taken over together, so a
crash costs about one lease plus one task's time, not one task's time per orphan."""
_PRUNE_EVERY_S = 300.0
_PRUNE_IDLE_MS = 3_600_000


def default_consumer_name() -> str:
    """``<host>-<pid>-<random>``: unique per process, readable in ``XINFO CONSUMERS``."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class TaskWorker:
    """Runs tasks from the bus with ``handler`` until :meth:`request_stop` is called."""

    def __init__(
        self,
        redis: Redis,
        handler: TaskHandler,
        settings: BusSettings,
        *,
        consumer: str | None = None,
    ) -> None:
        self.consumer = consumer or default_consumer_name()
        self.settings = settings
        self.keys = Keys(settings.prefix)
        self.stats = WorkerStats()
        self._redis = redis
        self._handler = handler
        self._writer = EventWriter(redis, self.keys, settings)
        self._runs: dict[str, TaskRun] = {}
        self._runs_by_task: dict[tuple[str, str], list[TaskRun]] = {}
        self._processing: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stopping = False  # no new tasks
        self._closing = False  # in-flight tasks are settled: leases and cancels end too
        self._quarantined: str | None = None
        self._drain_timeout_s = 10.0
        self._running = False
        self._fatal: RedisError | None = None
        self._outage = Outage(self.consumer)
        self._until_stopped = self._waiter("group", lambda: self._stop_requested.is_set())
        self._intake_wait = self._waiter("intake", lambda: self.stopping)
        self._sweep_wait = self._waiter("sweep", lambda: self.stopping)
        self._control_wait = self._waiter("control", lambda: self._closing)

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (no new tasks are taken)."""
        return self._stopping or self._stop_requested.is_set()

    @property
    def running(self) -> bool:
        """True while the worker takes tasks: its consumer group exists, its loops run and no
        stop was requested (False before :meth:`run` got that far, and from a stop on)."""
        return self._running and not self.stopping

    @property
    def waiting_for_redis(self) -> bool:
        """True while a loop or a task of this worker waits for Redis to take a command again
        (Redis out of memory, loading, read-only, unreachable...): the worker is alive but not
        healthy."""
        return self._outage.waiting

    @property
    def in_flight(self) -> int:
        """Entries this worker is processing now."""
        return len(self._runs)

    def request_stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop taking tasks, give in-flight ones ``drain_timeout_s`` to finish, hand back the
        rest for another worker to reclaim at once; :meth:`run` returns when that is done."""
        self._drain_timeout_s = drain_timeout_s
        self._stop_requested.set()

    async def run(self) -> None:
        """Serve until :meth:`request_stop`, waiting out Redis outages and refusals.

        Waits for Redis first (as long as it takes); a stop requested during that wait, or
        before, returns at once. A Redis error that waiting cannot cure stops the worker: after
        clean-up, this raises :class:`~shared.errors.UpstreamError` with one line naming the
        error code (:func:`~shared.bus._faults.stop_error`). Other errors of a loop (bugs)
        propagate as they are.
        """
        try:
            await self._serve()
        except RedisError as error:
            raise stop_error(self._fatal or error) from None
        if self._fatal is not None:
            raise stop_error(self._fatal) from None

    async def _serve(self) -> None:
        await self._ensure_group_unless_stopped()
        if self._stop_requested.is_set():
            log.info("worker stopped before it started", extra={"consumer": self.consumer})
            return
        takers = {  # loops that take tasks: they stop first
            asyncio.create_task(self._intake_loop(), name="tandem-intake"),
            asyncio.create_task(self._sweep_loop(), name="tandem-sweep"),
        }
        keepers = {  # loops that look after taken tasks: they stop last
            asyncio.create_task(self._control_loop(), name="tandem-control"),
            asyncio.create_task(self._lease_loop(), name="tandem-leases"),
        }
        loops = takers | keepers
        stop_waiter = asyncio.create_task(self._stop_requested.wait())
        self._running = True
        log.info("worker started", extra={"consumer": self.consumer, "prefix": self.keys.prefix})
        try:
            done, _ = await asyncio.wait(loops | {stop_waiter}, return_when="FIRST_COMPLETED")
            for task in done - {stop_waiter}:
                task.result()  # a loop only ends early by crashing: raise its error
        finally:
            self._running = False
            self._stopping = True
            stop_waiter.cancel()
            await self._shutdown(takers, keepers)

    # -- intake ----------------------------------------------------------------------------

    async def _intake_loop(self) -> None:
        block = self.settings.block_ms
        while not self._stopping:
            free = self._free_slots()
            if free <= 0:
                self._slot_freed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), block / 1000)
                continue
            try:
                reply = await self._intake_wait(partial(self._read_tasks, free))
            except RedisError as error:
                if is_nogroup(error):
                    await self._ensure_group_unless_stopped()
                    continue
                if is_retryable(error):  # stopping: the wait gave up
                    continue
                raise
            for entry_id, fields in read_entries(reply):
                self._start(entry_id, fields, attempt=1)
            await asyncio.sleep(0)  # let the new tasks send their first command before we block

    async def _read_tasks(self, count: int) -> Any:
        return await self._redis.xreadgroup(
            GROUP, self.consumer, {self.keys.tasks: ">"}, count=count, block=self.settings.block_ms
        )

    def _free_slots(self) -> int:
        return self.settings.concurrency - len(self._runs)

    def _start(self, entry_id: str, fields: Mapping[str, Any], *, attempt: int) -> TaskRun:
        self.stats.received += 1
        run = TaskRun(entry_id=entry_id, attempt=attempt)
        wait = self._waiter(f"task {entry_id}", lambda: run.abandoned)
        self._runs[entry_id] = run
        key = (str(fields.get("session_id")), str(fields.get("task_id")))
        self._runs_by_task.setdefault(key, []).append(run)
        task = asyncio.create_task(self._process(run, fields, key, wait))
        self._processing.add(task)
        task.add_done_callback(self._processing.discard)
        return run

    async def _process(
        self, run: TaskRun, fields: Mapping[str, Any], key: tuple[str, str], wait: RedisWait
    ) -> None:
        try:
            await process_entry(
                run,
                fields,
                writer=self._writer,
                handler=self._handler,
                worker_name=self.consumer,
                stats=self.stats,
                wait=wait,
            )
        except RedisError as error:
            if is_retryable(error):  # the run was abandoned while it waited for Redis
                log.warning("left a task to be reclaimed: Redis unavailable", extra=self._ids(run))
            else:
                self._stop_for(error)
        except Exception:
            log.exception("task processing failed", extra=self._ids(run))
        finally:
            self._runs.pop(run.entry_id, None)
            same_task = self._runs_by_task.get(key, [])
            same_task.remove(run)
            if not same_task:
                self._runs_by_task.pop(key, None)
            if self._quarantined == run.entry_id:
                self._quarantined = None
            self._slot_freed.set()

    @staticmethod
    def _ids(run: TaskRun) -> dict[str, str]:
        ids = {"entry_id": run.entry_id}
        if run.task is not None:
            ids |= {"task_id": run.task.task_id, "session_id": run.task.session_id}
        return ids

    # -- reclaim and dead letters ----------------------------------------------------------

    async def _sweep_loop(self) -> None:
        interval = self.settings.sweep_interval_ms / 1000
        cursor = "0-0"
        last_prune = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if self._quarantined is not None or self._free_slots() <= 0:
                await asyncio.sleep(interval)
                continue
            try:
                if loop.time() - last_prune > _PRUNE_EVERY_S:
                    last_prune = loop.time()
                    await self._sweep_wait(self._prune_consumers)
                cursor, claimed = await self._sweep_wait(partial(self._claim_one, cursor))
                if claimed is not None:
                    await self._take_over(*claimed)
                elif cursor == "0-0":
                    await asyncio.sleep(interval)
            except RedisError as error:
                if is_nogroup(error):
                    cursor = "0-0"
                    await self._ensure_group_unless_stopped()
                elif not is_retryable(error):  # retryable: stopping, the wait gave up
                    raise

    async def _claim_one(self, cursor: str) -> tuple[str, StreamEntry | None]:
        reply = await self._redis.xautoclaim(
            self.keys.tasks,
            GROUP,
            self.consumer,
            min_idle_time=self.settings.lease_ms,
            start_id=cursor,
            count=1,
        )
        next_cursor, entries = autoclaim(reply)
        return next_cursor, (entries[0] if entries else None)

    async def _take_over(self, entry_id: str, fields: dict[str, str]) -> None:
        if entry_id in self._runs:  # our own, its lease renewal lagged: it is still running
            return
        if not fields:  # trimmed away while pending: nothing left to run
            await self._sweep_wait(lambda: self._writer.ack(entry_id))
            return
        pending = await self._sweep_wait(
            lambda: self._redis.xpending_range(
                self.keys.tasks, GROUP, min=entry_id, max=entry_id, count=1
            )
        )
        deliveries = int(pending[0]["times_delivered"]) if pending else 1
        if deliveries > self.settings.max_deliveries:
            command: TaskRequest | CancelRequest | None = None
            with contextlib.suppress(WireFormatError):
                command = decode_command(fields)
            await self._writer.dead_letter(
                entry_id,
                fields,
                code="dead_letter",
                message=f"delivered {deliveries} times without an answer",
                deliveries=deliveries,
                epoch=command.epoch if isinstance(command, TaskRequest) else 0,
                wait=self._sweep_wait,
                tell_session=not isinstance(command, CancelRequest),
            )
            self.stats.dead_lettered += 1
            return
        self.stats.reclaimed += 1
        log.info("reclaimed a task", extra={"entry_id": entry_id, "attempt": deliveries})
        if deliveries >= SUSPECT_DELIVERIES:
            self._quarantined = entry_id
        self._start(entry_id, fields, attempt=deliveries)

    async def _prune_consumers(self) -> None:
        """Forget consumers of dead processes that hold nothing (they accumulate otherwise)."""
        for consumer in await self._redis.xinfo_consumers(self.keys.tasks, GROUP):
            name = consumer["name"]
            idle_ms = int(consumer["idle"])
            if name != self.consumer and not consumer["pending"] and idle_ms > _PRUNE_IDLE_MS:
                await self._redis.xgroup_delconsumer(self.keys.tasks, GROUP, name)

    # -- cancellation ------------------------------------------------------------------------

    async def _control_loop(self) -> None:
        try:
            last_id = await self._control_wait(self._latest_control_id)
        except RedisError as error:
            if is_retryable(error):  # closing: the wait gave up
                return
            raise
        while not self._closing:
            try:
                reply = await self._control_wait(partial(self._read_control, last_id))
            except RedisError as error:
                if is_retryable(error):  # closing: the wait gave up
                    continue
                raise
            for entry_id, fields in read_entries(reply):
                last_id = entry_id
                self._apply_control(fields)

    async def _read_control(self, last_id: str) -> Any:
        return await self._redis.xread(
            {self.keys.control: last_id}, count=100, block=self.settings.block_ms
        )

    async def _latest_control_id(self) -> str:
        newest = range_entries(await self._redis.xrevrange(self.keys.control, count=1))
        return newest[0][0] if newest else "0-0"

    def _apply_control(self, fields: Mapping[str, Any]) -> None:
        try:
            command = decode_command(fields)
        except WireFormatError as error:
            log.warning("ignored an unreadable control entry", extra={"detail": str(error)})
            return
        if isinstance(command, CancelRequest):
            for run in self._runs_by_task.get((command.session_id, command.task_id), ()):
                run.request_cancel(command.reason)

    # -- leases ----------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        """Renews the lease of every run in flight, including one whose answer waits for Redis
        to take it (so that no other worker runs the task again meanwhile)."""
        interval = self.settings.lease_ms / 4000
        while not self._closing:
            await asyncio.sleep(interval)
            runs = list(self._runs.values())
            if not runs:
                continue
            try:
                await self._renew(runs)
            except RedisError as error:
                if not (is_retryable(error) or is_nogroup(error)):  # else: skip this round
                    raise

    async def _renew(self, runs: list[TaskRun]) -> None:
        mine = await self._redis.xpending_range(
            self.keys.tasks,
            GROUP,
            min="-",
            max="+",
            count=self.settings.concurrency + 16,
            consumername=self.consumer,
        )
        owned = {entry["message_id"] for entry in mine}
        renew = [run for run in runs if run.entry_id in owned]
        for run in runs:
            if run.entry_id not in owned:
                await self._check_stolen(run)
        async with self._redis.pipeline(transaction=False) as pipe:
            if renew:
                pipe.xclaim(
                    self.keys.tasks,
                    GROUP,
                    self.consumer,
                    min_idle_time=0,
                    message_ids=[run.entry_id for run in renew],
                    justid=True,
                )
            checked = [run for run in runs if run.task is not None]
            for run in checked:
                assert run.task is not None
                pipe.hget(self.keys.cancels(run.task.session_id), run.task.task_id)
            results = await pipe.execute(raise_on_error=False)
        if renew and isinstance(results[0], Exception):
            raise results[0]
        for run, reason in zip(checked, results[1:] if renew else results, strict=True):
            # an error here is the run's session's own (a key of the wrong type): its steps
            # meet it too, and dead-letter the entry if they must
            if reason is not None and not isinstance(reason, Exception):
                run.request_cancel(str(reason))

    async def _check_stolen(self, run: TaskRun) -> None:
        """An entry we run but no longer own: if another consumer has it, stop our copy."""
        pending = await self._redis.xpending_range(
            self.keys.tasks, GROUP, min=run.entry_id, max=run.entry_id, count=1
        )
        if pending and pending[0]["consumer"] != self.consumer:
            log.warning("lost a task to another worker after a stall", extra=self._ids(run))
            self.stats.lost += 1
            run.abandon(lost=True)

    # -- shutdown --------------------------------------------------------------------------

    async def _shutdown(
        self, takers: set[asyncio.Task[None]], keepers: set[asyncio.Task[None]]
    ) -> None:
        # Loops stop on flags, not by cancelling them mid-command: a cancel that lands while
        # redis-py (8.1, Python 3.11) finishes a blocking read can be lost, hanging shutdown.
        await self._settle(takers)
        if self._processing:
            await asyncio.wait(set(self._processing), timeout=self._drain_timeout_s)
        leftovers = list(self._runs.values())  # an answer still waiting for Redis included
        for run in leftovers:
            run.abandon(lost=False)
        if self._processing:
            await asyncio.wait(set(self._processing), timeout=5)
        if leftovers:
            await self._hand_back([run.entry_id for run in leftovers])
        self._closing = True
        await self._settle(keepers)
        log.info("worker stopped", extra={"consumer": self.consumer, "handed_back": len(leftovers)})

    async def _settle(self, loops: set[asyncio.Task[None]]) -> None:
        """Wait for flagged loops to leave (each blocks at most a read or a lease tick)."""
        patience = max(self.settings.block_ms, self.settings.lease_ms / 4) / 1000 + 1
        _, late = await asyncio.wait(loops, timeout=patience)
        for task in late:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    async def _hand_back(self, entry_ids: list[str]) -> None:
        """Mark entries idle for a whole lease so the next sweep of any worker takes them."""
        try:
            await self._redis.xclaim(
                self.keys.tasks,
                GROUP,
                self.consumer,
                min_idle_time=0,
                message_ids=list[Any](entry_ids),
                idle=self.settings.lease_ms + 1,
                justid=True,
            )
            self.stats.handed_back += len(entry_ids)
        except RedisError as error:
            if not is_retryable(error):
                raise
            log.warning("could not hand back tasks; they will be reclaimed after a lease")

    # -- Redis errors ----------------------------------------------------------------------

    def _waiter(self, part: str, give_up: Callable[[], bool]) -> RedisWait:
        return RedisWait(self._outage, part, give_up=give_up)

    def _stop_for(self, error: RedisError) -> None:
        """A task met an error no wait cures: stop the worker; :meth:`run` raises it."""
        if self._fatal is None:
            self._fatal = error
            self.request_stop(self._drain_timeout_s)

    async def _ensure_group_unless_stopped(self) -> None:
        """Create the consumer group as soon as Redis takes it, unless a stop is requested
        first: then return at once, even in the middle of a command or a wait."""
        work = self._until_stopped(lambda: ensure_group(self._redis, self.keys))
        try:
            await _unless_set(work, self._stop_requested)
        except RedisError as error:
            if not is_retryable(error):  # retryable: a stop was requested, the wait gave up
                raise


async def _unless_set(work: Awaitable[None], event: asyncio.Event) -> None:
    """Await ``work`` unless ``event`` is set first (then cancel it); raises what it raised."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if not task.cancelled():
        task.result()
