"""The demo restaurant's offline thinker brain: deterministic rules standing in for Claude.

Used when no ``ANTHROPIC_API_KEY`` is set, so the demo and the tests run offline (the profile
names it as its ``offline.thinker_brain``). It matches the request against a handful of
patterns, calls the same tools a model would through :class:`~thinker.brain.BrainContext`, and
answers with their facts (error results included: "that time has already passed" is a fact the
caller needs to hear). It does not try to understand language beyond those patterns; anything
else fails with a message the responder can speak around.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.bus import TaskFailed, TaskOutcome
from shared.passages import best_passages
from shared.profile import Profile
from thinker.brain import BrainContext
from tools import ToolResult

OFF_DOMAIN = (
    "I can only help with the restaurant's bookings, questions, the time, the bill and the "
    "weather right now"
)

_MAX_TEXT = 8000
"""The wire's limit on a result's text (several long knowledge sections could pass it)."""
_KNOWLEDGE_PASSAGES = 3
"""At most this many passages answer one knowledge question (a phone answer, not a section)."""
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
_WORDS = {word: number for number, word in enumerate(_NUMBER_WORDS.split(" "))}
_N = r"(\d{1,2}|" + "|".join(_WORDS) + ")"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NOT_NAMES = {*_WEEKDAYS, *_WORDS, "today", "tonight", "tomorrow", "lunch", "dinner", "the"}

_PARTY = re.compile(
    rf"\b(?:for|party of|group of)\s+{_N}\b(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?clock))"
    rf"|\b{_N}\s+(?:people|persons|guests|adults|of us)\b"
)
_DAY = re.compile(rf"\b(\d{{4}}-\d{{2}}-\d{{2}}|today|tonight|tomorrow|{'|'.join(_WEEKDAYS)})\b")
_AM_PM = r"(am|pm|a\.m\.|p\.m\.)(?![a-z])"
_TIMES = (  # most specific first; each yields (hour, minutes, am/pm), the last two optional
    re.compile(rf"\b(\d{{1,2}}):(\d{{2}})\s*(?:{_AM_PM})?"),
    re.compile(rf"\b{_N}(?:\.(\d{{2}}))?\s*(?:{_AM_PM}|o'?clock)"),
    re.compile(rf"\bat\s+{_N}()()(?!\w|[:.]\d)"),
)
_PAST_TO = re.compile(rf"\b(half|quarter)\s+(past|to)\s+{_N}\b")
_NAME = re.compile(
    r"(?i:\b(?:under the name(?: of)?|under|my name is|name is|name's|i'm|i am|this is|for))"
    r"\s+([A-Z][a-zA-Z'-]+)(?:\s+([A-Z][a-zA-Z'-]+))?"
)
_REFERENCE = re.compile(r"\bTT-[A-Z0-9]{5}\b", re.IGNORECASE)
_PLACE = re.compile(
    r"\bin\s+([A-Za-z][\w .'/-]*?)\s*(?:\b(?:right now|now|today|tonight|tomorrow|"
    r"at the moment|this (?:morning|afternoon|evening))\b)?\s*[?.!]*$",
    re.IGNORECASE,
)
_CLAUSES = re.compile(
    r"(?<=[?!.])\s+|[,;]?\s+and\s+(?=(?:is|are|do|does|can|could|what|what's|how|where|when|"
    r"will|would)\b)",
    re.IGNORECASE,
)
_INTENTS = (  # first match wins
    ("lookup", r"\bTT-|\b(?:my|our|the) (?:booking|reservation)\b|\bcancel"),
    ("time", r"\btime is it\b|\bwhat'?s the time\b|\b(?:current|local) time\b|\bthe time in\b"),
    ("weather", r"\b(?:weather|rain\w*|sunny|forecast)\b"),
    ("book", r"\b(?:book\w*|reserv\w*|table for|a table|availab\w*)\b"),
    ("bill", r"\b(?:split|tip|calculate)\b|\d\s*(?:[-+*/x\u00d7\u00f7]|times|plus|minus)\s*\d"),
    (
        "knowledge",
        r"\b(?:open\w*|clos\w*|hours|menu|price\w*|cost|dish\w*|allerg\w*|gluten|vegan|vegetarian|"
        r"nuts?|dairy|parking|park|car|dogs?|pets?|address|where are you|located|location|"
        r"metro|get there|pay|payment|cards?|cash|child\w*|kids|high chair|wheelchair|"
        r"accessib\w*|private|events?|wine|dessert\w*|tiramis\w*|pasta|terrace|deposit)\b",
    ),
)


def parse_party_size(text: str) -> int | None:
    """The party size in ``text`` ("for four", "4 people", "a table for 2"), or None."""
    found = _PARTY.search(text.lower())
    return None if found is None else _number(found.group(1) or found.group(2))


def parse_time(text: str) -> str | None:
    """The arrival time in ``text`` as 24-hour ``HH:MM``, or None.

    A bare hour below 12 ("at eight", "7:30") is in the afternoon or evening: the restaurant opens
    at noon. A leading zero ("07:30") or "am" keeps it in the morning.
    """
    lowered = text.lower()
    if re.search(r"\b(?:noon|midday)\b", lowered):
        return "12:00"
    if found := _PAST_TO.search(lowered):
        hour = _number(found.group(3))
        if found.group(2) == "to":
            return _clock(str(hour - 1 or 12), 45 if found.group(1) == "quarter" else 30, None)
        return _clock(found.group(3), 30 if found.group(1) == "half" else 15, None)
    for pattern in _TIMES:
        if found := pattern.search(lowered):
            return _clock(found.group(1), int(found.group(2) or 0), found.group(3) or None)
    return None


def parse_date(text: str, today: date) -> date | None:
    """The day in ``text``: an ISO date, today/tonight/tomorrow, or a weekday (the next such day,
    today included), or None."""
    found = _DAY.search(text.lower())
    if found is None:
        return None
    word = found.group(1)
    if word in _WEEKDAYS:
        return today + timedelta(days=(_WEEKDAYS.index(word) - today.weekday()) % 7)
    if word[0].isdigit():
        try:
            return date.fromisoformat(word)
        except ValueError:
            return None
    return today + timedelta(days=1 if word == "tomorrow" else 0)


def parse_name(text: str) -> str | None:
    """The name a booking is under ("under the name Ana", "my name is Ana", "for Ana Silva")."""
    for found in _NAME.finditer(text):
        first, last = found.group(1), found.group(2)
        if first.lower() not in _NOT_NAMES and not _REFERENCE.match(first):
            return first if last is None or last.lower() in _NOT_NAMES else f"{first} {last}"
    return None


def classify(request: str) -> list[tuple[str, str]]:
    """(intent, clause) for each part of ``request`` this brain can answer, in order."""
    found: list[tuple[str, str]] = []
    bookings = {"book", "lookup"}
    for clause in filter(None, (part.strip() for part in _CLAUSES.split(request))):
        intent = next((n for n, p in _INTENTS if re.search(p, clause, re.IGNORECASE)), None)
        if intent is None or (intent in bookings and any(i in bookings for i, _ in found)):
            continue  # the booking details are read from the whole request, once
        found.append((intent, clause))
    return found


class RestaurantBrain:
    """A rule-based :class:`~thinker.brain.Brain` for the demo restaurant, offline and repeatable.

    Built as the thinker builds any profile's offline brain: ``RestaurantBrain(profile,
    think_s)``. ``think_s`` simulates a model's latency per task (demos), split across its parts;
    ``clock`` gives "now" for resolving "tomorrow" and weekdays (read in the profile's time zone).
    """

    name = "offline-restaurant"

    def __init__(
        self,
        profile: Profile,
        think_s: float = 0.0,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._zone = profile.timezone
        self._clock = clock or (lambda: datetime.now(self._zone))
        self._think_s = think_s

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        """Answer each part of the request with tool facts; a partial after each but the last.

        With ``think_s``, each part first waits that long (a model's latency, simulated)."""
        intents = classify(ctx.task.request)
        if not intents:
            raise TaskFailed(OFF_DOMAIN)
        run = _Run(ctx, self._clock().astimezone(self._zone).date())
        facts: list[str] = []
        for index, (intent, clause) in enumerate(intents):
            await asyncio.sleep(self._think_s / len(intents))
            facts.append(await _HANDLERS[intent](run, clause))
            if index < len(intents) - 1:
                await ctx.partial(facts[-1])
        return TaskOutcome(
            text="\n".join(facts)[:_MAX_TEXT],
            data={"intent": "+".join(i for i, _ in intents), "tool_calls": [*run.calls]},
        )


class _Run:
    """One answer in progress: the context, today's date and the tools called so far."""

    def __init__(self, ctx: BrainContext, today: date) -> None:
        self.ctx = ctx
        self.today = today
        self.calls: list[str] = []

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        """Call a tool if the task allows it; otherwise an error result saying so."""
        if name not in {tool.name for tool in self.ctx.tools}:
            return ToolResult(f"I can't use {name} for this request.", is_error=True)
        self.calls.append(name)
        return await self.ctx.call_tool(name, arguments)

    def detail(self, parse: Callable[[str], Any]) -> Any:
        """The first value ``parse`` finds in the request, then in the caller's earlier turns."""
        turns = [t.text for t in reversed(self.ctx.task.context) if t.role == "caller"]
        return next((v for v in map(parse, [self.ctx.task.request, *turns]) if v is not None), None)


async def _book(run: _Run, clause: str) -> str:
    party, time = run.detail(parse_party_size), run.detail(parse_time)
    day: date | None = run.detail(lambda text: parse_date(text, run.today))
    name: str | None = run.detail(parse_name)
    if party is None or day is None or time is None:
        needed = (("how many people", party), ("which day", day), ("what time", time))
        missing = " and ".join(label for label, value in needed if value is None)
        return f"To check for a table I still need to know {missing}."
    slot = {"party_size": party, "date": day.isoformat(), "time": time}
    if run.ctx.task.confirmed and name:
        return (await run.call("book_table", {**slot, "name": name})).content
    result = await run.call("check_availability", slot)
    if result.is_error or not result.content.startswith("Yes"):
        return result.content
    if name is None:
        return f"{result.content} To book it I still need the name for the booking."
    return (
        f"{result.content} Booking it needs the caller's confirmation of the details: a table "
        f"for {party} on {day:%A %d %B} at {time}, under the name {name}."
    )


async def _lookup(run: _Run, clause: str) -> str:
    request = run.ctx.task.request
    cancel = re.search(r"\bcancel", request, re.IGNORECASE) is not None
    reference = _REFERENCE.search(request)
    if reference is None:
        name, day = parse_name(request), parse_date(request, run.today)
        if name and day:
            return (await run.call("find_booking", {"name": name, "date": day.isoformat()})).content
        return "To find the booking I need its reference (like TT-4F7K2), or the name and the day."
    ref = reference.group(0).upper()
    if cancel and run.ctx.task.confirmed:
        return (await run.call("cancel_booking", {"reference": ref})).content
    found = await run.call("find_booking", {"reference": ref})
    if cancel and not found.is_error:
        return f"{found.content} Cancelling it needs the caller's confirmation."
    return found.content


async def _bill(run: _Run, clause: str) -> str:
    text = clause.lower().replace(",", ".")
    tip = re.search(r"(\d+(?:\.\d+)?)\s*(?:%|percent)", text)
    people = re.search(rf"\b(?:between|among|by)\s+{_N}\b|\b{_N}\s+(?:people|ways|of us)\b", text)
    rest = text
    for match in (tip, people):
        rest = rest.replace(match.group(0), " ", 1) if match else rest
    amount = re.search(r"\d+(?:\.\d+)?", rest)
    count = _number(people.group(1) or people.group(2)) if people else 1
    if amount and (tip or people):
        expression = amount.group(0)
        if tip:
            expression = f"{expression} * {Decimal(1) + Decimal(tip.group(1)) / 100}"
        if people:
            expression = f"({expression}) / {count}" if tip else f"{expression} / {count}"
        result = await run.call("calculate", {"expression": expression})
        if result.is_error:
            return result.content
        value = result.content.rpartition(" = ")[2]
        with_tip = f" with a {tip.group(1)}% tip" if tip else ""
        if people:
            return f"{amount.group(0)}{with_tip}, split {count} ways: {value} each."
        return f"{amount.group(0)}{with_tip} comes to {value}."
    for word, symbol in (("divided by", "/"), ("times", "*"), ("plus", "+"), ("minus", "-")):
        text = text.replace(word, symbol)
    text = re.sub(r"(?<=\d)\s*[x\u00d7]\s*(?=\d)", "*", text).replace("\u00f7", "/")
    runs = [r.strip() for r in re.findall(r"[\d.\s()+\-*/]+", text) if re.search(r"\d\s*[-+*/]", r)]
    if not runs:
        return "To work out the bill I need the total and how many people are sharing it."
    return (await run.call("calculate", {"expression": max(runs, key=len)})).content


async def _time(run: _Run, clause: str) -> str:
    return (await run.call("current_time", {"place": _place(clause) or ""})).content


async def _weather(run: _Run, clause: str) -> str:
    # no city named: the tool uses the business's own (from the profile's time zone)
    return (await run.call("get_weather", {"city": _place(clause) or ""})).content


async def _knowledge(run: _Run, clause: str) -> str:
    """The passages of the sections found that answer ``clause``, as a model would pick them.

    "Tonight", "tomorrow" and weekdays are read as the day they mean, so "when do you close
    tonight?" on a Sunday finds Sunday's hours; the day is named when the caller did not."""
    result = await run.call("search_knowledge", {"query": clause})
    if result.is_error:
        return result.content
    day = parse_date(clause, run.today)
    weekday = f"{day:%A}" if day is not None else ""
    picked = best_passages(result.content, clause, focus=[weekday], limit=_KNOWLEDGE_PASSAGES)
    if not picked:
        return result.content
    said = _DAY.search(clause.lower())
    relative = said is not None and said.group(1) in ("today", "tonight", "tomorrow")
    named = f"{'Today' if day == run.today else 'Tomorrow'} is {weekday}. " if relative else ""
    return named + " ".join(picked)


_HANDLERS: dict[str, Callable[[_Run, str], Awaitable[str]]] = {
    "book": _book,
    "lookup": _lookup,
    "bill": _bill,
    "time": _time,
    "weather": _weather,
    "knowledge": _knowledge,
}


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _WORDS[word]


def _clock(hour_text: str, minutes: int, meridiem: str | None) -> str | None:
    hour = _number(hour_text)
    if meridiem and meridiem[0] == "p" and hour < 12:
        hour += 12
    elif meridiem and meridiem[0] == "a" and hour == 12:
        hour = 0
    elif not meridiem and 1 <= hour <= 11 and hour_text[0] != "0":
        hour += 12  # a bare small hour: the restaurant opens at noon
    return f"{hour:02d}:{minutes:02d}" if hour <= 23 and minutes <= 59 else None


def _place(clause: str) -> str | None:
    found = _PLACE.search(clause)
    return found.group(1).strip() if found else None
