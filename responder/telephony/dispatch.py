"""What a dispatch tells the agent about its call: the JSON object in the dispatch's metadata.

``tandem call`` writes ``{"profile": ..., "purpose": ..., "direction": "outbound"}``; a SIP
dispatch rule or a join token may carry ``{"profile": ...}`` (deploy/sip/). Everything is
optional: no metadata is an inbound call for the worker's own profile. Metadata that is not a
JSON object is logged (never its content: it may hold personal data) and read as none, so a
caller is never left unanswered over it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger("tandem.responder.telephony")

Direction = Literal["inbound", "outbound"]
MAX_PURPOSE = 500
"""Longest purpose the agent is told (characters)."""


@dataclass(frozen=True)
class DispatchInfo:
    """One call's dispatch metadata, read."""

    profile: str | None = None
    """The profile the dispatch asks for (None: the worker's own)."""
    purpose: str = ""
    """Why the agent is calling (outbound calls)."""
    direction: Direction = "inbound"


def read_dispatch(metadata: str) -> DispatchInfo:
    """``metadata`` (a job's dispatch metadata) read; see the module docstring."""
    if not metadata.strip():
        return DispatchInfo()
    try:
        data = json.loads(metadata)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        log.warning("dispatch metadata is not a JSON object: ignored")
        return DispatchInfo()
    profile = data.get("profile")
    purpose = data.get("purpose")
    return DispatchInfo(
        profile=profile if isinstance(profile, str) and profile else None,
        purpose=" ".join(purpose.split())[:MAX_PURPOSE] if isinstance(purpose, str) else "",
        direction="outbound" if data.get("direction") == "outbound" else "inbound",
    )
