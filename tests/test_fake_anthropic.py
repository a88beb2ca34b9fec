"""The fake Messages API, proven with the real ``anthropic`` SDK over a loopback socket.

These tests double as the reference for what the thinker can rely on in SDK 2.12+: which stream
event carries a finished tool call, which exceptions each failure raises, what is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anthropic
import httpx2
import pytest
from anthropic.types import RawContentBlockStartEvent, RawContentBlockStopEvent

from tests.fakes.anthropic import (
    Drop,
    FakeAnthropic,
    Hang,
    HttpError,
    RecordedRequest,
    Stall,
    StreamError,
    Text,
    Thinking,
    ToolUse,
    Turn,
    Usage,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL = "claude-haiku-4-5"  # not deprecated: a deprecated model warns, and warnings are errors
ASK: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Weather in Lisbon?"}]
WEATHER_TOOL: anthropic.types.ToolParam = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "units": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    """A started fake; fails the test on exit if an unscripted request arrived."""
    async with FakeAnthropic() as server:
        yield server


async def test_streamed_text_and_final_message(fake: FakeAnthropic) -> None:
    usage = Usage(
        input_tokens=42,
        output_tokens=9,
        cache_creation_input_tokens=1200,
        cache_read_input_tokens=7,
    )
    fake.enqueue(Turn.say("Lisbon is sunny, 24 degrees.", usage=usage))
    client = fake.client()

    deltas: list[str] = []
    async with client.messages.stream(model=MODEL, max_tokens=256, messages=ASK) as stream:
        async for event in stream:
            if event.type == "text":
                deltas.append(event.text)
        final = await stream.get_final_message()

    assert len(deltas) > 1
    assert "".join(deltas) == "Lisbon is sunny, 24 degrees."
    assert final.content[0].type == "text"
    assert final.content[0].text == "Lisbon is sunny, 24 degrees."
    assert final.stop_reason == "end_turn"
    assert final.model == MODEL
    assert final.id == fake.request(0).message_id
    assert final.usage.input_tokens == 42
    assert final.usage.output_tokens == 9
    assert final.usage.cache_creation_input_tokens == 1200
    assert final.usage.cache_read_input_tokens == 7
    assert fake.request(0).outcome == "completed"


async def test_tool_use_is_complete_at_its_content_block_stop(fake: FakeAnthropic) -> None:
    """What the thinker relies on to start a tool before the message ends."""
    tool_input = {"city": "Lisbon", "units": "metric"}
    fake.enqueue(Turn([Text("Let me check."), ToolUse("get_weather", tool_input, id="toolu_1")]))
    client = fake.client()

    seen: list[str] = []
    started: list[anthropic.types.ToolUseBlock] = []
    partials: list[str] = []
    async with client.messages.stream(
        model=MODEL, max_tokens=256, messages=ASK, tools=[WEATHER_TOOL]
    ) as stream:
        async for event in stream:
            seen.append(event.type)
            if event.type == "input_json":
                partials.append(event.partial_json)
            if event.type == "content_block_stop" and event.content_block.type == "tool_use":
                started.append(event.content_block)  # .id, .name, .input (a parsed dict)
        final = await stream.get_final_message()

    assert [(b.id, b.name, b.input) for b in started] == [("toolu_1", "get_weather", tool_input)]
    assert seen.index("content_block_stop", seen.index("input_json")) < seen.index("message_stop")
    # the arguments came in several pieces, some cut mid-token; the first one is empty
    assert partials[0] == ""
    assert len(partials) > 3
    assert "".join(partials) == json.dumps(tool_input)
    assert final.stop_reason == "tool_use"
    assert [block.type for block in final.content] == ["text", "tool_use"]


async def test_raw_create_stream_event_order_and_indexes(fake: FakeAnthropic) -> None:
    tool_input = {"city": "Porto"}
    fake.enqueue(
        Turn(
            [Text("One moment."), ToolUse("get_weather", tool_input)],
            usage=Usage(input_tokens=10, output_tokens=20, cache_read_input_tokens=3),
        )
    )
    client = fake.client()

    stream = await client.messages.create(
        model=MODEL, max_tokens=256, messages=ASK, tools=[WEATHER_TOOL], stream=True
    )
    events = [event async for event in stream]

    kinds = [e.type for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    block_events = (RawContentBlockStartEvent, RawContentBlockStopEvent)
    blocks = [(e.type, e.index) for e in events if isinstance(e, block_events)]
    assert blocks[0] == ("content_block_start", 0)
    assert blocks.index(("content_block_stop", 0)) < blocks.index(("content_block_start", 1))
    assert blocks[-1] == ("content_block_stop", 1)
    start = events[0]
    assert start.type == "message_start"
    assert start.message.stop_reason is None
    assert start.message.usage.input_tokens == 10
    assert start.message.usage.cache_read_input_tokens == 3
    # raw events carry only the index at content_block_stop: join the partial JSON yourself
    partial_json = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert json.loads(partial_json) == tool_input
    delta = events[-2]
    assert delta.type == "message_delta"
    assert delta.delta.stop_reason == "tool_use"
    assert (delta.usage.output_tokens, delta.usage.input_tokens) == (20, 10)
    assert delta.usage.cache_read_input_tokens == 3


async def test_non_streaming_create(fake: FakeAnthropic) -> None:
    fake.enqueue(Turn([Thinking("Hmm."), ToolUse("get_weather", {"city": "Faro"})]))
    client = fake.client()

    message = await client.messages.create(model=MODEL, max_tokens=256, messages=ASK)

    assert [block.type for block in message.content] == ["thinking", "tool_use"]
    assert message.content[1].type == "tool_use"
    assert message.content[1].input == {"city": "Faro"}
    assert message.stop_reason == "tool_use"
    assert not fake.request(0).stream


async def test_thinking_with_signature_round_trips(fake: FakeAnthropic) -> None:
    fake.enqueue(
        Turn([Thinking("The user wants weather.", signature="sig-123"), ToolUse("get_weather")]),
        Turn.say("Sunny."),
    )
    client = fake.client()

    thoughts: list[str] = []
    signatures: list[str] = []
    async with client.messages.stream(
        model=MODEL, max_tokens=2048, messages=ASK, thinking={"type": "adaptive"}
    ) as stream:
        async for event in stream:
            if event.type == "thinking":
                thoughts.append(event.thinking)
            elif event.type == "signature":
                signatures.append(event.signature)
        first = await stream.get_final_message()
    tool_use = first.content[1]
    assert tool_use.type == "tool_use"
    follow_up: list[anthropic.types.MessageParam] = [
        *ASK,
        first.to_param(),
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "24C"}],
        },
    ]
    second = await client.messages.create(model=MODEL, max_tokens=2048, messages=follow_up)

    assert len(thoughts) > 1
    assert "".join(thoughts) == "The user wants weather."
    assert signatures == ["sig-123"]
    assert second.content[0].type == "text"
    sent_back = fake.request(1).messages[1]["content"][0]
    assert sent_back["type"] == "thinking"
    assert sent_back["signature"] == "sig-123"
    assert sent_back["thinking"] == "The user wants weather."
    assert fake.request(1).messages[2]["content"][0]["tool_use_id"] == tool_use.id


async def test_529_is_retried_and_the_retry_is_recorded(fake: FakeAnthropic) -> None:
    fake.enqueue(HttpError(529, retry_after_ms=1), Turn.say("Recovered."))
    client = fake.client(max_retries=1)

    async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
        text = await stream.get_final_text()

    assert text == "Recovered."
    assert [r.outcome for r in fake.requests] == ["http_error", "completed"]
    assert [r.retry_count for r in fake.requests] == [0, 1]
    assert fake.request(1).messages == fake.request(0).messages


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (529, anthropic.OverloadedError, "overloaded_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
    ],
)
async def test_http_error_without_retries(
    fake: FakeAnthropic, status: int, error_class: type[anthropic.APIStatusError], error_type: str
) -> None:
    fake.enqueue(HttpError(status, retry_after_ms=1, message="busy"))
    client = fake.client(max_retries=0)

    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK):
            pass

    assert type(caught.value) is error_class
    assert caught.value.status_code == status
    assert caught.value.type == error_type
    assert len(fake.requests) == 1


async def test_mid_stream_error_raises_from_iteration_and_is_not_retried(
    fake: FakeAnthropic,
) -> None:
    fake.enqueue(Turn.say("Lisbon is sunny today.", interrupt=StreamError(after_deltas=2)))
    client = fake.client(max_retries=2)

    received: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        await _collect_text(client, received)

    assert type(caught.value) is anthropic.APIStatusError  # no subclass: the HTTP status was 200
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error"
    assert received == ["Lisb", "on i"]
    assert len(fake.requests) == 1
    assert fake.request(0).outcome == "stream_error"


async def test_stream_error_after_the_last_block_replaces_message_delta(
    fake: FakeAnthropic,
) -> None:
    fake.enqueue(Turn.call("get_weather", {"city": "Braga"}, interrupt=StreamError(99)))
    client = fake.client()

    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        await _collect_types(client, seen)

    assert seen[-1] == "content_block_stop"  # the tool call was complete: the thinker may run it


async def test_hang_then_client_timeout(fake: FakeAnthropic) -> None:
    fake.enqueue(Hang())
    client = fake.client(max_retries=0).with_options(timeout=0.5)

    with pytest.raises(anthropic.APITimeoutError):
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK):
            pass

    await fake.wait_until(lambda: fake.request(0).outcome == "client_disconnected")


async def test_closing_a_stream_early_is_seen_by_the_server(fake: FakeAnthropic) -> None:
    """Barge-in: leaving the stream's block hangs up, and the recorder shows it."""
    fake.enqueue(Turn.say("A long answer that nobody will hear.", delta_delay_s=0.02))
    client = fake.client()

    async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
        async for event in stream:
            if event.type == "text":
                break

    await fake.wait_until(lambda: fake.request(0).outcome == "client_disconnected")


async def test_a_stall_or_drop_mid_stream_ends_the_stream_and_is_not_retried(
    fake: FakeAnthropic,
) -> None:
    """After the headers, a stall ends the stream with a timeout error and a dropped connection
    with a connection error, and the SDK retries neither. SDK 2.12 let them escape as raw httpx2
    errors, 2.17 wraps them (``APITimeoutError``, ``APIConnectionError``): the thinker catches
    both forms (``anthropic.APIError`` and ``httpx2.TransportError``)."""
    fake.enqueue(
        Turn.say("Lisbon is sunny.", interrupt=Stall(after_deltas=1)),
        Turn.say("Lisbon is sunny.", interrupt=Drop(after_deltas=1)),
    )
    client = fake.client(max_retries=2, timeout=30, http_client=_short_read_timeout_in_bodies())

    with pytest.raises((anthropic.APITimeoutError, httpx2.TimeoutException)):
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
            await stream.get_final_message()
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)) as dropped:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
            await stream.get_final_message()

    assert not isinstance(dropped.value, anthropic.APITimeoutError | httpx2.TimeoutException)
    await fake.wait_until(lambda: fake.request(0).outcome == "client_disconnected")
    assert fake.request(0).first_byte_at is not None  # the stall came after the headers
    assert fake.request(1).outcome == "dropped"
    assert len(fake.requests) == 2  # neither was retried


async def test_tool_arguments_the_sdk_cannot_or_silently_does_parse(fake: FakeAnthropic) -> None:
    fake.enqueue(
        Turn.call("get_weather", '{"city": Lisbon}'),  # a syntax error: the helper raises
        Turn.call("get_weather", '{"city": "Lis', stop_reason="max_tokens"),  # cut short
        Turn.call("get_weather", {"city": 42}),  # the realistic bad arguments: wrong schema
    )
    client = fake.client()

    with pytest.raises(ValueError, match="Unable to parse tool parameter JSON"):
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
            await stream.get_final_message()
    inputs: list[object] = []
    for _ in range(2):
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
            async for event in stream:
                if event.type == "content_block_stop" and event.content_block.type == "tool_use":
                    inputs.append(event.content_block.input)

    assert inputs == [{}, {"city": 42}]


async def test_unscripted_call_is_answered_500_and_reported() -> None:
    async with FakeAnthropic() as fake:
        client = fake.client(max_retries=0)
        with pytest.raises(anthropic.InternalServerError, match="no scripted reply"):
            await client.messages.create(model=MODEL, max_tokens=64, messages=ASK)

        assert len(fake.unexpected) == 1
        assert fake.unexpected[0].index == 0
        with pytest.raises(AssertionError, match="unscripted"):
            fake.assert_no_unexpected()
        fake.unexpected.clear()  # or leaving the block would fail this test

    # Even if the code under test swallows the 500, leaving a strict fake fails the test.
    with pytest.raises(AssertionError, match="unscripted requests"):
        await _swallow_an_unscripted_call(FakeAnthropic())


async def test_requests_are_recorded_with_cache_control(fake: FakeAnthropic) -> None:
    fake.enqueue(Turn.say("ok"))
    client = fake.client()

    async with client.messages.stream(
        model=MODEL,
        max_tokens=64,
        system=[
            {
                "type": "text",
                "text": "You are a phone agent.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        tools=[{**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}],
        messages=ASK,
        extra_body={"some_future_field": {"x": 1}},
    ) as stream:
        await stream.until_done()

    request = fake.request(0)
    assert request.model == MODEL
    assert request.messages == ASK
    assert request.tool_names == ["get_weather"]
    assert request.system == [
        {"type": "text", "text": "You are a phone agent.", "cache_control": {"type": "ephemeral"}}
    ]
    assert request.system_cache_control
    assert request.tools_cache_control
    assert request.stream
    assert request.body["some_future_field"] == {"x": 1}
    assert request.auth == "bearer"
    assert request.headers["authorization"] == "<redacted>"
    assert request.path == "/v1/messages"
    assert request.received_at <= (request.first_byte_at or 0) <= (request.finished_at or 0)
    assert fake.pending == 0


async def test_api_key_headers_and_plain_http(fake: FakeAnthropic) -> None:
    fake.enqueue(Turn.say("via x-api-key"))
    body = {"model": MODEL, "max_tokens": 16, "messages": ASK}

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{fake.url}/v1/messages", json=body) as missing:
            assert missing.status == 401
            error = await missing.json()
        async with session.post(
            f"{fake.url}/v1/messages", json=body, headers={"x-api-key": "k"}
        ) as ok:
            assert ok.status == 200
            message = await ok.json()

    assert error["type"] == "error"
    assert error["error"]["type"] == "authentication_error"
    assert message["content"] == [{"type": "text", "text": "via x-api-key"}]
    assert [r.auth for r in fake.requests] == ["none", "x-api-key"]
    assert fake.request(0).outcome == "rejected"


async def test_concurrent_streams_get_their_own_turns(fake: FakeAnthropic) -> None:
    """Callables make concurrent answers independent of arrival order."""

    def echo(request: RecordedRequest) -> Turn:
        both_asked = functools.partial(fake.wait_for_requests, 2)  # neither answers before
        return Turn.say(f"answer to {request.messages[-1]['content']}", headers_after=both_asked)

    fake.enqueue(echo, echo)
    client = fake.client()

    async def ask(question: str) -> str:
        messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": question}]
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=messages) as s:
            return await s.get_final_text()

    answers = await asyncio.gather(ask("A"), ask("B"))

    assert list(answers) == ["answer to A", "answer to B"]
    first_done = min(r.finished_at or 0 for r in fake.requests)
    assert all(r.received_at < first_done for r in fake.requests)  # they overlapped
    assert len({r.message_id for r in fake.requests}) == 2


async def test_fallback_serves_many_concurrent_streams(fake: FakeAnthropic) -> None:
    fake.set_fallback(lambda request: Turn.say("same answer", first_byte_delay_s=0.2))
    client = fake.client()

    async def ask() -> str:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
            return await stream.get_final_text()

    answers = await asyncio.gather(*(ask() for _ in range(200)))

    assert set(answers) == {"same answer"}
    assert len(fake.requests) == 200
    assert len({r.message_id for r in fake.requests}) == 200


async def test_stand_alone_process_for_benchmarks() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "tests.fakes.anthropic", "--text", "hi", "--first-byte-delay-s", "0"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(45):  # a ceiling: imports take seconds on a busy machine
            url = (await process.stdout.readline()).decode().strip()
        async with anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0) as client:
            message = await client.messages.create(model=MODEL, max_tokens=8, messages=ASK)
        assert message.content[0].type == "text"
        assert message.content[0].text == "hi"
    finally:
        process.terminate()
        assert await process.wait() == 0


async def test_first_byte_and_delta_delays_are_honoured(fake: FakeAnthropic) -> None:
    fake.enqueue(Turn.say("a b c", first_byte_delay_s=0.1, delta_delay_s=0.05))
    client = fake.client()

    began = time.monotonic()
    first_text_at: float | None = None
    async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
        headers_at = time.monotonic()
        async for event in stream:
            if event.type == "text" and first_text_at is None:
                first_text_at = time.monotonic()

    assert first_text_at is not None
    assert headers_at - began >= 0.1
    assert first_text_at - began >= 0.1 + 0.05
    request = fake.request(0)
    assert request.first_byte_at is not None
    assert request.first_byte_at - request.received_at >= 0.1


async def test_close_drops_requests_still_in_flight() -> None:
    async with FakeAnthropic() as fake:
        fake.enqueue(Hang(), Turn.say("too late", first_byte_delay_s=60))
        async with anthropic.AsyncAnthropic(
            api_key="k", base_url=fake.url, max_retries=0
        ) as client:
            pending = [
                asyncio.create_task(
                    client.messages.create(model=MODEL, max_tokens=16, messages=ASK)
                )
                for _ in range(2)
            ]
            await fake.wait_for_requests(2)
            await fake.close()
            results = await asyncio.gather(*pending, return_exceptions=True)

    assert all(type(result) is anthropic.APIConnectionError for result in results)
    assert [r.outcome for r in fake.requests] == ["server_closed", "server_closed"]


def _short_read_timeout_in_bodies(read_s: float = 0.3) -> httpx2.AsyncClient:
    """An HTTP client for the SDK whose read timeout becomes ``read_s`` once a response's headers
    are in: a timeout can then only fire mid-stream, however long a busy machine takes to get the
    headers (the client's own timeouts, generous, cover everything before them).

    The response hook runs after the headers and before the body is read, and the transport
    reads the body's timeout from the request's ``timeout`` extension when it starts reading.
    """

    async def shorten(response: httpx2.Response) -> None:
        extensions = response.request.extensions
        extensions["timeout"] = {**extensions["timeout"], "read": read_s}

    return anthropic.DefaultAsyncHttpxClient(event_hooks={"response": [shorten]})


async def _collect_text(client: anthropic.AsyncAnthropic, into: list[str]) -> None:
    """Stream a reply, appending its text deltas to ``into`` as they arrive."""
    async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
        async for event in stream:
            if event.type == "text":
                into.append(event.text)


async def _collect_types(client: anthropic.AsyncAnthropic, into: list[str]) -> None:
    """Stream a reply, appending the type of every event to ``into`` as it arrives."""
    async with client.messages.stream(model=MODEL, max_tokens=64, messages=ASK) as stream:
        async for event in stream:
            into.append(event.type)


async def _swallow_an_unscripted_call(fake: FakeAnthropic) -> None:
    """Code under test that hides the fake's 500: a strict fake still fails on exit."""
    async with fake:
        with contextlib.suppress(anthropic.InternalServerError):
            await fake.client().messages.create(model=MODEL, max_tokens=64, messages=ASK)
