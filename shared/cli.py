"""The ``tandem`` command line.

Commands of the thinker, the responder and the tools register themselves through the
``tandem.cli`` entry-point group, so this module imports none of them. It imports nothing heavy
either: ``tandem --help`` lists tandem's own commands from :data:`COMMAND_HELP` without importing
them, and a command's module is imported only to run it (or to show its own ``--help``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from shared.config import Section, Settings
    from shared.keys import Keys

log = logging.getLogger(__name__)

ONE_SHOT_REDIS_WAIT_S = 2.5
"""How long a one-shot command (``tandem bus status``, ``tandem tools call``) waits for Redis to
answer before it gives up with one line; long-running processes use
``TANDEM_REDIS_STARTUP_WAIT_S``."""

COMMAND_HELP: dict[str, str] = {
    "call": "Have the agent call NUMBER (E.164, e.g. +15551234567) through the SIP trunk.",
    "demo": "Run one simulated phone call and show it live (default: the profile's demo call).",
    "eval": "Run scenarios (all of the profile's scenarios/ by default) REPEAT times each and "
    "report.",
    "profile": "Start an agent profile of your own, and check what the agent will do with it.",
    "responder": "The realtime voice worker callers talk to (a LiveKit agent).",
    "sessions": "Finished calls: list their records, show one, replay its timeline.",
    "thinker": "Run a thinker: take tasks from the bus and answer them with Claude and the tools.",
    "token": "Print a join token that also dispatches the agent into the room, for the Agents "
    "Playground or any livekit-client app (web or mobile).",
    "tools": "List, inspect and try the tools this installation offers.",
}
"""The short help of tandem's own ``tandem.cli`` commands, by entry-point name, so listing them
imports none (a test keeps it equal to each command's own). Commands of other packages are
imported to list them."""


def settings_or_exit(*, sections: Iterable[Section] | None = None) -> Settings:
    """Load settings and configure logging; bad values end the command with one clear line.

    ``sections`` is passed to :func:`shared.config.load_settings` (``None``: every section).
    Unknown ``TANDEM_*`` variables in the environment or ``.env`` are logged as warnings, one
    line each, with the closest real name.
    """
    from shared.config import SECTIONS, load_settings, unknown_variables
    from shared.errors import ConfigError
    from shared.log import configure_logging

    try:
        settings = load_settings(sections=SECTIONS if sections is None else sections)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    configure_logging(settings.log_level, settings.log_format)
    for name, suggestion in unknown_variables(os.environ, ".env"):
        extra = {"variable": name} | ({"did_you_mean": suggestion} if suggestion else {})
        log.warning("unknown TANDEM_ variable ignored", extra=extra)
    return settings


@contextlib.contextmanager
def errors_as_one_line() -> Iterator[None]:
    """Around a command's work: any of tandem's own errors (:class:`~shared.errors.TandemError`:
    a bad setting, Redis unreachable, a port in use, a broken tool plugin in strict mode) ends it
    with its one-line message and exit status 1, never a traceback;
    :class:`~shared.errors.StopRequested` (a signal during start-up) ends it quietly, status 0."""
    from shared.errors import StopRequested, TandemError

    try:
        yield
    except StopRequested:
        log.info("stopped during start-up, as asked")
    except TandemError as error:
        raise click.ClickException(str(error)) from None


@functools.cache
def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group="tandem.cli")}


class _LazyGroup(click.Group):
    """A group that also offers the commands registered under ``tandem.cli``, importing one
    only to run it; its help lists tandem's own from :data:`COMMAND_HELP`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_entry_points()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry_point = _entry_points().get(cmd_name)
        if entry_point is None:
            return None
        try:
            loaded = entry_point.load()
        except Exception as error:
            raise click.ClickException(
                f"command {cmd_name!r} ({entry_point.value}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from None
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"entry point {entry_point.value} is not a click command")
        return loaded

    def _short_help_source(self, ctx: click.Context, name: str) -> click.Command | None:
        """The command itself, or a stand-in carrying its help from :data:`COMMAND_HELP`."""
        own = super().get_command(ctx, name)
        if own is not None:
            return own
        if name in COMMAND_HELP:
            return click.Command(name, help=COMMAND_HELP[name])
        try:
            return self.get_command(ctx, name)
        except click.ClickException as error:  # a broken plugin must not break `--help`
            return click.Command(name, help=f"(unavailable: {error.message})")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = [
            (name, command)
            for name in self.list_commands(ctx)
            if (command := self._short_help_source(ctx, name)) is not None and not command.hidden
        ]
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands])


@click.group(cls=_LazyGroup)
@click.version_option(package_name="tandem-voice")
def main() -> None:
    """tandem: a responder-thinker voice agent for LiveKit."""


@main.command()
def redis() -> None:
    """Run a private redis-server in the foreground and print the REDIS_URL to share it."""
    from shared.embedded_redis import EmbeddedRedis

    settings_or_exit(sections=())
    server = EmbeddedRedis()
    with errors_as_one_line():
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
    import asyncio

    from redis.exceptions import ConnectionError, TimeoutError

    from shared.keys import Keys
    from shared.redis_client import connect, describe_redis_url, wait_for_redis

    settings = settings_or_exit(sections=("bus",))
    if settings.redis_url is None:
        raise click.ClickException("set REDIS_URL to the Redis of the deployment to inspect")
    url = settings.redis_url.get_secret_value()

    async def run() -> None:
        client = connect(url, name="tandem-cli")
        try:
            await wait_for_redis(client, url, timeout_s=ONE_SHOT_REDIS_WAIT_S, announce=False)
            await action(client, Keys(settings.bus.prefix))
        except (ConnectionError, TimeoutError, OSError):
            raise click.ClickException(f"lost Redis at {describe_redis_url(url)}") from None
        finally:
            await client.aclose()

    with errors_as_one_line():
        asyncio.run(run())


@bus.command()
def status() -> None:
    """Stream lengths, the consumer group, its consumers and what each holds."""
    from redis.exceptions import ResponseError

    from shared.keys import GROUP

    async def show(client: Redis, keys: Keys) -> None:
        for name, key in (("tasks", keys.tasks), ("dead letters", keys.dlq)):
            click.echo(f"{name:<13} {key:<24} {await client.xlen(key)} entries")
        try:
            groups = await client.xinfo_groups(keys.tasks)
        except ResponseError:  # no stream yet
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
    from shared.bus._replies import range_entries

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
