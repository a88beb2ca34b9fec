"""``current_time``: the date and time in a city or IANA time zone (the business's by default)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, Field

from tools import CleanText, ToolContext, ToolError, tool

UTC_ZONE = ZoneInfo("UTC")
"""Where "here" is when a tool runs outside any profile."""

_REGIONS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)
"""Zones of these regions win when a city name matches several zones (``Asia/Istanbul`` and
the legacy ``Turkey`` alias, say)."""


class TimeArgs(BaseModel):
    """Arguments of :func:`current_time`."""

    place: CleanText = Field(
        default="",
        max_length=100,
        description=(
            "A city ('Tokyo', 'New York') or an IANA time zone ('Europe/Lisbon'); "
            "leave empty for the business's own local time"
        ),
    )


@cache
def _zones_by_name() -> tuple[dict[str, str], dict[str, str]]:
    """IANA names by their lowercase form, and by lowercase city (last component, spaces)."""
    by_zone: dict[str, str] = {}
    by_city: dict[str, str] = {}
    # Regional zones first, so they are the ones a shared city name keeps.
    for zone in sorted(
        available_timezones(), key=lambda name: (not name.startswith(_REGIONS), name)
    ):
        by_zone[zone.lower()] = zone
        city = zone.rsplit("/", 1)[-1].replace("_", " ").lower()
        by_city.setdefault(city, zone)
    return by_zone, by_city


def find_zone(place: str, home: ZoneInfo = UTC_ZONE) -> ZoneInfo:
    """The time zone of ``place``: an IANA name or a city, any case, or ``home`` when it is empty;
    raises :class:`ToolError`."""
    wanted = " ".join(place.replace("_", " ").split()).lower()
    if not wanted:
        return home
    by_zone, by_city = _zones_by_name()
    candidates = [wanted, wanted.partition(",")[0].strip()]  # "Lisbon, Portugal" -> "lisbon"
    for candidate in candidates:
        city_zone = by_city.get(candidate)
        if city_zone is not None and city_zone.startswith(_REGIONS):
            return ZoneInfo(city_zone)  # "Singapore" -> Asia/Singapore, not the legacy alias
        name = by_zone.get(candidate.replace(" ", "_")) or city_zone
        if name is not None:
            return ZoneInfo(name)
    raise ToolError(
        f"I don't know the time zone of {place.strip()!r}; call again with an IANA time zone "
        "such as 'America/Los_Angeles', or the largest city in the same time zone"
    )


def describe(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` in ``zone`` as a short sentence: weekday, date, 24-hour time and zone."""
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    offset = "UTC" if offset == "+0000" else f"UTC{offset[:3]}:{offset[3:]}"
    abbreviation = local.tzname() or ""
    label = f"{abbreviation}, {offset}"
    if abbreviation[:1] in ("+", "-", "") or abbreviation == offset:
        label = offset  # no real abbreviation ("+08"), or UTC itself: say the offset once
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} in {zone.key} ({label})"


@tool(responder_safe=True, latency="fast", timeout_s=2.0)
async def current_time(ctx: ToolContext, args: TimeArgs) -> str:
    """The current date and time, at the business or in another city or time zone.

    Use it when the caller asks what time or day it is, whether the business is open right now
    (leave ``place`` empty for the business's own local time), or what time it is somewhere
    else. Returns one line such as "Tuesday 24 November 2026, 10:00 in Europe/Lisbon (WET, UTC)".
    An error means the place was not recognised: retry with an IANA time zone name.
    """
    home = ctx.profile.timezone if ctx.profile is not None else UTC_ZONE
    return describe(ctx.now(), find_zone(args.place, home))
