"""A thinker in its own process, for commands that run a whole stack on one machine.

``tandem responder console``/``dev`` without ``REDIS_URL`` and ``tandem demo``/``tandem eval``
start the real thinker (``python -m thinker``, exactly what ``tandem thinker`` runs) next to a
private Redis. :class:`ThinkerProcess` starts it with the settings it is given through its
environment, waits until its ``/healthz`` says it takes tasks, and stops it with SIGTERM (it
drains) when done. This module only starts a process: it imports nothing of the thinker.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from shared.errors import ConfigError

START_TIMEOUT_S = 60.0
"""Longest a thinker may take to start taking tasks (imports and Redis, on a busy machine)."""
STOP_TIMEOUT_S = 15.0


class ThinkerProcess:
    """``python -m thinker`` on ``redis_url`` with ``env`` on top of this process's environment
    (serving the installed agent profiles plus each of ``profiles``); its output goes to
    ``log_path``. Use as a context manager, or :meth:`start`/:meth:`stop`."""

    def __init__(
        self,
        redis_url: str,
        log_path: Path,
        env: dict[str, str] | None = None,
        *,
        profiles: tuple[str, ...] = (),
    ) -> None:
        self.redis_url = redis_url
        self.log_path = log_path
        self.profiles = profiles
        self.port = _free_port()
        self._env = {
            **os.environ,
            **(env or {}),
            "REDIS_URL": redis_url,
            "TANDEM_THINKER_HTTP_HOST": "127.0.0.1",
            "TANDEM_THINKER_HTTP_PORT": str(self.port),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def health_url(self) -> str:
        """The thinker's ``/healthz``."""
        return f"http://127.0.0.1:{self.port}/healthz"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start it and wait until it takes tasks; :class:`ConfigError` (with the end of its log)
        if it exits or is not ready within ``timeout_s``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "thinker",
                    *(arg for profile in self.profiles for arg in ("--profile", profile)),
                ],
                env=self._env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM (the thinker drains), then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ConfigError(
                        f"the thinker exited at start (see {self.log_path}): {self._tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.health_url).status_code == 200:
                        return
                time.sleep(0.05)
        raise ConfigError(f"the thinker did not start in {timeout_s:g} s; see {self.log_path}")

    def _tail(self, lines: int = 3) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return " | ".join(line.strip() for line in text.splitlines()[-lines:])
        return ""

    def __enter__(self) -> ThinkerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
