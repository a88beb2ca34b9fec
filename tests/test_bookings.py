"""Table bookings: the caller-facing answers, bad input, and exactly-once booking under races."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from redis.asyncio import Redis

from profiles.restaurant.tools import book_table, cancel_booking, check_availability, find_booking
from tests.tool_helpers import make_context
from tools import ToolResult, invoke

FRIDAY = "2026-11-27"  # the clock in make_context says Tuesday 2026-11-24, 10:00 Lisbon time
BOOKING = {"name": "Ana Silva", "date": FRIDAY, "time": "20:00", "party_size": 4}


async def book(redis: Redis, key: str = "task-1-key", **changes: Any) -> ToolResult:
    ctx = make_context(redis, idempotency_key=key, confirmed=True)
    return await invoke(book_table, ctx, BOOKING | changes)


def reference_in(text: str) -> str:
    found = re.search(r"TT-[A-Z0-9]{5}", text)
    assert found, text
    return found.group(0)


async def test_a_free_table_is_reported_and_booked(redis: Redis) -> None:
    slot = {"date": FRIDAY, "time": "20:00", "party_size": 4}
    check = await invoke(check_availability, make_context(redis), slot)
    assert check.content == "Yes: a table for 4 is free on Friday 27 November at 20:00."
    booked = await book(redis)
    assert not booked.is_error
    assert booked.content.startswith("Booked. Booking TT-")
    assert "a table for 4 on Friday 27 November 2026 at 20:00, under the name Ana Silva" in (
        booked.content
    )


async def test_booking_needs_the_callers_confirmation(redis: Redis) -> None:
    result = await invoke(book_table, make_context(redis, confirmed=False), BOOKING)
    assert result.is_error
    assert "confirmation" in result.content
    assert (
        await invoke(find_booking, make_context(redis), {"name": "Ana Silva", "date": FRIDAY})
    ).is_error


async def test_a_booking_can_be_found_and_cancelled(redis: Redis) -> None:
    reference = reference_in((await book(redis)).content)
    by_reference = await invoke(find_booking, make_context(redis), {"reference": reference.lower()})
    assert by_reference.content.startswith(f"Booking {reference}")
    by_name = await invoke(find_booking, make_context(redis), {"name": "ana silva", "date": FRIDAY})
    assert reference in by_name.content
    confirmed = make_context(redis, confirmed=True)
    cancelled = await invoke(cancel_booking, confirmed, {"reference": reference})
    assert cancelled.content.startswith(f"Cancelled. Cancelled booking {reference}")
    again = await invoke(cancel_booking, confirmed, {"reference": reference})
    assert again.content.startswith("That booking was already cancelled")
    gone = await invoke(find_booking, make_context(redis), {"name": "Ana Silva", "date": FRIDAY})
    assert gone.is_error  # no longer on the day's list
    unknown = await invoke(find_booking, make_context(redis), {"reference": "TT-ZZZZZ"})
    assert unknown.is_error
    assert "no booking TT-ZZZZZ" in unknown.content


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"date": "next friday"}, "is not a date: give it as YYYY-MM-DD"),
        ({"time": "8pm"}, "is not a time: give it as 24-hour HH:MM"),
        ({"date": "2026-11-24", "time": "09:00"}, "has already passed"),
        ({"date": "2026-11-23"}, "has already passed"),
        ({"date": "2026-11-30"}, "We are closed on Mondays"),
        ({"time": "22:30"}, "we do not seat guests at 22:30 on a Friday"),
        ({"time": "16:30"}, "On Fridays we are open 12:00-15:00 and 18:30-23:00"),
        ({"party_size": 0}, "the party size must be at least 1"),
        ({"party_size": 12}, "groups larger than 8 are booked by the manager"),
        ({"date": "2027-06-01"}, "too far out"),
    ],
)
async def test_bad_requests_get_a_helpful_error(
    redis: Redis, changes: dict[str, Any], message: str
) -> None:
    slot = {k: v for k, v in (BOOKING | changes).items() if k != "name"}
    for result in (
        await book(redis, **changes),
        await invoke(check_availability, make_context(redis), slot),
    ):
        assert result.is_error
        assert message in result.content
    assert not await redis.keys("*day:*")  # nothing was booked


async def test_a_full_time_is_refused_and_nearby_times_offered(redis: Redis) -> None:
    assert not (await book(redis, key="first", party_size=8)).is_error  # the only 8-seat table
    clash = await book(redis, key="second", party_size=7, time="21:00")
    assert clash.is_error
    assert "no table for 7 is free at 21:00" in clash.content
    slot = {"date": FRIDAY, "time": "20:30", "party_size": 8}
    check = await invoke(check_availability, make_context(redis), slot)
    assert (
        check.content == "No table for 8 at 20:30 on Friday 27 November; free times nearby: 22:00."
    )
    assert not (await book(redis, key="third", party_size=8, time="22:00")).is_error


async def test_the_same_idempotency_key_books_once(redis: Redis) -> None:
    first = await book(redis)
    again = await book(redis)  # the task was delivered again
    assert reference_in(again.content) == reference_in(first.content)
    assert again.content.startswith("Already booked.")


async def test_concurrent_duplicate_calls_make_exactly_one_booking(redis: Redis) -> None:
    results = await asyncio.gather(*(book(redis) for _ in range(10)))
    references = {reference_in(result.content) for result in results}
    assert len(references) == 1
    day = await invoke(find_booking, make_context(redis), {"name": "Ana Silva", "date": FRIDAY})
    assert day.content.count("TT-") == 1


async def test_concurrent_requests_for_the_last_table_give_it_to_one(redis: Redis) -> None:
    results = await asyncio.gather(
        *(book(redis, key=f"caller-{n}", party_size=8, name=f"Guest {n}") for n in range(6))
    )
    assert sum(not result.is_error for result in results) == 1
    assert all("no table for 8" in r.content for r in results if r.is_error)
