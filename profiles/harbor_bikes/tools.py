"""Harbor Bikes' own tool, written as a tandem tool plugin: ``repair_status`` looks a repair ticket
up (registered in ``pyproject.toml`` under ``tandem.tools``, like a third party's would be).

Tickets live in the tool's :class:`~tools.ToolStore` (Redis), one JSON value per four-digit
ticket number: the shop's till would write them there with :func:`save_ticket`. For the demo the
store is seeded from ``repair_tickets.json`` (next to this file) the first time the tool runs.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Literal

from pydantic import BaseModel, Field

from tools import CleanText, ToolContext, ToolError, ToolStore, tool

__all__ = [
    "SEED_FILE",
    "RepairStatusArgs",
    "Ticket",
    "ensure_seeded",
    "repair_status",
    "save_ticket",
    "seed_tickets",
    "ticket_number",
]

SEED_FILE = "repair_tickets.json"
_SEEDED = "seeded"
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DIGIT_WORDS = {
    **{word: str(digit) for digit, word in enumerate(_NUMBERS)},
    "oh": "0",
    "for": "4",  # speech-to-text hears "ticket four one two seven" as "ticket for 127"
    "to": "2",
    "too": "2",
}
_FILLERS = {"number", "no", "num", "is", "it", "its", "s", "was", "my", "the", "id"}
"""Words between "ticket" and its digits ("ticket number is ...")."""
_AFTER_TICKET = re.compile(r"(?:\bticket|#)(.{0,40})", re.IGNORECASE)
_FOUR_DIGITS = re.compile(r"(?<![\d,.])\d{4}(?![\d,.]\d)")


class Ticket(BaseModel):
    """One repair ticket as stored."""

    ticket: str = Field(pattern=r"^\d{4}$")
    bike: CleanText = Field(description="The bike, as the caller would recognise it.")
    work: CleanText = Field(description="The work ordered.")
    status: Literal["received", "in_progress", "waiting_for_parts", "ready", "collected"]
    note: CleanText = Field(description="Where it stands, in a sentence to say to the caller.")
    total: CleanText = Field(description="What it costs, e.g. '$179 before tax'.")

    def describe(self) -> str:
        """A sentence or two the agent can say."""
        return f"Ticket {self.ticket} is {self.bike}. {self.note} The total is {self.total}."


class RepairStatusArgs(BaseModel):
    """The arguments of :func:`repair_status`."""

    ticket: CleanText = Field(
        max_length=60,
        description="The four-digit repair ticket number from the caller's receipt, e.g. '4127'.",
    )


def ticket_number(text: str) -> str | None:
    """The four-digit ticket number in ``text``: "4127", "#4127", "ticket 41 27", "four one two
    seven", "ticket four one two seven" and speech-to-text's "ticket for 127" all give "4127";
    None if there is none."""
    phrases = [found.group(1) for found in _AFTER_TICKET.finditer(text)]
    for phrase in [*phrases, text]:
        if digits := _spoken_digits(phrase):
            return digits
    whole = _FOUR_DIGITS.search(text)
    return whole.group(0) if whole else None


def _spoken_digits(phrase: str) -> str | None:
    """Four digits at the start of ``phrase`` (after words like "number is"), or None."""
    digits = ""
    for word in re.findall(r"\d+|[a-z]+", phrase.lower()):
        if not digits and word in _FILLERS:
            continue
        part = word if word.isdigit() else _DIGIT_WORDS.get(word)
        if part is None or len(digits + part) > 4:
            return None
        digits += part
        if len(digits) == 4:
            return digits
    return None


async def save_ticket(store: ToolStore, ticket: Ticket) -> None:
    """Store (or update) a ticket: what the shop's till does when a bike comes in or moves on."""
    await store.set_json(f"ticket:{ticket.ticket}", ticket.model_dump())


def seed_tickets() -> list[Ticket]:
    """The demo tickets shipped in ``repair_tickets.json``."""
    text = resources.files(__package__ or "profiles.harbor_bikes").joinpath(SEED_FILE).read_text()
    return [Ticket.model_validate(item) for item in json.loads(text)]


async def ensure_seeded(store: ToolStore) -> None:
    """Put the demo tickets in ``store`` once (every worker may try; one does it, atomically)."""
    if await store.get(_SEEDED) is not None:
        return
    async with store.lock(_SEEDED):
        if await store.get(_SEEDED) is None:
            tickets = {f"ticket:{t.ticket}": t.model_dump() for t in seed_tickets()}
            await store.set_json_many({**tickets, _SEEDED: True})


@tool(latency="fast", timeout_s=3.0, progress="looking up repair ticket {ticket}")
async def repair_status(ctx: ToolContext, args: RepairStatusArgs) -> str:
    """Look up a Harbor Bikes repair by its ticket number: where the bike is and what it costs.

    Use it when the caller asks whether their bike is ready, how their repair is going or what
    it will cost, and gives the four-digit ticket number from their receipt; if they have not
    given it, ask for it first. Returns a sentence or two to tell the caller. An error means the
    number is not a ticket: ask the caller to read it from the receipt again.
    """
    number = ticket_number(args.ticket)
    if number is None:
        raise ToolError(
            "a repair ticket number has four digits and is printed on the receipt; ask the "
            "caller for it"
        )
    await ensure_seeded(ctx.store)
    found = await ctx.store.get_json(f"ticket:{number}")
    if found is None:
        raise ToolError(
            f"there is no repair ticket {number}; ask the caller to read the number on their "
            "receipt again"
        )
    ctx.log.debug("repair ticket found", extra={"status": found.get("status")})
    return Ticket.model_validate(found).describe()
