"""``tandem tools``: list, inspect and try the tools this installation offers.

Light to import: the tools, rich and httpx are imported when a command runs, so ``--help`` is
instant and needs no settings.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from shared.cli import ONE_SHOT_REDIS_WAIT_S, errors_as_one_line, settings_or_exit

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.profile import Profile
    from tools._definition import Tool
    from tools._invoke import ToolResult
    from tools.registry import ToolRegistry


def _registry(settings: Settings) -> ToolRegistry:
    from tools.registry import ToolRegistry, ToolRegistryError

    try:
        return ToolRegistry.discover(
            enabled=settings.tools.enabled,
            disabled=settings.tools.disabled,
            strict=settings.tools.strict,
        )
    except ToolRegistryError as error:
        raise click.ClickException(str(error)) from None


@click.group("tools")
def tools_command() -> None:
    """List, inspect and try the tools this installation offers."""


@tools_command.command("list")
def list_tools() -> None:
    """A table of the tools: where they come from and how tandem treats them."""
    from rich.console import Console
    from rich.table import Table

    registry = _registry(settings_or_exit(sections=("tools",)))
    table = Table(show_lines=False)
    for column in ("name", "source", "side effects", "latency", "runs in", "description"):
        table.add_column(column, overflow="fold")
    for tool in registry:
        table.add_row(
            tool.name,
            tool.source,
            "yes, confirm first"
            if tool.needs_confirmation
            else "yes"
            if tool.side_effects
            else "no",
            tool.latency,
            "responder or thinker" if tool.responder_safe else "thinker",
            " ".join(tool.description.split("\n\n")[0].split()),
        )
    console = Console(width=160 if not sys.stdout.isatty() else None)
    console.print(table)
    for problem in registry.problems:
        console.print(
            f"[red]skipped[/red] {problem.entry_point} ({problem.source}): {problem.message}"
        )


@tools_command.command("show")
@click.argument("name")
def show_tool(name: str) -> None:
    """The tool's description, settings and argument schema, as JSON."""
    import json

    from tools._formats import to_anthropic

    tool = _registry(settings_or_exit(sections=("tools",))).get(name)
    if tool is None:
        raise click.ClickException(f"no tool named {name!r}; see `tandem tools list`")
    shown = to_anthropic(tool) | {
        "source": tool.source,
        "timeout_s": tool.timeout_s,
        "side_effects": tool.side_effects,
        "needs_confirmation": tool.needs_confirmation,
        "latency": tool.latency,
        "responder_safe": tool.responder_safe,
        "max_output_chars": tool.max_output_chars,
    }
    click.echo(json.dumps(shown, indent=2))


@tools_command.command("call")
@click.argument("name")
@click.argument("arguments", default="{}")
@click.option("--confirmed", is_flag=True, help="The caller confirmed (for tools that ask first).")
@click.option(
    "--profile",
    "profile_selector",
    default=None,
    metavar="PATH_OR_NAME",
    help="The agent profile the call is for (its knowledge, time zone): a directory with "
    "profile.toml or an installed profile's name (default: TANDEM_PROFILE, else none).",
)
def call_tool(name: str, arguments: str, confirmed: bool, profile_selector: str | None) -> None:
    """Run a tool here with JSON ARGUMENTS and print what the model would get back.

    Uses REDIS_URL for the tool's state, or a private Redis that is gone afterwards.
    """
    import asyncio

    from shared.profile import find_profile

    settings = settings_or_exit(sections=("bus", "tools"))
    tool = _registry(settings).get(name)
    if tool is None:
        raise click.ClickException(f"no tool named {name!r}; see `tandem tools list`")
    selector = profile_selector or settings.profile
    with errors_as_one_line():
        profile = find_profile(selector) if selector else None
        result = asyncio.run(_call(settings, tool, arguments, confirmed, profile))
    click.echo(result.content)
    if result.is_error:
        sys.exit(1)


async def _call(
    settings: Settings, tool: Tool, arguments: str, confirmed: bool, profile: Profile | None
) -> ToolResult:
    import uuid

    import httpx

    from shared.embedded_redis import redis_url_or_private
    from shared.redis_client import connect, wait_for_redis
    from tools._context import ToolContext, ToolStore
    from tools._invoke import invoke

    async def progress(message: str) -> None:
        click.echo(f"… {message}", err=True)

    with redis_url_or_private(settings.redis_url) as url:
        redis = connect(url, name="tandem-tools-cli")
        try:
            await wait_for_redis(redis, url, timeout_s=ONE_SHOT_REDIS_WAIT_S, announce=False)
            async with httpx.AsyncClient() as http:
                task_id = f"cli-{uuid.uuid4().hex[:8]}"
                ctx = ToolContext(
                    session_id="cli",
                    task_id=task_id,
                    idempotency_key=task_id,
                    http=http,
                    store=ToolStore(redis, settings.bus.prefix),
                    progress=progress,
                    confirmed=confirmed,
                    profile=profile,
                )
                return await invoke(tool, ctx, arguments)
        finally:
            await redis.aclose()
