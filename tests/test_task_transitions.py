"""A task's state changes in one place, by one table, with the same bookkeeping every time."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from responder.metrics import CallMetrics
from responder.tasks import TRANSITIONS, DelegatedTask, TaskBook, TaskState

S = TaskState
ALLOWED = {
    (S.RUNNING, S.ANSWERED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.SUPERSEDED),
    (S.RUNNING, S.CANCELLED),
    (S.FAILED, S.ANSWERED),  # the late answer after "I could not get that done"
    (S.FAILED, S.SUPERSEDED),
    (S.ANSWERED, S.SUPERSEDED),  # corrected before its answer was said
}


class RecordingMetrics(CallMetrics):
    """Call metrics that also remember how often the caller's owed state was re-checked."""

    owed_checks: int = 0

    def owed_changed(self) -> None:
        self.owed_checks += 1
        super().owed_changed()


def book_with(state: TaskState) -> tuple[TaskBook, DelegatedTask, RecordingMetrics, list[Any]]:
    metrics = RecordingMetrics()
    events: list[dict[str, Any]] = []
    metrics.listeners.append(events.append)
    book = TaskBook(metrics)
    task = DelegatedTask(
        task_id="t1",
        number=1,
        request="opening hours on Sunday",
        epoch=1,
        tier="fast",
        call_id="call_1",
        arguments="{}",
        expected_wait_s=1.0,
        state=state,
    )
    book.add(task)
    return book, task, metrics, events


def test_the_table_is_the_one_written_here() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED
    assert not any(b is S.RUNNING for _, b in table)  # nothing goes back to running


@pytest.mark.parametrize(("before", "after"), list(itertools.product(S, S)))
def test_a_transition_is_applied_only_if_the_table_allows_it(
    before: TaskState, after: TaskState
) -> None:
    book, task, metrics, events = book_with(before)
    applied = book.transition(task, after, reason="test")
    assert applied == ((before, after) in ALLOWED)
    if applied:
        assert task.state is after
        assert task.changed.is_set()  # timers waiting on the task re-plan
        assert metrics.tasks == {after.value: 1}
        assert metrics.owed_checks == 1
        assert len(events) == 1
    else:
        assert task.state is before
        assert not task.changed.is_set()
        assert metrics.tasks == {}
        assert metrics.owed_checks == 0
        assert events == []


def test_each_transition_says_what_happened_in_one_call_event() -> None:
    book, task, metrics, events = book_with(S.RUNNING)
    book.transition(task, S.FAILED, outcome="expired")
    book.transition(task, S.ANSWERED)
    book.transition(task, S.SUPERSEDED)
    assert [{k: v for k, v in e.items() if k != "t"} for e in events] == [
        {"event": "task_failed", "task": 1, "outcome": "expired"},
        {"event": "task_answer", "task": 1, "final": True, "late": True},
        {"event": "task_stopped", "task": 1, "state": "superseded"},
    ]
    assert metrics.tasks == {"expired": 1, "answered": 1, "superseded": 1}


def test_an_answer_after_the_late_notice_is_marked_late() -> None:
    book, task, _, events = book_with(S.RUNNING)
    task.late_notice_given = True
    book.transition(task, S.ANSWERED)
    assert events[-1]["late"] is True


def test_the_book_knows_which_tasks_still_run() -> None:
    book, task, _, _ = book_with(S.RUNNING)
    assert book.running() == [task]
    book.transition(task, S.CANCELLED, reason="the thinker stopped it")
    assert book.running() == []
    assert book.all() == [task]
    assert book.by_number(1) is task
    assert book.get("t1") is task
