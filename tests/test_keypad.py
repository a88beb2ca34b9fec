"""Keys both ways: the caller's key presses gathered into entries (``#``, a pause, a cap), and
the agent's keys as LiveKit's DTMF codes, refused whole when one is not a phone key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from responder.telephony.keypad import KeyedEntry, keyed_turn, press_keys
from shared.phone_profile import KeypadSpec


@dataclass
class Pad:
    """A KeyedEntry and what it handed on."""

    spec: KeypadSpec
    entries: list[str] = field(default_factory=list)
    presses: int = 0
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.keypad = KeyedEntry(self.spec, entered=self._entered, pressed=self._pressed)

    def _entered(self, keys: str) -> None:
        self.entries.append(keys)
        self.entered.set()

    def _pressed(self) -> None:
        self.presses += 1

    def press(self, keys: str) -> None:
        for key in keys:
            self.keypad.press(key)


async def test_the_end_key_finishes_an_entry_at_once() -> None:
    pad = Pad(KeypadSpec(entry_timeout_s=10))
    pad.press("4127#")
    assert pad.entries == ["4127#"]
    assert pad.presses == 5


async def test_a_pause_finishes_an_entry() -> None:
    pad = Pad(KeypadSpec(entry_timeout_s=0.05))
    pad.press("1")
    assert pad.entries == []
    await pad.entered.wait()
    assert pad.entries == ["1"]


async def test_a_long_run_of_keys_is_cut_at_max_keys() -> None:
    pad = Pad(KeypadSpec(entry_timeout_s=10, max_keys=3))
    pad.press("12345")
    assert pad.entries == ["123"]
    pad.keypad.finish()
    assert pad.entries == ["123", "45"]


async def test_what_is_not_a_phone_key_is_ignored() -> None:
    pad = Pad(KeypadSpec(entry_timeout_s=10))
    for key in ("x", "", "12", " 7 ", "*"):
        pad.keypad.press(key)
    pad.keypad.finish()
    assert pad.entries == ["7*"]
    assert pad.presses == 2


async def test_an_unfinished_entry_is_dropped_when_the_call_ends() -> None:
    pad = Pad(KeypadSpec(entry_timeout_s=0.05))
    pad.press("99")
    pad.keypad.close()
    await asyncio.sleep(0.1)
    assert pad.entries == []


def test_an_entry_reads_as_keys_in_the_conversation() -> None:
    assert keyed_turn("41#") == "[pressed on the keypad: 4 1 #]"


@dataclass
class Line:
    sent: list[tuple[int, str]] = field(default_factory=list)

    async def publish_dtmf(self, *, code: int, digit: str) -> None:
        self.sent.append((code, digit))


async def test_keys_pressed_by_the_agent_are_livekits_dtmf_codes() -> None:
    line = Line()
    await press_keys(line, "1 0*#", gap_s=0)
    assert line.sent == [(1, "1"), (0, "0"), (10, "*"), (11, "#")]


@pytest.mark.parametrize("keys", ["", "call 911", "12x", "+15551230000"])
async def test_anything_but_phone_keys_is_refused_before_a_key_is_sent(keys: str) -> None:
    line = Line()
    with pytest.raises(ValueError, match="digits"):
        await press_keys(line, keys, gap_s=0)
    assert line.sent == []
