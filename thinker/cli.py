"""``tandem thinker`` (also ``python -m thinker``): run a thinker worker process.

Light to import: the thinker itself (Claude's SDK, the tools, the HTTP server) is imported only
when the command runs, so ``--help`` is instant and needs no settings.
"""

from __future__ import annotations

import click

from shared.cli import errors_as_one_line, settings_or_exit


@click.command("thinker")
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="PATH_OR_NAME",
    help="An agent profile to serve besides the installed ones and TANDEM_PROFILE (repeatable).",
)
def thinker_command(profiles: tuple[str, ...]) -> None:
    """Run a thinker: take tasks from the bus and answer them with Claude and the tools.

    It serves every installed agent profile, TANDEM_PROFILE and each --profile: a task is
    answered with its own profile's tools, knowledge and instructions. Without ANTHROPIC_API_KEY
    offline rule-based brains answer (and say so). Several processes on several machines share
    the work through the bus. SIGTERM drains gracefully. At start-up it
    waits up to TANDEM_REDIS_STARTUP_WAIT_S for REDIS_URL to answer; /healthz (on
    TANDEM_THINKER_HTTP_PORT) answers 200 once it takes tasks. OTEL_* variables turn on
    tracing (OTEL_EXPORTER_OTLP_ENDPOINT: OTLP over HTTP).
    """
    import asyncio

    settings = settings_or_exit(sections=("bus", "tools", "thinker", "session"))
    from shared.telemetry import configure_tracing, shutdown_tracing
    from thinker.app import serve

    with errors_as_one_line():
        configure_tracing("tandem-thinker")  # as the OTEL_* variables ask; else nothing
        try:
            asyncio.run(serve(settings, profiles=profiles))
        finally:
            shutdown_tracing()  # after the drain: the last tasks' spans go out too
