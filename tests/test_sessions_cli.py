"""`tandem sessions list | show`, as an operator reads a deployment's call records."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from responder.session.store import SessionStore
from shared.embedded_redis import EmbeddedRedis
from shared.keys import Keys
from shared.redis_client import connect
from simulator.sessions_cli import parse_since, sessions_command

NOW = time.time()


def _record(session_id: str, ended_ago_s: float, **fields: Any) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "profile": "restaurant",
        "started_at": NOW - ended_ago_s - 125,
        "ended_at": NOW - ended_ago_s,
        "duration_s": 125.4,
        "end_reason": "caller_hung_up",
        "turns": 7,
        "tasks": {"answered": 2, "failed": 1},
        "latency": {"direct": {"n": 5, "p50": 0.612, "p95": 0.93, "max": 1.1}},
        "usage": {"input_tokens": 1200},
        "guardrails": 1,
        "stages": ["wrap_up"],
        **fields,
    }


EVENTS = [
    {"t": 0.4, "ts": 1, "source": "responder", "event": "message", "role": "agent",
     "text": "Trattoria Tandem, how can I help?"},
    {"t": 3.2, "ts": 2, "source": "responder", "event": "message", "role": "caller",
     "text": "A table for four under [name], my number is [phone]"},
    {"t": 4.0, "ts": 3, "source": "session", "event": "user_state_changed", "new_state": "away"},
    {"t": 61.5, "ts": 4, "source": "guardrail", "event": "flagged", "rule": "abuse",
     "detail": {"score": 0.7}},
    {"t": 95.0, "ts": 5, "source": "budget", "event": "stage", "stage": "wrap_up"},
    {"t": 97.3, "ts": 6, "source": "responder", "event": "message", "role": "agent",
     "text": "Booked, reference TT-4821."},
]  # fmt: skip


@pytest.fixture
def prefix(monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis, tmp_path: Path) -> str:
    """The environment of `tandem sessions` against the test Redis, with a fresh prefix."""
    chosen = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("TANDEM_BUS_PREFIX", chosen)
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "ERROR")
    return chosen


def _save(url: str, prefix: str, *records: dict[str, Any]) -> None:
    async def save() -> None:
        client = connect(url)
        try:
            store = SessionStore(client, Keys(prefix), retention_s=86_400)
            for record in records:
                await store.save(record, EVENTS)
        finally:
            await client.aclose()

    asyncio.run(save())


@pytest.fixture
def calls(prefix: str, redis_server: EmbeddedRedis) -> list[str]:
    """Three saved calls, ids newest first."""
    _save(
        redis_server.url,
        prefix,
        _record("room-7f3a91", 3 * 3600),
        _record("room-7f3b22", 60),
        _record("room-8c0d13", 600, end_reason="time_limit"),
    )
    return ["room-7f3b22", "room-8c0d13", "room-7f3a91"]


def _run(*args: str) -> Any:
    return CliRunner().invoke(sessions_command, list(args))


def test_list_shows_the_newest_calls_first_with_their_figures(calls: list[str]) -> None:
    result = _run("list")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "room-" in line]
    assert [next(c for c in calls if c in row) for row in rows] == calls
    assert all(f in rows[0] for f in ("restaurant", "2:05", "2 answered, 1 failed", "0.61 s"))
    assert "time_limit" in rows[1]


def test_list_as_json_honours_limit_and_since(calls: list[str]) -> None:
    result = _run("list", "--json", "--limit", "2")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [r["session_id"] for r in listed] == calls[:2]
    assert listed[0]["tasks"] == {"answered": 2, "failed": 1}
    recent = json.loads(_run("list", "--json", "--since", "30m").output)
    assert [r["session_id"] for r in recent] == calls[:2]


def test_list_says_so_when_there_is_nothing(prefix: str) -> None:
    result = _run("list", "--since", "1d")
    assert result.exit_code == 0
    assert result.output == "no call records since 1d\n"


def test_show_prints_the_figures_and_the_transcript_by_call_time(calls: list[str]) -> None:
    result = _run("show", "room-8c")
    assert result.exit_code == 0, result.output
    figures = result.output.split("\n\n", 1)[0].splitlines()
    assert figures[0] == "session         room-8c0d13"
    assert "end reason      time_limit" in figures
    assert "tasks           2 answered, 1 failed" in figures
    assert "latency direct  n=5, p50 0.61 s, p95 0.93 s, max 1.10 s" in figures
    transcript = result.output.split("\n\n", 1)[1].splitlines()
    assert transcript == [
        "0:00  agent   Trattoria Tandem, how can I help?",
        "0:03  caller  A table for four under [name], my number is [phone]",
        '1:01  [guardrail] flagged  rule=abuse, detail={"score":0.7}',
        "1:35  [budget] stage  stage=wrap_up",
        "1:37  agent   Booked, reference TT-4821.",
    ]


def test_show_as_json_is_the_stored_record_and_events(calls: list[str]) -> None:
    result = _run("show", "room-7f3a91", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["record"]["session_id"] == "room-7f3a91"
    assert shown["events"] == EVENTS


def test_an_unknown_id_or_an_ambiguous_prefix_is_one_line(calls: list[str]) -> None:
    unknown = _run("show", "room-0000")
    assert unknown.exit_code == 1
    assert unknown.output.startswith("Error: no call record 'room-0000'")
    ambiguous = _run("show", "room-7f3")
    assert ambiguous.exit_code == 1
    assert ambiguous.output == (
        "Error: session id 'room-7f3' is ambiguous: 2 records start with it "
        "(room-7f3a91, room-7f3b22); give more of it\n"
    )


def test_without_redis_url_it_says_where_records_live(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = _run("list")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: call records live in the deployment's Redis: set REDIS_URL to it "
        "(a private Redis started here would hold none)"
    ]


def test_since_reads_ages_and_iso_dates() -> None:
    assert parse_since("2h", 10_000.0) == 10_000.0 - 7200
    assert parse_since("1d", 100_000.0) == 100_000.0 - 86_400
    assert parse_since("2026-12-01T18:00+00:00", 0) == 1_796_148_000
    with pytest.raises(Exception, match="neither an age"):
        parse_since("last tuesday", 0)
