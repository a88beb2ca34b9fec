"""An outbound call's first seconds: who answered, a person or a machine?

When the callee picks up, the agent lets them speak first (a person says "hello?" at once; a
machine starts its greeting) and opens itself after :data:`OPEN_AFTER_S` of silence. Meanwhile
the callee's final transcripts go through a :class:`~responder.telephony.voicemail.
VoicemailScreen`; on a machine the agent leaves the profile's ``[telephony.voicemail]`` message
once the greeting is over, or hangs up, and the call ends ``voicemail``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from responder.floor import Utterance
from responder.session.closing import GracefulClose
from responder.telephony.transfer import SOURCE
from responder.telephony.voicemail import Judgement, VoicemailScreen
from shared.phone_profile import TelephonySpec

OPEN_AFTER_S = 1.5
"""Silence after an outbound call is answered before the agent speaks first (a person says
"hello?" at once; a machine starts its greeting)."""
SCREEN_S = 12.0
"""How long after the answer the callee may still turn out to be a machine."""
VOICEMAIL_GRACE_S = 60.0
"""Longest the agent waits to leave its message (the greeting may be long) before hanging up."""


class PickupSide(Protocol):
    """What the pickup needs of its call (:class:`~responder.call.Call`)."""

    def emit(self, source: str, event: str, /, **fields: object) -> object: ...

    def end(self, reason: str) -> None: ...

    def open_outbound(self) -> None: ...

    def interrupt(self) -> None: ...

    def post(self, utterance: Utterance) -> None: ...


class Pickup:
    """The first seconds of an answered outbound call (see the module docstring); idle until
    :meth:`answered`."""

    def __init__(
        self,
        spec: TelephonySpec,
        *,
        business: str,
        side: PickupSide,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._voicemail = spec.voicemail
        self._business = business
        self._side = side
        self._clock = clock
        self._screen: VoicemailScreen | None = None
        self._answered_at: float | None = None
        self._callee_spoke = False
        self._speech_since: float | None = None
        self._speech_s: float | None = None
        self._reported_s = 0.0
        """Speech already counted in a final the screen heard (it adds each final's share)."""
        self._timers: list[asyncio.TimerHandle] = []
        self._leaving = GracefulClose(
            source=SOURCE,
            reason="voicemail",
            hard_stop_reason="voicemail",
            grace_s=VOICEMAIL_GRACE_S,
            post=side.post,
            emit=side.emit,
            end_call=side.end,
            clock=clock,
        )

    def answered(self) -> None:
        """The callee picked up: screen for a machine; open if they do not speak first."""
        self._answered_at = self._clock()
        self._side.emit(SOURCE, "answered")
        self._screen = VoicemailScreen(screen_s=SCREEN_S)
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(OPEN_AFTER_S, self._open_if_silent))
        self._timers.append(loop.call_later(SCREEN_S, self._screen_timed_out))

    def callee_speaking(self, speaking: bool) -> None:
        """The other party started (True) or stopped speaking."""
        if speaking:
            self._callee_spoke = True
            self._speech_since = self._clock()
        elif self._speech_since is not None:
            self._speech_s = self._spoken_s()
            self._speech_since = None

    def callee_said(self, text: str) -> None:
        """A final transcript of the other party."""
        if self._screen is None or self._screen.settled or self._answered_at is None:
            return
        spoken_s = self._spoken_s()
        speech_s = None if spoken_s is None else spoken_s - self._reported_s
        self._reported_s = spoken_s or 0.0
        verdict = self._screen.heard(
            text, speech_s=speech_s, at_s=self._clock() - self._answered_at
        )
        if verdict is not None:
            self._settle(verdict)

    def agent_spoke(self) -> None:
        """The agent said something to the callee."""
        if self._screen is not None:
            self._screen.agent_spoke()

    async def aclose(self) -> None:
        """The call ended: stop the timers and any message being left."""
        for timer in self._timers:
            timer.cancel()
        await self._leaving.aclose()

    def _spoken_s(self) -> float | None:
        """How long the callee has spoken since the answer (None: not at all, as far as the
        VAD knows)."""
        ongoing = 0.0 if self._speech_since is None else self._clock() - self._speech_since
        if self._speech_s is None and self._speech_since is None:
            return None
        return (self._speech_s or 0.0) + ongoing

    def _open_if_silent(self) -> None:
        if not self._callee_spoke and not self._machine:
            self._side.open_outbound()

    @property
    def _machine(self) -> bool:
        settled = self._screen.settled if self._screen is not None else None
        return settled is not None and settled.verdict == "machine"

    def _screen_timed_out(self) -> None:
        if self._screen is None or self._answered_at is None:
            return
        verdict = self._screen.timed_out(self._clock() - self._answered_at)
        if verdict is not None:
            self._settle(verdict)

    def _settle(self, verdict: Judgement) -> None:
        self._side.emit(SOURCE, "screened", verdict=verdict.verdict, reason=verdict.reason)
        if verdict.verdict != "machine":
            return
        voicemail = self._voicemail
        self._side.emit(SOURCE, "voicemail", action=voicemail.action)
        self._side.interrupt()
        if voicemail.action == "hang_up" or not voicemail.message:
            self._side.end("voicemail")
            return
        message = voicemail.message.replace("{business}", self._business)
        self._leaving.begin(message, kind="goodbye")
