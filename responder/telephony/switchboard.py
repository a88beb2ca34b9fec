"""One call's actions on LiveKit's server API: transfer the phone caller elsewhere, and hang up.

The worker opens a :class:`Switchboard` per call with the worker's own credentials
(``LIVEKIT_URL``, ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``): the same requests LiveKit's
``JobContext.transfer_sip_participant`` and ``delete_room`` send, but answered here rather than
fire-and-forget, so a transfer that did not go through is known and can be told honestly, and
both work (and are tested) against any server that speaks the API, not only in a LiveKit job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from livekit import api

from shared.config import Settings

log = logging.getLogger("tandem.responder.telephony")

TRANSFER_TIMEOUT_S = 60.0
"""Longest a transfer may take (it rings the other side)."""
_BUSY = {486, 600}
_NO_ANSWER = {408, 480, 487}


class TransferFailed(Exception):
    """A transfer did not go through; :attr:`why` says it in words the caller may hear."""

    def __init__(self, why: str, code: str) -> None:
        super().__init__(why)
        self.why = why
        self.code = code
        """Short, loggable: the SIP status or the API's error code (never a number dialled)."""


@dataclass
class Switchboard:
    """Transfers and hang-up for the call in ``room`` (see the module docstring)."""

    livekit: api.LiveKitAPI
    room: str

    @classmethod
    def for_call(cls, settings: Settings, room: str) -> Switchboard | None:
        """The switchboard for ``room``, or None when the worker has no API credentials (then
        the agent cannot transfer, and ending a call leaves the room to close by itself)."""
        key, secret = settings.livekit_api_key, settings.livekit_api_secret
        if not settings.livekit_url or key is None or secret is None:
            return None
        livekit = api.LiveKitAPI(
            settings.livekit_url, key.get_secret_value(), secret.get_secret_value()
        )
        return cls(livekit, room)

    async def transfer(self, identity: str, to: str) -> None:
        """Hand the phone caller ``identity`` over to ``to`` (``tel:`` or ``sip:``; SIP REFER):
        returns once the other side took the call; :class:`TransferFailed` otherwise."""
        request = api.TransferSIPParticipantRequest(
            room_name=self.room, participant_identity=identity, transfer_to=to
        )
        try:
            reply = await self.livekit.sip.transfer_sip_participant(
                request, timeout=TRANSFER_TIMEOUT_S
            )
        except api.SipCallError as error:
            raise _failure(error.sip_status_code, error.sip_transfer_reason or error.code) from None
        except api.ServerError as error:
            why = "the phone system would not transfer the call"
            raise TransferFailed(why, error.code) from None
        except TimeoutError:
            raise TransferFailed("nobody picked up", "timeout") from None
        if reply.status == api.SIPTransferStatus.STS_TRANSFER_FAILED:
            raise _failure(None, api.SIPTransferReason.Name(reply.reason))

    async def hang_up(self) -> None:
        """End the call for everyone in the room (the phone line too): delete the room. A room
        already gone is fine; any other failure is logged (the room then closes by itself once
        empty)."""
        try:
            await self.livekit.room.delete_room(api.DeleteRoomRequest(room=self.room))
        except api.ServerError as error:
            if error.code != api.ServerErrorCode.NOT_FOUND:
                log.warning("could not delete the room", extra={"code": error.code})
        except Exception as error:  # the server unreachable: not worth failing the call's end
            log.warning("could not delete the room", extra={"error": type(error).__name__})

    async def aclose(self) -> None:
        """Close the API client."""
        await self.livekit.aclose()


def _failure(status: int | None, reason: str) -> TransferFailed:
    if status in _BUSY or reason == "STR_REJECTED":
        return TransferFailed("the line was busy", f"{status or reason}")
    if status in _NO_ANSWER or reason == "STR_RINGING_TIMEOUT":
        return TransferFailed("nobody picked up", f"{status or reason}")
    return TransferFailed("the transfer did not go through", f"{status or reason}")
