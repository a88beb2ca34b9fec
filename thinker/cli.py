"""``tandem thinker`` (also ``python -m thinker``): run a thinker worker process.

Light to import: the thinker itself (Claude's SDK, the tools, the HTTP server) is imported only
when the command runs, so ``--help`` is instant and needs no settings.
"""

from __future__ import annotations

import click

from shared.cli import errors_as_one_line, settings_or_exit


@click.command("thinker")
def thinker_command() -> None:
    """Run a thinker: take tasks from the bus and answer them with Claude and the tools.

    Without ANTHROPIC_API_KEY the offline demo brain answers (and says so). Several processes on
    several machines share the work through the bus. SIGTERM drains gracefully. At start-up it
    waits up to TANDEM_REDIS_STARTUP_WAIT_S for REDIS_URL to answer; /healthz (on
    TANDEM_THINKER_HTTP_PORT) answers 200 once it takes tasks.
    """
    import asyncio

    settings = settings_or_exit(sections=("bus", "tools", "thinker"))
    from thinker.app import serve

    with errors_as_one_line():
        asyncio.run(serve(settings))
