"""The demo restaurant's offline thinker brain, answering through the real tools (the built-in
ones and the restaurant's booking plugin) on a private Redis, for the restaurant's profile."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from profiles.restaurant.language import parse_date, parse_name, parse_party_size, parse_time
from profiles.restaurant.thinker_brain import DONT_KNOW, RestaurantBrain
from profiles.restaurant.tools import BOOKING_TOOLS, find_booking
from shared.bus import TaskFailed, TaskOutcome
from shared.wire import ContextTurn, TaskRequest
from tests.tool_helpers import closed_redis, make_context, restaurant_profile
from thinker.brain import BrainContext
from tools import Tool, ToolResult, derive_idempotency_key, invoke
from tools.builtin.calculator import calculate
from tools.builtin.clock import current_time
from tools.builtin.knowledge import search_knowledge
from tools.builtin.weather import UNREACHABLE, get_weather

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday morning, 10:00 in Lisbon too
FRIDAY = "2026-11-27"
TOOLS: dict[str, Tool] = {
    t.name: t for t in (*BOOKING_TOOLS, search_knowledge, current_time, calculate, get_weather)
}


def _no_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("tests have no network", request=request)


class Desk:
    """Asks the restaurant's brain with a real BrainContext for the restaurant's profile; records
    tool calls, partials and progress."""

    def __init__(self, redis: Redis, http: httpx.AsyncClient) -> None:
        self.redis = redis
        self.http = http
        self.profile = restaurant_profile()
        self.brain = RestaurantBrain(self.profile, clock=lambda: NOW)
        self.events: list[tuple[str, str]] = []  # ("call", tool name) or ("partial", text)
        self.arguments: list[dict[str, Any]] = []
        self.progress: list[str] = []

    @property
    def calls(self) -> list[str]:
        return [value for kind, value in self.events if kind == "call"]

    @property
    def partials(self) -> list[str]:
        return [value for kind, value in self.events if kind == "partial"]

    async def ask(
        self,
        request: str,
        *,
        confirmed: bool = False,
        earlier: tuple[str, ...] = (),
        conversation: tuple[tuple[str, str], ...] = (),
        tools: tuple[str, ...] | None = None,
    ) -> TaskOutcome:
        """Ask ``request``; ``earlier`` are the caller's earlier turns, ``conversation`` the
        whole conversation before it as (role, text)."""
        turns = [ContextTurn(role="caller", text=text) for text in earlier]
        turns += [ContextTurn(role=role, text=text) for role, text in conversation]
        task = TaskRequest.create(
            session_id="call-1",
            request=request,
            epoch=0,
            timeout_s=30,
            confirmed=confirmed,
            context=tuple(turns),
            tools=tools,
        )
        allowed = {name: t for name, t in TOOLS.items() if tools is None or name in tools}
        ordinals: Counter[str] = Counter()

        async def call_tool(name: str, arguments: Mapping[str, Any] | str) -> ToolResult:
            assert name in allowed, f"the brain called {name}, which the task does not allow"
            assert isinstance(arguments, Mapping)
            self.events.append(("call", name))
            self.arguments.append(dict(arguments))
            ordinals[name] += 1
            key = derive_idempotency_key(task.idempotency_key, name, ordinals[name])
            ctx = make_context(
                self.redis,
                http=self.http,
                idempotency_key=key,
                confirmed=task.confirmed,
                now=NOW,
                progress=self.progress,
                profile=self.profile,
            )
            return await invoke(allowed[name], ctx, arguments)

        async def progress(message: str) -> None:
            self.progress.append(message)

        async def partial(text: str) -> None:
            self.events.append(("partial", text))

        ctx = BrainContext(
            task,
            list(allowed.values()),
            call_tool,
            progress,
            partial,
            lambda: 30.0,
            profile=self.profile,
        )
        return await self.brain.answer(ctx)


@pytest.fixture
async def desk(redis: Redis) -> AsyncIterator[Desk]:
    """A desk on an emptied Redis, with an HTTP client that has no network."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(_no_network)) as http:
        yield Desk(redis, http)


def reference_in(text: str) -> str:
    found = re.search(r"TT-[A-Z0-9]{5}", text)
    assert found, text
    return found.group(0)


# --- the small parsers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at 8pm", "20:00"),
        ("at 8 pm", "20:00"),
        ("at 20:00", "20:00"),
        ("at eight", "20:00"),
        ("at eight o'clock", "20:00"),
        ("half past seven", "19:30"),
        ("For four people that have past eight, under Miller.", "20:30"),  # Whisper's "half"
        ("quarter to eight", "19:45"),
        ("7:30", "19:30"),
        ("at 1 for lunch", "13:00"),
        ("at noon", "12:00"),
        ("9am", "09:00"),
        ("07:30", "07:30"),
        ("for 2 on Friday", None),
    ],
)
def test_times_are_read_as_the_restaurant_means_them(text: str, expected: str | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a table for four", 4),
        ("4 people", 4),
        ("a table for 2 at 8", 2),
        ("six of us", 6),
        ("for 8pm on Friday", None),
        ("for eight o'clock", None),
        ("for Ana", None),
    ],
)
def test_party_sizes(text: str, expected: int | None) -> None:
    assert parse_party_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tonight", date(2026, 11, 24)),
        ("tomorrow", date(2026, 11, 25)),
        ("on Friday", date(2026, 11, 27)),
        ("next Monday", date(2026, 11, 30)),
        ("on Tuesday", date(2026, 11, 24)),
        ("on 2026-12-03", date(2026, 12, 3)),
        ("on 2026-13-03", None),
        ("some day", None),
    ],
)
def test_dates_are_relative_to_the_clock(text: str, expected: date | None) -> None:
    assert parse_date(text, date(2026, 11, 24)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("under the name Ana", "Ana"),
        ("my name is Ana Silva", "Ana Silva"),
        ("a table for Ana Silva on Friday", "Ana Silva"),
        ("for Friday, under Ana", "Ana"),
        ("a table for four at eight", None),
    ],
)
def test_names(text: str, expected: str | None) -> None:
    assert parse_name(text) == expected


# --- bookings -----------------------------------------------------------------------------------


async def test_a_confirmed_request_with_every_detail_books_a_table(desk: Desk) -> None:
    outcome = await desk.ask(
        "Book a table for four on Friday at 8pm under the name Ana Silva", confirmed=True
    )
    assert desk.calls == ["book_table"]
    assert outcome.data == {"intent": "book", "tool_calls": ["book_table"]}
    assert outcome.text.startswith("Booked. Booking TT-")
    reference = reference_in(outcome.text)
    found = await invoke(find_booking, make_context(desk.redis), {"reference": reference})
    assert found.content == (
        f"Booking {reference}: a table for 4 on Friday 27 November 2026 at 20:00, "
        "under the name Ana Silva."
    )
    assert desk.progress == [f"booking a table for 4 on {FRIDAY} at 20:00"]


async def test_an_unconfirmed_request_checks_availability_and_books_nothing(desk: Desk) -> None:
    outcome = await desk.ask("Book a table for four on Friday at 8pm under the name Ana Silva")
    assert desk.calls == ["check_availability"]
    assert outcome.text == (
        "Yes: a table for 4 is free on Friday 27 November at 20:00. Booking it needs the caller's "
        "confirmation of the details: a table for 4 on Friday 27 November at 20:00, under the "
        "name Ana Silva."
    )
    nothing = await invoke(
        find_booking, make_context(desk.redis), {"name": "Ana Silva", "date": FRIDAY}
    )
    assert nothing.is_error


async def test_a_missing_party_size_is_asked_for_without_a_tool(desk: Desk) -> None:
    outcome = await desk.ask("Book a table on Friday at 8pm for Ana", confirmed=True)
    assert outcome.text == "To check for a table I still need to know how many people."
    assert desk.calls == []


async def test_details_from_earlier_turns_are_used(desk: Desk) -> None:
    outcome = await desk.ask(
        "Please book it for Friday at eight",
        confirmed=True,
        earlier=("Hi, my name is Ana Silva", "We are 3 people"),
    )
    assert desk.calls == ["book_table"]
    assert desk.arguments == [
        {"party_size": 3, "date": FRIDAY, "time": "20:00", "name": "Ana Silva"}
    ]
    assert "a table for 3 on Friday 27 November 2026 at 20:00" in outcome.text


async def test_a_tool_error_is_passed_on_as_the_answer(desk: Desk) -> None:
    outcome = await desk.ask("Is there a table for 2 today at 9am?")
    assert desk.calls == ["check_availability"]
    assert outcome.text == "2026-11-24 at 09:00 has already passed (it is now 2026-11-24 10:00)"


async def test_a_booking_is_cancelled_only_once_confirmed(desk: Desk) -> None:
    booked = await desk.ask("A table for 2 tomorrow at 1pm, my name is Rui", confirmed=True)
    reference = reference_in(booked.text)
    asked = await desk.ask(f"Cancel my booking {reference.lower()}")
    assert asked.text.startswith(f"Booking {reference}: a table for 2 on Wednesday 25 November")
    assert asked.text.endswith("under the name Rui. Cancelling it needs the caller's confirmation.")
    cancelled = await desk.ask(f"Cancel my booking {reference}", confirmed=True)
    assert cancelled.text.startswith(f"Cancelled. Cancelled booking {reference}")
    assert desk.calls == ["book_table", "find_booking", "cancel_booking"]


# --- booking language and names (issue 14) ------------------------------------------------------


async def test_realistic_booking_language_is_checked_as_a_booking(desk: Desk) -> None:
    outcome = await desk.ask("And you fit six of us in around half past seven on Friday?")
    assert desk.arguments == [{"party_size": 6, "date": FRIDAY, "time": "19:30"}]
    assert outcome.data["intent"] == "book"
    assert outcome.kind == "needs_detail"
    assert outcome.text.endswith("To book it I still need the name for the booking.")


async def test_an_availability_question_is_checked_the_same_way(desk: Desk) -> None:
    outcome = await desk.ask("Is their room for a party of 8 on Friday at half 7?")
    assert desk.arguments == [{"party_size": 8, "date": FRIDAY, "time": "19:30"}]
    assert outcome.data["intent"] == "availability"


async def test_a_common_name_is_read_back_without_spelling(desk: Desk) -> None:
    outcome = await desk.ask("We're four on Friday around 8. The name is Miller.")
    assert outcome.text.endswith(
        "Booking it needs the caller's confirmation of the details: a table for 4 on Friday "
        "27 November at 20:00, under the name Miller."
    )
    assert outcome.kind == "answer"


async def test_an_unusual_or_misheard_name_is_spelled_before_booking(desk: Desk) -> None:
    heard = "A table for two on Friday night at eight please, the name's Akafur."
    asked = await desk.ask(heard)
    assert asked.text.endswith("Before booking, the name needs spelling: Akafur.")
    assert asked.kind == "needs_detail"
    spell = "Good news: a table for 2 is free. Could you spell the name for me, please?"
    spelled = await desk.ask("It's okay AFOR.", conversation=(("caller", heard), ("agent", spell)))
    assert spelled.text.endswith(
        "a table for 2 on Friday 27 November at 20:00, under the name Okafor, O-K-A-F-O-R."
    )
    read_back = "Good news. Shall I book it under the name Okafor, O-K-A-F-O-R?"
    booked = await desk.ask(
        "Yes, go ahead. It's okay AFOR.",
        confirmed=True,
        conversation=(
            ("caller", heard),
            ("agent", spell),
            ("caller", "It's okay AFOR."),
            ("agent", read_back),
            ("caller", "Yes, please."),
        ),
    )
    assert booked.text.startswith("Booked.")
    assert desk.arguments[-1] == {
        "party_size": 2, "date": FRIDAY, "time": "20:00", "name": "Okafor"
    }  # fmt: skip
    assert desk.calls == ["check_availability", "check_availability", "book_table"]


async def test_the_spelling_is_asked_once(desk: Desk) -> None:
    heard = "A table for two on Friday at eight under Kolsky."
    spell = "Could you spell the name for me, please?"
    outcome = await desk.ask("Kolsky.", conversation=(("caller", heard), ("agent", spell)))
    assert outcome.text.endswith("under the name Kolsky.")


async def test_a_bare_name_answers_what_name_is_it_under(desk: Desk) -> None:
    first = "Do you have a table for 3 on Friday at half past 7?"
    asked = "Good news: a table for 3 is free. What name is it under?"
    outcome = await desk.ask("It's a lion.", conversation=(("caller", first), ("agent", asked)))
    assert outcome.text.endswith("Before booking, the name needs spelling: Lion.")
    common = await desk.ask("Brown, please.", conversation=(("caller", first), ("agent", asked)))
    assert common.text.endswith("under the name Brown.")


async def test_a_name_said_later_replaces_the_one_said_before(desk: Desk) -> None:
    outcome = await desk.ask(
        "No, it's Smith, S-M-I-T-H.",
        conversation=(
            ("caller", "Table for 2 on Friday at 8 under Miller."),
            ("agent", "Good news. Shall I book it under the name Miller?"),
        ),
    )
    assert outcome.text.endswith("under the name Smith, S-M-I-T-H.")


async def test_misheard_letters_are_weighed_against_the_name_as_said(desk: Desk) -> None:
    heard = "A table for two on Friday at eight, under the name tailor."
    spell = "Good news: a table for 2 is free. Could you spell the name for me, please?"
    outcome = await desk.ask("T-O-Y-O-R.", conversation=(("caller", heard), ("agent", spell)))
    assert outcome.text.endswith("under the name Taylor, T-A-Y-L-O-R.")


async def test_misheard_letters_are_weighed_against_the_name_said_with_them(desk: Desk) -> None:
    outcome = await desk.ask("Table for 2 on Friday at 8 under the name Taylor, T-O-Y-L-O-R.")
    assert outcome.text.endswith("under the name Taylor, T-A-Y-L-O-R.")


async def test_a_confirmed_booking_keeps_the_name_read_back(desk: Desk) -> None:
    heard = "For 2 on Friday at 8 under the name tailor, T-O-I-L-O-R."
    read_back = "Good news. Shall I book it under the name Taylor, T-A-Y-L-O-R?"
    booked = await desk.ask(
        f"Yes, go ahead. {heard}",  # the front desk repeats the request it confirms
        confirmed=True,
        conversation=(("caller", heard), ("agent", read_back), ("caller", "Yes, please.")),
    )
    assert booked.text.startswith("Booked.")
    assert desk.arguments[-1]["name"] == "Taylor"


async def test_letters_said_after_a_spelled_read_back_stand_as_spelled(desk: Desk) -> None:
    heard = "A table for two on Friday at eight, under the name tailor."
    spell = "Good news: a table for 2 is free. Could you spell the name for me, please?"
    read_back = "Good news. Shall I book it under the name Taylor, T-A-Y-L-O-R?"
    outcome = await desk.ask(
        "No, T-O-Y-O-R.",
        conversation=(
            ("caller", heard),
            ("agent", spell),
            ("caller", "T-O-Y-O-R."),
            ("agent", read_back),
        ),
    )
    assert outcome.text.endswith("under the name Toyor, T-O-Y-O-R.")


async def test_a_booking_is_cancelled_by_name_and_day_once_confirmed(desk: Desk) -> None:
    booked = await desk.ask("A table for 2 on Friday at 8pm, my name is Rui", confirmed=True)
    reference = reference_in(booked.text)
    request = "I can't make it on Friday any more, it's under Rui."
    asked = await desk.ask(request)
    assert asked.data["intent"] == "cancel"
    assert asked.text.endswith("Cancelling it needs the caller's confirmation.")
    done = await desk.ask(
        f"Yes, go ahead. {request}",
        confirmed=True,
        conversation=(("caller", request), ("agent", f"{asked.text} Shall I cancel it?")),
    )
    assert done.text.startswith(f"Cancelled. Cancelled booking {reference}")
    assert desk.calls == ["book_table", "find_booking", "cancel_booking"]


async def test_a_booking_is_found_by_name_and_day(desk: Desk) -> None:
    await desk.ask("A table for 2 on Friday at 8pm under the name Rui", confirmed=True)
    found = await desk.ask("Did my reservation go through? Name's Rui, Friday.")
    assert found.data["intent"] == "find"
    assert "a table for 2 on Friday 27 November 2026 at 20:00, under the name Rui" in found.text


# --- questions, the time, the bill, the weather -------------------------------------------------


async def test_a_knowledge_question_gets_the_restaurants_facts(desk: Desk) -> None:
    outcome = await desk.ask("Is there parking nearby?")
    assert desk.calls == ["search_knowledge"]
    assert "Parque Chiado" in outcome.text
    assert "Accessib" not in outcome.text  # the passages that answer, not whole sections


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        (
            "When do you close tonight?",
            "Today is Tuesday. Tuesday: lunch 12:00 to 15:00, dinner 18:30 to 22:30",
        ),
        ("Are you open on Monday?", "Monday: closed all day"),
        (
            "Do you have vegan dishes?",
            "Vegan options: bruschetta, spaghetti aglio olio e peperoncino, and the lemon sorbet.",
        ),
    ],
)
async def test_a_knowledge_answer_is_the_passage_asked_about(
    desk: Desk, question: str, answer: str
) -> None:
    outcome = await desk.ask(question)
    assert outcome.text == answer


async def test_the_time_in_another_city(desk: Desk) -> None:
    outcome = await desk.ask("What time is it in Tokyo right now?")
    assert desk.arguments == [{"place": "Tokyo"}]
    assert outcome.text == "Tuesday 24 November 2026, 19:00 in Asia/Tokyo (JST, UTC+09:00)"


async def test_a_bill_split_with_a_tip(desk: Desk) -> None:
    outcome = await desk.ask("Can you split 84.50 between 3 with a 10% tip?")
    assert desk.arguments == [{"expression": "(84.50 * 1.1) / 3"}]
    assert outcome.text == "84.50 with a 10% tip, split 3 ways: 30.98 each."


async def test_plain_arithmetic(desk: Desk) -> None:
    outcome = await desk.ask("what's 12*7")
    assert outcome.text == "12*7 = 84"
    assert outcome.data == {"intent": "bill", "tool_calls": ["calculate"]}


async def test_the_weather_without_a_network_is_reported_as_unreachable(desk: Desk) -> None:
    outcome = await desk.ask("What's the weather like in Porto today?")
    assert desk.arguments == [{"city": "Porto"}]
    assert outcome.text == UNREACHABLE


async def test_the_weather_at_the_restaurant_is_in_its_own_city(desk: Desk) -> None:
    outcome = await desk.ask("Will it rain tonight?")
    assert desk.arguments == [{"city": ""}]  # the tool reads the city from the profile
    assert desk.progress == ["checking the weather in Lisbon"]
    assert outcome.text == UNREACHABLE


def test_it_is_built_as_the_thinker_builds_any_offline_brain() -> None:
    brain = RestaurantBrain(restaurant_profile(), 1.5)
    assert brain.name == "offline-restaurant"
    spec = restaurant_profile().spec.offline
    assert spec.thinker_brain == "profiles.restaurant.thinker_brain:RestaurantBrain"
    assert spec.responder_brain == "profiles.restaurant.front_desk:FrontDeskBrain"


async def test_a_tool_the_task_does_not_allow_is_not_called(desk: Desk) -> None:
    outcome = await desk.ask("weather in Porto", tools=("search_knowledge",))
    assert desk.calls == []
    assert outcome.text == "I can't use get_weather for this request."


async def test_two_questions_get_both_answers_and_the_first_early(desk: Desk) -> None:
    outcome = await desk.ask("What time do you close on Friday and is there parking?")
    assert [kind for kind, _ in desk.events] == ["call", "partial", "call"]
    assert desk.partials == ["Friday: lunch 12:00 to 15:00, dinner 18:30 to 23:00"]
    assert outcome.text.startswith(desk.partials[0] + "\n")
    assert "Parque Chiado" in outcome.text.removeprefix(desk.partials[0])
    assert outcome.data == {
        "intent": "knowledge+knowledge",
        "tool_calls": ["search_knowledge", "search_knowledge"],
    }


async def test_anything_else_is_an_honest_unknown_not_a_failure(desk: Desk) -> None:
    outcome = await desk.ask("Sing me a song about the sea")
    assert outcome.kind == "unknown"
    assert outcome.text == DONT_KNOW
    assert desk.calls == []


async def test_the_same_request_gets_the_same_answer(desk: Desk) -> None:
    request = "Is there a table for 2 on Friday at half past seven and do you take cards?"
    first = await desk.ask(request)
    second = await desk.ask(request)
    assert first == second
    assert first.data["intent"] == "availability+knowledge"
    assert first.text.startswith("Yes: a table for 2 is free on Friday 27 November at 19:30.")


async def test_a_weekday_whose_time_has_passed_today_is_next_weeks(desk: Desk) -> None:
    desk.brain = RestaurantBrain(desk.profile, clock=lambda: NOW.replace(hour=21))
    await desk.ask("A table for 2 on Tuesday at 8pm under Miller")
    assert desk.arguments == [{"party_size": 2, "date": "2026-12-01", "time": "20:00"}]


async def test_a_tool_that_could_not_run_fails_the_task_with_nothing_read_out() -> None:
    """Redis down mid-call: the booking tools cannot run. The task fails, retryable, rather than
    answering with the tool's error text and the opening hours after it."""
    async with (
        closed_redis() as down,
        httpx.AsyncClient(transport=httpx.MockTransport(_no_network)) as http,
    ):
        with pytest.raises(TaskFailed) as failed:
            await Desk(down, http).ask(
                "A table for 2 on Friday at 8 under Miller. And when are you open?",
                confirmed=True,
            )
    assert failed.value.retryable
    assert "book_table" in str(failed.value)
    assert "unexpectedly" not in str(failed.value)


async def test_a_refusal_is_still_an_answer(desk: Desk) -> None:
    """A tool that ran and said no (no such booking) is an answer, not a failure."""
    outcome = await desk.ask("Can you cancel booking TT-ZZZZZ?", confirmed=True)
    assert "there is no booking TT-ZZZZZ" in outcome.text
