"""Calls played by the persona caller: the loop (Claude's lines spoken in turn, mid-call verdicts,
why the caller hangs up) against the fake Messages API, once through the real offline stack as
``tandem eval --persona`` plays it, and the command's errors before anything loads."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from responder.offline import HibariTTS
from shared.config import ResponderSettings, Settings
from shared.errors import ConfigError
from shared.profile import find_profile
from simulator import app, cli
from simulator.run import (
    MAX_PERSONA_TURNS,
    PersonaMode,
    RunResult,
    converse,
    run_call,
    run_directory,
)
from simulator.scenario import Scenario, Step, load_scenario
from simulator.stack import open_stack
from simulator.voice import CallerVoice
from tests.fakes.anthropic import FakeAnthropic, HttpError, Turn

MODEL = "claude-haiku-4-5"
GREETING = "Trattoria Roma, how can I help?"
GOALS = ["The caller learns whether there are vegan dishes."]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    """A started fake; fails the test on exit if an unscripted request arrived."""
    async with FakeAnthropic() as server:
        yield server


def say(text: str) -> Turn:
    return Turn.call("say", {"text": text})


def hang_up() -> Turn:
    return Turn.call("hang_up", {})


def verdict(value: str) -> Turn:
    """The judge's ruling on the one goal."""
    reason = f"Judged {value}."
    return Turn.call(
        "record_verdicts", {"verdicts": [{"goal": 1, "verdict": value, "reason": reason}]}
    )


class AgentStandIn:
    """A caller whose every line the agent answers at once: the persona loop without audio."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.spoken: list[str] = []
        self.events.append(_agent(GREETING))

    async def speak(self, step: Step) -> None:
        self.spoken.append(step.text)
        self.events.append(
            {"source": "caller", "event": "line", "action": "say", "text": step.text}
        )
        self.events.append(_agent(f"Answer {len(self.spoken)}."))

    async def wait_until_agent_done(self, silence_ms: int) -> None:
        assert silence_ms > 0


def _agent(text: str) -> dict[str, Any]:
    return {"source": "responder", "event": "message", "role": "agent", "text": text}


async def converse_with_stand_in(fake: FakeAnthropic) -> tuple[str, AgentStandIn, list[Any]]:
    """Play the loop: why it ended, the caller, and the rulings and hang-up it emitted."""
    events: list[dict[str, Any]] = []
    caller = AgentStandIn(events)
    scenario = Scenario(name="t", steps=[Step(say="unused")], persona="Sam.", goals=GOALS, tail_s=0)

    def emit(source: str, event: str, **fields: Any) -> None:
        events.append({"source": source, "event": event, **fields})

    reason = await converse(caller, scenario, PersonaMode(fake.client(), MODEL), events, emit)
    noted = [e for e in events if e["event"] in ("goal_verdicts", "hang_up")]
    return reason, caller, noted


# -- the loop ---------------------------------------------------------------------------------


async def test_the_persona_speaks_in_turn_until_the_judge_settles_every_goal(
    fake: FakeAnthropic,
) -> None:
    fake.enqueue(say("Do you have vegan dishes?"), verdict("continue"))
    fake.enqueue(say("Which ones?"), verdict("yes"))
    reason, caller, noted = await converse_with_stand_in(fake)
    assert reason == "goals_settled"
    assert caller.spoken == ["Do you have vegan dishes?", "Which ones?"]
    # the persona speaks first (after the greeting); the judge rules once each line is answered
    tools = [request.tool_names for request in fake.requests]
    assert tools == [["say", "hang_up"], ["record_verdicts"]] * 2
    assert fake.request(0).messages == [{"role": "user", "content": GREETING}]
    assert fake.request(2).messages[-2:] == [
        {"role": "assistant", "content": "Do you have vegan dishes?"},
        {"role": "user", "content": "Answer 1."},
    ]
    brief = fake.request(3).messages[0]["content"]
    assert "Caller: Which ones?\nAgent: Answer 2." in brief
    assert "still going on" in brief
    assert [e["verdicts"][0]["verdict"] for e in noted[:-1]] == ["continue", "yes"]
    assert all(e["final"] is False for e in noted[:-1])
    assert noted[-1] == {"source": "caller", "event": "hang_up", "reason": "goals_settled"}


async def test_the_persona_hanging_up_ends_the_call(fake: FakeAnthropic) -> None:
    fake.enqueue(say("Do you have vegan dishes?"), verdict("continue"), hang_up())
    reason, caller, noted = await converse_with_stand_in(fake)
    assert reason == "persona"
    assert caller.spoken == ["Do you have vegan dishes?"]
    assert [e["event"] for e in noted] == ["goal_verdicts", "hang_up"]
    assert noted[-1]["reason"] == "persona"


async def test_the_caller_hangs_up_after_the_most_lines(fake: FakeAnthropic) -> None:
    for number in range(1, MAX_PERSONA_TURNS + 1):
        fake.enqueue(say(f"Question {number}?"), verdict("continue"))
    reason, caller, noted = await converse_with_stand_in(fake)
    assert reason == "max_turns"
    assert len(caller.spoken) == MAX_PERSONA_TURNS
    assert len(fake.requests) == 2 * MAX_PERSONA_TURNS  # nothing asked after the last ruling
    assert noted[-1]["reason"] == "max_turns"


# -- a whole call -----------------------------------------------------------------------------


@pytest.mark.timeout(240)
async def test_a_persona_call_asks_hears_the_answer_and_ends_once_the_goal_is_settled(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    question, thanks = "Hi. Do you have vegan dishes?", "Thanks, that's all."
    fake.enqueue(say(question), verdict("continue"), say(thanks), verdict("yes"))
    scenario = load_scenario(
        find_profile("restaurant").scenarios_dir / "knowledge-question.yaml", persona=True
    )
    result = await play(scenario, PersonaMode(fake.client(timeout=30), MODEL), tmp_path)

    assert result.error is None
    assert all(check.passed for check in result.checks), result.checks  # the scenario's checks
    assert [s.text for s in result.record.said_by("caller")] == [question, thanks]
    answers = [s for s in result.record.said_by("agent") if s.kind == "result"]
    assert answers
    assert "vegan" in answers[0].text.lower()
    # the persona heard the agent: its second request carries the answer to its question
    heard = [m["content"] for m in fake.request(2).messages if m["role"] == "user"]
    assert any("vegan" in text.lower() for text in heard[1:])
    events = _events(result)
    lines = [e["text"] for e in events if e["source"] == "caller" and e["event"] == "line"]
    assert lines == [question, thanks]
    rulings = [e["verdicts"][0]["verdict"] for e in events if e["event"] == "goal_verdicts"]
    assert rulings == ["continue", "yes"]
    (ended,) = [e for e in events if e["event"] == "hang_up"]
    assert ended["reason"] == "goals_settled"
    assert len(fake.requests) == 4

    # the final verdict, as tandem eval asks for it, is kept with the run's metrics
    fake.enqueue(verdict("no"))
    await app.judge_run(fake.client(), MODEL, result, Console(file=io.StringIO()))
    saved = json.loads((result.directory / "metrics.json").read_text())
    assert [v["verdict"] for v in saved["judge"]] == ["no"]
    assert result.error == "the judge found a goal not met"
    assert not result.passed


@pytest.mark.timeout(180)
async def test_a_failed_persona_request_fails_the_run_with_its_reason(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    fake.enqueue(HttpError(400, message="model: claude-nope"))
    scenario = load_scenario(
        find_profile("restaurant").scenarios_dir / "knowledge-question.yaml", persona=True
    )
    result = await play(scenario, PersonaMode(fake.client(), MODEL), tmp_path)
    assert result.error == (
        "the persona's request failed: BadRequestError (HTTP 400): [FakeAnthropic] model: "
        "claude-nope"
    )
    assert not result.passed
    assert result.record.said_by("caller") == []
    assert (result.directory / "events.jsonl").stat().st_size > 0  # the artifacts are written


async def play(scenario: Scenario, persona: PersonaMode, runs: Path) -> RunResult:
    settings = Settings(_env_file=None, responder=ResponderSettings(_env_file=None, mode="offline"))
    async with open_stack(settings, find_profile("restaurant"), lambda _step: None) as stack:
        assert stack.models.offline is not None
        assert isinstance(stack.models.offline.tts, HibariTTS)
        voice = CallerVoice(stack.models.offline.tts)
        return await run_call(
            stack, scenario, voice, run_directory(runs, scenario), persona=persona
        )


def _events(result: RunResult) -> list[dict[str, Any]]:
    lines = (result.directory / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


# -- what --persona needs ---------------------------------------------------------------------


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A command line with no key and no .env, where loading the models fails the test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "ERROR")

    def no_models(*_args: object) -> None:
        raise AssertionError("the models were loaded")

    monkeypatch.setattr(app, "open_stack", no_models)
    return CliRunner()


@pytest.mark.parametrize(
    ("command", "scenario"),
    [(cli.eval_command, "knowledge-question"), (cli.demo_command, "booking-with-barge-in")],
)
def test_persona_without_a_key_fails_with_one_line_naming_the_variable(
    runner: CliRunner, command: Any, scenario: str
) -> None:
    result = runner.invoke(command, ["--persona", scenario])
    assert result.exit_code == 1
    assert result.output == f"Error: {app.NO_KEY}\n"
    assert "ANTHROPIC_API_KEY" in result.output


def test_a_persona_scenario_without_goals_names_the_file_and_the_field(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "no-goals.yaml"
    path.write_text("name: no-goals\npersona: Sam.\nsteps:\n  - say: Hi.\n")
    result = runner.invoke(cli.eval_command, ["--persona", str(path)])
    assert result.exit_code == 2
    assert f"{path}: goals: needed to play the call with a persona" in result.output
    path.write_text("name: no-persona\ngoals: [Say hi.]\nsteps:\n  - say: Hi.\n")
    with pytest.raises(ConfigError, match=r"no-goals\.yaml: persona: needed"):
        load_scenario(path, persona=True)
    assert load_scenario(path).goals == ["Say hi."]  # a scripted call needs neither


def test_without_names_persona_mode_plays_the_scenarios_that_have_a_persona() -> None:
    chosen = cli._selection(find_profile("restaurant"), (), persona=True)
    assert {"booking-with-barge-in", "knowledge-question"} <= {s.name for s in chosen}
    assert all(s.persona.strip() and s.goals for s in chosen)
