"""What the caller is likely to say next, as a hint to the speech-to-text.

Whisper transcribes better when it is told what came before. After the agent asks the caller
to spell a name, the next words are letters: primed with a few spelled names, Whisper writes
"N-G-U-Y-E-N." or "D-U-B-O-I-S." where it otherwise writes "and G-U-Y-E-N." or "UBOIS.".
Measured on 16 spelled surnames in the caller voice (`make bench-stt`): the letters come back
one by one for 13 of 16 primed, 7 of 16 not; the name reads back right for 8 of 16 primed, 7 of
16 not (the rest are letters misheard, "P-O-T-E-L", which the read-back lets the caller
correct). The prompt names none of the caller's own details, so it cannot put words in their
mouth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from livekit.agents import llm

SPELLING_PROMPT = "Could you spell that? Sure: B-R-O-W-N. H-A-R-R-I-S."
"""Said before the caller spells a name: spelled names in Whisper's own style."""
_ASKS_TO_SPELL = re.compile(r"\bspell", re.IGNORECASE)


def transcript_prompt(items: Iterable[llm.ChatItem]) -> str | None:
    """The prompt for the caller's next words, given the conversation so far: the spelling
    prompt when the agent's latest line asked for a spelling, else None."""
    for item in reversed(list(items)):
        if isinstance(item, llm.ChatMessage) and item.role in ("assistant", "user"):
            if item.role == "user":
                return None  # the caller already answered the agent's latest line
            return SPELLING_PROMPT if _ASKS_TO_SPELL.search(item.text_content or "") else None
    return None
