"""``search_knowledge``: BM25 search over the business's own information (its profile's knowledge).

A profile's knowledge files are split at their ``## `` headings (:mod:`shared.knowledge`); each
section (heading and body) is one document. Each profile's index is built on first use and kept
for the life of the process.

BM25 ranks any section sharing a word with the question, so a search alone would read out a
passage about something else ("can I bring my own wine?" finds the house wine). A section only
answers when it *covers* the question (:func:`relevant_sections`): when the question's words it
contains make up more than :data:`MIN_COVERAGE` of them, weighted by rarity. Nothing relevant,
and the tool says so; the offline knowledge brain uses the same test.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import bm25s  # type: ignore[import-untyped]
from pydantic import BaseModel, Field

from tools import CleanText, Profile, Section, ToolContext, ToolError, tool

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each indexing step at DEBUG

MAX_SECTIONS = 2
SECOND_SECTION_MIN_SHARE = 0.8
"""The runner-up section is returned too when it covers at least this share of what the best
one covers (and more than :data:`MIN_COVERAGE` of the question)."""
BM25_LENGTH_NORMALISATION = 0.5
"""BM25's ``b``, below the usual 0.75: the long sections of a business's information (a menu, a
price list) are long because they hold more facts, not because they ramble, so length should
count against them less."""

# Words that carry no meaning in a caller's question; bm25s's own English list is very short.
# Tokens are runs of two or more word characters, so "i" and the "s" of "what's" never appear.
_QUESTION_WORDS = (
    "about also am any anything can could did do does doing don every from get got had has have "
    "hello here hey hi how is just know let like me might much must my need ok okay our ours "
    "please right say should so some sorry tell than thanks them those uh um us very want was we "
    "well were what when where which who why would yeah yes yep you your yours"
)
STOPWORDS = sorted(set(bm25s.stopwords.STOPWORDS_EN) | set(_QUESTION_WORDS.split()))

MIN_COVERAGE = 0.5
"""A section answers a question when the question's terms it contains make up more than this
share of the question's terms, each weighted by how rare it is in the knowledge (a term the
knowledge never mentions weighs as much as the rarest: it may be what the caller asked about)."""


class KnowledgeArgs(BaseModel):
    """Arguments of :func:`search_knowledge`."""

    query: CleanText = Field(
        max_length=500,
        description=(
            "The caller's question in a few words, e.g. 'is there parking', "
            "'opening hours on Sunday', 'how much is a repair'; one question per call"
        ),
    )


@dataclass(frozen=True)
class KnowledgeIndex:
    """The sections of one profile's knowledge and their BM25 index."""

    sections: tuple[Section, ...]
    retriever: Any  # bm25s.BM25 (the library ships no type information)
    terms: tuple[frozenset[str], ...] = ()
    """Each section's terms (see :func:`query_terms`), in the order of :attr:`sections`."""

    def search(self, query: str) -> list[tuple[Section, float]]:
        """The best sections for ``query`` with their scores, best first; zero scores left out."""
        query_tokens: list[list[str]] = _tokenize([query], return_ids=False)
        if not query_tokens[0]:
            return []
        k = min(MAX_SECTIONS, len(self.sections))
        documents, scores = self.retriever.retrieve(query_tokens, k=k, show_progress=False)
        return [
            (self.sections[int(index)], float(score))
            for index, score in zip(documents[0], scores[0], strict=True)
            if score > 0
        ]


def light_stem(word: str) -> str:
    """A small English suffix stripper, so "opening", "opens" and "open" match each other.

    Crude on purpose: it only has to map a question's words and the knowledge file's words to the
    same stem, and it is used for both.
    """
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _stem_all(words: list[str]) -> list[str]:
    return [light_stem(word) for word in words]


def fold_accents(text: str) -> str:
    """``text`` without accents, so "tiramisu" finds "tiramisù"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _tokenize(texts: list[str], *, return_ids: bool) -> Any:
    return bm25s.tokenize(
        [fold_accents(text) for text in texts],
        stopwords=STOPWORDS,
        stemmer=_stem_all,
        return_ids=return_ids,
        show_progress=False,
    )


def query_terms(text: str) -> list[str]:
    """The terms the index sees in ``text``: accents folded, stop words left out, stemmed."""
    found: list[list[str]] = _tokenize([text], return_ids=False)
    return found[0]


def build_index(sections: tuple[Section, ...]) -> KnowledgeIndex:
    """A BM25 index of ``sections`` (at least one); the heading counts twice, since it says what
    the section is about."""
    retriever = bm25s.BM25(b=BM25_LENGTH_NORMALISATION)
    retriever.index(
        _tokenize([f"{s.heading}\n{s.text()}" for s in sections], return_ids=True),
        show_progress=False,
    )
    terms = tuple(frozenset(query_terms(section.text())) for section in sections)
    return KnowledgeIndex(sections=sections, retriever=retriever, terms=terms)


_indexes: dict[tuple[str, str], KnowledgeIndex] = {}
_indexes_lock = threading.Lock()


def knowledge_index(profile: Profile) -> KnowledgeIndex | None:
    """The index of ``profile``'s knowledge (None when it has none), built on first use and kept
    per profile (its id and directory; rebuilt if the profile was reloaded with other text)."""
    if not profile.sections:
        return None
    key = (profile.id, str(profile.root))
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None or index.sections != profile.sections:
            index = _indexes[key] = build_index(profile.sections)
    return index


# -- relevance -----------------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = (
    r"((?i:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"
    r"|(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\b\.?)"
)
DAYS = re.compile(rf"\b{_DAY}(?:\s*(?:-|\u2013|to|through|until)\s*{_DAY})?")
"""A weekday, or a range of them: "Tuesday", "Monday to Friday", "Mon-Sat"."""

GENERIC = frozenset(
    query_terms(
        "accept able anyone available bring charge cost costs credit day days do does far get "
        "have info information kind kinds long many much offer offers possible price prices "
        "pricing provide sell someone something sort take tell there time times type types "
        "today tonight tomorrow now currently"
    )
)
"""Terms that say how the caller asks, not what about: they neither count for nor against a
section (a price list answers "how much does it cost" without the word "cost", opening hours
answer "are you open tonight" without "tonight", and "can I bring my dog" asks about dogs)."""
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
    "fix repair mend",
    "tyre tyr tire tir",
)
"""Words a caller and a knowledge file may use for the same thing ("your address" and "the studio
is at..." under a "Location" heading): a question's term is covered by any of its relatives."""
_RELATIVES: dict[str, frozenset[str]] = {}
for _group in _RELATED:
    _stems = frozenset(word[:4] for word in _group.split())
    for _stem in _stems:
        _RELATIVES[_stem] = _RELATIVES.get(_stem, frozenset()) | _stems
HINTS = (
    (re.compile(r"\bwhere\b", re.IGNORECASE), "address location"),
    (re.compile(r"\bwhen\b|\bwhat time\b", re.IGNORECASE), "opening hours"),
)
"""What a question with no words of its own asks about ("Where are you?": the address)."""


def topic_terms(question: str) -> set[str]:
    """What ``question`` asks about: its terms, less the generic ones ("cost", "have") and
    numbers, which are details of a request ("for 20 people"), not its subject."""
    return {t for t in query_terms(question) if t not in GENERIC and not any(map(str.isdigit, t))}


def relevant_sections(index: KnowledgeIndex, question: str) -> list[tuple[int, float]]:
    """The sections that answer ``question``, as ``(position, coverage)``, best first: those
    covering more than :data:`MIN_COVERAGE` of it, by coverage, then in the search's order.
    Coverage matches words by their first letters ("located" finds "Location"), so a section the
    exact-word search misses still counts. A question with only generic words ("what are your
    prices?") gets the search's best match; one with no words at all, nothing."""
    terms = topic_terms(question)
    if not terms:  # "where are you?": what such a question is about
        question += "".join(f" {words}" for hint, words in HINTS if hint.search(question))
    ranked = [index.sections.index(section) for section, _ in index.search(question)]
    if not terms:  # only generic words: the search's best match
        return [(position, 1.0) for position in ranked[:1]]
    shares = coverage(index, terms)
    found = [(position, share) for position, share in enumerate(shares) if share > MIN_COVERAGE]
    order = {position: rank for rank, position in enumerate(ranked)}
    return sorted(found, key=lambda item: (-item[1], order.get(item[0], len(ranked))))


def coverage(index: KnowledgeIndex, terms: set[str]) -> list[float]:
    """For each section, the weighted share of ``terms`` it contains. A term matches a section's
    term with the same first four letters ("nearby" finds "nearest"), and a weekday matches a
    range of days that includes it ("Tuesday" is in "Monday to Friday")."""
    words = [
        {term[:4] for term in section_terms} | {day[:4] for day in days_in(section.text())}
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


def days_in(text: str) -> set[str]:
    """Every weekday ``text`` names, ranges included ("Monday to Wednesday": three)."""
    days: set[str] = set()
    for found in DAYS.finditer(text):
        first = _day_number(found.group(1))
        last = _day_number(found.group(2) or found.group(1))
        days.update(WEEKDAYS[(first + step) % 7] for step in range((last - first) % 7 + 1))
    return days


def _day_number(name: str) -> int:
    return [day[:3] for day in WEEKDAYS].index(name[:3].lower())


# -- the tool ------------------------------------------------------------------------------------


@tool(responder_safe=True, latency="fast", timeout_s=5.0)
async def search_knowledge(ctx: ToolContext, args: KnowledgeArgs) -> str:
    """Look up the business's own information to answer a caller's question about it.

    The information is what the business wrote down for its callers: typically its opening
    hours, prices, services or menu, policies, location and how to get there, and how to reach
    a person. Use it whenever the caller asks about the business instead of answering from
    memory.

    Returns the one or two sections of the business's information that answer the question (a
    heading, then its text); answer the caller from them in a sentence or two. An error means
    the business's information does not answer the question: say you don't know, and offer to
    take a message.
    """
    query = args.query.strip()
    if not query:
        raise ToolError("what should I look up? Pass the caller's question as the query")
    profile = ctx.profile
    index = knowledge_index(profile) if profile is not None else None
    if profile is None or index is None:
        raise ToolError(
            "there is no business information to look up on this call; tell the caller you "
            "don't know and offer to take a message"
        )
    found = relevant_sections(index, query)
    if not found:
        raise ToolError(
            f"nothing in {profile.name}'s information answers that; tell the caller "
            "you don't know and offer to take a message"
        )
    best = found[0][1]
    chosen = [position for position, share in found if share >= SECOND_SECTION_MIN_SHARE * best]
    return "\n\n".join(index.sections[position].text() for position in chosen[:MAX_SECTIONS])
