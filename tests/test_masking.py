"""Latency masking decisions: fillers only for waits expected to be long, worded from what is
being done, never the same line twice in a row; expectations come from shared Redis history."""

from __future__ import annotations

import itertools

from redis.asyncio import Redis

from responder.latency import LatencyHistory
from responder.masking import FillerWriter, first_filler_delay, speakable
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


def test_only_a_wait_expected_to_outlast_the_threshold_gets_an_early_filler() -> None:
    # expected 3 s, 1 s already gone while acknowledging: silence will last, filler at 1.2 s
    assert first_filler_delay(3.0, 1.0, 1.2) == 1.2
    # expected 0.8 s: no filler unless it overruns by the threshold
    assert first_filler_delay(0.8, 0.0, 1.2) == 0.8 + 1.2


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
