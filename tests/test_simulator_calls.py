"""Two whole simulated calls, offline, as ``tandem demo`` runs them: the real responder session
(Whisper, the rule-based brain, hibari), a real thinker process, the embedded redis-server and
the scripted caller speaking in real time. Outcomes and event order are asserted, not timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.offline import HibariTTS
from shared.config import ResponderSettings, Settings
from shared.profile import find_profile
from simulator.run import RunResult, run_call, run_directory
from simulator.scenario import load_scenario
from simulator.stack import loading_steps, open_stack
from simulator.voice import CallerVoice


async def play(name: str, runs: Path) -> RunResult:
    settings = Settings(_env_file=None, responder=ResponderSettings(_env_file=None, mode="offline"))
    scenario = load_scenario(find_profile("restaurant").scenarios_dir / f"{name}.yaml")
    steps: list[str] = []
    async with open_stack(settings, find_profile("restaurant"), steps.append) as stack:
        assert len(steps) == loading_steps(settings)  # the progress bar fills, no further
        assert stack.models.offline is not None
        assert isinstance(stack.models.offline.tts, HibariTTS)
        voice = CallerVoice(stack.models.offline.tts)
        return await run_call(stack, scenario, voice, run_directory(runs, scenario))


def sequence(result: RunResult, names: set[str]) -> list[str]:
    return [str(e["event"]) for e in _events(result) if e["event"] in names]


def _events(result: RunResult) -> list[dict[str, object]]:
    import json

    lines = (result.directory / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.timeout(240)
async def test_a_booking_with_a_barge_in_books_the_corrected_table_once(tmp_path: Path) -> None:
    result = await play("booking-with-barge-in", tmp_path)
    assert result.error is None
    assert all(check.passed for check in result.checks), result.checks
    flow = sequence(result, {"task_submitted", "floor_interrupted", "task_stopped", "task_answer"})
    # the read-back of task 1 is cut off, task 2 replaces it, task 3 books
    assert flow[:2] == ["task_submitted", "task_answer"]
    assert "floor_interrupted" in flow
    assert flow.count("task_submitted") == 3
    assert result.metrics["duplicate_results"] == 0
    for artifact in ("call.wav", "transcript.md", "events.jsonl", "metrics.json", "timeline.png"):
        assert (result.directory / artifact).stat().st_size > 0
    assert "Rivera" in (result.directory / "transcript.md").read_text()


@pytest.mark.timeout(180)
async def test_a_knowledge_question_is_delegated_and_answered_briefly(tmp_path: Path) -> None:
    result = await play("knowledge-question", tmp_path)
    assert result.error is None
    assert all(check.passed for check in result.checks), result.checks
    flow = sequence(result, {"task_submitted", "result", "task_answer", "floor_spoken"})
    # the thinker's result and the responder taking it are two readers of one stream: any order
    assert flow[0] == "task_submitted"
    assert sorted(flow[1:3]) == ["result", "task_answer"]
    assert flow[3:] == ["floor_spoken"]
    answer = [s for s in result.record.said_by("agent") if s.kind == "result"]
    assert len(answer) == 1
    assert "vegan" in answer[0].text.lower()
    assert len(answer[0].text) < 300  # read as a phone answer, not the whole section


@pytest.mark.timeout(180)
async def test_backchannels_during_an_answer_neither_stop_it_nor_get_a_reply(
    tmp_path: Path,
) -> None:
    result = await play("backchannels", tmp_path)
    assert result.error is None
    assert all(check.passed for check in result.checks), result.checks
    flow = sequence(result, {"backchannel_ignored", "floor_interrupted", "floor_spoken"})
    assert flow == ["backchannel_ignored", "floor_spoken"]  # heard, ignored, the answer went on
    answer = [s for s in result.record.said_by("agent") if s.kind == "result"]
    assert len(answer) == 1
    assert not answer[0].interrupted
    replies = [s for s in result.record.said_by("agent") if s.start > answer[0].end]
    assert len(replies) == 1  # to "Thank you." only; the "uh-huh" got none
