"""A profile's ``[telephony]`` section: how the agent behaves on a phone call (LiveKit SIP).

Everything is optional; a profile without the section answers phone calls with its persona's
greeting, cannot transfer, does not press keys, and hangs up on a voicemail box::

    [telephony]
    greeting = "Thanks for calling Harbor Bikes, this is Sam."

    [telephony.turns]              # a phone line is noisier than a browser's microphone
    min_interruption_s = 0.8

    [telephony.keypad]
    entry_timeout_s = 2.0          # a pause this long ends a keyed entry ("#" ends it at once)
    send = true                    # the agent may press keys (another system's menu)

    [[telephony.transfer]]         # the only places a call can be transferred to
    name = "front desk"
    to = "tel:+15551230000"        # or "sip:desk@pbx.example.com"
    when = "the caller asks for a person"
    warm = true                    # the agent may brief the person before connecting

    [telephony.voicemail]          # an outbound call answered by a machine
    action = "leave_message"       # or "hang_up"
    message = "Hi, this is Harbor Bikes about your repair; please call us back."
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TRANSFER_URI = re.compile(r"^(tel:\+[1-9]\d{6,14}|sips?:[^@\s]+@[^@\s]+)$")
"""A transfer destination: ``tel:`` with an E.164 number, or a ``sip:``/``sips:`` URI."""
TARGET_NAME = re.compile(r"^[a-z][a-z0-9 _-]{0,39}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhoneTurnsSpec(_Strict):
    """Turn-taking on a phone line; each set field replaces the worker's ``TANDEM_RESPONDER_*``
    value for phone calls (unset: the worker's)."""

    min_interruption_s: float | None = Field(
        0.8,
        ge=0,
        le=5,
        description="Caller speech needed to interrupt the agent (line noise and echo are "
        "louder on a phone line than in a browser).",
    )
    eagerness: Literal["low", "medium", "high", "auto"] | None = Field(
        None, description="Semantic VAD eagerness on phone calls."
    )
    endpointing_s: float | None = Field(
        None, ge=0, le=3, description="Local turn detection: silence before a turn is final."
    )
    idle_nudge_s: float | None = Field(
        None, ge=2, le=120, description="Caller silence before the agent asks if they are there."
    )


class KeypadSpec(_Strict):
    """Keys pressed on the phone (DTMF)."""

    entry_timeout_s: float = Field(
        2.0,
        gt=0,
        le=10,
        description="A pause this long after a key ends the entry ('#' ends it at once).",
    )
    max_keys: int = Field(32, ge=1, le=64, description="Longest entry (keys).")
    send: bool = Field(
        False,
        description="The agent may press keys itself (to get through another system's menu on "
        "an outbound call).",
    )


class TransferTarget(_Strict):
    """A person or team a call may be transferred to. The model names the target; the number is
    only ever read from here."""

    name: str = Field(description="What the agent calls it, e.g. 'front desk' (lower case).")
    to: str = Field(description="'tel:+15551230000' or 'sip:desk@pbx.example.com'.")
    when: str = Field(
        min_length=1, max_length=300, description="When to offer this transfer (the model reads)."
    )
    warm: bool = Field(
        False,
        description="The agent may brief the person before the caller is connected (the caller "
        "hears hold music meanwhile); otherwise transfers are cold.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TARGET_NAME.match(value):
            raise ValueError(
                "a transfer target's name is lower case letters, digits, spaces, '-' or '_' "
                "(up to 40), starting with a letter"
            )
        return value

    @field_validator("to")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not TRANSFER_URI.match(value):
            raise ValueError(
                "a transfer destination is 'tel:' and an E.164 number ('tel:+15551230000') "
                "or a SIP URI ('sip:desk@pbx.example.com')"
            )
        return value


class VoicemailSpec(_Strict):
    """What an outbound call does when an answering machine picks up."""

    action: Literal["leave_message", "hang_up"] = Field(
        "hang_up", description="Leave the message below, or hang up without a word."
    )
    message: str | None = Field(
        None,
        min_length=1,
        max_length=600,
        description="Said verbatim once the greeting is over ({business}: the profile's name).",
    )

    @model_validator(mode="after")
    def _message_to_leave(self) -> VoicemailSpec:
        if self.action == "leave_message" and not self.message:
            raise ValueError("voicemail action 'leave_message' needs a message")
        return self


class TelephonySpec(_Strict):
    """The profile's ``[telephony]`` section (see the module docstring)."""

    greeting: str | None = Field(
        None, min_length=1, description="Said first on a phone call (default: the persona's)."
    )
    turns: PhoneTurnsSpec = PhoneTurnsSpec()
    keypad: KeypadSpec = KeypadSpec()
    transfer: tuple[TransferTarget, ...] = Field(
        (), description="Where calls may be transferred; empty: no transfers."
    )
    voicemail: VoicemailSpec = VoicemailSpec()

    @field_validator("transfer")
    @classmethod
    def _unique_names(cls, value: tuple[TransferTarget, ...]) -> tuple[TransferTarget, ...]:
        names = [target.name for target in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"transfer target names must differ: {', '.join(repeated)}")
        return value

    def target(self, name: str) -> TransferTarget | None:
        """The transfer target called ``name`` (case and spacing forgiven), if it is listed."""
        wanted = " ".join(name.lower().split())
        return next((t for t in self.transfer if t.name == wanted), None)
