"""The ``tandem`` command line.

Commands of the thinker, the responder and the tools register themselves through the
``tandem.cli`` entry-point group, so this module imports none of them.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import click
from redis.asyncio import Redis

from shared.bus._replies import range_entries
from shared.config import Settings, load_settings
from shared.embedded_redis import EmbeddedRedis
from shared.errors import ConfigError
from shared.keys import GROUP, Keys
from shared.log import configure_logging
from shared.redis_client import connect

log = logging.getLogger(__name__)


def settings_or_exit() -> Settings:
    """Load settings and configure logging; a bad value ends the command with one clear line."""
    try:
        settings = load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


class _PluginGroup(click.Group):
    """A group that also offers the commands registered under ``tandem.cli``."""

    def _plugins(self) -> dict[str, importlib.metadata.EntryPoint]:
        return {ep.name: ep for ep in importlib.metadata.entry_points(group="tandem.cli")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry_point = self._plugins().get(cmd_name)
        if entry_point is None:
            return None
        loaded = entry_point.load()
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"entry point {entry_point.value} is not a click command")
        return loaded


@click.group(cls=_PluginGroup)
@click.version_option(package_name="tandem-voice")
def main() -> None:
    """tandem: a responder-thinker voice agent for LiveKit."""


@main.command()
def redis() -> None:
    """Run a private redis-server in the foreground and print the REDIS_URL to share it."""
    settings_or_exit()
    server = EmbeddedRedis()
    server.start()
    click.echo(f"export REDIS_URL={server.url}")
    click.echo("Redis is running; press Ctrl-C to stop it (nothing is kept on disk).", err=True)
    stop = False

    def request_stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stop and server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@main.group()
def bus() -> None:
    """Inspect the Redis Streams bus of a running deployment (needs REDIS_URL)."""


def _with_redis(action: Callable[[Redis, Keys], Awaitable[None]]) -> None:
    settings = settings_or_exit()
    if settings.redis_url is None:
        raise click.ClickException("set REDIS_URL to the Redis of the deployment to inspect")

    async def run() -> None:
        client = connect(settings.redis_url.get_secret_value(), name="tandem-cli")  # type: ignore[union-attr]
        try:
            await action(client, Keys(settings.bus.prefix))
        finally:
            await client.aclose()

    asyncio.run(run())


@bus.command()
def status() -> None:
    """Stream lengths, the consumer group, its consumers and what each holds."""

    async def show(client: Redis, keys: Keys) -> None:
        for name, key in (("tasks", keys.tasks), ("dead letters", keys.dlq)):
            click.echo(f"{name:<13} {key:<24} {await client.xlen(key)} entries")
        try:
            groups = await client.xinfo_groups(keys.tasks)
        except Exception:  # no stream yet
            groups = []
        for group in groups:
            if group["name"] == GROUP:
                click.echo(f"group {GROUP}: {group['pending']} pending, consumers:")
                for consumer in await client.xinfo_consumers(keys.tasks, GROUP):
                    click.echo(
                        f"  {consumer['name']:<40} pending={consumer['pending']} "
                        f"idle={int(consumer['idle']) / 1000:.1f}s"
                    )

    _with_redis(show)


@bus.command()
@click.option("--limit", default=20, show_default=True, help="How many of the newest to show.")
def dlq(limit: int) -> None:
    """List dead letters (ids and reasons only: request text is personal data)."""

    async def show(client: Redis, keys: Keys) -> None:
        entries = range_entries(await client.xrevrange(keys.dlq, count=limit))
        if not entries:
            click.echo("no dead letters")
        for entry_id, fields in entries:
            click.echo(
                f"{entry_id}  reason={fields.get('dlq_reason')} "
                f"deliveries={fields.get('dlq_deliveries')} task={fields.get('task_id')} "
                f"session={fields.get('session_id')}  {fields.get('dlq_message', '')}"
            )

    _with_redis(show)
