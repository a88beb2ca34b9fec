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
keep the socket open) or :class:`Drop` (close the socket). A request that finds nothing scripted
gets a 500 naming the problem and lands in ``fake.unexpected``.

What the fake sends, as the real API does: ``event:`` lines on every SSE event (the SDK drops events
without one); message_start, ping, then per block content_block_start / content_block_delta* /
content_block_stop with its ``index``, message_delta (stop_reason, cumulative usage), message_stop.
Text streams as several ``text_delta``; a tool input as an empty ``input_json_delta`` followed by
JSON pieces split mid-token; thinking as ``thinking_delta`` then one ``signature_delta``.

SDK 2.12 behaviours verified against this fake (tests/test_fake_anthropic.py):

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
  before the headers raises ``anthropic.APITimeoutError`` (retried first if ``max_retries > 0``);
  a stall *after* the headers escapes the iteration as a raw ``httpx2.ReadTimeout`` and a dropped
  connection as ``httpx2.RemoteProtocolError``: neither is wrapped in an ``anthropic`` error.
- **Retries.** ``retry-after-ms`` must be > 0 to be honoured: ``0`` falls back to the 0.5 s
  exponential backoff. The retry count arrives as ``x-stainless-retry-count``
  (:attr:`RecordedRequest.retry_count`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import signal
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, NoReturn, Self, TypeAlias

import anthropic
from aiohttp import web

# ---------------------------------------------------------------------------------------------
# Script: what a reply is made of
# ---------------------------------------------------------------------------------------------

StopReason: TypeAlias = Literal[
    "end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal"
]


@dataclass(frozen=True)
class Text:
    """A text block, streamed as ``text_delta`` pieces of ``chunk_chars`` characters."""

    text: str
    chunk_chars: int = 4


@dataclass(frozen=True)
class ToolUse:
    """A ``tool_use`` block.

    ``input`` is a dict (serialised and streamed as ``input_json_delta`` pieces of
    ``chunk_chars`` characters, so pieces end mid-token) or a raw string sent verbatim, to
    simulate truncated or malformed arguments (see the module docstring for what the SDK does
    with those). ``id`` defaults to a unique ``toolu_...``.
    """

    name: str
    input: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    chunk_chars: int = 7


@dataclass(frozen=True)
class Thinking:
    """A ``thinking`` block: ``thinking_delta`` pieces, then one ``signature_delta``.

    ``signature`` defaults to a deterministic opaque string derived from the text.
    """

    thinking: str
    signature: str | None = None
    chunk_chars: int = 8


@dataclass(frozen=True)
class RedactedThinking:
    """A ``redacted_thinking`` block (start and stop, no deltas)."""

    data: str = "fake-redacted-thinking"


Block: TypeAlias = Text | ToolUse | Thinking | RedactedThinking


@dataclass(frozen=True)
class Usage:
    """Token usage of a turn (final totals; message_start reports ``output_tokens=1``).

    ``output_tokens=None`` estimates one token per four characters of output.
    """

    input_tokens: int = 25
    output_tokens: int | None = None
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass(frozen=True)
class StreamError:
    """Interrupt a stream with ``event: error`` carrying an Anthropic error body, then end it.

    Sent in place of the ``after_deltas + 1``-th content_block_delta (or of message_delta when
    the turn has fewer deltas). Non-streaming requests get the matching HTTP error instead.
    """

    after_deltas: int = 0
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass(frozen=True)
class Stall:
    """Stop sending after ``after_deltas`` deltas and hold the socket open.

    Lasts until the client gives up (``outcome == "client_disconnected"``) or the fake closes
    (the socket is then dropped). A non-streaming request simply gets no response.
    """

    after_deltas: int = 0


@dataclass(frozen=True)
class Drop:
    """Close the TCP connection abruptly after ``after_deltas`` deltas (a network failure)."""

    after_deltas: int = 0


Interruption: TypeAlias = StreamError | Stall | Drop


@dataclass(frozen=True)
class Turn:
    """One scripted assistant message.

    ``stop_reason`` defaults to ``"tool_use"`` when a block is a :class:`ToolUse`, else
    ``"end_turn"``. ``first_byte_delay_s`` delays the response headers (the SDK call itself
    waits for them); ``delta_delay_s`` is slept before every content_block_delta.
    """

    blocks: Sequence[Block] = ()
    stop_reason: StopReason | None = None
    usage: Usage = Usage()
    first_byte_delay_s: float = 0.0
    delta_delay_s: float = 0.0
    interrupt: Interruption | None = None

    @classmethod
    def say(cls, text: str, **options: Any) -> Turn:
        """A turn with one text block."""
        return cls([Text(text)], **options)

    @classmethod
    def call(cls, name: str, tool_input: Mapping[str, Any] | str, **options: Any) -> Turn:
        """A turn with one tool call."""
        return cls([ToolUse(name, tool_input)], **options)

    @property
    def resolved_stop_reason(self) -> StopReason:
        """The stop reason sent in message_delta."""
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if any(isinstance(b, ToolUse) for b in self.blocks) else "end_turn"


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STATUS_OF_ERROR_TYPE = {error_type: status for status, error_type in _ERROR_TYPES.items()}


@dataclass(frozen=True)
class HttpError:
    """An HTTP error status with an Anthropic error body ``{"type": "error", "error": {...}}``.

    ``error_type`` defaults from the status (529 ``overloaded_error``, 429 ``rate_limit_error``,
    ...). ``retry_after_ms`` sets ``retry-after-ms`` (must be > 0 for the SDK to honour it);
    ``should_retry`` sets ``x-should-retry``; ``delay_s`` delays the response.
    """

    status: int = 529
    error_type: str | None = None
    message: str = "Overloaded"
    retry_after_ms: int | None = None
    should_retry: bool | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer; the socket is dropped when the fake closes."""


Reply: TypeAlias = Turn | HttpError | Hang
Responder: TypeAlias = Callable[["RecordedRequest"], Reply]

Outcome: TypeAlias = Literal[
    "pending",
    "completed",
    "http_error",
    "stream_error",
    "dropped",
    "client_disconnected",
    "server_closed",
    "rejected",
    "unexpected",
]


# ---------------------------------------------------------------------------------------------
# Recorder
# ---------------------------------------------------------------------------------------------


def _has_cache_control(blocks: object) -> bool:
    return isinstance(blocks, list) and any(
        isinstance(block, dict) and "cache_control" in block for block in blocks
    )


@dataclass
class RecordedRequest:
    """One request as the fake saw it. Times are ``time.monotonic()`` values."""

    index: int
    method: str
    path: str
    headers: dict[str, str]
    """Request headers; the API key (``x-api-key`` / ``authorization``) is redacted."""
    body: dict[str, Any]
    """The parsed JSON body (``{}`` if it was not a JSON object)."""
    raw_body: bytes
    body_is_json_object: bool
    auth: Literal["bearer", "x-api-key", "none"]
    received_at: float
    reply: Reply | None = None
    message_id: str | None = None
    first_byte_at: float | None = None
    finished_at: float | None = None
    outcome: Outcome = "pending"

    @property
    def model(self) -> str | None:
        """The requested model."""
        return self.body.get("model")

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation sent."""
        return list(self.body.get("messages") or [])

    @property
    def system(self) -> str | list[dict[str, Any]] | None:
        """The system prompt: a string, a list of blocks, or None."""
        return self.body.get("system")

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions sent."""
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools sent."""
        return [tool.get("name", "") for tool in self.tools]

    @property
    def stream(self) -> bool:
        """Whether the client asked for SSE."""
        return bool(self.body.get("stream"))

    @property
    def system_cache_control(self) -> bool:
        """Whether any system block carries ``cache_control``."""
        return _has_cache_control(self.body.get("system"))

    @property
    def tools_cache_control(self) -> bool:
        """Whether any tool definition carries ``cache_control``."""
        return _has_cache_control(self.body.get("tools"))

    @property
    def retry_count(self) -> int:
        """The SDK's ``x-stainless-retry-count`` (0 for a first attempt)."""
        return int(self.headers.get("x-stainless-retry-count", "0"))


@dataclass(frozen=True)
class UnexpectedCall:
    """A request the script did not account for."""

    index: int
    reason: str
    path: str
    body: dict[str, Any]

    def __str__(self) -> str:
        model = self.body.get("model")
        last = (self.body.get("messages") or [None])[-1]
        return f"request #{self.index} {self.path} (model={model!r}): {self.reason}; last={last!r}"


# ---------------------------------------------------------------------------------------------
# Wire format
# ---------------------------------------------------------------------------------------------

_ids = itertools.count(1)


def _unique(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):05d}{uuid.uuid4().hex[:12]}"


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def _error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def _tool_json(block: ToolUse) -> str:
    if isinstance(block.input, str):
        return block.input
    return json.dumps(dict(block.input), ensure_ascii=False)


def _signature(block: Thinking) -> str:
    if block.signature is not None:
        return block.signature
    return "fakesig-" + hashlib.sha256(block.thinking.encode()).hexdigest()[:40]


def _final_content(block: Block, tool_id: str) -> dict[str, Any]:
    """A block as it appears in a complete (non-streamed) message.

    Raises ``ValueError`` for a raw tool input that is not a JSON object (streaming only).
    """
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUse):
        tool_input = json.loads(block.input) if isinstance(block.input, str) else block.input
        if not isinstance(tool_input, Mapping):
            raise ValueError(f"tool input {block.input!r} is not a JSON object")
        return {"type": "tool_use", "id": tool_id, "name": block.name, "input": dict(tool_input)}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": block.thinking, "signature": _signature(block)}
    return {"type": "redacted_thinking", "data": block.data}


def _start_content(block: Block, tool_id: str) -> dict[str, Any]:
    """A block as content_block_start announces it."""
    if isinstance(block, Text):
        return {"type": "text", "text": ""}
    if isinstance(block, ToolUse):
        return {"type": "tool_use", "id": tool_id, "name": block.name, "input": {}}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "redacted_thinking", "data": block.data}


def _deltas(block: Block) -> list[dict[str, Any]]:
    if isinstance(block, Text):
        return [{"type": "text_delta", "text": p} for p in _pieces(block.text, block.chunk_chars)]
    if isinstance(block, ToolUse):
        pieces = ["", *_pieces(_tool_json(block), block.chunk_chars)]  # the API starts with ""
        return [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    if isinstance(block, Thinking):
        pieces = _pieces(block.thinking, block.chunk_chars)
        return [
            *({"type": "thinking_delta", "thinking": p} for p in pieces),
            {"type": "signature_delta", "signature": _signature(block)},
        ]
    return []


def _output_tokens(turn: Turn) -> int:
    if turn.usage.output_tokens is not None:
        return turn.usage.output_tokens
    chars = 0
    for block in turn.blocks:
        if isinstance(block, Text):
            chars += len(block.text)
        elif isinstance(block, ToolUse):
            chars += len(_tool_json(block)) + len(block.name)
        elif isinstance(block, Thinking):
            chars += len(block.thinking)
    return max(1, chars // 4)


def _usage(turn: Turn, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": turn.usage.input_tokens,
        "cache_creation_input_tokens": turn.usage.cache_creation_input_tokens,
        "cache_read_input_tokens": turn.usage.cache_read_input_tokens,
        "output_tokens": output_tokens,
    }


@dataclass(frozen=True)
class _Event:
    name: str
    data: dict[str, Any]
    is_delta: bool = False


def _stream_events(turn: Turn, message: dict[str, Any], tool_ids: list[str]) -> Iterator[_Event]:
    """The SSE events of ``turn``; ``message`` is its final form without content."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = _usage(turn, min(1, message["usage"]["output_tokens"]))
    yield _Event("message_start", {"type": "message_start", "message": start})
    yield _Event("ping", {"type": "ping"})
    for index, (block, tool_id) in enumerate(zip(turn.blocks, tool_ids, strict=True)):
        content = _start_content(block, tool_id)
        yield _Event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": content},
        )
        for delta in _deltas(block):
            yield _Event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
                is_delta=True,
            )
        yield _Event("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _Event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": message["usage"],
        },
    )
    yield _Event("message_stop", {"type": "message_stop"})


# ---------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------


class FakeAnthropic:
    """A scripted Messages API on ``127.0.0.1:<ephemeral port>``; see the module docstring.

    ``strict`` makes leaving ``async with`` raise if an unscripted request arrived (clear
    ``fake.unexpected`` in a test that provokes one on purpose).
    """

    def __init__(self, *, strict: bool = True, backlog: int = 4096) -> None:
        self.strict = strict
        self.requests: list[RecordedRequest] = []
        self.unexpected: list[UnexpectedCall] = []
        self._backlog = backlog
        self._queue: deque[Reply | Responder] = deque()
        self._fallback: Responder | None = None
        self._clients: list[anthropic.AsyncAnthropic] = []
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        self._changed = asyncio.Event()  # set (and replaced) whenever a request arrives or ends
        self._handlers: set[asyncio.Task[Any]] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: pass it as the SDK's ``base_url``."""
        if self._url is None:
            raise RuntimeError("FakeAnthropic is not started: use `async with FakeAnthropic()`")
        return self._url

    async def start(self) -> None:
        """Bind an ephemeral loopback port and serve."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that hangs up cancels its handler (no orphaned sleeps).
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(self._backlog)
        sock.setblocking(False)
        site = web.SockSite(runner, sock, backlog=self._backlog)
        await site.start()
        self._runner = runner
        self._url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def close(self) -> None:
        """Close the clients made by :meth:`client`, drop open sockets, stop serving."""
        clients, self._clients = self._clients, []
        for client in clients:
            await client.close()
        self._closing.set()
        for handler in list(self._handlers):  # sleeping or stalled: drop them now
            handler.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
        if self.strict and exc_type is None:
            self.assert_no_unexpected()

    def client(
        self, *, max_retries: int = 0, timeout: float = 10.0, **options: Any
    ) -> anthropic.AsyncAnthropic:
        """A real ``AsyncAnthropic`` pointed at the fake; closed when the fake closes."""
        client = anthropic.AsyncAnthropic(
            api_key="test-key",
            base_url=self.url,
            max_retries=max_retries,
            timeout=timeout,
            **options,
        )
        self._clients.append(client)
        return client

    # -- script -------------------------------------------------------------------------------

    def enqueue(self, *replies: Reply | Responder) -> None:
        """Queue replies; each accepted ``POST /v1/messages`` takes the next one (FIFO).

        A callable is called with the :class:`RecordedRequest` when its turn comes.
        """
        self._queue.extend(replies)

    def set_fallback(self, responder: Responder | None) -> None:
        """Answer every request that finds the queue empty with ``responder(request)``."""
        self._fallback = responder

    @property
    def pending(self) -> int:
        """Replies queued but not yet served."""
        return len(self._queue)

    # -- assertions ---------------------------------------------------------------------------

    def request(self, n: int) -> RecordedRequest:
        """Request ``n`` in arrival order (negative counts from the end)."""
        try:
            return self.requests[n]
        except IndexError:
            raise AssertionError(
                f"no request #{n}: the fake received {len(self.requests)}"
            ) from None

    def assert_no_unexpected(self) -> None:
        """Raise ``AssertionError`` listing every unscripted or malformed request."""
        if self.unexpected:
            details = "\n  ".join(str(call) for call in self.unexpected)
            raise AssertionError(f"FakeAnthropic got unscripted requests:\n  {details}")

    def assert_all_consumed(self) -> None:
        """Raise ``AssertionError`` if scripted replies were never requested."""
        if self._queue:
            raise AssertionError(
                f"{len(self._queue)} scripted replies never requested: {list(self._queue)!r}"
            )

    async def wait_until(self, predicate: Callable[[], bool], *, limit_s: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever a request arrives or ends.

        Useful for server-side facts that lag the client by a tick, e.g.
        ``await fake.wait_until(lambda: fake.request(0).outcome == "client_disconnected")``.
        Raises ``TimeoutError`` after ``limit_s``.
        """
        async with asyncio.timeout(limit_s):
            while not predicate():
                await self._changed.wait()

    async def wait_for_requests(self, count: int, *, limit_s: float = 5.0) -> None:
        """Wait until ``count`` requests have arrived (``TimeoutError`` after ``limit_s``)."""
        await self.wait_until(lambda: len(self.requests) >= count, limit_s=limit_s)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- handling -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        task = asyncio.current_task()
        assert task is not None  # aiohttp runs every handler in a task
        self._handlers.add(task)
        record = self._record(request, await request.read(), arrived)
        self._notify()
        try:
            return await self._serve(request, record)
        except (asyncio.CancelledError, ConnectionResetError):
            if record.outcome == "pending":
                closed = self._closing.is_set()
                record.outcome = "server_closed" if closed else "client_disconnected"
            raise
        finally:
            record.finished_at = time.monotonic()
            self._handlers.discard(task)
            self._notify()

    def _record(self, request: web.Request, raw: bytes, arrived: float) -> RecordedRequest:
        headers = {name.lower(): value for name, value in request.headers.items()}
        bearer = headers.get("authorization", "").removeprefix("Bearer").strip()
        api_key = headers.get("x-api-key", "").strip()
        auth: Literal["bearer", "x-api-key", "none"] = (
            "x-api-key" if api_key else "bearer" if bearer else "none"
        )
        for secret in ("authorization", "x-api-key"):
            if secret in headers:
                headers[secret] = "<redacted>"
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = None
        record = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=request.path,
            headers=headers,
            body=parsed if isinstance(parsed, dict) else {},
            raw_body=raw,
            body_is_json_object=isinstance(parsed, dict),
            auth=auth,
            received_at=arrived,
        )
        self.requests.append(record)
        return record

    def _refuse(self, record: RecordedRequest, status: int, reason: str) -> web.Response:
        """Answer an unscripted or malformed request loudly and remember it."""
        self.unexpected.append(UnexpectedCall(record.index, reason, record.path, record.body))
        record.outcome = "unexpected"
        return self._error_response(status, _ERROR_TYPES.get(status, "api_error"), reason)

    def _error_response(
        self,
        status: int,
        error_type: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        request_id = _unique("req")
        return web.json_response(
            _error_body(error_type, f"[FakeAnthropic] {message}", request_id),
            status=status,
            headers={"request-id": request_id, **(headers or {})},
        )

    async def _serve(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        if (request.method, request.path) != ("POST", "/v1/messages"):
            return self._refuse(record, 404, f"no such endpoint {request.method} {request.path}")
        if record.auth == "none":
            record.outcome = "rejected"
            return self._error_response(
                401, "authentication_error", "missing API key (x-api-key or Authorization: Bearer)"
            )
        if not record.body_is_json_object:
            return self._refuse(record, 400, "the body is not a JSON object")
        missing = [key for key in ("model", "max_tokens", "messages") if key not in record.body]
        if missing:
            return self._refuse(record, 400, f"missing required fields {missing}")
        reply = self._next_reply(record)
        if isinstance(reply, str):
            return self._refuse(record, 500, reply)
        record.reply = reply
        if isinstance(reply, Hang):
            await self._hold(request, record)
        if isinstance(reply, HttpError):
            return await self._http_error(reply, record)
        tool_ids = [
            b.id or _unique("toolu") if isinstance(b, ToolUse) else "" for b in reply.blocks
        ]
        message = self._message(reply, record)
        if record.stream:
            return await self._stream(request, reply, message, tool_ids, record)
        try:
            message["content"] = [
                _final_content(*pair) for pair in zip(reply.blocks, tool_ids, strict=True)
            ]
        except ValueError as error:
            return self._refuse(record, 500, f"the scripted turn cannot be served: {error}")
        return await self._json(request, reply, message, record)

    def _next_reply(self, record: RecordedRequest) -> Reply | str:
        """The reply for ``record``, or why there is none."""
        if self._queue:
            scripted = self._queue.popleft()
        elif self._fallback is not None:
            scripted = self._fallback
        else:
            return "no scripted reply left for this request (unscripted call)"
        if isinstance(scripted, Turn | HttpError | Hang):
            return scripted
        try:
            reply = scripted(record)
        except Exception as error:
            return f"the reply callable raised {error!r}"
        if not isinstance(reply, Turn | HttpError | Hang):
            return f"the reply callable returned {reply!r}, not a Turn/HttpError/Hang"
        return reply

    def _message(self, turn: Turn, record: RecordedRequest) -> dict[str, Any]:
        """The message envelope of ``turn`` (content filled in by the caller)."""
        record.message_id = _unique("msg")
        return {
            "id": record.message_id,
            "type": "message",
            "role": "assistant",
            "model": record.model,
            "content": [],
            "stop_reason": turn.resolved_stop_reason,
            "stop_sequence": None,
            "usage": _usage(turn, _output_tokens(turn)),
        }

    async def _http_error(self, reply: HttpError, record: RecordedRequest) -> web.Response:
        await asyncio.sleep(reply.delay_s)
        headers: dict[str, str] = {}
        if reply.retry_after_ms is not None:
            headers["retry-after-ms"] = str(reply.retry_after_ms)
        if reply.should_retry is not None:
            headers["x-should-retry"] = "true" if reply.should_retry else "false"
        record.outcome = "http_error"
        error_type = reply.error_type or _ERROR_TYPES.get(reply.status, "api_error")
        return self._error_response(reply.status, error_type, reply.message, headers)

    async def _hold(self, request: web.Request, record: RecordedRequest) -> NoReturn:
        """Keep the socket open without sending until the fake closes, then drop it.

        A client that gives up first cancels this handler (``handler_cancellation``).
        """
        await self._closing.wait()
        self._drop(request, record)

    def _drop(self, request: web.Request, record: RecordedRequest) -> NoReturn:
        """Abort the TCP connection (no more bytes, no chunked terminator)."""
        record.outcome = "server_closed" if self._closing.is_set() else "dropped"
        if request.transport is not None:
            request.transport.abort()
        # Nothing more can be written. aiohttp treats a cancelled handler as a premature
        # disconnection (debug log only); returning a response would log a write error instead.
        raise asyncio.CancelledError

    async def _json(
        self, request: web.Request, turn: Turn, message: dict[str, Any], record: RecordedRequest
    ) -> web.StreamResponse:
        await asyncio.sleep(turn.first_byte_delay_s)
        interrupt = turn.interrupt
        if isinstance(interrupt, Stall):
            await self._hold(request, record)
        if isinstance(interrupt, Drop):
            self._drop(request, record)
        if isinstance(interrupt, StreamError):
            record.outcome = "http_error"
            status = _STATUS_OF_ERROR_TYPE.get(interrupt.error_type, 500)
            return self._error_response(status, interrupt.error_type, interrupt.message)
        record.first_byte_at = time.monotonic()
        record.outcome = "completed"
        return web.json_response(message, headers={"request-id": _unique("req")})

    async def _stream(
        self,
        request: web.Request,
        turn: Turn,
        message: dict[str, Any],
        tool_ids: list[str],
        record: RecordedRequest,
    ) -> web.StreamResponse:
        await asyncio.sleep(turn.first_byte_delay_s)
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "request-id": _unique("req"),
            }
        )
        await response.prepare(request)
        record.first_byte_at = time.monotonic()
        interrupt = turn.interrupt
        deltas_sent = 0
        for event in _stream_events(turn, message, tool_ids):
            due = event.name == "message_delta" or (
                event.is_delta and interrupt is not None and deltas_sent == interrupt.after_deltas
            )
            if interrupt is not None and due:
                await self._interrupt(request, response, interrupt, record)
                return response
            if event.is_delta:
                if turn.delta_delay_s > 0:
                    await asyncio.sleep(turn.delta_delay_s)
                deltas_sent += 1
            await response.write(_sse(event.name, event.data))
        await response.write_eof()
        record.outcome = "completed"
        return response

    async def _interrupt(
        self,
        request: web.Request,
        response: web.StreamResponse,
        interrupt: Interruption,
        record: RecordedRequest,
    ) -> None:
        if isinstance(interrupt, StreamError):
            error = _error_body(interrupt.error_type, interrupt.message, _unique("req"))
            await response.write(_sse("error", error))
            await response.write_eof()
            record.outcome = "stream_error"
        elif isinstance(interrupt, Stall):
            await self._hold(request, record)
        else:
            self._drop(request, record)


# ---------------------------------------------------------------------------------------------
# Stand-alone: ``python -m tests.fakes.fake_anthropic`` (benchmarks)
# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fake answering every request with the same turn until SIGINT/SIGTERM.

    Prints its URL on the first line of stdout. Run it in its own process for load tests:
    at ~1000 concurrent streams the SDK client, not the fake, is the bottleneck, and sharing
    one event loop skews both.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.fake_anthropic")
    parser.add_argument("--text", default="This is the fake thinker's answer.")
    parser.add_argument("--first-byte-delay-s", type=float, default=2.0)
    parser.add_argument("--delta-delay-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    turn = Turn.say(
        args.text, first_byte_delay_s=args.first_byte_delay_s, delta_delay_s=args.delta_delay_s
    )
    asyncio.run(_serve_until_signalled(turn))


async def _serve_until_signalled(turn: Turn) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with FakeAnthropic(strict=False) as fake:
        fake.set_fallback(lambda _request: turn)
        print(fake.url, flush=True)
        await stop.wait()


if __name__ == "__main__":
    main()
