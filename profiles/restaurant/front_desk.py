"""The demo restaurant's offline responder brain: the generic front desk with the restaurant's
routing.

It hands only restaurant requests to the thinker (bookings, the menu, hours, the bill, the
weather...) and turns anything else away politely; it acknowledges a booking request as one, and
rewords the restaurant thinker brain's bookkeeping sentences ("Booking it needs the caller's
confirmation ...") as a host would say them ("Shall I book it under the name Rivera?").
"""

from __future__ import annotations

import re

from responder.offline.brain import OfflineFrontDesk, Rewrite, asks_several

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
    (re.compile(r"To check for a table I still need to know (.*?)\.?$"), r"Could you tell me \1?"),
    (re.compile(r"^Yes: "), "Good news: "),
)


class FrontDeskBrain(OfflineFrontDesk):
    """The restaurant's rule-based front desk (``FrontDeskBrain(profile)``, as the responder
    builds any profile's offline brain): delegates restaurant requests only, handles "yes, book
    it" after a read-back."""

    rewrites = REWRITES
    confirmation = re.compile(r"\bShall I book\b|\bShall I cancel\b")
    confirmed_acknowledgement = "Great, I'll book that now."
    confirmed_request = "Yes, go ahead and book it."
    fallback_line = OFF_DOMAIN_LINE

    def is_request(self, text: str) -> bool:
        """Whether ``text`` is about the restaurant (anything else is turned away)."""
        return _DOMAIN.search(text) is not None

    def acknowledgement(self, text: str) -> str:
        """A booking request is checked; a question is looked up."""
        if not asks_several(text) and _BOOKING.search(text):
            return "Let me check that for you."
        return super().acknowledgement(text)
