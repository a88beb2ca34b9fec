"""The built-in information tools: knowledge search, clock, calculator and weather.

Each is called through :func:`tools.invoke`, so the tests check what the model actually reads.
The call is the demo restaurant's unless a test says otherwise: the tools name no business and
take theirs (its knowledge, time zone and city) from the call's profile.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from profiles.restaurant.facts import RESTAURANT
from shared.profile import Profile, find_profile, load_profile
from tests.tool_helpers import restaurant_profile, write_profile
from tools import ToolContext, ToolError, ToolResult, ToolStore, invoke
from tools.builtin import knowledge
from tools.builtin.calculator import CalculateArgs, calculate
from tools.builtin.clock import current_time
from tools.builtin.knowledge import search_knowledge
from tools.builtin.weather import CURRENT_FIELDS, get_weather

TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request to {request.url}")


class ContextFactory:
    """Builds real :class:`ToolContext` objects; closes their HTTP clients at the end."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.clients: list[httpx.AsyncClient] = []
        self.progress: list[str] = []

    def __call__(
        self,
        *,
        handler: Handler = _no_network,
        now: datetime = TUESDAY_MORNING,
        profile: Profile | None = None,
        no_profile: bool = False,
    ) -> ToolContext:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        self.clients.append(client)

        async def record(message: str) -> None:
            self.progress.append(message)

        return ToolContext(
            session_id="call-1",
            task_id="task-1",
            idempotency_key="task-1-key",
            http=client,
            store=ToolStore(self.redis, "test"),
            progress=record,
            profile=None if no_profile else profile or restaurant_profile(),
            clock=lambda: now,
        )


@pytest.fixture
async def make_ctx(redis: Redis) -> AsyncIterator[ContextFactory]:
    """A factory of tool contexts on the private Redis."""
    factory = ContextFactory(redis)
    yield factory
    for client in factory.clients:
        await client.aclose()


# --- search_knowledge ---------------------------------------------------------------------------


def _knowledge_sections() -> dict[str, str]:
    return {s.heading: s.body for s in restaurant_profile().sections}


@pytest.mark.parametrize(
    ("query", "facts"),
    [
        (
            "what time do you open on Sunday",
            ["Sunday: lunch only, 12:00 to 16:00", "Monday: closed"],
        ),
        ("are you open on Friday evening", ["Friday: lunch 12:00 to 15:00, dinner 18:30 to 23:00"]),
        ("does the tiramisu contain nuts", ["Tiramisù: gluten, dairy, egg. Vegetarian."]),
        ("I have a shellfish allergy", ["Spaghetti alle vongole: gluten, shellfish."]),
        ("gluten free options", ["gluten-free pasta for €2.00 extra"]),
        ("vegan dishes", ["Vegan options"]),
        ("is there parking nearby", ["Parque Chiado", "no private car park"]),
        ("how much is the risotto", ["Risotto ai funghi porcini: porcini mushrooms", "€16.50"]),
        ("what's on the menu", ["Antipasti (starters)", "Tagliatelle al ragù"]),
        ("can I bring my dog", ["Well-behaved dogs are welcome on our outdoor terrace"]),
        ("do you take credit cards", ["Visa, Mastercard, American Express"]),
        ("is it wheelchair accessible", ["step-free entrance"]),
        ("where are you located", ["Rua das Flores 28", "Baixa-Chiado"]),
        ("how long do you hold a table if we are late", ["15 minutes"]),
        ("birthday party for 20 people", ["Sala Verde"]),
    ],
)
async def test_knowledge_answers_contain_the_facts(
    make_ctx: ContextFactory, query: str, facts: list[str]
) -> None:
    result = await invoke(search_knowledge, make_ctx(), {"query": query})
    assert not result.is_error, result.content
    for fact in facts:
        assert fact in result.content


async def test_knowledge_returns_one_or_two_whole_sections(make_ctx: ContextFactory) -> None:
    texts = [f"{heading}\n{body}" for heading, body in _knowledge_sections().items()]
    result = await invoke(search_knowledge, make_ctx(), {"query": "opening hours"})
    found = sorted((text for text in texts if text in result.content), key=result.content.index)
    assert 1 <= len(found) <= 2
    assert found[0].startswith("Opening hours\n")
    assert result.content == "\n\n".join(found)


async def test_a_question_the_knowledge_does_not_answer_is_an_error(
    make_ctx: ContextFactory,
) -> None:
    for query in ["quantum chromodynamics xylophone", "what is the capital of Peru", "hello"]:
        result = await invoke(search_knowledge, make_ctx(), {"query": query})
        assert result.is_error, query
        assert "nothing in Trattoria Tandem's information answers that" in result.content
        assert "take a message" in result.content


@pytest.mark.parametrize(
    ("profile_id", "query"),
    [
        ("restaurant", "do you have live music on Fridays?"),
        ("restaurant", "can I bring my own wine?"),  # "wine" is on the menu; bringing it is not
        ("restaurant", "do you have hot yoga classes?"),
        ("restaurant", "are there showers?"),
        ("restaurant", "can I smoke on the terrace?"),  # the terrace is, smoking is not
        ("restaurant", "is there a dress code?"),
        ("harbor_bikes", "do you have live music?"),
        ("harbor_bikes", "do you have hot yoga?"),
        ("harbor_bikes", "are there showers for cyclists?"),
        ("harbor_bikes", "can I bring my dog?"),
        ("harbor_bikes", "can I bring my dog into the shop?"),  # "shop" is everywhere
        ("harbor_bikes", "do you have a student discount?"),
    ],
)
async def test_a_passage_about_something_else_is_never_returned(
    make_ctx: ContextFactory, profile_id: str, query: str
) -> None:
    profile = find_profile(profile_id)
    result = await invoke(search_knowledge, make_ctx(profile=profile), {"query": query})
    assert result.is_error, result.content
    assert result.content.startswith(f"nothing in {profile.name}'s information answers that")


@pytest.mark.parametrize(
    ("profile_id", "query", "heading"),
    [
        ("restaurant", "can I bring my dog?", "Dogs and pets"),
        ("restaurant", "when do you close tonight?", "Opening hours"),
        ("restaurant", "how much is a glass of wine?", "Menu and prices"),
        ("restaurant", "do you have high chairs?", "Children"),
        ("restaurant", "what are your prices?", "Menu and prices"),  # only generic words
        ("harbor_bikes", "do you fix flat tires?", "Repair and tune-up prices"),  # "tyre"
        ("harbor_bikes", "do you fix scooters?", "What we don't repair"),
        ("harbor_bikes", "do you rent tandems?", "Bike rentals"),
        ("harbor_bikes", "where can I park?", "Parking and getting here"),
    ],
)
async def test_a_question_the_knowledge_answers_gets_its_section(
    make_ctx: ContextFactory, profile_id: str, query: str, heading: str
) -> None:
    profile = find_profile(profile_id)
    result = await invoke(search_knowledge, make_ctx(profile=profile), {"query": query})
    assert not result.is_error, result.content
    assert f"{heading}\n" in result.content


def test_relevance_weighs_what_the_question_is_about() -> None:
    index = knowledge.knowledge_index(restaurant_profile())
    assert index is not None
    assert knowledge.topic_terms("a birthday party for 20 people tonight") == {
        "birthday",
        "party",
        "peopl",
    }  # numbers and "tonight" are details, not the subject
    found = knowledge.relevant_sections(index, "birthday party for 20 people")
    assert "Private events" in [index.sections[p].heading for p, _ in found]
    assert all(share > knowledge.MIN_COVERAGE for _, share in found)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert knowledge.relevant_sections(index, "hello") == []  # nothing asked about


async def test_an_empty_query_is_an_error(make_ctx: ContextFactory) -> None:
    result = await invoke(search_knowledge, make_ctx(), {"query": "   "})
    assert result == ToolResult(
        "what should I look up? Pass the caller's question as the query", is_error=True
    )


def test_the_hours_in_the_knowledge_file_are_the_restaurants_hours() -> None:
    body = _knowledge_sections()["Opening hours"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    for weekday, day in enumerate(days):
        line = re.search(rf"^- {day}: (.*)$", body, flags=re.MULTILINE)
        assert line is not None, f"no line for {day}"
        periods = re.findall(r"(\d\d:\d\d) to (\d\d:\d\d)", line.group(1))
        expected = [
            (opening.strftime("%H:%M"), closing.strftime("%H:%M"))
            for opening, closing in RESTAURANT.hours[weekday]
        ]
        assert periods == expected, day
        assert ("closed" in line.group(1)) == (not expected or weekday == 6)


def test_the_last_seating_in_the_knowledge_file_is_the_restaurants() -> None:
    body = _knowledge_sections()["Opening hours"]
    assert RESTAURANT.last_seating_before_close_minutes == 60
    assert "Last seating is one hour before closing" in body
    last_seating = body[body.index("Last seating") :]
    for periods in RESTAURANT.hours.values():
        for _, closing in periods:
            last = datetime.combine(TUESDAY_MORNING.date(), closing) - timedelta(minutes=60)
            assert f"{last:%H:%M}" in last_seating


def test_the_booking_rules_in_the_knowledge_file_are_the_restaurants() -> None:
    body = _knowledge_sections()["Bookings, reservations and large groups"]
    assert f"up to {RESTAURANT.max_party} people" in body
    assert f"more than {RESTAURANT.max_party} people" in body
    assert f"up to {RESTAURANT.booking_horizon_days} days ahead" in body


def test_the_booking_tools_facts_are_the_restaurant_profiles() -> None:
    profile = restaurant_profile()
    assert RESTAURANT.name == profile.name
    assert RESTAURANT.timezone == profile.timezone


def test_the_index_is_built_once_per_profile_and_silently(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    index = knowledge.knowledge_index(restaurant_profile())
    assert index is not None
    assert knowledge.knowledge_index(restaurant_profile()) is index
    assert len(index.sections) == len(_knowledge_sections()) >= 11
    other = write_profile(tmp_path / "shop", name="Shop", knowledge="## Hours\nNine to five.\n")
    assert knowledge.knowledge_index(other) not in (None, index)
    edited = write_profile(tmp_path / "shop", name="Shop", knowledge="## Hours\nTen to six.\n")
    rebuilt = knowledge.knowledge_index(edited)
    assert rebuilt is not None
    assert rebuilt.sections == edited.sections  # the same id and directory, reloaded: new text
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


async def test_each_call_searches_its_own_profiles_knowledge(
    make_ctx: ContextFactory, tmp_path: Path
) -> None:
    bikes = write_profile(
        tmp_path / "bikes",
        name="Harbour Cycles",
        knowledge="## Parking\nBikes can be locked at the racks by the door.\n",
    )
    own = await invoke(search_knowledge, make_ctx(profile=bikes), {"query": "is there parking"})
    assert own == ToolResult("Parking\nBikes can be locked at the racks by the door.")
    restaurant = await invoke(search_knowledge, make_ctx(), {"query": "is there parking"})
    assert "Parque Chiado" in restaurant.content
    menu = await invoke(search_knowledge, make_ctx(profile=bikes), {"query": "tiramisu"})
    assert menu.is_error
    assert "nothing in Harbour Cycles's information answers that" in menu.content


async def test_without_a_profile_or_knowledge_there_is_nothing_to_look_up(
    make_ctx: ContextFactory, tmp_path: Path
) -> None:
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "profile.toml").write_text(
        'name = "Bare"\ntimezone = "UTC"\n[persona]\ninstructions = "x"\ngreeting = "Hi."\n'
        'goodbye = "Bye."\n'
    )
    bare = load_profile(tmp_path / "bare")
    for ctx in (make_ctx(no_profile=True), make_ctx(profile=bare)):
        result = await invoke(search_knowledge, ctx, {"query": "opening hours"})
        assert result == ToolResult(
            "there is no business information to look up on this call; tell the caller you "
            "don't know and offer to take a message",
            is_error=True,
        )


def test_search_knowledge_is_a_fast_responder_safe_tool_that_names_no_business() -> None:
    assert search_knowledge.responder_safe
    assert search_knowledge.latency == "fast"
    description = " ".join(search_knowledge.description.split())
    assert "the business's own information" in description
    assert "offer to take a message" in description
    for tool in (search_knowledge, current_time, calculate, get_weather):
        told = tool.description + json.dumps(tool.args_model.model_json_schema())
        assert not re.search(r"restaurant|trattoria|the terrace", told, re.IGNORECASE), tool.name


# --- current_time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        ("Lisbon", "Tuesday 24 November 2026, 10:00 in Europe/Lisbon (WET, UTC)"),
        ("new york", "Tuesday 24 November 2026, 05:00 in America/New_York (EST, UTC-05:00)"),
        ("Asia/Tokyo", "Tuesday 24 November 2026, 19:00 in Asia/Tokyo (JST, UTC+09:00)"),
        ("europe/lisbon", "Tuesday 24 November 2026, 10:00 in Europe/Lisbon (WET, UTC)"),
        ("Kolkata", "Tuesday 24 November 2026, 15:30 in Asia/Kolkata (IST, UTC+05:30)"),
        ("Sao Paulo, Brazil", "Tuesday 24 November 2026, 07:00 in America/Sao_Paulo (UTC-03:00)"),
        ("", "Tuesday 24 November 2026, 10:00 in Europe/Lisbon (WET, UTC)"),
    ],
)
async def test_current_time_in_a_place(make_ctx: ContextFactory, place: str, expected: str) -> None:
    result = await invoke(current_time, make_ctx(), {"place": place})
    assert result == ToolResult(expected)


async def test_current_time_defaults_to_the_profiles_zone_and_follows_the_clock(
    make_ctx: ContextFactory, tmp_path: Path
) -> None:
    summer_night = datetime(2026, 7, 24, 23, 30, tzinfo=UTC)
    result = await invoke(current_time, make_ctx(now=summer_night), {})
    assert result.content == "Saturday 25 July 2026, 00:30 in Europe/Lisbon (WEST, UTC+01:00)"
    halifax = write_profile(
        tmp_path / "bikes",
        name="Harbor Bikes",
        knowledge="## Hours\nNine to five.\n",
        timezone="America/Halifax",
    )
    there = await invoke(current_time, make_ctx(now=summer_night, profile=halifax), {})
    assert there.content == "Friday 24 July 2026, 20:30 in America/Halifax (ADT, UTC-03:00)"
    nowhere = await invoke(current_time, make_ctx(now=summer_night, no_profile=True), {})
    assert nowhere.content == "Friday 24 July 2026, 23:30 in UTC (UTC)"


async def test_an_unknown_place_is_an_error(make_ctx: ContextFactory) -> None:
    result = await invoke(current_time, make_ctx(), {"place": "Atlantis"})
    assert result.is_error
    assert "'Atlantis'" in result.content
    assert "IANA time zone" in result.content


def test_current_time_is_responder_safe() -> None:
    assert current_time.responder_safe
    assert current_time.latency == "fast"


# --- calculate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("(84.50 * 1.1) / 3", "30.98"),
        ("84.50 * 1.1 / 3", "30.98"),
        ("120 / 4", "30"),
        ("100 / 3", "33.33"),
        ("2 + 3 * 4", "14"),
        ("(2 + 3) * 4", "20"),
        ("-2 ** 2", "-4"),
        ("2 ** 3 ** 2", "512"),
        ("2 ** -2", "0.25"),
        ("17 // 5 + 17 % 5", "5"),
        ("0.1 + 0.2", "0.30"),
        ("2.675", "2.68"),
        ("+-+3", "-3"),
        ("45 \u00d7 2 \u00f7 4", "22.50"),  # multiplication and division signs,
    ],
)
async def test_calculate(make_ctx: ContextFactory, expression: str, result: str) -> None:
    answer = await invoke(calculate, make_ctx(), {"expression": expression})
    assert answer == ToolResult(f"{expression} = {result}")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('ls')", "only arithmetic is allowed: calling a function"),
        ("().__class__.__bases__", "only arithmetic is allowed: attribute access"),
        ("(1).real", "only arithmetic is allowed: attribute access"),
        ("open('x')", "only arithmetic is allowed: calling a function"),
        ("x + 1", "only arithmetic is allowed: the name 'x'"),
        ("'a' * 10", "only arithmetic is allowed: 'a' is not a number"),
        ("[1, 2]", "only arithmetic is allowed: a list"),
        ("(1, 2)[0]", "only arithmetic is allowed: indexing"),
        ("lambda: 1", "only arithmetic is allowed: a lambda"),
        ("[x for x in range(9)]", "only arithmetic is allowed: a comprehension"),
        ("1 < 2", "only arithmetic is allowed: a comparison"),
        ("1 << 200", "only arithmetic is allowed: the operator '<<'"),
        ("True + 1", "only arithmetic is allowed: True is not a number"),
        ("1j * 2", "only arithmetic is allowed: 1j is not a number"),
        ("import os", "only arithmetic is allowed: that is not a valid expression"),
        ("9**9**9", "exponents are limited to 100"),
        ("10**10000", "exponents are limited to 100"),
        ("99999 ** 99", "the numbers get too large"),
        ("10**8 * 10**8", "the numbers get too large"),
        ("1e300 * 1e300", "the numbers get too large"),
        ("(-8) ** 0.5", "the result is not a real number"),
        ("1" * 201, "the expression is too long"),
        ("(" * 150 + "1" + ")" * 150, "the expression is too long"),
        ("(" * 99 + "1" + ")" * 99, ""),  # within the limits: 1
        ("1 / 0", "division by zero"),
        ("1 // (2 - 2)", "division by zero"),
        ("5 % 0.0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("", "which calculation?"),
    ],
)
async def test_calculate_refuses_everything_but_arithmetic_quickly(
    make_ctx: ContextFactory, expression: str, message: str
) -> None:
    started = time.perf_counter()
    result = await invoke(calculate, make_ctx(), {"expression": expression})
    assert time.perf_counter() - started < 1.0  # generous: the unguarded cases run for minutes
    if not message:
        assert result == ToolResult(f"{expression} = 1")
        return
    assert result.is_error
    assert result.content.startswith(message), result.content


async def test_calculate_never_turns_text_into_code(
    make_ctx: ContextFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_compile = builtins.compile
    code_made: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        code_made.append("eval or exec")
        raise AssertionError("eval/exec must not be used")

    def recording_compile(source: Any, filename: Any, mode: str, flags: int = 0, **kw: Any) -> Any:
        if not flags & ast.PyCF_ONLY_AST:
            code_made.append(f"compile({source!r})")
        return real_compile(source, filename, mode, flags, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "eval", refuse)
        patch.setattr(builtins, "exec", refuse)
        patch.setattr(builtins, "compile", recording_compile)
        result = await invoke(calculate, make_ctx(), {"expression": "(84.50 * 1.1) / 3"})
    assert code_made == []
    assert result == ToolResult("(84.50 * 1.1) / 3 = 30.98")


async def test_calculate_called_directly(make_ctx: ContextFactory) -> None:
    assert await calculate(make_ctx(), CalculateArgs(expression="60 / 4")) == "60 / 4 = 15"
    with pytest.raises(ToolError, match="only arithmetic is allowed"):
        await calculate(make_ctx(), CalculateArgs(expression="abs(-1)"))
    assert calculate.responder_safe


# --- get_weather --------------------------------------------------------------------------------

LISBON = {
    "name": "Lisbon",
    "latitude": 38.71667,
    "longitude": -9.13333,
    "country": "Portugal",
    "timezone": "Europe/Lisbon",
}


class FakeOpenMeteo:
    """Answers like Open-Meteo's geocoding and forecast APIs, and records every request."""

    def __init__(self, places: list[dict[str, Any]], current: dict[str, Any]) -> None:
        self.places = places
        self.current = current
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "geocoding-api.open-meteo.com":
            assert request.url.path == "/v1/search"
            body: dict[str, Any] = {"generationtime_ms": 0.4}
            if self.places:
                body["results"] = self.places
            return httpx.Response(200, json=body)
        if request.url.host == "api.open-meteo.com":
            assert request.url.path == "/v1/forecast"
            return httpx.Response(200, json={"current": self.current, "current_units": {}})
        raise AssertionError(f"unexpected request to {request.url}")


def _current(code: int, temperature: float, **extra: float) -> dict[str, Any]:
    return {
        "time": "2026-11-24T10:00",
        "temperature_2m": temperature,
        "apparent_temperature": extra.get("feels", temperature),
        "precipitation": extra.get("rain", 0.0),
        "weather_code": code,
        "wind_speed_10m": extra.get("wind", 10.0),
    }


async def test_weather_for_a_city(make_ctx: ContextFactory) -> None:
    api = FakeOpenMeteo([LISBON], _current(2, 19.4, feels=17.6, wind=12.3))
    result = await invoke(get_weather, make_ctx(handler=api), {"city": " Lisbon "})
    assert result == ToolResult(
        "Lisbon, Portugal: partly cloudy, 19 °C (feels like 18 °C), wind 12 km/h, no precipitation."
    )
    geocoding, forecast = api.requests
    assert dict(geocoding.url.params) == {
        "name": "Lisbon",
        "count": "1",
        "language": "en",
        "format": "json",
    }
    assert dict(forecast.url.params) == {
        "latitude": "38.71667",
        "longitude": "-9.13333",
        "current": CURRENT_FIELDS,
    }
    assert set(CURRENT_FIELDS.split(",")) == {
        "temperature_2m",
        "apparent_temperature",
        "precipitation",
        "weather_code",
        "wind_speed_10m",
    }
    for request in api.requests:
        assert request.extensions["timeout"]["read"] == 3.0
    assert make_ctx.progress == ["checking the weather in Lisbon"]


async def test_weather_codes_become_words(make_ctx: ContextFactory) -> None:
    api = FakeOpenMeteo([LISBON], _current(63, 12.0, rain=1.25))
    result = await invoke(get_weather, make_ctx(handler=api), {"city": "Lisbon"})
    assert result.content == (
        "Lisbon, Portugal: rain, 12 °C, wind 10 km/h, 1.2 mm of precipitation in the last hour."
    )
    api.current = _current(95, 25.0)
    result = await invoke(get_weather, make_ctx(handler=api), {"city": "Lisbon"})
    assert result.content.startswith("Lisbon, Portugal: thunderstorm, 25 °C")


async def test_weather_for_an_unknown_city(make_ctx: ContextFactory) -> None:
    api = FakeOpenMeteo([], _current(0, 20.0))
    result = await invoke(get_weather, make_ctx(handler=api), {"city": "Xyzzyville"})
    assert result.is_error
    assert "couldn't find a place called 'Xyzzyville'" in result.content
    assert len(api.requests) == 1  # no forecast without a place


async def test_weather_without_a_city_is_the_businesss_city(
    make_ctx: ContextFactory, tmp_path: Path
) -> None:
    api = FakeOpenMeteo([LISBON], _current(0, 21.0))
    result = await invoke(get_weather, make_ctx(handler=api), {})
    assert result.content.startswith("Lisbon, Portugal: clear sky, 21 °C")
    assert api.requests[0].url.params["name"] == "Lisbon"  # from Europe/Lisbon
    tango = write_profile(
        tmp_path / "tango",
        name="Tango School",
        knowledge="## Hours\nNine to five.\n",
        timezone="America/Argentina/Buenos_Aires",
    )
    await invoke(get_weather, make_ctx(handler=api, profile=tango), {"city": " "})
    assert api.requests[2].url.params["name"] == "Buenos Aires"


async def test_weather_without_a_city_or_a_profile_asks_which(make_ctx: ContextFactory) -> None:
    result = await invoke(get_weather, make_ctx(no_profile=True), {"city": "  "})
    assert result == ToolResult("which city?", is_error=True)


def _failing(error: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("no route to host", request=request)

    return handler


def _server_error_on(host: str) -> Handler:
    api = FakeOpenMeteo([LISBON], _current(0, 20.0))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == host:
            return httpx.Response(500, text="internal error")
        return api(request)

    return handler


@pytest.mark.parametrize(
    "handler",
    [
        _failing(httpx.ConnectError),
        _failing(httpx.ReadTimeout),
        _server_error_on("geocoding-api.open-meteo.com"),
        _server_error_on("api.open-meteo.com"),
    ],
    ids=["connect-error", "timeout", "geocoding-500", "forecast-500"],
)
async def test_weather_when_the_service_is_unreachable(
    make_ctx: ContextFactory, handler: Handler
) -> None:
    result = await invoke(get_weather, make_ctx(handler=handler), {"city": "Lisbon"})
    assert result.is_error
    assert result.content.startswith("the weather service is unreachable right now")


async def test_weather_with_an_unreadable_answer(make_ctx: ContextFactory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "geocoding-api.open-meteo.com":
            return httpx.Response(200, text=json.dumps({"results": [LISBON]}))
        return httpx.Response(200, text="<html>maintenance</html>")

    result = await invoke(get_weather, make_ctx(handler=handler), {"city": "Lisbon"})
    assert result.is_error
    assert result.content.startswith("the weather service sent an answer I couldn't read")


def test_get_weather_is_a_slow_thinker_tool() -> None:
    assert get_weather.latency == "slow"
    assert not get_weather.responder_safe
    assert 3.0 < get_weather.timeout_s <= 10.0
