"""The call record: what a finished call was, written when it ends.

:func:`call_record` sums the call up from its journal and its derived state: profile, times,
turns, tasks by outcome, time to first audio by turn type, talk and hold time, the model and
audio usage LiveKit counted, guardrail hits, session stages and why it ended.
:func:`save_call` redacts the journal as a whole (a name the caller gave late is removed from
earlier lines too, see :mod:`shared.redact`) and stores both with
:class:`~responder.session.store.SessionStore`, where ``tandem sessions`` reads them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from responder.session.journal import STAGE_SOURCES, JournalEvent, SessionJournal
from responder.session.state import SessionState
from responder.session.store import Record, SessionStore
from shared.redact import Redactor

log = logging.getLogger("tandem.responder.session")


def call_record(
    journal: SessionJournal,
    state: SessionState,
    *,
    profile: str,
    end_reason: str,
    figures: dict[str, Any],
    usage: Any = None,
    ended_at: float | None = None,
) -> Record:
    """The record of the call ``journal`` holds. ``figures``: the call's own measurements
    (:meth:`responder.metrics.CallMetrics.summary`); ``usage``: LiveKit's ``session.usage``."""
    ended = time.time() if ended_at is None else ended_at
    return {
        "session_id": journal.session_id,
        "profile": profile,
        "started_at": round(journal.wall_origin, 3),
        "ended_at": round(ended, 3),
        "duration_s": round(max(0.0, ended - journal.wall_origin), 3),
        "end_reason": end_reason,
        "turns": state.turns,
        "tasks": dict(figures.get("tasks") or {}),
        "latency": dict(figures.get("first_audio_s") or {}),
        "first_filler_s": figures.get("first_filler_s"),
        "dead_air_s": figures.get("dead_air_s", 0.0),
        "talk_over": figures.get("talk_over"),
        "respoken": figures.get("respoken", 0),
        "stale_suppressed": figures.get("stale_suppressed", 0),
        "talk": {
            "caller_s": round(state.caller_talk_s, 3),
            "agent_s": round(state.agent_talk_s, 3),
            "on_hold_s": round(state.on_hold_s, 3),
            "call_time_s": round(state.call_time_s, 3),
        },
        "usage": _usage(usage),
        "guardrails": state.guardrail_hits,
        "stages": stages(journal.events),
    }


def stages(events: Sequence[JournalEvent]) -> list[dict[str, Any]]:
    """The call's session stages (budget, idle) in order: ``t``, ``source``, ``stage``."""
    return [
        {"t": e["t"], "source": e["source"], "stage": e["event"]}
        for e in events
        if e.get("source") in STAGE_SOURCES and e.get("event") != "hit"
    ]


async def save_call(
    store: SessionStore, record: Record, events: Sequence[JournalEvent], *, timeout_s: float
) -> bool:
    """Redact ``events`` and ``record`` and store them; False (logged, never raised) when the
    store does not answer within ``timeout_s``: a lost record must not keep a call open."""
    redactor = Redactor()
    redacted = await asyncio.to_thread(redactor.redact_events, list(events))
    try:
        await asyncio.wait_for(store.save(redactor.redact_event(record), redacted), timeout_s)
    except Exception:
        log.warning(
            "call record not saved", extra={"session_id": record.get("session_id")}, exc_info=True
        )
        return False
    return True


def _usage(usage: Any) -> list[dict[str, Any]]:
    """LiveKit's per-model usage as plain values (tokens, audio seconds, characters)."""
    models = getattr(usage, "model_usage", None) or []
    found: list[dict[str, Any]] = []
    for model in models:
        if isinstance(model, BaseModel):  # livekit-agents 1.8: pydantic models
            fields = model.model_dump(mode="json")
        elif dataclasses.is_dataclass(model) and not isinstance(model, type):
            fields = dataclasses.asdict(model)
        else:
            continue
        found.append({k: v for k, v in fields.items() if v})
    return found
