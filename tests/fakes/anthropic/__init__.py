"""A protocol-compatible fake of the Anthropic Messages API, driven by the real ``anthropic`` SDK.

The fake is an aiohttp server on ``127.0.0.1`` (ephemeral port). Tests point the real SDK at it
over a real socket and script the replies, in order::

    async with FakeAnthropic() as fake:
        fake.enqueue(
            Turn([Text("Let me check."), ToolUse("get_weather", {"city": "Lisbon"})]),
            HttpError(529, retry_after_ms=1),        # the retry of the next call...
            Turn.say("It is sunny in Lisbon."),      # ...gets this
        )
        client = fake.client(max_retries=1)          # AsyncAnthropic on fake.url, closed on exit
        async with client.messages.stream(model="m", max_tokens=256, messages=[...]) as stream:
            async for event in stream:
                ...
        assert fake.request(0).system_cache_control
    # leaving the block raises if an unscripted request arrived (``strict=True``)

Replies: :class:`Turn` (a streamed or JSON message), :class:`HttpError` (a status with an
Anthropic error body), :class:`Hang` (never answer), or a callable receiving the
:class:`RecordedRequest` and returning one of those (queue it, or :meth:`FakeAnthropic.set_fallback`
to answer every request that finds the queue empty, e.g. for benchmarks). A turn may be
interrupted mid-stream with :class:`StreamError` (``event: error``), :class:`Stall` (stop sending,
keep the socket open) or :class:`Drop` (close the socket), and held until an event: ``Turn``'s
``headers_after`` before the headers, :class:`Pause` before a content block. A request that
finds nothing scripted gets a 500 naming the problem and lands in ``fake.unexpected``.

What the fake sends, as the real API does: ``event:`` lines on every SSE event (the SDK drops events
without one); message_start, ping, then per block content_block_start / content_block_delta* /
content_block_stop with its ``index``, message_delta (stop_reason, cumulative usage), message_stop.
Text streams as several ``text_delta``; a tool input as an empty ``input_json_delta`` followed by
JSON pieces split mid-token; thinking as ``thinking_delta`` then one ``signature_delta``.

SDK behaviours (2.12 to 2.17) verified against this fake (tests/test_fake_anthropic.py):

- **tool_use at content_block_stop.** ``client.messages.stream(...)`` yields, for every block, a
  ``ParsedContentBlockStopEvent`` (``event.type == "content_block_stop"``) carrying ``.index`` and
  ``.content_block``, the accumulated block. So ``if event.type == "content_block_stop" and
  event.content_block.type == "tool_use":`` gives ``.id``, ``.name`` and ``.input`` (a parsed
  dict), before message_delta/message_stop arrive. Raw ``create(stream=True)`` yields
  ``RawContentBlockStopEvent`` with only ``.index``: join the ``input_json_delta.partial_json``
  strings yourself and ``json.loads`` them.
- **Bad tool JSON.** The stream helper re-parses the accumulated ``partial_json`` with
  ``jiter.from_json(partial_mode=True)`` on every delta. A syntax error (``{"city": Lisbon}``)
  raises a plain ``ValueError("Unable to parse tool parameter JSON from model...")`` out of the
  stream iteration; an unfinished document (``{"city": "Lis``, e.g. cut by max_tokens) is
  silently accepted as ``{}`` (incomplete strings are dropped); trailing garbage after a complete
  object is ignored. The API itself only ever sends valid JSON, so the realistic "bad arguments"
  case is valid JSON that violates the tool's schema: ``ToolUse("t", {"city": 42})``.
- **Errors.** HTTP 529 raises ``anthropic.OverloadedError`` (an ``InternalServerError``, an
  ``APIStatusError``) once retries are exhausted; 429 ``RateLimitError``; 500
  ``InternalServerError``. A mid-stream ``event: error`` is never retried and raises a bare
  ``anthropic.APIStatusError`` from the iteration with ``status_code == 200`` (the HTTP status
  of the stream) and ``.type`` set from the body (e.g. ``"overloaded_error"``). A client timeout
  before the headers raises ``anthropic.APITimeoutError`` (retried first if ``max_retries > 0``).
  After the headers nothing is retried: a stall ends the iteration with a timeout and a dropped
  connection with a connection error, as raw ``httpx2.ReadTimeout`` / ``RemoteProtocolError`` in
  SDK 2.12 and wrapped in ``anthropic.APITimeoutError`` / ``APIConnectionError`` (the httpx2
  error as ``__cause__``) from 2.17 on: catch both forms. A test that needs the timeout to fire
  only mid-stream shortens the read timeout in a response hook (see the stall test).
- **Retries.** ``retry-after-ms`` must be > 0 to be honoured: ``0`` falls back to the 0.5 s
  exponential backoff. The retry count arrives as ``x-stainless-retry-count``
  (:attr:`RecordedRequest.retry_count`).
"""

from tests.fakes.anthropic.recording import RecordedRequest, UnexpectedCall
from tests.fakes.anthropic.script import (
    Block,
    Drop,
    Hang,
    HttpError,
    Interruption,
    Outcome,
    Pause,
    RedactedThinking,
    Reply,
    Responder,
    Stall,
    StopReason,
    StreamError,
    Text,
    Thinking,
    ToolUse,
    Turn,
    Usage,
)
from tests.fakes.anthropic.server import FakeAnthropic

__all__ = [
    "Block",
    "Drop",
    "FakeAnthropic",
    "Hang",
    "HttpError",
    "Interruption",
    "Outcome",
    "Pause",
    "RecordedRequest",
    "RedactedThinking",
    "Reply",
    "Responder",
    "Stall",
    "StopReason",
    "StreamError",
    "Text",
    "Thinking",
    "ToolUse",
    "Turn",
    "UnexpectedCall",
    "Usage",
]
