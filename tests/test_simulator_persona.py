"""The persona caller and the judge with the real anthropic SDK against the fake Messages API: the
lines the caller says, hang-ups, the conversation the model sees, verdicts, malformed replies and
failed requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.config import Settings
from shared.errors import UpstreamError
from simulator.claude import anthropic_client
from simulator.judge import GoalVerdict, JudgeError, all_settled, judge_call, passed
from simulator.persona import AGENT_SILENT, CALL_CONNECTS, PersonaCaller, PersonaError
from tests.fakes.anthropic import FakeAnthropic, HttpError, Reply, Turn

MODEL = "claude-haiku-4-5"  # not deprecated: a deprecated model warns, and warnings are errors
PERSONA = "Marta, 70, polite but hard of hearing; asks people to repeat numbers."
GOALS = ["Book a table for four on Friday at 8 pm.", "Find out whether there is parking."]
CALL = [
    ("agent", "Trattoria Roma, how can I help?"),
    ("caller", "Hello, I'd like a table, please."),
    ("agent", "Of course. For how many people?"),
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    """A started fake; fails the test on exit if an unscripted request arrived."""
    async with FakeAnthropic() as server:
        yield server


def persona(fake: FakeAnthropic) -> PersonaCaller:
    return PersonaCaller(fake.client(), MODEL, persona=PERSONA, goals=GOALS)


def verdicts(*entries: tuple[int, str, str]) -> Turn:
    """A judge reply recording ``(goal number, verdict, reason)`` entries."""
    rows = [{"goal": g, "verdict": v, "reason": r} for g, v, r in entries]
    return Turn.call("record_verdicts", {"verdicts": rows})


async def judge(fake: FakeAnthropic, *, final: bool) -> list[GoalVerdict]:
    return await judge_call(fake.client(), MODEL, goals=GOALS, transcript=CALL, final=final)


# -- persona ----------------------------------------------------------------------------------


async def test_the_persona_says_its_line_as_the_caller(fake: FakeAnthropic) -> None:
    fake.enqueue(Turn.call("say", {"text": "Four of us, on Friday at eight."}))
    assert await persona(fake).next_line(CALL) == "Four of us, on Friday at eight."
    sent = fake.request(0)
    assert sent.model == MODEL
    assert sent.messages == [  # the model plays the caller: the agent is its user
        {"role": "user", "content": "Trattoria Roma, how can I help?"},
        {"role": "assistant", "content": "Hello, I'd like a table, please."},
        {"role": "user", "content": "Of course. For how many people?"},
    ]
    assert isinstance(sent.system, str)
    assert PERSONA in sent.system
    assert all(goal in sent.system for goal in GOALS)
    assert sent.tool_names == ["say", "hang_up"]
    assert sent.body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent.body["max_tokens"] <= 200


async def test_hanging_up_ends_the_call(fake: FakeAnthropic) -> None:
    fake.enqueue(Turn.call("hang_up", {}))
    assert await persona(fake).next_line([*CALL, ("agent", "Goodbye!")]) is None


async def test_the_model_always_answers_an_agent_turn(fake: FakeAnthropic) -> None:
    fake.enqueue(Turn.call("say", {"text": "Hello?"}), Turn.call("say", {"text": "Anyone?"}))
    caller = persona(fake)
    assert await caller.next_line([]) == "Hello?"
    assert await caller.next_line([("caller", "Hello?"), ("caller", "Is this the trattoria?")])
    assert fake.request(0).messages == [{"role": "user", "content": CALL_CONNECTS}]
    assert fake.request(1).messages == [
        {"role": "user", "content": CALL_CONNECTS},
        {"role": "assistant", "content": "Hello?\nIs this the trattoria?"},
        {"role": "user", "content": AGENT_SILENT},
    ]


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("*sighs* Yes, (pause) that's **right**.", "Yes, that's right."),
        (
            'Caller: "Sorry [leans closer], could you repeat that?" 🙂',
            "Sorry, could you repeat that?",
        ),
        ("Okay (laughs). # Thanks!", "Okay. Thanks!"),
    ],
)
async def test_only_speakable_words_are_said(
    fake: FakeAnthropic, written: str, spoken: str
) -> None:
    fake.enqueue(Turn.call("say", {"text": written}))
    assert await persona(fake).next_line(CALL) == spoken


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Turn.say("Four people."), "not 0 times"),
        (Turn.call("say", {}), "without a text"),
        (Turn.call("shout", {"text": "FOUR"}), "called shout without a text"),
        (Turn.call("say", {"text": "*nods* (smiles)"}), "nothing a voice could say"),
        (Turn.call("say", {"text": "Four"}, stop_reason="max_tokens"), "cut off"),
    ],
)
async def test_a_reply_that_is_not_one_line_or_a_hang_up_is_an_error(
    fake: FakeAnthropic, reply: Reply, problem: str
) -> None:
    fake.enqueue(reply)
    with pytest.raises(PersonaError, match=problem):
        await persona(fake).next_line(CALL)


async def test_an_unknown_speaker_is_refused_before_any_request(fake: FakeAnthropic) -> None:
    with pytest.raises(ValueError, match="unknown speaker 'user'"):
        await persona(fake).next_line([("user", "Hi")])
    assert fake.requests == []


async def test_a_failed_persona_request_is_a_clear_retryable_error(fake: FakeAnthropic) -> None:
    fake.enqueue(HttpError(529, message="Overloaded"))
    with pytest.raises(UpstreamError) as caught:
        await persona(fake).next_line(CALL)
    assert caught.value.retryable
    assert str(caught.value) == (
        "the persona's request failed: OverloadedError (HTTP 529): [FakeAnthropic] Overloaded"
    )


# -- judge ------------------------------------------------------------------------------------


async def test_the_judge_gives_one_verdict_per_goal_in_goal_order(fake: FakeAnthropic) -> None:
    fake.enqueue(
        verdicts((2, "continue", "Parking has not come up."), (1, "yes", "Booked for 4 at 20:00."))
    )
    result = await judge(fake, final=False)
    assert result == [
        GoalVerdict(GOALS[0], "yes", "Booked for 4 at 20:00."),
        GoalVerdict(GOALS[1], "continue", "Parking has not come up."),
    ]
    assert not all_settled(result)
    assert not passed(result)
    sent = fake.request(0)
    assert sent.body["tool_choice"] == {"type": "tool", "name": "record_verdicts"}
    assert _verdict_enum(sent.tools[0]) == ["yes", "no", "continue"]
    brief = sent.messages[0]["content"]
    assert f"1. {GOALS[0]}\n2. {GOALS[1]}" in brief
    assert "Agent: Of course. For how many people?" in brief
    assert "Caller: Hello, I'd like a table, please." in brief
    assert "still going on" in brief


async def test_a_continue_after_the_call_is_a_no(fake: FakeAnthropic) -> None:
    fake.enqueue(verdicts((1, "yes", "Booked."), (2, "continue", "Never asked.")))
    result = await judge(fake, final=True)
    assert result[0] == GoalVerdict(GOALS[0], "yes", "Booked.")
    assert result[1].verdict == "no"
    assert result[1].reason == "the call ended before this was settled (judge: Never asked.)"
    assert all_settled(result)
    assert not passed(result)
    sent = fake.request(0)
    assert _verdict_enum(sent.tools[0]) == ["yes", "no"]
    assert "The call is over" in sent.messages[0]["content"]


async def test_a_call_passes_only_when_every_goal_is_met(fake: FakeAnthropic) -> None:
    fake.enqueue(verdicts((1, "yes", "Booked."), (2, "yes", "Parking is free.")))
    result = await judge(fake, final=True)
    assert all_settled(result)
    assert passed(result)
    assert not passed([])


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (verdicts((1, "yes", "ok"), (2, "no", "no"), (3, "yes", "?")), r"unknown goals \[3\]"),
        (verdicts((1, "yes", "Booked.")), r"no verdict for goals \[2\]"),
        (verdicts((1, "yes", "a"), (1, "no", "b")), r"no verdict for goals \[2\].*several .*\[1\]"),
        (verdicts((1, "maybe", "Unsure."), (2, "no", "No.")), r"verdicts\.0\.verdict"),
        (verdicts((1, "yes", ""), (2, "no", "No.")), r"verdicts\.0\.reason"),
        (Turn.call("record_verdicts", {"results": []}), r"verdicts: Field required"),
        (Turn.say("Both goals were met."), "must call record_verdicts once, not 0"),
        (Turn(verdicts((1, "yes", "a"), (2, "no", "b")).blocks, stop_reason="max_tokens"), "cut"),
    ],
)
async def test_a_malformed_judgement_is_an_error(
    fake: FakeAnthropic, reply: Reply, problem: str
) -> None:
    fake.enqueue(reply)
    with pytest.raises(JudgeError, match=problem):
        await judge(fake, final=False)


@pytest.mark.parametrize(
    ("failure", "message", "retryable"),
    [
        (
            HttpError(404, message="model: claude-nope"),
            "NotFoundError (HTTP 404): [FakeAnthropic] model: claude-nope",
            False,
        ),
        (
            HttpError(429, message="Slow down"),
            "RateLimitError (HTTP 429): [FakeAnthropic] Slow down",
            True,
        ),
    ],
)
async def test_a_failed_judge_request_is_a_clear_error(
    fake: FakeAnthropic, failure: HttpError, message: str, retryable: bool
) -> None:
    fake.enqueue(failure)
    with pytest.raises(UpstreamError) as caught:
        await judge(fake, final=True)
    assert str(caught.value) == f"the judge's request failed: {message}"
    assert caught.value.retryable is retryable
    assert "test-key" not in str(caught.value)


async def test_there_is_nothing_to_judge_without_goals(fake: FakeAnthropic) -> None:
    with pytest.raises(ValueError, match="no goals"):
        await judge_call(fake.client(), MODEL, goals=[], transcript=CALL, final=True)


def _verdict_enum(tool: dict[str, Any]) -> list[str]:
    enum: list[str] = tool["input_schema"]["properties"]["verdicts"]["items"]["properties"][
        "verdict"
    ]["enum"]
    return enum


# -- client from the settings -------------------------------------------------------------------


async def test_no_key_means_no_client() -> None:
    assert anthropic_client(Settings(_env_file=None)) is None


async def test_the_client_uses_the_settings_key_and_base_url(fake: FakeAnthropic) -> None:
    settings = Settings(
        _env_file=None, anthropic_api_key="sk-ant-from-env", anthropic_base_url=fake.url
    )
    client = anthropic_client(settings)
    assert client is not None
    fake.enqueue(Turn.call("say", {"text": "Hi there."}))
    async with client:
        caller = PersonaCaller(client, MODEL, persona=PERSONA, goals=GOALS)
        assert await caller.next_line(CALL) == "Hi there."
    assert fake.request(0).auth in {"bearer", "x-api-key"}
