"""Crash recovery under load (issue 18): SIGKILL a thinker while ``--tasks`` (200) are in flight.

``python -m bench.thinker_pool --crash [--processes 2] [--tasks 200] [--kill-at 0.5]``.
The pool (2 thinkers by default, each allowed to hold every task: concurrency = tasks) warms up,
then gets ``--tasks`` booking tasks at once, one session each: "Book a table for 2 under
<name> on <day> at <time>", confirmed. The fake model answers each with a ``book_table`` call
(the restaurant profile's real tool: it writes the booking to Redis under the task's idempotency
key), then, given the tool's result, with a confirmation: two streamed model requests and one
side effect per task. Once every entry has been delivered and ``--kill-at`` (half) of the
bookings are made (mid-way: every task in flight, some with their side effect done and their
second model call streaming, others still in their first), the thinker holding the most entries
is SIGKILLed. The bench then waits until the consumer group
has nothing pending and reads back:

* every session stream of the run: each task must have exactly one terminal event (none: lost;
  more: answered twice; a terminal event of an unknown task: stray);
* every booking in the tool's store: each task's name exactly once. More: done twice. None: fine
  if the task expired or its answer says the tool failed, a lost side effect if the answer says
  booked. A booking made for a task that ended without an answer must be listed in that
  terminal event's ``done`` (the bus reads it from the tool's record), or the caller is never
  told of it;
* the tool's locks still held 1 s after the kill (a live thinker holds a day's lock for
  milliseconds, so these are the killed thinker's, held until their time-out);
* times from the kill (one clock: the thinkers' ``ts_ms``): first redelivery (``started`` with
  attempt 2), the last of the killed thinker's tasks answered, every task answered.

Lease and sweep interval (``TANDEM_BUS_LEASE_MS``, ``TANDEM_BUS_SWEEP_INTERVAL_MS``) bound when the
first orphan is taken over; how many orphans a survivor takes over at a time bounds the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench._pool_fake import NOT_BOOKED
from bench._pool_ledger import percentiles, side_effects, tally
from bench._pool_stack import (
    PROFILE,
    Stack,
    bus_settings,
    delete_prefix,
    drained,
    session_events,
    warm_up,
)
from bench.bus_roundtrip import pid_of
from shared.bus import ResponderBus
from shared.keys import GROUP, Keys
from shared.wire import Event, ResultEvent, TaskRequest, now_ms
from tools import ToolStore

SLOTS = ("12:00", "19:00", "21:00")
"""Seatings two hours apart on Tuesday to Saturday: each is open at the demo restaurant."""
PER_SLOT = 7
"""Bookings per seating: half of the restaurant's 14 tables."""
RESPONDER_TIMEOUT_S = 30.0
"""The responder's default task deadline (``TANDEM_RESPONDER_TASK_TIMEOUT_S``)."""


def booking_slots(count: int, today: date) -> list[tuple[str, str]]:
    """``count`` (day, time) pairs, :data:`PER_SLOT` per seating, from two days after ``today``
    on, Tuesdays to Saturdays only (the demo restaurant's tool refuses closed times)."""
    slots: list[tuple[str, str]] = []
    day = today + timedelta(days=2)
    while len(slots) < count:
        if 1 <= day.weekday() <= 5:
            for at in SLOTS:
                slots += [(day.isoformat(), at)] * PER_SLOT
        day += timedelta(days=1)
    return slots[:count]


async def booking_names(store: ToolStore) -> list[str]:
    """The name of every booking in the tool's store."""
    redis = store.redis
    keys = [k async for k in redis.scan_iter(match=store.key("booking:*"), count=1000)]
    values = await redis.mget(keys) if keys else []
    return [json.loads(v)["name"] for v in values if v is not None]


async def held_locks(store: ToolStore) -> dict[str, int]:
    """The tool's locks that exist now, each with its remaining lifetime (ms)."""
    names = [k async for k in store.redis.scan_iter(match=store.key("lock:*"), count=1000)]
    return {name.rsplit(":lock:", 1)[-1]: int(await store.redis.pttl(name)) for name in names}


async def bookings_reach(store: ToolStore, count: float, *, timeout_s: float) -> bool:
    """Wait until the store holds ``count`` bookings (True), or ``timeout_s``."""
    for _ in range(int(timeout_s / 0.02)):
        if len(await booking_names(store)) >= count:
            return True
        await asyncio.sleep(0.02)
    return False


async def all_delivered(bus: ResponderBus, timeout_s: float) -> bool:
    """Wait until the group has delivered the newest entry of the task stream."""
    for _ in range(int(timeout_s / 0.02)):
        group = next(g for g in await bus.redis.xinfo_groups(bus.keys.tasks) if g["name"] == GROUP)
        last = (await bus.redis.xinfo_stream(bus.keys.tasks))["last-generated-id"]
        if group["last-delivered-id"] == last:
            return True
        await asyncio.sleep(0.02)
    return False


async def crash(ctx: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Run the crash scenario once; the figures and the checks."""
    stack: Stack = ctx["stack"]
    prefix = f"crash-{uuid.uuid4().hex[:6]}"
    keys = Keys(prefix)
    bus = ResponderBus(ctx["redis"], bus_settings(prefix, args.lease_ms, args.sweep_ms))
    await bus.start()
    processes = args.processes[0]
    await stack.start_thinkers(processes, prefix, args.concurrency)
    store = ToolStore(bus.redis, prefix, "bookings")
    try:
        await warm_up(bus, processes)
        run = uuid.uuid4().hex[:4]
        today = now_date()
        created: dict[str, int] = {}
        expected: dict[str, str] = {}
        submissions = []
        for i, (day, at) in enumerate(booking_slots(args.tasks, today)):
            name = f"Crash {run} {i:04d}"
            link = bus.session(f"crash-{run}-{i}")
            task = TaskRequest.create(
                session_id=link.session_id,
                request=f"Book a table for 2 under {name} on {day} at {at}.",
                epoch=0,
                timeout_s=args.timeout_s,
                profile=PROFILE,
                confirmed=True,
            )
            created[task.task_id], expected[task.task_id] = task.created_ms, name
            submissions.append(link.submit(task))
        await asyncio.gather(*submissions)
        if not await all_delivered(bus, 30):
            raise RuntimeError("the thinkers did not take every task within 30 s")
        delivered_ms = now_ms()
        if not await bookings_reach(store, args.kill_at * args.tasks, timeout_s=120):
            raise RuntimeError("the thinkers did not make the bookings the kill waits for")
        consumers = await bus.redis.xinfo_consumers(keys.tasks, GROUP)
        victim = max(consumers, key=lambda c: int(c["pending"]))
        booked_before = set(await booking_names(store))
        kill_ms = now_ms()
        stack.kill(pid_of(victim["name"]))
        await asyncio.sleep(1.0)  # a live thinker holds a day's lock for milliseconds
        stale_locks = await held_locks(store)
        emptied = await drained(bus.redis, keys, timeout_s=args.max_seconds, poll_s=0.05)
        events = await session_events(bus.redis, keys)
        seen = tally(created, events)
        effects = side_effects(expected, await booking_names(store))
    finally:
        await stack.stop_thinkers()
        await delete_prefix(ctx["redis"], [f"{{{prefix}}}:*", f"{prefix}:*"])
    orphans = [t for t, worker in seen.workers.items() if worker == victim["name"]]
    held = {str(c["name"]): int(c["pending"]) for c in consumers}
    since_kill = {t: ts - kill_ms for t, ts in seen.final_ts_ms.items()}
    # a restart before the kill: a live thinker's lease lapsed (its event loop stalled for a
    # whole lease) and another took the entry over; the bus stops the first copy
    restarts = sorted(ts - kill_ms for ts in seen.restarted_ts_ms.values() if ts >= kill_ms)
    stolen = [t for t, ts in seen.restarted_ts_ms.items() if ts < kill_ms]
    late = [t for t, ms in seen.answer_ms.items() if ms > RESPONDER_TIMEOUT_S * 1000]
    finals: dict[str, Event] = {}
    for event in events:
        if event.final:
            finals.setdefault(event.task_id, event)
    not_booked = sorted(
        t for t, e in finals.items() if isinstance(e, ResultEvent) and e.text == NOT_BOOKED
    )
    missing = set(effects["missing"])
    # no booking, yet the answer says it was made: a side effect lost
    unannounced = sorted(t for t in missing if isinstance(finals.get(t), ResultEvent))
    unannounced = [t for t in unannounced if t not in not_booked]
    # a booking made, yet the task ended without an answer that tells of it
    silent = sorted(
        t
        for t, e in finals.items()
        if t not in missing and not isinstance(e, ResultEvent) and not getattr(e, "done", ())
    )
    return {
        "prefix": prefix,
        "thinkers": processes,
        "tasks": args.tasks,
        "held_at_kill": held,
        "victim": victim["name"],
        "victim_tasks": len(orphans),
        "victim_tasks_booked_before_kill": sum(expected[t] in booked_before for t in orphans),
        "kill_after_all_delivered_ms": kill_ms - delivered_ms,
        "booked_at_kill": len(booked_before),
        "drained": emptied,
        "outcomes": dict(seen.outcomes),
        "lost": seen.lost,
        "answered_twice": seen.duplicated,
        "strays": seen.strays,
        "redelivered": len(seen.redelivered),
        "bookings": effects,
        "said_not_booked": not_booked,
        "locks_held_1s_after_kill": stale_locks,
        "unannounced_missing": unannounced,
        "booked_but_not_told": silent,
        "ended_unanswered_with_done": sum(
            bool(getattr(e, "done", ())) for e in finals.values() if not isinstance(e, ResultEvent)
        ),
        "exactly_once": seen.exactly_once
        and not (unannounced or silent or effects["repeated"] or effects["unexpected"]),
        "taken_over_before_kill": len(stolen),
        "first_redelivery_s": round(restarts[0] / 1000, 3) if restarts else None,
        "redelivery_spacing_s": spacing(restarts),
        "victim_tasks_done_s": seconds(max((since_kill[t] for t in orphans), default=0)),
        "all_done_s": seconds(max(since_kill.values(), default=0)),
        "survivor_answer_ms": percentiles(
            (ms for t, ms in seen.answer_ms.items() if t not in orphans), (50, 99)
        ),
        "victim_answer_ms": percentiles(
            (ms for t, ms in seen.answer_ms.items() if t in orphans), (50, 99, 100)
        ),
        "answered_after_responder_timeout": len(late),
    }


def now_date() -> date:
    """Today at the demo restaurant."""
    return datetime.now(ZoneInfo("Europe/Lisbon")).date()


def seconds(ms: float) -> float:
    """Milliseconds as seconds, 3 decimals."""
    return round(ms / 1000, 3)


def spacing(times_ms: list[int]) -> dict[str, float] | None:
    """Median and largest gap between consecutive redeliveries, in seconds."""
    gaps = [b - a for a, b in itertools.pairwise(times_ms)]
    if not gaps:
        return None
    return {k: seconds(v) for k, v in percentiles(gaps, (50, 100)).items()}


def render_crash(result: dict[str, Any]) -> str:
    """The crash result as readable lines."""
    m, c, r = result["machine"], result["config"], result["crash"]
    b = r["bookings"]
    gap = r["redelivery_spacing_s"] or {}
    lines = [
        f"Thinker pool crash recovery at {m['revision']}: nproc {m['nproc']} ({m['cpu_model']}), "
        f"{m['platform']}, Python {m['python']}, redis-server {m['redis_server']}; load average "
        f"{result['load_avg_1m']['min']:.2f}-{result['load_avg_1m']['max']:.2f}",
        f"{r['thinkers']} thinkers, concurrency {c['concurrency']}, lease {c['lease_ms']} ms, "
        f"sweep {c['sweep_ms']} ms, max deliveries {c['max_deliveries']}; fake model: first byte "
        f"{c['first_byte_delay_s']} s, deltas every {c['delta_delay_s']} s; "
        f"task deadline {c['timeout_s']:g} s",
        "",
        f"tasks in flight at the kill: {r['held_at_kill']} (killed {r['victim']}, "
        f"{r['kill_after_all_delivered_ms']} ms after all were delivered, with "
        f"{r['booked_at_kill']} bookings made)",
        f"killed thinker's tasks: {r['victim_tasks']}, of which "
        f"{r['victim_tasks_booked_before_kill']} had already made their booking",
        f"outcomes: {r['outcomes']}; lost {len(r['lost'])}, answered twice "
        f"{len(r['answered_twice'])}, strays {len(r['strays'])}; redelivered {r['redelivered']} "
        f"({r['taken_over_before_kill']} before the kill: a live thinker's lease lapsed)",
        f"bookings: missing {len(b['missing'])} (answered 'not booked': "
        f"{len(r['said_not_booked'])}; missing without saying so: "
        f"{len(r['unannounced_missing'])}), made twice {len(b['repeated'])}, unexpected "
        f"{len(b['unexpected'])}; made but the task ended without saying so "
        f"{len(r['booked_but_not_told'])}; ended unanswered with the booking in 'done' "
        f"{r['ended_unanswered_with_done']}; "
        f"all accounted for: {'yes' if r['exactly_once'] else 'NO'}",
        f"tool locks still held 1 s after the kill (name: ms left): "
        f"{r['locks_held_1s_after_kill'] or 'none'}",
        f"from the kill: first redelivery {r['first_redelivery_s']} s; redeliveries every "
        f"{gap.get('p50', float('nan')):.2f} s (max {gap.get('p100', float('nan')):.2f} s); "
        f"killed thinker's tasks all answered {r['victim_tasks_done_s']} s; "
        f"every task answered {r['all_done_s']} s",
        "answer from submission: survivor's tasks p50/p99 "
        + "/".join(f"{v / 1000:.2f}" for v in r["survivor_answer_ms"].values())
        + " s; killed thinker's tasks p50/p99/max "
        + "/".join(f"{v / 1000:.2f}" for v in r["victim_answer_ms"].values())
        + f" s; answered after {RESPONDER_TIMEOUT_S:g} s (the responder's default deadline): "
        f"{r['answered_after_responder_timeout']}",
    ]
    if result["thinker_logs"]:
        lines.append(f"the thinkers logged warnings or errors: see {result['thinker_logs']}")
    return "\n".join([*lines, f"elapsed {result['elapsed_s']} s"])
