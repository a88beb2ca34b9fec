"""What the call's journal hears from LiveKit's ``AgentSession`` and from the thinker.

:func:`follow_session` journals the session events that tell what happened (who spoke when,
what was transcribed, tool calls, false interruptions, errors), each as ``source`` ``session``
with the event's own fields under ``data`` (what cannot be serialised is its ``repr``), plus what
ties each stretch of agent audio to its text (the timeline and the transcript need it):

- ``speech_created`` with ``speech``, the speech's id;
- ``speech_done``: a speech finished; ``messages``, the ids of the agent messages it stored,
  and whether it was ``interrupted``;
- ``conversation_item_added`` for each agent message: ``id``, ``text`` (for a cut-off message,
  what LiveKit kept of it), ``interrupted``, and ``spoke_at`` / ``spoke_until``, when its first
  audio frame played and when it stopped speaking, on the call clock.

:func:`thinker_event` journals one event from the thinker as the responder received it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livekit.agents import AgentSession
from livekit.agents.voice.events import EventTypes

from responder.session.journal import SessionJournal
from shared.wire import Event

SESSION_EVENTS: tuple[EventTypes, ...] = (
    "user_input_transcribed",
    "user_state_changed",
    "agent_state_changed",
    "function_tools_executed",
    "agent_false_interruption",
    "error",
    "close",
)
"""The session events journalled as they are (besides speeches and agent messages)."""


def follow_session(session: AgentSession[Any], journal: SessionJournal) -> None:
    """Journal ``session``'s events (see the module docstring) for the rest of the call."""

    def forward(name: EventTypes) -> Callable[[Any], None]:
        def on_event(event: Any) -> None:
            data = event.model_dump(
                mode="json", exclude={"type", "created_at", "speech_handle"}, fallback=repr
            )
            journal.emit("session", name, data=data)  # nested: its fields may be named "source"

        return on_event

    def on_speech(event: Any) -> None:
        handle = event.speech_handle
        data = {"speech": handle.id, "source": event.source, "user_initiated": event.user_initiated}
        journal.emit("session", "speech_created", data=data)

        def done(_: Any) -> None:
            messages = [
                item.id
                for item in handle.chat_items
                if getattr(item, "type", None) == "message" and item.role == "assistant"
            ]
            data = {"speech": handle.id, "messages": messages, "interrupted": handle.interrupted}
            journal.emit("session", "speech_done", data=data)

        handle.add_done_callback(done)

    def on_item(event: Any) -> None:
        item = event.item
        if getattr(item, "type", None) != "message" or item.role != "assistant":
            return
        metrics = item.metrics or {}
        started, stopped = metrics.get("started_speaking_at"), metrics.get("stopped_speaking_at")
        data = {
            "id": item.id,
            "role": "assistant",
            "text": item.text_content or "",
            "interrupted": bool(item.interrupted),
            "spoke_at": None if started is None else round(journal.at_wall(started), 3),
            "spoke_until": None if stopped is None else round(journal.at_wall(stopped), 3),
        }
        journal.emit("session", "conversation_item_added", data=data)

    for name in SESSION_EVENTS:
        session.on(name, forward(name))
    session.on("speech_created", on_speech)
    session.on("conversation_item_added", on_item)


def thinker_event(journal: SessionJournal, event: Event) -> None:
    """Journal one thinker event; ``at`` is when the thinker wrote it, on the call clock."""
    data = event.model_dump(mode="json", exclude={"ts_ms", "v"})
    kind = str(data.pop("type"))
    journal.emit("thinker", kind, at=round(journal.at_wall(event.ts_ms / 1000), 3), **data)
