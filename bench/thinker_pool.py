"""Thinker pool benchmark (issue 18): tasks per second 1, 2 and 4 thinker processes sustain on
one Redis, and (``--crash``) recovery when a thinker is killed with 200 tasks in flight.

Everything is real except the model: one private ``redis-server`` (unix socket), thinker
processes started as the product starts them (:class:`shared.thinker_process.ThinkerProcess`,
i.e. ``python -m thinker`` with the Claude brain, the restaurant profile's tools, the bus worker),
and the fake Messages API (``bench/_pool_fake.py``, in its own process) that the real anthropic SDK
streams from: each reply after a first-byte delay (0.6 s), then ``text_delta`` events 40 ms apart
(about 1.0 s per answer, like a short spoken answer from a fast model).

**Scaling** (default). Load is **open-loop**: for each process count, Poisson arrivals at a rising
ladder of rates, ``--hold-s`` seconds each, one task per arrival on one of ``--sessions``
sessions. Open loop, because callers do not wait for each other: a closed loop (each session
waiting for its answer before asking again) slows its own arrivals when the pool slows down and so
hides the queueing that pickup latency is meant to show. **Pickup** is a task's ``started``
``ts_ms`` (stamped by the thinker just before its PICKUP script) minus its ``created_ms`` (stamped
just before its XADD); **answer** is its ``result`` ``ts_ms`` minus ``created_ms``: one clock.
**done/s** counts terminal events in the steady window (from ``--warm-s`` after the first arrival
to the last); **arrived/s** counts the arrivals in the same window moved one answer time (p50,
at most ``--warm-s``) earlier, the arrivals those completions answer. A rate is **sustained** when
every task is answered exactly once, pickup p99 <= ``--pickup-p99-ms`` and done/s >= 95% of
arrived/s; a process count's **sustained rate** is the highest rate sustained with every lower one
sustained too. The ladder stops after a rate where done/s falls under 90% of arrived/s.

**Crash** (``--crash``): see ``bench/_pool_crash.py``.

``--json`` prints one JSON object on stdout; the table otherwise. Nothing here is asserted: the
numbers go in BENCHMARKS.md with the command and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import sys
import time
import uuid
from typing import Any

from bench._pool_crash import crash, render_crash
from bench._pool_ledger import Tally, percentiles, tally
from bench._pool_stack import (
    PROFILE,
    REQUEST,
    Stack,
    bus_settings,
    cpu_of,
    delete_prefix,
    drained,
    machine_busy_s,
    session_events,
    warm_up,
)
from shared.bus import ResponderBus
from shared.config import BusSettings
from shared.log import configure_logging
from shared.wire import TaskRequest, now_ms

log = logging.getLogger("bench.thinker_pool")

RATES = (10, 25, 50, 75, 100, 125, 150, 200, 250)
QUICK_RATES = (10, 40)
KEEP_UP = 0.95
OVERLOADED = 0.90
DRAIN_TIMEOUT_S = 60.0
FAKE_DEFAULTS = {"first_byte_delay_s": 0.6, "delta_delay_s": 0.04, "chunk_chars": 16}


# -- one rate ------------------------------------------------------------------------------


async def offer(
    bus: ResponderBus, rate: float, hold_s: float, sessions: int, rng: random.Random
) -> tuple[dict[str, int], list[float]]:
    """Poisson arrivals at ``rate``/s for ``hold_s``; returns each task's ``created_ms`` and how
    late each submission was against its schedule (ms)."""
    links = [bus.session(f"pool-{uuid.uuid4().hex[:8]}") for _ in range(sessions)]
    created: dict[str, int] = {}
    lag_ms: list[float] = []
    start = time.perf_counter()
    due = rng.expovariate(rate)
    i = 0
    while due < hold_s:
        wait = start + due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        lag_ms.append(max(0.0, (time.perf_counter() - start - due) * 1000))
        link = links[i % sessions]
        task = TaskRequest.create(
            session_id=link.session_id, request=REQUEST, epoch=0, timeout_s=60, profile=PROFILE
        )
        await link.submit(task)  # created_ms was stamped just above, right before this XADD
        created[task.task_id] = task.created_ms
        i += 1
        due += rng.expovariate(rate)
    return created, lag_ms


def in_window(values: list[int], start_ms: int, end_ms: int) -> int:
    """How many of ``values`` fall in ``[start_ms, end_ms)``."""
    return sum(start_ms <= v < end_ms for v in values)


def level_row(
    rate: float, created: dict[str, int], seen: Tally, began_ms: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One rate's figures from its tasks' events."""
    window = (began_ms + int(args.warm_s * 1000), began_ms + int(args.hold_s * 1000))
    span_s = (window[1] - window[0]) / 1000
    pickup = percentiles(seen.pickup_ms.values(), (50, 99, 100))
    answer = percentiles(seen.answer_ms.values(), (50, 99))
    # the arrivals those completions answer: one answer time earlier (at most --warm-s, so an
    # overloaded pool, whose answers take ever longer, is compared with its full offered load)
    shift = int(min(answer["p50"] if seen.answer_ms else 0.0, args.warm_s * 1000))
    arrived = in_window(list(created.values()), window[0] - shift, window[1] - shift) / span_s
    done = in_window(list(seen.final_ts_ms.values()), *window) / span_s
    row: dict[str, Any] = {
        "rate": rate,
        "tasks": seen.submitted,
        "arrived_per_s": round(arrived, 1),
        "done_per_s": round(done, 1),
        "answered": seen.answered,
        "outcomes": dict(seen.outcomes),
        "lost": len(seen.lost),
        "answered_twice": len(seen.duplicated),
        "strays": len(seen.strays),
        "redelivered": len(seen.redelivered),
        **{f"pickup_{q}_ms": round(v, 1) for q, v in pickup.items()},
        **{f"answer_{q}_ms": round(v, 1) for q, v in answer.items()},
    }
    row["sustained"] = (
        seen.answered == seen.submitted
        and seen.exactly_once
        and pickup["p99"] <= args.pickup_p99_ms
        and done >= KEEP_UP * arrived
    )
    row["overloaded"] = bool(done < OVERLOADED * arrived or seen.lost)
    return row


async def run_rate(
    ctx: dict[str, Any], bus: ResponderBus, rate: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Offer ``rate`` tasks/s, wait for the pool to drain, read what happened."""
    pids: dict[str, int] = ctx["pids"]
    cpu0, busy0, wall0 = cpu_of(pids), machine_busy_s(), time.perf_counter()
    began_ms = now_ms()
    created, lag_ms = await offer(bus, rate, args.hold_s, args.sessions, ctx["rng"])
    emptied = await drained(bus.redis, bus.keys, timeout_s=DRAIN_TIMEOUT_S)
    wall = time.perf_counter() - wall0
    cpu1, busy1 = cpu_of(pids), machine_busy_s()
    seen = tally(created, await session_events(bus.redis, bus.keys))
    await delete_prefix(bus.redis, [bus.keys.events("*"), f"{bus.keys.prefix}:{{s:*}}:*"])
    row = level_row(rate, created, seen, began_ms, args)
    used = {name: cpu1[name] - cpu0[name] for name in pids}
    thinkers = sum(v for k, v in used.items() if k.startswith("thinker"))
    row |= {
        "drained": emptied,
        "submit_lag_p99_ms": round(percentiles(lag_ms, (99,))["p99"], 1),
        "wall_s": round(wall, 1),
        "cpu_s": {k: round(v, 2) for k, v in used.items()},
        "thinker_cpu_ms_per_task": round(thinkers * 1000 / max(1, len(created)), 2),
        "cores_busy": round(sum(used.values()) / wall, 2),
        "other_cores_busy": round(max(0.0, busy1 - busy0 - sum(used.values())) / wall, 2),
        "load_avg_1m": os.getloadavg()[0],
    }
    return row


async def pool(ctx: dict[str, Any], processes: int, args: argparse.Namespace) -> dict[str, Any]:
    """Climb the rate ladder with ``processes`` thinkers on a fresh prefix."""
    stack: Stack = ctx["stack"]
    prefix = f"pool{processes}-{uuid.uuid4().hex[:6]}"
    bus = ResponderBus(ctx["redis"], bus_settings(prefix, args.lease_ms, args.sweep_ms))
    await bus.start()
    thinker_pids = await stack.start_thinkers(processes, prefix, args.concurrency)
    ctx["pids"] = ctx["base_pids"] | {f"thinker{i}": pid for i, pid in enumerate(thinker_pids)}
    rows: list[dict[str, Any]] = []
    try:
        await warm_up(bus, processes)
        for rate in args.rates:
            log.info("rate", extra={"processes": processes, "rate": rate})
            rows.append(await run_rate(ctx, bus, rate, args) | {"processes": processes})
            if rows[-1]["overloaded"]:
                break
    finally:
        await stack.stop_thinkers()
        await delete_prefix(ctx["redis"], [f"{{{prefix}}}:*", f"{prefix}:*"])
    sustained = 0.0
    for row in rows:
        if not row["sustained"]:
            break
        sustained = row["rate"]
    at = next((r for r in rows if r["rate"] == sustained), None)
    return {
        "processes": processes,
        "sustained_rate": sustained,
        "pickup_p99_ms_at_sustained": at["pickup_p99_ms"] if at else None,
        "max_done_per_s": max((r["done_per_s"] for r in rows), default=0.0),
        "levels": rows,
    }


# -- run, report ---------------------------------------------------------------------------


def fake_args(args: argparse.Namespace) -> list[str]:
    """The fake's command line."""
    return [
        *("--first-byte-delay-s", str(args.first_byte_delay_s)),
        *("--delta-delay-s", str(args.delta_delay_s)),
        *("--chunk-chars", str(args.chunk_chars)),
    ]


async def with_stack(args: argparse.Namespace) -> dict[str, Any]:
    """Start the stack, run the chosen benchmark, stop everything whatever happens."""
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM: stop like Ctrl-C does, through the clean-up below
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    stack = Stack(fake_args(args), args.lease_ms, args.sweep_ms)
    began = time.perf_counter()
    try:
        redis = await stack.start()
        result: dict[str, Any] = {"machine": await stack.machine()}
        result["config"] = config(args)
        base = {"fake": stack.fake_pid, "redis": await stack.redis_pid(), "bench": os.getpid()}
        ctx: dict[str, Any] = {"stack": stack, "redis": redis, "base_pids": base}
        ctx["rng"] = random.Random(args.seed)
        loads = [os.getloadavg()[0]]
        if args.crash:
            result["crash"] = await crash(ctx, args)
        else:
            result["pools"] = []
            for processes in args.processes:
                result["pools"].append(await pool(ctx, processes, args))
                loads += [r["load_avg_1m"] for r in result["pools"][-1]["levels"]]
        loads.append(os.getloadavg()[0])
        result["load_avg_1m"] = {"min": min(loads), "max": max(loads)}
    finally:
        await stack.close()
    result["thinker_logs"] = stack.kept_logs  # warnings and errors, when there were any
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    return result


def config(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a result was measured with."""
    keys = ["processes", "rates", "hold_s", "warm_s", "sessions", "concurrency", "lease_ms"]
    keys += ["sweep_ms", "pickup_p99_ms", "first_byte_delay_s", "delta_delay_s", "chunk_chars"]
    keys += ["seed", "crash", "tasks", "kill_at", "timeout_s"]
    return {key: getattr(args, key) for key in keys} | {
        "max_deliveries": BusSettings(_env_file=None).max_deliveries
    }


def render(result: dict[str, Any]) -> str:
    """The result as readable tables."""
    if "crash" in result:
        return render_crash(result)
    m, c = result["machine"], result["config"]
    lines = [
        f"Thinker pool at {m['revision']}: nproc {m['nproc']} ({m['cpu_model']}), "
        f"{m['platform']}, Python {m['python']}, redis-server {m['redis_server']}; load average "
        f"{result['load_avg_1m']['min']:.2f}-{result['load_avg_1m']['max']:.2f}",
        f"fake model: first byte {c['first_byte_delay_s']} s, deltas of {c['chunk_chars']} chars "
        f"every {c['delta_delay_s']} s; concurrency {c['concurrency']} per thinker; "
        f"hold {c['hold_s']} s per rate; sustained = all answered once, pickup p99 <= "
        f"{c['pickup_p99_ms']:g} ms, done/s >= {KEEP_UP:.0%} of arrived/s",
        "",
        f"{'procs':>5}{'rate':>6}{'tasks':>7}{'arrived/s':>10}{'done/s':>8}"
        f"{'pickup p50/p99/max ms':>23}{'answer p50/p99 ms':>19}{'answered':>9}{'lost':>5}"
        f"{'twice':>6}{'CPU ms/task':>12}{'cores ours/other':>17}{'sustained':>10}",
    ]
    for p in result["pools"]:
        for r in p["levels"]:
            pickup = "/".join(f"{r[f'pickup_p{q}_ms']:.0f}" for q in (50, 99, 100))
            answer = "/".join(f"{r[f'answer_p{q}_ms']:.0f}" for q in (50, 99))
            lines.append(
                f"{r['processes']:>5}{r['rate']:>6g}{r['tasks']:>7}{r['arrived_per_s']:>10.1f}"
                f"{r['done_per_s']:>8.1f}{pickup:>23}{answer:>19}{r['answered']:>9}"
                f"{r['lost']:>5}{r['answered_twice']:>6}{r['thinker_cpu_ms_per_task']:>12.2f}"
                f"{r['cores_busy']:>11.2f}{'/':1}{r['other_cores_busy']:<5.2f}"
                f"{'yes' if r['sustained'] else 'no':>10}"
            )
    lines += ["", f"{'procs':>5}{'sustained tasks/s':>19}{'pickup p99 there':>18}"]
    lines[-1] += f"{'max done/s':>12}"
    for p in result["pools"]:
        at = p["pickup_p99_ms_at_sustained"]
        lines.append(
            f"{p['processes']:>5}{p['sustained_rate']:>19g}"
            f"{'-' if at is None else f'{at:.0f} ms':>18}{p['max_done_per_s']:>12.1f}"
        )
    if result["thinker_logs"]:
        lines.append(f"the thinkers logged warnings or errors: see {result['thinker_logs']}")
    return "\n".join([*lines, f"elapsed {result['elapsed_s']} s"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    defaults = BusSettings(_env_file=None)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = parser.add_argument
    add("--json", action="store_true", help="print one JSON object on stdout")
    add("--quick", action="store_true", help=f"smoke run: rates {QUICK_RATES}, 4 s each")
    add("--processes", type=int, nargs="+", default=[1, 2, 4], help="pool sizes (1 2 4)")
    add("--rates", type=float, nargs="+", help=f"offered tasks/s ladder {RATES}")
    add("--hold-s", type=float, help="seconds of arrivals per rate (10; quick 4)")
    add("--warm-s", type=float, default=2.0, help="start of the done/s window (2)")
    add("--sessions", type=int, default=100, help="sessions the tasks are spread over (100)")
    add("--concurrency", type=int, help=f"TANDEM_BUS_CONCURRENCY ({defaults.concurrency})")
    add("--pickup-p99-ms", type=float, default=100.0, help="pickup bound of 'sustained' (100)")
    add("--lease-ms", type=int, default=defaults.lease_ms, help="TANDEM_BUS_LEASE_MS")
    add("--sweep-ms", type=int, default=defaults.sweep_interval_ms, help="sweep interval")
    add("--first-byte-delay-s", type=float, default=FAKE_DEFAULTS["first_byte_delay_s"])
    add("--delta-delay-s", type=float, default=FAKE_DEFAULTS["delta_delay_s"])
    add("--chunk-chars", type=int, default=int(FAKE_DEFAULTS["chunk_chars"]))
    add("--seed", type=int, default=18, help="seed of the arrival times (18)")
    add("--crash", action="store_true", help="crash recovery instead of scaling")
    add("--tasks", type=int, default=200, help="crash: tasks in flight (200)")
    add("--kill-at", type=float, default=0.5, help="crash: kill once this share has booked (0.5)")
    add("--timeout-s", type=float, default=600.0, help="crash: each task's deadline (600)")
    add("--max-seconds", type=float, default=1800, help="give up after this (1800)")
    args = parser.parse_args(argv)
    args.rates = args.rates or list(QUICK_RATES if args.quick else RATES)
    args.hold_s = args.hold_s or (4.0 if args.quick else 10.0)
    if args.concurrency is None:
        args.concurrency = defaults.concurrency
        if args.crash:  # each thinker may hold every task: all of them are in flight
            args.concurrency = max(args.tasks, defaults.concurrency)
    if args.crash and args.processes == [1, 2, 4]:
        args.processes = [2]
    if not 0 <= args.kill_at < 1:
        parser.error("--kill-at is a share of the tasks: 0 <= it < 1")
    if args.warm_s >= args.hold_s:
        parser.error("--warm-s must be shorter than --hold-s")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    args = parse_args(argv)
    configure_logging("WARNING", "text")
    log.setLevel(logging.INFO)
    try:
        result = asyncio.run(asyncio.wait_for(with_stack(args), timeout=args.max_seconds))
    except TimeoutError:  # everything started has been stopped by then
        log.error("benchmark timed out", extra={"limit_s": args.max_seconds})
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.error("benchmark interrupted")
        return 130
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
