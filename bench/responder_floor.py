"""Responder floor-control benchmark (issue 5): what the delegation path and the arbiter add.

Run from the repository root: ``python -m bench.responder_floor [--results N] [--json]``.

A real ``AgentSession`` with the real OpenAI ``RealtimeModel`` talks to the fake Realtime server
(``tests.fakes.realtime``) over a loopback websocket; a real thinker (``TaskWorker`` +
``ThinkerHandler``, a brain that answers at once) serves a private redis-server. Nobody speaks, so
the floor is free whenever a result arrives. Three spans, each with p50/p99/max:

* **result → speech requested (idle)**: the thinker's ``result`` event ``ts_ms`` (stamped just
  before its XADD) to the moment the arbiter calls ``generate_reply``: reading the session
  stream, appending the answer to the realtime conversation (a create/ack round trip to the
  server), queueing it on the floor, the idle check. Target <= 20 ms p99.
* **floor free → speech requested**: from the framework's ``wait_for_idle()`` returning (the
  caller stopped speaking, the agent finished) to ``generate_reply``: the arbiter's decision
  (staleness, priorities, coalescing). Target <= 5 ms p99.
* **tool call → task submitted**: the ``delegate`` tool's work before it releases the turn
  (latency history lookup, building the task, XADD). Target <= 5 ms p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from typing import Any

import httpx

from bench._machine import describe, machine
from responder.assembly import assemble_call, load_process_models
from responder.call import Call
from responder.floor import Utterance
from shared.bus import TaskOutcome, TaskWorker
from shared.config import BusSettings, ResponderSettings, Settings
from shared.embedded_redis import EmbeddedRedis
from shared.profile import find_profile
from shared.redis_client import connect
from tests.fakes.realtime import FakeRealtime, Reply, Say, Script
from thinker.brain import BrainContext
from thinker.handler import ThinkerHandler
from thinker.metrics import ThinkerMetrics
from tools import ToolRegistry

BENCH_PROFILE = "restaurant"
"""The installed demo profile (its persona and tools; the floor's work does not depend on them)."""


class InstantBrain:
    """Answers every task at once: the thinker's own time is not what is measured."""

    name = "instant"

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        """A one-line answer."""
        return TaskOutcome("Friday at 8 pm is free.")


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(p99 * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


async def bench(results: int) -> dict[str, Any]:
    """Run ``results`` delegations end to end; return the three spans."""
    script = Script(policy=lambda _request: Reply(Say("ok", duration_s=0.05)))
    with EmbeddedRedis() as server:
        redis = connect(server.url)
        bus_settings = BusSettings(_env_file=None, prefix="benchfloor", block_ms=1000)
        async with FakeRealtime(script, strict=False) as fake, httpx.AsyncClient() as http:
            settings = Settings(
                _env_file=None,
                redis_url=server.url,
                openai_api_key="bench",
                openai_base_url=fake.base_url,
                bus=bus_settings,
                responder=ResponderSettings(_env_file=None, turn_detection="server"),
            )
            handler = ThinkerHandler(
                InstantBrain(), ToolRegistry(), redis, http, ThinkerMetrics(), prefix="benchfloor"
            )
            worker = TaskWorker(redis, handler, bus_settings)
            worker_task = asyncio.create_task(worker.run())
            models = load_process_models(settings, find_profile(BENCH_PROFILE))
            call = await assemble_call(settings, models, session_id="bench", greet=False)
            requested: dict[str, float] = {}
            answered = asyncio.Event()

            def on_floor(what: str, utterance: Utterance) -> None:
                if what == "requested" and utterance.kind == "result":
                    requested[utterance.task_ids[0]] = time.time()
                    answered.set()

            call.floor.listeners.append(on_floor)
            await call.start()
            submit_s: list[float] = []
            result_to_request_s: list[float] = []
            for _ in range(results):
                answered.clear()
                started = time.perf_counter()
                task = await call.delegator.delegate("is Friday at eight free", call_id="")
                submit_s.append(time.perf_counter() - started)
                await asyncio.wait_for(answered.wait(), 10)
                await call.session.wait_for_idle()
                await asyncio.sleep(0.05)
                answered_ms = await _result_ts_ms(redis, call, task.task_id)
                result_to_request_s.append(requested[task.task_id] - answered_ms / 1000)
            floor_s = list(call.floor.stats.action_latency_s)
            await call.aclose()
            worker.request_stop(1.0)
            await worker_task
        await redis.aclose()
    return {
        "result_to_speech_requested": percentiles(result_to_request_s),
        "floor_free_to_speech_requested": percentiles(floor_s),
        "tool_call_to_task_submitted": percentiles(submit_s),
    }


async def _result_ts_ms(redis: Any, call: Call, task_id: str) -> int:
    from shared.keys import Keys
    from shared.wire import ResultEvent, decode_event

    stream = Keys("benchfloor").events(call.session_id)
    for _, fields in reversed(await redis.xrange(stream)):
        event = decode_event(fields)
        if isinstance(event, ResultEvent) and event.task_id == task_id:
            return event.ts_ms
    raise RuntimeError("result event not found")


def render(result: dict[str, Any]) -> str:
    """A readable table."""
    lines = [f"{'span':<34}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"]
    for name, stats in result["spans"].items():
        lines.append(
            f"{name:<34}{stats['n']:>6}{stats['p50_ms']:>10}{stats['p99_ms']:>10}"
            f"{stats['max_ms']:>10}"
        )
    lines.append(describe(result["machine"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description="What the responder's floor control adds.")
    parser.add_argument("--results", type=int, default=200, help="delegations to time")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    spans = asyncio.run(bench(args.results))
    result = {
        "spans": spans,
        "machine": machine(),
    }
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
