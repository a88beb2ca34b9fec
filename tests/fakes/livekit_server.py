"""A protocol-compatible fake of the LiveKit server's agent endpoint (``/agent``), enough for a
worker to register: the real ``AgentServer`` connects over a websocket, sends
``WorkerMessage.register`` (protobuf) and gets ``ServerMessage.register`` with a worker id;
pings get pongs, status updates are recorded. With ``refuse=True`` every handshake gets HTTP 401,
as a server does for bad credentials. It dispatches no jobs (a job needs a real room)."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Self

from aiohttp import WSMsgType, web
from livekit.protocol import agent, models


class FakeLiveKit:
    """``ws://127.0.0.1:<port>``: point ``LIVEKIT_URL`` at :attr:`url`."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.registrations: list[agent.RegisterWorkerRequest] = []
        self.updates: list[agent.UpdateWorkerStatus] = []
        self.handshakes = 0
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The server URL (``ws://...``)."""
        if self._url is None:
            raise RuntimeError("FakeLiveKit is not started: use `async with FakeLiveKit()`")
        return self._url

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/agent", self._agent)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        listener = socket.create_server(("127.0.0.1", 0))
        self._url = f"ws://127.0.0.1:{listener.getsockname()[1]}"
        await web.SockSite(self._runner, listener).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        self.handshakes += 1
        if self.refuse or not request.headers.get("Authorization", "").startswith("Bearer "):
            return web.Response(status=401, text="invalid token")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for frame in ws:
            if frame.type is not WSMsgType.BINARY:
                continue
            message = agent.WorkerMessage()
            message.ParseFromString(frame.data)
            reply = self._answer(message)
            if reply is not None:
                await ws.send_bytes(reply.SerializeToString())
        return ws

    def _answer(self, message: agent.WorkerMessage) -> agent.ServerMessage | None:
        which = message.WhichOneof("message")
        if which == "register":
            self.registrations.append(message.register)
            return agent.ServerMessage(
                register=agent.RegisterWorkerResponse(
                    worker_id=f"AW_fake{len(self.registrations)}",
                    server_info=models.ServerInfo(version="fake", protocol=16, region="local"),
                )
            )
        if which == "ping":
            return agent.ServerMessage(
                pong=agent.WorkerPong(
                    last_timestamp=message.ping.timestamp, timestamp=message.ping.timestamp
                )
            )
        if which == "update_worker":
            self.updates.append(message.update_worker)
        return None
