"""``tandem call NUMBER``: an outbound phone call by the agent, through LiveKit SIP.

Two requests to LiveKit's server API, in this order:

1. an explicit dispatch of the agent (``TANDEM_RESPONDER_AGENT_NAME``) to a fresh room, with
   metadata ``{"profile": ..., "purpose": ..., "direction": "outbound"}`` plus any
   ``--metadata`` keys: the agent is in the room before anyone answers;
2. a SIP participant in that room, dialled through ``TANDEM_SIP_OUTBOUND_TRUNK_ID``.

The room is named ``call-<random>``, never after the number, and the number is never logged
whole (it is personal data): the command prints it masked. Bad input (a number that is not
E.164, metadata that is not a JSON object, a missing trunk or LiveKit credential) is one line
and nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from shared.config import Settings

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
"""A phone number in E.164 form: ``+`` and 7 to 15 digits, no leading zero."""
_SEPARATORS = re.compile(r"[\s().-]")
CALLEE_IDENTITY = "phone-callee"
"""The participant identity of the person called."""


@dataclass(frozen=True)
class OutboundCall:
    """What was set up: the room, the dispatch and the SIP participant."""

    room: str
    dispatch_id: str
    participant_id: str
    sip_call_id: str


def masked(number: str) -> str:
    """``number`` with all but its country prefix and last two digits hidden."""
    return number[:2] + "•" * max(0, len(number) - 4) + number[-2:]


def phone_number(text: str) -> str:
    """``text`` as an E.164 number (spaces, dots, dashes and parentheses dropped); ValueError
    naming the expected form otherwise (never repeating the input: it may be a real number)."""
    number = _SEPARATORS.sub("", text)
    if not E164.match(number):
        raise ValueError("expected an E.164 number: + and the country code, e.g. +15551234567")
    return number


def call_metadata(profile: str, purpose: str, extra: str | None) -> dict[str, Any]:
    """The dispatch metadata: ``extra`` (a JSON object) and the call's profile, purpose and
    direction; ValueError when ``extra`` is not a JSON object."""
    data: dict[str, Any] = {}
    if extra:
        try:
            loaded = json.loads(extra)
        except json.JSONDecodeError as error:
            raise ValueError(f"--metadata is not JSON ({error.msg} at {error.pos})") from None
        if not isinstance(loaded, dict):
            raise ValueError("--metadata must be a JSON object")
        data.update(loaded)
    return data | {"profile": profile, "purpose": purpose, "direction": "outbound"}


async def place_call(settings: Settings, number: str, metadata: dict[str, Any]) -> OutboundCall:
    """Dispatch the agent to a new room, then dial ``number`` into it (see the module)."""
    from livekit import api

    if not settings.sip.outbound_trunk_id:
        raise click.ClickException(
            "TANDEM_SIP_OUTBOUND_TRUNK_ID is not set: create an outbound trunk "
            "(deploy/sip/) and set its id"
        )
    key, secret = settings.livekit_api_key, settings.livekit_api_secret
    if not settings.livekit_url or key is None or secret is None:
        raise click.ClickException(
            "LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET must all be set"
        )
    room = f"call-{secrets.token_hex(6)}"
    async with api.LiveKitAPI(
        settings.livekit_url, key.get_secret_value(), secret.get_secret_value()
    ) as livekit:
        dispatch = await livekit.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=settings.responder.agent_name,
                room=room,
                metadata=json.dumps(metadata),
            )
        )
        participant = await livekit.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                room_name=room,
                sip_trunk_id=settings.sip.outbound_trunk_id,
                sip_call_to=number,
                participant_identity=CALLEE_IDENTITY,
                participant_name="callee",
                wait_until_answered=False,
            ),
            timeout=settings.sip.ring_timeout_s,
        )
    return OutboundCall(room, dispatch.id, participant.participant_id, participant.sip_call_id)


@click.command("call")
@click.argument("number")
@click.option("--profile", "profile_selector", default=None, help="The agent profile to call as.")
@click.option(
    "--purpose",
    default="",
    help="Why the agent calls (the agent is told; e.g. 'confirm tomorrow's 8 pm booking').",
)
@click.option("--metadata", default=None, help="More dispatch metadata, a JSON object.")
def call_command(
    number: str, profile_selector: str | None, purpose: str, metadata: str | None
) -> None:
    """Have the agent call NUMBER (E.164, e.g. +15551234567) through the SIP trunk."""
    from shared.cli import errors_as_one_line, settings_or_exit
    from shared.profile import default_profile, find_profile

    settings = settings_or_exit(sections=("responder", "sip"))
    try:
        callee = phone_number(number)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="NUMBER") from None
    with errors_as_one_line():
        selector = profile_selector or settings.profile
        profile = find_profile(selector) if selector else default_profile()
        try:
            data = call_metadata(profile.id, purpose, metadata)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--metadata") from None
        try:
            placed = asyncio.run(place_call(settings, callee, data))
        except click.ClickException:
            raise
        except Exception as error:  # the API's own errors: one line, no traceback
            raise click.ClickException(f"LiveKit refused the call: {_reason(error)}") from None
    click.echo(f"calling {masked(callee)} as {profile.id} in room {placed.room}")
    click.echo(f"dispatch {placed.dispatch_id}, participant {placed.participant_id}")


def _reason(error: Exception) -> str:
    """An API error in a few words (its code and message; never a request body)."""
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or type(error).__name__
    return f"{code}: {message}" if code else str(message)
