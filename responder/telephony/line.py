"""Who is on the other end: a phone line (a LiveKit SIP participant) or not.

LiveKit SIP puts the phone caller (or the person an outbound call rings) in the room as a
participant of kind ``PARTICIPANT_KIND_SIP`` with ``sip.*`` attributes: ``sip.phoneNumber`` (the
other party's number), ``sip.trunkPhoneNumber`` (the business's), ``sip.callID``,
``sip.ruleID`` (set when a dispatch rule let the call in: inbound). The numbers are personal
data and not read at all: :class:`SipLine` holds what the agent needs to act on the line (whom
to transfer, LiveKit's call id to look the call up by) and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from livekit import rtc

from responder.telephony.dispatch import Direction

CALL_ID = "sip.callID"
RULE_ID = "sip.ruleID"


class Participant(Protocol):
    """What is read of a ``livekit.rtc.RemoteParticipant``."""

    @property
    def identity(self) -> str: ...

    @property
    def kind(self) -> Any: ...

    @property
    def attributes(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class SipLine:
    """The phone call the agent is on."""

    identity: str
    """The SIP participant's identity in the room (what a transfer names)."""
    direction: Direction
    call_id: str = ""
    """LiveKit's SIP call id (``SCL_...``): what to look the call up by in LiveKit."""

    def facts(self) -> dict[str, str]:
        """What is journalled and logged about the line (no number: there is none here)."""
        return {"direction": self.direction, "call_id": self.call_id}


def sip_line(participant: Participant, direction: Direction | None = None) -> SipLine | None:
    """The phone line ``participant`` is, or None if it is not a SIP participant (a browser or
    an app). ``direction``: what the dispatch said; otherwise inbound if a dispatch rule let the
    call in (``sip.ruleID``), outbound if not."""
    if participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
        return None
    attributes = participant.attributes
    if direction is None:
        direction = "inbound" if attributes.get(RULE_ID) else "outbound"
    return SipLine(
        identity=participant.identity,
        direction=direction,
        call_id=attributes.get(CALL_ID, ""),
    )
