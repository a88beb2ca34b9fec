"""The call record: each stretch of agent audio carries the text, kind and tasks of the message
it played, matched through the session's events (never a time window), and what the checks and
the transcript make of lines cut off by the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from livekit.agents import AgentSession, llm
from livekit.agents.voice.events import ConversationItemAddedEvent, SpeechCreatedEvent

from responder.session.capture import follow_session
from responder.session.journal import SessionJournal
from simulator.checks import evaluate
from simulator.record import AgentAudio, CallRecord, Speech, agent_speech, task_spans
from simulator.scenario import Check
from simulator.transcript import render_transcript

ANSWER = "Good news: a table for 4 is free on Friday at 8 pm. Shall I book it?"


def floor(t: float, kind: str, *tasks: int) -> dict[str, Any]:
    return {
        "t": t,
        "source": "responder",
        "event": "floor_requested",
        "kind": kind,
        "attempt": 1,
        "tasks": list(tasks),
    }


def created(t: float, speech: str) -> dict[str, Any]:
    data = {"speech": speech, "source": "say", "user_initiated": True}
    return {"t": t, "source": "session", "event": "speech_created", "data": data}


def done(t: float, speech: str, *messages: str) -> dict[str, Any]:
    data = {"speech": speech, "messages": list(messages), "interrupted": False}
    return {"t": t, "source": "session", "event": "speech_done", "data": data}


def item(t: float, message: str, text: str, spoke: tuple[float, float]) -> dict[str, Any]:
    data = {
        "id": message,
        "role": "assistant",
        "text": text,
        "interrupted": False,
        "spoke_at": spoke[0],
        "spoke_until": spoke[1],
    }
    return {"t": t, "source": "session", "event": "conversation_item_added", "data": data}


def stretch(start: float, end: float, *, cut: bool = False, kind: str = "reply") -> AgentAudio:
    played = end - start
    return AgentAudio(start, end, played, played * 4 if cut else played, cut, kind)


def test_a_line_cut_off_by_a_long_barge_in_keeps_its_text() -> None:
    # the answer played 1 s of 4 s; the caller talked for 3 s before LiveKit stored the message
    events = [
        floor(9.0, "result", 1),
        created(9.0, "s1"),
        item(14.2, "m1", ANSWER, (9.3, 14.2)),
        done(14.2, "s1", "m1"),
    ]
    (speech,) = agent_speech([stretch(9.3, 10.3, cut=True)], events)
    assert speech.text == ANSWER
    assert (speech.kind, speech.tasks, speech.interrupted) == ("result", (1,), True)
    assert speech.heard == pytest.approx(0.25)
    assert speech.heard_text == "Good news: a table"  # a quarter, to the end of the word


def test_each_stretch_gets_the_message_that_started_at_its_first_frame() -> None:
    events = [
        created(0.0, "greeting"),
        item(4.3, "m0", "Thanks for calling.", (0.2, 4.3)),
        done(4.3, "greeting", "m0"),
        floor(6.0, "ack", 1),
        created(6.0, "s1"),
        # an ack and its result both ended before either message was stored
        floor(7.9, "result", 1),
        created(7.9, "s2"),
        item(9.5, "m1", "Let me check.", (6.4, 7.8)),
        done(9.5, "s1", "m1"),
        item(12.0, "m2", ANSWER, (8.0, 12.0)),
        done(12.0, "s2", "m2"),
    ]
    audio = [stretch(0.2, 4.3), stretch(6.4, 7.8), stretch(8.0, 12.0)]
    speech = agent_speech(audio, events)
    assert [(s.text, s.kind, s.tasks) for s in speech] == [
        ("Thanks for calling.", "reply", ()),
        ("Let me check.", "ack", (1,)),
        (ANSWER, "result", (1,)),
    ]


def test_a_floor_request_that_never_became_speech_does_not_name_the_next_reply() -> None:
    events = [
        floor(5.0, "filler", 1),  # the session was closing: no speech for it
        created(8.0, "s1"),
        item(9.0, "m1", "Sure.", (8.2, 9.0)),
        done(9.0, "s1", "m1"),
    ]
    (speech,) = agent_speech([stretch(8.2, 9.0)], events)
    assert (speech.kind, speech.tasks) == ("reply", ())


def test_coalesced_answers_name_every_task() -> None:
    events = [
        floor(3.0, "result", 1),
        floor(3.0, "result", 2),
        created(3.001, "s1"),
        item(6.0, "m1", "Both answers.", (3.3, 6.0)),
        done(6.0, "s1", "m1"),
    ]
    (speech,) = agent_speech([stretch(3.3, 6.0)], events)
    assert speech.tasks == (1, 2)


def test_the_messages_of_one_generation_take_its_stretches_in_order() -> None:
    events = [
        created(1.0, "s1"),
        item(5.0, "m1", "First part.", (1.2, 5.0)),
        item(5.0, "m2", "Second part.", (1.2, 5.0)),
        done(5.0, "s1", "m1", "m2"),
    ]
    speech = agent_speech([stretch(1.2, 2.9), stretch(3.0, 5.0)], events)
    assert [s.text for s in speech] == ["First part.", "Second part."]


def test_a_message_played_as_two_stretches_is_shared_out_by_their_audio() -> None:
    events = [created(1.0, "s1"), item(5.0, "m1", "one two three four", (1.0, 5.0))]
    speech = agent_speech([stretch(1.0, 2.0), stretch(2.2, 5.0)], events)
    assert [s.text for s in speech] == ["one two", "three four"]


def test_audio_with_no_stored_message_keeps_the_live_guess_and_no_text() -> None:
    (speech,) = agent_speech([stretch(1.0, 2.0, kind="filler")], [])
    assert (speech.text, speech.kind) == ("", "filler")


def test_a_stretch_of_another_speech_is_never_given_a_message_by_proximity() -> None:
    # the message started 0.4 s before this stretch: a different speech, whatever the timing
    events = [created(1.0, "s1"), item(3.0, "m1", "Hello.", (1.0, 1.6))]
    (speech,) = agent_speech([stretch(1.4, 2.0)], events)
    assert speech.text == ""


def test_task_spans_end_at_the_first_outcome() -> None:
    events: list[dict[str, Any]] = [
        {"t": 1.0, "event": "task_submitted", "task": 1},
        {"t": 1.5, "event": "task_answer", "task": 1, "final": False},
        {"t": 2.0, "event": "task_failed", "task": 1, "outcome": "expired"},
        {"t": 2.5, "event": "task_answer", "task": 1, "final": True},
        {"t": 3.0, "event": "task_submitted", "task": 2},
    ]
    spans = task_spans(events, {1: "a table"}, duration=10.0)
    assert [(s.number, s.ended, s.outcome) for s in spans] == [
        (1, 2.0, "expired"),
        (2, None, "open"),
    ]


def cut_off_call() -> CallRecord:
    return CallRecord(
        "s",
        20.0,
        [
            Speech("caller", 1.0, 3.0, "A table for four."),
            Speech("agent", 4.0, 5.0, ANSWER, "result", interrupted=True, heard=0.25),
            Speech("caller", 4.2, 7.0, "Sorry, make it five."),
        ],
    )


def test_never_said_sees_the_whole_of_a_cut_off_line() -> None:
    checks = [Check(agent_never_said="table for 4"), Check(agent_never_said="8 pm")]
    results = evaluate(checks, record=cut_off_call(), events=[], bookings=[])
    assert [r.passed for r in results] == [False, False]
    assert results[1].detail == f"said: {ANSWER!r} (cut off)"


def test_mentioned_sees_only_what_was_heard_of_a_cut_off_line() -> None:
    checks = [Check(agent_mentioned="good news"), Check(agent_mentioned="time")]
    results = evaluate(checks, record=cut_off_call(), events=[], bookings=[])
    assert [r.passed for r in results] == [True, False]
    assert results[0].detail == "in: 'Good news: a table' (cut off)"


def test_the_transcript_shows_what_was_heard_and_strikes_the_rest() -> None:
    lines = render_transcript(cut_off_call()).splitlines()
    assert (
        "**[00:04.0 → 00:05.0] Agent:** *(result)* Good news: a table *(cut off)* "
        "~~for 4 is free on Friday at 8 pm. Shall I book it?~~"
    ) in lines


@pytest.mark.parametrize(
    ("heard", "expected"),
    [(1.0, "one two three"), (0.0, ""), (0.3, "one two"), (0.5, "one two"), (0.9, "one two three")],
)
def test_heard_text_rounds_up_to_a_whole_word(heard: float, expected: str) -> None:
    speech = Speech("agent", 0.0, 1.0, "one two three", interrupted=True, heard=heard)
    assert speech.heard_text == expected


class FakeSpeech:
    """What the run reads of a LiveKit ``SpeechHandle``: its id, its chat items, when done."""

    def __init__(self, speech_id: str) -> None:
        self.id = speech_id
        self.chat_items: list[llm.ChatItem] = []
        self.interrupted = True
        self._done: list[Callable[[FakeSpeech], None]] = []

    def add_done_callback(self, callback: Callable[[FakeSpeech], None]) -> None:
        self._done.append(callback)

    def finish(self) -> None:
        for callback in self._done:
            callback(self)


@dataclass
class SpeechCreated:
    speech_handle: FakeSpeech
    source: str = "say"
    user_initiated: bool = True


async def test_the_session_events_are_recorded_with_their_first_frame_on_the_call_clock() -> None:
    session = AgentSession[None]()
    clock = SessionJournal("s", clock=lambda: 9.0)
    clock.start_clock()
    clock.origin = 0.0  # every event at 9 s on the call clock
    events = clock.events
    follow_session(session, clock)
    speech = FakeSpeech("s1")
    # a SpeechCreatedEvent holds a real SpeechHandle: the fake stands in for it
    session.emit("speech_created", cast(SpeechCreatedEvent, SpeechCreated(speech)))
    message = llm.ChatMessage(role="assistant", content=[ANSWER], interrupted=True)
    message.metrics = {
        "started_speaking_at": clock.wall_origin + 9.3,
        "stopped_speaking_at": clock.wall_origin + 14.2,
    }
    speech.chat_items.append(message)
    session.emit("conversation_item_added", ConversationItemAddedEvent(item=message))
    speech.finish()
    assert [e["event"] for e in events] == [
        "speech_created",
        "conversation_item_added",
        "speech_done",
    ]
    assert events[1]["data"]["spoke_at"] == pytest.approx(9.3)
    assert events[2]["data"] == {"speech": "s1", "messages": [message.id], "interrupted": True}
    (line,) = agent_speech([stretch(9.3, 10.3, cut=True)], [floor(9.0, "result", 1), *events])
    assert (line.text, line.kind, line.tasks) == (ANSWER, "result", (1,))
