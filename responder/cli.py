"""``tandem responder start|dev|console|connect`` (also ``python -m responder ...``) and
``tandem token``.

Heavy imports (LiveKit, the models) happen inside the commands, so ``--help`` is instant and
needs no settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from responder.worker import TandemServer
    from shared.config import Settings
    from shared.profile import Profile

log = logging.getLogger("tandem.responder")

LIVEKIT_VARIABLES = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")

_profile_option = click.option(
    "--profile",
    "profile_selector",
    default=None,
    metavar="PATH_OR_NAME",
    help="The agent profile: a directory with profile.toml or an installed profile's name "
    "(default: TANDEM_PROFILE).",
)


@click.group("responder")
def responder_command() -> None:
    """The realtime voice worker callers talk to (a LiveKit agent).

    `start` is production; `dev`, `console` and `connect` are for trying an agent on a laptop.
    """


@responder_command.command("start")
@_profile_option
def start_command(profile_selector: str | None) -> None:
    """Run the production worker: register with LiveKit and take dispatched calls.

    Needs a profile (TANDEM_PROFILE or --profile), LIVEKIT_URL, LIVEKIT_API_KEY,
    LIVEKIT_API_SECRET, OPENAI_API_KEY (or TANDEM_RESPONDER_MODE=offline, on purpose) and a
    REDIS_URL shared with the thinkers. SIGTERM drains: no new calls, live calls get
    TANDEM_RESPONDER_DRAIN_S to end.
    """
    settings, profile = _settings(profile_selector, demo=False, livekit=True)
    if settings.redis_url is None:
        raise click.ClickException(
            "REDIS_URL is not set: the responder and the thinkers must share one Redis "
            "(run `tandem redis` for a local one and export the URL it prints)"
        )
    _run(settings, profile, devmode=False)


@responder_command.command("dev")
@_profile_option
def dev_command(profile_selector: str | None) -> None:
    """Run the worker against your LiveKit server for development (debug logs, no idle job
    processes). Without a profile it serves the installed demo profile, without OPENAI_API_KEY it
    runs the offline speech profile, without REDIS_URL it starts a private Redis and a thinker
    for itself: each said in one line."""
    settings, profile = _settings(profile_selector, demo=True, livekit=True)
    with _local_stack(settings, profile, "dev") as settings:
        _run(settings, profile, devmode=True)


@responder_command.command("console")
@click.option("--text", is_flag=True, help="Type instead of talking (no audio device needed).")
@click.option("--input-device", default=None, help="Microphone: device number or name part.")
@click.option("--output-device", default=None, help="Speaker: device number or name part.")
@click.option("--record", is_flag=True, help="Keep a recording of the session (LiveKit's).")
@_profile_option
def console_command(
    text: bool,
    input_device: str | None,
    output_device: str | None,
    record: bool,
    profile_selector: str | None,
) -> None:
    """Talk to the agent in this terminal, with no LiveKit server.

    With --text, type (or pipe lines in); otherwise speak through LiveKit's audio console (it
    needs PortAudio). Without a profile it serves the installed demo profile, without
    OPENAI_API_KEY it runs the offline speech profile, without REDIS_URL it starts a private
    Redis and a thinker for itself: each said in one line.
    """
    settings, profile = _settings(profile_selector, demo=True, livekit=False)
    if not text:
        _require_audio_devices()
    with _local_stack(settings, profile, "console") as settings:
        if text:
            import sys

            from responder.text_console import run_text_console
            from shared.cli import errors_as_one_line

            _quiet_logs(settings)
            with errors_as_one_line(), contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_text_console(settings, profile, sys.stdin, sys.stdout))
            return
        from livekit.agents.cli import _legacy

        quiet_ports = {"http_port": 0, "metrics_port": 0}  # a laptop may run a worker already
        settings = settings.model_copy(
            update={"responder": settings.responder.model_copy(update=quiet_ports)}
        )
        server = _server(settings, profile)
        _hand_logging_to_livekit_console()
        _legacy._run_console(
            server=server,
            input_device=_device(input_device),  # type: ignore[arg-type]  # as LiveKit's CLI
            output_device=_device(output_device),  # type: ignore[arg-type]
            mode="audio",
            record=record,
            log_level=settings.log_level,
        )


@responder_command.command("connect")
@click.option("--room", required=True, help="The room to join (created if it does not exist).")
@click.option("--identity", default=None, help="The agent's participant identity.")
@_profile_option
def connect_command(room: str, identity: str | None, profile_selector: str | None) -> None:
    """Join one room directly, without dispatch (for debugging a room)."""
    settings, profile = _settings(profile_selector, demo=True, livekit=True)
    with _local_stack(settings, profile, "connect") as settings:
        _run(settings, profile, devmode=True, room=room, identity=identity)


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

    from shared.cli import settings_or_exit

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


# -- shared steps ---------------------------------------------------------------------------------


def _settings(selector: str | None, *, demo: bool, livekit: bool) -> tuple[Settings, Profile]:
    """The command's settings and profile, or one line naming what is missing or wrong. A
    ``demo`` command (dev, console, connect) may fall back to the demo profile and the offline
    speech profile, saying so; ``start`` never does."""
    from responder.metrics_dir import use_multiprocess_metrics
    from shared.cli import settings_or_exit
    from shared.errors import ConfigError

    settings = settings_or_exit(sections=("bus", "tools", "responder", "session", "sip"))
    # before LiveKit is first imported (below), so the worker's own series are merged too
    use_multiprocess_metrics(settings.responder.metrics_port)
    from responder.models import resolve_speech_mode

    if livekit:
        missing = [name for name, value in _livekit_values(settings) if not value]
        if missing:
            raise click.ClickException(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the "
                "worker registers with your LiveKit server (Cloud or self-hosted), which takes "
                "all three of LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
            )
    try:
        profile = _profile(settings, selector, demo=demo)
        settings = resolve_speech_mode(settings, allow_offline=demo)
        if settings.responder.mode == "offline":
            from responder.offline import require_demo_extra

            require_demo_extra("the offline speech profile")
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    return settings, profile


def _profile(settings: Settings, selector: str | None, *, demo: bool) -> Profile:
    from shared.errors import ConfigError
    from shared.profile import default_profile, find_profile

    selector = selector or settings.profile
    if selector is None and not demo:
        raise ConfigError(
            "TANDEM_PROFILE is not set: name the agent profile to serve (a directory with "
            "profile.toml, or an installed profile; `tandem profile new NAME` makes one)"
        )
    profile = find_profile(selector) if selector is not None else default_profile()
    if selector is None:
        click.echo(
            f"no TANDEM_PROFILE: serving the demo profile {profile.id!r} ({profile.name}).",
            err=True,
        )
    return profile


def _livekit_values(settings: Settings) -> list[tuple[str, Any]]:
    return list(
        zip(
            LIVEKIT_VARIABLES,
            (settings.livekit_url, settings.livekit_api_key, settings.livekit_api_secret),
            strict=True,
        )
    )


@contextlib.contextmanager
def _local_stack(settings: Settings, profile: Profile, command: str) -> Iterator[Settings]:
    """With ``REDIS_URL`` the settings as they are; without it, a private Redis and a thinker
    process serving ``profile`` for this command (said in one line), stopped when it ends."""
    if settings.redis_url is not None:
        yield settings
        return
    from pydantic import SecretStr

    from shared.embedded_redis import EmbeddedRedis
    from shared.errors import ConfigError
    from shared.thinker_process import ThinkerProcess

    logs = Path(tempfile.mkdtemp(prefix=f"tandem-{command}-"))
    try:
        env = {"TANDEM_PROFILE": str(profile.root)}
        log_path = logs / "thinker.log"
        with EmbeddedRedis() as redis, ThinkerProcess(redis.url, log_path, env) as thinker:
            brain = "Claude" if settings.anthropic_api_key is not None else "the offline demo brain"
            click.echo(
                f"{command}: REDIS_URL is not set, so a private Redis and a thinker ({brain}, "
                f"log {thinker.log_path}) run for this session and stop with it.",
                err=True,
            )
            yield settings.model_copy(update={"redis_url": SecretStr(redis.url)})
    except ConfigError as error:  # the thinker did not start: its log stays for a look
        raise click.ClickException(str(error)) from None
    shutil.rmtree(logs, ignore_errors=True)


def _server(settings: Settings, profile: Profile) -> TandemServer:
    from responder.worker import build_server
    from shared.errors import ConfigError

    try:
        return build_server(settings, profile)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _run(
    settings: Settings,
    profile: Profile,
    *,
    devmode: bool,
    room: str | None = None,
    identity: str | None = None,
) -> None:
    """Run the worker until SIGTERM/SIGINT; an error that stops it is one line, exit 1."""
    from responder.runner import serve
    from shared.cli import errors_as_one_line

    server = _server(settings, profile)
    on_started = _joining(settings, room, identity) if room is not None else None
    try:
        with errors_as_one_line():
            asyncio.run(
                serve(server, devmode=devmode, register=room is None, on_started=on_started)
            )
    except click.ClickException:
        raise
    except Exception as error:  # LiveKit unreachable after its retries, and the like
        log.debug("worker failed", exc_info=True)
        raise click.ClickException(f"the worker stopped: {error}") from None


def _joining(settings: Settings, room: str, identity: str | None) -> Any:
    async def join(server: TandemServer) -> None:
        from livekit import api

        secret = settings.livekit_api_secret
        key = settings.livekit_api_key
        assert secret is not None  # _settings checked them
        assert key is not None
        async with api.LiveKitAPI(
            settings.livekit_url, key.get_secret_value(), secret.get_secret_value()
        ) as lk:
            rooms = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
            info = rooms.rooms[0] if rooms.rooms else None
            if info is None:
                info = await lk.room.create_room(api.CreateRoomRequest(name=room))
        await server.simulate_job(
            room, fake_job=False, room_info=info, agent_identity=identity or "tandem-agent"
        )

    return join


def _device(value: str | None) -> str | int | None:
    """A device number as an int (sounddevice takes numbers or name parts), as LiveKit's CLI."""
    return int(value) if value is not None and value.isdigit() else value


def _require_audio_devices() -> None:
    """LiveKit's audio console plays and records through sounddevice, which needs PortAudio."""
    import importlib

    try:
        importlib.import_module("sounddevice")
    except (ImportError, OSError):
        raise click.ClickException(
            "the audio console needs PortAudio (Debian/Ubuntu: apt install libportaudio2); "
            "`tandem responder console --text` needs no audio device"
        ) from None


def _quiet_logs(settings: Settings) -> None:
    """The conversation is the console's output: only warnings and errors besides, unless
    TANDEM_LOG_LEVEL=DEBUG."""
    if settings.log_level != "DEBUG":
        root = logging.getLogger()
        root.setLevel(max(logging.WARNING, root.level))


def _hand_logging_to_livekit_console() -> None:
    """LiveKit's console prints log lines in its own view: tandem's handler steps aside so that
    every line is printed once."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
