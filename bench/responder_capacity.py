"""Calls one responder machine holds (issue 18): concurrent calls through the production worker,
with LiveKit's process executor and its thread executor, until the calls degrade.

Run from the repository root: ``python -m bench.responder_capacity [--calls 1,2,4,8]
[--executor process|thread|both] [--window-s S] [--json]``.

**The path.** The production worker (:func:`responder.worker.build_server`, run by
:func:`responder.runner.serve`, unregistered) in its own process
(``python -m tests.fakes.simulated_job``, which reads one room per stdin line), with
``TANDEM_RESPONDER_JOB_EXECUTOR`` set; each call is a job from LiveKit's own
``simulate_job(fake_job=True)`` running tandem's real entry point in a job process (or job thread)
of LiveKit's pool; the realtime model is the real livekit-plugins-openai client against the fake
Realtime server (``tests.fakes.realtime``, in this process), which streams the agent's audio in
real time (100 ms deltas); delegated tasks go over a private ``redis-server`` to a real thinker
process (``python -m thinker``, started as the product starts it: the Claude brain with the
restaurant profile, against the pool benchmark's fake Messages API, which answers each request
after 3 s; :class:`~bench._pool_stack.Stack`). A quicker thinker would measure the floor's
waits instead of its work: an answer ready within 1.5 s of the caller's turn waits for that turn
to settle (``FloorArbiter``'s ``turn_settle_s``; a reply that is only a ``delegate`` call does
not end the wait), one ready 10 ms after it also for LiveKit's end-of-turn task (minimum
endpointing delay 0.5 s), and one ready about 2 s after it for the filler the responder starts
1 s after its acknowledgement.

The callers are played from the server's side (``bench/_capacity_calls.py`` says why no caller
audio reaches a simulated job): one delegated turn every 7-8 s per call, in which the agent
speaks for about 3 s (the responder's acknowledgement and a filler, 0.5 s each, and a 2 s
answer).

**The ladder.** Calls are added (``--calls``, default 1, 2, 4, 8, 12, 16, 20, 24, 32, 40,
48) and kept live; at each level, after ``--settle-s``, a window of ``--window-s`` is
measured. The ladder stops after the first level whose loop lag is past the budget (the
delegation figures are read from Redis after the run, so levels past the knee may be measured).

**Measures**, per level:

* **delegation overhead**: from the fake having sent the ``delegate`` call to the responder's
  ``response.create`` that speaks the answer, minus the thinker's own time (its ``started`` to
  its ``result`` event): the responder's tool handling and submit, the bus both ways, the
  pickup, the responder's reaction and floor. Its parts: **submit** (call sent to the task's
  ``created_ms``), **pickup** (to ``started``), **deliver** (``result`` to the speak request).
  All on the machine's one wall clock;
* **loop lag**: how late each call's event loop wakes for a timer due every 100 ms
  (``tandem_responder_event_loop_lag_seconds``, scraped from the worker's ``/metrics`` before
  and after the window; quantiles interpolated in buckets as Prometheus does). A late loop is a
  late audio frame, a late turn event, a late answer;
* **CPU**: cores used by the responder (worker process and every process under it) over the
  window, per call; and by the fake (this process), the thinker, Redis, and other work on the
  machine;
* **this process's loop lag** (the fake's and the callers'): its timestamps are the fake's, so
  a late loop here would show as responder overhead; reported beside the fake's audio pacing
  lateness to tell the two apart;
* **memory**: at the end of the window, the responder's processes together (PSS: shared pages
  counted once), and each job process holding a call (RSS, private USS).

**The budget** (stated before measuring): a level is within it when every turn was answered, the
loop-lag p99 is at most 50 ms, and the delegation-overhead p99 is at most twice the 1-call
level's or, if more, 100 ms above it (twice a few milliseconds is a difference no caller hears). The
**knee** is the first level past the budget; the **capacity** the level before it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from typing import IO, Any

import httpx
import numpy as np

from bench._capacity_calls import GREETING_S, REF, TURN_LIMIT_S, Board, Turn, converse
from bench._capacity_measure import (
    CpuSnapshot,
    TaskTimes,
    histogram_quantile,
    lag_buckets,
    memory,
    share_above,
    task_times,
)
from bench._machine import describe, machine
from bench._pool_ledger import percentiles
from bench._pool_stack import Stack
from responder.loop_lag import LoopLagProbe
from tests.fakes.realtime import FakeRealtime, Script
from tests.worker_process import clean_env, free_port

LEVELS = (1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 48)
LAG_BUDGET_S = 0.050
"""Loop-lag p99 above this is past the budget (a bucket bound of the histogram)."""
OVERHEAD_FACTOR = 2.0
OVERHEAD_SLACK_MS = 100.0
WORKER_START_S = 120.0
CALL_START_S = 60.0
PROFILE = "restaurant"
THINKER_FAKE_ARGS = ["--first-byte-delay-s", "3.0", "--chunk-chars", "1000"]
"""The thinker's model (``bench/_pool_fake.py``): each answer 3 s after the request, in one
delta (no early fact), as a lookup by a real model takes."""


class Worker:
    """The production worker in its own process; a call is added by writing a room name."""

    def __init__(self, executor: str, env: dict[str, str], log: IO[bytes]) -> None:
        self.executor = executor
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.simulated_job"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid

    def add_call(self, room: str) -> None:
        """Ask the worker for one more simulated job."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{room}\n".encode())
        self.process.stdin.flush()

    def stop(self) -> int:
        """End of stdin, SIGTERM (live calls drain for a second, then are shut down), exit."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


async def run_executor(
    executor: str,
    levels: list[int],
    args: argparse.Namespace,
    stack: Stack,
    prefix: str,
    thinker_pid: int,
) -> dict[str, Any]:
    """Climb the ladder with one executor; one row per level measured."""
    board = Board()
    rng = random.Random(args.seed)
    metrics_port = free_port()
    rows: list[dict[str, Any]] = []
    async with FakeRealtime(Script(policy=board.policy), strict=False) as fake:
        fake_port = int(fake.base_url.rsplit(":", 1)[1].split("/")[0])
        env = clean_env(
            REDIS_URL=stack.url,
            TANDEM_BUS_PREFIX=prefix,
            TANDEM_PROFILE=PROFILE,
            OPENAI_API_KEY="bench",
            OPENAI_BASE_URL=fake.base_url,
            TANDEM_RESPONDER_TURN_DETECTION="server",
            TANDEM_RESPONDER_HTTP_PORT=str(free_port()),
            TANDEM_RESPONDER_METRICS_PORT=str(metrics_port),
            TANDEM_RESPONDER_DRAIN_S="1",
            TANDEM_RESPONDER_JOB_EXECUTOR=executor,
            TANDEM_SESSION_MAX_DURATION_S="0",  # calls outlive the profile's 15 minutes here
        )
        log_path = stack.logs / f"worker-{executor}.log"
        stop = asyncio.Event()
        conversations: list[asyncio.Task[None]] = []
        assert stack.redis is not None
        redis_client = stack.redis
        with log_path.open("wb") as log:
            http = httpx.AsyncClient(timeout=10)
            worker = Worker(executor, env, log)
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            others = {
                "fakes": os.getpid(),
                "messages_fake": stack.fake_pid,
                "thinker": thinker_pid,
                "redis": await stack.redis_pid(),
            }
            try:
                for target in levels:
                    while len(conversations) < target:
                        limit = WORKER_START_S if not conversations else CALL_START_S
                        connection = await start_call(
                            fake, board, worker, len(conversations), limit
                        )
                        conversations.append(
                            asyncio.create_task(
                                later(
                                    GREETING_S + 0.5,
                                    converse(
                                        fake, board, len(conversations), connection, stop, rng
                                    ),
                                )
                            )
                        )
                    await asyncio.sleep(args.settle_s)
                    row = await measure_level(
                        target,
                        args.window_s,
                        worker,
                        others,
                        http,
                        metrics_url,
                        fake,
                        fake_port,
                        board,
                    )
                    rows.append(row)
                    # the fake's records (each response keeps the conversation it saw) would
                    # grow with the square of the turns, and this process's GC pauses with them
                    fake.sent.clear()
                    fake.received.clear()
                    del fake.responses[: -4 * len(conversations)]
                    if worker.process.poll() is not None:
                        row["worker_exited"] = worker.process.returncode
                        break
                    if not within_budget(rows):
                        break
                if rows:  # the last window's turns finish before the callers hang up
                    await answered(board, rows[-1]["window"][1])
                times = await task_times(redis_client, prefix, REF)
            finally:
                stop.set()
                for task in conversations:
                    task.cancel()
                await asyncio.gather(*conversations, return_exceptions=True)
                exit_code = await asyncio.to_thread(worker.stop)
                await http.aclose()
        for row in rows:
            row.update(delegation(board, times, row["window"]))
        within_budget(rows)  # now with the overhead of every level
        failures = [str(failure) for failure in fake.failures]
    log_text = log_path.read_text(errors="replace")
    return {
        "executor": executor,
        "levels": rows,
        "knee": next((row["calls"] for row in rows if not row["within_budget"]), None),
        "capacity": capacity(rows),
        "memory_per_call_mib": per_call(rows, "pss_total"),
        "cpu_cores_per_call": per_call(rows, "responder_cores"),
        "fake_failures": failures[:10],
        "greetings": board.greetings,
        "other_replies": board.other_replies,
        "worker_exit": exit_code,
        "worker_errors": log_text.count('"level": "ERROR"')
        + log_text.count('"levelname": "ERROR"'),
        "worker_tracebacks": log_text.count("Traceback"),
        "worker_log": str(log_path),
    }


class Samples:
    """Loop-lag samples of this process (the fake's and the callers' loop), in seconds."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def observe(self, amount: float) -> None:
        """Keep one sample."""
        self.values.append(amount)


async def answered(board: Board, before: float) -> None:
    """Until every turn asked before ``before`` has been answered, for at most one turn's
    limit (the rest count as failed)."""
    waits = [
        asyncio.create_task(t.answered.wait())
        for t in board.turns.values()
        if t.asked_at < before and not t.answered.is_set()
    ]
    if waits:
        await asyncio.wait(waits, timeout=TURN_LIMIT_S)
    for wait in waits:
        wait.cancel()


async def later(delay_s: float, coro: Any) -> None:
    """Run ``coro`` after ``delay_s``."""
    await asyncio.sleep(delay_s)
    await coro


async def start_call(
    fake: FakeRealtime, board: Board, worker: Worker, number: int, limit_s: float
) -> int:
    """Dispatch one call and wait for its greeting to be asked for; its connection index."""
    connections, greetings = len(fake.connections), board.greetings
    worker.add_call(f"capacity-{worker.executor}-{number}")
    await fake.wait_until(
        lambda: len(fake.connections) > connections and board.greetings > greetings,
        limit_s=limit_s,
    )
    return connections


async def measure_level(
    calls: int,
    window_s: float,
    worker: Worker,
    others: dict[str, int],
    http: httpx.AsyncClient,
    metrics_url: str,
    fake: FakeRealtime,
    fake_port: int,
    board: Board,
) -> dict[str, Any]:
    """One window at ``calls`` live calls: loop lag, CPU, memory (delegation is added later)."""
    # /proc is read in a thread: this process's loop is the fake's, whose timing is measured
    own_lag = Samples()
    probe = LoopLagProbe(own_lag)
    probe.start()
    lag_before = await lag_buckets(http, metrics_url)
    cpu_before = await asyncio.to_thread(CpuSnapshot.take, time.time(), worker.pid, others)
    responses_before = len(fake.responses)
    await asyncio.sleep(window_s)
    cpu_after = await asyncio.to_thread(CpuSnapshot.take, time.time(), worker.pid, others)
    lag_after = await lag_buckets(http, metrics_url)
    await probe.aclose()
    cores = cpu_after.cores_since(cpu_before)
    used = await asyncio.to_thread(memory, worker.pid, fake_port)
    late = [r.audio_late_s for r in fake.responses[responses_before:]]
    return {
        "calls": calls,
        "window": (cpu_before.at, cpu_after.at),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "loop_lag_ms": {
            "p50": ms(histogram_quantile(0.50, lag_before, lag_after)),
            "p99": ms(histogram_quantile(0.99, lag_before, lag_after)),
            "over_50ms_pct": round(100 * share_above(LAG_BUDGET_S, lag_before, lag_after), 2),
            "samples": int(lag_after.get(math.inf, 0) - lag_before.get(math.inf, 0)),
        },
        "cores": cores,
        "responder_cores": cores["responder"],
        "responder_cpu_ms_per_call_s": round(1000 * cores["responder"] / calls, 1),
        "memory_mib": used,
        "pss_total": used["pss_total"],
        "bench_loop_lag_ms": {
            k: round(1000 * v, 1) for k, v in percentiles(own_lag.values, (50, 99, 100)).items()
        },
        "fake_audio_late_ms": {
            k: round(1000 * v, 1) for k, v in percentiles(late, (50, 99, 100)).items()
        },
    }


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded (NaN stays NaN)."""
    return round(seconds * 1000, 1) if not math.isnan(seconds) else math.nan


def delegation(
    board: Board, times: dict[str, TaskTimes], window: tuple[float, float]
) -> dict[str, Any]:
    """The turns asked inside ``window``: how many, how many failed, the overhead and its parts."""
    turns = [t for t in board.turns.values() if window[0] <= t.asked_at < window[1]]
    parts: dict[str, list[float]] = {
        k: [] for k in ("overhead", "submit", "pickup", "think", "deliver")
    }
    failed = unmeasured = 0
    for turn in turns:
        timed = times.get(turn.ref)
        if turn.result_asked_at is None:
            failed += 1
            continue
        if not complete(turn, timed):
            unmeasured += 1
            continue
        assert timed is not None
        assert timed.started_ms is not None
        assert timed.result_ms is not None
        assert turn.call_sent_at is not None
        assert turn.result_asked_at is not None
        think = timed.result_ms - timed.started_ms
        parts["think"].append(think)
        parts["overhead"].append((turn.result_asked_at - turn.call_sent_at) * 1000 - think)
        parts["submit"].append(timed.created_ms - turn.call_sent_at * 1000)
        parts["pickup"].append(timed.started_ms - timed.created_ms)
        parts["deliver"].append(turn.result_asked_at * 1000 - timed.result_ms)
    summary = {
        f"{name}_ms": {k: round(v, 1) for k, v in percentiles(values, (50, 99, 100)).items()}
        for name, values in parts.items()
    }
    return {"turns": len(turns), "failed_turns": failed, "unmeasured_turns": unmeasured} | summary


def complete(turn: Turn, timed: TaskTimes | None) -> bool:
    """Whether the turn was delegated, answered by the thinker and asked to be spoken."""
    return (
        timed is not None
        and timed.started_ms is not None
        and timed.result_ms is not None
        and turn.call_sent_at is not None
        and turn.result_asked_at is not None
    )


def within_budget(rows: list[dict[str, Any]]) -> bool:
    """Mark each row ``within_budget`` (with ``why`` not) against the 1-call row; whether the
    last one is. Before the delegation figures are in, only the loop lag is judged."""
    base = rows[0].get("overhead_ms", {}).get("p99", math.nan)
    limit = max(OVERHEAD_FACTOR * base, base + OVERHEAD_SLACK_MS)
    for row in rows:
        why = []
        if row["loop_lag_ms"]["p99"] > LAG_BUDGET_S * 1000:
            why.append(f"loop lag p99 {row['loop_lag_ms']['p99']} ms > {LAG_BUDGET_S * 1000:g} ms")
        overhead = row.get("overhead_ms", {}).get("p99", math.nan)
        if not math.isnan(base) and overhead > limit:
            why.append(f"delegation overhead p99 {overhead:.0f} ms > {limit:.0f} ms")
        if row.get("failed_turns"):
            why.append(f"{row['failed_turns']} of {row['turns']} turns not answered")
        if "worker_exited" in row:
            why.append(f"the worker exited ({row['worker_exited']})")
        row["within_budget"] = not why
        row["why"] = "; ".join(why)
    return bool(rows[-1]["within_budget"])


def capacity(rows: list[dict[str, Any]]) -> int | None:
    """The most calls with every level up to it within the budget."""
    best = None
    for row in rows:
        if not row["within_budget"]:
            break
        best = row["calls"]
    return best


def per_call(rows: list[dict[str, Any]], field: str) -> float | None:
    """Least-squares slope of ``field`` against calls over the levels within the budget."""
    kept = [row for row in rows if row["within_budget"]]
    if len(kept) < 2:
        return None
    slope = np.polyfit([row["calls"] for row in kept], [row[field] for row in kept], 1)[0]
    return round(float(slope), 3)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Redis, the fake Messages API and a thinker for the whole run (the pool benchmark's
    :class:`~bench._pool_stack.Stack`); the ladder for each executor asked for."""
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM: stop like Ctrl-C does, through the clean-up below
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    executors = ["process", "thread"] if args.executor == "both" else [args.executor]
    prefix = f"cap{uuid.uuid4().hex[:8]}"
    stack = Stack(THINKER_FAKE_ARGS, lease_ms=2000, sweep_ms=250)
    results: dict[str, Any] = {"executors": {}, "logs": str(stack.logs)}
    try:
        await stack.start()
        (thinker,) = await stack.start_thinkers(1, prefix, concurrency=64)
        for executor in executors:
            results["executors"][executor] = await run_executor(
                executor, args.calls, args, stack, prefix, thinker
            )
    finally:
        await stack.close()
    return results


def render(result: dict[str, Any]) -> str:
    """A readable table per executor."""
    lines: list[str] = []
    header = (
        f"{'calls':>5} {'turns':>6} {'overhead p50/p99':>17} {'submit p99':>10} {'deliver p99':>11}"
        f" {'think p50':>9} {'lag p50/p99':>12} {'>50ms':>6} {'cores':>6} {'ms/call-s':>9}"
        f" {'PSS MiB':>8} {'job USS':>8} {'bench lag p99':>13} {'load':>5}  ok"
    )
    for executor, run in result["executors"].items():
        lines += ["", f"executor: {executor}", header]
        for row in run["levels"]:
            lag, mem = row["loop_lag_ms"], row["memory_mib"]
            lines.append(
                f"{row['calls']:>5} {row['turns']:>4}/{row['failed_turns']:<1}"
                f" {row['overhead_ms']['p50']:>8.0f}/{row['overhead_ms']['p99']:<8.0f}"
                f" {row['submit_ms']['p99']:>10.0f} {row['deliver_ms']['p99']:>11.0f}"
                f" {row['think_ms']['p50']:>9.0f} {lag['p50']:>5.1f}/{lag['p99']:<6.1f}"
                f" {lag['over_50ms_pct']:>6.2f} {row['responder_cores']:>6.2f}"
                f" {row['responder_cpu_ms_per_call_s']:>9.1f} {mem['pss_total']:>8.0f}"
                f" {mem['busy_job_uss_p50']:>8.0f} {row['bench_loop_lag_ms']['p99']:>13.1f}"
                f" {row['load_avg_1m']:>5.2f}"
                f"  {'yes' if row['within_budget'] else 'NO: ' + row['why']}"
            )
        lines.append(
            f"knee: {run['knee']}, capacity: {run['capacity']} calls; per call (levels within "
            f"budget): {run['memory_per_call_mib']} MiB PSS, {run['cpu_cores_per_call']} cores; "
            f"worker exit {run['worker_exit']}, {run['worker_errors']} error lines, "
            f"{run['worker_tracebacks']} tracebacks; fake failures {len(run['fake_failures'])}"
        )
    lines += ["", describe(result["machine"]), f"logs: {result['logs']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description="Concurrent calls one responder machine holds.")
    parser.add_argument(
        "--calls",
        type=lambda text: [int(n) for n in text.split(",")],
        default=list(LEVELS),
        help="comma-separated ladder of live calls (default %(default)s); stops at the knee",
    )
    parser.add_argument("--executor", choices=("process", "thread", "both"), default="both")
    parser.add_argument("--window-s", type=float, default=25.0, help="measured seconds per level")
    parser.add_argument("--settle-s", type=float, default=5.0, help="seconds before each window")
    parser.add_argument("--seed", type=int, default=18, help="seed of the callers' pauses")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    started = time.time()
    result = asyncio.run(bench(args))
    result["machine"] = machine() | {"load_avg_at_start": os.getloadavg()}
    result["elapsed_s"] = round(time.time() - started)
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
