"""Names as a phone agent hears them (shared/names.py): spelled names, and names worth spelling."""

from __future__ import annotations

import pytest

from shared.names import is_unusual, letters, likely_spelling, spelled_name, tidy_name


@pytest.mark.parametrize(
    ("heard", "name"),
    [
        ("P-A-T-E-L.", "Patel"),
        ("It's P-A-T-E-L.", "Patel"),
        ("P, A, T, E, L", "Patel"),
        ("p a t e l", "Patel"),
        ("P.A.T.E.L.", "Patel"),
        ("P as in Peter, A, T, E, L", "Patel"),
        ("Yes, it's M-I-L-L-E-R.", "Miller"),
        ("That's F-E-R-N-A-N-D-E-S.", "Fernandes"),
        ("M-I, double L, E-R", "Miller"),
        ("O apostrophe B R I E N", "O'Brien"),
        ("M-A-R-I-A, L-O-P-E-Z", "Maria Lopez"),
        ("It's P-A-T-E-L and it's for Friday", "Patel"),
        ("No, sorry, it's Garsha. G-A-R-C-I-A.", "Garcia"),
    ],
)
def test_a_spelled_name_is_assembled(heard: str, name: str) -> None:
    assert spelled_name(heard) == name


@pytest.mark.parametrize(
    ("heard", "name"),
    [
        ("KOWALSKI", "Kowalski"),  # "K, O, W, A, L, S, K, I" as Whisper writes it
        ("KOWAL SKI.", "Kowalski"),
        ("It's okay AFOR.", "Okafor"),  # "O, K, A, F, O, R": "O, K" heard as "okay"
        ("It's okay AF-OR.", "Okafor"),  # the same, primed for a spelling: letters in chunks
        ("An AKA-M-U-R-A.", "Nakamura"),
        ("and G-U-Y-E-N.", "Nguyen"),  # "N" heard as "and"
        ("Sorry that spelled K-O-W-A-L-S-K-I.", "Kowalski"),
    ],
)
def test_letters_whisper_wrote_as_words_or_capitals_count(heard: str, name: str) -> None:
    assert spelled_name(heard) == name


@pytest.mark.parametrize(
    "heard",
    [
        "",
        "OK, I want a table",
        "I'd like a table for 2 tomorrow at 8",
        "A table for four under Kolsky.",
        "Look up TT-4F7K2 please",
        "Double T.",
        "That sounds A-OK to me.",
        "Yes, you are right and I see why",
        "Hi, I'd like a table for five on Saturday at half past eight, under PETA.",
    ],
)
def test_ordinary_words_are_no_spelling(heard: str) -> None:
    assert spelled_name(heard) is None


@pytest.mark.parametrize(
    "name", ["Rivera", "Miller", "Smith", "Sarah Jones", "O'Brien", "Patel", "Nguyen", "Ana Silva"]
)
def test_common_names_need_no_spelling(name: str) -> None:
    assert not is_unusual(name)


@pytest.mark.parametrize(
    "name", ["Ocifer", "Akafur", "Lion", "Fering Iron", "Kolsky", "Peta", "R2", "J", "", "A.B"]
)
def test_unusual_or_misheard_names_are_worth_spelling(name: str) -> None:
    assert is_unusual(name)


def test_a_name_is_stored_capitalised() -> None:
    assert tidy_name("o'brien") == "O'Brien"
    assert tidy_name("  sarah   jones ") == "Sarah Jones"
    assert tidy_name("PATEL") == "Patel"
    assert tidy_name("smith-jones") == "Smith-Jones"


@pytest.mark.parametrize(
    ("letters_heard", "said", "name"),
    [
        ("Toyor", "tailor", "Taylor"),  # "T-A-Y-L-O-R" misheard, "Taylor" heard as a word
        ("Potel", "Patel", "Patel"),
        ("Maria Lopaz", "Maria Lopez", "Maria Lopez"),
        ("Okafor", "ocifer", "Okafor"),  # spelled right: the letters stand
        ("Toyor", None, "Toyor"),  # nothing said to weigh them against
        ("Toyor", "tomorrow", "Toyor"),  # said word sounds unlike any name near the letters
        ("Tayler", "tailor", "Tayler"),  # Taylor and Tyler fit as well: no guessing
        ("Akafur", "ocifer", "Akafur"),  # more than two letters from any name that sounds so
    ],
)
def test_spelled_letters_are_weighed_against_the_name_as_said(
    letters_heard: str, said: str | None, name: str
) -> None:
    assert likely_spelling(letters_heard, said) == name


def test_a_name_is_spelled_back_letter_by_letter() -> None:
    assert letters("Taylor") == "T-A-Y-L-O-R"
    assert letters("O'Brien") == "O apostrophe B-R-I-E-N"
    assert letters("Maria Lopez") == "M-A-R-I-A, L-O-P-E-Z"
    for name in ("Taylor", "O'Brien", "Maria Lopez"):
        assert spelled_name(f"Shall I book it under the name {name}, {letters(name)}?") == name
