"""The demo restaurant's facts the booking tools act on: hours, tables and booking rules.

``knowledge/restaurant.md`` says the same in prose, and ``profile.toml`` holds the same name and
time zone; tests check that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Restaurant:
    """Opening hours, tables and booking rules of one restaurant."""

    name: str
    timezone: ZoneInfo
    hours: dict[int, tuple[tuple[time, time], ...]]
    """Weekday (0 = Monday) -> service periods (opening, closing)."""
    tables: dict[int, int] = field(default_factory=dict)
    """Seats per table -> number of such tables."""
    sitting_minutes: int = 120
    last_seating_before_close_minutes: int = 60
    slot_minutes: int = 15
    max_party: int = 8
    booking_horizon_days: int = 60


_LUNCH = (time(12, 0), time(15, 0))
_DINNER = (time(18, 30), time(22, 30))
_LATE_DINNER = (time(18, 30), time(23, 0))

RESTAURANT = Restaurant(
    name="Trattoria Tandem",
    timezone=ZoneInfo("Europe/Lisbon"),
    hours={
        0: (),  # closed on Mondays
        1: (_LUNCH, _DINNER),
        2: (_LUNCH, _DINNER),
        3: (_LUNCH, _DINNER),
        4: (_LUNCH, _LATE_DINNER),
        5: (_LUNCH, _LATE_DINNER),
        6: ((time(12, 0), time(16, 0)),),
    },
    tables={2: 6, 4: 5, 6: 2, 8: 1},
)
"""The demo restaurant: Tuesday to Sunday, lunch and dinner, 14 tables, groups of up to 8."""
