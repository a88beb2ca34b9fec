"""What an agent can look up: markdown files cut into sections (a ``## `` heading and its text).

A profile's knowledge files are read once, at start-up; the ``search_knowledge`` tool indexes the
sections and the offline brains pick passages from them (:mod:`shared.passages`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One ``## `` section of a knowledge file."""

    heading: str
    body: str
    source: str = ""
    """The file it came from, relative to its profile."""

    def text(self) -> str:
        """The section as a model reads it: heading, then body."""
        return f"{self.heading}\n{self.body}"


def split_sections(markdown: str, source: str = "") -> tuple[Section, ...]:
    """The ``## `` sections of ``markdown``, in order; anything before the first one (a title, a
    note to editors) is left out, and so is a section with no text."""
    sections = []
    for chunk in re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]:
        heading, _, body = chunk.partition("\n")
        if heading.strip() and body.strip():
            sections.append(Section(heading=heading.strip(), body=body.strip(), source=source))
    return tuple(sections)
