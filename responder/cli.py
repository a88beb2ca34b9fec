"""``tandem responder ...`` (also ``python -m responder ...``) and ``tandem token``."""

from __future__ import annotations

import sys
import warnings
from datetime import timedelta

import click

from shared.cli import settings_or_exit
from shared.errors import ConfigError


@click.command(
    "responder",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("livekit_args", nargs=-1, type=click.UNPROCESSED)
def responder_command(livekit_args: tuple[str, ...]) -> None:
    """Run the realtime voice worker: `start` (production), `dev` (reload, debug logs),
    `console --text` (talk to it in the terminal), `connect --room R`. Needs LIVEKIT_URL,
    LIVEKIT_API_KEY, LIVEKIT_API_SECRET, OPENAI_API_KEY and a shared REDIS_URL; `--help` lists
    LiveKit's options.
    """
    settings = settings_or_exit()
    from livekit.agents import cli

    from responder.worker import build_server

    try:
        server = build_server(settings)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    sys.argv = ["tandem responder", *(livekit_args or ("--help",))]
    with warnings.catch_warnings():
        # LiveKit's in-process CLI is marked deprecated in favour of the external `lk` binary;
        # it is still the only one offering console/connect without extra tools.
        warnings.simplefilter("ignore", DeprecationWarning)
        cli.run_app(server)


@click.command("token")
@click.option("--room", required=True, help="Room to join (created on first join).")
@click.option("--identity", required=True, help="The participant's identity.")
@click.option("--name", default=None, help="Display name.")
@click.option("--ttl", default=3600, show_default=True, help="Validity in seconds.")
@click.option("--metadata", default="", help="Dispatch metadata handed to the agent.")
def token_command(room: str, identity: str, name: str | None, ttl: int, metadata: str) -> None:
    """Print a join token that also dispatches the agent into the room, for the Agents
    Playground or any livekit-client app (web or mobile)."""
    from livekit import api

    settings = settings_or_exit()
    if settings.livekit_api_key is None or settings.livekit_api_secret is None:
        raise click.ClickException("LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be set")
    if ttl <= 0:
        raise click.BadParameter("must be positive", param_hint="--ttl")
    token = (
        api.AccessToken(
            settings.livekit_api_key.get_secret_value(),
            settings.livekit_api_secret.get_secret_value(),
        )
        .with_identity(identity)
        .with_name(name or identity)
        .with_ttl(timedelta(seconds=ttl))
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_room_config(
            api.RoomConfiguration(
                agents=[
                    api.RoomAgentDispatch(
                        agent_name=settings.responder.agent_name, metadata=metadata
                    )
                ]
            )
        )
    )
    click.echo(token.to_jwt())
    if settings.livekit_url:
        click.echo(f"server: {settings.livekit_url}", err=True)
