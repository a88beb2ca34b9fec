"""Session journal benchmark (issue 16): what the session layer costs the call, and where.

Run from the repository root: ``python -m bench.session_journal [--calls N] [--json]``.

A recorded journal of a simulated call (``bench/data/journal-booking-with-barge-in.jsonl``,
113 events: the session's, the responder's, the thinker's and the caller's) is replayed through
the production pieces, ``--calls`` times, against a private redis-server:

* **emit, on the call's path**: :meth:`SessionJournal.emit` with the handlers a call has (the
  derived :class:`SessionState` and the live writer's queue), per event: p50, p99, max. This is
  everything the session layer adds where audio could wait. Target <= 50 us p99.
* **live copy, off the path**: redacting one event (:class:`shared.redact.Redactor`, names
  learnt as the call goes) and the writer's time from the first event queued to the whole
  journal in the Redis stream (pipelined batches, in the background).
* **record at hang-up**: :func:`save_call` for the whole call: redacting the journal as one
  (names learnt anywhere removed everywhere) and storing the record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench._machine import describe, machine
from responder.session.journal import SessionJournal
from responder.session.recorder import call_record, save_call
from responder.session.state import SessionState
from responder.session.store import SessionStore
from responder.session.writer import JournalWriter
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.keys import Keys
from shared.redact import Redactor
from shared.redis_client import connect

JOURNAL = Path(__file__).resolve().parent / "data" / "journal-booking-with-barge-in.jsonl"


def recorded_events(path: Path = JOURNAL) -> list[tuple[str, str, dict[str, Any]]]:
    """The recorded call's events as ``(source, event, fields)``, in order."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        fields = {k: v for k, v in event.items() if k not in ("t", "ts", "source", "event")}
        found.append((str(event["source"]), str(event["event"]), fields))
    return found


def figures_us(samples: list[float]) -> dict[str, float]:
    """p50, p99 and max of ``samples`` (seconds) in microseconds."""
    ordered = sorted(samples)
    p99 = statistics.quantiles(ordered, n=100, method="inclusive")[98]
    return {
        "n": len(ordered),
        "p50_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(p99 * 1e6, 1),
        "max_us": round(ordered[-1] * 1e6, 1),
    }


async def one_call(
    redis: Any, bus: BusSettings, events: list[tuple[str, str, dict[str, Any]]], number: int
) -> dict[str, list[float]]:
    """Replay ``events`` as one call; the timings of each part."""
    journal = SessionJournal(f"bench-{number}")
    state = SessionState()
    redactor = Redactor()
    redact_s: list[float] = []

    def live_copy(event: dict[str, Any]) -> dict[str, Any]:
        began = time.perf_counter()
        redactor.learn(event)
        copy = redactor.redact_event(event)
        redact_s.append(time.perf_counter() - began)
        return copy

    writer = JournalWriter(redis, bus, journal.session_id, redact=live_copy)
    journal.handlers += [state.apply, writer.add]
    journal.start_clock()
    writer.start()
    emit_s: list[float] = []
    began = time.perf_counter()
    for source, name, fields in events:
        start = time.perf_counter()
        journal.emit(source, name, **fields)
        emit_s.append(time.perf_counter() - start)
        await asyncio.sleep(0)  # the call's loop runs on between events
    await writer.aclose()
    live_s = time.perf_counter() - began
    store = SessionStore(redis, Keys(bus.prefix), 3600)
    record = call_record(journal, state, profile="restaurant", end_reason="bench", figures={})
    start = time.perf_counter()
    saved = await save_call(store, record, journal.events, timeout_s=10)
    record_s = time.perf_counter() - start
    if not saved:
        raise RuntimeError("the record was not saved")
    return {"emit": emit_s, "redact": redact_s, "live": [live_s], "record": [record_s]}


async def run(calls: int) -> dict[str, Any]:
    """Replay the recorded call ``calls`` times; the figures."""
    events = recorded_events()
    bus = BusSettings(_env_file=None, prefix="bench")
    with EmbeddedRedis() as server:
        redis = connect(server.url)
        try:
            samples: dict[str, list[float]] = {}
            for number in range(calls):
                for part, values in (await one_call(redis, bus, events, number)).items():
                    samples.setdefault(part, []).extend(values)
        finally:
            await redis.aclose()
    return {
        "machine": machine(),
        "events_per_call": len(events),
        "calls": calls,
        "emit_on_path": figures_us(samples["emit"]),
        "redact_one_event": figures_us(samples["redact"]),
        "live_copy_whole_call_ms": _ms(samples["live"]),
        "record_at_hang_up_ms": _ms(samples["record"]),
    }


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="replays of the recorded call")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = asyncio.run(run(args.calls))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(describe(results["machine"]))
    print(f"{results['calls']} calls of {results['events_per_call']} events")
    for name in ("emit_on_path", "redact_one_event"):
        f = results[name]
        print(f"{name:<18} p50 {f['p50_us']} us  p99 {f['p99_us']} us  max {f['max_us']} us")
    for name in ("live_copy_whole_call_ms", "record_at_hang_up_ms"):
        f = results[name]
        print(f"{name:<26} p50 {f['p50_ms']} ms  max {f['max_ms']} ms")


if __name__ == "__main__":
    main()
