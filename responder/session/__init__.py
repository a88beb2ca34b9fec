"""Live session control: the call's journal of events, the state derived from it, the call
record written when it ends, the session budget, idle handling and guardrails at realtime pace.

Everything here hangs off one :class:`~responder.session.journal.SessionJournal` per call: the
call's parts emit events into it; lightweight handlers (the derived
:class:`~responder.session.state.SessionState`) run as each event arrives; heavier work
(redaction, storage, the record) runs in background tasks, off the realtime path.
"""

__all__: list[str] = []
