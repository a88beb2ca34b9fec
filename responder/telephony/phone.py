"""One call's phone side: what a call on a phone line has that a browser call has not.

* the keypad: keys the caller presses (``sip_dtmf_received``) are the caller being there (idle
  timers reset) and, gathered into entries, the caller's turn (:mod:`responder.telephony.keypad`);
* ``press_keys``: the agent pressing keys, where the profile allows it;
* ``transfer_call``: transfers to the profile's list only (:mod:`responder.telephony.transfer`);
* on an outbound call, the first seconds after the answer: a person or an answering machine?
  (:mod:`responder.telephony.pickup`).

:class:`~responder.call.Call` owns one when the call is on a phone line (:class:`PhoneHookup`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from livekit import rtc
from livekit.agents import RunContext, function_tool, llm
from livekit.agents.llm import RawFunctionTool

from responder.floor import Utterance
from responder.telephony import wording
from responder.telephony.dispatch import Direction, DispatchInfo
from responder.telephony.keypad import DtmfSender, KeyedEntry, press_keys
from responder.telephony.line import Participant, SipLine, sip_line
from responder.telephony.pickup import Pickup
from responder.telephony.switchboard import Switchboard
from responder.telephony.transfer import SOURCE, Transfers
from shared.config import Settings
from shared.phone_profile import TelephonySpec


@dataclass(frozen=True)
class PhoneHookup:
    """What a call on a phone line is connected to."""

    line: SipLine
    switchboard: Switchboard | None = None
    """Transfers (None: a simulated line, which cannot transfer)."""
    keys_out: DtmfSender | None = None
    """The room's local participant, to press keys with (None: a simulated line)."""
    warm_trunk: str | None = None
    """The outbound trunk a warm transfer dials through (None: cold transfers only)."""


class JobRoom(Protocol):
    """What is read of the job's ``rtc.Room``."""

    @property
    def name(self) -> str: ...

    @property
    def local_participant(self) -> Any: ...


def phone_hookup(
    settings: Settings, room: JobRoom, caller: Participant, dispatch: DispatchInfo
) -> PhoneHookup | None:
    """What a call with ``caller`` in ``room`` is connected to, if ``caller`` is a phone line
    (None: a browser or app): its line, the switchboard (the worker's LiveKit credentials), the
    room's local participant to press keys with, the trunk a warm transfer dials through."""
    direction: Direction | None = "outbound" if dispatch.direction == "outbound" else None
    line = sip_line(caller, direction)
    if line is None:
        return None
    return PhoneHookup(
        line,
        switchboard=Switchboard.for_call(settings, room.name),
        keys_out=room.local_participant,
        warm_trunk=settings.sip.outbound_trunk_id,
    )


class PhoneSide(Protocol):
    """What the phone side needs of its call (:class:`~responder.call.Call`)."""

    def emit(self, source: str, event: str, /, **fields: object) -> object: ...

    def hold_started(self) -> None: ...

    def hold_ended(self) -> None: ...

    def end(self, reason: str) -> None: ...

    def caller_active(self) -> None: ...

    def caller_keyed(self, keys: str) -> None: ...

    def open_outbound(self) -> None: ...

    def interrupt(self) -> None: ...

    def post(self, utterance: Utterance) -> None: ...


class PhoneCall:
    """The phone side of one call (see the module docstring)."""

    def __init__(
        self,
        hookup: PhoneHookup,
        spec: TelephonySpec,
        *,
        business: str,
        side: PhoneSide,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.line = hookup.line
        self._hookup = hookup
        self._spec = spec
        self._side = side
        self._keypad = KeyedEntry(
            spec.keypad, entered=side.caller_keyed, pressed=side.caller_active
        )
        self.transfers = (
            Transfers(
                spec,
                line=hookup.line,
                switchboard=hookup.switchboard,
                side=side,
                warm_trunk=hookup.warm_trunk,
            )
            if spec.transfer and hookup.switchboard is not None
            else None
        )
        """The ``transfer_call`` tool's logic (None: the profile lists no targets, or the line
        cannot transfer)."""
        self.pickup = Pickup(spec, business=business, side=side, clock=clock)
        """An outbound call's first seconds after the callee answers."""

    def tools(self) -> list[RawFunctionTool[Any, Any]]:
        """The phone tools this line offers: ``transfer_call``, ``press_keys``."""
        tools = [self.transfers.tool()] if self.transfers is not None else []
        if self._spec.keypad.send and self._hookup.keys_out is not None:
            schema = {
                "name": "press_keys",
                "description": wording.PRESS_KEYS_DESCRIPTION,
                "parameters": {
                    "type": "object",
                    "properties": {
                        "keys": {"type": "string", "description": wording.PRESS_KEYS_PARAMETER}
                    },
                    "required": ["keys"],
                    "additionalProperties": False,
                },
            }
            tools.append(function_tool(self.press_keys, raw_schema=schema))
        return tools

    def instructions(self) -> str | None:
        """What the model is told about this line (None: nothing beyond the usual)."""
        if self.transfers is None:
            return None
        return wording.transfer_instructions(self._spec.transfer)

    # -- keys -----------------------------------------------------------------------------------

    def dtmf_received(self, dtmf: rtc.SipDTMF) -> None:
        """The room's ``sip_dtmf_received`` event: a key from this line's caller."""
        sender = dtmf.participant
        if sender is not None and sender.identity != self.line.identity:
            return
        self._keypad.press(dtmf.digit)

    async def press_keys(self, raw_arguments: dict[str, Any], context: RunContext[Any]) -> str:
        """The ``press_keys`` tool: press the keys once the agent's words before it are heard."""
        keys = str(raw_arguments.get("keys") or "")
        sender = self._hookup.keys_out
        assert sender is not None  # the tool is only offered with one
        await context.wait_for_playout()
        try:
            await press_keys(sender, keys)
        except ValueError as error:
            raise llm.ToolError(wording.keys_refused(str(error))) from None
        except Exception as error:  # the room refused: say so rather than pretend
            self._side.emit(SOURCE, "keys_failed", error=type(error).__name__)
            return wording.keys_refused("the phone line did not take them")
        self._side.emit(SOURCE, "keys_sent", count=len(keys))
        return wording.keys_pressed(keys.replace(" ", ""))

    async def aclose(self) -> None:
        """The call ended: drop a half-keyed entry, stop the pickup's timers (the switchboard
        is the worker's to close: it hangs up after the call,
        :func:`responder.worker.hang_up_after`)."""
        self._keypad.close()
        await self.pickup.aclose()
