"""Nothing a caller said and no secret reaches what a tandem process writes at INFO (issue 15).

Every built-in tool runs through ``tandem tools call``, and a thinker (``python -m thinker``,
what ``tandem thinker`` and the thinkers of ``tandem demo``/``eval``/``responder dev`` run)
answers tasks that use the tools, with the offline brains and with Claude (the fake Messages
API). All are real processes at ``TANDEM_LOG_LEVEL=INFO`` with canary caller text (a street and
a phone-number-like digit string) in the requests and canary keys in the environment, and the
weather tool asks a local fake Open-Meteo that answers, so the HTTP client has a request line
to log. Everything the processes write, on both streams, is grepped for the canaries.

The one exception is the output ``tandem tools call`` exists to print: the tool's result on
stdout (what the model would read) and its progress lines (``… ``) on stderr. They are the
answer to the developer who typed the arguments, not a log. In-process, the HTTP clients' request
lines stay out of the log at DEBUG too.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import httpx2
import pytest
from redis.asyncio import Redis

from shared.bus import ResponderBus
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.log import HTTP_CLIENT_LOGGERS, configure_logging
from shared.wire import ResultEvent, TaskRequest
from tests.conftest import ROOT, events_until_final
from tests.fakes.anthropic import FakeAnthropic, RecordedRequest, Turn
from tests.fakes.open_meteo import FakeOpenMeteo
from tests.tool_helpers import friday_next_week
from tools import ToolRegistry

STREET = "Quillfeather Lane"
DIGITS = "7555013468"
CALLER_CANARIES = ("Quillfeather", DIGITS)
"""Looked for one by one: a URL-encoded "Quillfeather+Lane+7555013468" still shows both."""
SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-canary-3f9e1d",  # only where Claude answers
    "OPENAI_API_KEY": "sk-canary-openai-8c2b7a",
    "LIVEKIT_API_KEY": "APIcanary5d1e",
    "LIVEKIT_API_SECRET": "canary-livekit-secret-4a6f0c",
    "TANDEM_SUPPORT_PIN": "canary-pin-2b8d",  # an unknown variable: named in a warning, never shown
}
SECRET_CANARIES = tuple(SECRETS.values())
CALLER = f"{STREET} {DIGITS}"
FRIDAY = friday_next_week()
PATIENCE_S = 60
"""A ceiling on waiting for a process (starting one takes seconds on a busy machine)."""

pytestmark = pytest.mark.timeout(240)


def environment(redis_url: str, **extra: str) -> dict[str, str]:
    """This machine's environment without tandem's or the model providers' settings, plus INFO
    JSON logs on ``redis_url``, the canary keys (but Anthropic's) and ``extra``."""
    own = ("TANDEM_", "ANTHROPIC_", "OPENAI_", "LIVEKIT_", "REDIS_URL")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(own)},
        **{k: v for k, v in SECRETS.items() if k != "ANTHROPIC_API_KEY"},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_url,
        "TANDEM_LOG_LEVEL": "INFO",
        "TANDEM_LOG_FORMAT": "json",
        **extra,
    }


def leaks(text: str, canaries: tuple[str, ...]) -> list[str]:
    """The lines of ``text`` that hold any of ``canaries``."""
    return [line for line in text.splitlines() if any(c in line for c in canaries)]


def log_records(text: str) -> list[dict[str, object]]:
    """The JSON log records among the lines of ``text``."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "level" in record:
            records.append(record)
    return records


# -- the HTTP clients, in-process -----------------------------------------------------------------


@contextlib.contextmanager
def tandem_logging(level: str) -> Iterator[io.StringIO]:
    """tandem's logging at ``level`` into a buffer; the root logger and the HTTP client loggers
    are put back as they were afterwards."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in HTTP_CLIENT_LOGGERS}
    stream = io.StringIO()
    configure_logging(level, "json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_http_clients_log_no_request_url_at_any_level(level: str) -> None:
    url = f"https://geocoding.example/v1/search?name={quote(CALLER)}"
    with tandem_logging(level) as stream:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
        async with httpx.AsyncClient(transport=transport) as client:  # the tools' client
            await client.get(url)
        transport2 = httpx2.MockTransport(lambda request: httpx2.Response(200, json={}))
        async with httpx2.AsyncClient(transport=transport2) as client2:  # the SDKs'
            await client2.get(url)
        logging.getLogger("tandem.test").info("after the requests")
    written = stream.getvalue()
    assert "after the requests" in written
    assert not leaks(written, CALLER_CANARIES), written


# -- every built-in tool through `tandem tools call` ---------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    tool: str
    arguments: dict[str, object]
    options: tuple[str, ...] = ()


TOOL_CALLS = [
    ToolCall("get_weather", {"city": CALLER}),
    ToolCall("current_time", {"place": CALLER}),
    ToolCall("calculate", {"expression": f"{DIGITS} / 2"}),
    ToolCall("search_knowledge", {"query": f"parking near {CALLER}"}, ("--profile", "restaurant")),
    ToolCall("check_availability", {"date": FRIDAY, "time": "20:00", "party_size": 2}),
    ToolCall(
        "book_table",
        {
            "date": FRIDAY,
            "time": "20:00",
            "party_size": 2,
            "name": "Quillfeather",
            "phone": DIGITS,
            "notes": f"deliver the cake to 17 {STREET}",
        },
        ("--confirmed",),
    ),
    ToolCall("find_booking", {"name": "Quillfeather", "date": FRIDAY}),
    ToolCall("cancel_booking", {"reference": "{reference}"}, ("--confirmed",)),
    ToolCall("repair_status", {"ticket": CALLER}),
]
"""In order: the booking is found, then cancelled with the reference it was given."""


@dataclass(frozen=True)
class Written:
    """What one process wrote."""

    stdout: str
    stderr: str


def tandem(weather_url: str, env: dict[str, str], *args: str) -> Written:
    """``tandem ARGS`` as a process, its weather tool asking the fake at ``weather_url``."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.open_meteo", weather_url, "tandem", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
        check=False,
    )
    return Written(done.stdout, done.stderr)


def test_every_built_in_tool_has_a_canary_call() -> None:
    built_in = {t.name for t in ToolRegistry.discover() if t.source == "tandem-voice"}
    assert built_in == {call.tool for call in TOOL_CALLS}


async def test_tandem_tools_call_logs_no_caller_words_and_no_keys(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    env = environment(redis_server.url, TANDEM_BUS_PREFIX=settings.prefix)
    reference = ""
    async with FakeOpenMeteo() as weather:
        for call in TOOL_CALLS:
            arguments = json.dumps(call.arguments).replace("{reference}", reference)
            written = await asyncio.to_thread(
                tandem, weather.url, env, "tools", "call", call.tool, arguments, *call.options
            )
            if call.tool == "book_table":
                assert "Booked." in written.stdout, written
                reference = re.findall(r"TT-[A-Z0-9]{5}", written.stdout)[0]
            logged = "\n".join(
                line for line in written.stderr.splitlines() if not line.startswith("… ")
            )
            assert not leaks(logged, CALLER_CANARIES), (call.tool, written.stderr)
            everything = written.stdout + written.stderr
            assert not leaks(everything, SECRET_CANARIES), (call.tool, everything)
    assert any(DIGITS in path for path in weather.requests), "the caller's words went out"


# -- the thinker ----------------------------------------------------------------------------------


def start_thinker(weather_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m thinker`` with ``env``, its weather tool asking the fake at ``weather_url``;
    both its streams go to one pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.open_meteo", weather_url, "thinker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


async def thinker_writes(
    redis: Redis,
    redis_url: str,
    settings: BusSettings,
    weather_url: str,
    requests: list[TaskRequest],
    **env: str,
) -> tuple[str, list[ResultEvent]]:
    """Everything a thinker process writes while it answers ``requests``, and its answers."""
    process = start_thinker(
        weather_url,
        environment(
            redis_url, TANDEM_BUS_PREFIX=settings.prefix, TANDEM_THINKER_HTTP_PORT="0", **env
        ),
    )
    try:
        bus = ResponderBus(redis, settings)
        await bus.start()
        answers = []
        for task in requests:
            await bus.session(task.session_id).submit(task)
            events = await events_until_final(bus.session(task.session_id), task.task_id, 60)
            assert isinstance(events[-1], ResultEvent), events[-1]
            answers.append(events[-1])
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, None, PATIENCE_S)
    return output.decode("utf-8", errors="replace"), answers


def task(request: str, *, confirmed: bool = False) -> TaskRequest:
    """A task of call ``call-1`` for the demo restaurant."""
    return TaskRequest.create(
        session_id="call-1",
        request=request,
        epoch=1,
        timeout_s=60,
        profile="restaurant",
        confirmed=confirmed,
    )


def tool_calls(answer: ResultEvent) -> list[str]:
    """The tools the brain called for ``answer`` (the offline brains say so in ``data``)."""
    calls = answer.data.get("tool_calls", [])
    return [str(name) for name in calls] if isinstance(calls, list) else []


def assert_nothing_leaked(written: str) -> None:
    """``written`` holds INFO records, and none of them (nor any other line) a canary."""
    assert any(r["level"] == "INFO" for r in log_records(written)), written
    assert not leaks(written, CALLER_CANARIES), written
    assert not leaks(written, SECRET_CANARIES), written


async def test_the_offline_thinker_logs_no_caller_words_and_no_keys(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    tasks = [
        task(f"what's the weather in {CALLER}?"),
        task(f"is there parking near {STREET}?"),
        task(f"what time is it on {STREET}?"),
        task(f"calculate {DIGITS} times 3"),
        task(
            "book a table for 2 on Friday at 8pm under the name Quillfeather, spelled "
            f"Q U I L L F E A T H E R, my number is {DIGITS}",
            confirmed=True,
        ),
    ]
    async with FakeOpenMeteo() as weather:
        written, answers = await thinker_writes(
            redis, redis_server.url, settings, weather.url, tasks
        )
    tools_used = {name for answer in answers for name in tool_calls(answer)}
    assert {
        "get_weather",
        "search_knowledge",
        "current_time",
        "calculate",
        "book_table",
    } <= tools_used, answers
    assert any(DIGITS in path for path in weather.requests), "the caller's words went out"
    assert_nothing_leaked(written)


def claude_weather(request: RecordedRequest) -> Turn:
    """Claude asks for the weather where the caller said, then answers."""
    answered = any(
        isinstance(m["content"], list) and m["content"][0].get("type") == "tool_result"
        for m in request.messages
    )
    if not answered:
        return Turn.call("get_weather", {"city": CALLER})
    return Turn.say("It is partly cloudy and 19 degrees.")


async def test_the_claude_thinker_logs_no_caller_words_and_no_keys(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    async with FakeOpenMeteo() as weather, FakeAnthropic() as claude:
        claude.set_fallback(claude_weather)
        written, answers = await thinker_writes(
            redis,
            redis_server.url,
            settings,
            weather.url,
            [task(f"what's the weather like on {CALLER}?")],
            ANTHROPIC_API_KEY=SECRETS["ANTHROPIC_API_KEY"],
            ANTHROPIC_BASE_URL=claude.url,
        )
    assert answers[0].text == "It is partly cloudy and 19 degrees."
    assert any(DIGITS in path for path in weather.requests), "the caller's words went out"
    assert_nothing_leaked(written)
