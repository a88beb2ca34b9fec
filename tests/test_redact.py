"""Personal data is redacted before a call is stored; what the booking needs survives."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.redact import Redactor, redact_events


def _luhn_complete(partial: str) -> str:
    """``partial`` with the check digit that makes it Luhn-valid appended."""
    total = 0
    for position, char in enumerate(reversed(partial)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return partial + str((10 - total % 10) % 10)


@pytest.mark.parametrize(
    "said",
    [
        "+15551234567",
        "+1 (415) 555-0134",
        "(415) 555-0134",
        "415-555-0134",
        "415.555.0134",
        "415 555 0134",
        "1-800-555-0134",
        "+44 20 7946 0958",
        "020 7946 0958",
        "+49 30 901820",
        "555-0134",
        "four one five five five five oh one three four",
        "four one five, five five five, zero one three four",
        "four one five 555 0134",
        "oh seven seven double oh nine triple one",
    ],
)
def test_phone_numbers_written_or_read_digit_by_digit_are_redacted(said: str) -> None:
    redacted = Redactor().redact(f"sure, it's {said}. Thanks!")
    assert redacted.endswith("[phone]. Thanks!")
    assert not re.search(r"\d", redacted)
    assert "five" not in redacted


def test_an_interjection_before_spoken_digits_is_kept() -> None:
    assert Redactor().redact("Oh, four one five five five five one two three four") == "Oh, [phone]"


@pytest.mark.parametrize(
    "said",
    [
        "john.smith+table@gmail.com",
        "john at gmail dot com",
        "john dot smith at example dot co dot uk",
        "j o h n at gmail dot com",
        "priya_s@mail.example.org",
    ],
)
def test_email_addresses_written_or_spoken_are_redacted(said: str) -> None:
    assert Redactor().redact(f"my email is {said} if you need it") == (
        "my email is [email] if you need it"
    )


@given(
    body=st.text(alphabet="0123456789", min_size=15, max_size=15),
    separator=st.sampled_from(["", " ", "-", " - "]),
)
def test_any_luhn_valid_card_number_formatted_the_usual_ways_is_redacted(
    body: str, separator: str
) -> None:
    number = _luhn_complete(body)
    formatted = separator.join(number[i : i + 4] for i in range(0, 16, 4))
    redacted = Redactor().redact(f"the card is {formatted}, expiry 09/28")
    assert redacted == "the card is [card], expiry 09/28"


def test_a_card_read_digit_by_digit_is_a_card() -> None:
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    spoken = " ".join(words[int(digit)] for digit in "4111111111111111")
    assert Redactor().redact(spoken) == "[card]"


def test_a_card_and_a_phone_number_in_one_sentence_are_both_redacted() -> None:
    assert Redactor().redact("4111 1111 1111 1111 and 415 555 0134") == "[card] and [phone]"


@pytest.mark.parametrize(
    "kept",
    [
        "Booked under reference TT-4821 for 4 people at 20:00 on 2026-05-12.",
        "That's $45.50 a head, or €1,250 for the room, 12.5% service.",
        "A table for 12 on 12/05/2026 at 7:30 pm, or 12.05.2026 at 19:30.",
        "We have been open since 1998, renovated 2010-2012, 3 courses for 2.",
        "Reference TT-ABCDE, party of six, Friday the 14th at eight.",
        "task 550e8400-e29b-41d4-a716-446655440000 finished in 1.25 s",
        "one or two adults, and one child",
    ],
)
def test_what_a_booking_needs_survives(kept: str) -> None:
    assert Redactor().redact(kept) == kept


@given(reference=st.from_regex(r"TT-[0-9A-Z]{4,6}", fullmatch=True))
def test_booking_references_survive(reference: str) -> None:
    text = f"Your reference is {reference}, {reference}."
    assert Redactor().redact(text) == text


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("Hi, my name is Priya Sharma, I'd like a table", "Priya Sharma"),
        ("my name's Okafor", "Okafor"),
        ("name's Nguyen, thanks", "Nguyen"),
        ("hi this is john speaking", "john"),
        ("It's under Patel.", "Patel"),
        ("put it under the name of Kowalczyk please", "Kowalczyk"),
        ("booking for Abernathy at eight", "Abernathy"),
        ("Thanks, Mrs. Okonkwo", "Okonkwo"),
        ("Dr Feldstein here", "Feldstein"),
    ],
)
def test_a_name_the_caller_gives_is_redacted_from_then_on(said: str, name: str) -> None:
    redactor = Redactor()
    redactor.learn_names_from(said)
    assert name.lower() not in redactor.redact(said).lower()
    later = redactor.redact(f"Great, {name.upper()} and {name.lower()}; see you {name}!")
    assert later == "Great, [name] and [name]; see you [name]!"


@pytest.mark.parametrize(
    "said",
    [
        "this is great",
        "it's under the table",
        "my name is on the list",
        "booking for Friday at eight",
        "a booking for two tonight",
        "this is really urgent",
        "It's under twenty minutes",
        "booking for May the 4th",
    ],
)
def test_common_words_are_not_taken_for_names(said: str) -> None:
    redactor = Redactor()
    redactor.learn_names_from(said)
    assert redactor.names == frozenset()
    assert redactor.redact(said) == said


def test_a_spelled_name_is_learned_and_redacted_spelled_or_said() -> None:
    redactor = Redactor()
    redactor.learn_names_from("It's T-A-Y-L-O-R.")
    for said in ("T-A-Y-L-O-R", "T A Y L O R", "t, a, y, l, o, r", "Taylor", "taylor's"):
        assert redactor.redact(f"that's {said} then").startswith("that's [name]")
    assert redactor.redact("tailor-made") == "tailor-made"


def test_a_two_letter_spelled_name_is_learned() -> None:
    redactor = Redactor()
    redactor.learn_names_from("L-I, like the letter")
    assert redactor.redact("Mr Li, that's L-I") == "Mr [name], that's [name]"


def test_names_given_as_tool_arguments_are_learned_word_by_word() -> None:
    redactor = Redactor()
    redactor.learn_name("Maria de la Cruz")
    assert redactor.redact("Maria de la Cruz, or just Cruz, M-A-R-I-A") == (
        "[name], or just [name], [name]"
    )
    assert redactor.redact("la la land") == "la la land"  # particles alone are no name


def _event(**fields: Any) -> dict[str, Any]:
    return {"t": 12.5, "ts": 1_765_000_000_000, **fields}


def test_redact_event_redacts_text_anywhere_and_leaves_ids_names_and_numbers() -> None:
    redactor = Redactor()
    event = _event(
        source="session",
        event="user_input_transcribed",
        session_id="room-4155550134",
        data={
            "transcript": "my number is 415 555 0134",
            "is_final": True,
            "speaker_id": "4155550134",
        },
        items=[{"content": ["call 415 555 0134"], "party_size": 4155550134}],
    )
    redacted = redactor.redact_event(event)
    assert redacted == _event(
        source="session",
        event="user_input_transcribed",
        session_id="room-4155550134",
        data={"transcript": "my number is [phone]", "is_final": True, "speaker_id": "4155550134"},
        items=[{"content": ["call [phone]"], "party_size": 4155550134}],
    )
    assert event["data"]["transcript"] == "my number is 415 555 0134"  # a copy, not in place


def test_learn_reads_tool_arguments_as_dicts_or_json_text() -> None:
    redactor = Redactor()
    redactor.learn(
        _event(
            source="thinker",
            event="tool_call",
            name="book_table",
            arguments={"name": "Adaeze Obi", "party_size": 4},
        )
    )
    redactor.learn(
        _event(
            source="thinker",
            event="tool_call",
            name="find_booking",
            arguments='{"guest_name": "Wojcik", "reference": "TT-4821"}',
        )
    )
    assert redactor.redact("Adaeze, Obi, Wojcik, book_table, TT-4821") == (
        "[name], [name], [name], book_table, TT-4821"
    )


def test_the_agent_introducing_itself_names_nobody() -> None:
    redactor = Redactor()
    redactor.learn(
        _event(
            source="responder",
            event="message",
            role="agent",
            text="Hello, this is Trattoria Tandem. Is that P-A-T-E-L?",
        )
    )
    assert redactor.names == frozenset({"Patel"})


def test_a_whole_call_is_redacted_with_names_given_late_removed_from_earlier_lines() -> None:
    events = [
        _event(source="responder", event="message", role="agent", text="Is that Ms Sharma?"),
        _event(
            source="responder",
            event="message",
            role="caller",
            text="Yes, priya, and mail me at priya at gmail dot com",
        ),
        _event(
            source="thinker",
            event="result",
            task_id="t-1",
            text="Booked under Sharma, reference TT-4821",
        ),
        _event(
            source="responder",
            event="message",
            role="caller",
            text="my name is Priya Sharma by the way",
        ),
    ]
    texts = [event["text"] for event in redact_events(events)]
    assert texts == [
        "Is that Ms [name]?",
        "Yes, [name], and mail me at [email]",
        "Booked under [name], reference TT-4821",
        "my name is [name] by the way",
    ]


@given(st.text(alphabet=st.sampled_from(list("0123456789 -+().,abcTT@"))))
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    redactor = Redactor()
    once = redactor.redact(text)
    assert redactor.redact(once) == once


def test_a_long_run_of_single_letters_is_no_name() -> None:
    redactor = Redactor()
    redactor.learn_names_from("a b c d e f g h " * 50)
    assert redactor.names == frozenset()
