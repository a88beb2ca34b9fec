"""The offline responder brain: what it says and which tools it calls, from the conversation."""

from __future__ import annotations

import json

from livekit.agents import llm

from responder.backchannel import is_backchannel
from responder.offline.brain import (
    GREETING_LINE,
    OFF_DOMAIN_LINE,
    decide,
    relevant_part,
    speak_answer,
)
from responder.prompts import GREETING


def user(text: str) -> llm.ChatMessage:
    return llm.ChatMessage(role="user", content=[text])


def agent(text: str, *, interrupted: bool = False) -> llm.ChatMessage:
    return llm.ChatMessage(role="assistant", content=[text], interrupted=interrupted)


def system(text: str) -> llm.ChatMessage:
    return llm.ChatMessage(role="system", content=[text])


def delegated(call_id: str, request: str, number: int) -> list[llm.ChatItem]:
    return [
        llm.FunctionCall(
            call_id=call_id, name="delegate", arguments=json.dumps({"request": request})
        ),
        llm.FunctionCallOutput(
            call_id=call_id, name="delegate", output=f"Task {number} started.", is_error=False
        ),
    ]


def answer(call_id: str, text: str) -> list[llm.ChatItem]:
    return [
        llm.FunctionCall(call_id=f"{call_id}_result", name="delegate", arguments="{}"),
        llm.FunctionCallOutput(
            call_id=f"{call_id}_result", name="delegate", output=text, is_error=False
        ),
    ]


PERSONA = system("persona")


def test_greets_and_makes_small_talk_itself() -> None:
    assert decide([PERSONA, system(GREETING)]).text == GREETING_LINE
    reply = decide([PERSONA, user("Hello. How are you today?")])
    assert "doing well" in reply.text
    assert not reply.calls
    assert decide([PERSONA, user("Can you sing me a song?")]).text == OFF_DOMAIN_LINE


def test_a_caller_back_from_a_silence_is_welcomed_not_turned_away() -> None:
    nudged = [PERSONA, user("Hi."), agent("Hello!"), agent("Are you still there?")]
    assert decide([*nudged, user("Yes, sorry.")]).text == "No problem. How can I help?"
    both = decide([*nudged, user("Yes sorry. When do you close tonight?")])
    assert both.calls == [("delegate", {"request": "Yes sorry. When do you close tonight?"})]


def test_restaurant_requests_are_acknowledged_and_delegated_in_one_response() -> None:
    reply = decide([PERSONA, user("I'd like a table for four on Friday at 8 under Rivera.")])
    assert reply.text == "Let me check that for you."
    assert reply.calls == [
        ("delegate", {"request": "I'd like a table for four on Friday at 8 under Rivera."})
    ]
    both = decide([PERSONA, user("What time do you open on Sunday and do you have vegan food?")])
    assert both.text == "Let me check both of those."


def test_a_correction_replaces_the_latest_task_with_the_details_merged() -> None:
    items = [
        PERSONA,
        user("A table for two on Saturday at 7."),
        *delegated("c1", "A table for two on Saturday at 7.", 1),
    ]
    reply = decide([*items, user("Actually make it eight o'clock.")])
    assert reply.calls == [
        (
            "delegate",
            {
                "request": "Actually make it eight o'clock. (correcting: A table for two on "
                "Saturday at 7.)",
                "replaces_task": 1,
            },
        )
    ]


def test_yes_after_the_read_back_books_with_the_callers_confirmation() -> None:
    items = [
        PERSONA,
        *delegated("c1", "A table for 4 on Friday at 8 under Rivera.", 1),
        *answer("c1", "Yes: a table for 4 is free."),
        agent("Good news: a table for 4 is free. Shall I book it under the name Rivera?"),
    ]
    reply = decide([*items, user("Yes please book it.")])
    assert reply.calls[0][1]["caller_confirmed"] is True
    assert "Rivera" in reply.calls[0][1]["request"]
    declined = decide([*items, user("No thanks.")])
    assert not declined.calls


def test_backchannels_get_no_reply() -> None:
    assert decide([PERSONA, agent("We open at noon."), user("Uh huh.")]).text == ""


def test_answers_are_read_from_the_task_output_the_floor_points_at() -> None:
    items = [
        PERSONA,
        *delegated("c1", "A table for 4 on Friday at 8 under Rivera.", 1),
        *answer(
            "c1",
            "Yes: a table for 4 is free on Friday 27 November at 20:00. Booking it needs the "
            "caller's confirmation of the details: a table for 4 on Friday 27 November at 20:00, "
            "under the name Rivera.",
        ),
    ]
    told = decide(
        [
            *items,
            system(
                "Task 1 (x) is done. Its answer is the tool output with call id c1_result. "
                "Tell the caller."
            ),
        ]
    )
    assert told.text == (
        "Good news: a table for 4 is free on Friday the 27th at 8 pm. "
        "Shall I book it under the name Rivera?"
    )


def test_an_answer_the_caller_cut_off_and_moved_on_from_is_not_repeated() -> None:
    items = [
        PERSONA,
        *delegated("c1", "opening hours", 1),
        *answer("c1", "We open at noon every day except Monday."),
        agent("We open at noon every day", interrupted=True),
        user("Do you have parking?"),
    ]
    retry = (
        "Task 1 (x) is done. Its answer is the tool output with call id c1_result. Tell them.\n"
        "The caller cut you off last time you started saying this. If ..."
    )
    assert decide([*items, system(retry)]).text == ""


def test_long_answers_are_cut_to_what_was_asked() -> None:
    section = (
        "Allergens and dietary needs\n"
        "Allergens per dish; none means none of these:\n\n"
        "- Bruschetta al pomodoro: gluten. Vegan.\n"
        "- Tagliatelle al ragu: gluten, egg, dairy.\n"
        "- Risotto ai funghi porcini: dairy. Vegetarian, gluten-free.\n\n"
        "Vegetarian options: burrata, trofie al pesto and risotto. Vegan options:\n"
        "bruschetta, spaghetti aglio olio e peperoncino, and the lemon sorbet. Please tell us\n"
        "about any allergy when you book."
    )
    assert relevant_part(section, "Do you have vegan dishes?") == (
        "Vegan options: bruschetta, spaghetti aglio olio e peperoncino, and the lemon sorbet."
    )
    assert relevant_part("We open at noon.", "anything") == "We open at noon."


def test_an_answer_is_said_in_whole_sentences_with_speakable_times() -> None:
    said = speak_answer("Today is Sunday.\nSunday: lunch only, 12:00 to 16:00 (closed at night):")
    assert said == "Today is Sunday. Sunday: lunch only, noon to 4 pm (closed at night)."


def test_listening_noises_are_backchannels_and_requests_are_not() -> None:
    assert all(is_backchannel(t) for t in ("Uh huh.", "Mm-hm", "Okay.", "Right, right.", "Yeah"))
    assert not any(is_backchannel(t) for t in ("", "Yes, book it.", "Okay, make it five."))
