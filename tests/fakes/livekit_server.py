"""A protocol-compatible fake of the LiveKit server's agent endpoint (``/agent``), enough for a
worker to register: the real ``AgentServer`` connects over a websocket, sends
``WorkerMessage.register`` (protobuf) and gets ``ServerMessage.register`` with a worker id;
pings get pongs, status updates are recorded. With ``refuse=True`` every handshake gets HTTP 401,
as a server does for bad credentials. It dispatches no jobs (a job needs a real room)."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web
from livekit.protocol import agent, models

from tests.fakes._local_http import LocalServer


class FakeLiveKit(LocalServer):
    """``ws://127.0.0.1:<port>``: point ``LIVEKIT_URL`` at :attr:`url`."""

    scheme = "ws"

    def __init__(self, *, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse
        self.registrations: list[agent.RegisterWorkerRequest] = []
        self.updates: list[agent.UpdateWorkerStatus] = []
        self.handshakes = 0
        self.handshake_seen = asyncio.Event()  # set at the first handshake, refused or not

    def routes(self, app: web.Application) -> None:
        """The agent endpoint."""
        app.router.add_get("/agent", self._agent)

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        self.handshakes += 1
        self.handshake_seen.set()
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
