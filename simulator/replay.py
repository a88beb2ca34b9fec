"""A call's :class:`~simulator.record.CallRecord` from its journal alone.

The journal (:mod:`responder.session.journal`) is the one record of a call: a simulated call's
run artifacts and ``tandem sessions replay`` of a production call are both built from it here.
Who spoke when comes from the best evidence the journal holds:

- a simulated call journals what its endpoints measured: each caller line as it was played
  (``caller``/``spoke``: start, end, text, how much was heard) and each stretch of agent audio
  (``simulator``/``agent_audio``: start, end, seconds played and synthesized);
- a production call has LiveKit's own view: the caller's speech from the VAD
  (``user_state_changed``), its words from the final transcripts, and the agent's audio from
  ``agent_state_changed`` (speaking from its first frame played to the end of playout).

Agent text, kinds and tasks are then matched the same way for both (:func:`agent_speech`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from simulator.analysis import marks_for
from simulator.record import AgentAudio, CallRecord, Speech, agent_speech, task_spans

TRANSCRIPT_LAG_S = 4.0
"""How long after the VAD's end of speech a final transcript may still belong to that speech."""


def record_from_journal(name: str, events: Sequence[Mapping[str, Any]]) -> CallRecord:
    """The call ``events`` (a journal, in order) describe, titled ``name``."""
    items = [dict(e) for e in events]
    duration = call_duration(items)
    caller = _measured_caller(items) or _heard_caller(items, duration)
    audio = _measured_agent(items) or _agent_states(items, duration)
    requests = {
        int(e["task"]): str(e.get("request") or "")
        for e in items
        if e.get("event") == "task_submitted" and isinstance(e.get("task"), int)
    }
    record = CallRecord(
        name, duration, caller + agent_speech(audio, items), task_spans(items, requests, duration)
    )
    record.marks = marks_for(record, items)
    return record


def call_duration(events: Sequence[Mapping[str, Any]]) -> float:
    """Seconds from the call's start to its end: the caller hanging up (simulated calls) or the
    call ending, else the last event."""
    for source, name in (("simulator", "call_over"), ("responder", "call_ended")):
        for e in events:
            if e.get("source") == source and e.get("event") == name:
                return float(e["t"])
    return max((float(e.get("t", 0.0)) for e in events), default=0.0)


def _measured_caller(events: Sequence[Mapping[str, Any]]) -> list[Speech]:
    return [
        Speech(
            "caller",
            float(e["start"]),
            float(e["end"]),
            str(e.get("text") or ""),
            str(e.get("kind") or "line"),
            interrupted=bool(e.get("interrupted")),
            heard=float(e.get("heard", 1.0)),
        )
        for e in events
        if e.get("source") == "caller" and e.get("event") == "spoke"
    ]


def _measured_agent(events: Sequence[Mapping[str, Any]]) -> list[AgentAudio]:
    return [
        AgentAudio(
            float(e["start"]),
            float(e["end"]),
            played_s=float(e["played_s"]),
            synthesized_s=float(e["synthesized_s"]),
            interrupted=bool(e.get("interrupted")),
            kind=str(e.get("kind") or "reply"),
        )
        for e in events
        if e.get("source") == "simulator" and e.get("event") == "agent_audio"
    ]


def _spans(
    events: Sequence[Mapping[str, Any]], name: str, duration: float
) -> list[tuple[float, float]]:
    """The stretches a session state event (``user_state_changed`` / ``agent_state_changed``)
    says were ``speaking``."""
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for e in events:
        data = e.get("data")
        if e.get("event") != name or not isinstance(data, Mapping):
            continue
        speaking = data.get("new_state") == "speaking"
        if speaking and since is None:
            since = float(e["t"])
        elif not speaking and since is not None:
            spans.append((since, float(e["t"])))
            since = None
    if since is not None:
        spans.append((since, max(since, duration)))
    return spans


def _heard_caller(events: Sequence[Mapping[str, Any]], duration: float) -> list[Speech]:
    """The caller's speech as the VAD heard it, each stretch with the final transcripts that
    came in while it lasted or soon after (before the next stretch)."""
    spans = _spans(events, "user_state_changed", duration)
    finals = [
        (float(e["t"]), str(e["data"].get("transcript") or ""))
        for e in events
        if e.get("event") == "user_input_transcribed"
        and isinstance(e.get("data"), Mapping)
        and e["data"].get("is_final")
    ]
    speech: list[Speech] = []
    for index, (start, end) in enumerate(spans):
        until = spans[index + 1][0] if index + 1 < len(spans) else end + TRANSCRIPT_LAG_S
        words = [text for t, text in finals if start <= t < min(until, end + TRANSCRIPT_LAG_S)]
        speech.append(Speech("caller", start, end, " ".join(w for w in words if w).strip()))
    return speech


def _agent_states(events: Sequence[Mapping[str, Any]], duration: float) -> list[AgentAudio]:
    """The agent's audio as the session saw it play; a stretch that a caller's speech started
    during is marked interrupted when the speech playing then was."""
    interrupted = [
        float(e["t"])
        for e in events
        if e.get("event") == "speech_done"
        and isinstance(e.get("data"), Mapping)
        and e["data"].get("interrupted")
    ]
    audio: list[AgentAudio] = []
    for start, end in _spans(events, "agent_state_changed", duration):
        cut = any(abs(t - end) <= 0.5 for t in interrupted)
        audio.append(AgentAudio(start, end, end - start, end - start, interrupted=cut))
    return audio
