"""The caller-side figures as defined in :mod:`simulator.analysis`: talk-over with its onset,
dead air only while the caller is owed something, and the time to the first relevant answer of
delegated turns, from hand-built records and events; then how an evaluation reports them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from simulator.analysis import dead_air, owed, summarize, talk_over, turns
from simulator.console import eval_table, run_table
from simulator.evaluate import scenario_row, write_report
from simulator.record import CallRecord, Speech, TaskSpan
from simulator.run import RunResult
from simulator.scenario import Scenario, Step


def caller(start: float, end: float, text: str = "line") -> Speech:
    return Speech("caller", start, end, text)


def agent(start: float, end: float, kind: str = "reply", *tasks: int) -> Speech:
    return Speech("agent", start, end, f"{kind} line", kind, tasks=tasks)


def submitted(t: float, task: int) -> dict[str, Any]:
    return {"t": t, "source": "responder", "event": "task_submitted", "task": task}


def booking(*extra: Speech, tasks: list[TaskSpan] | None = None) -> CallRecord:
    """Greeting, a request, its ack at 5.5, a filler at 7.5 and the answer at 9.0; 20 s long."""
    speech = [
        agent(0.0, 2.0),
        caller(3.0, 5.0, "A table for two."),
        agent(5.5, 6.5, "ack", 1),
        agent(7.5, 8.0, "filler", 1),
        agent(9.0, 12.0, "result", 1),
        *extra,
    ]
    return CallRecord("t", 20.0, speech, tasks or [TaskSpan(1, "a table", 5.5, 8.9, "answered")])


# -- talk-over ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent_start", "counted"),
    [
        (9.9, False),  # the agent started first: the caller cut in
        (10.0, False),  # both started together
        (10.2, False),  # within the onset: a simultaneous start
        (10.3, True),  # the caller had been speaking for the whole onset
        (10.8, True),
        (11.0, False),  # the caller had finished
    ],
)
def test_talk_over_needs_the_caller_to_have_been_speaking_for_the_onset(
    agent_start: float, counted: bool
) -> None:
    record = CallRecord("t", 20.0, [caller(10.0, 11.0), agent(agent_start, agent_start + 2.0)])
    marks = talk_over(record)
    assert bool(marks) is counted
    if counted:
        assert marks[0].seconds == pytest.approx(11.0 - agent_start)


def test_a_correction_said_as_the_acknowledgement_starts_is_not_talk_over() -> None:
    record = booking(caller(5.45, 7.0, "Actually, make it three."))
    assert talk_over(record) == []


# -- dead air -------------------------------------------------------------------------------------


def test_silence_after_the_last_exchange_is_not_dead_air() -> None:
    record = booking()  # answered at 9.0, then 8 s of silence until the call ends at 20.0
    turn_list = turns(record, [submitted(5.5, 1)])
    assert owed(record, turn_list) == [(5.0, 9.0)]
    # 6.5-7.5 and 8.0-9.0 are silent while the task runs: each within the grace
    assert dead_air(record, turn_list) == []


def test_a_task_is_owed_until_its_answer_starts_even_if_it_ended_after() -> None:
    # a first fact (a result naming task 1) spoken before the task's final answer at 12.5
    record = booking(tasks=[TaskSpan(1, "a table", 5.5, 12.5, "answered")])
    assert dead_air(record, turns(record, [submitted(5.5, 1)])) == []


def test_a_superseded_task_is_owed_only_until_it_ended() -> None:
    # task 2 was replaced by task 1 at 9.5, after the last thing the agent said about it
    tasks = [
        TaskSpan(1, "a table", 5.5, 8.9, "answered"),
        TaskSpan(2, "old", 4.0, 9.5, "superseded"),
    ]
    record = booking(tasks=tasks)
    assert dead_air(record, turns(record, [submitted(5.5, 1)])) == []


def test_a_task_still_open_when_the_call_ends_is_owed_to_the_end() -> None:
    record = booking(
        caller(13.0, 14.0, "And parking?"),
        agent(14.5, 15.5, "ack", 2),
        tasks=[
            TaskSpan(1, "a table", 5.5, 8.9, "answered"),
            TaskSpan(2, "parking", 14.5, None, "open"),
        ],
    )
    events = [submitted(5.5, 1), submitted(14.5, 2)]
    (mark,) = dead_air(record, turns(record, events))
    assert (mark.t, mark.seconds) == pytest.approx((16.5, 3.5))


def test_a_failed_task_is_owed_until_the_failure_is_said() -> None:
    record = CallRecord(
        "t",
        20.0,
        [
            caller(3.0, 5.0),
            agent(5.5, 6.5, "ack", 1),
            agent(7.0, 9.0, "notice", 1),  # "still working on it", before the task failed
            agent(12.0, 14.0, "notice", 1),  # "sorry, I couldn't get that done"
        ],
        [TaskSpan(1, "a table", 5.5, 10.0, "failed")],
    )
    (mark,) = dead_air(record, turns(record, [submitted(5.5, 1)]))
    assert (mark.t, mark.seconds) == pytest.approx((10.0, 2.0))  # silent 9.0-12.0


def test_a_pause_between_two_caller_lines_is_the_callers_not_dead_air() -> None:
    record = CallRecord(
        "t",
        12.0,
        [
            caller(1.0, 3.0, "A table for um"),
            caller(5.0, 7.0, "four people."),
            agent(7.4, 9.0),
        ],
    )
    assert dead_air(record, turns(record, [])) == []


def test_an_unanswered_last_turn_is_owed_until_someone_hangs_up() -> None:
    record = CallRecord("t", 12.0, [caller(1.0, 3.0, "Hello?")])
    events = [{"t": 8.0, "source": "caller", "event": "hang_up", "reason": "persona"}]
    metrics = summarize(record, events, {})
    assert metrics["dead_air_s"] == pytest.approx(4.0)  # 3.0-8.0, less the grace
    assert metrics["unanswered_turns"] == 1


# -- time to the first relevant answer ----------------------------------------------------------


def test_the_answer_is_timed_to_the_result_not_the_ack_or_the_filler() -> None:
    (turn,) = turns(booking(), [submitted(5.5, 1)])
    assert turn.type == "delegated"
    assert turn.first_audio_s == pytest.approx(0.5)
    assert turn.first_filler_s == pytest.approx(2.5)
    assert turn.first_answer_s == pytest.approx(4.0)


def test_a_correction_owns_the_answer_and_the_superseded_turn_owes_none() -> None:
    record = CallRecord(
        "t",
        25.0,
        [
            caller(3.0, 5.0, "A table for two at seven."),
            agent(5.5, 7.0, "ack", 1),
            caller(5.45, 7.5, "Actually, make it eight."),  # said as the ack started
            agent(8.0, 9.0, "ack", 2),
            agent(11.0, 14.0, "result", 2),
        ],
        [TaskSpan(1, "seven", 5.5, 8.0, "superseded"), TaskSpan(2, "eight", 8.0, 10.8, "answered")],
    )
    first, correction = turns(record, [submitted(5.5, 1), submitted(8.0, 2)])
    assert (first.tasks, first.answer_owed, first.first_answer_s) == ((1,), False, None)
    assert (correction.type, correction.tasks) == ("delegated", (2,))
    assert correction.first_answer_s == pytest.approx(3.5)
    metrics = summarize(record, [submitted(5.5, 1), submitted(8.0, 2)], {})
    assert metrics["first_answer_samples"] == {"delegated": [3.5]}
    assert metrics["unanswered_delegated"] == 0
    assert metrics["talk_over"]["count"] == 0


def test_answers_after_a_barge_in_are_their_own_turn_type() -> None:
    record = booking(
        caller(10.0, 11.5, "Sorry, do you have parking?"),  # cuts into the answer
        agent(12.0, 13.0, "ack", 2),
        agent(14.5, 16.0, "result", 2),
        tasks=[
            TaskSpan(1, "a table", 5.5, 8.9, "answered"),
            TaskSpan(2, "parking", 12.0, 14.4, "answered"),
        ],
    )
    metrics = summarize(record, [submitted(5.5, 1), submitted(12.0, 2)], {})
    assert metrics["first_answer_samples"] == {"after_interruption": [3.0], "delegated": [4.0]}
    assert metrics["first_answer_s"]["delegated"]["p50"] == pytest.approx(4.0)


def test_a_delegated_turn_whose_answer_never_came_is_counted() -> None:
    record = booking(tasks=[TaskSpan(1, "a table", 5.5, 6.0, "failed")])
    record.speech[-1] = agent(9.0, 12.0, "notice", 1)  # "couldn't get that done"
    metrics = summarize(record, [submitted(5.5, 1)], {})
    assert metrics["first_answer_samples"] == {}
    assert metrics["unanswered_delegated"] == 1


# -- the evaluation's report ---------------------------------------------------------------------


def run_result(tmp_path: Path) -> RunResult:
    record = booking()
    metrics = summarize(record, [submitted(5.5, 1)], {})
    metrics.update(checks={"passed": 1, "total": 1}, profile="restaurant")
    scenario = Scenario(name="booking", steps=[Step(say="A table for two.")])
    return RunResult(scenario, tmp_path, record, metrics, [])


def test_the_eval_reports_the_answer_time_in_the_table_and_both_reports(tmp_path: Path) -> None:
    row = scenario_row("booking", [run_result(tmp_path), run_result(tmp_path)])
    assert row["first_answer_samples"] == {"delegated": [4.0, 4.0]}
    report = write_report(tmp_path / "eval", [row], [], machine="test")
    markdown = report.read_text()
    assert "| ack p50 / p95 | answer p50 / p95 |" in markdown
    assert "| 500 / 500 ms | 4000 / 4000 ms | - |" in markdown
    assert "- delegated turns: p50 4000 ms, p95 4000 ms (n=2)" in markdown
    written = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert written["first_answer_s"]["delegated"]["n"] == 2
    out = io.StringIO()
    Console(file=out, width=250, color_system=None).print(eval_table([row]))
    assert "4000 ms / 4000 ms" in out.getvalue()


def test_the_run_summary_shows_the_answer_time(tmp_path: Path) -> None:
    out = io.StringIO()
    Console(file=out, width=150, color_system=None).print(run_table(run_result(tmp_path)))
    assert "first relevant answer, delegated" in out.getvalue()
    assert "p50 4000 ms" in out.getvalue()
