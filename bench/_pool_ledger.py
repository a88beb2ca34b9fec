"""What became of a batch of submitted tasks, read back from the session streams afterwards.

The pool benchmark (``bench/thinker_pool.py``) submits tasks, lets the thinkers run, then reads
every session stream of its prefix and hands the decoded events to :func:`tally`: which tasks got
exactly one terminal event, which got none (lost) or more than one (answered twice), terminal
events for tasks nobody submitted, redeliveries, and each task's pickup and answer times. Side
effects are checked the same way by :func:`side_effects`. Pure functions, no Redis: the counting
is tested on its own (``tests/test_pool_ledger.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from shared.wire import Event, StartedEvent


@dataclass
class Tally:
    """Every submitted task's fate, from its events."""

    submitted: int
    outcomes: Counter[str] = field(default_factory=Counter)
    """Terminal event type of each task that has one (its first, if it has several)."""
    lost: list[str] = field(default_factory=list)
    """Submitted tasks without a terminal event."""
    duplicated: dict[str, int] = field(default_factory=dict)
    """Task id -> number of terminal events, for tasks with more than one."""
    strays: list[str] = field(default_factory=list)
    """Task ids with events that no submitted task has."""
    redelivered: list[str] = field(default_factory=list)
    """Tasks started more than once (a ``started`` event with attempt > 1)."""
    restarted_ts_ms: dict[str, int] = field(default_factory=dict)
    """Task id -> ``ts_ms`` of its first ``started`` event with attempt > 1."""
    pickup_ms: dict[str, int] = field(default_factory=dict)
    """Task id -> first ``started`` ``ts_ms`` minus the task's ``created_ms``."""
    final_ts_ms: dict[str, int] = field(default_factory=dict)
    """Task id -> ``ts_ms`` of its (first) terminal event."""
    answer_ms: dict[str, int] = field(default_factory=dict)
    """Task id -> (first) terminal event ``ts_ms`` minus ``created_ms``, for ``result`` only."""
    workers: dict[str, str] = field(default_factory=dict)
    """Task id -> the worker named in its first ``started`` event."""

    @property
    def answered(self) -> int:
        """Tasks whose terminal event is a ``result``."""
        return self.outcomes["result"]

    @property
    def exactly_once(self) -> bool:
        """Every submitted task has exactly one terminal event, and nothing else has one."""
        return not (self.lost or self.duplicated or self.strays)


def tally(created_ms: Mapping[str, int], events: Iterable[Event]) -> Tally:
    """Count ``events`` (from any number of session streams, in stream order within each) against
    the submitted tasks ``created_ms`` (task id -> the task's ``created_ms``)."""
    result = Tally(submitted=len(created_ms))
    finals: dict[str, list[Event]] = defaultdict(list)
    starts: dict[str, list[StartedEvent]] = defaultdict(list)
    unknown: set[str] = set()
    for event in events:
        if event.task_id not in created_ms:
            unknown.add(event.task_id)
        elif event.final:
            finals[event.task_id].append(event)
        elif isinstance(event, StartedEvent):
            starts[event.task_id].append(event)
    result.strays = sorted(unknown)
    for task_id, created in created_ms.items():
        started = starts.get(task_id, [])
        if started:
            result.pickup_ms[task_id] = started[0].ts_ms - created
            result.workers[task_id] = started[0].worker
        again = [s.ts_ms for s in started if s.attempt > 1]
        if again:
            result.redelivered.append(task_id)
            result.restarted_ts_ms[task_id] = min(again)
        ended = finals.get(task_id, [])
        if not ended:
            result.lost.append(task_id)
            continue
        if len(ended) > 1:
            result.duplicated[task_id] = len(ended)
        first = ended[0]
        result.outcomes[first.type] += 1
        result.final_ts_ms[task_id] = first.ts_ms
        if first.type == "result":
            result.answer_ms[task_id] = first.ts_ms - created
    return result


def side_effects(expected: Mapping[str, str], done: Iterable[str]) -> dict[str, list[str]]:
    """Side effects against what was asked for: ``expected`` maps a task id to the mark its side
    effect carries (a booking's name), ``done`` lists the marks of the effects found. Returns the
    tasks with none (``missing``), those with more than one (``repeated``), and marks no task
    asked for (``unexpected``)."""
    found = Counter(done)
    wanted = set(expected.values())
    return {
        "missing": sorted(t for t, mark in expected.items() if found[mark] == 0),
        "repeated": sorted(t for t, mark in expected.items() if found[mark] > 1),
        "unexpected": sorted(mark for mark in found if mark not in wanted),
    }


def percentiles(values: Iterable[float], qs: Iterable[float] = (50, 99)) -> dict[str, float]:
    """``{"p50": ..., "p99": ...}`` (numpy's linear interpolation); NaN for no values."""
    data = np.asarray(list(values), dtype=float)
    return {f"p{q:g}": (float(np.percentile(data, q)) if data.size else float("nan")) for q in qs}
