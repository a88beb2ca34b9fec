"""Latency masking decisions: fillers only for waits expected to be long, worded from what is
being done, never the same line twice in a row; expectations come from shared Redis history."""

from __future__ import annotations

import itertools

import pytest
from redis.asyncio import Redis

from responder.latency import LatencyHistory
from responder.masking import (
    FILLER_GRACE_S,
    FillerWriter,
    first_filler_delay,
    request_details,
    speakable,
)
from shared.keys import Keys


def test_progress_lines_are_said_the_way_people_say_dates_and_times() -> None:
    line = "checking availability for 4 on 2026-11-27 at 20:00"
    assert speakable(line) == "checking availability for 4 on Friday the 27th at 8 pm"
    assert speakable("booking for 2 on 2026-12-01 at 12:00.") == (
        "booking for 2 on Tuesday the 1st at noon"
    )
    assert speakable("at 19:30") == "at 7:30 pm"
    assert speakable("on 2026-02-30") == "on 2026-02-30"  # not a date: left alone


def test_fillers_never_repeat_back_to_back_and_use_the_progress() -> None:
    writer = FillerWriter()
    lines = [writer.filler("checking availability for 4 on 2026-11-27 at 20:00") for _ in range(6)]
    assert all("Friday the 27th at 8 pm" in line for line in lines)
    assert all(a != b for a, b in itertools.pairwise(lines))
    generic = [writer.filler("") for _ in range(5)]
    assert all(a != b for a, b in itertools.pairwise(generic))
    assert writer.acknowledgement() != writer.acknowledgement()


def test_silence_is_filled_at_the_threshold_unless_the_answer_is_expected_by_then() -> None:
    # expected 3 s, 1 s already gone while acknowledging: silence will last, filler at 1.2 s
    assert first_filler_delay(3.0, 1.0, 1.2) == 1.2
    # expected 1.5 s after a 1.5 s acknowledgement: still expected to run when the silence
    # becomes noticeable, so the filler comes then
    assert first_filler_delay(3.0, 1.5, 1.2) == 1.2
    # expected to arrive right after the acknowledgement: it gets until just past the threshold
    assert first_filler_delay(2.0, 1.5, 1.2) == 1.2 + FILLER_GRACE_S
    # expected 0.3 s: a filler only if it is late, and never more than the threshold plus the
    # grace of silence (it used to be expected + threshold: 1.5 s)
    assert first_filler_delay(0.3, 0.0, 1.2) == 1.2 + FILLER_GRACE_S
    assert first_filler_delay(60.0, 0.0, 1.2) == 1.2


@pytest.mark.parametrize(
    ("request_text", "details"),
    [
        (
            "Can you fit six of us in around half past seven on Thursday?",
            "Thursday at half past seven for six",
        ),
        ("table for 4 on Friday at 20:00", "Friday at 8 pm for 4"),
        ("party of 8 on 2026-12-11 at 19:30", "Friday at 7:30 pm for 8"),
        ("book a table for 2 tomorrow night at 8 pm", "tomorrow night at 8 pm for 2"),
        ("When do you open on Saturday?", "Saturday"),
        ("Do you have vegan options?", ""),
    ],
)
def test_a_filler_before_any_progress_names_the_details_of_the_request(
    request_text: str, details: str
) -> None:
    assert request_details(request_text) == details
    line = FillerWriter().filler("", request_text)
    if details:
        assert details in line
    else:
        assert line == "Still working on that, one moment."


async def test_history_expects_the_75th_percentile_once_it_has_enough_samples(
    redis: Redis,
) -> None:
    history = LatencyHistory(redis, Keys("masking"), samples=8)
    assert await history.expected("tool:check_availability") is None
    for seconds in (0.2, 0.4):
        await history.record("tool:check_availability", seconds)
    assert await history.expected("tool:check_availability") is None  # 2 samples: not enough
    for seconds in (0.6, 0.8, 2.0):
        await history.record("tool:check_availability", seconds)
    assert await history.expected("tool:check_availability") == 0.8
    for _ in range(8):  # old samples age out
        await history.record("tool:check_availability", 3.0)
    assert await history.expected("tool:check_availability") == 3.0
    assert await redis.llen(Keys("masking").latency("tool:check_availability")) == 8
