"""``tandem sessions list|show|replay``: the records of finished calls, read from the deployment's
Redis.

``replay`` rebuilds the call from its stored (redacted) journal the way a simulated call's
artifacts are built (:func:`simulator.replay.record_from_journal`): the transcript with its
timings, tasks and marks, the state the call ended in, and the same timeline picture ``tandem
demo`` draws.

Light to import: Redis, rich and the store are imported when a command runs. A command that
needs a record gets it through :func:`run_with_store` and :func:`find_session`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from responder.session.journal import STAGE_SOURCES
from shared.cli import ONE_SHOT_REDIS_WAIT_S, errors_as_one_line, settings_or_exit

if TYPE_CHECKING:
    from responder.session.store import Events, Record, SessionStore

T = TypeVar("T")

NO_REDIS = (
    "call records live in the deployment's Redis: set REDIS_URL to it "
    "(a private Redis started here would hold none)"
)
_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_SPEAKERS = {"caller": "caller", "agent": "agent"}
_PLAIN_FIELDS = {"t", "ts", "source", "event"}
_COLUMNS = (
    "session",
    "ended",
    "profile",
    "duration",
    "turns",
    "tasks",
    "end reason",
    "p50 first audio",
)


@click.group("sessions")
def sessions_command() -> None:
    """Finished calls: list their records, show one, replay its timeline.

    Records live in the deployment's Redis (REDIS_URL) for TANDEM_SESSION_RETENTION_DAYS.
    """


def run_with_store(action: Callable[[SessionStore], Awaitable[T]]) -> T:
    """Run ``action`` with the deployment's call records (REDIS_URL, ``TANDEM_BUS_PREFIX``,
    ``TANDEM_SESSION_RETENTION_DAYS``); every failure ends the command with one line."""
    import asyncio

    from redis.exceptions import ConnectionError, TimeoutError

    from responder.session.store import SessionStore
    from shared.keys import Keys
    from shared.redis_client import connect, describe_redis_url, wait_for_redis

    settings = settings_or_exit(sections=("bus", "session"))
    if settings.redis_url is None:
        raise click.ClickException(NO_REDIS)
    url = settings.redis_url.get_secret_value()
    retention_s = settings.session.retention_days * 86_400

    async def run() -> T:
        client = connect(url, name="tandem-sessions-cli")
        try:
            await wait_for_redis(client, url, timeout_s=ONE_SHOT_REDIS_WAIT_S, announce=False)
            return await action(SessionStore(client, Keys(settings.bus.prefix), retention_s))
        except (ConnectionError, TimeoutError, OSError):
            raise click.ClickException(f"lost Redis at {describe_redis_url(url)}") from None
        finally:
            await client.aclose()

    with errors_as_one_line():
        return asyncio.run(run())
    raise click.exceptions.Exit(0)  # asked to stop while waiting for Redis: quietly


async def find_session(store: SessionStore, session_id: str) -> tuple[Record, Events]:
    """The record and events of ``session_id`` (or a unique start of it); a missing one ends
    the command with one line."""
    found = await store.load(session_id)
    if found is None:
        raise click.ClickException(
            f"no call record {session_id!r} (see `tandem sessions list`; records are kept "
            "TANDEM_SESSION_RETENTION_DAYS)"
        )
    return found


def parse_since(text: str, now: float) -> float:
    """Epoch seconds from ``--since``: an age ("90m", "2h", "1d", "1w") or an ISO date or time
    ("2026-12-01", "2026-12-01T18:00", local time unless it says its offset)."""
    if ago := _AGO.fullmatch(text.strip().lower()):
        return now - float(ago.group(1)) * _UNIT_S[ago.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an age like 2h or 1d nor an ISO date like 2026-12-01"
        ) from None
    return when.astimezone().timestamp()


@sessions_command.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--since", default=None, metavar="AGE|ISO", help="Ended since: 2h, 1d, 2026-12-01.")
@click.option("--json", "as_json", is_flag=True, help="The records as a JSON array.")
def list_sessions(limit: int, since: str | None, as_json: bool) -> None:
    """The most recent calls, newest first: when, how long, what was done, how fast."""
    since_s = parse_since(since, time.time()) if since else None

    async def records(store: SessionStore) -> list[Record]:
        return await store.list(limit, since=since_s)

    found = run_with_store(records)
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no call records" + (f" since {since}" if since else ""))
        return
    _print_table(found)


@sessions_command.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="The stored record and events as JSON.")
def show_session(session_id: str, as_json: bool) -> None:
    """One call's key figures and its redacted transcript (SESSION_ID or a unique start of it)."""

    async def load(store: SessionStore) -> tuple[Record, Events]:
        return await find_session(store, session_id)

    record, events = run_with_store(load)
    if as_json:
        click.echo(json.dumps({"record": record, "events": events}, indent=2, ensure_ascii=False))
        return
    figures = key_figures(record)
    width = max(len(label) for label, _ in figures) + 2
    for label, value in figures:
        click.echo(f"{label:<{width}}{value}")
    click.echo("")
    lines = transcript(events)
    click.echo("\n".join(lines) if lines else "(no transcript)")


@sessions_command.command("replay")
@click.argument("session_id")
@click.option(
    "--picture",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to draw the timeline picture (default: <session>-timeline.png here).",
)
@click.option("--no-picture", is_flag=True, help="Only the timeline as text.")
def replay_session(session_id: str, picture: Path | None, no_picture: bool) -> None:
    """One call replayed from its journal: what was said when, the tasks, the marks (talk-over,
    dead air, interruptions), the stages, and the timeline picture (needs the demo extra)."""
    from responder.session.state import replay_state
    from shared.errors import ConfigError
    from simulator.replay import record_from_journal
    from simulator.timeline import render_timeline
    from simulator.transcript import render_transcript

    async def load(store: SessionStore) -> tuple[Record, Events]:
        return await find_session(store, session_id)

    record, events = run_with_store(load)
    sid = str(record.get("session_id", session_id))
    call = record_from_journal(sid, events)
    state = replay_state(events).summary()
    notes = [f"{label}: {value}" for label, value in key_figures(record)]
    notes.append(
        "replayed state: "
        + ", ".join(f"{k} {state[k]}" for k in ("turns", "call_time_s", "stage", "end_reason"))
    )
    click.echo(render_transcript(call, title=f"Call {sid}", notes=notes))
    if no_picture:
        return
    target = picture or Path(f"{sid}-timeline.png")
    try:
        render_timeline(call, target)
    except ConfigError as error:
        click.echo(f"(no picture: {error})", err=True)
        return
    click.echo(f"timeline picture: {target}")


def key_figures(record: Record) -> list[tuple[str, str]]:
    """``(label, value)`` lines summing up a record for ``show``."""
    figures = [
        ("session", str(record.get("session_id", "?"))),
        ("profile", str(record.get("profile") or "-")),
        ("started", _local(record.get("started_at"))),
        ("ended", _local(record.get("ended_at"))),
        ("duration", _clock(record.get("duration_s"))),
        ("end reason", str(record.get("end_reason") or "-")),
        ("turns", str(record.get("turns", "-"))),
        ("tasks", _tasks(record.get("tasks"))),
        ("guardrails", str(record.get("guardrails", 0))),
    ]
    for kind, stats in sorted((record.get("latency") or {}).items()):
        if isinstance(stats, dict):
            shown = ", ".join(f"{k} {_seconds(stats.get(k))}" for k in ("p50", "p95", "max"))
            figures.append((f"latency {kind}", f"n={stats.get('n', 0)}, {shown}"))
    if record.get("usage"):
        figures.append(("usage", json.dumps(record["usage"], separators=(", ", ": "))))
    if record.get("stages"):
        figures.append(("stages", json.dumps(record["stages"], separators=(", ", ": "))))
    return figures


def transcript(events: Events) -> list[str]:
    """The transcript lines of a call: who said what, and budget, idle and guardrail events, each
    at its call time (m:ss)."""
    lines: list[str] = []
    for event in events:
        source, name = event.get("source"), event.get("event")
        if source == "responder" and name == "message" and event.get("role") in _SPEAKERS:
            lines.append(f"{_clock(event.get('t'))}  {event['role']:<7} {event.get('text', '')}")
        elif source in STAGE_SOURCES:
            details = ", ".join(
                f"{key}={_compact(value)}"
                for key, value in event.items()
                if key not in _PLAIN_FIELDS
            )
            lines.append(f"{_clock(event.get('t'))}  [{source}] {name}  {details}".rstrip())
    return lines


def _print_table(records: list[Record]) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table()
    columns = _COLUMNS
    for column in columns:
        table.add_column(column, overflow="fold")
    for record in records:
        direct = (record.get("latency") or {}).get("direct") or {}
        table.add_row(
            str(record.get("session_id")),
            _local(record.get("ended_at")),
            str(record.get("profile") or "-"),
            _clock(record.get("duration_s")),
            str(record.get("turns", "-")),
            _tasks(record.get("tasks")),
            str(record.get("end_reason") or "-"),
            _seconds(direct.get("p50") if isinstance(direct, dict) else None),
        )
    Console(width=160 if not sys.stdout.isatty() else None).print(table)


def _local(epoch_s: Any) -> str:
    if not isinstance(epoch_s, int | float):
        return "-"
    return datetime.fromtimestamp(epoch_s).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _clock(seconds: Any) -> str:
    """``seconds`` as m:ss ("-" when unknown)."""
    if not isinstance(seconds, int | float):
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, int | float) else "-"


def _tasks(tasks: Any) -> str:
    if not isinstance(tasks, dict) or not tasks:
        return "-"
    return ", ".join(f"{count} {kind}" for kind, count in tasks.items())


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
