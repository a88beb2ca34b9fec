"""Keys pressed on the phone (DTMF), both ways.

In: LiveKit emits ``sip_dtmf_received`` on the room for every key the caller presses.
:class:`KeyedEntry` gathers them into one entry ("1", "4127#"): ``#`` ends an entry at once, a
pause of the profile's ``[telephony.keypad] entry_timeout_s`` ends it otherwise, and a long run
of keys is cut at ``max_keys``. Every key counts as the caller being there (idle timers reset);
each finished entry goes into the conversation as the caller's turn (:func:`keyed_turn`).

Out: :func:`press_keys` plays keys into the call, the way LiveKit's ``send_dtmf_events`` does
(``publish_dtmf``, 0.3 s apart), for getting through another system's menu.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Protocol

from livekit.agents.beta.workflows.utils import DtmfEvent, dtmf_event_to_code

from shared.phone_profile import KeypadSpec

END_KEY = "#"
KEYS = re.compile(r"^[0-9*#A-D]+$")
"""Keys a phone can send: digits, ``*``, ``#`` and the rare ``A``-``D``."""
SEND_GAP_S = 0.3
"""Pause between two keys pressed by the agent (LiveKit's own ``send_dtmf_events`` default)."""


def keyed_turn(keys: str) -> str:
    """How an entry reads in the conversation (the caller's turn, as the model sees it)."""
    return f"[pressed on the keypad: {' '.join(keys)}]"


class KeyedEntry:
    """Gathers the caller's key presses into entries (see the module docstring)."""

    def __init__(
        self,
        spec: KeypadSpec,
        *,
        entered: Callable[[str], None],
        pressed: Callable[[], None],
    ) -> None:
        """``entered``: called with each finished entry; ``pressed``: called on every key."""
        self._spec = spec
        self._entered = entered
        self._pressed = pressed
        self._keys: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def press(self, key: str) -> None:
        """One key pressed (a ``sip_dtmf_received`` event's ``digit``); other input is ignored."""
        key = key.strip().upper()
        if len(key) != 1 or not KEYS.match(key):
            return
        self._pressed()
        self._keys.append(key)
        if key == END_KEY or len(self._keys) >= self._spec.max_keys:
            self.finish()
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._spec.entry_timeout_s, self.finish)

    def finish(self) -> None:
        """End the entry now (the pause ran out, ``#``, or the call ends): hand it on."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        keys, self._keys = "".join(self._keys), []
        if keys:
            self._entered(keys)

    def close(self) -> None:
        """Drop an unfinished entry (the call ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._keys.clear()


class DtmfSender(Protocol):
    """What is needed of the room's ``local_participant``."""

    async def publish_dtmf(self, *, code: int, digit: str) -> None: ...


async def press_keys(sender: DtmfSender, keys: str, *, gap_s: float = SEND_GAP_S) -> None:
    """Press ``keys`` (digits, ``*``, ``#``, ``A``-``D``; spaces and dashes ignored) on the call,
    ``gap_s`` apart; ValueError before anything is sent if a key is not one a phone has."""
    wanted = re.sub(r"[\s,-]", "", keys).upper()
    if not wanted or not KEYS.match(wanted):
        raise ValueError("keys are digits 0-9, '*', '#' (and A-D)")
    for number, key in enumerate(wanted):
        if number:
            await asyncio.sleep(gap_s)
        await sender.publish_dtmf(code=dtmf_event_to_code(DtmfEvent(key)), digit=key)
