"""What every local fake server shares: an aiohttp application on a free loopback port for the
duration of ``async with``, and its URL."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Self

from aiohttp import web


class LocalServer:
    """Subclasses add their routes in :meth:`routes`; ``scheme`` is the URL's (``http``,
    ``ws``); :meth:`finished` runs after the server stopped (a fake checks what it saw)."""

    scheme = "http"

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``<scheme>://127.0.0.1:<port>``."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not started: use `async with`")
        return self._url

    def routes(self, app: web.Application) -> None:
        """Add the fake's routes to ``app``."""
        raise NotImplementedError

    def finished(self, clean: bool) -> None:
        """Called once the server stopped; ``clean``: the ``async with`` body raised nothing."""

    async def __aenter__(self) -> Self:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        listener = socket.create_server(("127.0.0.1", 0))
        self._url = f"{self.scheme}://127.0.0.1:{listener.getsockname()[1]}"
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
            self._runner = None
        self.finished(exc_type is None)
