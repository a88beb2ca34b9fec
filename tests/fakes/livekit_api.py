"""A protocol-compatible fake of LiveKit's server API: Twirp over HTTP with protobuf bodies, as the
real ``livekit-api`` client speaks it (``POST /twirp/<service>/<method>``,
``Content-Type: application/protobuf``, ``Authorization: Bearer <JWT>``).

It checks each request's token against the API secret (with the real ``TokenVerifier``),
records the parsed request, and answers what a server would. A method it was not given is a
Twirp ``unimplemented`` error, so an unexpected call fails loudly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf.message import Message
from livekit import api
from livekit.protocol import agent_dispatch, room, sip

from tests.fakes._local_http import LocalServer

SECRET = "fake-livekit-secret-0123456789abcdef"
KEY = "fake-key"


@dataclass(frozen=True)
class Request:
    """One recorded API request."""

    method: str
    """``<service>/<method>``, e.g. ``livekit.SIP/CreateSIPParticipant``."""
    body: Any
    """The parsed request message."""


def _dispatch(body: agent_dispatch.CreateAgentDispatchRequest) -> Message:
    return agent_dispatch.AgentDispatch(
        id="AD_fake1", agent_name=body.agent_name, room=body.room, metadata=body.metadata
    )


def _participant(body: sip.CreateSIPParticipantRequest) -> Message:
    return sip.SIPParticipantInfo(
        participant_id="PA_fake1",
        participant_identity=body.participant_identity,
        room_name=body.room_name,
        sip_call_id="SCL_fake1",
    )


def _transferred(body: sip.TransferSIPParticipantRequest) -> Message:
    return sip.TransferSIPParticipantResponse(
        transfer_id="ST_fake1",
        status=sip.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL,
        reason=sip.SIPTransferReason.STR_COMPLETED,
    )


def _deleted(body: room.DeleteRoomRequest) -> Message:
    return room.DeleteRoomResponse()


_METHODS: dict[str, tuple[type[Message], Any]] = {
    "livekit.AgentDispatchService/CreateDispatch": (
        agent_dispatch.CreateAgentDispatchRequest,
        _dispatch,
    ),
    "livekit.SIP/CreateSIPParticipant": (sip.CreateSIPParticipantRequest, _participant),
    "livekit.SIP/TransferSIPParticipant": (sip.TransferSIPParticipantRequest, _transferred),
    "livekit.RoomService/DeleteRoom": (room.DeleteRoomRequest, _deleted),
}


TWIRP_STATUS = {
    "invalid_argument": 400,
    "permission_denied": 403,
    "not_found": 404,
    "deadline_exceeded": 408,
    "aborted": 409,
    "failed_precondition": 412,
    "resource_exhausted": 429,
    "unavailable": 503,
}
"""The HTTP status a Twirp error code is sent with (others: 500)."""


@dataclass(frozen=True)
class Failure:
    """A Twirp error the fake answers with: its code and the error metadata a SIP failure
    carries (e.g. ``{"sip_status_code": "486", "sip_status": "Busy Here"}``)."""

    code: str
    meta: dict[str, str] | None = None


class FakeLiveKitAPI(LocalServer):
    """``http://127.0.0.1:<port>``: point ``LIVEKIT_URL`` at :attr:`url`. ``fail`` maps a method
    to a Twirp error code (e.g. ``"unavailable"``) or a :class:`Failure` it answers with
    instead."""

    def __init__(self, *, fail: dict[str, str | Failure] | None = None) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.fail = dict(fail or {})

    def bodies(self, method: str) -> list[Any]:
        """The parsed requests of ``method`` (``<service>/<method>``), in order."""
        return [r.body for r in self.requests if r.method == method]

    def routes(self, app: web.Application) -> None:
        """Every Twirp method under ``/twirp``."""
        app.router.add_post("/twirp/{service}/{method}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        method = f"{request.match_info['service']}/{request.match_info['method']}"
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            api.TokenVerifier(KEY, SECRET).verify(token)
        except Exception:
            return _twirp_error(401, "unauthenticated", "invalid token")
        if method not in _METHODS:
            return _twirp_error(404, "unimplemented", f"no fake for {method}")
        message_type, answer = _METHODS[method]
        body = message_type()
        body.ParseFromString(await request.read())
        self.requests.append(Request(method, body))
        if method in self.fail:
            failure = self.fail[method]
            if isinstance(failure, str):
                failure = Failure(failure)
            status = TWIRP_STATUS.get(failure.code, 500)
            return _twirp_error(status, failure.code, "the fake was told to fail", failure.meta)
        reply: Message = answer(body)
        return web.Response(
            body=reply.SerializeToString(), content_type="application/protobuf", status=200
        )


def _twirp_error(
    status: int, code: str, message: str, meta: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"code": code, "msg": message, "meta": meta or {}}, status=status)
