"""The offline responder brains: what they say and which tools they call, from the conversation.

The generic front desk (any profile) first, then the demo restaurant's, which adds its routing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from livekit.agents import llm

from profiles.restaurant.front_desk import OFF_DOMAIN_LINE, FrontDeskBrain
from responder.backchannel import is_backchannel
from responder.offline import OfflineFrontDesk
from responder.offline.brain import Decision, relevant_part, speak_answer
from shared.profile import Profile
from tests.tool_helpers import restaurant_profile, write_profile


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


def answer(call_id: str, text: str, request: str = "") -> list[llm.ChatItem]:
    """A task's answer as the responder adds it: a call with the task's arguments, its output."""
    arguments = json.dumps({"request": request}) if request else "{}"
    return [
        llm.FunctionCall(call_id=f"{call_id}_result", name="delegate", arguments=arguments),
        llm.FunctionCallOutput(
            call_id=f"{call_id}_result", name="delegate", output=text, is_error=False
        ),
    ]


PERSONA = system("persona")
GREET = system("Greet the caller in one short sentence and ask how you can help.")


def decide(items: list[llm.ChatItem]) -> Decision:
    """The restaurant's front desk deciding on ``items``."""
    return FrontDeskBrain(restaurant_profile()).decide(items)


# --- the generic front desk, for any profile ------------------------------------------------------


@pytest.fixture
def shop(tmp_path: Path) -> Profile:
    return write_profile(
        tmp_path / "shop",
        name="Harbor Bikes",
        knowledge="## Hours\nWe open at nine.\n",
        timezone="America/Halifax",
    )


def test_the_generic_desk_greets_and_says_goodbye_with_the_profiles_lines(shop: Profile) -> None:
    desk = OfflineFrontDesk(shop)
    assert desk.decide([]).text == "Hello, Harbor Bikes here. How can I help?"
    assert desk.decide([PERSONA, GREET]).text == "Hello, Harbor Bikes here. How can I help?"
    said = 'Say exactly this: "Hello, Harbor Bikes here. How can I help?"'
    assert desk.decide([PERSONA, system(said)]).text == "Hello, Harbor Bikes here. How can I help?"
    for bye in ("Thanks, bye!", "No, that's all. Goodbye.", "Nothing else, thank you."):
        reply = desk.decide([PERSONA, user("Hi."), agent("Hello!"), user(bye)])
        assert reply == Decision("Thanks for calling Harbor Bikes. Bye now!"), bye
    assert desk.model == "tandem-offline-rules"


def test_the_generic_desk_answers_small_talk_itself(shop: Profile) -> None:
    desk = OfflineFrontDesk(shop)
    assert desk.decide([PERSONA, user("Hello. How are you today?")]) == Decision(
        "I'm doing well, thank you. How can I help you today?"
    )
    assert desk.decide([PERSONA, user("Hi there!")]).text == "Hello! How can I help you today?"
    assert desk.decide([PERSONA, agent("We open at nine."), user("Mm-hm.")]) == Decision()
    thanks = desk.decide([PERSONA, user("Thank you so much.")])
    assert thanks.text == "You're welcome! Is there anything else I can help with?"


@pytest.mark.parametrize(
    ("heard", "acknowledgement"),
    [
        ("When do you open on Saturday?", "Let me look that up."),
        ("Can you sing me a song?", "Let me look that up."),  # the thinker says what it can't do
        ("Hi! Do you fix e-bikes and is there parking?", "Let me check both of those."),
        ("Yes sorry. Is my bike ready?", "Let me look that up."),
    ],
)
def test_the_generic_desk_delegates_every_request_with_an_acknowledgement(
    shop: Profile, heard: str, acknowledgement: str
) -> None:
    reply = OfflineFrontDesk(shop).decide([PERSONA, user(heard)])
    assert reply == Decision(acknowledgement, [("delegate", {"request": heard})])


def test_the_generic_desk_says_the_answer_the_floor_points_at_at_phone_length(
    shop: Profile,
) -> None:
    long_answer = " ".join(f"Fact number {n} about the shop." for n in range(20))
    items = [
        PERSONA,
        user("When do you open on Saturday?"),
        *delegated("c1", "When do you open on Saturday?", 1),
        *answer("c1", f"{long_answer} We open at 09:00 on Saturday.", "When do you open?"),
    ]
    told = OfflineFrontDesk(shop).decide(
        [*items, system("Task 1 is done. Its answer is the tool output with call id c1_result.")]
    )
    assert told.text == "We open at 9 am on Saturday."
    assert not told.calls


def test_the_generic_desk_corrects_retries_and_confirms_the_latest_request(shop: Profile) -> None:
    desk = OfflineFrontDesk(shop)
    items = [PERSONA, *delegated("c1", "Is a tune-up free on Friday?", 1)]
    corrected = desk.decide([*items, user("Actually, make it Saturday.")])
    assert corrected.calls == [
        (
            "delegate",
            {
                "request": "Actually, make it Saturday. (correcting: Is a tune-up free on Friday?)",
                "replaces_task": 1,
            },
        )
    ]
    offered = [*items, agent("Sorry, I couldn't get that done. Would you like me to try again?")]
    assert desk.decide([*offered, user("Yes please.")]).calls == [
        ("delegate", {"request": "Is a tune-up free on Friday?"})
    ]
    asked = [*items, *answer("c1", "Free."), agent("It's free. Shall I book it for you?")]
    confirmed = desk.decide([*asked, user("Yes, go ahead.")])
    assert confirmed.text == "Great, I'll do that now."
    assert confirmed.calls[0][1]["caller_confirmed"] is True
    assert desk.decide([*asked, user("No thanks.")]).calls == []


# --- the demo restaurant's front desk -------------------------------------------------------------


def test_greets_and_makes_small_talk_itself() -> None:
    assert decide([PERSONA, GREET]).text == restaurant_profile().persona.greeting
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


def test_a_task_that_failed_after_booking_is_told_as_booked() -> None:
    from responder.prompts import failure_instructions

    booked = "Booking TT-4F7K2: a table for 4 on Friday 27 November 2026 at 20:00, under Rivera."
    items = [PERSONA, *delegated("c1", "Yes, go ahead.", 1)]
    told = decide(
        [
            *items,
            system(
                failure_instructions(
                    1, "Yes, go ahead.", expired=False, moved_on=False, done=(booked,)
                )
            ),
        ]
    )
    assert told.text.startswith("You're all set: a table for 4 on Friday the 27th at 8 pm")
    assert "TT-4F7K2" in told.text
    assert "couldn't" not in told.text
    assert "try again" not in told.text


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


# --- the restaurant's front desk: booking language and names (issue 14) ---------------------------


@pytest.mark.parametrize(
    "heard",
    [
        "and you fit six of us in around half past seven on Saturday.",
        "We're four Friday around 8.",
        "Just me, lunchtime, around one.",
        "Is their room for a party of 8?",
    ],
)
def test_booking_language_is_delegated_as_a_booking(heard: str) -> None:
    reply = decide([PERSONA, user(heard)])
    assert reply.text == "Let me check that for you."
    assert reply.calls == [("delegate", {"request": heard})]


def test_any_question_to_the_restaurant_is_delegated_not_turned_away() -> None:
    for heard in ("Do you have live music at all?", "Is there a dress code?"):
        assert decide([PERSONA, user(heard)]).calls == [("delegate", {"request": heard})]


SPELL = "Good news: a table for 2 is free on Friday the 11th at 8 pm. Could you spell the name for me, please?"  # noqa: E501


@pytest.mark.parametrize("heard", ["It's okay AFOR.", "P-A-T-E-L", "Okafor.", "It's a lion."])
def test_an_answer_to_a_question_about_the_booking_goes_to_the_thinker(heard: str) -> None:
    items = [
        PERSONA,
        *delegated("c1", "A table for 2 on Friday at 8, the name's Akafur.", 1),
        *answer("c1", "Yes: free. Before booking, the name needs spelling: Akafur."),
        agent(SPELL),
    ]
    reply = decide([*items, user(heard)])
    assert reply.text == "Thank you."
    assert reply.calls == [("delegate", {"request": heard})]


def test_a_plain_yes_or_goodbye_to_a_question_is_no_answer() -> None:
    items = [PERSONA, agent("Good news: a table for 2 is free. What name is it under?")]
    assert not decide([*items, user("Yes.")]).calls
    assert decide([*items, user("Bye.")]).text == restaurant_profile().persona.goodbye


def test_a_new_name_at_the_read_back_is_an_answer_and_a_yes_confirms() -> None:
    items = [
        PERSONA,
        *delegated("c1", "A table for 2 on Friday at 8 under Garsha.", 1),
        *answer("c1", "Yes: free."),
        agent("Good news: a table for 2 is free. Shall I book it under the name Garsha?"),
    ]
    corrected = decide([*items, user("No, sorry, it's Garsha. G-A-R-C-I-A.")])
    assert corrected.calls == [("delegate", {"request": "No, sorry, it's Garsha. G-A-R-C-I-A."})]
    confirmed = decide([*items, user("Yes please.")])
    assert confirmed.calls[0][1]["caller_confirmed"] is True


def test_the_thinkers_spelling_request_is_said_as_a_host_asks() -> None:
    said = speak_answer(
        "Yes: a table for 2 is free on Friday 11 December at 20:00. Before booking, the name "
        "needs spelling: Akafur.",
        FrontDeskBrain.rewrites,
    )
    assert said == (
        "Good news: a table for 2 is free on Friday the 11th at 8 pm. "
        "Could you spell the name for me, please?"
    )


def test_a_spelling_said_over_the_question_replaces_the_task_that_asked() -> None:
    items = [
        PERSONA,
        *delegated("c1", "A table for 2 on Friday at 8 under Ockever.", 1),
        *answer("c1", "Yes: free. Before booking, the name needs spelling: Ockever."),
        agent(SPELL, interrupted=True),
    ]
    reply = decide([*items, user("Sorry it's okay AFOR.")])
    assert reply.calls == [("delegate", {"request": "Sorry it's okay AFOR.", "replaces_task": 1})]


def test_one_booking_request_after_a_hello_is_acknowledged_as_one() -> None:
    heard = "Hello? Could I book a table for six on Friday at quarter past seven under Ockever?"
    assert decide([PERSONA, user(heard)]).text == "Let me check that for you."
