"""The ``transfer_call`` tool: put the phone caller through to a person, cold or warm.

The model names a target; the destination is only ever read from the profile's
``[[telephony.transfer]]`` list, so no caller, tool output or injected instruction can make the
agent dial anything else: a name not on the list is refused (and journalled without what was
asked). The caller must have agreed (``caller_confirmed``). Then:

* **cold**: once the agent's "I'm putting you through" has been heard, LiveKit's SIP transfer
  (REFER, :meth:`~responder.telephony.switchboard.Switchboard.transfer`) hands the call over and
  the call ends ``transferred``;
* **warm** (targets with ``warm = true``, and an outbound trunk to dial the person through):
  LiveKit's ``WarmTransferTask`` puts the caller on hold with hold music, dials the person into a
  consultation room, briefs them from the conversation (and the model's ``brief``), and moves
  them into the caller's room when they accept; the call ends ``transferred``.

Time on hold is not call time (``hold_started``/``hold_ended``: the session budget and the idle
watch pause, the floor waits). A transfer that fails is told to the model in plain words, and
it tells the caller: they are still on the line with the agent.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from livekit.agents import RunContext, function_tool, llm
from livekit.agents.llm import RawFunctionTool

from responder.telephony import wording
from responder.telephony.line import SipLine
from responder.telephony.switchboard import Switchboard, TransferFailed
from shared.phone_profile import TelephonySpec, TransferTarget

log = logging.getLogger("tandem.responder.telephony")

SOURCE = "phone"
"""The journal source of telephony events."""


class TransferSide(Protocol):
    """What a transfer needs of its call."""

    def emit(self, source: str, event: str, /, **fields: object) -> object: ...

    def hold_started(self) -> None: ...

    def hold_ended(self) -> None: ...

    def end(self, reason: str) -> None: ...


class Transfers:
    """The ``transfer_call`` tool of one phone call (see the module docstring)."""

    def __init__(
        self,
        spec: TelephonySpec,
        *,
        line: SipLine,
        switchboard: Switchboard,
        side: TransferSide,
        warm_trunk: str | None,
    ) -> None:
        """``warm_trunk``: the outbound trunk a warm transfer dials the person through (None:
        cold transfers only)."""
        self._spec = spec
        self._line = line
        self._switchboard = switchboard
        self._side = side
        self._warm_trunk = warm_trunk
        self.busy = False
        """A transfer is under way (a second one is refused meanwhile)."""

    @property
    def names(self) -> list[str]:
        """The places a call can go, by name."""
        return [t.name for t in self._spec.transfer]

    def tool(self) -> RawFunctionTool[Any, Any]:
        """The LiveKit tool, ready for an ``Agent``."""
        whens = "; ".join(f"'{t.name}': {t.when}" for t in self._spec.transfer)
        properties: dict[str, Any] = {
            "target": {
                "type": "string",
                "enum": self.names,
                "description": wording.TRANSFER_TARGET.format(whens=whens),
            },
            "caller_confirmed": {"type": "boolean", "description": wording.TRANSFER_CONFIRMED},
        }
        if self._warm_trunk and any(t.warm for t in self._spec.transfer):
            properties["warm"] = {"type": "boolean", "description": wording.TRANSFER_WARM}
            properties["brief"] = {"type": "string", "description": wording.TRANSFER_BRIEF}
        schema = {
            "name": "transfer_call",
            "description": wording.TRANSFER_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": ["target", "caller_confirmed"],
                "additionalProperties": False,
            },
        }
        return function_tool(self.transfer_call, raw_schema=schema)

    async def transfer_call(
        self, raw_arguments: dict[str, Any], context: RunContext[Any]
    ) -> str | None:
        """Check the request against the list and the caller's yes, then transfer; returns what
        the model should tell the caller when it failed (None when the call was handed over)."""
        target = self._spec.target(str(raw_arguments.get("target") or ""))
        if target is None:
            # what was asked is not journalled: it may be a number someone tried to inject
            self._side.emit(SOURCE, "transfer_refused", reason="not_listed")
            raise llm.ToolError(wording.not_a_target(self.names))
        if raw_arguments.get("caller_confirmed") is not True:
            self._side.emit(SOURCE, "transfer_refused", target=target.name, reason="unconfirmed")
            raise llm.ToolError(wording.confirm_first(target.name))
        warm = bool(raw_arguments.get("warm"))
        if warm and not (target.warm and self._warm_trunk):
            raise llm.ToolError(wording.NO_WARM_TRANSFER.format(target=target.name))
        if self.busy:
            raise llm.ToolError("A transfer is already under way.")
        self.busy = True
        try:
            await context.wait_for_playout()  # "I'm putting you through" is heard first
            self._side.emit(SOURCE, "transfer_started", target=target.name, warm=warm)
            self._side.hold_started()
            try:
                if warm:
                    await self._warm(target, str(raw_arguments.get("brief") or ""), context)
                else:
                    await self._switchboard.transfer(self._line.identity, target.to)
            finally:
                self._side.hold_ended()
        except TransferFailed as failure:
            self._side.emit(SOURCE, "transfer_failed", target=target.name, code=failure.code)
            log.warning("transfer failed", extra={"target": target.name, "code": failure.code})
            return wording.transfer_failed(target, failure.why)
        finally:
            self.busy = False
        self._side.emit(SOURCE, "transferred", target=target.name, warm=warm)
        self._side.end("transferred")
        return None

    async def _warm(self, target: TransferTarget, brief: str, context: RunContext[Any]) -> None:
        from livekit.agents.beta.workflows import WarmTransferTask

        task = WarmTransferTask(
            target.to,
            sip_trunk_id=self._warm_trunk,
            chat_ctx=context.session.current_agent.chat_ctx,
            extra_instructions=brief,
        )
        try:
            await task
        except llm.ToolError as error:  # it could not dial, the person declined, voicemail
            raise TransferFailed(_warm_why(str(error)), "warm_" + _warm_code(str(error))) from None
        except Exception as error:  # no job context or room: the consultation never started
            log.warning("warm transfer could not start", extra={"error": type(error).__name__})
            raise TransferFailed("the transfer did not go through", "warm_unavailable") from None


def _warm_code(message: str) -> str:
    for code in ("declined", "voicemail", "room closed", "could not dial"):
        if code in message:
            return code.replace(" ", "_")
    return "failed"


def _warm_why(message: str) -> str:
    if "declined" in message:
        return "the person could not take the call right now"
    if "voicemail" in message:
        return "nobody picked up"
    return "the transfer did not go through"
