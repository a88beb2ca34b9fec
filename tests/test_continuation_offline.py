"""The offline front desk and half sentences: it asks for the rest of words that stop mid-sentence
instead of delegating them, and hears the caller's next turn as their rest."""

from __future__ import annotations

import json

from livekit.agents import llm

from profiles.restaurant.front_desk import FrontDeskBrain
from responder.offline.brain import Decision, OfflineFrontDesk
from tests.tool_helpers import restaurant_profile

GREETING = llm.ChatMessage(role="assistant", content=["Thanks for calling. How can I help you?"])


def caller(text: str, start: float | None = None, end: float | None = None) -> llm.ChatMessage:
    message = llm.ChatMessage(role="user", content=[text])
    if start is not None and end is not None:
        message.metrics = {"started_speaking_at": start, "stopped_speaking_at": end}
    return message


def agent(text: str) -> llm.ChatMessage:
    return llm.ChatMessage(role="assistant", content=[text])


def delegated(request: str, number: int = 1) -> list[llm.ChatItem]:
    call_id = f"call_{number}"
    return [
        llm.FunctionCall(
            call_id=call_id, name="delegate", arguments=json.dumps({"request": request})
        ),
        llm.FunctionCallOutput(
            call_id=call_id, name="delegate", output=f"Task {number} started.", is_error=False
        ),
    ]


def desk() -> OfflineFrontDesk:
    return FrontDeskBrain(restaurant_profile())


def requests(decision: Decision) -> list[str]:
    return [arguments["request"] for name, arguments in decision.calls if name == "delegate"]


def test_half_a_request_is_not_delegated_the_caller_is_asked_to_go_on() -> None:
    brain = desk()
    decision = brain.decide([GREETING, caller("Hi I'd like to book a table for um...")])
    assert decision == Decision(brain.go_on_line)
    assert brain.decide([GREETING, caller("I'd like to book.")]) == Decision(brain.go_on_line)


def test_after_go_on_the_next_turn_is_the_rest_of_the_sentence_however_late() -> None:
    brain = desk()
    items: list[llm.ChatItem] = [
        GREETING,
        caller("Hi I'd like to book a table for um...", 0.0, 2.0),
        agent(brain.go_on_line),
        caller("four of us on Saturday at half past eight under the name Rivera.", 9.0, 12.0),
    ]
    assert requests(brain.decide(items)) == [
        "Hi I'd like to book a table for four of us on Saturday at half past eight under the "
        "name Rivera."
    ]


def test_a_sentence_said_in_three_goes_is_one_request() -> None:
    brain = desk()
    items: list[llm.ChatItem] = [
        GREETING,
        caller("I'd like a table for", 0.0, 1.0),
        agent(brain.go_on_line),
        caller("four people and", 3.0, 4.0),
        agent(brain.go_on_line),
        caller("on Saturday at eight.", 6.0, 7.0),
    ]
    assert requests(brain.decide(items)) == [
        "I'd like a table for four people and on Saturday at eight."
    ]


def test_a_new_request_after_go_on_is_taken_on_its_own() -> None:
    brain = desk()
    items: list[llm.ChatItem] = [
        GREETING,
        caller("I'd like to book a table for, um", 0.0, 2.0),
        agent(brain.go_on_line),
        caller("Actually, what time do you open on Sunday?", 4.5, 6.5),
    ]
    assert requests(brain.decide(items)) == ["Actually, what time do you open on Sunday?"]


def test_the_rest_of_a_delegated_fragment_is_delegated_whole() -> None:
    """Whisper wrote the fragment as a finished question, so it was delegated; the rest comes
    within seconds and starts mid-sentence: the whole goes out (the responder then replaces
    the fragment's task with it)."""
    brain = desk()
    items: list[llm.ChatItem] = [
        GREETING,
        caller("Can I get a table on Saturday?", 0.0, 2.0),
        agent("Let me check that for you."),
        *delegated("Can I get a table on Saturday?"),
        caller("at eight for two people.", 3.2, 5.0),
    ]
    assert requests(brain.decide(items)) == [
        "Can I get a table on Saturday at eight for two people."
    ]
    late = [*items[:-1], caller("at eight for two people.", 9.0, 11.0)]
    assert "Saturday" not in " ".join(requests(brain.decide(late)))  # long after: not joined


def test_greetings_that_trail_off_are_still_greeted() -> None:
    brain = desk()
    assert brain.decide([GREETING, caller("Hi, um")]).text == "Hello! How can I help you today?"
