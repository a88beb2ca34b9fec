"""``search_knowledge``: BM25 search over the business's own information (its profile's knowledge).

A profile's knowledge files are split at their ``## `` headings (:mod:`shared.knowledge`); each
section (heading and body) is one document. Each profile's index is built on first use and kept
for the life of the process.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import bm25s  # type: ignore[import-untyped]
from pydantic import BaseModel, Field

from tools import Profile, Section, ToolContext, ToolError, tool

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each indexing step at DEBUG

MAX_SECTIONS = 2
SECOND_SECTION_MIN_RATIO = 0.6
"""The runner-up section is returned too when it scores at least this share of the best one."""
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


class KnowledgeArgs(BaseModel):
    """Arguments of :func:`search_knowledge`."""

    query: str = Field(
        max_length=500,
        description=(
            "The caller's question in a few words, e.g. 'is there parking', "
            "'opening hours on Sunday', 'how much is a repair'"
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


@tool(responder_safe=True, latency="fast", timeout_s=5.0)
async def search_knowledge(ctx: ToolContext, args: KnowledgeArgs) -> str:
    """Look up the business's own information to answer a caller's question about it.

    The information is what the business wrote down for its callers: typically its opening
    hours, prices, services or menu, policies, location and how to get there, and how to reach
    a person. Use it whenever the caller asks about the business instead of answering from
    memory.

    Returns the one or two most relevant sections of the business's information (a heading, then
    its text); answer the caller from them in a sentence or two. An error means the business's
    information does not answer the question: say you don't know, and offer to take a message.
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
    hits = index.search(query)
    if not hits:
        raise ToolError(
            f"nothing in {profile.name}'s information answers that; tell the caller "
            "you don't know and offer to take a message"
        )
    best_score = hits[0][1]
    chosen = [hits[0][0]] + [
        section for section, score in hits[1:] if score >= SECOND_SECTION_MIN_RATIO * best_score
    ]
    return "\n\n".join(section.text() for section in chosen)
