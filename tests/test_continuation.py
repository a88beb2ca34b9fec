"""A caller turn that finishes the previous turn's sentence: the one decision
(:func:`responder.turns.continues`), how the two are joined into one request, and the delegation
core replacing the fragment's task with the whole utterance whatever the model asked for."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import llm
from livekit.agents.voice.run_result import RunResult
from redis.asyncio import Redis

from responder.turns import (
    CallerTurn,
    caller_turns,
    continues,
    joined,
    starts_mid_sentence,
    starts_new_request,
)
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.keys import Keys
from tests.fakes.scripted_llm import Turn
from tests.test_responder_decisions import output_text, submitted, text_call


def turn(text: str, start: float | None = None, end: float | None = None) -> CallerTurn:
    return CallerTurn(text, start, end)


FRAGMENT = turn("Hi I'd like to book a table for um...", 0.0, 2.0)


@pytest.mark.parametrize(
    "rest",
    [
        "for people on Saturday at half past eight.",  # Whisper, lowercase
        "Four of us, on Saturday at half past eight.",
        "And at eight, please.",
        "...four people.",
        "Um, for two tomorrow.",
        "It's four people on Saturday.",  # the fragment was unfinished: anything but a new request
    ],
)
def test_the_rest_of_an_unfinished_sentence_continues_it(rest: str) -> None:
    assert continues(FRAGMENT, turn(rest, 3.6, 6.0))


@pytest.mark.parametrize(
    "new",
    [
        "What time do you open on Sunday?",
        "Actually, do you have parking?",
        "And can I bring my dog?",
        "Hello, are you there?",
        "Yes please.",
        "Sorry, never mind.",
        "I'd like to know your opening hours.",
    ],
)
def test_a_new_request_after_a_pause_does_not_continue_anything(new: str) -> None:
    assert not continues(FRAGMENT, turn(new, 3.6, 6.0))


def test_a_finished_turn_is_continued_only_by_words_that_start_mid_sentence() -> None:
    asked = turn("Can I get a table on Saturday?", 0.0, 2.0)  # Whisper dropped a trailing "at"
    assert continues(asked, turn("At eight, for two people.", 3.0, 5.0))
    assert continues(asked, turn("under the name Rivera.", 3.0, 5.0))
    assert not continues(asked, turn("Great, thank you.", 3.0, 5.0))
    assert not continues(asked, turn("It's for a birthday.", 3.0, 5.0))


def test_a_turn_long_after_the_fragment_is_not_its_continuation() -> None:
    assert not continues(FRAGMENT, turn("for four people.", 7.5, 9.0))
    assert continues(FRAGMENT, turn("for four people.", 7.5, 9.0), window_s=None)
    assert continues(turn(FRAGMENT.text), turn("for four people."))  # times unknown: the words


def test_what_starts_a_request_and_what_carries_one_on() -> None:
    assert starts_new_request("Um, so, what about parking?")
    assert starts_new_request("and also is the terrace open")
    assert not starts_new_request("and at eight")
    assert starts_mid_sentence("and at eight")
    assert starts_mid_sentence("2 people")
    assert starts_mid_sentence("\u2026on Saturday")
    assert not starts_mid_sentence("The terrace, is it open?")
    assert not starts_new_request("")
    assert not starts_mid_sentence("")


@pytest.mark.parametrize(
    ("fragment", "rest", "whole"),
    [
        (
            "Hi I'd like to book a table for um...",
            "Four of us, on Saturday at half past eight.",
            "Hi I'd like to book a table for four of us, on Saturday at half past eight.",
        ),
        ("I'd like to book.", "For two tomorrow.", "I'd like to book for two tomorrow."),
        (
            "Can I get a table on Saturday?",
            "Saturday at eight.",
            "Can I get a table on Saturday Saturday at eight.",
        ),
        ("", "for two", "for two"),
        (  # a model that already wrote the whole request
            "book a table",
            "book a table for four on Saturday at 20:30",
            "book a table for four on Saturday at 20:30",
        ),
    ],
)
def test_fragment_and_rest_become_one_request(fragment: str, rest: str, whole: str) -> None:
    assert joined(fragment, rest) == whole


def test_caller_turns_carry_livekits_speaking_times() -> None:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="assistant", content="How can I help?")
    spoken = ctx.add_message(role="user", content="a table for um")
    spoken.metrics = {"started_speaking_at": 10.0, "stopped_speaking_at": 12.0}
    ctx.add_message(role="user", content="four people")
    assert caller_turns(ctx.items) == [
        CallerTurn("a table for um", 10.0, 12.0),
        CallerTurn("four people", None, None),
    ]


# -- the delegation core -------------------------------------------------------------------------


async def test_a_continuation_replaces_the_fragments_task_with_the_whole_request(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [
        Turn("Let me check.", calls=[("delegate", {"request": "a table for um"})]),
        # the model treats the rest as a new request: the responder makes it replace task 1
        Turn("Let me check.", calls=[("delegate", {"request": "four people on Saturday at 8"})]),
    ]
    async with text_call(redis_server.url, settings, turns) as (call, _):
        await call.session.run(user_input="Hi, I'd like to book a table for um")
        result: RunResult[Any] = await call.session.run(user_input="four people on Saturday at 8")
        result.expect.skip_next_event_if(type="message", role="assistant")
        result.expect.next_event().is_function_call(name="delegate")
        assert "Task 1 was stopped" in output_text(result)
        fragment, whole = await submitted(redis, settings)
        assert whole.request == "a table for four people on Saturday at 8"
        assert await redis.hget(Keys(settings.prefix).cancels(call.session_id), fragment.task_id)
        assert call.metrics.tasks == {"superseded": 1}


async def test_a_new_question_while_a_task_runs_is_a_task_of_its_own(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [
        Turn("Let me check.", calls=[("delegate", {"request": "do you have parking"})]),
        Turn("Let me check.", calls=[("delegate", {"request": "can I bring my dog"})]),
        Turn("Let me check.", calls=[("delegate", {"request": "opening hours on Sunday"})]),
    ]
    async with text_call(redis_server.url, settings, turns) as (call, _):
        await call.session.run(user_input="Do you have parking?")
        await call.session.run(user_input="And can I bring my dog?")
        await call.session.run(user_input="What time do you open on Sunday?")
        requests = [task.request for task in await submitted(redis, settings)]
        assert requests == ["do you have parking", "can I bring my dog", "opening hours on Sunday"]
        assert all(task.running for task in call.delegator.tasks.all())
        assert call.metrics.tasks == {}
