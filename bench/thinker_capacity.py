"""Thinker capacity benchmark (issue 4): how many concurrent tasks one thinker process holds.

Every model request goes to the fake Anthropic server (``tests.fakes.anthropic``, in its own
process), which answers with a short text after a fixed first-byte delay (2 s), no tool calls. Each
level gets a fresh thinker (``python -m thinker``: the real bus worker, Claude brain, tools and
metrics) on a fresh bus prefix, ready once a warm-up task has made the full round trip. N tasks
are then submitted, one ``SessionLink`` (session) each:

* ``burst``: all N at once (``--submitters`` coroutines XADD their shares back to back);
* ``steady``: N / delay tasks per second for ``--hold-s`` seconds, so about N are in flight
  once the first answers come back (Little's law).

Each task is created (``created_ms``) immediately before its own XADD. **Pickup** is the ``started``
event's ``ts_ms`` (stamped by the thinker just before its PICKUP script) minus ``created_ms``;
**completion** is the terminal event's ``ts_ms`` minus ``created_ms``: one clock, 1 ms resolution.
Nothing reads events while a level runs: the bench polls ``XINFO GROUPS`` and the thinker's RSS
every 20 ms, and reads every session with pipelined ``XRANGE`` afterwards, so its only load is the
submissions. A level **holds** if every task is answered with pickup p99 <= 10 ms; the ladder
stops after a level that leaves tasks unanswered. ``--json`` prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
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
from importlib.metadata import version
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.utils import HIREDIS_AVAILABLE

from shared.bus import ResponderBus
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.log import configure_logging
from shared.redis_client import connect
from shared.wire import StartedEvent, TaskRequest, decode_event

log = logging.getLogger("bench.thinker_capacity")

REPO = Path(__file__).resolve().parent.parent
LEVELS = (10, 25, 50, 100, 250, 500, 1000, 1500, 2000)
QUICK_LEVELS = (10, 50)
TARGET_TASKS = 1000
TARGET_PICKUP_P99_MS = 10.0
READY_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 40.0
REQUEST = "Is there a table for two at eight tonight?"
FAKE = ("-m", "tests.fakes.anthropic", "--text", "Yes, two at eight is free.")
THINKER_ENV = {  # with REDIS_URL, ANTHROPIC_BASE_URL, TANDEM_BUS_PREFIX, TANDEM_BUS_CONCURRENCY
    "ANTHROPIC_API_KEY": "bench",
    "TANDEM_THINKER_HTTP_PORT": "0",
    "TANDEM_THINKER_REQUEST_TIMEOUT_S": "30",
    "TANDEM_LOG_LEVEL": "WARNING",
    "TANDEM_LOG_FORMAT": "text",
}
# ``python -m thinker`` under cProfile (``--profile``); not used by default.
PROFILED_THINKER = """\
import cProfile, sys
from thinker.cli import thinker_command
profile = cProfile.Profile()
try:
    profile.runcall(thinker_command, args=[])
except SystemExit:
    pass
finally:
    profile.dump_stats(sys.argv[1])
"""


# -- processes and /proc -------------------------------------------------------------------


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphans if we are killed


def spawn(
    procs: list[subprocess.Popen[bytes]], argv: list[str], **env: str
) -> subprocess.Popen[bytes]:
    """Start a child in the repository (stdout piped, stderr inherited) and remember it."""
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=os.environ | env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )
    procs.append(proc)
    return proc


def stop(procs: list[subprocess.Popen[bytes]], proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a child, SIGKILL it if it is still alive 10 s later."""
    proc.terminate()  # no-ops once the child has been waited for
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    proc.kill()
    proc.wait()
    procs.remove(proc)
    if proc.stdout is not None:
        proc.stdout.close()


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (``VmRSS``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return int(next(ln for ln in status if ln.startswith("VmRSS:")).split()[1]) / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds used by ``pid`` so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- one level -----------------------------------------------------------------------------


async def warm_up(bus: ResponderBus, proc: subprocess.Popen[bytes]) -> None:
    """One full task round trip through the thinker and the fake: the thinker is ready."""
    link = bus.session(f"warmup-{uuid.uuid4().hex[:8]}")
    task = TaskRequest.create(session_id=link.session_id, request=REQUEST, epoch=0, timeout_s=30)
    await link.submit(task)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        for event in await link.read(block_ms=200):
            if event.final and event.type == "result":
                return await link.end(cancel_open=False)
            if event.final:
                raise RuntimeError(f"the warm-up task ended with {event.type!r}")
    raise RuntimeError(f"the thinker did not answer a warm-up task (exit status {proc.poll()})")


async def submit(bus: ResponderBus, n: int, spread_s: float, submitters: int) -> list[TaskRequest]:
    """Submit ``n`` tasks, one session each; task i is due ``i * spread_s / n`` after the start."""
    tasks: list[TaskRequest] = []
    start, run = time.perf_counter(), uuid.uuid4().hex[:6]

    async def submitter(first: int) -> None:
        for i in range(first, n, submitters):
            delay = start + i * spread_s / n - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            link = bus.session(f"cap-{run}-{i}")
            task = TaskRequest.create(
                session_id=link.session_id, request=REQUEST, epoch=0, timeout_s=60
            )
            await link.submit(task)  # created_ms was stamped just above, right before this XADD
            tasks.append(task)

    await asyncio.gather(*(submitter(k) for k in range(submitters)))
    return tasks


async def watch(bus: ResponderBus, pid: int, submitting: asyncio.Task[Any]) -> dict[str, Any]:
    """Sample the thinker's RSS and the group's pending count every 20 ms until every submitted
    task is delivered and acked, or :data:`DRAIN_TIMEOUT_S` after the last submission."""
    seen: dict[str, Any] = {"peak_rss_mib": 0.0, "peak_in_flight": 0, "timed_out": False}
    deadline = math.inf
    while True:
        seen["peak_rss_mib"] = max(seen["peak_rss_mib"], rss_mib(pid))
        group = (await bus.redis.xinfo_groups(bus.keys.tasks))[0]
        seen["peak_in_flight"] = max(seen["peak_in_flight"], group["pending"])
        if submitting.done():
            deadline = min(deadline, time.monotonic() + DRAIN_TIMEOUT_S)
            last = (await bus.redis.xinfo_stream(bus.keys.tasks))["last-generated-id"]
            if group["pending"] == 0 and group["last-delivered-id"] == last:
                return seen
            if time.monotonic() > deadline:
                return seen | {"timed_out": True}
        await asyncio.sleep(0.02)


async def collect(bus: ResponderBus, tasks: list[TaskRequest]) -> dict[str, Any]:
    """Every task's pickup, completion and outcome (pipelined XRANGE); deletes their sessions."""
    pickups: list[float] = []
    completions: list[float] = []
    outcomes: dict[str, int] = {}
    restarted = 0
    for at in range(0, len(tasks), 500):
        batch, k = tasks[at : at + 500], bus.keys
        async with bus.redis.pipeline(transaction=False) as pipe:
            for task in batch:
                pipe.xrange(k.events(task.session_id))
            replies = await pipe.execute()
            for sid in (task.session_id for task in batch):
                pipe.delete(k.events(sid), k.done(sid), k.claims(sid), k.cancels(sid))
            await pipe.execute()
        for task, entries in zip(batch, replies, strict=True):
            events = [decode_event(fields) for _id, fields in entries]
            started = [e for e in events if isinstance(e, StartedEvent)]
            if started:
                pickups.append(started[0].ts_ms - task.created_ms)
                restarted += any(e.attempt > 1 for e in started)
            final = next((e for e in events if e.final), None)
            kind = final.type if final is not None else "unanswered"
            outcomes[kind] = outcomes.get(kind, 0) + 1
            if final is not None and kind == "result":
                completions.append(final.ts_ms - task.created_ms)
    return {
        **{f"pickup_p{q}_ms": pct(pickups, q) for q in (50, 99, 100)},
        **{f"completion_p{q}_ms": pct(completions, q) for q in (50, 99)},
        "answered": outcomes.pop("result", 0),
        "errors": outcomes,
        "restarted": restarted,
    }


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else math.nan


async def level(ctx: dict[str, Any], mode: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one level on a fresh thinker process."""
    prefix = f"cap-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    bus = ResponderBus(ctx["redis"], BusSettings(_env_file=None, prefix=prefix))
    await bus.start()
    argv = [sys.executable, "-m", "thinker"]
    if args.profile:
        argv = [sys.executable, "-c", PROFILED_THINKER, f"{args.profile}-{mode}-{n}.prof"]
    env = THINKER_ENV | {"REDIS_URL": ctx["url"], "ANTHROPIC_BASE_URL": ctx["fake_url"]}
    env |= {"TANDEM_BUS_PREFIX": prefix, "TANDEM_BUS_CONCURRENCY": str(args.concurrency)}
    proc = spawn(ctx["procs"], argv, **env)
    try:
        await warm_up(bus, proc)
        idle = rss_mib(proc.pid)
        pids = ctx["pids"] | {"thinker": proc.pid}
        cpu0 = {name: cpu_s(pid) for name, pid in pids.items()}
        steady = mode == "steady"
        count = round(n * args.hold_s / args.delay_s) if steady else n
        began = time.perf_counter()
        submitting = asyncio.create_task(
            submit(bus, count, args.hold_s if steady else 0.0, args.submitters)
        )
        seen = await watch(bus, proc.pid, submitting)
        tasks = await submitting
        wall = time.perf_counter() - began
        cpu = {name: round(cpu_s(pid) - cpu0[name], 2) for name, pid in pids.items()}
    finally:
        stop(ctx["procs"], proc)
    row: dict[str, Any] = {"mode": mode, "level": n, "tasks": len(tasks), "wall_s": round(wall, 2)}
    row |= await collect(bus, tasks)
    row |= seen | {"idle_rss_mib": round(idle, 1), "peak_rss_mib": round(seen["peak_rss_mib"], 1)}
    row["kib_per_task"] = round(
        (seen["peak_rss_mib"] - idle) * 1024 / max(1, seen["peak_in_flight"]), 1
    )
    row |= {"cpu_s": cpu, "thinker_cpu_ms_per_task": round(cpu["thinker"] * 1000 / len(tasks), 2)}
    row["holds"] = row["answered"] == len(tasks) and row["pickup_p99_ms"] <= TARGET_PICKUP_P99_MS
    await bus.redis.delete(bus.keys.tasks, bus.keys.control, bus.keys.dlq)
    return row


def knee(rows: list[dict[str, Any]]) -> int:
    """The highest level that held with every lower level holding too (0 if none did)."""
    held = 0
    for row in sorted(rows, key=lambda r: int(r["level"])):
        if not row["holds"]:
            break
        held = row["level"]
    return held


# -- run, report ---------------------------------------------------------------------------


def revision() -> str:
    """The commit measured, ``+dirty`` if tracked files differ from it (read-only git calls)."""
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    head, dirty = (
        subprocess.run([*git, *cmd], capture_output=True, text=True).stdout.strip()
        for cmd in (["rev-parse", "--short", "HEAD"], ["status", "--porcelain", "-uno"])
    )
    return (head or "unknown") + ("+dirty" if dirty else "")


def machine_info(redis_version: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{package: version(package) for package in ("anthropic", "redis", "aiohttp")},
        "hiredis": HIREDIS_AVAILABLE,
        "redis_server": redis_version,
        "load_avg_1m": os.getloadavg()[0],
        "revision": revision(),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Start Redis, the fake and (per level) a thinker; climb the ladder; stop everything."""
    embedded, procs = EmbeddedRedis(), list[subprocess.Popen[bytes]]()
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM: stop like Ctrl-C does, through the clean-up below
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    began = time.perf_counter()
    redis: Redis | None = None
    try:
        url = embedded.start()
        redis = connect(url, name="bench-capacity")
        fake = spawn(procs, [sys.executable, *FAKE, "--first-byte-delay-s", str(args.delay_s)])
        assert fake.stdout is not None
        fake_url = (await asyncio.wait_for(asyncio.to_thread(fake.stdout.readline), 30)).decode()
        if not fake_url.startswith("http"):
            raise RuntimeError(f"the fake Anthropic server did not start ({fake.poll()})")
        server = await redis.info("server")
        pids = {"fake": fake.pid, "redis": int(server["process_id"]), "bench": os.getpid()}
        ctx = {"redis": redis, "url": url, "procs": procs, "fake_url": fake_url.strip()}
        ctx["pids"] = pids
        result: dict[str, Any] = {"machine": machine_info(server["redis_version"])}
        config = ("levels", "modes", "delay_s", "hold_s", "submitters", "concurrency")
        result["config"] = {key: getattr(args, key) for key in config}
        rows: list[dict[str, Any]] = []
        for mode in args.modes:
            for n in args.levels:
                log.info("level", extra={"mode": mode, "tasks_in_flight": n})
                rows.append(await level(ctx, mode, n, args))
                if rows[-1]["answered"] < rows[-1]["tasks"] and not args.keep_going:
                    break
    finally:
        for proc in list(procs):
            stop(procs, proc)
        if redis is not None:
            await redis.aclose()
        embedded.close()
    result["levels"] = rows
    result["knee"] = {mode: knee([r for r in rows if r["mode"] == mode]) for mode in args.modes}
    result["target"] = {"tasks": TARGET_TASKS, "pickup_p99_ms": TARGET_PICKUP_P99_MS}
    result["target"]["met"] = {mode: k >= TARGET_TASKS for mode, k in result["knee"].items()}
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    return result


def render(result: dict[str, Any]) -> str:
    """The result as a readable table."""
    m, c = result["machine"], result["config"]
    lines = [
        f"Thinker capacity at {m['revision']}: {m['cpus']} CPUs ({m['cpu_model']}), "
        f"{m['platform']}, Python {m['python']}, anthropic {m['anthropic']}, redis-py {m['redis']},"
        f" redis-server {m['redis_server']}; fake model delay {c['delay_s']} s",
        "",
        f"{'mode':<7}{'N':>6}{'tasks':>7}{'pickup p50/p99/max ms':>23}{'done p50/p99 s':>16}"
        f"{'answered':>9}{'errors':>8}{'in flight':>10}{'RSS idle/peak MiB':>19}{'KiB/task':>9}"
        f"{'CPU ms/task':>12}{'holds':>6}",
    ]
    for r in result["levels"]:
        pickup = "/".join(f"{r[f'pickup_p{q}_ms']:.0f}" for q in (50, 99, 100))
        done = "/".join(f"{r[f'completion_p{q}_ms'] / 1000:.2f}" for q in (50, 99))
        rss = f"{r['idle_rss_mib']:.0f}/{r['peak_rss_mib']:.0f}"
        lines.append(
            f"{r['mode']:<7}{r['level']:>6}{r['tasks']:>7}{pickup:>23}{done:>16}{r['answered']:>9}"
            f"{sum(r['errors'].values()):>8}{r['peak_in_flight']:>10}{rss:>19}"
            f"{r['kib_per_task']:>9.1f}{r['thinker_cpu_ms_per_task']:>12.2f}"
            f"{'yes' if r['holds'] else 'NO':>6}"
        )
    lines.append("")
    for mode, k in result["knee"].items():
        verdict = "met" if k >= TARGET_TASKS else "MISSED"
        lines.append(f"{mode}: knee {k} tasks in flight (target >= {TARGET_TASKS}: {verdict})")
    return "\n".join([*lines, f"elapsed {result['elapsed_s']} s"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description="Concurrent tasks one thinker process holds.")
    add = parser.add_argument
    add("--json", action="store_true", help="print one JSON object on stdout")
    add("--quick", action="store_true", help=f"smoke run: levels {QUICK_LEVELS}, steady 3 s")
    add("--levels", type=lambda s: [int(x) for x in s.split(",")], help=f"ladder {LEVELS}")
    add("--modes", type=lambda s: s.split(","), default=["burst", "steady"], help="burst,steady")
    add("--keep-going", action="store_true", help="climb on after a level left tasks unanswered")
    add("--delay-s", type=float, default=2.0, help="fake model first-byte delay (2.0)")
    add("--hold-s", type=float, help="steady: seconds of arrivals (6; quick 3)")
    add("--submitters", type=int, default=16, help="submitting coroutines (16)")
    add("--concurrency", type=int, default=5000, help="TANDEM_BUS_CONCURRENCY (5000)")
    add("--profile", help="cProfile each thinker to PROFILE-<mode>-<N>.prof")
    add("--max-seconds", type=float, default=1200, help="give up after this (1200)")
    args = parser.parse_args(argv)
    if not set(args.modes) <= {"burst", "steady"}:
        parser.error("--modes takes burst and/or steady")
    args.levels = args.levels or list(QUICK_LEVELS if args.quick else LEVELS)
    args.hold_s = args.hold_s or (3.0 if args.quick else 6.0)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    args = parse_args(argv)
    configure_logging("WARNING", "text")
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
