"""How the demo restaurant's offline brains read a caller's request: its intent and its slots.

Rules, not a model: the offline stand-ins for Claude and the realtime model must be repeatable
and run anywhere. They read booking language as callers speak it and Whisper writes it down:
numbers as words or digits ("six of us", "for 2"), approximate times ("around half past seven",
"eight-ish", "quarter to nine", "half seven", "noon"), relative days ("tomorrow night", "the
day after tomorrow", "Saturday the 19th"), and names after the phrases callers use ("the name's
Okafor", "under Patel", "it's for Nguyen"; Whisper writes "the name's" as "the names").
``python -m bench.phrasings`` measures them on requests written independently of these rules.

Intents: ``book`` (the caller wants a table), ``availability`` (asks whether there is room),
``cancel``, ``find`` (asks about a booking they have), ``knowledge`` (a question about the
restaurant), and ``time``, ``weather``, ``bill``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from shared.names import tidy_name

__all__ = [
    "BOOKING_INTENTS",
    "NOT_NAMES",
    "Request",
    "clauses",
    "intent_of",
    "numbers_as_digits",
    "parse_date",
    "parse_name",
    "parse_party_size",
    "parse_reference",
    "parse_time",
    "understand",
]

BOOKING_INTENTS = frozenset({"book", "availability", "cancel", "find"})
"""Intents about the caller's table: their details are read from the whole request, once."""

# -- numbers -------------------------------------------------------------------------------------

_UNIT_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_UNITS = _UNIT_WORDS.split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
_NUMBER_WORDS = {word: n for n, word in enumerate(_UNITS)} | _TENS
_COMPOUND = re.compile(rf"\b({'|'.join(_TENS)})[\s-]+({'|'.join(_UNITS[1:10])})\b", re.IGNORECASE)
_SINGLE_NUMBER = re.compile(rf"\b({'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)
_HOUR_MINUTES = re.compile(
    r"\b([1-9]|1[0-2]) ([1-5][05])\b(?! ?(?:people|persons|guests|adults|of us))"
)
"""An hour and minutes said as words ("seven thirty", "eight fifteen") once turned to digits."""
_TIME_CUE = r"(?:at|around|about|by|say|from|after|before)"
_RUN_TOGETHER = re.compile(
    rf"\b({_TIME_CUE} )(1?\d)([0-5]\d)\b|\b(1?\d)([0-5]\d) ?(?=am\b|pm\b|a\.m|p\.m)"
)
"""Whisper's way with a clock time: "at 730", "at 1930", "815pm"."""
_TENS_OF_MINUTES = re.compile(rf"\b({_TIME_CUE} )(1?\d)\.([1-5])(?!\d)")
"""...and "at 7.3" for "at seven thirty"."""


def numbers_as_digits(text: str) -> str:
    """``text`` in lower case with number words as digits ("Forty-five" -> "45") and an hour
    said with its minutes as a clock time ("seven thirty" -> "7:30")."""
    lowered = text.lower().replace("\u2019", "'")
    lowered = _COMPOUND.sub(lambda m: str(_TENS[m[1]] + _NUMBER_WORDS[m[2]]), lowered)
    lowered = _SINGLE_NUMBER.sub(lambda m: str(_NUMBER_WORDS[m[1]]), lowered)
    lowered = _RUN_TOGETHER.sub(_clock_digits, lowered)
    lowered = _TENS_OF_MINUTES.sub(r"\1\2:\g<3>0", lowered)
    return _HOUR_MINUTES.sub(r"\1:\2", lowered)


def _clock_digits(found: re.Match[str]) -> str:
    cue, hour, minutes = found[1] or "", found[2] or found[4], found[3] or found[5]
    return f"{cue}{hour}:{minutes}" if int(hour) <= 23 else found[0]


# -- party size ----------------------------------------------------------------------------------

_NOT_A_TIME = (
    r"(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?\s?clock|-?\s?ish|in the (?:evening|morning)))"
)
_PARTY_PATTERNS = (
    re.compile(
        r"\b(\d{1,2}) (?:people|persons|person|guests|adults|diners|pax|of us|of them|"
        r"more people)\b"
    ),
    re.compile(
        rf"\b(?:party|group|family|table|booking|reservation) of (\d{{1,2}})\b{_NOT_A_TIME}"
    ),
    re.compile(
        rf"\b(?:we're|we are|we'll be|we will be|there's|there is|there are|there'll be|"
        rf"there will be) (?:a party of |a group of |just )?(\d{{1,2}})\b{_NOT_A_TIME}"
    ),
    re.compile(
        rf"\bfor,? (?:a party of |a group of |a family of |(?:uh|um|er),? )?(\d{{1,2}})\b"
        rf"{_NOT_A_TIME}(?!(?:st|nd|rd|th)\b)"
    ),
    re.compile(rf"\b(?:fit|squeeze|seat|sit) (?:in )?(\d{{1,2}})\b{_NOT_A_TIME}"),
    re.compile(r"\bfor,? (for)\b"),  # Whisper hears "for four" as "for for"
)
_ALONE = re.compile(r"\b(?:just|only) (?:me|myself|the 1 of us)\b|\bfor 1\b(?! ?[:.]\d)")
_TWO = re.compile(
    r"\b(?:me and my|myself and my|my (?:wife|husband|partner) and (?:i|me))\b|"
    r"\bfor a couple\b|\ba couple of us\b"
)


def parse_party_size(text: str) -> int | None:
    """The party size in ``text`` ("for four", "6 people", "a party of eight", "we're two",
    "fit six of us in", "just me"), or None."""
    norm = numbers_as_digits(text)
    for pattern in _PARTY_PATTERNS:
        if found := pattern.search(norm):
            return 4 if found.group(1) == "for" else int(found.group(1)) or None
    if _ALONE.search(norm):
        return 1
    if _TWO.search(norm):
        return 2
    return None


# -- time ----------------------------------------------------------------------------------------

_MERIDIEM = r"(am|pm|a\.m\.?|p\.m\.?)(?![a-z])"
_CLOCK = re.compile(rf"\b(\d{{1,2}})[:.](\d{{2}})(?!\d)\s*(?:{_MERIDIEM})?")
_PAST_TO = re.compile(r"\b(half|quarter|\d{1,2})(?: minutes)? (past|after|to) (\d{1,2})\b")
_HEARD_AS_HALF = re.compile(r"\b(?:have|hav|halve)(?= past \d)")
"""How Whisper writes "half" before "past" ("for four people that have past eight"): nothing
else in English says "have past 8"."""
_HALF = re.compile(r"\bhalf (\d{1,2})\b(?! ?(?:people|of|hour|an))")
_HOUR_MARKED = re.compile(
    rf"\b(\d{{1,2}})\s*(?:{_MERIDIEM}|o'?\s?clock|-?\s?ish\b|"
    r"(?=\s(?:in the evening|at night|in the afternoon|tonight|this evening)))"
)
_HOUR_AFTER = re.compile(
    r"\b(?:at|around|about|by|say|after|before|from|for around|for about|maybe)\s+"
    r"(?:around |about |like )?(\d{1,2})\b(?!\s*(?:people|persons|guests|adults|of us|"
    r"st\b|nd\b|rd\b|th\b|[:.]\d))"
)
_MORNING = re.compile(r"\b(?:in the morning|am|a\.m\.?)(?![a-z])")


def parse_time(text: str) -> str | None:
    """The arrival time in ``text`` as 24-hour ``HH:MM``, or None.

    "7:30", "7.30pm", "seven thirty", "half past seven", "quarter to eight", "twenty past
    seven", "half seven", "eight o'clock", "eight-ish", "around nine", "noon", "midnight". A bare
    hour below 12 is in the afternoon or evening (the restaurant opens at noon); a leading zero
    ("07:30") or "am" keeps it in the morning.
    """
    norm = _HEARD_AS_HALF.sub("half", numbers_as_digits(text))
    if re.search(r"\b(?:noon|midday|12 noon)\b", norm):
        return "12:00"
    if re.search(r"\bmidnight\b", norm):
        return "00:00"
    if found := _CLOCK.search(norm):
        return _clock(found.group(1), int(found.group(2)), found.group(3))
    if found := _PAST_TO.search(norm):
        amount = {"half": 30, "quarter": 15}.get(found.group(1)) or int(found.group(1))
        hour = int(found.group(3))
        if amount >= 60 or not 1 <= hour <= 12:
            return None
        if found.group(2) == "to":
            return _clock(str(hour - 1 or 12), 60 - amount, None)
        return _clock(found.group(3), amount, None)
    if found := _HALF.search(norm):
        return _clock(found.group(1), 30, None)
    for pattern in (_HOUR_MARKED, _HOUR_AFTER):
        if found := pattern.search(norm):
            meridiem = found.group(2) if pattern is _HOUR_MARKED else None
            if meridiem is None and _MORNING.search(norm[found.end() : found.end() + 16]):
                meridiem = "am"
            return _clock(found.group(1), 0, meridiem)
    return None


def _clock(hour_text: str, minutes: int, meridiem: str | None) -> str | None:
    hour = int(hour_text)
    if meridiem and meridiem[0] == "p" and hour < 12:
        hour += 12
    elif meridiem and meridiem[0] == "a" and hour == 12:
        hour = 0
    elif not meridiem and 1 <= hour <= 11 and hour_text[0] != "0":
        hour += 12  # a bare small hour: the restaurant opens at noon
    return f"{hour:02d}:{minutes:02d}" if hour <= 23 and minutes <= 59 else None


# -- day -----------------------------------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_WORDS = (
    "january february march april may june july august september october november december"
)
_MONTHS = _MONTH_WORDS.split()
_ORDINAL_WORDS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
)
_ORDINAL_UNITS = _ORDINAL_WORDS.split()
_ORDINALS = (
    {word: n for n, word in enumerate(_ORDINAL_UNITS, 1)}
    | {"twentieth": 20, "thirtieth": 30}
    | {f"twenty {word}": 20 + n for n, word in enumerate(_ORDINAL_UNITS[:9], 1)}
    | {"thirty first": 31}
)
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)|(" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + ")"
_MONTH = r"(" + "|".join(_MONTHS) + r")"
_DATES = (  # (pattern, group of the day, group of the month or 0)
    (re.compile(rf"\b{_MONTH}\s+(?:the\s+)?(?:{_ORDINAL}|(\d{{1,2}})\b)"), (2, 3, 4), 1),
    (re.compile(rf"\b(?:the\s+)?(?:{_ORDINAL}|(\d{{1,2}}))\s+(?:of\s+)?{_MONTH}\b"), (1, 2, 3), 4),
    (re.compile(rf"\bthe\s+(?:{_ORDINAL})"), (1, 2), 0),
)
_WEEKDAY = re.compile(r"\b(next\s+|this\s+)?(" + "|".join(_WEEKDAYS) + r")s?\b")


def parse_date(text: str, today: date) -> date | None:
    """The day in ``text``, or None: an ISO date, a date in the month ("the 19th", "Saturday the
    twelfth", "December 23rd"), "the day after tomorrow", a weekday (the next such day, today
    included; "next Friday" is the coming one), tomorrow, or today ("tonight", "this evening")."""
    lowered = text.lower().replace("-", " ")
    if found := re.search(r"\b(\d{4}) (\d{2}) (\d{2})\b", lowered):
        try:
            return date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:
            return None
    for pattern, day_groups, month_group in _DATES:
        if found := pattern.search(lowered):
            day = _day_of_month(found, day_groups)
            month = _MONTHS.index(found[month_group]) + 1 if month_group else None
            if day is not None and (resolved := _next_date(today, day, month)) is not None:
                return resolved
    if re.search(r"\bday after tomorrow\b", lowered):
        return today + timedelta(days=2)
    if found := _WEEKDAY.search(lowered):
        ahead = (_WEEKDAYS.index(found[2]) - today.weekday()) % 7
        if found[1] and found[1].startswith("next") and ahead == 0:
            ahead = 7
        return today + timedelta(days=ahead)
    if re.search(r"\btomorrow\b", lowered):
        return today + timedelta(days=1)
    if re.search(r"\b(?:today|tonight|this (?:evening|afternoon|lunchtime))\b", lowered):
        return today
    return None


def _day_of_month(found: re.Match[str], groups: tuple[int, ...]) -> int | None:
    for group in groups:
        value = found[group]
        if value:
            return int(value) if value.isdigit() else _ORDINALS[" ".join(value.split())]
    return None


def _next_date(today: date, day: int, month: int | None) -> date | None:
    """The first date on or after ``today`` with this day (and month, if given)."""
    for ahead in range(0, 13):
        year, candidate_month = divmod(today.month - 1 + ahead, 12)
        if month is not None and candidate_month + 1 != month:
            continue
        try:
            candidate = date(today.year + year, candidate_month + 1, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


# -- name and reference --------------------------------------------------------------------------

_STRONG_CUES = (
    r"under the name(?: of)?|in the name of|the name's|the names|the name is|my name is|"
    r"my name's|name's|name is|named|surname's|surname is|last name is|last name's|"
    r"(?:booking|reservation|table)(?:'s| is| was| will be) (?:for|under)|it's under|under|"
    r"name(?! (?:is it|for|of))"
)
_WEAK_CUES = r"it's for|it was for|it is for|for|it's|it is|this is|i'm|i am"
_WORD = r"[A-Za-z][A-Za-z'-]*"
_STRONG = re.compile(
    rf"(?i:\b(?:{_STRONG_CUES}))[\s,:]+(?:(?i:a|an)\s+)?({_WORD})(?:\s+({_WORD}))?"
)
_WEAK = re.compile(rf"(?i:\b(?:{_WEAK_CUES}))\s+([A-Z][A-Za-z'-]*)(?:\s+([A-Z][A-Za-z'-]*))?")
_COMMON_WORDS = (
    "a an and the at on in of for to is it it's its be was will with please thanks thank "
    "you yes no ok okay so sorry just only me my myself us we our i i'm i'd i'll you your "
    "today tonight tomorrow lunch lunchtime dinner breakfast evening night morning "
    "afternoon table tables booking reservation name people person party group family "
    "calling wondering hoping looking trying sure fine great here there this that what "
    "which who how when where why about around half quarter past noon midday midnight "
    "o'clock pm am hi hello hey um uh er well also too again spelled spelt like actually not"
)
NOT_NAMES = frozenset(
    (
        *_WEEKDAYS,
        *(f"{d}s" for d in _WEEKDAYS),
        *_MONTHS,
        *_NUMBER_WORDS,
        *_ORDINAL_UNITS,
        *_COMMON_WORDS.split(),
    )
)
"""Words never taken for a name (days, numbers, the words around a name), lower case."""
_SPELLED = re.compile(r"[A-Za-z](?:-[A-Za-z])+")
_REFERENCE = re.compile(r"\bTT[-\s]?((?:[A-Z0-9] ?){4}[A-Z0-9])\b", re.IGNORECASE)


def parse_name(text: str) -> str | None:
    """The name a booking is under, as the caller said it ("the name's Okafor", "under Patel",
    "it's for Nguyen", "my name is Ana Silva", "this is Maria Lopez"), tidied ("ocifer" ->
    "Ocifer"), or None.

    After "the name's", "under" and the like a lower-case word counts too (Whisper writes a name
    it does not know as words); after "for", "it's", "this is" or "I'm" only a capitalised one.
    """
    for pattern in (_STRONG, _WEAK):
        for found in pattern.finditer(text):
            words = [w for w in found.groups() if w]
            if (
                not words
                or words[0].lower() in NOT_NAMES
                or _REFERENCE.fullmatch(words[0])
                or _SPELLED.fullmatch(words[0])
            ):
                continue
            if len(words) > 1 and (
                words[1].lower() in NOT_NAMES or words[1][0].isupper() != words[0][0].isupper()
            ):
                words = words[:1]
            return tidy_name(" ".join(words))
    return None


def parse_reference(text: str) -> str | None:
    """A booking reference ("TT-4F7K2", "tt 4f7k2") as stored, or None."""
    found = _REFERENCE.search(text)
    return f"TT-{found.group(1).replace(' ', '').upper()}" if found else None


# -- intent --------------------------------------------------------------------------------------

_INTENT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (intent, re.compile(pattern))
    for intent, pattern in (
        (
            "cancel",
            r"\bcancel|\bcall(?:ing)? off\b|\b(?:can't|cannot|can not|won't be able to|"
            r"not be able to|unable to) (?:make it|come|make)\b|\bwon't be (?:coming|able)\b|"
            r"\btake (?:my|our|the) (?:booking|reservation|table) off\b|"
            r"\b(?:remove|drop|scrap) (?:my|our|the) (?:booking|reservation)\b",
        ),
        (
            "find",
            r"\btt[-\s]?(?:[a-z0-9] ?){4}[a-z0-9]\b|\b(?:my|our) (?:booking|reservation|table)\b|"
            r"\b(?:i|we) (?:booked|reserved|made a (?:booking|reservation)|have a "
            r"(?:booking|reservation))\b",
        ),
        (
            "knowledge",  # about the hours or the booking policy, even with a day in it
            r"\b(?:are|is) (?:you|it|the restaurant|the kitchen) (?:open|closed)\b|"
            r"\bwhat time do you (?:open|close)\b|\bwhen do you (?:open|close)\b|"
            r"\bopening (?:hours|times)\b|\bwalk[\s-]?ins?\b|\bneed (?:a |to )?(?:book|reserv)|"
            r"\btake (?:bookings|reservations)\b|\bprivate (?:events?|parties|party|dining|room)\b|"
            r"\bhow far (?:ahead|in advance)\b",
        ),
        ("time", r"\btime is it\b|\bwhat'?s the time\b|\b(?:current|local) time\b|\bthe time in\b"),
        ("weather", r"\b(?:weather|rain\w*|sunny|forecast)\b"),
        (
            "book",
            r"\bbook(?:ing)?\b(?! (?:is|was))|\breserv|\bput (?:me|us) down\b|\bfit\b|"
            r"\bsqueeze\b|\b(?:get|have|like|want|need|love) (?:a|us a|me a) table\b",
        ),
        (
            "availability",
            r"\b(?:room|space|availability|available|fully booked|booked up)\b|"
            r"\b(?:(?:is|are) there|there's|there is) (?:any |still )?(?:a )?tables?\b|"
            r"\b(?:do you|would you|have you) (?:have|got) (?:any |a )?(?:tables?|anything)\b|"
            r"\bis a table\b|\btables? (?:free|left)\b|\b(?:free|left)\b.*\b(?:for|at|on) \d|"
            r"\banything (?:for|on|at) \d",
        ),
        (
            "book",
            r"\btable\b|\b(?:party|group|family) of \d|\b\d+ (?:people|persons|guests|adults|of "
            r"us)\b|\bcome in\b|\bbring .* in\b|\b(?:dinner|lunch) for \d",
        ),
        ("bill", r"\b(?:split|tip|calculate)\b|\d\s*(?:[-+*/x\u00d7\u00f7]|times|plus|minus)\s*\d"),
        (
            "knowledge",
            r"\b(?:open\w*|clos\w*|hours|menu|price\w*|cost|dish\w*|food|serve|cuisine|"
            r"allerg\w*|gluten|vegan|vegetarian|halal|kosher|nuts?|dairy|parking|park|car|"
            r"dogs?|pets?|address|where are you|located|location|metro|bus|train|get (?:there|to "
            r"you)|pay|payment|cards?|cash|child\w*|kids?|bab(?:y|ies)|high chairs?|wheelchair|"
            r"accessib\w*|events?|wine|corkage|drinks?|cocktails?|beer|coffee|dessert\w*|"
            r"tiramis\w*|pasta|pizza|terrace|outside|garden|deposit|music|dress code|wifi|"
            r"birthday|cake|chef|tasting)\b",
        ),
        (
            "knowledge",  # any other question to the restaurant: the knowledge may answer it
            r"^\W*(?!how are you|how's it going)(?:do|does|did|is|are|can (?:i|we)|could (?:i|we)|"
            r"what|what's|how|where|when|which|who|will|would)\b.*\b(?:you|your|there|"
            r"the restaurant|i|we)\b",
        ),
    )
)
_SLOTS_TO_BOOK = 2
"""A request with this many of party size, day and time and no other intent wants a table
("We're four, Friday, eight-ish")."""


def intent_of(text: str) -> str | None:
    """The first intent whose rule matches ``text`` (one clause), or None."""
    norm = numbers_as_digits(text)
    for intent, pattern in _INTENT_RULES:
        if pattern.search(norm):
            return intent
    found = (parse_party_size(text), parse_time(text), _any_day(norm))
    if sum(value is not None for value in found) >= _SLOTS_TO_BOOK:
        return "book"
    return None


def _any_day(norm: str) -> str | None:
    day = re.search(r"\b(?:today|tonight|tomorrow|" + "|".join(_WEEKDAYS) + r")\b", norm)
    return day.group(0) if day else None


@dataclass(frozen=True)
class Request:
    """What a request says: its intent and the booking slots it carries (None: not said)."""

    intent: str | None
    party_size: int | None = None
    day: date | None = None
    time: str | None = None
    name: str | None = None
    reference: str | None = None

    def slots(self) -> dict[str, object]:
        """The slots by name."""
        return {
            "party_size": self.party_size,
            "day": self.day,
            "time": self.time,
            "name": self.name,
            "reference": self.reference,
        }


_CLAUSES = re.compile(
    r"(?<=[?!.])\s+|[,;]?\s+and\s+(?=(?:is|are|do|does|can|could|what|what's|how|where|when|"
    r"will|would)\b)",
    re.IGNORECASE,
)


def clauses(request: str) -> list[tuple[str | None, str]]:
    """(intent, clause) for each sentence or "and"-joined question of ``request``."""
    parts = filter(None, (part.strip() for part in _CLAUSES.split(request)))
    return [(intent_of(part), part) for part in parts]


def understand(text: str, today: date) -> Request:
    """The intent of ``text`` (its first clause that has one, a booking intent first) and its
    slots, days resolved against ``today``."""
    intents = [intent for intent, _ in clauses(text) if intent is not None]
    booking = [intent for intent in intents if intent in BOOKING_INTENTS]
    intent = (booking or intents)[0] if intents else intent_of(text)
    return Request(
        intent=intent,
        party_size=parse_party_size(text),
        day=parse_date(text, today),
        time=parse_time(text),
        name=parse_name(text),
        reference=parse_reference(text),
    )
