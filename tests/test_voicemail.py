"""Answering-machine detection on outbound calls: which greetings are a machine's, which answers a
person's, and how the screen settles once (on the words, on a turn exchanged, or on its timeout)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from responder.telephony.voicemail import (
    SCREEN_MONOLOGUE_S,
    Judgement,
    VoicemailScreen,
    judge_greeting,
)

LONG_NO_CUE = (
    "Hi, this is Grace. I'm out of the country until the fifteenth with limited access to email "
    "and phone. For anything urgent contact my colleague Ben on extension two one four."
)


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        ("Hi, you've reached Dana. I can't take your call right now, leave a message after the "
         "tone.", "after_the_tone"),
        ("hey its marcus leave me a message and ill get back to you", "leave_a_message"),
        ("you've reached the voice mail box of jordan please leave a massage after the tune",
         "voicemail"),
        ("hi this is leah leaf a message after the tome", "after_the_tone"),
        ("The number you have dialed is not in service. Please check the number and try again.",
         "carrier_announcement"),
        ("The person you are calling is not available. Please leave a message after the beep. "
         "When you are finished, hang up or press pound for more options.", "carrier_announcement"),
        ("the mailbox is full and cannot accept any new messages goodbye", "mailbox_full"),
        ("thank you for calling city vet clinic for appointments press one", "keypad_menu"),
        ("the person you're calling is using a call screening service say your name and why "
         "you're calling", "call_screening"),
    ],
)  # fmt: skip
def test_voicemail_and_carrier_greetings_are_a_machine(said: str, reason: str) -> None:
    assert judge_greeting(said, speech_s=5.0) == Judgement("machine", reason)


def test_two_weak_cues_together_make_a_machine() -> None:
    judged = judge_greeting(
        "Hi this is Anna sorry I can't answer right now I'll call you back shortly"
    )
    assert judged == Judgement("machine", "unavailable+call_back")


@pytest.mark.parametrize(
    "said",
    [
        "Hello?",
        "hello",
        "Yeah, this is Sam.",
        "Harbor Bikes, how can I help?",
        "hi who's this",
        "Sam speaking",
        "hullo who's that",
        "hello yes this is Sam I was expecting your call about the bike",
        "thank you for calling northside dental this is emma speaking how can i help you today",
    ],
)
def test_people_answering_are_human(said: str) -> None:
    assert judge_greeting(said, speech_s=1.5).verdict == "human"


@pytest.mark.parametrize(
    "said",
    [
        "sorry can you leave a message with my wife she handles the bookings",
        "he's not in right now can I take a message",
        "no he's out, leave a message with me and I'll pass it on",
    ],
)
def test_a_person_taking_a_message_is_not_a_voicemail_prompt(said: str) -> None:
    assert judge_greeting(said, speech_s=3.0) == Judgement("human", "takes_message")


@pytest.mark.parametrize(
    "said",
    [
        "oh hi sorry I missed your call earlier what's up",
        "Hi, yes, I got your voicemail yesterday about the repair, is the bike ready?",
        "oh hey, I didn't recognise the number you called from, who is it",
        "Hi, you've reached Harbor Bikes, this is Sam, what can I do for you?",
    ],
)
def test_people_using_voicemail_words_are_not_a_machine(said: str) -> None:
    assert judge_greeting(said, speech_s=3.0).verdict == "human"


def test_a_long_monologue_without_a_cue_is_unsure() -> None:
    assert judge_greeting(LONG_NO_CUE, speech_s=9.4) == Judgement("unsure", "long_monologue")


def test_a_short_weak_cue_alone_is_unsure() -> None:
    assert judge_greeting("Hi, you've reached Dana.", speech_s=1.2).verdict == "unsure"


def test_nothing_said_is_unsure() -> None:
    assert judge_greeting("  ", speech_s=None) == Judgement("unsure", "no_speech")


@pytest.mark.parametrize(
    "said",
    [
        "you've reached Dana Whitfield at 555 0142, leave a message",
        "the number 555 0199 you have dialed is not in service",
        "Hello, Ramirez residence.",
        "hi this is jordan's phone his sister speaking he left it at home",
        LONG_NO_CUE,
    ],
)
def test_reasons_never_carry_the_transcript(said: str) -> None:
    reason = judge_greeting(said, speech_s=4.0).reason
    assert re.fullmatch(r"[a-z_]+(?:\+[a-z_]+)*", reason)
    names = {"dana", "whitfield", "ramirez", "jordan", "grace", "ben"}
    assert not {part for part in re.split(r"[_+]", reason)} & names
    assert reason.lower() not in said.lower()


def test_a_judgement_is_frozen() -> None:
    judged = judge_greeting("hello")
    with pytest.raises(dataclasses.FrozenInstanceError):
        judged.verdict = "machine"  # type: ignore[misc]


# --- the screen ---------------------------------------------------------------------------------


def test_the_screen_settles_machine_on_the_words_and_only_once() -> None:
    screen = VoicemailScreen()
    assert screen.heard("Hi, you've reached Dana.", speech_s=1.3, at_s=1.8) is None
    verdict = screen.heard("Please leave a message after the tone.", speech_s=2.0, at_s=4.4)
    assert verdict == Judgement("machine", "after_the_tone")
    assert screen.settled == verdict
    assert screen.heard("hello? hello?", speech_s=1.0, at_s=6.0) is None
    assert screen.timed_out(30.0) is None
    assert screen.settled == verdict


def test_the_screen_settles_human_on_a_question_and_only_once() -> None:
    screen = VoicemailScreen()
    verdict = screen.heard("Hello, who's calling?", speech_s=0.9, at_s=1.0)
    assert verdict == Judgement("human", "question_to_caller")
    assert screen.heard("leave a message after the tone", speech_s=2.0, at_s=3.0) is None
    assert screen.settled == Judgement("human", "question_to_caller")


def test_a_greeting_cut_at_a_pause_is_still_heard_as_a_machine() -> None:
    screen = VoicemailScreen()
    assert screen.heard("Hey, it's Tom.", speech_s=0.8, at_s=1.0) is None
    verdict = screen.heard("You know what to do.", speech_s=1.0, at_s=2.6)
    assert verdict == Judgement("machine", "leave_a_message")


def test_a_short_hello_settles_human_once_the_callee_answers_the_agent() -> None:
    screen = VoicemailScreen()
    assert screen.heard("Hello?", speech_s=0.6, at_s=1.0) is None
    screen.agent_spoke()
    verdict = screen.heard("Yes, speaking.", speech_s=0.7, at_s=4.0)
    assert verdict == Judgement("human", "answered_agent")


def test_a_reply_to_the_agent_settles_human() -> None:
    screen = VoicemailScreen()
    first = "I'm just out on a ride at the moment but go ahead"
    assert screen.heard(first, speech_s=2.5, at_s=3.0) is None
    screen.agent_spoke()
    assert screen.heard("right", speech_s=0.4, at_s=6.0) == Judgement("human", "answered_agent")


def test_machine_words_after_the_agent_spoke_still_settle_machine() -> None:
    screen = VoicemailScreen()
    assert screen.heard("Hi, you've reached Dana.", speech_s=1.3, at_s=1.8) is None
    screen.agent_spoke()
    verdict = screen.heard("I can't come to the phone right now", speech_s=2.0, at_s=4.0)
    assert verdict == Judgement("machine", "youve_reached+unavailable")


def test_the_screen_times_out_to_human_once() -> None:
    screen = VoicemailScreen(screen_s=12.0)
    assert screen.timed_out(11.9) is None
    assert screen.settled is None
    assert screen.timed_out(12.0) == Judgement("human", "screen_timeout")
    assert screen.timed_out(13.0) is None
    assert screen.heard("leave a message after the beep", speech_s=2.0, at_s=14.0) is None
    assert screen.settled == Judgement("human", "screen_timeout")


def test_an_unsure_final_after_the_screen_time_settles_human() -> None:
    screen = VoicemailScreen(screen_s=5.0)
    verdict = screen.heard("Hi, you've reached Dana.", speech_s=1.2, at_s=6.0)
    assert verdict == Judgement("human", "screen_timeout")


def test_a_long_monologue_settles_machine_only_when_long_enough() -> None:
    short_of_it = VoicemailScreen()
    assert short_of_it.heard(LONG_NO_CUE, speech_s=SCREEN_MONOLOGUE_S - 0.5, at_s=10.0) is None
    long_enough = VoicemailScreen()
    verdict = long_enough.heard(LONG_NO_CUE, speech_s=SCREEN_MONOLOGUE_S, at_s=10.5)
    assert verdict == Judgement("machine", "long_monologue")


def test_a_monologue_of_unknown_length_is_never_a_machine_by_length() -> None:
    screen = VoicemailScreen()
    assert screen.heard(LONG_NO_CUE, speech_s=None, at_s=10.0) is None
    assert screen.timed_out(12.0) == Judgement("human", "screen_timeout")


def test_empty_finals_are_ignored() -> None:
    screen = VoicemailScreen()
    assert screen.heard("", speech_s=0.0, at_s=1.0) is None
    assert screen.settled is None
