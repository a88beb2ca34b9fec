"""The zero-setup default: a private redis-server that starts, restarts and leaves nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from shared.embedded_redis import EmbeddedRedis, find_redis_server, redis_url_or_private


def test_private_server_serves_streams_and_cleans_up() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        client.xgroup_create("s", "g", id="0", mkstream=True)
        client.xadd("s", {"a": "1"})
        assert client.xreadgroup("g", "c", {"s": ">"}, count=1)
        client.close()
        directory = server.directory
        assert server.socket_path.exists()
    assert not directory.exists()


def test_restart_keeps_the_same_url() -> None:
    with EmbeddedRedis() as server:
        url = server.url
        server.stop()
        assert not server.running
        assert server.start() == url
        assert redis.Redis.from_url(url).ping()


def test_the_server_is_stopped_when_its_owner_exits() -> None:
    script = (
        "from shared.embedded_redis import EmbeddedRedis\n"
        "s = EmbeddedRedis(); s.start(); print(s._process.pid, s.directory, flush=True)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    pid, directory = int(output[0]), output[1]
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
    assert not Path(directory).exists()


def test_a_binary_is_found_without_system_redis() -> None:
    assert find_redis_server().endswith("redis-server")


def test_a_configured_url_is_used_as_it_is() -> None:
    with redis_url_or_private(SecretStr("redis://:pw@redis.internal:6379/0")) as url:
        assert url == "redis://:pw@redis.internal:6379/0"


def test_without_a_url_a_private_server_runs_for_the_block(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with redis_url_or_private(None) as url:
        assert url.startswith("unix://")
        assert redis.Redis.from_url(url).ping()
    assert "private redis-server" in caplog.text
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url).ping()
