"""Backchannels: "mm-hm", "uh-huh", "right" — the caller showing they are listening, not taking
the turn. While the agent is speaking these must neither interrupt it nor start a reply."""

from __future__ import annotations

import re

_BACKCHANNEL = re.compile(
    r"^\W*(?:(?:mm+|hmm+|m+[- ]?hm+|uh[- ]?huh|uh|um|ok(?:ay)?|right|yeah|yes|yep|sure|i see|"
    r"got it|alright|cool|great)\W*)+$",
    re.IGNORECASE,
)


def is_backchannel(text: str) -> bool:
    """True if ``text`` (a transcript) is only listening noises and one-word acknowledgements."""
    return bool(text.strip()) and _BACKCHANNEL.match(text) is not None
