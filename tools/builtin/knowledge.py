"""``search_knowledge``: BM25 search over the restaurant's own information (``knowledge.md``).

The markdown file is split at its ``## `` headings; each section (heading and body) is one
document. The index is built on first use and kept for the life of the process.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import bm25s  # type: ignore[import-untyped]
from pydantic import BaseModel, Field

from tools import ToolContext, ToolError, tool

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each indexing step at DEBUG

KNOWLEDGE_FILE = "knowledge.md"
MAX_SECTIONS = 2
SECOND_SECTION_MIN_RATIO = 0.6
"""The runner-up section is returned too when it scores at least this share of the best one."""
BM25_LENGTH_NORMALISATION = 0.5
"""BM25's ``b``, below the usual 0.75: the long sections (menu, allergens) are long because they
hold more facts, not because they ramble, so length should count against them less."""

# Words that carry no meaning in a caller's question; bm25s's own English list is very short.
# Tokens are runs of two or more word characters, so "i" and the "s" of "what's" never appear.
_QUESTION_WORDS = (
    "about also am any anything can could did do does doing don every from get got had has have "
    "here how is just know let like me might much must my need our ours please right say should "
    "so some tell than thanks them those us very want was we were what when where which who why "
    "would you your yours"
)
STOPWORDS = sorted(set(bm25s.stopwords.STOPWORDS_EN) | set(_QUESTION_WORDS.split()))


class KnowledgeArgs(BaseModel):
    """Arguments of :func:`search_knowledge`."""

    query: str = Field(
        max_length=500,
        description=(
            "The caller's question in a few words, e.g. 'is there parking', "
            "'opening hours on Sunday', 'does the tiramisu contain nuts'"
        ),
    )


@dataclass(frozen=True)
class Section:
    """One ``## `` section of the knowledge file."""

    heading: str
    body: str

    def text(self) -> str:
        """The section as the model reads it: heading, then body."""
        return f"{self.heading}\n{self.body}"

    def indexed_text(self) -> str:
        """What the index sees: the heading twice, since it says what the section is about."""
        return f"{self.heading}\n{self.text()}"


@dataclass(frozen=True)
class KnowledgeIndex:
    """The sections of the knowledge file and their BM25 index."""

    sections: tuple[Section, ...]
    retriever: Any  # bm25s.BM25 (the library ships no type information)

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


def split_sections(markdown: str) -> tuple[Section, ...]:
    """The ``## `` sections of ``markdown`` (anything before the first one is left out)."""
    sections = []
    for chunk in re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]:
        heading, _, body = chunk.partition("\n")
        sections.append(Section(heading=heading.strip(), body=body.strip()))
    return tuple(sections)


def read_knowledge() -> str:
    """The bundled knowledge file."""
    return resources.files("tools.builtin").joinpath(KNOWLEDGE_FILE).read_text(encoding="utf-8")


@cache
def knowledge_index() -> KnowledgeIndex:
    """The index of the bundled knowledge file, built on first use."""
    sections = split_sections(read_knowledge())
    if not sections:
        raise RuntimeError(f"{KNOWLEDGE_FILE} has no '## ' sections")
    retriever = bm25s.BM25(b=BM25_LENGTH_NORMALISATION)
    retriever.index(
        _tokenize([section.indexed_text() for section in sections], return_ids=True),
        show_progress=False,
    )
    return KnowledgeIndex(sections=sections, retriever=retriever)


@tool(responder_safe=True, latency="fast", timeout_s=5.0)
async def search_knowledge(ctx: ToolContext, args: KnowledgeArgs) -> str:
    """Look up Trattoria Tandem's own information to answer a caller's question about it.

    Covers: opening hours and last seating, bookings policy (group size, how long a table is
    held), the menu and prices, allergens and vegetarian, vegan or gluten-free options, parking,
    accessibility, the address and how to get there, private events, payment methods, children
    and dogs. Use it whenever the caller asks about any of these instead of answering from memory.

    Returns the one or two most relevant sections of the restaurant's information (a heading,
    then its text); answer the caller from them in a sentence or two. An error means the
    restaurant's information does not answer the question: say you don't know, and offer to take
    a message for the manager.
    """
    query = args.query.strip()
    if not query:
        raise ToolError("what should I look up? Pass the caller's question as the query")
    hits = knowledge_index().search(query)
    if not hits:
        raise ToolError(
            "nothing in the restaurant's information answers that; tell the caller you don't "
            "know and offer to take a message for the manager"
        )
    best_score = hits[0][1]
    chosen = [hits[0][0]] + [
        section for section, score in hits[1:] if score >= SECOND_SECTION_MIN_RATIO * best_score
    ]
    return "\n\n".join(section.text() for section in chosen)
