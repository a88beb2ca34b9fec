"""``get_weather``: the current weather in a city, from Open-Meteo (free, no API key).

Two requests on the shared HTTP client: geocoding (city -> coordinates), then the forecast API's
``current`` block. Each request has its own short timeout, well within the tool's.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, Field

from tools import CleanText, ToolContext, ToolError, tool

GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
CURRENT_FIELDS = "temperature_2m,apparent_temperature,precipitation,weather_code,wind_speed_10m"
REQUEST_TIMEOUT_S = 3.0

UNREACHABLE = (
    "the weather service is unreachable right now; tell the caller you can't check the "
    "weather at the moment"
)
UNREADABLE = (
    "the weather service sent an answer I couldn't read; tell the caller you can't check the "
    "weather at the moment"
)

WMO_CODES: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "freezing fog",
    51: "light drizzle",
    53: "drizzle",
    55: "heavy drizzle",
    56: "light freezing drizzle",
    57: "freezing drizzle",
    61: "light rain",
    63: "rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "freezing rain",
    71: "light snow",
    73: "snow",
    75: "heavy snow",
    77: "snow grains",
    80: "light rain showers",
    81: "rain showers",
    82: "violent rain showers",
    85: "light snow showers",
    86: "heavy snow showers",
    95: "thunderstorm",
    96: "thunderstorm with light hail",
    99: "thunderstorm with heavy hail",
}
"""WMO weather interpretation codes, as Open-Meteo documents them."""


class WeatherArgs(BaseModel):
    """Arguments of :func:`get_weather`."""

    city: CleanText = Field(
        "",
        max_length=100,
        description="City name, e.g. 'Lisbon' or 'Porto'; leave empty for the business's own city",
    )


async def _get_json(ctx: ToolContext, url: str, params: dict[str, str | int | float]) -> Any:
    try:
        response = await ctx.http.get(url, params=params, timeout=REQUEST_TIMEOUT_S)
        response.raise_for_status()
        return response.json()
    except httpx.HTTPError:  # connection refused, timeout, 4xx/5xx
        raise ToolError(UNREACHABLE) from None
    except ValueError:  # a body that is not JSON
        raise ToolError(UNREADABLE) from None


def home_city(ctx: ToolContext) -> str:
    """The business's city, read from its profile's time zone ("America/Halifax" -> "Halifax");
    empty without a profile or when the zone names no city ("UTC", "Etc/GMT+1")."""
    if ctx.profile is None:
        return ""
    region, _, city = ctx.profile.timezone.key.rpartition("/")
    return "" if not region or region == "Etc" else city.replace("_", " ")


async def _locate(ctx: ToolContext, city: str) -> dict[str, Any]:
    found = await _get_json(
        ctx, GEOCODING_URL, {"name": city, "count": 1, "language": "en", "format": "json"}
    )
    results = found.get("results") if isinstance(found, dict) else None
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise ToolError(
            f"I couldn't find a place called {city!r}; ask the caller to repeat or spell the city"
        )
    place: dict[str, Any] = results[0]
    return place


def describe_weather(place: dict[str, Any], current: dict[str, Any]) -> str:
    """One sentence about ``current`` conditions at ``place`` (Open-Meteo's JSON objects)."""
    where = ", ".join(str(part) for part in (place.get("name"), place.get("country")) if part)
    code = current.get("weather_code")
    sky = WMO_CODES.get(code if isinstance(code, int) else -1, "unknown conditions")
    temperature = float(current["temperature_2m"])
    feels_like = float(current.get("apparent_temperature", temperature))
    wind = float(current.get("wind_speed_10m", 0.0))
    precipitation = float(current.get("precipitation", 0.0))
    parts = [f"{where}: {sky}, {temperature:.0f} °C"]
    if round(feels_like) != round(temperature):
        parts[0] += f" (feels like {feels_like:.0f} °C)"
    parts.append(f"wind {wind:.0f} km/h")
    parts.append(
        f"{precipitation:.1f} mm of precipitation in the last hour"
        if precipitation > 0
        else "no precipitation"
    )
    return ", ".join(parts) + "."


@tool(timeout_s=8.0, latency="slow")
async def get_weather(ctx: ToolContext, args: WeatherArgs) -> str:
    """Current weather in a city: sky, temperature, wind and rain.

    Use when the caller asks about the weather; leave ``city`` empty for the weather where the
    business is. Returns one sentence such as "Lisbon, Portugal: partly cloudy, 19 °C, wind
    12 km/h, no precipitation." Current conditions only, no forecast.
    """
    city = args.city or home_city(ctx)
    if not city:
        raise ToolError("which city?")
    await ctx.progress(f"checking the weather in {city}")
    place = await _locate(ctx, city)
    try:
        latitude, longitude = float(place["latitude"]), float(place["longitude"])
    except (KeyError, TypeError, ValueError):
        raise ToolError(UNREADABLE) from None
    forecast = await _get_json(
        ctx,
        FORECAST_URL,
        {"latitude": latitude, "longitude": longitude, "current": CURRENT_FIELDS},
    )
    current = forecast.get("current") if isinstance(forecast, dict) else None
    if not isinstance(current, dict):
        raise ToolError(UNREADABLE)
    try:
        return describe_weather(place, current)
    except (KeyError, TypeError, ValueError):
        raise ToolError(UNREADABLE) from None
