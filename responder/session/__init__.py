"""The session layer: what happens to a call as a whole (its journal, its record, its budget and
guardrails), beside the turn-by-turn work of the agent."""

from responder.session.store import SessionStore

__all__ = ["SessionStore"]
