"""The fake server: an aiohttp websocket endpoint serving scripted Realtime sessions."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.realtime import wire
from tests.fakes.realtime.connection import Connection
from tests.fakes.realtime.recording import Failure, Handshake, Options, ResponseRecord, Shared
from tests.fakes.realtime.script import Item, Script


class FakeRealtime:
    """A scripted OpenAI Realtime websocket on ``127.0.0.1:<ephemeral port>``.

    Point the real plugin at it: ``RealtimeModel(base_url=server.base_url, api_key="test")``.
    See the package docstring for the protocol it speaks. Options:

    - ``ms_per_char`` / ``min_say_ms``: how long a :class:`Say` lasts (60 ms a character, at
      least 300 ms); ``chunk_ms``: audio per ``response.output_audio.delta`` (100 ms);
      ``stream_speed``: audio seconds streamed per wall second (10x real time).
    - ``vad_threshold``: RMS (int16 scale) above which a 10 ms input frame is speech;
      ``silence_ms``: silence that ends a turn (a ``server_vad`` config's
      ``silence_duration_ms`` wins); ``prefix_padding_ms``: subtracted from ``audio_start_ms``.
    - ``transcription_delay_s``: send the user transcription this late (in the background, so a
      response may start first, as it often does with the real API).
    - ``check_tools``: a scripted :class:`Call` to a tool the session does not declare is a
      failure (it is still sent).
    - ``strict``: leaving ``async with`` raises ``AssertionError`` if a failure was recorded.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        ms_per_char: float = 60.0,
        min_say_ms: float = 300.0,
        chunk_ms: int = 100,
        stream_speed: float = 10.0,
        vad_threshold: float = 500.0,
        silence_ms: int = 300,
        prefix_padding_ms: int = 300,
        transcription_delay_s: float = 0.0,
        check_tools: bool = True,
        strict: bool = True,
    ) -> None:
        self.strict = strict
        options = Options(
            ms_per_char=ms_per_char,
            min_say_ms=min_say_ms,
            chunk_ms=chunk_ms,
            stream_speed=stream_speed,
            vad_threshold=vad_threshold,
            silence_ms=silence_ms,
            prefix_padding_ms=prefix_padding_ms,
            transcription_delay_s=transcription_delay_s,
            check_tools=check_tools,
        )
        self._shared = Shared(script=script or Script(), options=options, notify=self._notify)
        self.handshakes: list[Handshake] = []
        self.connections: list[Connection] = []
        self._refuse = False
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._changed = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: the plugin connects to ``ws://.../v1/realtime``."""
        if self._base_url is None:
            raise RuntimeError("FakeRealtime is not started: use `async with FakeRealtime()`")
        return self._base_url

    async def start(self) -> None:
        """Bind an ephemeral loopback port and serve."""
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self._base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    async def close(self) -> None:
        """Close every websocket and stop serving."""
        for conn in self.connections:
            conn.cancel_tasks()
            if not conn.ws.closed:
                await conn.ws.close()
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
            self.assert_no_failures()

    # -- script and observations ----------------------------------------------------------------

    @property
    def script(self) -> Script:
        """The script (append to ``script.hears`` or swap ``script.policy`` mid-test)."""
        return self._shared.script

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every client event, parsed, in arrival order, across connections.

        ``input_audio_buffer.append`` events carry ``audio_bytes`` (the base64 length) instead
        of the audio.
        """
        return self._shared.received

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every server event, in order (audio deltas elided to their length)."""
        return self._shared.sent

    @property
    def responses(self) -> list[ResponseRecord]:
        """Every response created, in order."""
        return self._shared.responses

    @property
    def failures(self) -> list[Failure]:
        """Unscripted situations and unknown client events (each also sent as ``error``)."""
        return self._shared.failures

    @property
    def errors_sent(self) -> list[dict[str, Any]]:
        """Every ``error`` event sent (failures and protocol errors such as a failed cancel)."""
        return self._shared.errors_sent

    @property
    def conversation(self) -> list[Item]:
        """The server-side conversation of the newest connection."""
        if not self.connections:
            return []
        return [wire.flatten(item) for item in self.connections[-1].items]

    @property
    def session(self) -> dict[str, Any]:
        """The session config of the newest connection (after every ``session.update``)."""
        return self.connections[-1].session if self.connections else {}

    def events(self, type_: str) -> list[dict[str, Any]]:
        """The client events of one type."""
        return [event for event in self.received if event.get("type") == type_]

    def sent_events(self, type_: str) -> list[dict[str, Any]]:
        """The server events of one type."""
        return [event for event in self.sent if event.get("type") == type_]

    def assert_no_failures(self) -> None:
        """Raise ``AssertionError`` listing every recorded failure."""
        if self.failures:
            details = "\n  ".join(str(failure) for failure in self.failures)
            raise AssertionError(f"FakeRealtime recorded failures:\n  {details}")

    async def wait_until(self, predicate: Callable[[], bool], *, limit_s: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checked after every event in or out."""
        async with asyncio.timeout(limit_s):
            while not predicate():
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- server-side turns ----------------------------------------------------------------------

    async def user_turn(self, text: str, *, connection: int = -1) -> None:
        """A caller turn on one connection (default the newest) that the server detects without
        audio: ``speech_started``, ``speech_stopped``, the user item heard as ``text`` and, with
        server turn detection, a response from the policy (``trigger == "user_turn"``). For
        clients whose caller audio cannot reach the session, e.g. LiveKit's simulated jobs."""
        await self.connections[connection].user_turn(text)

    # -- fault injection ------------------------------------------------------------------------

    def drop_connections(self, *, refuse_reconnect: bool = False) -> None:
        """Cut every open websocket at the TCP level (no close frame).

        With ``refuse_reconnect`` every later handshake gets HTTP 503 until
        :meth:`accept_connections`.
        """
        self._refuse = refuse_reconnect
        for conn in self.connections:
            if not conn.closed:
                conn.abort()
        self._notify()

    def accept_connections(self) -> None:
        """Accept handshakes again after ``drop_connections(refuse_reconnect=True)``."""
        self._refuse = False

    # -- handling -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Authorization", "").startswith("Bearer ")
        handshake = Handshake(
            path=request.path,
            model=request.query.get("model"),
            authorization=authorization,
            accepted=False,
        )
        if not request.path.endswith("/realtime"):
            self.handshakes.append(handshake)
            self.failures.append(Failure(f"handshake on unexpected path {request.path!r}", -1))
            return web.Response(status=404, text="fake realtime: not found")
        if not authorization:
            self.handshakes.append(handshake)
            return web.json_response(
                {"error": {"type": "invalid_request_error", "code": "invalid_api_key"}}, status=401
            )
        if self._refuse:
            self.handshakes.append(handshake)
            self._notify()
            return web.Response(status=503, text="fake realtime: refusing connections")
        self.handshakes.append(
            Handshake(handshake.path, handshake.model, handshake.authorization, accepted=True)
        )
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(self._shared, ws, request, len(self.connections))
        self.connections.append(conn)
        self._notify()
        await conn.run()
        return ws
