"""The fake server: serves the scripted replies and records every request."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, NoReturn, Self

import anthropic
from aiohttp import web

from tests.fakes.anthropic.recording import RecordedRequest, UnexpectedCall, record_request
from tests.fakes.anthropic.script import (
    Drop,
    Hang,
    HttpError,
    Interruption,
    Pause,
    Reply,
    Responder,
    Stall,
    StreamError,
    ToolUse,
    Turn,
)
from tests.fakes.anthropic.wire import (
    ERROR_TYPES,
    STATUS_OF_ERROR_TYPE,
    SseEvent,
    error_body,
    error_response,
    final_content,
    sse,
    stream_events,
    turn_output_tokens,
    unique_id,
    usage_body,
)


class FakeAnthropic:
    """A scripted Messages API on ``127.0.0.1:<ephemeral port>``; see the package docstring.

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

    async def wait_until(self, predicate: Callable[[], bool], *, limit_s: float = 30.0) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever a request arrives or ends.

        Useful for server-side facts that lag the client by a tick, e.g.
        ``await fake.wait_until(lambda: fake.request(0).outcome == "client_disconnected")``.
        Raises ``TimeoutError`` after ``limit_s`` (a ceiling for a hung test, not a timing claim:
        generous, so that a busy machine does not fail it).
        """
        async with asyncio.timeout(limit_s):
            while not predicate():
                await self._changed.wait()

    async def wait_for_requests(self, count: int, *, limit_s: float = 30.0) -> None:
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
        record = record_request(len(self.requests), request, raw, arrived)
        self.requests.append(record)
        return record

    def _refuse(self, record: RecordedRequest, status: int, reason: str) -> web.Response:
        """Answer an unscripted or malformed request loudly and remember it."""
        self.unexpected.append(UnexpectedCall(record.index, reason, record.path, record.body))
        record.outcome = "unexpected"
        return error_response(status, ERROR_TYPES.get(status, "api_error"), reason)

    async def _serve(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        if (request.method, request.path) != ("POST", "/v1/messages"):
            return self._refuse(record, 404, f"no such endpoint {request.method} {request.path}")
        if record.auth == "none":
            record.outcome = "rejected"
            return error_response(
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
            b.id or unique_id("toolu") if isinstance(b, ToolUse) else "" for b in reply.blocks
        ]
        message = self._message(reply, record)
        if record.stream:
            return await self._stream(request, reply, message, tool_ids, record)
        try:
            message["content"] = [
                final_content(*pair) for pair in zip(reply.blocks, tool_ids, strict=True)
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
        record.message_id = unique_id("msg")
        return {
            "id": record.message_id,
            "type": "message",
            "role": "assistant",
            "model": record.model,
            "content": [],
            "stop_reason": turn.resolved_stop_reason,
            "stop_sequence": None,
            "usage": usage_body(turn, turn_output_tokens(turn)),
        }

    async def _http_error(self, reply: HttpError, record: RecordedRequest) -> web.Response:
        await asyncio.sleep(reply.delay_s)
        headers: dict[str, str] = {}
        if reply.retry_after_ms is not None:
            headers["retry-after-ms"] = str(reply.retry_after_ms)
        if reply.should_retry is not None:
            headers["x-should-retry"] = "true" if reply.should_retry else "false"
        record.outcome = "http_error"
        error_type = reply.error_type or ERROR_TYPES.get(reply.status, "api_error")
        return error_response(reply.status, error_type, reply.message, headers)

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

    async def _before_headers(self, turn: Turn) -> None:
        """What the turn waits for before its headers: its delay, then its event if any."""
        await asyncio.sleep(turn.first_byte_delay_s)
        if turn.headers_after is not None:
            await turn.headers_after()

    async def _json(
        self, request: web.Request, turn: Turn, message: dict[str, Any], record: RecordedRequest
    ) -> web.StreamResponse:
        await self._before_headers(turn)
        interrupt = turn.interrupt
        if isinstance(interrupt, Stall):
            await self._hold(request, record)
        if isinstance(interrupt, Drop):
            self._drop(request, record)
        if isinstance(interrupt, StreamError):
            record.outcome = "http_error"
            status = STATUS_OF_ERROR_TYPE.get(interrupt.error_type, 500)
            return error_response(status, interrupt.error_type, interrupt.message)
        record.first_byte_at = time.monotonic()
        record.outcome = "completed"
        return web.json_response(message, headers={"request-id": unique_id("req")})

    async def _stream(
        self,
        request: web.Request,
        turn: Turn,
        message: dict[str, Any],
        tool_ids: list[str],
        record: RecordedRequest,
    ) -> web.StreamResponse:
        await self._before_headers(turn)
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "request-id": unique_id("req"),
            }
        )
        await response.prepare(request)
        record.first_byte_at = time.monotonic()
        interrupt = turn.interrupt
        deltas_sent = 0
        for event in stream_events(turn, message, tool_ids):
            if turn.pause is not None and _pauses_at(event, turn.pause, len(turn.blocks)):
                await turn.pause.until()
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
            await response.write(sse(event.name, event.data))
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
            error = error_body(interrupt.error_type, interrupt.message, unique_id("req"))
            await response.write(sse("error", error))
            await response.write_eof()
            record.outcome = "stream_error"
        elif isinstance(interrupt, Stall):
            await self._hold(request, record)
        else:
            self._drop(request, record)


def _pauses_at(event: SseEvent, pause: Pause, blocks: int) -> bool:
    """Whether ``pause`` holds the stream before ``event``."""
    if event.name == "content_block_start":
        return bool(event.data["index"] == pause.before_block)
    return event.name == "message_delta" and pause.before_block == blocks
