"""Scenario files, outcome checks and the caller-side measurements."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigError
from simulator.analysis import dead_air, talk_over, turns
from simulator.checks import evaluate
from simulator.record import CallRecord, Speech, TaskSpan
from simulator.scenario import Check, find_scenarios, load_scenario

RESTAURANT_SCENARIOS = Path(__file__).resolve().parents[1] / "profiles" / "restaurant" / "scenarios"
"""The demo restaurant's simulated calls, shipped with its profile."""


def test_every_restaurant_scenario_loads_and_the_set_covers_the_required_behaviours() -> None:
    loaded = [load_scenario(path) for path in find_scenarios([], RESTAURANT_SCENARIOS)]
    assert len(loaded) >= 8
    actions = {step.action for scenario in loaded for step in scenario.steps}
    assert actions == {"say", "barge_in", "backchannel", "correct", "silence_s"}
    assert all(scenario.checks for scenario in loaded)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nsteps: []\n", "steps: List should have at least 1 item"),
        ("name: x\nsteps:\n  - say: hi\n    barge_in: stop\n", "exactly one of"),
        ("name: x\nsteps:\n  - shout: hi\n", "steps.0.shout: Extra inputs are not permitted"),
        ("name: x\nsteps:\n  - say: hi\nchecks:\n  - agent_mentioned: '('\n", "not a regular"),
        ("name: [\n", "not valid YAML"),
        ("- a list\n", "a scenario is a mapping"),
        ("name: x\nsteps:\n  - barge_in: hi\n    after_caller_ms: 900\n", "for a 'say' step"),
    ],
)
def test_a_bad_scenario_file_names_the_file_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"bad\.yaml") as error:
        load_scenario(path)
    assert message in str(error.value)


def test_an_unknown_scenario_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known: .*knowledge-question"):
        find_scenarios(["no-such-scenario"], RESTAURANT_SCENARIOS)


def call() -> CallRecord:
    return CallRecord(
        "t",
        20.0,
        [
            Speech("agent", 0.0, 2.0, "Hello, how can I help?", "reply"),
            Speech("caller", 3.0, 5.0, "A table for two.", "line"),
            Speech("agent", 5.6, 6.5, "Let me check.", "reply"),
            Speech("agent", 9.0, 12.0, "Good news: it is free.", "result"),
            Speech("caller", 10.0, 11.0, "Sorry, make it three.", "line"),
            Speech("agent", 11.8, 13.0, "Sure.", "reply"),
            Speech("caller", 12.5, 12.9, "Uh huh.", "backchannel"),
        ],
        [TaskSpan(1, "a table", 5.5, 8.9, "answered")],
    )


def test_turns_are_timed_from_the_callers_last_sample_and_typed() -> None:
    found = turns(call(), [{"event": "task_submitted", "t": 5.5}])
    assert [t.type for t in found] == ["delegated", "after_interruption"]
    assert [t.first_audio_s for t in found] == pytest.approx([0.6, 0.8])


def test_talk_over_is_agent_audio_starting_while_the_caller_speaks() -> None:
    record = call()
    assert talk_over(record) == []
    record.speech.append(Speech("agent", 10.5, 11.5, "Over you.", "filler"))
    (mark,) = talk_over(record)
    assert mark.t == 10.5
    assert mark.seconds == pytest.approx(0.5)


def test_dead_air_counts_silence_beyond_a_second_while_the_caller_waits() -> None:
    record = call()
    marks = dead_air(record, turns(record, [{"event": "task_submitted", "t": 5.5}]))
    # the task runs 5.5-8.9 and the agent is silent 6.5-9.0: 2.5 s of silence, 1.5 s over grace
    assert sum(m.seconds for m in marks) == pytest.approx(1.5, abs=0.02)


def test_checks_read_the_real_bookings_and_what_the_agent_said() -> None:
    bookings = [
        {"name": "Rivera", "party_size": 5, "date": "2026-11-27", "time": "20:00"},
        {"name": "rivera", "party_size": 5, "date": "2026-11-27", "time": "20:00"},
    ]
    checks = [
        Check(booking={"name": "Rivera", "party_size": 5, "weekday": "friday"}),
        Check(booking={"name": "Rivera", "party_size": 4}),
        Check(no_duplicate_bookings=True),
        Check(agent_mentioned="time"),
        Check(agent_never_said="free"),
        Check(events=["task_submitted", "task_answer"]),
    ]
    events = [{"event": "task_answer"}, {"event": "task_submitted"}]
    results = evaluate(checks, record=call(), events=events, bookings=bookings)
    assert [r.passed for r in results] == [True, False, False, False, False, False]
