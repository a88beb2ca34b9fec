"""Bus round-trip benchmark (issue 2): responder -> Redis Streams -> thinker -> responder.

A round trip is ``SessionLink.submit`` (XADD), pick-up by a thinker in its own process
(XREADGROUP, ``started`` event, echo handler, terminal event, XACK), until ``SessionLink.read``
(XREAD) returns the terminal event. Scenarios:

1. one task in flight: ``--rounds`` sequential round trips after ``--warmup`` more;
2. ``--sessions`` concurrent sessions, each looping sequential tasks, ``--total`` round trips;
3. crash recovery: SIGKILL the thinker running a task and time until another thinker re-starts
   it (``started`` with attempt 2) and answers it, ``--repeats`` times.

Thinkers are this script re-invoked as ``bus_roundtrip.py worker ...``. Redis is a private
embedded server unless ``--redis-url`` is given. ``--json`` prints exactly one JSON object on
stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as redis_py
from redis.asyncio import Redis
from redis.utils import HIREDIS_AVAILABLE

from shared.bus import ResponderBus, SessionLink, TaskContext, TaskOutcome, TaskWorker
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.log import configure_logging
from shared.redis_client import connect
from shared.wire import Event, StartedEvent, TaskRequest

log = logging.getLogger("bench.bus_roundtrip")

TARGET_P50_MS = 0.3
TARGET_P99_MS = 1.0
RECOVERY_SLACK_S = 0.5
READY_TIMEOUT_S = 15.0
ROUND_TRIP_TIMEOUT_S = 10.0
CRASH_SLEEP_S = 30
QUICK = {"rounds": 200, "warmup": 20, "sessions": 10, "total": 200, "repeats": 1}
FULL = {"rounds": 3000, "warmup": 200, "sessions": 100, "total": 5000, "repeats": 3}


def bus_settings(prefix: str, lease_ms: int, sweep_ms: int) -> BusSettings:
    """Bus settings that ignore the environment and any ``.env`` file."""
    return BusSettings(_env_file=None, prefix=prefix, lease_ms=lease_ms, sweep_interval_ms=sweep_ms)


def pid_of(consumer: str) -> int:
    """The pid in a consumer name ``<host>-<pid>-<hex>`` (the host may contain dashes)."""
    return int(consumer.rsplit("-", 2)[-2])


# -- thinker process ---------------------------------------------------------------------


async def echo(ctx: TaskContext) -> TaskOutcome:
    """Answer with the request text. ``sleep N`` first sleeps N seconds, on the first attempt
    only, so the attempt that reclaims it after a crash answers at once."""
    request = ctx.task.request
    if request.startswith("sleep ") and ctx.attempt == 1:
        await asyncio.sleep(float(request.split()[1]))
    return TaskOutcome(text=request)


async def serve(args: argparse.Namespace) -> None:
    """Run one TaskWorker with :func:`echo` until SIGTERM/SIGINT or the parent process exits."""
    redis = connect(args.redis_url, name=f"bench-thinker-{os.getpid()}")
    worker = TaskWorker(redis, echo, bus_settings(args.prefix, args.lease_ms, args.sweep_ms))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop, 1.0)
    parent = os.getppid()

    async def watch_parent() -> None:  # never outlive the benchmark, even if it was killed
        while os.getppid() == parent:  # noqa: ASYNC110 - polling is the only portable way
            await asyncio.sleep(0.5)
        worker.request_stop(0.0)
        await asyncio.sleep(15)
        os._exit(1)  # the graceful stop hung

    watchdog = asyncio.create_task(watch_parent())
    try:
        await worker.run()
    finally:
        watchdog.cancel()
        await redis.aclose()


class Pool:
    """The thinker processes of one run; :meth:`close` ends every one still alive."""

    def __init__(self, url: str, prefix: str, lease_ms: int, sweep_ms: int) -> None:
        self.argv = [
            *(sys.executable, str(Path(__file__).resolve()), "worker", "--redis-url", url),
            *("--prefix", prefix, "--lease-ms", str(lease_ms), "--sweep-ms", str(sweep_ms)),
        ]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self) -> int:
        """Start one thinker process (stdout discarded, stderr inherited); returns its pid."""
        proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.procs[proc.pid] = proc
        return proc.pid

    def kill(self, pid: int) -> float:
        """SIGKILL one thinker (no clean-up, no hand-back, like a crash); returns when, in
        ``perf_counter`` time."""
        if pid not in self.procs:
            raise RuntimeError(f"the task was started by {pid}, not by a thinker of this run")
        proc = self.procs.pop(pid)
        proc.kill()
        killed = time.perf_counter()
        proc.wait(timeout=5)
        return killed

    def close(self) -> None:
        """SIGTERM every thinker, then SIGKILL those still alive after 5 s."""
        procs, self.procs = list(self.procs.values()), {}
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def wait_ready(self, redis: Redis, pid: int) -> None:
        """Wait until thinker ``pid`` blocks in XREADGROUP. (Its connections are named after its
        pid; Redis 6.2 adds a consumer to the group only once a read returns something.)"""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            code = self.procs[pid].poll()
            if code is not None:
                raise RuntimeError(f"thinker {pid} exited with status {code}")
            clients = await redis.client_list()
            name = f"bench-thinker-{pid}"
            if any(c["name"] == name and c["cmd"] == "xreadgroup" for c in clients):
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(f"thinker {pid} was not reading tasks within {READY_TIMEOUT_S} s")


# -- responder side ----------------------------------------------------------------------


async def wait_event(link: SessionLink, match: Callable[[Event], bool], timeout_s: float) -> Event:
    """Read ``link`` until an event matches; events before it are consumed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in await link.read(block_ms=500):
            if match(event):
                return event
    raise TimeoutError(f"no expected event on session {link.session_id} within {timeout_s} s")


async def round_trip(link: SessionLink) -> float:
    """Seconds from just before submit until ``read()`` returns the task's terminal event."""
    task = TaskRequest.create(session_id=link.session_id, request="ping", epoch=0, timeout_s=60)
    start = time.perf_counter()
    await link.submit(task)
    event = await wait_event(link, lambda e: e.final, ROUND_TRIP_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    if event.type != "result" or event.task_id != task.task_id:
        raise RuntimeError(f"task ended with {event.type!r}, expected its result")
    return elapsed


async def sequential(link: SessionLink, count: int, samples: list[float]) -> None:
    """``count`` round trips, one at a time, on one session."""
    for _ in range(count):
        samples.append(await round_trip(link))


def summarize(samples: list[float], wall_s: float) -> dict[str, Any]:
    """Latency percentiles (nearest rank, ms) and throughput of a scenario."""
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] * 1000, 3)

    per_s = round(len(ordered) / wall_s, 1)
    return {"round_trips": len(ordered), "p50_ms": pct(50), "p99_ms": pct(99), "per_s": per_s}


async def closed_loop(bus: ResponderBus, sessions: int, rounds: int, warmup: int) -> dict[str, Any]:
    """``sessions`` links at once, each running ``warmup`` then ``rounds`` sequential round trips;
    scenario 1 is one session, scenario 2 many."""
    links = [bus.session(f"bench-{i}-{uuid.uuid4().hex[:8]}") for i in range(sessions)]
    await asyncio.gather(*(sequential(link, warmup, []) for link in links))
    samples: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(sequential(link, rounds, samples) for link in links))
    wall = time.perf_counter() - start
    for link in links:
        await link.end(cancel_open=False)
    return {"sessions": sessions, **summarize(samples, wall)}


async def crash_once(bus: ResponderBus, pool: Pool, timeout_s: float) -> dict[str, Any]:
    """Kill the thinker running a slow task; time the reclaim and the answer from the kill."""
    link = bus.session(f"bench-crash-{uuid.uuid4().hex[:8]}")
    request = f"sleep {CRASH_SLEEP_S}"
    task = TaskRequest.create(session_id=link.session_id, request=request, epoch=0, timeout_s=120)
    await link.submit(task)
    first = await wait_event(link, lambda e: isinstance(e, StartedEvent), READY_TIMEOUT_S)
    victim = pid_of(first.worker) if isinstance(first, StartedEvent) else 0
    killed = pool.kill(victim)
    run: dict[str, Any] = {"killed_pid": victim}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in await link.read(block_ms=500):
            since_kill = round(time.perf_counter() - killed, 3)
            if isinstance(event, StartedEvent) and event.attempt >= 2 and "recovery_s" not in run:
                run |= {"reclaimed_by_pid": pid_of(event.worker), "recovery_s": since_kill}
            if event.final:
                await link.end(cancel_open=False)
                if event.type != "result" or "recovery_s" not in run:
                    raise RuntimeError(f"crashed task ended with {event.type!r} without reclaim")
                return run | {"terminal_s": since_kill}
    raise TimeoutError(f"the crashed task was not answered within {timeout_s} s of the kill")


async def crash_recovery(
    bus: ResponderBus, pool: Pool, repeats: int, lease_ms: int, sweep_ms: int
) -> dict[str, Any]:
    """Scenario 3: ``repeats`` crashes; the killed thinker is replaced after each."""
    runs = []
    for _ in range(repeats):
        runs.append(await crash_once(bus, pool, timeout_s=3 * lease_ms / 1000 + 5))
        await pool.wait_ready(bus.redis, pool.spawn())
    return {
        "lease_ms": lease_ms,
        "sweep_ms": sweep_ms,
        "runs": runs,
        "max_recovery_s": max(run["recovery_s"] for run in runs),
        "max_terminal_s": max(run["terminal_s"] for run in runs),
        "target_recovery_s": lease_ms / 1000 + RECOVERY_SLACK_S,
    }


def cpu_model() -> str:
    """The CPU's model name, where ``/proc/cpuinfo`` says it."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        return next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "")
    return platform.processor()


def revision() -> str:
    """The commit measured, ``+dirty`` if tracked files differ from it (read-only git calls)."""
    git = ["git", "--no-optional-locks", "-C", str(Path(__file__).resolve().parent)]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        run = [
            subprocess.run([*git, *cmd], capture_output=True, text=True, check=True).stdout
            for cmd in (["rev-parse", "--short", "HEAD"], ["status", "--porcelain", "-uno"])
        ]
        return run[0].strip() + ("+dirty" if run[1].strip() else "")
    return "unknown"


async def machine_info(redis: Redis, transport: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    server = await redis.info("server")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "redis_py": redis_py.__version__,
        "hiredis": HIREDIS_AVAILABLE,
        "redis_server": server.get("redis_version"),
        "redis_transport": transport,
        "revision": revision(),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Start Redis (unless given) and the thinkers, run the scenarios, stop everything."""
    embedded = EmbeddedRedis() if args.redis_url is None else None
    url = embedded.start() if embedded is not None else args.redis_url
    prefix = f"bench-{os.getpid()}"
    redis = connect(url, name="bench-responder")
    pool = Pool(url, prefix, args.lease_ms, args.sweep_ms)
    bus = ResponderBus(redis, bus_settings(prefix, args.lease_ms, args.sweep_ms))
    began = time.perf_counter()
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM: stop like Ctrl-C does, through the clean-up below
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    try:
        await bus.start()
        transport = "embedded, unix socket" if embedded else url.split("://")[0]
        result: dict[str, Any] = {"machine": await machine_info(redis, transport)}
        result["config"] = {key: getattr(args, key) for key in (*FULL, "workers")}
        for _ in range(args.workers):
            pool.spawn()
        for pid in list(pool.procs):
            await pool.wait_ready(redis, pid)
        await round_trip(bus.session("bench-ready"))  # the whole path works end to end
        log.info("scenario 1: one in flight", extra={"rounds": args.rounds})
        result["one_in_flight"] = await closed_loop(bus, 1, args.rounds, args.warmup)
        log.info("scenario 2: concurrent sessions", extra={"sessions": args.sessions})
        per_session = max(1, args.total // args.sessions)
        result["concurrent"] = await closed_loop(bus, args.sessions, per_session, 2)
        log.info("scenario 3: crash recovery", extra={"repeats": args.repeats})
        result["crash_recovery"] = await crash_recovery(
            bus, pool, args.repeats, args.lease_ms, args.sweep_ms
        )
    finally:
        pool.close()
        with contextlib.suppress(Exception):  # the run's own streams; session keys expire
            await redis.delete(bus.keys.tasks, bus.keys.control, bus.keys.dlq)
        await redis.aclose()
        if embedded is not None:
            embedded.close()
    seq, crash = result["one_in_flight"], result["crash_recovery"]
    result["targets"] = {
        "p50_ms": {"target": TARGET_P50_MS, "met": seq["p50_ms"] <= TARGET_P50_MS},
        "p99_ms": {"target": TARGET_P99_MS, "met": seq["p99_ms"] <= TARGET_P99_MS},
        "recovery_s": {
            "target": crash["target_recovery_s"],
            "met": crash["max_recovery_s"] <= crash["target_recovery_s"],
        },
    }
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    return result


def render(result: dict[str, Any]) -> str:
    """The result as a readable table."""
    m, crash = result["machine"], result["crash_recovery"]
    one, conc = result["one_in_flight"], result["concurrent"]
    lines = [
        f"Bus round trip at {m['revision']}: {m['cpus']} CPUs ({m['cpu_model']}), {m['platform']}",
        f"Python {m['python']}, redis-py {m['redis_py']} (hiredis {m['hiredis']}), "
        f"redis-server {m['redis_server']} ({m['redis_transport']})",
        "",
        f"{'scenario':<20}{'round trips':>12}{'p50 ms':>9}{'p99 ms':>9}{'per s':>9}",
    ]
    for name, row in (("one in flight", one), (f"{conc['sessions']} sessions at once", conc)):
        lines.append(
            f"{name:<20}{row['round_trips']:>12}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}"
            f"{row['per_s']:>9.0f}"
        )
    lines += [
        f"\ncrash recovery (lease {crash['lease_ms']} ms, sweep {crash['sweep_ms']} ms):",
        f"{'run':>5}{'killed pid':>12}{'reclaimed by':>14}{'recovery s':>12}{'terminal s':>12}",
    ]
    for i, run in enumerate(crash["runs"], 1):
        lines.append(
            f"{i:>5}{run['killed_pid']:>12}{run['reclaimed_by_pid']:>14}"
            f"{run['recovery_s']:>12.3f}{run['terminal_s']:>12.3f}"
        )
    lines.append("")
    for name, target in result["targets"].items():
        verdict = "met" if target["met"] else "MISSED"
        lines.append(f"target {name} <= {target['target']}: {verdict}")
    lines.append(f"elapsed {result['elapsed_s']} s")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line; ``--quick`` shrinks every count not given explicitly."""
    parser = argparse.ArgumentParser(description="Redis Streams bus round-trip benchmark.")
    parser.add_argument(
        "mode",
        nargs="?",
        choices=["run", "worker"],
        default="run",
        help="'worker' runs one thinker process (used internally)",
    )
    parser.add_argument("--redis-url", help="use this Redis instead of a private embedded one")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    for name, help_text in (
        ("rounds", "scenario 1 round trips"),
        ("warmup", "scenario 1 warm-up round trips"),
        ("sessions", "scenario 2 concurrent sessions"),
        ("total", "scenario 2 round trips in all"),
        ("repeats", "scenario 3 crashes"),
    ):
        parser.add_argument(f"--{name}", type=int, help=f"{help_text} ({FULL[name]})")
    parser.add_argument("--workers", type=int, default=2, help="thinker processes (2)")
    lease, sweep = (BusSettings.model_fields[f].default for f in ("lease_ms", "sweep_interval_ms"))
    parser.add_argument("--lease-ms", type=int, default=lease, help=f"thinker lease ({lease})")
    parser.add_argument("--sweep-ms", type=int, default=sweep, help=f"reclaim sweep ({sweep})")
    parser.add_argument("--max-seconds", type=float, default=600, help="give up after this")
    parser.add_argument("--prefix", default="bench", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, count in (QUICK if args.quick else FULL).items():
        if getattr(args, name, None) is None:
            setattr(args, name, count)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, or one thinker process for it (``worker``)."""
    args = parse_args(argv)
    configure_logging("WARNING", "text")
    if args.mode == "worker":
        asyncio.run(serve(args))
        return 0
    log.setLevel(logging.INFO)
    try:
        result = asyncio.run(asyncio.wait_for(bench(args), timeout=args.max_seconds))
    except TimeoutError as error:  # everything started has been stopped by then
        log.error("benchmark timed out", extra={"detail": str(error) or f"{args.max_seconds} s"})
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.error("benchmark interrupted")
        return 130
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
