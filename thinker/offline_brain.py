"""The generic offline thinker brain: answers from a profile's knowledge, without a model.

Used, when no ``ANTHROPIC_API_KEY`` is set, for any profile that brings no offline brain of its
own. It is rule-based, not a language model, and it only does what rules can do honestly:

- a question its profile's knowledge answers gets the passage asked about (the section the
  knowledge search ranks first, cut to the sentences that share the question's words), said as
  one to three short spoken sentences;
- a question the knowledge does not answer gets "I don't have that information" and an offer to
  take a message (an ``unknown`` outcome): a section only counts when it holds most of what the
  question asks about (:data:`~tools.builtin.knowledge.MIN_COVERAGE`), so a passage about
  something else is never read out;
- a request to *do* something (book, cancel, order, put me through...) gets an honest sentence
  saying it can't be done offline (``unknown`` too: without a model there is nothing to run
  other tools with, and asking again changes nothing);
- a request that names nothing to ask about ("Yes, please.") gets asked what the caller would
  like to know (``needs_detail``).

None of these is a failure: the responder never offers to try them again.

It reads only the knowledge of the task's profile, never another one's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.bus import TaskOutcome, overall_kind
from shared.passages import best_passages, split_passages
from shared.profile import Profile
from shared.wire import ResultKind
from thinker.brain import BrainContext
from tools.builtin.knowledge import (
    DAYS,
    HINTS,
    WEEKDAYS,
    days_in,
    knowledge_index,
    query_terms,
    relevant_sections,
)

NAME = "offline-knowledge"
MAX_PASSAGES = 2
MAX_SPOKEN_CHARS = 320
"""The longest answer said from the knowledge: a phone answer, not a document read aloud."""

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
_MONEY_QUESTION = re.compile(r"\bhow much\b|\b(?:cost|price|fee|charge|rate)s?\b", re.IGNORECASE)
_MONEY = re.compile(r"[€$£¥]\s?\d|\d\s?(?:€|euros?\b|dollars?\b|pounds?\b)", re.IGNORECASE)
_KINDS: dict[str, ResultKind] = {
    "knowledge": "answer",
    "unknown": "unknown",
    "offline": "unknown",
    "unclear": "needs_detail",
}
"""The kind of outcome each intent of :meth:`KnowledgeBrain._answer_one` is."""
_MARKDOWN = re.compile(r"\*\*|__|`|^#+\s*|^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


TAKE_A_MESSAGE = "I can take a message for the team if you like."
"""The offer that goes with every "I don't know" and "I can't do that"."""


def dont_have(profile: Profile) -> str:
    """What the brain says when the knowledge does not answer the question."""
    return f"Sorry, I don't have that information, and I'd rather not guess. {TAKE_A_MESSAGE}"


def cant_offline(profile: Profile) -> str:
    """What the brain says to a request it cannot carry out offline."""
    return (
        "Sorry, I can't do that: I'm running offline, so I can only answer questions about "
        f"{profile.name}. {TAKE_A_MESSAGE}"
    )


def what_about(profile: Profile) -> str:
    """What the brain asks when a request names nothing to look up ("Yes, please.")."""
    return f"What would you like to know about {profile.name}?"


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
            kind=overall_kind(_KINDS[kind] for kind in kinds),
        )

    def _answer_one(self, profile: Profile, question: str) -> tuple[str, str, str]:
        """(intent, what to say, the heading of the section it came from) for one question;
        the intents are the keys of :data:`_KINDS`."""
        if _DO_IT.search(question) and not _NEED_TO.search(question):
            return "offline", cant_offline(profile), ""
        said, day = _relative_day(question, self._clock().astimezone(profile.timezone))
        query = _RELATIVE_DAY.sub(day, question) if said else question  # "tonight": "Sunday"
        index = knowledge_index(profile)
        found = [] if index is None else relevant_sections(index, query)
        if index is None or not found:
            if _CAN_YOU.search(question):
                return "offline", cant_offline(profile), ""
            if not query_terms(query) and not any(hint.search(query) for hint, _ in HINTS):
                return "unclear", what_about(profile), ""
            return "unknown", dont_have(profile), ""
        asked_days = [d for d in WEEKDAYS if d in query.lower()]
        best = [position for position, share in found if share == found[0][1]]
        options = [
            (section, _about_days(section.body, asked_days) or best_passages(section.body, query))
            for section in (index.sections[position] for position in best)
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


def _about_days(body: str, days: list[str]) -> list[str]:
    """The passages of ``body`` that start with one of ``days`` or a range of days including one
    ("Monday to Friday: 09:00 to 18:00" is about Tuesday); empty if none is asked about."""
    found = []
    for passage in split_passages(body):
        lead = DAYS.match(passage.strip())
        if days and lead is not None and days_in(lead.group(0)) & set(days):
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
