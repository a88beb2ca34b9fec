"""A Claude judge: did the agent achieve each of the caller's goals, judged from the transcript.

Each goal gets ``yes`` (achieved), ``no`` (clearly failed) or ``continue`` (too early to tell);
once the call is over (``final=True``) there is no ``continue``. The model answers through a
forced ``record_verdicts`` tool call whose input is validated: a reply that misses a goal, judges
one twice, names a goal that does not exist or a verdict that is not one of the three raises
:class:`JudgeError`. Nothing is ever passed by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import anthropic
from anthropic.types import ToolParam
from pydantic import BaseModel, Field, ValidationError

from shared.errors import TandemError
from simulator.claude import request_failed

Verdict: TypeAlias = Literal["yes", "no", "continue"]

TOOL_NAME = "record_verdicts"
MAX_TOKENS = 1024
"""Room for a one-sentence reason per goal, for a dozen goals."""

SYSTEM_PROMPT = """\
You judge a phone call between a caller and a business's voice agent: for each of the caller's \
goals, did the agent achieve it? Judge the agent only, from what was said.
- yes: the agent achieved the goal: it did what the caller wanted, or answered correctly, and \
the caller was told so.
- no: the agent clearly failed the goal: it refused without good reason, gave wrong or invented \
information, claimed something was done that was not, or the chance has passed.
- continue: the call is not far enough along to tell.
Give each verdict a reason of one short sentence pointing at what was said. Record every goal \
exactly once with record_verdicts, by its number."""

_LABELS = {"caller": "Caller", "agent": "Agent"}


@dataclass(frozen=True)
class GoalVerdict:
    """The judgement of one ``goal``: its ``verdict`` and the judge's one-sentence ``reason``."""

    goal: str
    verdict: Verdict
    reason: str


class JudgeError(TandemError):
    """The judge's reply is not one valid verdict for every goal."""


class _Entry(BaseModel):
    goal: int
    verdict: Verdict
    reason: str = Field(min_length=1)


class _Reply(BaseModel):
    verdicts: list[_Entry]


async def judge_call(
    client: anthropic.AsyncAnthropic,
    model: str,
    *,
    goals: Sequence[str],
    transcript: Sequence[tuple[str, str]],
    final: bool,
) -> list[GoalVerdict]:
    """One verdict per goal, in the order of ``goals``, for the call so far.

    ``transcript`` is ``(speaker, text)`` pairs, ``speaker`` being ``"caller"`` or ``"agent"``.
    ``final``: the call is over, so every goal is ``yes`` or ``no`` (a ``continue`` the model
    gives anyway becomes ``no``, and its reason says so). Raises :class:`JudgeError` on a
    malformed reply, :class:`~shared.errors.UpstreamError` when the request fails and
    ``ValueError`` when there is no goal to judge.
    """
    if not goals:
        raise ValueError("no goals to judge")
    try:
        reply = await client.messages.create(
            model=model,
            max_tokens=MAX_TOKENS,
            system=SYSTEM_PROMPT,
            tools=[_tool(final)],
            tool_choice={"type": "tool", "name": TOOL_NAME},
            messages=[{"role": "user", "content": _brief(goals, transcript, final)}],
        )
    except anthropic.APIError as error:
        raise request_failed("the judge's request", error) from None
    if reply.stop_reason == "max_tokens":
        raise JudgeError("the judge's reply was cut off at max_tokens")
    calls = [b for b in reply.content if b.type == "tool_use" and b.name == TOOL_NAME]
    if len(calls) != 1:
        raise JudgeError(f"the judge must call {TOOL_NAME} once, not {len(calls)} times")
    try:
        entries = _Reply.model_validate(calls[0].input).verdicts
    except ValidationError as error:
        problems = (
            f"{'.'.join(map(str, item['loc']))}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        )
        raise JudgeError("malformed verdicts: " + "; ".join(problems)) from None
    _check_numbers([entry.goal for entry in entries], len(goals))
    by_goal = {entry.goal: entry for entry in entries}
    return [_verdict(goal, by_goal[number], final) for number, goal in enumerate(goals, 1)]


def all_settled(verdicts: Sequence[GoalVerdict]) -> bool:
    """Whether every goal is decided (none is ``continue``): the call need not go on for them."""
    return all(v.verdict != "continue" for v in verdicts)


def passed(verdicts: Sequence[GoalVerdict]) -> bool:
    """Whether every goal was achieved (False for no verdicts at all: nothing passes unjudged)."""
    return bool(verdicts) and all(v.verdict == "yes" for v in verdicts)


def _tool(final: bool) -> ToolParam:
    verdicts = ["yes", "no"] if final else ["yes", "no", "continue"]
    return {
        "name": TOOL_NAME,
        "description": "Record one verdict for every goal of the caller.",
        "input_schema": {
            "type": "object",
            "properties": {
                "verdicts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "goal": {"type": "integer", "description": "The goal's number."},
                            "verdict": {"type": "string", "enum": verdicts},
                            "reason": {
                                "type": "string",
                                "description": "One short sentence: what in the call shows it.",
                            },
                        },
                        "required": ["goal", "verdict", "reason"],
                    },
                }
            },
            "required": ["verdicts"],
        },
    }


def _brief(goals: Sequence[str], transcript: Sequence[tuple[str, str]], final: bool) -> str:
    numbered = "\n".join(f"{number}. {goal}" for number, goal in enumerate(goals, 1))
    lines = []
    for speaker, text in transcript:
        if speaker not in _LABELS:
            raise ValueError(f"unknown speaker {speaker!r}: expected 'caller' or 'agent'")
        lines.append(f"{_LABELS[speaker]}: {text}")
    said = "\n".join(lines) or "(nothing has been said yet)"
    status = (
        "The call is over: decide yes or no for every goal."
        if final
        else "The call is still going on: use continue for a goal that is not settled yet."
    )
    return f"The caller's goals:\n{numbered}\n\n<transcript>\n{said}\n</transcript>\n\n{status}"


def _check_numbers(numbers: list[int], count: int) -> None:
    expected = set(range(1, count + 1))
    problems = []
    if unknown := sorted(set(numbers) - expected):
        problems.append(f"unknown goals {unknown} (there are {count})")
    if missing := sorted(expected - set(numbers)):
        problems.append(f"no verdict for goals {missing}")
    if repeated := sorted({n for n in numbers if numbers.count(n) > 1}):
        problems.append(f"several verdicts for goals {repeated}")
    if problems:
        raise JudgeError("the judge's verdicts do not match the goals: " + "; ".join(problems))


def _verdict(goal: str, entry: _Entry, final: bool) -> GoalVerdict:
    if final and entry.verdict == "continue":
        reason = f"the call ended before this was settled (judge: {entry.reason})"
        return GoalVerdict(goal, "no", reason)
    return GoalVerdict(goal, entry.verdict, entry.reason)
