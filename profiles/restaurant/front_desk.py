"""The demo restaurant's offline responder brain: the generic front desk with the restaurant's
routing.

It hands only restaurant requests to the thinker (bookings in the words callers use, the menu,
hours, the bill, the weather...; read with :mod:`profiles.restaurant.language`) and turns
anything else away politely; it acknowledges a booking request as one, hands the caller's answer
to a question about their booking (the name, its spelling, the party size...) back to the
thinker even when it is only a name or spelled letters, and rewords the restaurant thinker
brain's bookkeeping sentences ("Booking it needs the caller's confirmation ...") as a host would
say them ("Shall I book it under the name Rivera?", "Could you spell the name for me, please?").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from livekit.agents import llm

from profiles.restaurant.language import clauses, parse_name
from responder.backchannel import is_backchannel
from responder.offline.brain import (
    Decision,
    OfflineFrontDesk,
    Rewrite,
    asks_several,
    is_small_talk,
)
from shared.names import spelled_name

_DOMAIN = re.compile(
    r"\b(?:book\w*|reserv\w*|tables?|availab\w*|free|seats?|cancel\w*|TT-\w+|open\w*|clos\w*|"
    r"hours|menu|price\w*|cost|dish\w*|food|eat|allerg\w*|gluten|vegan|vegetarian|nuts?|dairy|"
    r"park\w*|car|dogs?|pets?|address|where|located|location|metro|pay\w*|cards?|cash|kids?|"
    r"child\w*|high chair|wheelchair|accessib\w*|private|events?|wine|drinks?|dessert\w*|"
    r"tiramis\w*|pasta|pizza|terrace|deposit|weather|rain\w*|time is it|bill|split|tip|"
    r"tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_BOOKING = re.compile(r"\b(?:book\w*|reserv\w*|table|availab\w*)\b", re.IGNORECASE)
_ASKED_DETAIL = re.compile(
    r"\b(?:spell|what name|which name|how many|which day|what day|what time|could you tell me|"
    r"shall i book it under the name)\b",
    re.IGNORECASE,
)
"""An agent line asking the caller for a detail of their booking (or reading the name back):
the caller's next turn answers it, whatever words it has."""
_GOODBYE = re.compile(r"\b(?:bye|goodbye|never ?mind|forget it)\b", re.IGNORECASE)
_YES_NO = (
    "yes yeah yep sure please no nope ok okay correct that's thats right go ahead book it do "
    "thanks thank you great perfect fine lovely"
)
_YES_NO_WORDS = frozenset(_YES_NO.split())
"""Words of a plain yes or no: such a turn is no answer to a question about a detail."""
_TASK_STARTED = re.compile(r"\bTask (\d+) started\b")
_READ_BACK = re.compile(r"\bShall I book it under the name\b", re.IGNORECASE)

OFF_DOMAIN_LINE = (
    "Sorry, I can only help with bookings and questions about the restaurant. "
    "What can I do for you?"
)

REWRITES: tuple[Rewrite, ...] = (  # the thinker's bookkeeping sentences, as a host would say them
    (
        re.compile(
            r"Booking it needs the caller's confirmation of the details: .*?, under the "
            r"name (.+?)\.?$"
        ),
        r"Shall I book it under the name \1?",
    ),
    (re.compile(r"^Booked\.$"), ""),
    (re.compile(r"^Booking (TT-\w+): (.*?)\.?$"), r"You're all set: \2. Your reference is \1."),
    (re.compile(r"Cancelling it needs the caller's confirmation\.?"), "Shall I cancel it?"),
    (re.compile(r"To book it I still need the name for the booking\.?"), "What name is it under?"),
    (
        re.compile(r"Before booking, the name needs spelling: .*$"),
        "Could you spell the name for me, please?",
    ),
    (re.compile(r"To check for a table I still need to know (.*?)\.?$"), r"Could you tell me \1?"),
    (re.compile(r"^Yes: "), "Good news: "),
)


class FrontDeskBrain(OfflineFrontDesk):
    """The restaurant's rule-based front desk (``FrontDeskBrain(profile)``, as the responder
    builds any profile's offline brain): delegates restaurant requests only, handles "yes, book
    it" after a read-back."""

    rewrites = REWRITES
    confirmation = re.compile(r"\bShall I book\b|\bShall I cancel\b")
    confirmed_acknowledgement = "Great, I'll do that now."
    confirmed_request = "Yes, go ahead."
    """The thinker reads what was confirmed (a booking, a cancellation) from the question."""
    fallback_line = OFF_DOMAIN_LINE

    def is_request(self, text: str) -> bool:
        """Whether ``text`` is about the restaurant (anything else is turned away)."""
        if is_small_talk(text):
            return False
        if any(intent for intent, _ in clauses(text)) or spelled_name(text):
            return True
        return _DOMAIN.search(text) is not None

    def acknowledgement(self, text: str) -> str:
        """A booking request is checked; a question is looked up."""
        intents = [intent for intent, _ in clauses(text) if intent is not None]
        if len(intents) == 1 and intents[0] in ("book", "availability"):
            return "Let me check that for you."  # "Hello? Could I book ...?" asks one thing
        if not asks_several(text) and _BOOKING.search(text):
            return "Let me check that for you."
        return super().acknowledgement(text)

    def decide(self, items: Sequence[llm.ChatItem]) -> Decision:
        """As the generic desk decides, except that the caller's answer to a question about
        their booking (a name, its spelling, "four of us") goes to the thinker as it is."""
        answer = _answer_to_booking_question(items)
        return answer if answer is not None else super().decide(items)


def _answer_to_booking_question(items: Sequence[llm.ChatItem]) -> Decision | None:
    """A delegation of the caller's last turn when it answers the agent's question about their
    booking; None when it does not (a plain yes or no, a backchannel, a goodbye, no question)."""
    if not items or not isinstance(last := items[-1], llm.ChatMessage) or last.role != "user":
        return None
    text = (last.text_content or "").strip()
    said = next(
        (
            item
            for item in reversed(items[:-1])
            if isinstance(item, llm.ChatMessage) and item.role == "assistant" and item.text_content
        ),
        None,
    )
    asked = (said.text_content or "") if said is not None else ""
    if not text or not _ASKED_DETAIL.search(asked) or is_backchannel(text) or _GOODBYE.search(text):
        return None
    if _READ_BACK.search(asked) and not (spelled_name(text) or parse_name(text)):
        return None  # a yes or no is the generic desk's; a new name is an answer
    if all(word in _YES_NO_WORDS for word in re.findall(r"[a-z']+", text.lower())):
        return None
    arguments: dict[str, object] = {"request": text}
    task = _latest_task(items)
    if said is not None and said.interrupted and task is not None:
        arguments["replaces_task"] = task  # answered over the question: not asked again
    return Decision("Thank you.", [("delegate", arguments)])


def _latest_task(items: Sequence[llm.ChatItem]) -> int | None:
    """The number of the latest task delegated (from its "Task N started." output)."""
    for item in reversed(items):
        found = (
            _TASK_STARTED.search(item.output)
            if isinstance(item, llm.FunctionCallOutput) and item.name == "delegate"
            else None
        )
        if found:
            return int(found.group(1))
    return None
