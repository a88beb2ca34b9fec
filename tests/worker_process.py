"""Running tandem's worker processes from tests: the environment they get, their log lines (JSON,
read as they come), free ports, and HTTP probes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TANDEM = Path(sys.executable).with_name("tandem")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    """A minimal environment (no keys, no TANDEM_ settings of the machine) plus ``values``."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return base | {"PYTHONPATH": str(ROOT), "TANDEM_LOG_FORMAT": "json"} | values


class LoggedProcess:
    """A subprocess whose stderr JSON log lines are collected as they are written (plain lines
    become ``{"message": line}``)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def find(self, message: str) -> list[dict[str, Any]]:
        """The log records whose message is ``message``."""
        return [line for line in list(self.lines) if line.get("message") == message]

    def text(self) -> str:
        """Everything it printed so far."""
        return "".join(self.raw)

    async def until(
        self, predicate: Callable[[], bool], *, limit_s: float = 60.0, what: str = ""
    ) -> None:
        """Wait until ``predicate()`` holds (checked every 50 ms)."""
        deadline = time.monotonic() + limit_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"never happened: {what}\n--- output ---\n{self.text()}")
            await asyncio.sleep(0.05)

    async def until_logged(self, message: str, *, limit_s: float = 60.0) -> dict[str, Any]:
        """The first record with ``message``, once it is logged."""
        await self.until(lambda: bool(self.find(message)), limit_s=limit_s, what=message)
        return self.find(message)[0]

    async def stop(self, *, limit_s: float = 60.0) -> int:
        """SIGTERM, then wait for the exit status (killed and failed after ``limit_s``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, limit_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"did not exit after SIGTERM\n{self.text()}") from None

    def kill(self) -> None:
        """Kill it if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.raw.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                record = {"message": line.rstrip("\n")}
            self.lines.append(record if isinstance(record, dict) else {"message": line})


@contextlib.contextmanager
def logged_process(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[LoggedProcess]:
    """A :class:`LoggedProcess`, killed at the end of the block if it still runs."""
    process = LoggedProcess(args, env, cwd)
    try:
        yield process
    finally:
        process.kill()


async def http_get(url: str) -> httpx.Response | None:
    """GET ``url``; None while nothing answers."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        try:
            return await client.get(url)
        except httpx.HTTPError:
            return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    with contextlib.suppress(OSError):
        return "\nState:\tZ" not in status.read_text()
    return True
