"""End of turn that weighs whether the caller's words are complete (:mod:`responder.turns`): the
rule on what callers say and on what Whisper makes of it, the LiveKit turn detector built on it,
and how a session is wired with it."""

from __future__ import annotations

import pytest
from livekit.agents import llm
from livekit.agents.language import LanguageCode

from responder.models import session_options
from responder.turns import (
    COMPLETE_PROBABILITY,
    INCOMPLETE_EXTRA_S,
    INCOMPLETE_PROBABILITY,
    CompletenessTurnDetector,
    endpointing,
    ends_incomplete,
    incomplete_reason,
)
from shared.config import ResponderSettings

UNFINISHED = [
    # (what Whisper wrote for the simulated caller's fragment, why it is unfinished)
    ("Hi I'd like to book a table for um...", "filler"),
    ("Hi, I'd like to book a table for.", "dangling"),
    ("Hi, I'd like to book a table from.", "dangling"),
    ("I'd like to book.", "unfinished"),
    ("I'd like to book a table for four and...", "dangling"),
    ("Do you have a table for um, uh?", "filler"),
    ("you're going to be", "dangling"),
    ("I was wondering if you have the...", "dangling"),
    ("I'd like to reserve a table for.", "dangling"),
    ("Can I book a table for two on?", "dangling"),
    ("I want to ask about your...", "dangling"),
    ("Is it possible to?", "dangling"),
    ("I need a table for 6 and.", "dangling"),
    ("My name is...", "unfinished"),
    ("Hello, I'm calling to.", "unfinished"),
    ("I'd like a table, uh...", "filler"),
    ("I'd like to book a table at half.", "unfinished"),
    ("Can you tell me if...", "dangling"),
    ("We have group of.", "dangling"),
    ("Do you have any?", "dangling"),
    ("The booking is under the name of.", "dangling"),
    ("What time do you...", "trailing_off"),
    ("What time do you open on", "dangling"),
    ("Hi, I'd like", "unfinished"),
    ("Can I get", "unfinished"),
    ("It would be for, um", "filler"),
    ("Um.", "filler"),
]
FINISHED = [
    "four of us on Saturday at half past eight.",
    "Hi, I'd like to book a table for four people on Saturday at half past eight.",
    "What time do you open on Sunday?",
    "Do you have parking?",
    "for two tomorrow.",
    "Yes, please book it.",
    "is the terrace open tonight.",
    "Where are you located?",
    "Can I pay by card?",
    "That's all, goodbye.",
    "under the name Rivera.",
    "What's the weather like tomorrow?",
    "We're a group of six.",
    "at 8 o'clock please.",
    "whom I'm speaking to.",
    "Who am I speaking to?",
    "Where are you located at?",
    "Can we come in?",
    "I'd like to cancel my reservation.",
    "Yes, I'd like to go ahead.",
    "That's all I need.",
    "Thank you.",
    "Mm-hm.",
    "Sorry, make it five people.",
    "Any?",
    "It's R-I-V-E-R-A.",
    "Costa, that's C, O, S, T, A",
]


@pytest.mark.parametrize(("heard", "reason"), UNFINISHED)
def test_words_that_stop_mid_sentence_are_unfinished(heard: str, reason: str) -> None:
    assert incomplete_reason(heard) == reason


@pytest.mark.parametrize("heard", FINISHED)
def test_words_that_may_be_the_whole_turn_are_finished(heard: str) -> None:
    assert incomplete_reason(heard) is None
    assert not ends_incomplete(heard)


def test_no_words_are_not_judged() -> None:
    assert incomplete_reason("") is None
    assert incomplete_reason("...") is None


def caller_said(*lines: str) -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="assistant", content="Thanks for calling. How can I help you?")
    for line in lines:
        ctx.add_message(role="user", content=line)
    return ctx


async def test_the_detector_gives_unfinished_words_a_probability_below_its_threshold() -> None:
    detector = CompletenessTurnDetector()
    threshold = await detector.unlikely_threshold(LanguageCode("en"))
    assert threshold is not None
    fragment = await detector.predict_end_of_turn(caller_said("I'd like a table for, um"))
    assert fragment == INCOMPLETE_PROBABILITY < threshold
    whole = await detector.predict_end_of_turn(
        caller_said("I'd like a table for, um", "for four on Saturday.")
    )
    assert whole == COMPLETE_PROBABILITY > threshold
    assert await detector.predict_end_of_turn(llm.ChatContext.empty()) == COMPLETE_PROBABILITY


async def test_the_detector_judges_english_only() -> None:
    detector = CompletenessTurnDetector()
    assert await detector.supports_language(LanguageCode("en"))
    assert await detector.supports_language(None)
    assert not await detector.supports_language(LanguageCode("pt"))


def test_unfinished_words_may_wait_two_seconds_longer_than_the_normal_endpointing() -> None:
    assert endpointing(0.15) == {"mode": "fixed", "min_delay": 0.15, "max_delay": 2.15}
    assert INCOMPLETE_EXTRA_S == 2.0


def test_the_offline_cascade_weighs_the_words_and_local_detection_uses_the_audio_model() -> None:
    r = ResponderSettings(_env_file=None, endpointing_s=0.2)
    offline = session_options(r, "offline")["turn_handling"]
    assert isinstance(offline["turn_detection"], CompletenessTurnDetector)
    assert offline["endpointing"] == endpointing(0.2)
    local = session_options(
        ResponderSettings(_env_file=None, turn_detection="local", endpointing_s=0.2)
    )["turn_handling"]
    assert local["turn_detection"].model == "turn-detector-v1-mini"
    assert local["endpointing"] == endpointing(0.2)
    semantic = session_options(r)["turn_handling"]  # the realtime model's own VAD decides
    assert "turn_detection" not in semantic
    assert "endpointing" not in semantic
