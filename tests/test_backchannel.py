"""Backchannel or barge-in (issue 14): the rule in responder/backchannel.py, on transcripts as
Whisper writes them (durations and confidences as measured in the simulator's caller voice), and
the call's use of it on STT events."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import Any, cast

import pytest
from livekit import rtc
from livekit.agents import AgentSession, LanguageCode, llm, stt
from livekit.agents.voice.agent_activity import AgentActivity

from responder.agent import _resume_paused_speech, _statement, judge_overlap
from responder.backchannel import (
    MAX_BACKCHANNEL_S,
    MAX_BACKCHANNEL_WORDS,
    UNSURE_CONFIDENCE,
    classify,
    is_backchannel,
    words,
)

SURE = 0.8
"""A confidence Whisper gives words it heard (0.6-0.95 in the caller voice)."""


@pytest.mark.parametrize(
    "heard",
    ["Mm-hm.", "Uh huh.", "Mama?", "Mm.", "Hmm", "uh", "Mhm", "Aha", "Oh.", "Mm-hmm, okay."],
)
def test_listening_noises_as_whisper_writes_them_are_backchannels(heard: str) -> None:
    verdict = classify(heard, duration_s=0.4, confidence=0.4)
    assert verdict.backchannel, heard
    assert verdict.reason == "listening"


@pytest.mark.parametrize(
    "heard",
    [
        "Yeah.",
        "Right, right.",
        "Okay, okay.",
        "I see.",
        "Sure, sure.",
        "Got it.",
        "Oh, I see.",
        "OIC",
        "Makes sense.",
        "Sounds good.",
        "Well, that's fine.",
        "Yeah, that's right.",
        "Of course.",
        "No problem.",
        "Uh-huh, yeah, okay.",
        "Oh really?",
    ],
)
def test_acknowledgements_are_backchannels_however_sure_whisper_is(heard: str) -> None:
    assert classify(heard, duration_s=0.9, confidence=SURE).backchannel, heard


@pytest.mark.parametrize(
    "heard", ["Wait.", "Stop!", "No.", "Hold on.", "Hang on.", "Sorry?", "Pardon", "What?"]
)
def test_a_command_stops_the_agent_however_short_or_unsure(heard: str) -> None:
    verdict = classify(heard, duration_s=0.3, confidence=0.3)
    assert verdict.barge_in, heard
    assert verdict.reason == "command"


@pytest.mark.parametrize(
    "heard",
    [
        "Okay, but what about dessert?",  # an acknowledgement first does not make it one
        "Yes, but is there parking?",
        "No, no, I said Friday.",
        "Oh no.",
        "Actually, never mind.",
        "I'm actually wait.",  # Whisper's "hmm, actually, wait"
    ],
)
def test_a_command_anywhere_in_the_line_takes_the_turn(heard: str) -> None:
    assert classify(heard, duration_s=1.4, confidence=SURE).barge_in, heard


@pytest.mark.parametrize(
    "heard",
    ["Do you have parking?", "Could you spell that?", "Is there a vegan option?", "Okay, can we"],
)
def test_a_question_takes_the_turn_even_when_whisper_is_unsure(heard: str) -> None:
    verdict = classify(heard, duration_s=0.9, confidence=0.4)
    assert verdict.barge_in, heard
    assert verdict.reason == "question"


@pytest.mark.parametrize(
    "heard", ["Just a second.", "One moment, please.", "Five people.", "I'd like to book a table."]
)
def test_content_words_take_the_turn(heard: str) -> None:
    verdict = classify(heard, duration_s=1.0, confidence=SURE)
    assert verdict.barge_in, heard
    assert verdict.reason == "content"


def test_an_unsure_guess_at_a_murmur_is_a_backchannel_but_the_same_words_heard_are_not() -> None:
    # "mhm" comes back as "Who?" at 0.41; a caller who asks "Who?" is heard at 0.70
    assert classify("Who?", duration_s=0.33, confidence=0.41) == classify(
        "A her rate", duration_s=0.84, confidence=0.49
    )
    assert classify("Who?", duration_s=0.33, confidence=0.41).reason == "unsure"
    assert classify("Who?", duration_s=0.3, confidence=0.70).barge_in
    assert classify("Who?", duration_s=0.3, confidence=UNSURE_CONFIDENCE).barge_in


def test_an_unsure_guess_counts_as_a_murmur_only_when_it_is_short() -> None:
    assert classify("Table for two", duration_s=0.9, confidence=0.4).backchannel
    assert classify("Table for two", duration_s=1.6, confidence=0.4).barge_in  # too long
    assert classify("A table for two", duration_s=0.9, confidence=0.4).barge_in  # too many words
    # without a duration or a confidence, the words decide
    assert classify("Table for two", confidence=0.4).barge_in
    assert classify("Table for two", duration_s=0.9).barge_in


def test_listening_words_said_at_length_are_someone_taking_the_turn() -> None:
    assert classify("Okay.", duration_s=MAX_BACKCHANNEL_S + 0.5, confidence=0.4).barge_in
    many = " ".join(["yeah"] * (MAX_BACKCHANNEL_WORDS + 1))
    verdict = classify(many, duration_s=2.0, confidence=SURE)
    assert verdict.barge_in
    assert verdict.reason == "too_long"


def test_thanks_over_the_agent_are_a_backchannel_but_to_a_silent_agent_a_turn() -> None:
    assert classify("Okay, thank you.", duration_s=0.9, confidence=SURE).backchannel
    assert classify("Thanks.", duration_s=0.4, confidence=SURE).backchannel
    assert not is_backchannel("Thank you.")  # the brain says "you're welcome"
    assert not is_backchannel("Okay, thank you.")
    assert classify("Thank you, bye.", duration_s=0.9, confidence=SURE).barge_in


def test_nothing_heard_lets_the_agent_go_on_but_is_no_backchannel_turn() -> None:
    assert classify("", duration_s=0.5).backchannel
    assert classify("...").reason == "silence"
    assert not is_backchannel("")


def test_the_text_only_check_judges_by_the_words() -> None:
    assert all(is_backchannel(t) for t in ("Uh huh.", "Mm-hm", "Okay.", "Right, right.", "Mama"))
    assert not any(is_backchannel(t) for t in ("Yes, book it.", "Okay, make it five.", "Who?"))


def test_words_are_lower_case_and_split_at_hyphens() -> None:
    assert words("Mm-hm. That\u2019s RIGHT, 5 people") == [
        "mm",
        "hm",
        "that's",
        "right",
        "5",
        "people",
    ]


def alternative(text: str, *, start: float = 0.0, end: float = 0.0, confidence: float = 0.0) -> Any:
    return stt.SpeechData(
        language=LanguageCode("en"),
        text=text,
        start_time=start,
        end_time=end,
        confidence=confidence,
    )


def test_the_call_judges_with_the_transcripts_duration_and_confidence() -> None:
    # the speculative STT stamps where the speech was in the stream, Whisper its confidence
    assert judge_overlap(alternative("Who?", start=12.0, end=12.33, confidence=0.41)).backchannel
    assert judge_overlap(alternative("Who?", start=12.0, end=12.33, confidence=0.7)).barge_in
    # an STT that gives neither: judged by the words alone
    assert judge_overlap(alternative("Who?")).barge_in
    assert judge_overlap(alternative("Mm-hm.")).backchannel
    assert judge_overlap(
        alternative("Okay.", start=3.0, end=6.0, confidence=0.9)
    ).barge_in  # 3 s long


# --- the paused answer goes on at once ------------------------------------------------------------


class Activity:
    """What ``_resume_paused_speech`` reads of LiveKit's ``AgentActivity``."""

    def __init__(self, paused: bool) -> None:
        self._paused_speech = object() if paused else None
        self.resumes: list[float] = []

    def _start_false_interruption_timer(self, timeout: float) -> None:
        self.resumes.append(timeout)


class Session(rtc.EventEmitter[str]):
    """An ``AgentSession`` as far as resuming goes: its activity and the caller's state."""

    def __init__(self, activity: Activity, user_state: str) -> None:
        super().__init__()
        self._activity = activity
        self.user_state = user_state


async def test_a_paused_answer_resumes_at_once_after_a_backchannel() -> None:
    activity = Activity(paused=True)
    _resume_paused_speech(cast(Any, Session(activity, "listening")))
    assert activity.resumes == [0.0]  # the framework's own resume, without its 1.5 s wait


async def test_the_resume_waits_for_the_sessions_own_end_of_speech() -> None:
    activity = Activity(paused=True)
    session = Session(activity, "speaking")  # its VAD has not seen the end yet: it would re-pause
    _resume_paused_speech(cast(Any, session))
    assert activity.resumes == []
    session.user_state = "listening"
    session.emit("user_state_changed", object())
    await asyncio.sleep(0)  # after the session's end-of-speech handling
    assert activity.resumes == [0.0]


async def test_nothing_is_resumed_when_nothing_was_paused() -> None:
    activity = Activity(paused=False)
    _resume_paused_speech(cast(Any, Session(activity, "listening")))
    assert activity.resumes == []


def test_the_framework_still_has_what_the_resume_reaches_into() -> None:
    """livekit-agents is pinned; this fails first if an upgrade moves the pieces."""
    assert callable(getattr(AgentActivity, "_start_false_interruption_timer", None))
    assert "self._paused_speech" in inspect.getsource(AgentActivity.__init__)
    assert "_activity" in inspect.getsource(AgentSession.__init__)


@dataclass
class Spoken:
    """A finished agent speech, as far as its words go."""

    chat_items: list[llm.ChatItem]


def test_words_over_a_speech_that_ended_with_a_question_may_answer_it() -> None:
    def said(text: str) -> Any:
        return Spoken([llm.ChatMessage(role="assistant", content=[text])])

    assert _statement(said("We open at noon."))  # "mm-hm" over its end is still a backchannel
    assert not _statement(said("Shall I book it under the name Rivera?"))  # "yeah" answers it
    assert not _statement(None)
