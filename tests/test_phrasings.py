"""Booking language as callers say it (profiles/restaurant/language.py) and the phrasing-set
benchmark that measures it (bench/phrasings.py)."""

from __future__ import annotations

from datetime import date

import pytest

from bench.phrasings import Heard, Phrasing, load, pick, restaurant_understanding, score
from profiles.restaurant.language import (
    intent_of,
    numbers_as_digits,
    parse_date,
    parse_name,
    parse_party_size,
    parse_reference,
    parse_time,
    understand,
)

WEDNESDAY = date(2026, 12, 9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seven forty-five", "7:45"),
        ("Twenty One guests", "21 guests"),
        ("at seven thirty", "at 7:30"),
        ("at 730", "at 7:30"),
        ("tomorrow at 1930", "tomorrow at 19:30"),
        ("at 7.3 please", "at 7:30 please"),
        ("for two thirty people", "for 2 30 people"),
    ],
)
def test_numbers_are_read_as_digits(text: str, expected: str) -> None:
    assert numbers_as_digits(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("around half past seven", "19:30"),
        ("at quarter to eight", "19:45"),
        ("twenty past seven", "19:20"),
        ("about half seven", "19:30"),
        ("eight-ish", "20:00"),
        ("around nine", "21:00"),
        ("at noon", "12:00"),
        ("until midnight", "00:00"),
        ("at 8.45", "20:45"),
        ("8:15pm", "20:15"),
        ("at 8 in the evening", "20:00"),
        ("lunchtime, around one", "13:00"),
        ("at 9 in the morning", "09:00"),
        ("for 2 on Friday", None),
        ("for ten on Saturday", None),
    ],
)
def test_times_as_callers_say_them(text: str, expected: str | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("can you fit six of us in", 6),
        ("a party of eight", 8),
        ("we're four, Friday", 4),
        ("there's three of us", 3),
        ("Could I book for, uh, four?", 4),
        ("a table for for the day after tomorrow", 4),  # Whisper's "for four"
        ("just me, tomorrow", 1),
        ("me and my wife", 2),
        ("a table for two at eight", 2),
        ("for eight o'clock", None),
        ("for 8:30", None),
        ("on the 19th", None),
    ],
)
def test_party_sizes_as_callers_say_them(text: str, expected: int | None) -> None:
    assert parse_party_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow night", date(2026, 12, 10)),
        ("the day after tomorrow", date(2026, 12, 11)),
        ("this evening", date(2026, 12, 9)),
        ("Saturday the 19th", date(2026, 12, 19)),
        ("on Saturday the twelfth", date(2026, 12, 12)),
        ("on December 23rd", date(2026, 12, 23)),
        ("the 3rd of January", date(2027, 1, 3)),
        ("the twenty first", date(2026, 12, 21)),
        ("on the 5th", date(2027, 1, 5)),
        ("on Sundays", date(2026, 12, 13)),
        ("next Wednesday", date(2026, 12, 16)),
        ("on 2026-12-31", date(2026, 12, 31)),
    ],
)
def test_days_as_callers_say_them(text: str, expected: date) -> None:
    assert parse_date(text, WEDNESDAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Table for two, the name's Okafor.", "Okafor"),
        ("the names ocifer", "Ocifer"),  # Whisper drops the apostrophe and the capital
        ("it's under Fernandes", "Fernandes"),
        ("Under brown please.", "Brown"),
        ("Hi, it's Maria Lopez, I'd like a table", "Maria Lopez"),
        ("surname's Fernandes", "Fernandes"),
        ("the booking's for Rossi", "Rossi"),
        ("name Dubois?", "Dubois"),
        ("I'm calling to book a table for my anniversary", None),
        ("for Sunday lunch", None),
        ("It's P-A-T-E-L.", None),  # a spelling, not a name said
        ("the name is spelled", None),
    ],
)
def test_names_after_the_phrases_callers_use(text: str, expected: str | None) -> None:
    assert parse_name(text) == expected


def test_references_as_whisper_writes_them() -> None:
    assert parse_reference("look up tt-4f7k2") == "TT-4F7K2"
    assert parse_reference("booking TT9 QX3M for me") == "TT-9QX3M"
    assert parse_reference("a table for two") is None


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("and you fit six of us in around half past seven on Saturday.", "book"),
        ("We're four, Friday, eight-ish.", "book"),
        ("Is their room for a party of 8 on Saturday?", "availability"),
        ("Are you fully booked on Friday evening?", "availability"),
        ("I have to call off our dinner booking on Sunday", "cancel"),
        ("I won't be able to come on Friday, please cancel", "cancel"),
        ("Did my reservation go through?", "find"),
        ("Could you look up booking TT9 QX3M for me?", "find"),
        ("Do you take walk-ins or do we need a reservation?", "knowledge"),
        ("Are you open until midnight on Saturday?", "knowledge"),
        ("Is there a dress code?", "knowledge"),
        ("Is there anything on the menu for someone who's gluten free?", "knowledge"),
        ("Hello. How are you today?", None),
        ("Sing me a song about the sea", None),
    ],
)
def test_intents(text: str, intent: str | None) -> None:
    assert intent_of(text) == intent


def test_understand_reads_the_whole_request() -> None:
    request = understand(
        "Can you fit us in tonight? There's three of us, around eight. It's for Schmidt.",
        WEDNESDAY,
    )
    assert (request.intent, request.party_size, request.day, request.time, request.name) == (
        "book",
        3,
        WEDNESDAY,
        "20:00",
        "Schmidt",
    )


# --- the benchmark ----------------------------------------------------------------------------


def test_the_phrasing_set_is_large_varied_and_partly_held_out() -> None:
    today, requests = load()
    assert today.weekday() == 2
    assert len(requests) >= 60
    assert {r.intent for r in requests} == {"book", "availability", "cancel", "find", "knowledge"}
    assert len(pick(requests, "held-out")) >= len(requests) // 4
    assert len(pick(requests, "dev")) + len(pick(requests, "held-out")) == len(requests)


def test_scoring_counts_intents_slots_and_invented_slots() -> None:
    requests = [
        Phrasing("a", "book", {"party_size": 2, "day": None, "time": None, "name": None}, False),
        Phrasing("b", "knowledge", {}, True),
    ]
    heard = {
        "a": Heard("availability", {"party_size": 2, "name": "Invented"}),
        "b": Heard("knowledge", {}),
    }
    result = score(requests, lambda text: heard[text], lambda text: text == "a")
    assert result["intent"]["right"] == 1
    assert result["action"]["right"] == 2  # book and availability both check the table first
    assert result["per_slot"]["party_size"]["right"] == 1
    assert result["per_slot"]["name"]["right"] == 0  # a slot that was not said is a miss
    assert result["delegated"]["right"] == 1
    assert [m["say"] for m in result["misses"]] == ["a", "b"]


def test_the_restaurant_understands_the_phrasing_set() -> None:
    """A floor under the benchmark's figures (BENCHMARKS.md has them), so a rule change that
    breaks booking language fails here rather than on a call."""
    today, requests = load()
    result = score(requests, restaurant_understanding(today), lambda _text: True)
    assert result["intent"]["share"] >= 0.95
    assert result["slots"]["share"] >= 0.95
