"""The pool benchmark's counting of lost, duplicated and stray answers and side effects
(``bench/_pool_ledger.py``). Its numbers are measured in the benchmark, never here."""

from __future__ import annotations

import math

from bench._pool_ledger import percentiles, side_effects, tally
from shared.wire import ErrorEvent, Event, PartialEvent, ResultEvent, StartedEvent


def started(task_id: str, ts_ms: int, attempt: int = 1, worker: str = "w1") -> StartedEvent:
    return StartedEvent(
        task_id=task_id, session_id="s", epoch=0, seq=0, attempt=attempt, ts_ms=ts_ms, worker=worker
    )


def result(task_id: str, ts_ms: int, attempt: int = 1) -> ResultEvent:
    return ResultEvent(
        task_id=task_id, session_id="s", epoch=0, seq=1, attempt=attempt, ts_ms=ts_ms, text="ok"
    )


def test_a_task_answered_once_gives_its_pickup_and_answer_times() -> None:
    seen = tally({"a": 1000}, [started("a", 1003), result("a", 2000)])
    assert seen.exactly_once
    assert seen.answered == 1
    assert (seen.pickup_ms, seen.answer_ms, seen.workers) == ({"a": 3}, {"a": 1000}, {"a": "w1"})


def test_a_task_without_a_terminal_event_is_lost() -> None:
    partial = PartialEvent(task_id="b", session_id="s", epoch=0, seq=1, text="x")
    seen = tally({"a": 0, "b": 0}, [result("a", 5), started("b", 1), partial])
    assert seen.lost == ["b"]
    assert not seen.exactly_once


def test_two_terminal_events_count_as_answered_twice_and_once_as_an_outcome() -> None:
    events: list[Event] = [started("a", 1), result("a", 9), started("a", 20, 2), result("a", 30, 2)]
    seen = tally({"a": 0}, events)
    assert seen.duplicated == {"a": 2}
    assert seen.outcomes["result"] == 1
    assert seen.redelivered == ["a"]
    assert seen.restarted_ts_ms == {"a": 20}
    assert seen.final_ts_ms == {"a": 9}


def test_an_error_ends_a_task_without_answering_it() -> None:
    error = ErrorEvent(task_id="a", session_id="s", epoch=0, seq=1, code="failed", message="no")
    seen = tally({"a": 0}, [error])
    assert seen.exactly_once
    assert seen.answered == 0
    assert seen.outcomes == {"error": 1}
    assert seen.answer_ms == {}


def test_events_of_a_task_nobody_submitted_are_strays() -> None:
    seen = tally({"a": 0}, [result("a", 1), result("zz", 2)])
    assert seen.strays == ["zz"]
    assert not seen.exactly_once


def test_side_effects_missing_repeated_and_unexpected() -> None:
    found = side_effects({"t1": "Ann", "t2": "Bo", "t3": "Cy"}, ["Ann", "Bo", "Bo", "Dee"])
    assert found == {"missing": ["t3"], "repeated": ["t2"], "unexpected": ["Dee"]}


def test_percentiles_of_nothing_are_nan() -> None:
    assert percentiles([10, 20, 30], (50,)) == {"p50": 20.0}
    assert math.isnan(percentiles([], (99,))["p99"])
