"""The session journal of one call, the state derived from it, its live copy in Redis and the
call record saved when it ends: what an operator reading a call (live or afterwards) relies on."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from livekit.agents.metrics.usage import AgentSessionUsage, LLMModelUsage, TTSModelUsage
from redis.asyncio import Redis

from responder.session.journal import JournalEvent, SessionJournal
from responder.session.recorder import call_record, save_call
from responder.session.state import SessionState, replay_state
from responder.session.store import SessionStore
from responder.session.writer import JournalWriter
from shared.bus._replies import range_entries
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.keys import Keys
from shared.redact import Redactor
from shared.redis_client import connect

MONOTONIC_START = 5_000.0
WALL_START = 1_765_000_000.0
PATIENCE_S = 30.0
"""A ceiling on waiting for what happens in the background (a write, a reconnect)."""
PHONE = "07700 900123"


class Clocks:
    """A monotonic and a wall clock that move together, only when told."""

    def __init__(self) -> None:
        self.monotonic = MONOTONIC_START
        self.wall = WALL_START

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += seconds

    def journal(self, session_id: str = "call-1") -> SessionJournal:
        return SessionJournal(session_id, clock=lambda: self.monotonic, wall=lambda: self.wall)


class Script:
    """Emits events into a journal at given call times (the clocks follow)."""

    def __init__(self, clocks: Clocks, journal: SessionJournal) -> None:
        self.clocks = clocks
        self.journal = journal

    def at(self, t: float, source: str, event: str, **fields: Any) -> JournalEvent:
        self.clocks.advance(t - self.journal.now())
        return self.journal.emit(source, event, **fields)


def speaking(who: str, t: float, script: Script, state: str) -> None:
    name = "user_state_changed" if who == "caller" else "agent_state_changed"
    script.at(t, "session", name, data={"new_state": state})


def a_call(script: Script) -> None:
    """A realistic call: greeting, a question, two delegated tasks, a hold, a guardrail hit,
    the budget's wrap-up and goodbye, and the end."""
    script.at(0.0, "responder", "call_started", session_id="call-1")
    speaking("agent", 0.5, script, "speaking")
    speaking("agent", 2.0, script, "listening")
    speaking("caller", 2.5, script, "speaking")
    speaking("agent", 3.0, script, "speaking")  # a backchannel over the caller: both speak
    speaking("agent", 3.4, script, "listening")
    speaking("caller", 4.0, script, "listening")
    script.at(4.1, "responder", "caller_turn_end")
    script.at(4.5, "responder", "task_submitted", task=1, request="a table for four")
    script.at(4.6, "responder", "task_submitted", task=2, request="the dog policy")
    script.at(5.0, "responder", "hold_started")
    script.at(15.0, "responder", "hold_ended")
    script.at(16.0, "responder", "task_answer", task=1, final=True, late=False)
    speaking("caller", 16.5, script, "speaking")
    speaking("caller", 18.0, script, "listening")
    script.at(18.1, "responder", "caller_turn_end")
    script.at(18.5, "guardrail", "hit", side="caller", rule="abuse", action="redirect")
    script.at(20.0, "budget", "wrap_up", remaining_s=30.0)
    script.at(25.0, "budget", "goodbye")
    script.at(26.0, "budget", "ended", reason="time_limit")
    script.at(27.0, "responder", "call_ended", reason="time_limit")


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


# -- the journal ---------------------------------------------------------------------------------


def test_events_are_stamped_on_the_call_clock_from_its_first_start(clocks: Clocks) -> None:
    journal = clocks.journal()
    clocks.advance(5.0)
    journal.start_clock()
    clocks.advance(2.0)
    journal.start_clock()  # a second start (the responder after the simulator) moves nothing
    first = journal.emit("responder", "call_started", session_id="call-1")
    clocks.advance(1.2345)
    second = journal.emit("session", "user_state_changed", data={"new_state": "speaking"})

    assert first == {
        "t": 2.0,
        "ts": round((WALL_START + 7.0) * 1000),
        "source": "responder",
        "event": "call_started",
        "session_id": "call-1",
    }
    assert second["t"] == 3.234  # milliseconds
    assert second["ts"] == round((WALL_START + 5.0 + 3.234) * 1000)
    assert journal.events == [first, second]
    assert journal.now() == pytest.approx(3.2345)
    assert journal.at(MONOTONIC_START + 9.5) == pytest.approx(4.5)
    assert journal.at_wall(WALL_START + 6.0) == pytest.approx(1.0)


def test_a_failing_handler_stops_neither_the_others_nor_the_emit(
    clocks: Clocks, caplog: pytest.LogCaptureFixture
) -> None:
    journal = clocks.journal()
    seen: list[tuple[str, str]] = []

    def broken(event: JournalEvent) -> None:
        raise RuntimeError("handler bug")

    journal.handlers += [
        lambda e: seen.append(("first", e["event"])),
        broken,
        lambda e: seen.append(("last", e["event"])),
    ]
    with caplog.at_level(logging.ERROR, logger="tandem.responder.session"):
        emitted = journal.emit("responder", "caller_turn_end")
        journal.emit("responder", "call_ended", reason="caller_hung_up")

    assert seen == [
        ("first", "caller_turn_end"),
        ("last", "caller_turn_end"),
        ("first", "call_ended"),
        ("last", "call_ended"),
    ]
    assert journal.events[0] is emitted
    assert [e["event"] for e in journal.events] == ["caller_turn_end", "call_ended"]
    failures = [r for r in caplog.records if r.getMessage() == "journal handler failed"]
    assert len(failures) == 2
    assert all(r.exc_info is not None for r in failures)


# -- the state -----------------------------------------------------------------------------------


def test_the_state_follows_a_call_event_by_event(clocks: Clocks) -> None:
    journal = clocks.journal()
    journal.start_clock()
    state = SessionState()
    floors: list[str] = []
    stages: list[str] = []
    pending: list[list[int]] = []

    def watch(event: JournalEvent) -> None:
        floors.append(state.floor)
        if not stages or stages[-1] != state.stage:
            stages.append(state.stage)
        if event["event"] in ("task_submitted", "task_answer"):
            pending.append(sorted(state.pending_tasks))

    journal.handlers += [state.apply, watch]
    script = Script(clocks, journal)
    a_call(script)

    session_floors = [
        f for f, e in zip(floors, journal.events, strict=True) if e["source"] == "session"
    ]
    assert session_floors == [
        "agent",
        "nobody",
        "caller",
        "both",
        "caller",
        "nobody",
        "caller",
        "nobody",
    ]
    assert stages == ["conversation", "wrap_up", "goodbye", "ended"]
    assert pending == [[1], [1, 2], [2]]
    assert state.summary() == {
        "floor": "nobody",
        "turns": 2,
        "elapsed_s": 27.0,
        "call_time_s": 17.0,  # 27 s, of which 10 on hold
        "caller_talk_s": 3.0,  # 2.5-4.0 and 16.5-18.0
        "agent_talk_s": 1.9,  # 0.5-2.0 and 3.0-3.4
        "on_hold_s": 10.0,
        "pending_tasks": [2],
        "stage": "ended",
        "end_reason": "time_limit",
        "guardrail_hits": 1,
    }


def test_replaying_a_stored_journal_gives_the_live_state(clocks: Clocks) -> None:
    journal = clocks.journal()
    journal.start_clock()
    live = SessionState()
    journal.handlers.append(live.apply)
    a_call(Script(clocks, journal))
    stored = json.loads(json.dumps(journal.events))  # as it comes back from Redis

    assert replay_state(stored).summary() == live.summary()
    assert live.summary()["turns"] == 2


def test_time_on_hold_is_not_call_time_while_the_hold_lasts(clocks: Clocks) -> None:
    journal = clocks.journal()
    journal.start_clock()
    state = SessionState()
    journal.handlers.append(state.apply)
    script = Script(clocks, journal)
    script.at(0.0, "responder", "hold_started")  # on hold from the first instant
    script.at(5.0, "responder", "call_started", session_id="call-1")
    assert state.on_hold
    assert state.call_time_s == 0.0
    script.at(8.0, "responder", "hold_ended")
    script.at(10.0, "responder", "caller_turn_end")
    assert (state.on_hold, state.on_hold_s, state.call_time_s) == (False, 8.0, 2.0)


def test_speech_under_way_when_the_call_ends_counts_as_talk(clocks: Clocks) -> None:
    journal = clocks.journal()
    journal.start_clock()
    state = SessionState()
    journal.handlers.append(state.apply)
    script = Script(clocks, journal)
    speaking("agent", 1.0, script, "speaking")  # the goodbye, still playing at the end
    speaking("caller", 2.0, script, "speaking")
    script.at(4.0, "responder", "call_ended", reason="caller_hung_up")
    assert (state.floor, state.agent_talk_s, state.caller_talk_s) == ("nobody", 3.0, 2.0)
    assert state.end_reason == "caller_hung_up"


def test_a_call_the_guardrails_end_counts_the_hit_not_the_closing(clocks: Clocks) -> None:
    journal = clocks.journal()
    journal.start_clock()
    state = SessionState()
    journal.handlers.append(state.apply)
    script = Script(clocks, journal)
    script.at(1.0, "guardrail", "hit", side="caller", rule="threat", action="end_call")
    script.at(1.1, "guardrail", "closing", rule="threat", reason="a threat")
    script.at(4.0, "guardrail", "ended", reason="guardrail")
    script.at(4.2, "responder", "call_ended", reason="guardrail")
    assert (state.guardrail_hits, state.stage, state.end_reason) == (1, "ended", "guardrail")


# -- the live copy in Redis ----------------------------------------------------------------------


class Warnings(logging.Handler):
    """The session logger's warnings, as they are logged."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def session_warnings() -> Iterator[Warnings]:
    logger = logging.getLogger("tandem.responder.session")
    handler = Warnings()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def until(check: Callable[[], bool | Awaitable[bool]]) -> None:
    """Wait until ``check`` holds (it is polled; :data:`PATIENCE_S` at most)."""
    async with asyncio.timeout(PATIENCE_S):
        while True:
            result = check()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.02)


async def stored(redis: Redis, key: str) -> list[dict[str, Any]]:
    return [json.loads(fields["event"]) for _, fields in range_entries(await redis.xrange(key))]


def live_copy() -> Callable[[JournalEvent], JournalEvent]:
    """What the responder stores while a call runs: each event redacted with what the
    call's redactor learnt so far."""
    redactor = Redactor()

    def redact(event: JournalEvent) -> JournalEvent:
        redactor.learn(event)
        return redactor.redact_event(event)

    return redact


def unchanged(event: JournalEvent) -> JournalEvent:
    return event


async def test_the_journal_streams_to_redis_in_order_redacted_then_expires(
    redis: Redis, settings: BusSettings, clocks: Clocks
) -> None:
    journal = clocks.journal("call-live")
    journal.start_clock()
    writer = JournalWriter(redis, settings, "call-live", redact=live_copy())
    journal.handlers.append(writer.add)
    writer.start()
    script = Script(clocks, journal)
    script.at(0.0, "responder", "call_started", session_id="call-live")
    said = f"My name is Priya Sharma, call me back on {PHONE}"
    script.at(1.5, "session", "user_input_transcribed", data={"transcript": said, "is_final": True})
    await until(lambda: _length_is(redis, writer.key, 2))  # written in the background
    assert 0 < await redis.ttl(writer.key) <= settings.session_ttl_s
    script.at(3.0, "responder", "message", role="agent", text="Thanks Priya, booked.")
    script.at(4.0, "responder", "call_ended", reason="caller_hung_up")
    await writer.aclose()

    events = await stored(redis, writer.key)
    assert writer.key == Keys(settings.prefix).journal("call-live")
    assert [(e["t"], e["event"]) for e in events] == [
        (0.0, "call_started"),
        (1.5, "user_input_transcribed"),
        (3.0, "message"),
        (4.0, "call_ended"),
    ]
    assert events[1]["data"]["transcript"] == "My name is [name], call me back on [phone]"
    assert events[2]["text"] == "Thanks [name], booked."
    raw = json.dumps(events)
    assert all(secret not in raw for secret in ("Priya", "Sharma", PHONE, "900123"))
    assert journal.events[1]["data"]["transcript"] == said  # the call's own memory is whole
    assert 0 < await redis.ttl(writer.key) <= settings.end_grace_s
    assert writer.written == 4


async def _length_is(redis: Redis, key: str, length: int) -> bool:
    return int(await redis.xlen(key)) == length


async def test_events_wait_out_a_redis_outage_and_are_written_in_order(
    settings: BusSettings, session_warnings: Warnings
) -> None:
    with EmbeddedRedis(persistent=True) as server:
        client = connect(server.url)
        try:
            writer = JournalWriter(client, settings, "call-outage", redact=unchanged)
            writer.start()
            writer.add({"t": 0.0, "source": "responder", "event": "call_started"})
            await until(lambda: _length_is(client, writer.key, 1))

            server.stop()
            for n in range(1, 4):
                writer.add({"t": float(n), "source": "responder", "event": "caller_turn_end"})
            await until(
                lambda: "session journal: Redis unavailable; retrying" in session_warnings.messages
            )
            assert writer.written == 1
            server.start()  # the append-only file brings the first event back

            await until(lambda: _length_is(client, writer.key, 4))
            writer.add({"t": 5.0, "source": "responder", "event": "call_ended"})
            await writer.aclose()
            events = await stored(client, writer.key)
        finally:
            await client.aclose()
    assert [e["t"] for e in events] == [0.0, 1.0, 2.0, 3.0, 5.0]
    assert [e["event"] for e in events][-1] == "call_ended"


# -- the call record -----------------------------------------------------------------------------


def fed_call(clocks: Clocks) -> tuple[SessionJournal, SessionState]:
    journal = clocks.journal("call-rec")
    journal.start_clock()
    state = SessionState()
    journal.handlers.append(state.apply)
    a_call(Script(clocks, journal))
    return journal, state


FIGURES: dict[str, Any] = {
    "tasks": {"answered": 1},
    "first_audio_s": {"direct": {"n": 1, "p50": 0.5, "p95": 0.5, "max": 0.5}},
    "first_filler_s": None,
    "dead_air_s": 1.25,
    "talk_over": {"count": 0, "seconds": 0.0},
    "respoken": 1,
    "stale_suppressed": 0,
}


def test_the_call_record_sums_the_call_up(clocks: Clocks) -> None:
    journal, state = fed_call(clocks)
    usage = AgentSessionUsage(
        model_usage=[
            LLMModelUsage(
                provider="openai", model="gpt-realtime", input_tokens=1200, output_tokens=300
            ),
            TTSModelUsage(provider="openai", model="tts-1", characters_count=420),
        ]
    )
    record = call_record(
        journal,
        state,
        profile="restaurant",
        end_reason="time_limit",
        figures=FIGURES,
        usage=usage,
        ended_at=WALL_START + 27.5,
    )
    assert record == {
        "session_id": "call-rec",
        "profile": "restaurant",
        "started_at": WALL_START,
        "ended_at": WALL_START + 27.5,
        "duration_s": 27.5,
        "end_reason": "time_limit",
        "turns": 2,
        "tasks": {"answered": 1},
        "latency": {"direct": {"n": 1, "p50": 0.5, "p95": 0.5, "max": 0.5}},
        "first_filler_s": None,
        "dead_air_s": 1.25,
        "talk_over": {"count": 0, "seconds": 0.0},
        "respoken": 1,
        "stale_suppressed": 0,
        "talk": {"caller_s": 3.0, "agent_s": 1.9, "on_hold_s": 10.0, "call_time_s": 17.0},
        "usage": [
            {
                "type": "llm_usage",
                "provider": "openai",
                "model": "gpt-realtime",
                "input_tokens": 1200,
                "output_tokens": 300,
            },
            {"type": "tts_usage", "provider": "openai", "model": "tts-1", "characters_count": 420},
        ],
        "guardrails": 1,
        "stages": [
            {"t": 20.0, "source": "budget", "stage": "wrap_up"},
            {"t": 25.0, "source": "budget", "stage": "goodbye"},
            {"t": 26.0, "source": "budget", "stage": "ended"},
        ],
    }
    json.dumps(record)  # storable as it is


async def test_a_saved_call_is_redacted_as_a_whole_and_loads_back(
    redis: Redis, settings: BusSettings, clocks: Clocks
) -> None:
    journal = clocks.journal("call-saved")
    journal.start_clock()
    state = SessionState()
    journal.handlers.append(state.apply)
    script = Script(clocks, journal)
    early = "Hi, I'm calling about the Okafor booking on Friday"
    late = f"It's under Okafor, and my number is {PHONE}"
    script.at(0.0, "responder", "call_started", session_id="call-saved")
    script.at(2.0, "responder", "message", role="caller", text=early)
    script.at(6.0, "responder", "message", role="caller", text=late)
    script.at(7.0, "responder", "message", role="agent", text="Found the Okafor booking, TT-4821.")
    script.at(9.0, "responder", "call_ended", reason="caller_hung_up")
    record = call_record(
        journal,
        state,
        profile="restaurant",
        end_reason="caller_hung_up",
        figures={},
        ended_at=WALL_START + 9.0,
    )
    store = SessionStore(redis, Keys(settings.prefix), retention_s=3600)

    assert await save_call(store, record, journal.events, timeout_s=5.0) is True
    loaded = await store.load("call-saved")
    assert loaded is not None
    saved_record, events = loaded
    assert saved_record == record
    assert [e.get("text") for e in events if e["event"] == "message"] == [
        "Hi, I'm calling about the [name] booking on Friday",  # the name came later
        "It's under [name], and my number is [phone]",
        "Found the [name] booking, TT-4821.",
    ]
    assert "Okafor" not in json.dumps(loaded)
    assert "900123" not in json.dumps(loaded)
    assert journal.events[1]["text"] == early  # the journal itself is not touched


@pytest.fixture
async def silent_redis() -> AsyncIterator[str]:
    """A unix socket that accepts connections and never answers: a Redis that hangs."""
    peers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)
        await reader.read()  # until the client hangs up

    with tempfile.TemporaryDirectory(prefix="tandem-silent-") as directory:
        path = os.path.join(directory, "redis.sock")
        server = await asyncio.start_unix_server(hold, path=path)
        try:
            yield f"unix://{path}"
        finally:
            for peer in peers:
                peer.close()
            server.close()
            await server.wait_closed()


async def test_saving_gives_up_without_raising_when_the_store_does_not_answer(
    silent_redis: str, clocks: Clocks, session_warnings: Warnings
) -> None:
    journal, state = fed_call(clocks)
    record = call_record(journal, state, profile="restaurant", end_reason="time_limit", figures={})
    client = connect(silent_redis)
    try:
        store = SessionStore(client, Keys("tsilent"), retention_s=3600)
        assert await save_call(store, record, journal.events, timeout_s=0.2) is False
    finally:
        await client.aclose()
    assert session_warnings.messages == ["call record not saved"]
