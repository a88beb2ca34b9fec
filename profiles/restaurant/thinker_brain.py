"""The demo restaurant's offline thinker brain: deterministic rules standing in for Claude.

Used when no ``ANTHROPIC_API_KEY`` is set, so the demo and the tests run offline (the profile
names it as its ``offline.thinker_brain``). It matches the request against a handful of
patterns, calls the same tools a model would through :class:`~thinker.brain.BrainContext`, and
answers with their facts (error results included: "that time has already passed" is a fact the
caller needs to hear). It does not try to understand language beyond those patterns. None of
what it can't do is a failure worth retrying: a request it can't map, or a question the knowledge
does not answer, is an ``unknown`` outcome (said plainly, with an offer to take a message); a
request missing a detail is a ``needs_detail`` one that asks for exactly that.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from profiles.restaurant.language import (
    BOOKING_INTENTS,
    NOT_NAMES,
    clauses,
    parse_date,
    parse_name,
    parse_party_size,
    parse_reference,
    parse_time,
)
from shared.bus import TaskOutcome, overall_kind
from shared.names import is_unusual, letters, likely_spelling, spelled_name, tidy_name
from shared.passages import best_passages
from shared.profile import Profile
from shared.wire import ResultKind
from thinker.brain import BrainContext
from tools import ToolResult

DONT_KNOW = (
    "Sorry, I don't have that information, and I'd rather not guess. "
    "I can take a message for the team if you like."
)
"""Said (as an ``unknown`` outcome) to a request this brain can't map, and to a question the
restaurant's information does not answer."""

_MAX_TEXT = 8000
"""The wire's limit on a result's text (several long knowledge sections could pass it)."""
_KNOWLEDGE_PASSAGES = 3
"""At most this many passages answer one knowledge question (a phone answer, not a section)."""
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
_WORDS = {word: n for n, word in enumerate(_NUMBER_WORDS.split())}
_N = r"(\d{1,2}|" + "|".join(_WORDS) + ")"
_RELATIVE_DAY = re.compile(r"\b(?:today|tonight|tomorrow|this (?:evening|afternoon))\b", re.I)
_PLACE = re.compile(
    r"\bin\s+([A-Za-z][\w .'/-]*?)\s*(?:\b(?:right now|now|today|tonight|tomorrow|"
    r"at the moment|this (?:morning|afternoon|evening))\b)?\s*[?.!]*$",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b", re.IGNORECASE)
_REFERENCES = re.compile(r"\bTT-[A-Z0-9]{5}\b")
_ASKED_NAME = re.compile(
    r"\bspell|\b(?:what|which) name\b|\bname (?:is it|for the booking|should)", re.IGNORECASE
)
"""An agent line asking for the name or its spelling: a bare name answers it."""
_CONFIRMED = (
    ("cancel", re.compile(r"\bshall i cancel\b", re.I)),
    ("book", re.compile(r"\bshall i book\b", re.I)),
)
"""What the caller's "yes" confirmed, from the agent's question."""
_ANSWER_WORDS = (
    "yes yeah yep no nope sure ok okay please thanks thank you it it's its is the name name's "
    "names my that's thats that correct right fine go ahead book cancel sorry um uh er so well "
    "i i'm actually oh under for spelled spelt as"
)
_NOT_A_NAME = frozenset(_ANSWER_WORDS.split())
"""Words of a short answer to "what name is it under?" that are not the name."""
_BOOKING_QUESTION = re.compile(
    r"\b(?:spell|what name|which name|the name for the booking|name (?:is it|should)|how many|"
    r"which day|what day|what time|shall i book|still need to know)\b",
    re.IGNORECASE,
)
"""An agent line asking for a booking detail: the caller's next turn answers it."""


def _weekday_named(text: str) -> bool | None:
    """True when ``text`` names a day of the week (None otherwise, for :meth:`_Run.detail`)."""
    return True if _WEEKDAY.search(text) else None


def bare_name(text: str) -> str | None:
    """The name in a short answer to "what name is it under?" ("Okafor.", "It's all cuffer",
    "No, Okafor"), tidied, or None (none, or more than three words left)."""
    words = [
        w
        for w in re.findall(r"[A-Za-z][A-Za-z'-]*", text)
        if w.lower() not in _NOT_A_NAME and w.lower() not in NOT_NAMES
    ]
    return tidy_name(" ".join(words)) if 1 <= len(words) <= 3 else None


def _said_name(text: str, asked: str) -> str | None:
    """The name the caller said (not spelled) in ``text``, an answer to ``asked``."""
    return parse_name(text) or (bare_name(text) if _ASKED_NAME.search(asked) else None)


def _caller_lines(ctx: BrainContext) -> list[tuple[str, str]]:
    """(what the caller said, what the agent had last said before it), latest first: the
    request, then the caller's turns in the task's context."""
    lines: list[tuple[str, str]] = []
    asked = ""
    for turn in ctx.task.context:
        if turn.role == "agent":
            asked = turn.text
        elif turn.role == "caller":
            lines.append((turn.text, asked))
    turns = ctx.task.context
    ends_with_caller = bool(turns) and turns[-1].role == "caller"  # the request's own turn
    before_request = lines[-1][1] if ends_with_caller else asked
    return [(ctx.task.request, before_request), *reversed(lines)]


def _intents(ctx: BrainContext) -> list[tuple[str, str]]:
    """What to answer: a "yes" to the agent's "shall I book/cancel it?" confirms that; an answer
    to the agent's question about a booking detail, or a spelled name, continues the booking;
    otherwise the request's own parts (:func:`classify`)."""
    request = ctx.task.request
    asked = _caller_lines(ctx)[0][1]
    if ctx.task.confirmed:
        for intent, question in _CONFIRMED:
            if question.search(asked):
                return [(intent, request)]
    found = classify(request)
    if not found and (_BOOKING_QUESTION.search(asked) or spelled_name(request)):
        return [("book", request)]
    return found


def classify(request: str) -> list[tuple[str, str]]:
    """(intent, clause) for each part of ``request`` this brain can answer, in order; the
    booking intents (book, availability, cancel, find) once, their details read from the whole
    request."""
    found: list[tuple[str, str]] = []
    for intent, clause in clauses(request):
        if intent is None or (
            intent in BOOKING_INTENTS and any(i in BOOKING_INTENTS for i, _ in found)
        ):
            continue
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
        intents = _intents(ctx)
        if not intents:
            return TaskOutcome(DONT_KNOW, {"intent": "unknown", "tool_calls": []}, "unknown")
        now = self._clock().astimezone(self._zone)
        run = _Run(ctx, now.date(), now=f"{now:%H:%M}")
        facts: list[str] = []
        kinds: list[ResultKind] = []
        for index, (intent, clause) in enumerate(intents):
            await asyncio.sleep(self._think_s / len(intents))
            run.kind = "answer"
            facts.append(await _HANDLERS[intent](run, clause))
            kinds.append(run.kind)
            if index < len(intents) - 1:
                await ctx.partial(facts[-1])
        return TaskOutcome(
            text="\n".join(facts)[:_MAX_TEXT],
            data={"intent": "+".join(i for i, _ in intents), "tool_calls": [*run.calls]},
            kind=overall_kind(kinds),
        )


class _Run:
    """One answer in progress: the context, today's date and the tools called so far."""

    def __init__(self, ctx: BrainContext, today: date, *, now: str = "00:00") -> None:
        self.ctx = ctx
        self.today = today
        self.now = now
        """The local time, as 24-hour HH:MM."""
        self.calls: list[str] = []
        self.kind: ResultKind = "answer"
        """The kind of the part being answered: a handler that asks or doesn't know says so."""

    def ask(self, question: str) -> str:
        """``question`` asks the caller for a detail the part needs (a ``needs_detail`` part)."""
        self.kind = "needs_detail"
        return question

    def dont_know(self) -> str:
        """The restaurant's information does not answer the part (an ``unknown`` part)."""
        self.kind = "unknown"
        return DONT_KNOW

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        """Call a tool if the task allows it; otherwise an error result saying so."""
        if name not in {tool.name for tool in self.ctx.tools}:
            return ToolResult(f"I can't use {name} for this request.", is_error=True)
        self.calls.append(name)
        return await self.ctx.run_tool(name, arguments)

    def detail(self, parse: Callable[[str], Any]) -> Any:
        """The first value ``parse`` finds in the request, then in the caller's earlier turns."""
        turns = [t.text for t in reversed(self.ctx.task.context) if t.role == "caller"]
        return next((v for v in map(parse, [self.ctx.task.request, *turns]) if v is not None), None)

    def booking_name(self) -> tuple[str | None, bool]:
        """The name for the booking and whether the caller spelled it: from the latest of the
        request and the caller's earlier turns that has one; a spelling beats a name said in
        the same turn, and a bare name ("Okafor.") counts when the agent had asked for it.

        A spelling is weighed against the name as said with it or before it
        (:func:`likely_spelling`), unless it is new letters in answer to the agent spelling a
        name back: then the caller corrected the letters, and they stand. (A confirmed request
        repeats the request it confirms, letters and all: those are not new.)"""
        lines = _caller_lines(self.ctx)
        for at, (text, asked) in enumerate(lines):
            if spelled := spelled_name(text):
                earlier = lines[at + 1 :]
                if spelled_name(asked) and spelled not in {spelled_name(t) for t, _ in earlier}:
                    return spelled, True
                said = (parse_name(text), *(_said_name(*line) for line in earlier))
                return likely_spelling(spelled, next(filter(None, said), None)), True
            if name := _said_name(text, asked):
                return name, False
        return None, False

    def asked_to_spell(self) -> bool:
        """Whether the agent already asked the caller to spell the name (asked once only)."""
        return any(t.role == "agent" and "spell" in t.text.lower() for t in self.ctx.task.context)


async def _book(run: _Run, clause: str) -> str:
    """Check the table; read the details back with the name (asking for the name, or for its
    spelling when it is unusual or looks misheard); book once the caller has confirmed."""
    party, time = run.detail(parse_party_size), run.detail(parse_time)
    day: date | None = run.detail(lambda text: parse_date(text, run.today))
    if day == run.today and time is not None and time < run.now and run.detail(_weekday_named):
        day += timedelta(days=7)  # "Sunday at noon", said on a Sunday evening: next Sunday
    name, spelled = run.booking_name()
    if party is None or day is None or time is None:
        needed = (("how many people", party), ("which day", day), ("what time", time))
        missing = " and ".join(label for label, value in needed if value is None)
        return run.ask(f"To check for a table I still need to know {missing}.")
    slot = {"party_size": party, "date": day.isoformat(), "time": time}
    spell = name is not None and not spelled and is_unusual(name) and not run.asked_to_spell()
    if run.ctx.task.confirmed and name and not spell:
        return (await run.call("book_table", {**slot, "name": name})).content
    result = await run.call("check_availability", slot)
    if result.is_error or not result.content.startswith("Yes"):
        return result.content
    if name is None:
        return run.ask(f"{result.content} To book it I still need the name for the booking.")
    if spell:
        return run.ask(f"{result.content} Before booking, the name needs spelling: {name}.")
    spelled_back = f", {letters(name)}" if spelled else ""
    return (
        f"{result.content} Booking it needs the caller's confirmation of the details: a table "
        f"for {party} on {day:%A %d %B} at {time}, under the name {name}{spelled_back}."
    )


async def _find(run: _Run, clause: str) -> str:
    """A booking by its reference, or by the name and the day."""
    return (await _booking_of(run))[0]


async def _cancel(run: _Run, clause: str) -> str:
    """Find the booking (by reference, or name and day), then cancel it once confirmed."""
    found, reference = await _booking_of(run, cancelling=True)
    if reference is None:
        return found
    if run.ctx.task.confirmed:
        return (await run.call("cancel_booking", {"reference": reference})).content
    return f"{found} Cancelling it needs the caller's confirmation."


async def _booking_of(run: _Run, *, cancelling: bool = False) -> tuple[str, str | None]:
    """What the booking tools say about the caller's booking, and its reference when exactly one
    live booking was found."""
    reference: str | None = run.detail(parse_reference)
    if reference is None:
        name, _spelled = run.booking_name()
        day: date | None = run.detail(lambda text: parse_date(text, run.today))
        if not (name and day):
            return run.ask(
                "To find the booking I need its reference (like TT-4F7K2), or the name and the day."
            ), None
        if cancelling and run.ctx.task.confirmed and (ref := _reference_in_context(run)):
            return "", ref
        result = await run.call("find_booking", {"name": name, "date": day.isoformat()})
    else:
        if cancelling and run.ctx.task.confirmed:
            return "", reference
        result = await run.call("find_booking", {"reference": reference})
    references = set(_REFERENCES.findall(result.content))
    live = not result.is_error and "Cancelled booking" not in result.content
    return result.content, (references.pop() if live and len(references) == 1 else None)


def _reference_in_context(run: _Run) -> str | None:
    """The reference the agent read out for this booking (the caller confirmed that one)."""
    for turn in reversed(run.ctx.task.context):
        if turn.role == "agent" and (found := parse_reference(turn.text)):
            return found
    return None


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
        return run.ask("To work out the bill I need the total and how many people are sharing it.")
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
    if result.is_error:  # nothing in the restaurant's information answers it
        return run.dont_know()
    day = parse_date(clause, run.today)
    weekday = f"{day:%A}" if day is not None else ""
    picked = best_passages(result.content, clause, focus=[weekday], limit=_KNOWLEDGE_PASSAGES)
    if not picked:
        return result.content
    relative = _RELATIVE_DAY.search(clause) is not None
    named = f"{'Today' if day == run.today else 'Tomorrow'} is {weekday}. " if relative else ""
    return named + " ".join(picked)


_HANDLERS: dict[str, Callable[[_Run, str], Awaitable[str]]] = {
    "book": _book,
    "availability": _book,  # checked as a booking request is, and offered to be booked
    "cancel": _cancel,
    "find": _find,
    "bill": _bill,
    "time": _time,
    "weather": _weather,
    "knowledge": _knowledge,
}


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _WORDS[word]


def _place(clause: str) -> str | None:
    found = _PLACE.search(clause)
    return found.group(1).strip() if found else None
