"""When the person an outbound call rings picks up.

LiveKit SIP puts the callee in the room as a SIP participant while it rings; its attribute
``sip.callStatus`` becomes ``active`` when they answer (see the LiveKit notes). The agent says
nothing before that: its opening line would play to a ringing phone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

CALL_STATUS = "sip.callStatus"
ANSWERED = "active"


class SipParticipant(Protocol):
    """What is read of a ``livekit.rtc.RemoteParticipant``."""

    @property
    def identity(self) -> str: ...

    @property
    def attributes(self) -> Mapping[str, str]: ...


class EventSource(Protocol):
    """What is needed of a ``livekit.rtc.Room``: its event subscription."""

    def on(self, event: Any, callback: Callable[..., Any] | None = None) -> Any: ...

    def off(self, event: Any, callback: Callable[..., Any]) -> None: ...


def answered(participant: SipParticipant) -> bool:
    """The SIP participant's call is up (the callee picked up)."""
    return participant.attributes.get(CALL_STATUS) == ANSWERED


async def wait_until_answered(
    room: EventSource, participant: SipParticipant, timeout_s: float
) -> bool:
    """True once ``participant`` answered; False if it did not within ``timeout_s`` (it rang
    out, or went to a state other than ringing)."""
    if answered(participant):
        return True
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def on_attributes(changed: Mapping[str, str], who: SipParticipant) -> None:
        if who.identity == participant.identity and answered(who) and not done.done():
            done.set_result(True)

    def on_left(who: SipParticipant) -> None:
        if who.identity == participant.identity and not done.done():
            done.set_result(False)

    room.on("participant_attributes_changed", on_attributes)
    room.on("participant_disconnected", on_left)
    try:
        return await asyncio.wait_for(done, timeout_s)
    except TimeoutError:
        return False
    finally:
        room.off("participant_attributes_changed", on_attributes)
        room.off("participant_disconnected", on_left)
