"""The ``end_call`` tool: the conversation is over, so the agent says the profile's goodbye and
hangs up.

The goodbye is said verbatim through the floor (never over the caller, not repeated if cut off);
once it has been heard the call ends with reason ``completed`` (or ``completed_hard_stop`` if it
could not be said within ``TANDEM_SESSION_GOODBYE_GRACE_S``). On LiveKit the worker then deletes
the room, which hangs up a phone line (:mod:`responder.worker`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from livekit.agents import RunContext, function_tool
from livekit.agents.llm import RawFunctionTool

from responder.floor import Utterance
from responder.session.closing import Emit, GracefulClose
from responder.telephony.wording import END_CALL_DESCRIPTION

SOURCE = "hangup"
REASON = "completed"


class HangUp:
    """The ``end_call`` tool of one call (see the module docstring)."""

    def __init__(
        self,
        goodbye: str,
        *,
        grace_s: float,
        post: Callable[[Utterance], None],
        emit: Emit,
        end_call: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``goodbye``: the profile's; ``post``: the floor's; ``end_call`` ends the call."""
        self._goodbye = goodbye
        self._emit = emit
        self._close = GracefulClose(
            source=SOURCE,
            reason=REASON,
            hard_stop_reason=f"{REASON}_hard_stop",
            grace_s=grace_s,
            post=post,
            emit=emit,
            end_call=end_call,
            clock=clock,
        )

    def tool(self) -> RawFunctionTool[Any, Any]:
        """The LiveKit tool, ready for an ``Agent``."""
        schema = {
            "name": "end_call",
            "description": END_CALL_DESCRIPTION,
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        }
        return function_tool(self.end_call, raw_schema=schema)

    async def end_call(self, raw_arguments: dict[str, Any], context: RunContext[Any]) -> None:
        """Say the goodbye, then end the call (nothing else is said: no tool reply)."""
        if self._close.begun:
            return
        self._emit(SOURCE, "goodbye")
        self._close.begin(self._goodbye, kind="goodbye")

    async def aclose(self) -> None:
        """The call ended: end nothing further."""
        await self._close.aclose()
