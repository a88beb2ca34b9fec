"""The demo restaurant's tool plugin: table bookings kept in Redis (check, book, look up, cancel).

Booking and cancelling have side effects: a booking is made exactly once per idempotency key,
even when the same task is delivered twice or two workers race, because every change to a day's
bookings happens under that day's lock and the idempotency key is checked inside it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic_core import PydanticCustomError

from profiles.restaurant.facts import RESTAURANT, Restaurant
from tools import CleanText, PersonName, ToolContext, ToolError, ToolStore, tool

_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_KEEP_S = 120 * 24 * 3600  # bookings, day lists and idempotency keys: past the booking horizon
_PHONE = re.compile(r"\+?[0-9 ().-]+")


@dataclass(frozen=True)
class Booking:
    """One booking as stored."""

    reference: str
    name: str
    party_size: int
    date: str
    time: str
    table: str
    phone: str
    notes: str
    status: str = "confirmed"

    def describe(self) -> str:
        """A sentence the agent can read out."""
        day = date.fromisoformat(self.date)
        state = "Cancelled booking" if self.status == "cancelled" else "Booking"
        return (
            f"{state} {self.reference}: a table for {self.party_size} on {day:%A %d %B %Y} at "
            f"{self.time}, under the name {self.name}."
        )


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise PydanticCustomError(
            "date_format", "{text} is not a date: give it as YYYY-MM-DD", {"text": repr(text)}
        ) from None


def _hh_mm(text: str) -> str:
    try:
        return f"{time.fromisoformat(text):%H:%M}"
    except ValueError:
        raise PydanticCustomError(
            "time_format", "{text} is not a time: give it as 24-hour HH:MM", {"text": repr(text)}
        ) from None


def _phone(text: str) -> str:
    if text and not (_PHONE.fullmatch(text) and sum(char.isdigit() for char in text) >= 3):
        raise PydanticCustomError(
            "phone_characters",
            "a phone number may contain only digits, spaces, '+', '-', '.' and brackets",
        )
    return " ".join(text.split())


IsoDate = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40), AfterValidator(_iso_date)
]
"""A day as YYYY-MM-DD (stored and compared in that one spelling)."""
ClockTime = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=20), AfterValidator(_hh_mm)
]
"""A time of day as 24-hour HH:MM."""
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=30), AfterValidator(_phone)
]
"""A contact number, or empty."""


class SlotArgs(BaseModel):
    """A time at the restaurant for a group."""

    date: IsoDate = Field(description="Day of the visit as YYYY-MM-DD (resolve 'Friday' first).")
    time: ClockTime = Field(description="Arrival time as 24-hour HH:MM, e.g. 20:00.")
    party_size: int = Field(description="Number of people, children included.")


class BookArgs(SlotArgs):
    """A booking request."""

    name: PersonName = Field(
        description="Name the booking is under, as the caller spelled it if they did.",
    )
    phone: Phone = Field("", description="Contact number, if the caller gave one.")
    notes: CleanText = Field(
        "", max_length=300, description="Requests: high chair, allergy, occasion."
    )


class FindArgs(BaseModel):
    """How to find a booking."""

    reference: CleanText = Field(
        "", max_length=20, description="Booking reference like TT-4F7K2, if known."
    )
    name: CleanText = Field(
        "", max_length=80, description="Name the booking is under, if no reference."
    )
    date: CleanText = Field(
        "", max_length=40, description="Day of the booking as YYYY-MM-DD, with a name."
    )


class CancelArgs(BaseModel):
    """Which booking to cancel."""

    reference: CleanText = Field(
        max_length=20, description="Booking reference like TT-4F7K2 (look it up first)."
    )


@tool(
    latency="fast",
    store="bookings",
    progress="checking availability for {party_size} on {date} at {time}",
)
async def check_availability(ctx: ToolContext, args: SlotArgs) -> str:
    """Check whether a table is free for a group at a date and time. Use before booking, and when
    the caller asks if there is room. Suggests the nearest free times when that time is taken."""
    start = _requested_start(ctx, args, RESTAURANT)
    bookings = await _day(ctx.store, args.date)
    if _free_table(RESTAURANT, bookings, start, args.party_size) is not None:
        return f"Yes: a table for {args.party_size} is free on {start:%A %d %B} at {start:%H:%M}."
    nearby = _alternatives(ctx, RESTAURANT, bookings, start, args.party_size)
    if not nearby:
        return f"No table for {args.party_size} is free on {start:%A %d %B} near {start:%H:%M}."
    return (
        f"No table for {args.party_size} at {start:%H:%M} on {start:%A %d %B}; "
        f"free times nearby: {', '.join(nearby)}."
    )


@tool(
    latency="fast",
    side_effects=True,
    needs_confirmation=True,
    store="bookings",
    progress="booking a table for {party_size} on {date} at {time}",
)
async def book_table(ctx: ToolContext, args: BookArgs) -> str:
    """Book a table once the caller has confirmed the name, day, time and party size (read the
    name back first; have an unusual name spelled). Returns the booking reference to read back.
    Never call it twice for the same request."""
    start = _requested_start(ctx, args, RESTAURANT)
    idempotency = f"idem:{ctx.idempotency_key}"
    async with ctx.store.lock(f"day:{args.date}"):
        done = await ctx.store.get_json(idempotency)
        if done is not None:  # a redelivered task: the booking already exists
            booking = await _load(ctx.store, done)
            return f"Already booked. {booking.describe()}"
        bookings = await _day(ctx.store, args.date)
        table = _free_table(RESTAURANT, bookings, start, args.party_size)
        if table is None:
            raise ToolError(
                f"no table for {args.party_size} is free at {args.time} on {args.date} any more; "
                "check availability for another time"
            )
        booking = Booking(
            reference=await _new_reference(ctx.store),
            name=args.name,
            party_size=args.party_size,
            date=args.date,
            time=args.time,
            table=table,
            phone=args.phone,
            notes=args.notes,
        )
        await ctx.store.set_json_many(
            {
                f"booking:{booking.reference}": asdict(booking),
                f"day:{args.date}": [*(b.reference for b in bookings), booking.reference],
                idempotency: booking.reference,
            },
            ttl_s=_KEEP_S,
        )
    ctx.log.info("table booked", extra={"reference": booking.reference, "task_id": ctx.task_id})
    return f"Booked. {booking.describe()}"


@tool(latency="fast", store="bookings")
async def find_booking(ctx: ToolContext, args: FindArgs) -> str:
    """Look up a booking by its reference, or by the name it is under and its day."""
    if args.reference:
        booking = await _load(ctx.store, _reference(args.reference))
        return booking.describe()
    if not (args.name and args.date):
        raise ToolError("give the booking reference, or the name and the day of the booking")
    day = _parse_date(args.date).isoformat()
    wanted = args.name.casefold()
    matches = [b for b in await _day(ctx.store, day) if b.name.casefold() == wanted]
    if not matches:
        raise ToolError(f"no booking under {args.name!r} on {day}")
    return " ".join(booking.describe() for booking in matches)


@tool(latency="fast", side_effects=True, needs_confirmation=True, store="bookings")
async def cancel_booking(ctx: ToolContext, args: CancelArgs) -> str:
    """Cancel a booking by its reference, once the caller has confirmed which one."""
    reference = _reference(args.reference)
    booking = await _load(ctx.store, reference)
    if booking.status == "cancelled":
        return f"That booking was already cancelled. {booking.describe()}"
    async with ctx.store.lock(f"day:{booking.date}"):
        cancelled = Booking(**{**asdict(booking), "status": "cancelled"})
        day = await _day(ctx.store, booking.date)
        await ctx.store.set_json_many(
            {
                f"booking:{reference}": asdict(cancelled),
                f"day:{booking.date}": [b.reference for b in day if b.reference != reference],
            },
            ttl_s=_KEEP_S,
        )
    return f"Cancelled. {cancelled.describe()}"


BOOKING_TOOLS = (check_availability, book_table, find_booking, cancel_booking)
"""The booking family, registered as one entry point."""


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ToolError(f"{text!r} is not a date: give it as YYYY-MM-DD") from None


def _requested_start(ctx: ToolContext, args: SlotArgs, place: Restaurant) -> datetime:
    """The requested arrival as a local datetime, or a ToolError saying what is wrong with it."""
    if args.party_size < 1:
        raise ToolError("the party size must be at least 1")
    if args.party_size > place.max_party:
        raise ToolError(
            f"groups larger than {place.max_party} are booked by the manager; offer to take a "
            "message with their name and number"
        )
    day, at = date.fromisoformat(args.date), time.fromisoformat(args.time)
    start = datetime.combine(day, at, tzinfo=place.timezone)
    now = ctx.now().astimezone(place.timezone)
    if start < now:
        raise ToolError(
            f"{args.date} at {args.time} has already passed (it is now {now:%Y-%m-%d %H:%M})"
        )
    if day > now.date() + timedelta(days=place.booking_horizon_days):
        raise ToolError(
            f"bookings open {place.booking_horizon_days} days ahead; that day is too far out"
        )
    if not _bookable(place, start):
        raise ToolError(
            f"we do not seat guests at {args.time} on a {day:%A}. {_hours_of(place, day)}"
        )
    return start


def _bookable(place: Restaurant, start: datetime) -> bool:
    last_seating = timedelta(minutes=place.last_seating_before_close_minutes)
    for opening, closing in place.hours.get(start.weekday(), ()):
        first = datetime.combine(start.date(), opening, tzinfo=place.timezone)
        last = datetime.combine(start.date(), closing, tzinfo=place.timezone) - last_seating
        if first <= start <= last:
            return True
    return False


def _hours_of(place: Restaurant, day: date) -> str:
    periods = place.hours.get(day.weekday(), ())
    if not periods:
        return f"We are closed on {day:%A}s."
    spans = " and ".join(f"{o:%H:%M}-{c:%H:%M}" for o, c in periods)
    return f"On {day:%A}s we are open {spans}, last seating an hour before closing."


def _tables(place: Restaurant) -> list[tuple[str, int]]:
    return [
        (f"{seats}-{number}", seats)
        for seats, count in sorted(place.tables.items())
        for number in range(1, count + 1)
    ]


def _free_table(
    place: Restaurant, bookings: list[Booking], start: datetime, party: int
) -> str | None:
    sitting = timedelta(minutes=place.sitting_minutes)
    taken = {
        b.table
        for b in bookings
        if abs(
            datetime.combine(start.date(), time.fromisoformat(b.time), tzinfo=place.timezone)
            - start
        )
        < sitting
    }
    for table, seats in _tables(place):
        if seats >= party and table not in taken:
            return table
    return None


def _alternatives(
    ctx: ToolContext, place: Restaurant, bookings: list[Booking], start: datetime, party: int
) -> list[str]:
    step = timedelta(minutes=place.slot_minutes)
    found: list[str] = []
    for distance in range(1, 13):
        for candidate in (start - distance * step, start + distance * step):
            if (
                candidate.date() == start.date()
                and candidate >= ctx.now()
                and _bookable(place, candidate)
                and _free_table(place, bookings, candidate, party) is not None
            ):
                found.append(f"{candidate:%H:%M}")
        if len(found) >= 3:
            break
    return sorted(found[:3])


def _reference(text: str) -> str:
    reference = text.strip().upper()
    if not reference.startswith("TT-"):
        reference = f"TT-{reference}"
    return reference


async def _load(store: ToolStore, reference: str) -> Booking:
    data = await store.get_json(f"booking:{reference}")
    if data is None:
        raise ToolError(f"there is no booking {reference}; check the reference with the caller")
    return Booking(**data)


async def _day(store: ToolStore, day: str) -> list[Booking]:
    references = await store.get_json(f"day:{day}") or []
    return [await _load(store, reference) for reference in references]


async def _new_reference(store: ToolStore) -> str:
    while True:
        reference = "TT-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(5))
        if await store.set_if_absent(f"reserved:{reference}", "1", ttl_s=_KEEP_S):
            return reference
