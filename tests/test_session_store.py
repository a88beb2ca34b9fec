"""Call records in Redis, as the responder saves them and `tandem sessions` reads them."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from responder.session.store import SessionStore
from shared.errors import RecordError
from shared.keys import Keys

NOW = 1_765_000_000.0
DAY = 86_400.0
KEYS = Keys("tstore")


def record(session_id: str, ended_at: float = NOW, **fields: Any) -> dict[str, Any]:
    """A call record as the record builder writes it."""
    return {
        "session_id": session_id,
        "profile": "restaurant",
        "started_at": ended_at - 95,
        "ended_at": ended_at,
        "duration_s": 95.0,
        "end_reason": "caller_hung_up",
        "turns": 6,
        "tasks": {"answered": 2},
        "latency": {"direct": {"n": 4, "p50": 0.61, "p95": 0.9, "max": 0.95}},
        "guardrails": 0,
        "stages": [],
        **fields,
    }


EVENTS = [
    {"t": 1.2, "ts": 1, "source": "responder", "event": "message", "role": "caller", "text": "hi"},
    {"t": 2.0, "ts": 2, "source": "thinker", "event": "result", "text": "Booked, TT-4821"},
]


def store(redis: Redis, retention_s: float = 30 * DAY, now: float = NOW) -> SessionStore:
    return SessionStore(redis, KEYS, retention_s, clock=lambda: now)


async def test_a_saved_call_loads_back_as_given(redis: Redis) -> None:
    await store(redis).save(record("room-a1b2"), EVENTS)
    assert await store(redis).load("room-a1b2") == (record("room-a1b2"), EVENTS)
    assert await store(redis).load("room-zzzz") is None


async def test_list_is_newest_first_and_honours_limit_and_since(redis: Redis) -> None:
    calls = store(redis)
    for number, ended in enumerate([NOW - 3 * 3600, NOW - 60, NOW - 2 * DAY, NOW - 600]):
        await calls.save(record(f"call-{number}", ended), EVENTS)
    listed = await calls.list()
    assert [r["session_id"] for r in listed] == ["call-1", "call-3", "call-0", "call-2"]
    assert [r["session_id"] for r in await calls.list(limit=2)] == ["call-1", "call-3"]
    recent = await calls.list(since=NOW - 4 * 3600)
    assert [r["session_id"] for r in recent] == ["call-1", "call-3", "call-0"]
    assert "events" not in listed[0]


async def test_records_expire_after_the_retention_and_old_index_entries_are_pruned(
    redis: Redis,
) -> None:
    await store(redis, now=NOW - 10 * DAY).save(record("old", NOW - 10 * DAY), EVENTS)
    week = store(redis, retention_s=7 * DAY)
    await week.save(record("new"), EVENTS)
    assert 0 < await redis.pttl(KEYS.record("new")) <= 7 * DAY * 1000
    assert await redis.pttl(KEYS.record("new")) > 7 * DAY * 1000 - 60_000
    assert await redis.zrange(KEYS.records, 0, -1) == ["new"]


async def test_an_expired_record_leaves_the_list_and_the_index(redis: Redis) -> None:
    calls = store(redis)
    for name in ("kept", "expired", "also-kept"):
        await calls.save(record(name), EVENTS)
    await redis.delete(KEYS.record("expired"))  # what the record's TTL does
    assert [r["session_id"] for r in await calls.list(limit=2)] == ["kept", "also-kept"]
    assert "expired" not in await redis.zrange(KEYS.records, 0, -1)


async def test_a_unique_prefix_finds_the_session_and_an_ambiguous_one_names_the_choices(
    redis: Redis,
) -> None:
    calls = store(redis)
    for name in ("room-7f3a91", "room-7f3b22", "room-8c0d13", "odd*[id]"):
        await calls.save(record(name), EVENTS)
    found = await calls.load("room-8")
    assert found is not None
    assert found[0]["session_id"] == "room-8c0d13"
    with pytest.raises(RecordError, match=r"'room-7f3' is ambiguous.*room-7f3a91, room-7f3b22"):
        await calls.load("room-7f3")
    odd = await calls.load("odd*[")
    assert odd is not None
    assert odd[0]["session_id"] == "odd*[id]"
    assert await calls.load("odd?") is None


async def test_a_record_without_its_id_or_end_time_is_refused(redis: Redis) -> None:
    with pytest.raises(ValueError, match="session_id"):
        await store(redis).save({"ended_at": NOW}, EVENTS)
    with pytest.raises(ValueError, match="ended_at"):
        await store(redis).save({"session_id": "room-1"}, EVENTS)
    assert await redis.zcard(KEYS.records) == 0


async def test_a_corrupt_record_is_a_clear_error_on_load_and_skipped_in_lists(
    redis: Redis,
) -> None:
    calls = store(redis)
    await calls.save(record("good"), EVENTS)
    await calls.save(record("bad", NOW - 5), EVENTS)
    await redis.set(KEYS.record("bad"), "{not json")
    with pytest.raises(RecordError, match="record of session bad is not valid JSON"):
        await calls.load("bad")
    await redis.set(KEYS.record("bad"), '["a list"]')
    with pytest.raises(RecordError, match="not a call record"):
        await calls.load("bad")
    assert [r["session_id"] for r in await calls.list()] == ["good"]
