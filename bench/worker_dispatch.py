"""Worker dispatch benchmark (issue 12): how fast the production worker turns a dispatched job
into a live call, and what a call costs in memory, through LiveKit's real process pool.

Run from the repository root: ``python -m bench.worker_dispatch [--jobs N] [--offline] [--json]``.

The worker is the production one (:func:`responder.worker.build_server`, run by
:func:`responder.runner.serve`, unregistered); each job comes from LiveKit's own
``simulate_job(fake_job=True)`` and runs the real entry point in a job process of the pool,
against the fake Realtime server (``tests.fakes.realtime``) over a loopback websocket, on a
private redis-server. Jobs are dispatched one at a time and kept live, so the first ones find a
warm process and later ones may wait for the pool to start one. Per job:

* **dispatch → model connected**: ``simulate_job`` called to the realtime session's first
  ``session.update`` at the server (the call assembled: services, session, delegation, floor);
  offline (no realtime server), **dispatch → call started** instead: to the entry point's
  "call started";
* **dispatch → greeting requested**: to the first ``response.create`` (the agent starts talking);
* **job process memory**: of each job process with a live call (Linux ``/proc``): RSS, and the
  private memory (USS: what the machine gets back when the call's process exits; the rest is
  shared with the other job processes through the ``forkserver``).

Dispatches are ``--gap`` seconds apart (1.5 s), time for the pool to warm a process for the
next one, as when calls arrive spread out; ``--gap 0`` dispatches them back to back.

Also reported: each job process's prewarm time (LiveKit's "process initialized"), for the realtime
profile or, with ``--offline``, the offline one (Whisper and the hibari voice load there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from bench._machine import describe, machine
from responder.runner import serve
from responder.worker import TandemServer, build_server
from shared.config import ResponderSettings, Settings
from shared.embedded_redis import EmbeddedRedis
from shared.profile import find_profile
from tests.fakes.realtime import FakeRealtime, Reply, Say, Script


class _JobLog(logging.Handler):
    """Collects what job processes report: LiveKit's "process initialized" (the time each
    prewarm took) and tandem's "call started" (the entry point's own time)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.prewarm_s: list[float] = []
        self.entrypoint_s: list[float] = []
        self.calls_started = asyncio.Condition()
        self._loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        """Runs on LiveKit's log-forwarding thread."""
        message = record.getMessage()
        if message == "process initialized":
            self.prewarm_s.append(float(getattr(record, "elapsed_time", 0.0)))
        elif message == "call started":
            self.entrypoint_s.append(float(getattr(record, "setup_ms", 0.0)) / 1000)
            asyncio.run_coroutine_threadsafe(self._notify(), self._loop)

    async def _notify(self) -> None:
        async with self.calls_started:
            self.calls_started.notify_all()

    async def until_calls(self, count: int) -> None:
        """Until ``count`` calls have started."""
        async with self.calls_started:
            await self.calls_started.wait_for(lambda: len(self.entrypoint_s) >= count)


def summary_ms(values: list[float]) -> dict[str, float]:
    """n, p50, max in milliseconds."""
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 1) if values else 0.0,
        "max_ms": round(max(values) * 1000, 1) if values else 0.0,
    }


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident and private (USS) memory of ``pid`` in MiB (zeros if it is gone)."""
    memory = smaps_mb(pid)
    return memory["rss"], memory["uss"]


def smaps_mb(pid: int) -> dict[str, float]:
    """``rss``, ``pss`` (resident, shared pages divided among the processes sharing them: summed
    over processes, what they take together) and ``uss`` (private) memory of ``pid`` in MiB,
    from Linux's ``smaps_rollup`` (zeros if it is gone)."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                fields[name] = int(value.split()[0])
    except OSError:
        return {"rss": 0.0, "pss": 0.0, "uss": 0.0}
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {
        "rss": fields.get("Rss", 0) / 1024,
        "pss": fields.get("Pss", 0) / 1024,
        "uss": private / 1024,
    }


async def bench(jobs: int, offline: bool, gap_s: float) -> dict[str, Any]:
    """Dispatch ``jobs`` calls one after another; return the spans and memory."""
    job_log = _JobLog(asyncio.get_running_loop())
    for name in ("livekit.agents", "tandem.responder"):
        logging.getLogger(name).addHandler(job_log)
    script = Script(policy=lambda _request: Reply(Say("Good evening.", duration_s=0.2)))
    with EmbeddedRedis() as redis:
        async with FakeRealtime(script, strict=False) as fake:
            mode: Any = "offline" if offline else "realtime"
            settings = Settings(
                _env_file=None,
                redis_url=redis.url,
                openai_api_key="bench",
                openai_base_url=fake.base_url,
                responder=ResponderSettings(
                    _env_file=None, mode=mode, http_port=0, metrics_port=0, drain_s=0
                ),
            )
            server = build_server(settings, find_profile("restaurant"))
            connected: list[float] = []
            greeted: list[float] = []
            memory: list[tuple[float, float]] = []
            done = asyncio.Event()

            async def dispatch(started: TandemServer) -> None:
                try:
                    for n in range(jobs):
                        await asyncio.sleep(gap_s)
                        updates = len(fake.events("session.update"))
                        creates = len(fake.events("response.create"))
                        t0 = time.perf_counter()
                        await started.simulate_job(f"bench-{n}", fake_job=True)
                        if not offline:
                            await _until_more(fake, "session.update", updates)
                            connected.append(time.perf_counter() - t0)
                            await _until_more(fake, "response.create", creates)
                            greeted.append(time.perf_counter() - t0)
                        else:
                            await job_log.until_calls(n + 1)
                            connected.append(time.perf_counter() - t0)
                    await asyncio.sleep(1.0)
                    memory.extend(_job_memory(started))
                finally:
                    done.set()

            running = asyncio.create_task(serve(server, register=False, on_started=dispatch))
            await done.wait()
            await server.aclose()
            await running
    for name in ("livekit.agents", "tandem.responder"):
        logging.getLogger(name).removeHandler(job_log)
    first = "dispatch_to_call_started" if offline else "dispatch_to_model_connected"
    return {
        "profile": "offline" if offline else "realtime",
        first: summary_ms(connected),
        "dispatch_to_greeting_requested": summary_ms(greeted),
        "entrypoint_to_call_started": summary_ms(job_log.entrypoint_s),
        "prewarm": summary_ms(job_log.prewarm_s),
        "job_process_memory_mb": {
            "n": len(memory),
            "rss_p50": round(statistics.median(m[0] for m in memory), 1) if memory else 0.0,
            "private_p50": round(statistics.median(m[1] for m in memory), 1) if memory else 0.0,
            "private_max": round(max(m[1] for m in memory), 1) if memory else 0.0,
        },
    }


async def _until_more(fake: FakeRealtime, event: str, seen: int) -> None:
    await fake.wait_until(lambda: len(fake.events(event)) > seen, limit_s=120)


def _job_memory(server: TandemServer) -> list[tuple[float, float]]:
    busy = [proc for proc in server._proc_pool.processes if proc.running_job]
    pids = [getattr(proc, "pid", None) for proc in busy]  # process executors have one
    return [memory_mb(pid) for pid in pids if isinstance(pid, int)]


def render(result: dict[str, Any]) -> str:
    """A readable table."""
    lines = [f"profile: {result['profile']}", f"{'span':<34}{'n':>5}{'p50 ms':>10}{'max ms':>10}"]
    for name in (
        "dispatch_to_model_connected",
        "dispatch_to_call_started",
        "dispatch_to_greeting_requested",
        "entrypoint_to_call_started",
        "prewarm",
    ):
        stats = result.get(name)
        if not stats or not stats["n"]:
            continue
        lines.append(f"{name:<34}{stats['n']:>5}{stats['p50_ms']:>10}{stats['max_ms']:>10}")
    memory = result["job_process_memory_mb"]
    lines.append(
        f"job process memory (n={memory['n']}): RSS p50 {memory['rss_p50']} MiB, private p50 "
        f"{memory['private_p50']} MiB, max {memory['private_max']} MiB"
    )
    lines.append(describe(result["machine"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description="Dispatch to live call, through the job pool.")
    parser.add_argument("--jobs", type=int, default=8, help="calls to dispatch (kept live)")
    parser.add_argument("--offline", action="store_true", help="the offline speech profile")
    parser.add_argument("--gap", type=float, default=1.5, help="seconds between dispatches")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name in ("livekit.agents", "tandem.responder"):
        logging.getLogger(name).setLevel(logging.INFO)
    result = asyncio.run(bench(args.jobs, args.offline, args.gap))
    result["machine"] = machine()
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
