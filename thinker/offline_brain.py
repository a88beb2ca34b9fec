"""The generic offline thinker brain: answers from a profile's knowledge, without a model.

Used, when no ``ANTHROPIC_API_KEY`` is set, for any profile that brings no offline brain of its
own. It is rule-based, not a language model, and it only does what rules can do honestly:

- a question its profile's knowledge answers gets the passage asked about (the section the
  knowledge search ranks first, cut to the sentences that share the question's words), said as
  one to three short spoken sentences;
- a question the knowledge does not answer gets "I don't have that information": a section only
  counts when it holds most of what the question asks about (:data:`MIN_COVERAGE`), so a
  passage about something else is never read out;
- a request to *do* something (book, cancel, order, put me through...) gets an honest sentence
  saying it can't be done offline: without a model there is nothing to run other tools with.

It reads only the knowledge of the task's profile, never another one's.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.bus import TaskOutcome
from shared.passages import best_passages, split_passages
from shared.profile import Profile
from thinker.brain import BrainContext
from tools.builtin.knowledge import KnowledgeIndex, knowledge_index, query_terms

NAME = "offline-knowledge"
MIN_COVERAGE = 0.5
"""A section answers a question when the question's terms it contains make up more than this
share of the question's terms, each weighted by how rare it is in the knowledge (a term the
knowledge never mentions weighs as much as the rarest: it may be what the caller asked about)."""
MAX_PASSAGES = 2
MAX_SPOKEN_CHARS = 320
"""The longest answer said from the knowledge: a phone answer, not a document read aloud."""

_GENERIC = frozenset(
    query_terms(
        "accept able anyone available charge cost costs credit day days do does far get have info "
        "information kind kinds long many much offer offers possible price prices pricing "
        "provide sell someone something sort take tell there time times type types"
    )
)
"""Terms that say how the caller asks, not what about: they neither count for nor against a
section (a price list answers "how much does it cost" without the word "cost")."""
_RELATED = (
    "address location locat where street directions find situat",
    "hour open opening clos closing",
    "park parking car",
    "phone telephone number call",
    "book booking reserv reservation appointment",
    "pay payment card cash",
    "accessib wheelchair step lift elevator",
    "child children kid kids famil",
    "dog dogs pet pets animal",
    "subway metro underground train station bahn",
)
"""Words a caller and a knowledge file may use for the same thing ("your address" and "the studio
is at..." under a "Location" heading): a question's term is covered by any of its relatives."""
_RELATIVES: dict[str, frozenset[str]] = {}
for _group in _RELATED:
    _stems = frozenset(word[:4] for word in _group.split())
    for _stem in _stems:
        _RELATIVES[_stem] = _RELATIVES.get(_stem, frozenset()) | _stems
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = (
    r"((?i:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"
    r"|(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\b\.?)"
)
_DAYS = re.compile(rf"\b{_DAY}(?:\s*(?:-|\u2013|to|through|until)\s*{_DAY})?")
"""A weekday, or a range of them: "Tuesday", "Monday to Friday", "Mon-Sat"."""
_RELATIVE_DAY = re.compile(r"\b(today|tonight|tomorrow)\b", re.IGNORECASE)
_CLAUSES = re.compile(
    r"(?<=[?!.])\s+|[,;]?\s+and\s+(?=(?:is|are|do|does|can|could|what|what's|how|where|when|"
    r"will|would)\b)",
    re.IGNORECASE,
)
_VERBS = (
    r"(?:book|reserve|cancel|schedule|reschedule|change|move|order|buy|purchase|pay|send|email|"
    r"text|call|ring|transfer|connect|put|sign|register|enrol+|make|set|reset|update|arrange|add|"
    r"remove|take)"
)
_DO_IT = re.compile(
    rf"^\W*(?:please\s+)?{_VERBS}\b"  # "Book me a table", "Please cancel it"
    rf"|\bi(?:'d| would| want| need| wanna|'m trying| am trying)(?: like)?\s+(?:to\s+)?{_VERBS}\b"
    r"|\b(?:my|our)\s+(?:booking|reservation|appointment|order|account|ticket|bill|invoice)s?\b",
    re.IGNORECASE,
)
"""A request to do something: never answered from the knowledge."""
_NEED_TO = re.compile(
    r"\b(?:do|does|should|must|would)\s+(?:i|we|you|they)\s+(?:need|have|want)\s+to\b"
    r"|\b(?:is|are)\s+(?:it|there)\s+(?:necessary|possible|required)\s+to\b",
    re.IGNORECASE,
)
"""A question about what is needed ("Do I need to book a rental?"): information, not a request."""
_CAN_YOU = re.compile(rf"\b(?:can|could|would|will)\s+you\s+(?:please\s+)?{_VERBS}\b", re.I)
"""A request, or a question about what the business does ("can you deliver?"): answered from
the knowledge when it says, otherwise treated as a request."""
_HINTS = (
    (re.compile(r"\bwhere\b", re.IGNORECASE), "address location"),
    (re.compile(r"\bwhen\b|\bwhat time\b", re.IGNORECASE), "opening hours"),
)
"""What a question with no words of its own asks about ("Where are you?": the address)."""
_MONEY_QUESTION = re.compile(r"\bhow much\b|\b(?:cost|price|fee|charge|rate)s?\b", re.IGNORECASE)
_MONEY = re.compile(r"[€$£¥]\s?\d|\d\s?(?:€|euros?\b|dollars?\b|pounds?\b)", re.IGNORECASE)
_MARKDOWN = re.compile(r"\*\*|__|`|^#+\s*|^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def dont_have(profile: Profile) -> str:
    """What the brain says when the knowledge does not answer the question."""
    return (
        "Sorry, I don't have that information, and I'd rather not guess. "
        f"Is there anything else about {profile.name} I can help with?"
    )


def cant_offline(profile: Profile) -> str:
    """What the brain says to a request it cannot carry out offline."""
    return (
        "Sorry, I can't do that right now: I'm running offline, so I can only answer questions "
        f"about {profile.name}."
    )


def wants_action(request: str) -> bool:
    """Whether ``request`` may ask for something to be done rather than for information."""
    if _NEED_TO.search(request):
        return False
    return _DO_IT.search(request) is not None or _CAN_YOU.search(request) is not None


class KnowledgeBrain:
    """A rule-based :class:`~thinker.brain.Brain` answering from one profile's knowledge.

    Built as the thinker builds any profile's offline brain: ``KnowledgeBrain(profile,
    think_s)``. ``think_s`` simulates a model's latency per task (demos), split across the
    request's questions; ``clock`` gives "now" for "today" and "tomorrow" (read in the profile's
    time zone).
    """

    name = NAME

    def __init__(
        self,
        profile: Profile,
        think_s: float = 0.0,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._profile = profile
        self._think_s = think_s
        self._clock = clock or (lambda: datetime.now(UTC))

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        """One answer per question in the request (a partial after each but the last)."""
        profile = ctx.profile or self._profile
        questions = _questions(ctx.task.request)
        said: list[str] = []
        kinds: list[str] = []
        sources: list[str] = []
        for index, question in enumerate(questions):
            await asyncio.sleep(self._think_s / len(questions))
            kind, text, source = self._answer_one(profile, question)
            kinds.append(kind)
            sources += [source] if source else []
            if text not in said:
                said.append(text)
                if index < len(questions) - 1:
                    await ctx.partial(text)
        return TaskOutcome(
            text=" ".join(said),
            data={"brain": NAME, "intent": "+".join(kinds), "sections": [*sources]},
        )

    def _answer_one(self, profile: Profile, question: str) -> tuple[str, str, str]:
        """(kind, what to say, the heading of the section it came from) for one question."""
        if _DO_IT.search(question) and not _NEED_TO.search(question):
            return "offline", cant_offline(profile), ""
        said, day = _relative_day(question, self._clock().astimezone(profile.timezone))
        query = _RELATIVE_DAY.sub(day, question) if said else question  # "tonight": "Sunday"
        index = knowledge_index(profile)
        found = [] if index is None else _relevant_sections(index, query)
        if index is None or not found:
            if _CAN_YOU.search(question):
                return "offline", cant_offline(profile), ""
            return "unknown", dont_have(profile), ""
        asked_days = [d for d in _WEEKDAYS if d in query.lower()]
        options = [
            (section, _about_days(section.body, asked_days) or best_passages(section.body, query))
            for section in (index.sections[position] for position in found)
        ]
        if _MONEY_QUESTION.search(query):  # "how much is X": the passage with a price in it
            options.sort(key=lambda option: not any(_MONEY.search(p) for p in option[1]))
        section, picked = options[0]
        spoken = spoken_answer(picked or split_passages(section.body)[:MAX_PASSAGES])
        if said:  # "tonight" on a Sunday: the answer is about Sunday, so say so
            spoken = f"{said.title()} is {day}. {spoken}"
        return "knowledge", spoken, section.heading


def _questions(request: str) -> list[str]:
    """The questions in ``request``; parts with nothing to ask ("Yes, sorry.") are left out."""
    parts = [p.strip() for p in _CLAUSES.split(request) if p and p.strip()]
    asked = [p for p in parts if query_terms(p) or wants_action(p)]
    return asked or [request]


def _relevant_sections(index: KnowledgeIndex, question: str) -> list[int]:
    """The positions of the sections that answer ``question`` best: those that cover most of
    it, if that is more than :data:`MIN_COVERAGE` (several when they tie, in the search's order).
    Coverage matches words by their first letters ("located" finds "Location"), so a section the
    exact-word search misses still counts."""
    terms = set(query_terms(question)) - _GENERIC
    if not terms:  # "where are you?": what such a question is about
        question += "".join(f" {words}" for hint, words in _HINTS if hint.search(question))
    ranked = [index.sections.index(section) for section, _ in index.search(question)]
    if not terms:  # only generic words ("what are your prices?"): the search's best match
        return ranked[:1]
    coverage = _coverage(index, terms)
    best = max(coverage, default=0.0)
    if best <= MIN_COVERAGE:
        return []
    tied = [position for position, share in enumerate(coverage) if share == best]
    return sorted(tied, key=lambda p: ranked.index(p) if p in ranked else len(ranked))


def _coverage(index: KnowledgeIndex, terms: set[str]) -> list[float]:
    """For each section, the weighted share of ``terms`` it contains. A term matches a section's
    term with the same first four letters ("nearby" finds "nearest"), and a weekday matches a
    range of days that includes it ("Tuesday" is in "Monday to Friday")."""
    words = [
        {term[:4] for term in section_terms} | {day[:4] for day in _days_in(section.text())}
        for section, section_terms in zip(index.sections, index.terms, strict=True)
    ]
    count = len(words)

    def weight(term: str) -> float:  # a term the knowledge never mentions weighs as a rare one
        seen = max(1, sum(term[:4] in section for section in words))
        return math.log((count + 1) / (seen + 0.5))

    weights = {term: weight(term) for term in terms}
    total = sum(weights.values())

    def covered(term: str, section: set[str]) -> bool:
        return not _RELATIVES.get(term[:4], frozenset({term[:4]})).isdisjoint(section)

    return [
        sum(w for term, w in weights.items() if covered(term, section)) / total if total else 0.0
        for section in words
    ]


def _days_in(text: str) -> set[str]:
    """Every weekday ``text`` names, ranges included ("Monday to Wednesday": three)."""
    days: set[str] = set()
    for found in _DAYS.finditer(text):
        first = _day_number(found.group(1))
        last = _day_number(found.group(2) or found.group(1))
        days.update(_WEEKDAYS[(first + step) % 7] for step in range((last - first) % 7 + 1))
    return days


def _day_number(name: str) -> int:
    return [day[:3] for day in _WEEKDAYS].index(name[:3].lower())


def _about_days(body: str, days: list[str]) -> list[str]:
    """The passages of ``body`` that start with one of ``days`` or a range of days including one
    ("Monday to Friday: 09:00 to 18:00" is about Tuesday); empty if none is asked about."""
    found = []
    for passage in split_passages(body):
        lead = _DAYS.match(passage.strip())
        if days and lead is not None and _days_in(lead.group(0)) & set(days):
            found.append(passage)
    return found[:MAX_PASSAGES]


def _relative_day(question: str, now: datetime) -> tuple[str, str]:
    """("today", "tonight" or "tomorrow" as said in ``question``, the weekday it means), or
    ``("", "")``."""
    said = _RELATIVE_DAY.search(question)
    if said is None:
        return "", ""
    word = said.group(1).lower()
    return word, f"{now + timedelta(days=1 if word == 'tomorrow' else 0):%A}"


def spoken_answer(passages: list[str]) -> str:
    """Passages as a phone answer: no markdown, whole passages while they fit in
    :data:`MAX_SPOKEN_CHARS` (a first one longer than that is cut at a clause or a word)."""
    sentences = []
    for passage in passages:
        text = " ".join(_MARKDOWN.sub("", _LINK.sub(r"\1", passage)).split())
        if text:
            sentences.append(text if text[-1] in ".?!" else f"{text}.")
    spoken = ""
    for sentence in sentences:
        if len(spoken) + len(sentence) >= MAX_SPOKEN_CHARS:
            break
        spoken = f"{spoken} {sentence}".strip()
    if spoken or not sentences:
        return spoken
    cut = sentences[0][:MAX_SPOKEN_CHARS]
    end = max(cut.rfind(", "), cut.rfind("; "))
    return cut[: end if end > MAX_SPOKEN_CHARS // 2 else cut.rfind(" ")].rstrip(",;:") + "."
