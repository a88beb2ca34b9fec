"""A fake of the two Open-Meteo endpoints ``get_weather`` calls, and a way to run a tandem
command whose weather tool asks it instead of the internet.

The fake is an aiohttp server on ``127.0.0.1`` (ephemeral port): ``GET /v1/search`` (geocoding)
finds every name in Lisbon, ``GET /v1/forecast`` answers partly cloudy and 19 °C; any other
request gets a 404 and lands in ``fake.unexpected``. It answers for real over a socket, so the
HTTP client logs each request as it would in production (``httpx`` logs a line per *answered*
request: a refused connection logs nothing)::

    async with FakeOpenMeteo() as weather:
        subprocess.run([sys.executable, "-m", "tests.fakes.open_meteo", weather.url, "thinker"])

``python -m tests.fakes.open_meteo URL thinker [ARGS]`` runs ``python -m thinker [ARGS]`` and
``python -m tests.fakes.open_meteo URL tandem ARGS`` runs the ``tandem`` command, each with
the weather tool's two URLs pointed at ``URL`` and nothing else changed.
"""

from __future__ import annotations

import runpy
import sys

from aiohttp import web

from tests.fakes._local_http import LocalServer

PLACE = {"name": "Lisbon", "country": "Portugal", "latitude": 38.72, "longitude": -9.14}
CURRENT = {
    "temperature_2m": 19.0,
    "apparent_temperature": 19.0,
    "precipitation": 0.0,
    "weather_code": 2,
    "wind_speed_10m": 12.0,
}


class FakeOpenMeteo(LocalServer):
    """Geocoding and forecast on ``127.0.0.1:<ephemeral port>``; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []
        """The path and query of every request, in order."""
        self.unexpected: list[str] = []

    def routes(self, app: web.Application) -> None:
        """Every path: unscripted ones are recorded and refused."""
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def finished(self, clean: bool) -> None:
        """Fail a test that finished cleanly but made an unscripted request."""
        if clean:
            assert not self.unexpected, f"unscripted Open-Meteo requests: {self.unexpected}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if request.method == "GET" and request.path == "/v1/search":
            return web.json_response({"results": [PLACE]})
        if request.method == "GET" and request.path == "/v1/forecast":
            return web.json_response({"current": CURRENT})
        self.unexpected.append(f"{request.method} {request.path_qs}")
        return web.json_response({"error": True, "reason": "not scripted"}, status=404)


def run(url: str, command: str, args: list[str]) -> None:
    """Run ``command`` (``thinker``: ``python -m thinker``; ``tandem``: the ``tandem`` script)
    with ``args``, the weather tool asking the fake at ``url``."""
    from tools.builtin import weather

    weather.GEOCODING_URL = f"{url}/v1/search"
    weather.FORECAST_URL = f"{url}/v1/forecast"
    if command == "thinker":
        sys.argv = ["thinker", *args]
        runpy.run_module("thinker", run_name="__main__", alter_sys=True)
    elif command == "tandem":
        from shared.cli import main

        main(args=args, prog_name="tandem")
    else:
        raise SystemExit(f"unknown command {command!r}: thinker or tandem")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], sys.argv[3:])
