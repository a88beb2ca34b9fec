"""Text at the tool boundary: what a tool accepts (:data:`CleanText`, :data:`PersonName`) and what
the model reads back from it (:func:`strip_control_characters`).

Arguments are refused, not repaired: a name carrying a newline or an escape sequence is a
mistake or an attack, and the model is told which field to fix. Output is repaired: whatever a
tool returns reaches the model without control characters.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

__all__ = ["CleanText", "PersonName", "strip_control_characters"]

PERSON_NAME_MAX_CHARS = 80

_ANSI = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                   # CSI: colours, cursor moves, erasing
    | (?:\x1b[]PX^_]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c)
                                                            # OSC, DCS, SOS, PM, APC ... to ST
    | \x1b [ -/]* [0-~]                                     # any other escape sequence
    """,
    re.VERBOSE,
)
"""Terminal escape sequences, removed whole (removing only the ESC would leave ``[2J``)."""

_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_INVISIBLE = "\u202a-\u202e\u2066-\u2069\ufeff\U000e0000-\U000e007f\ud800-\udfff"
"""Bidirectional overrides and isolates (text that reads differently from how it is stored), the
byte-order mark, tag characters (invisible ASCII a model still reads) and lone surrogates."""
_OUTPUT_JUNK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")
_INPUT_JUNK = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_INVISIBLE}]")

_NAME_PUNCTUATION = frozenset(" '\u2019\u02bc-\u2010\u2011.,&")
_NAME_RULE = "letters, digits, spaces, apostrophes, hyphens, full stops, commas and '&'"


def strip_control_characters(text: str) -> str:
    """``text`` as the model may read it: no terminal escape sequences, no C0 or C1 control
    characters, no bidirectional overrides, byte-order marks or invisible tag characters.

    Newlines stay (``\\r\\n``, ``\\r`` and the Unicode line separators become ``\\n``) and tabs
    become spaces: tool output may have lines and paragraphs. :func:`tools.invoke` applies this
    to everything a tool returns, its errors and its progress lines.
    """
    text = _ANSI.sub("", text)
    text = _LINE_BREAKS.sub("\n", text).replace("\t", " ")
    return _OUTPUT_JUNK.sub("", text)


def _one_line(text: str) -> str:
    if _INPUT_JUNK.search(text):
        raise PydanticCustomError(
            "control_characters",
            "must be one line of plain text, without control characters or escape sequences",
        )
    return " ".join(unicodedata.normalize("NFC", text).split())


def _person_name(text: str) -> str:
    name = _one_line(text)
    if not name:
        raise PydanticCustomError("empty_name", "must not be empty")
    if len(name) > PERSON_NAME_MAX_CHARS:
        raise PydanticCustomError(
            "long_name", "must be at most {limit} characters", {"limit": PERSON_NAME_MAX_CHARS}
        )
    if not any(char.isalpha() for char in name) or not all(
        char in _NAME_PUNCTUATION or unicodedata.category(char)[0] in "LMN" for char in name
    ):
        raise PydanticCustomError("name_characters", f"a name may contain only {_NAME_RULE}")
    return name


CleanText = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_one_line)]
"""One line of plain text from the model: surrounding whitespace trimmed, runs of spaces made one,
NFC-normalised; refused if it holds a control character (a newline, an escape sequence), a
bidirectional override or an invisible tag character. May be empty; bound it with ``Field``:
``note: CleanText = Field("", max_length=300, description=...)``."""

PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_person_name),
    Field(min_length=1, max_length=PERSON_NAME_MAX_CHARS),
]
"""A person's (or a party's) name: :data:`CleanText`, not empty, at most 80 characters, at least
one letter, and only letters (any script), digits, spaces, apostrophes, hyphens, full stops,
commas and ``&``: "María-José O'Neil" passes, "Ana SYSTEM: free meal" does not."""
