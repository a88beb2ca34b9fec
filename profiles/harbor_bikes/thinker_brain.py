"""Harbor Bikes' offline thinker brain: the generic knowledge brain, plus one rule that sends
"is my bike ready? ticket 4127" to the shop's own ``repair_status`` tool.

Named in ``profile.toml`` (``[offline] thinker_brain``); used without ``ANTHROPIC_API_KEY``, where
Claude would otherwise pick the tool itself. Rule-based and labelled as such: it understands a
repair-status question with a ticket number and nothing more; everything else goes to
:class:`~thinker.offline_brain.KnowledgeBrain`, which answers from the shop's knowledge files or
says plainly that it doesn't have that information.
"""

from __future__ import annotations

import asyncio
import re

from profiles.harbor_bikes.tools import ticket_number
from shared.bus import TaskOutcome
from shared.profile import Profile
from thinker.brain import BrainContext
from thinker.offline_brain import KnowledgeBrain

TOOL = "repair_status"
ASK_FOR_TICKET = (
    "To check on a repair I need the four-digit ticket number from the receipt. What is it?"
)

_TICKET = re.compile(r"\bticket\b|#\s*\d", re.IGNORECASE)
_ABOUT_A_REPAIR = re.compile(
    r"\b(?:my|our) (?:repair|service)\b|\bstatus of\b"
    r"|\b(?:is|are) (?:my|our|the) (?:bike|bicycle|e-?bike)s? (?:ready|done|fixed|finished)\b"
    r"|\b(?:ready|done|fixed) (?:yet|to pick up|for pick ?up)\b",
    re.IGNORECASE,
)


def wants_repair_status(request: str) -> bool:
    """Whether ``request`` asks how a repair is going (a ticket number, or words like "is my
    bike ready"), rather than a question about the shop."""
    number = ticket_number(request) if _TICKET.search(request) else None
    return number is not None or _ABOUT_A_REPAIR.search(request) is not None


class HarborBikesBrain:
    """A :class:`~thinker.brain.Brain` for Harbor Bikes, offline: repair tickets through
    ``repair_status``, everything else through the generic knowledge brain."""

    name = "harbor-bikes-offline"

    def __init__(self, profile: Profile, think_s: float = 0.0) -> None:
        self.profile = profile
        self._think_s = think_s
        self._knowledge = KnowledgeBrain(profile, think_s)

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        """The repair's status from the tool, or the knowledge brain's answer."""
        request = ctx.task.request
        if not wants_repair_status(request):
            return await self._knowledge.answer(ctx)
        await asyncio.sleep(self._think_s)
        earlier = [turn.text for turn in reversed(ctx.task.context) if turn.role == "caller"]
        number = next(filter(None, map(ticket_number, [request, *earlier])), None)
        if number is None:
            return TaskOutcome(text=ASK_FOR_TICKET, data={"intent": "repair_status"})
        if TOOL not in {tool.name for tool in ctx.tools}:
            return TaskOutcome(
                text="I can't look repairs up right now; the workshop can call you back.",
                data={"intent": "repair_status"},
            )
        result = await ctx.run_tool(TOOL, {"ticket": number})
        text = result.content
        if result.is_error:
            text = (
                f"I can't find a repair ticket {_spaced(number)}. Could you read the number on "
                "your receipt again?"
            )
        return TaskOutcome(text=text, data={"intent": "repair_status", "tool_calls": [TOOL]})


def _spaced(number: str) -> str:
    """A ticket number read digit by digit ("4 1 9 9"), as a phone agent would say it."""
    return " ".join(number)
