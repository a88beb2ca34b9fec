"""A finished call rebuilt from its journal alone, and `tandem sessions replay` showing it: what an
operator reads to see what a production call was (who said what when, the tasks, the marks)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from responder.session.store import SessionStore
from shared.embedded_redis import EmbeddedRedis
from shared.keys import Keys
from shared.redis_client import connect
from simulator.record import Speech, TaskSpan
from simulator.replay import record_from_journal
from simulator.sessions_cli import sessions_command

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def session(t: float, name: str, **data: Any) -> dict[str, Any]:
    return {"t": t, "ts": 0, "source": "session", "event": name, "data": data}


def responder(t: float, name: str, **fields: Any) -> dict[str, Any]:
    return {"t": t, "ts": 0, "source": "responder", "event": name, **fields}


def agent_message(t: float, message: str, text: str, at: float, until: float) -> dict[str, Any]:
    """An agent message LiveKit stored once it stopped playing (``t`` = ``until``)."""
    return session(
        t,
        "conversation_item_added",
        id=message,
        role="assistant",
        text=text,
        interrupted=False,
        spoke_at=at,
        spoke_until=until,
    )


GREETING = "Trattoria Tandem, how can I help?"
ACK = "Let me check that for you."
RESULT = "We have a table at eight, shall I book it?"
NOTICE = "Sorry, I could not book that just now."
ASK = "Is there a table for four tonight?"
YES = "Yes please, at eight."
DOG = "And can I bring my dog?"

PRODUCTION = [
    responder(0.0, "call_started", session_id="room-prod1"),
    session(0.2, "agent_state_changed", old_state="listening", new_state="speaking"),
    session(2.0, "agent_state_changed", old_state="speaking", new_state="listening"),
    agent_message(2.0, "m-greet", GREETING, 0.2, 2.0),
    session(2.5, "user_state_changed", old_state="listening", new_state="speaking"),
    session(3.0, "user_input_transcribed", transcript="Is there a", is_final=False),
    session(4.0, "user_state_changed", old_state="speaking", new_state="listening"),
    responder(4.1, "caller_turn_end"),
    session(4.3, "user_input_transcribed", transcript=ASK, is_final=True),
    responder(4.6, "task_submitted", task=1, request="table for four tonight"),
    responder(4.75, "floor_requested", kind="ack", tasks=[1]),
    session(4.75, "speech_created", speech="sp-ack", source="say", user_initiated=False),
    session(4.8, "agent_state_changed", old_state="listening", new_state="speaking"),
    session(6.0, "agent_state_changed", old_state="speaking", new_state="listening"),
    agent_message(6.0, "m-ack", ACK, 4.8, 6.0),
    session(6.0, "speech_done", speech="sp-ack", messages=["m-ack"], interrupted=False),
    responder(7.5, "task_answer", task=1, final=True, late=False),
    responder(7.55, "floor_requested", kind="result", tasks=[1]),
    session(7.55, "speech_created", speech="sp-result", source="say", user_initiated=False),
    session(7.6, "agent_state_changed", old_state="listening", new_state="speaking"),
    session(8.6, "user_state_changed", old_state="listening", new_state="speaking"),
    session(9.0, "agent_state_changed", old_state="speaking", new_state="listening"),
    agent_message(9.0, "m-result", RESULT, 7.6, 9.0),
    session(9.0, "speech_done", speech="sp-result", messages=["m-result"], interrupted=True),
    session(10.0, "user_state_changed", old_state="speaking", new_state="listening"),
    session(10.2, "user_input_transcribed", transcript=YES, is_final=True),
    responder(10.3, "caller_turn_end"),
    responder(10.5, "task_submitted", task=2, request="book four at eight"),
    responder(12.0, "task_failed", task=2, outcome="failed"),
    session(12.5, "user_state_changed", old_state="listening", new_state="speaking"),
    responder(13.45, "floor_requested", kind="failure", tasks=[2]),
    session(13.45, "speech_created", speech="sp-notice", source="say", user_initiated=False),
    session(13.5, "agent_state_changed", old_state="listening", new_state="speaking"),
    session(15.0, "user_state_changed", old_state="speaking", new_state="listening"),
    session(15.1, "user_input_transcribed", transcript=DOG, is_final=True),
    session(15.5, "agent_state_changed", old_state="speaking", new_state="listening"),
    agent_message(15.5, "m-notice", NOTICE, 13.5, 15.5),
    session(15.5, "speech_done", speech="sp-notice", messages=["m-notice"], interrupted=False),
    responder(17.0, "call_ended", reason="caller_hung_up"),
]
"""A production call's journal: LiveKit's session events and the responder's, nothing measured
by a simulator. The caller cuts into the answer at 8.6; the agent talks over the caller at 13.5."""


def test_a_production_journal_gives_the_caller_lines_with_their_final_transcripts() -> None:
    call = record_from_journal("room-prod1", PRODUCTION)
    assert call.duration == 17.0
    assert call.said_by("caller") == [
        Speech(
            "caller", 2.5, 4.0, ASK
        ),  # the final transcript after the VAD's end, not "Is there a"
        Speech("caller", 8.6, 10.0, YES),
        Speech("caller", 12.5, 15.0, DOG),
    ]


def test_a_production_journal_gives_agent_stretches_with_their_stored_text() -> None:
    call = record_from_journal("room-prod1", PRODUCTION)
    agent = [
        (s.start, s.end, s.text, s.kind, s.interrupted, s.tasks) for s in call.said_by("agent")
    ]
    assert agent == [
        (0.2, 2.0, GREETING, "reply", False, ()),
        (4.8, 6.0, ACK, "ack", False, (1,)),
        (7.6, 9.0, RESULT, "result", True, (1,)),  # the caller cut in at 8.6
        (13.5, 15.5, NOTICE, "notice", False, (2,)),
    ]


def test_a_production_journal_gives_tasks_and_marks() -> None:
    call = record_from_journal("room-prod1", PRODUCTION)
    assert call.tasks == [
        TaskSpan(1, "table for four tonight", 4.6, 7.5, "answered"),
        TaskSpan(2, "book four at eight", 10.5, 12.0, "failed"),
    ]
    marks = {(m.kind, m.t) for m in call.marks}
    assert ("interruption", 8.6) in marks
    assert ("talk_over", 13.5) in marks
    talk_over = next(m for m in call.marks if m.kind == "talk_over")
    assert talk_over.seconds == pytest.approx(1.5)  # 13.5 until the caller stopped at 15.0


SIMULATED = [
    responder(0.0, "call_started", session_id="sim-1"),
    # LiveKit's view (VAD, state changes) is late and loose ...
    session(1.3, "user_state_changed", old_state="listening", new_state="speaking"),
    session(3.1, "user_state_changed", old_state="speaking", new_state="listening"),
    session(3.4, "user_input_transcribed", transcript="hi a table please", is_final=True),
    session(3.6, "agent_state_changed", old_state="listening", new_state="speaking"),
    session(5.4, "agent_state_changed", old_state="speaking", new_state="listening"),
    agent_message(5.3, "m-1", "Of course, for how many?", 3.5, 5.3),
    # ... what the simulator's endpoints measured is exact
    {"t": 2.6, "ts": 0, "source": "caller", "event": "spoke", "start": 1.0, "end": 2.6,
     "text": "Hi, a table please.", "kind": "line"},
    {"t": 5.3, "ts": 0, "source": "simulator", "event": "agent_audio", "start": 3.5, "end": 5.3,
     "played_s": 1.8, "synthesized_s": 1.8},
    {"t": 6.0, "ts": 0, "source": "simulator", "event": "call_over"},
    responder(6.4, "call_ended", reason="caller_hung_up"),
]  # fmt: skip


def test_a_simulated_journal_prefers_what_the_endpoints_measured() -> None:
    call = record_from_journal("sim-1", SIMULATED)
    assert call.duration == 6.0  # the caller's hang-up, not the responder's end after it
    assert call.said_by("caller") == [Speech("caller", 1.0, 2.6, "Hi, a table please.")]
    assert [(s.start, s.end, s.text) for s in call.said_by("agent")] == [
        (3.5, 5.3, "Of course, for how many?")
    ]


# -- tandem sessions replay ----------------------------------------------------------------------


ENDED = time.time() - 60  # within the retention: the index keeps it
RECORD = {
    "session_id": "room-prod1",
    "profile": "restaurant",
    "started_at": ENDED - 17.0,
    "ended_at": ENDED,
    "duration_s": 17.0,
    "end_reason": "caller_hung_up",
    "turns": 2,
    "tasks": {"answered": 1, "failed": 1},
    "guardrails": 0,
}


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis, tmp_path: Path) -> Path:
    """`tandem sessions` pointed at the test Redis (fresh prefix) holding the production call;
    the working directory, where pictures land by default."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("TANDEM_BUS_PREFIX", prefix)
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "ERROR")

    async def save() -> None:
        client = connect(redis_server.url)
        try:
            await SessionStore(client, Keys(prefix), retention_s=86_400).save(RECORD, PRODUCTION)
        finally:
            await client.aclose()

    asyncio.run(save())
    return tmp_path


def replay(*args: str) -> Result:
    return CliRunner().invoke(sessions_command, ["replay", *args])


def test_replay_prints_the_transcript_and_the_replayed_state(saved: Path) -> None:
    result = replay("room-prod", "--no-picture")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "# Call room-prod1"
    for line in (
        f"**[00:00.2 → 00:02.0] Agent:** {GREETING}",
        f"**[00:02.5 → 00:04.0] Caller:** {ASK}",
        f"**[00:04.8 → 00:06.0] Agent:** *(ack)* {ACK}",
        f"**[00:07.6 → 00:09.0] Agent:** *(result)* {RESULT} *(cut off)*",
        f"**[00:08.6 → 00:10.0] Caller:** {YES}",
        f"**[00:13.5 → 00:15.5] Agent:** *(notice)* {NOTICE}",
        '_[00:04.6] task #1 submitted: "table for four tonight"_',
        "_[00:12.0] task #2 failed (1.50 s)_",
        f"_[00:08.6] interruption: {YES}_",
        "- replayed state: turns 2, call_time_s 17.0, stage ended, end_reason caller_hung_up",
        "- end reason: caller_hung_up",
    ):
        assert line in lines, line
    assert not list(saved.glob("*.png"))


def test_replay_draws_the_timeline_picture_where_asked(saved: Path) -> None:
    target = saved / "pictures" / "call.png"
    target.parent.mkdir()
    result = replay("room-prod1", "--picture", str(target))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"timeline picture: {target}"
    assert target.read_bytes().startswith(PNG_SIGNATURE)


def test_replay_of_an_unknown_call_is_one_line(saved: Path) -> None:
    result = replay("room-none")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: no call record 'room-none' (see `tandem sessions list`; records are kept "
        "TANDEM_SESSION_RETENTION_DAYS)"
    ]
    assert not list(saved.glob("*.png"))


def test_the_stored_journal_is_what_replay_reads(saved: Path) -> None:
    shown = CliRunner().invoke(sessions_command, ["show", "room-prod1", "--json"])
    assert json.loads(shown.output)["events"] == PRODUCTION


def test_session_stages_and_guardrail_hits_are_in_the_replayed_transcript() -> None:
    from simulator.transcript import render_transcript

    stages = [
        responder(0.0, "call_started"),
        {
            "t": 3.0,
            "source": "guardrail",
            "event": "hit",
            "side": "caller",
            "rule": "instruction_extraction",
            "action": "redirect",
            "severity": "low",
            "reason": "asks for the agent's instructions",
        },
        {"t": 25.0, "source": "budget", "event": "wrap_up", "remaining_s": 15.0},
        {"t": 38.0, "source": "idle", "event": "nudge", "number": 1},
        {"t": 40.0, "source": "budget", "event": "goodbye"},
        {"t": 43.0, "source": "budget", "event": "ended", "reason": "max_duration"},
        responder(43.5, "call_ended", reason="max_duration"),
    ]
    call = record_from_journal("s", stages)
    text = render_transcript(call)

    assert [(m.kind, m.label) for m in call.marks] == [
        ("guardrail", "caller instruction_extraction: redirect"),
        ("stage", "budget wrap up"),
        ("stage", "budget goodbye"),
        ("stage", "budget ended"),
    ]
    assert "_[00:25.0] session stage: budget wrap up_" in text
    assert "guardrail: caller instruction\\_extraction: redirect" in text
